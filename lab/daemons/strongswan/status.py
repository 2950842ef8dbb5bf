"""What charon says it negotiated, from VICI ``list-sas`` (pure: decoded messages in,
lab.status records out). Each ``list-sa`` event holds one IKE SA, keyed by its
connection name, with its Child SAs under ``child-sas`` (tests/fixtures/vici-*.json).
``list-conns`` names what a connection offers (lab.offers)."""

from __future__ import annotations

from lab.daemons.strongswan.vici import Message
from lab.offers import CIPHER_WORDS, ESN_WORDS, GROUP_WORDS, INTEG_WORDS, PRF_WORDS, Offered, word
from lab.status import ChildStatus, DaemonStatus, IkeStatus, neutral

#: (VICI encr-alg, encr-keysize) -> neutral cipher
CIPHER = {("AES_CBC", "128"): "aes128", ("AES_CBC", "192"): "aes192",
          ("AES_CBC", "256"): "aes256", ("3DES_CBC", ""): "3des", ("3DES_CBC", "192"): "3des",
          **{(f"AES_GCM_{icv}", str(bits)): f"aes{bits}gcm{icv}" for bits in (128, 192, 256)
             for icv in (8, 12, 16)},
          ("CHACHA20_POLY1305", ""): "chacha20poly1305",
          ("CHACHA20_POLY1305", "256"): "chacha20poly1305"}
INTEG = {"HMAC_MD5_96": "md5", "HMAC_SHA1_96": "sha1", "HMAC_SHA2_256_128": "sha256",
         "HMAC_SHA2_256_96": "sha256_96", "HMAC_SHA2_384_192": "sha384",
         "HMAC_SHA2_512_256": "sha512", "AES_XCBC_96": "aesxcbc"}
PRF = {"PRF_HMAC_MD5": "md5", "PRF_HMAC_SHA1": "sha1", "PRF_HMAC_SHA2_256": "sha256",
       "PRF_HMAC_SHA2_384": "sha384", "PRF_HMAC_SHA2_512": "sha512",
       "PRF_AES128_XCBC": "aesxcbc"}
DH = {"MODP_768": "modp768", "MODP_1024": "modp1024", "MODP_1536": "modp1536",
      "MODP_2048": "modp2048", "MODP_3072": "modp3072", "MODP_4096": "modp4096",
      "ECP_256": "ecp256", "ECP_384": "ecp384", "ECP_521": "ecp521", "CURVE_25519": "curve25519",
      "CURVE_448": "curve448"}


def _text(section: Message, key: str) -> str | None:
    value = section.get(key)
    return value if isinstance(value, str) else None


def _cipher(section: Message) -> str | None:
    alg = _text(section, "encr-alg")
    if alg is None:
        return None
    size = _text(section, "encr-keysize") or ""
    return CIPHER.get((alg, size), f"{alg.lower()}{'_' + size if size else ''}")


def _integ(section: Message, aead: bool) -> str | None:
    alg = _text(section, "integ-alg")
    return neutral(INTEG, alg) if alg else ("none" if aead else None)


def _child(section: Message, pfs_reported: bool) -> ChildStatus:
    cipher = _cipher(section)
    aead = cipher is not None and ("gcm" in cipher or "poly1305" in cipher)
    spi_in, spi_out = _text(section, "spi-in"), _text(section, "spi-out")
    group = _text(section, "dh-group")
    return ChildStatus(spi_in=int(spi_in, 16) if spi_in else None,
                       spi_out=int(spi_out, 16) if spi_out else None,
                       mode=(_text(section, "mode") or "").lower() or None, cipher=cipher,
                       integrity=_integ(section, aead),
                       pfs=neutral(DH, group) if group else ("none" if pfs_reported else None))


#: Child SA states charon still lists while the SA is on its way out: a rekeyed one
#: (IKEv2: its outbound SA already gone, the inbound one kept for the delete delay) is no
#: claim about what the kernel carries now
GONE = frozenset({"REKEYED", "DELETING", "DELETED", "DESTROYING"})


def parse_list_sas(events: list[Message], conn: str) -> DaemonStatus:
    """The IKE SA of connection ``conn`` and its Child SAs, from list-sa events."""
    for event in events:
        ike = event.get(conn)
        if not isinstance(ike, dict):
            continue
        cipher = _cipher(ike)
        aead = cipher is not None and ("gcm" in cipher or "poly1305" in cipher)
        group = _text(ike, "dh-group")
        version = _text(ike, "version")
        status = IkeStatus(version=int(version) if version and version.isdigit() else None,
                           cipher=cipher, integrity=_integ(ike, aead),
                           prf=neutral(PRF, _text(ike, "prf-alg")),
                           dh=neutral(DH, group) if group else None,
                           local_id=_text(ike, "local-id"), remote_id=_text(ike, "remote-id"))
        children = ike.get("child-sas")
        # charon names a Child SA's PFS group (dh-group) only when it used one; IKEv2's
        # first Child SA never does (its keys come from the IKE SA), so silence is no claim
        pfs_reported = status.version == 1
        kids = [_child(c, pfs_reported) for c in (children.values() if isinstance(children, dict)
                                                  else []) if isinstance(c, dict)
                and _text(c, "state") not in GONE]
        return DaemonStatus(source="VICI list-sas", ike=status, children=kids)
    return DaemonStatus(source="VICI list-sas", error=f"no IKE SA of connection {conn!r} listed")


def _words(section: Message, *keys: str) -> list[str]:
    for key in keys:
        value = section.get(key)
        if isinstance(value, list):
            return [v for v in value if isinstance(v, str)]
    return []


def _offered(section: Message) -> Offered:
    groups = tuple(word(w, GROUP_WORDS) for w in _words(section, "ke", "dh"))
    return Offered(ciphers=tuple(word(w, CIPHER_WORDS) for w in _words(section, "encr")),
                   integrity=tuple(word(w, INTEG_WORDS) for w in _words(section, "integ")),
                   prfs=tuple(word(w, PRF_WORDS, "PRF") for w in _words(section, "prf")),
                   groups=groups,
                   esn=tuple(ESN_WORDS[k] for k in (w.upper().replace("_", "")
                                                   for w in _words(section, "sn", "esn"))
                             if k in ESN_WORDS))


def parse_list_conns(events: list[Message], conn: str) -> dict[str, tuple[Offered, ...]]:
    """Connection ``conn``'s IKE and ESP proposals from VICI list-conn events, as charon
    lists them (strongSwan 6 names them, with ``default`` expanded; 5.9 names none: {})."""
    for event in events:
        section = event.get(conn)
        if not isinstance(section, dict) or not isinstance(section.get("proposals"), dict):
            continue
        offers = {"ike": tuple(_offered(p) for p in section["proposals"].values()  # type: ignore[union-attr]
                               if isinstance(p, dict))}
        children = section.get("children")
        child = children.get(conn) if isinstance(children, dict) else None
        esp = child.get("esp_proposals") if isinstance(child, dict) else None
        if isinstance(esp, dict):
            offers["esp"] = tuple(_offered(p) for p in esp.values() if isinstance(p, dict))
        return offers
    return {}


def _classify(words: list[str]) -> Offered:
    """One proposal as charon logs it (``IKE:AES_CBC_128/HMAC_SHA2_256_128/PRF_.../ECP_256``):
    the type of each algorithm is told by its word."""
    types: dict[str, list[str]] = {"ciphers": [], "integrity": [], "prfs": [], "groups": []}
    esn: list[bool] = []
    for raw in words:
        key = raw.upper().replace("_", "")
        if key in ESN_WORDS:
            esn.append(ESN_WORDS[key])
        elif key.startswith("PRF"):
            types["prfs"].append(word(raw, PRF_WORDS, "PRF"))
        elif key in INTEG_WORDS or key.startswith("HMAC"):
            types["integrity"].append(word(raw, INTEG_WORDS))
        elif key in GROUP_WORDS or key.startswith(("MODP", "ECP", "CURVE", "KE")):
            types["groups"].append(word(raw, GROUP_WORDS))
        else:
            types["ciphers"].append(word(raw, CIPHER_WORDS))
    return Offered(*(tuple(v) for v in types.values()), esn=tuple(esn))


def parse_logged_proposals(text: str) -> dict[str, tuple[Offered, ...]]:
    """What charon logged a loaded connection to offer (cfg level 2: "proposals =
    IKE:..., IKE:..." and for its Child "proposals = ESP:..."), the last of each kind."""
    offers: dict[str, tuple[Offered, ...]] = {}
    for line in text.splitlines():
        _, found, listed = line.partition(" proposals = ")
        if not found:
            continue
        items = [p.strip() for p in listed.split(",")]
        kinds = {p.partition(":")[0] for p in items}
        if len(kinds) == 1 and kinds <= {"IKE", "ESP"}:
            offers[kinds.pop().lower()] = tuple(_classify(p.partition(":")[2].split("/"))
                                                for p in items)
    return offers
