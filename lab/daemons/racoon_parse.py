"""Pure parsers for what racoon and setkey print: racoon's log and `setkey -D`;
racoon's own account of its SAs (lab.status records) from its log.

No process is started here; every function takes text and returns records, so the
unit tests can feed them fixtures and the driver can feed them live output.
"""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass, replace

from lab.status import ChildStatus, DaemonStatus, IkeStatus, neutral
from lab.xfrm import SA

#: setkey's encryption names -> the kernel (XFRM) names lab.xfrm reports
SETKEY_ENC: dict[str, str] = {
    "des-cbc": "cbc(des)",
    "3des-cbc": "cbc(des3_ede)",
    "aes-cbc": "cbc(aes)",
    "rijndael-cbc": "cbc(aes)",
    "aes-ctr": "rfc3686(ctr(aes))",
    "blowfish-cbc": "cbc(blowfish)",
    "cast128-cbc": "cbc(cast5)",
    "twofish-cbc": "cbc(twofish)",
    "camellia-cbc": "cbc(camellia)",
    "null": "ecb(cipher_null)",
}

#: setkey's authentication names -> (kernel name, ICV bits as PF_KEY installs them on Linux)
SETKEY_AUTH: dict[str, tuple[str, int]] = {
    "hmac-md5": ("hmac(md5)", 96),
    "hmac-sha1": ("hmac(sha1)", 96),
    "hmac-sha256": ("hmac(sha256)", 96),
    "hmac-sha384": ("hmac(sha384)", 192),
    "hmac-sha512": ("hmac(sha512)", 256),
    "hmac-ripemd160": ("hmac(rmd160)", 96),
    "aes-xcbc-mac": ("xcbc(aes)", 96),
}

#: setkey's AEAD names -> (kernel name, ICV bits)
SETKEY_AEAD: dict[str, tuple[str, int]] = {
    "aes-gcm-16": ("rfc4106(gcm(aes))", 128),
    "aes-gcm-12": ("rfc4106(gcm(aes))", 96),
    "aes-gcm-8": ("rfc4106(gcm(aes))", 64),
}

#: PF_KEY protocol words -> the words lab.xfrm uses
SETKEY_PROTO: dict[str, str] = {"esp": "esp", "ah": "ah", "ipcomp": "comp"}

_ADDR = r"[0-9A-Fa-f:.]+"
_PORT = r"(?:\[\d+\])?"
_STAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")
_ISAKMP = re.compile(
    rf"ISAKMP-SA established\s+(?P<local>{_ADDR}){_PORT}-(?P<remote>{_ADDR}){_PORT}"
    r"\s+spi:(?P<spi>[0-9A-Fa-f]+:[0-9A-Fa-f]+)")
_IPSEC = re.compile(
    rf"IPsec-SA established:\s+(?P<proto>[A-Za-z]+)/(?P<mode>[A-Za-z]+)\s+"
    rf"(?P<src>{_ADDR}){_PORT}->(?P<dst>{_ADDR}){_PORT}\s+spi=(?P<spi>\d+)")
_HOST = re.compile(rf"^(?P<src>{_ADDR})(?P<sport>\[\d+\])?\s+(?P<dst>{_ADDR})(?P<dport>\[\d+\])?\s*$")
_SA_LINE = re.compile(r"^(?P<proto>\w+)\s+mode=(?P<mode>\S+)\s+spi=(?P<spi>\d+)\(0x[0-9a-f]+\)"
                      r"(?:\s+reqid=(?P<reqid>\d+)\(0x[0-9a-f]+\))?", re.IGNORECASE)
_KEY_LINE = re.compile(r"^(?P<kind>[EAC]):\s+(?P<alg>\S+)(?P<key>(?:\s+[0-9a-fA-F]+)*)\s*$")
_BYTES = re.compile(r"current:\s+(\d+)\(bytes\)")
_ALLOCATED = re.compile(r"allocated:\s+(\d+)")


@dataclass(frozen=True)
class IsakmpSA:
    """``ISAKMP-SA established`` in racoon's log: phase 1 is up."""

    time: str
    local: str
    remote: str
    cookies: str  # "initiator:responder", as racoon prints them


@dataclass(frozen=True)
class IpsecSA:
    """``IPsec-SA established`` in racoon's log: one direction of phase 2 is in the kernel."""

    time: str
    proto: str  # "esp", "ah", "ipcomp"
    mode: str  # "transport", "tunnel"
    src: str
    dst: str
    spi: int


RacoonEvent = IsakmpSA | IpsecSA


def _logical_lines(text: str) -> list[str]:
    """racoon's lines, with wrapped continuations (leading blanks) joined back on."""
    lines: list[str] = []
    for raw in text.splitlines():
        if raw[:1].isspace() and lines and raw.strip():
            lines[-1] = f"{lines[-1]} {raw.strip()}"
        elif raw.strip():
            lines.append(raw.rstrip())
    return lines


def _stamp(line: str) -> str:
    m = _STAMP.match(line)
    return m.group(0) if m else ""


def parse_racoon_log(text: str) -> list[RacoonEvent]:
    """ISAKMP-SA and IPsec-SA establishments, in log order.

    Accepts ipsec-tools 0.3-era lines (``ESP/Tunnel A->B spi=N(0x..)``) and 0.8-era ones
    (``ESP/Transport A[500]->B[500] spi=N(0x..)``), lines wrapped or not.
    """
    events: list[RacoonEvent] = []
    for line in _logical_lines(text):
        if m := _IPSEC.search(line):
            events.append(IpsecSA(time=_stamp(line), proto=m["proto"].lower(),
                                  mode=m["mode"].lower(), src=m["src"], dst=m["dst"],
                                  spi=int(m["spi"])))
        elif m := _ISAKMP.search(line):
            events.append(IsakmpSA(time=_stamp(line), local=m["local"], remote=m["remote"],
                                   cookies=m["spi"]))
    return events


_PURGED = re.compile(r"purged IPsec-SA proto_id=(?P<proto>\w+) spi=(?P<spi>\d+)")


def purged_spis(text: str) -> set[int]:
    """The SPIs of the SAs racoon removed on a peer's Delete ("purged IPsec-SA")."""
    return {int(m["spi"]) for m in _PURGED.finditer(text)}


def phase2s(text: str, me: str) -> list[tuple[IpsecSA, IpsecSA]]:
    """Each established phase 2 as (inbound SA, outbound SA). racoon logs a phase 2's two
    SAs one after the other. ipsec-tools 0.8 and 0.9 print the phase 2's own direction on
    both lines, the inbound SA first (its kernel UPDATE is answered before the ADD of the
    outbound one); older releases print each SA's direction."""
    sas = [e for e in parse_racoon_log(text) if isinstance(e, IpsecSA)]
    found: list[tuple[IpsecSA, IpsecSA]] = []
    i = 0
    while i + 1 < len(sas):
        a, b = sas[i], sas[i + 1]
        if {a.src, a.dst} != {b.src, b.dst} or a.proto != b.proto or a.spi == b.spi:
            i += 1
            continue
        if (a.src, a.dst) == (b.src, b.dst) or a.dst == me:
            found.append((a, b))
        else:
            found.append((b, a))
        i += 2
    return found


def partners(text: str, me: str) -> dict[int, int]:
    """Each SPI of an established phase 2 -> the SPI of its other direction."""
    pairs: dict[int, int] = {}
    for inbound, outbound in phase2s(text, me):
        pairs[inbound.spi], pairs[outbound.spi] = outbound.spi, inbound.spi
    return pairs


def _record(host: re.Match[str], body: list[str]) -> SA | None:
    """One SA from its address line and its indented lines (None if it has no SA line)."""
    sa_line = next((m for ln in body if (m := _SA_LINE.match(ln))), None)
    if sa_line is None:
        return None
    enc = auth = aead = None
    for ln in body:
        m = _KEY_LINE.match(ln)
        if not m:
            continue
        alg, key = m["alg"].lower(), "".join(m["key"].split()).lower()
        if m["kind"] == "E" and alg in SETKEY_AEAD:
            name, icv = SETKEY_AEAD[alg]
            aead = (name, key, icv)
        elif m["kind"] == "E":
            enc = (SETKEY_ENC.get(alg, alg), key)
        elif m["kind"] == "A":
            name, bits = SETKEY_AUTH.get(alg, (alg, 0))
            auth = (name, key, bits)
    joined = "\n".join(body)
    volume = _BYTES.search(joined)
    packets = _ALLOCATED.search(joined)
    proto = sa_line["proto"].lower()
    return SA(src=host["src"], dst=host["dst"], spi=int(sa_line["spi"]),
              proto=SETKEY_PROTO.get(proto, proto), mode=sa_line["mode"].lower(),
              reqid=int(sa_line["reqid"] or 0), enc=enc, auth=auth, aead=aead,
              encap=bool(host["sport"] or host["dport"]),
              packets=int(packets.group(1)) if packets else 0,
              bytes=int(volume.group(1)) if volume else 0)


def parse_setkey_dump(text: str) -> list[SA]:
    """`setkey -D` output as lab.xfrm.SA records (kernel algorithm names, keys as plain hex)."""
    blocks: list[tuple[re.Match[str], list[str]]] = []
    for raw in text.splitlines():
        if not raw.strip():
            continue
        host = None if raw[:1].isspace() else _HOST.match(raw.strip())
        if host:
            blocks.append((host, []))
        elif blocks:
            blocks[-1][1].append(raw.strip())
    return [sa for host, body in blocks if (sa := _record(host, body)) is not None]


#: what racoon's log (without -d) does not say about the SAs it established
RACOON_UNREPORTED = ("IKE algorithms", "identities", "ESP algorithms", "PFS group")


def racoon_status(text: str, me: str) -> DaemonStatus:
    """racoon's account from its log: whether phase 1 is up, and phase 2's mode and SPIs.
    Without debug output racoon names no algorithm and no identity (``unreported``)."""
    events = parse_racoon_log(text)
    ike = IkeStatus(version=1) if any(isinstance(e, IsakmpSA) for e in events) else None
    esp = [(i, o) for i, o in phase2s(text, me) if i.proto == "esp"]
    children = [ChildStatus(spi_in=esp[-1][0].spi, spi_out=esp[-1][1].spi,
                            mode=esp[-1][1].mode)] if esp else []
    return DaemonStatus(source="racoon.log", ike=ike, children=children,
                        unreported=RACOON_UNREPORTED)


# -- racoon 0.9's status (racoonctl status -v -f json) ----------------------------------
#: racoon's cipher names (strnames.c: phase 1 "AES-CBC", phase 2 "AES" or, in 0.9's status,
#: "AES-CBC") -> neutral families, AES without its key length (0.9's status does not give it:
#: lab.negotiated compares such a name by family; the debug log does, see `_cipher`)
CIPHER_NAMES: dict[str, str] = {"AES-CBC": "aes", "AES": "aes", "3DES-CBC": "3des",
                                "3DES": "3des", "DES-CBC": "des", "DES": "des"}
#: racoon's phase-1 hash and phase-2 authentication names (strnames.c) -> neutral integrity
HASH_NAMES: dict[str, str] = {"MD5": "md5", "SHA": "sha1", "SHA256": "sha256",
                              "SHA384": "sha384", "SHA512": "sha512", "hmac-md5": "md5",
                              "hmac-sha": "sha1", "hmac-sha1": "sha1", "hmac-sha256": "sha256",
                              "hmac-sha384": "sha384", "hmac-sha512": "sha512"}
#: IKEv1 DH group numbers -> neutral group names
STATUS_GROUP: dict[str, str] = {"1": "modp768", "2": "modp1024", "5": "modp1536",
                                "14": "modp2048", "15": "modp3072", "16": "modp4096"}
#: what racoon 0.9's status does not say (SPIs come masked: the log gives them whole)
STATUS_UNREPORTED = ("AES key lengths",)


def _group(value: object) -> str | None:
    return "none" if value is None else neutral(STATUS_GROUP, str(value))


def _last_child_with(children: list[ChildStatus], cipher: str | None, integrity: str | None,
                     pfs: str | None) -> list[ChildStatus]:
    """The children, the last (the phase 2 racoon describes) with these algorithms."""
    return [*children[:-1], replace(children[-1], cipher=cipher, integrity=integrity, pfs=pfs)]


def racoon_json_status(text: str, log: str, me: str, peer: str) -> DaemonStatus:
    """racoon 0.9's status JSON for the peer: the established phase 1 (algorithms,
    identities) and the last established ESP phase 2 (algorithms, PFS group), with the
    SPIs and mode from the log (the status masks SPIs)."""
    base = racoon_status(log, me)
    try:
        doc = json.loads(text)
    except ValueError as exc:
        return replace(base, error=f"racoon status JSON: {exc}")
    ones = [p for p in doc.get("phase1", []) if p.get("state") == "established"
            and same_address(p.get("remote_id"), peer) is not False]
    ike = None
    if ones:
        p1, prop = ones[-1], ones[-1].get("proposal") or {}
        integrity = neutral(HASH_NAMES, prop.get("hash_algorithm"))
        ike = IkeStatus(version=1, cipher=neutral(CIPHER_NAMES, prop.get("encryption_algorithm")),
                        integrity=integrity, prf=integrity, dh=_group(prop.get("dh_group")),
                        local_id=p1.get("local_id"), remote_id=p1.get("remote_id"))
    twos = [p for p in doc.get("phase2", []) if p.get("state") == "established"
            and p.get("protocol") == "ESP"]
    children = base.children
    if twos and children:
        prop = twos[-1].get("proposal") or {}
        children = _last_child_with(children, neutral(CIPHER_NAMES, prop.get("encryption_algorithm")),
                                    neutral(HASH_NAMES, prop.get("authentication_algorithm")),
                                    _group(prop.get("pfs_group")))
    return DaemonStatus(source="racoonctl status", ike=ike or base.ike, children=children,
                        unreported=STATUS_UNREPORTED)


def same_address(reported: object, address: str) -> bool | None:
    """Whether an identity the status reports is this address; None if it is no address."""
    try:
        return ipaddress.ip_address(str(reported)) == ipaddress.ip_address(address)
    except ValueError:
        return None


# -- racoon 0.8's debug log (racoon.conf `log debug`) ------------------------------------
#: phase-1 group names -> neutral names
DEBUG_GROUP: dict[str, str] = {f"{bits}-bit MODP group": f"modp{bits}"
                               for bits in (768, 1024, 1536, 2048, 3072, 4096)}
#: what the debug log does not say: the local identity (only its type)
DEBUG_UNREPORTED = ("local identity",)
_DEBUG = re.compile(r"DEBUG: (?P<text>.*)$")
_PH1_FIELD = re.compile(r"^\s+(?P<key>enctype|encklen|hashtype|dh_group) = (?P<value>.+?)\s*$")
_TRNS = re.compile(r"\(trns_id=(?P<cipher>\S+) encklen=(?P<bits>\d+) authtype=(?P<auth>\S+)\)")
_GROUP_ATTR = re.compile(r"type=Group Description, flag=\S+, lorv=(?P<group>\d+)$")
_HEXWORDS = re.compile(r"^[0-9a-f]{1,8}(?: [0-9a-f]{1,8})*$")


def _cipher(family: str | None, bits: str | None) -> str | None:
    """``aes`` and 256 -> ``aes256``; a cipher whose name has no key length stays so."""
    if family is None:
        return None
    return f"{family}{bits}" if family == "aes" and bits and bits != "0" else family


def _debug_texts(text: str) -> list[str]:
    """The text of each DEBUG line (hex dumps racoon wraps onto the next line joined on)."""
    out: list[str] = []
    for raw in text.splitlines():
        m = _DEBUG.search(raw)
        if m:
            out.append(m["text"])
        elif out and _HEXWORDS.match(raw.strip()):
            out[-1] = f"{out[-1]} {raw.strip()}".strip()
    return out


def _phase1(lines: list[str]) -> dict[str, str]:
    """The fields of the proposal racoon found acceptable last (phase 1)."""
    found: dict[str, str] = {}
    for i, line in enumerate(lines):
        if line == "an acceptable proposal found.":
            found = {}
            for back in reversed(lines[max(0, i - 12):i]):
                m = _PH1_FIELD.match(back)
                if m:
                    found.setdefault(m["key"], m["value"])
    return found


def _phase2(lines: list[str]) -> tuple[re.Match[str] | None, str | None]:
    """The transform of the last phase 2 racoon matched ("peer's single bundle") and its
    PFS group (a Group Description among the compared attributes, None without one)."""
    trns, group = None, None
    for i, line in enumerate(lines):
        if line != "peer's single bundle:":
            continue
        trns = next((m for ln in lines[i + 1:i + 4] if (m := _TRNS.search(ln))), trns)
        start = max((j for j in range(i) if lines[j].startswith("prop#=") and "prot-id=ESP"
                     in lines[j]), default=i)
        groups = [m["group"] for ln in lines[start:i] if (m := _GROUP_ATTR.search(ln))]
        group = groups[-1] if groups else None
    return trns, group


def _peer_id(lines: list[str]) -> str | None:
    """The peer's identity from "peer's ID" and the hex dump after it (on the same line
    after a second time stamp, or on the next): an address or a name."""
    at = next((i for i in range(len(lines) - 1, -1, -1) if "peer's ID" in lines[i]), None)
    if at is None:
        return None
    for text in (lines[at].split("peer's ID", 1)[1], *lines[at + 1:at + 2]):
        words = text.rsplit("DEBUG:", 1)[-1].lstrip(":").split()
        if words and all(_HEXWORDS.match(w) for w in words):
            return _identity(bytes.fromhex("".join(words)))
    return None


def _identity(raw: bytes) -> str | None:
    """An IKEv1 ID payload's body (type, protocol, port, data) as text, for the kinds a
    daemon's words can be compared with: addresses and names."""
    kind, value = (raw[0], raw[4:]) if len(raw) > 4 else (None, b"")
    if (kind, len(value)) in ((1, 4), (5, 16)):  # IPV4_ADDR, IPV6_ADDR
        return str(ipaddress.ip_address(value))
    if kind in (2, 3):  # FQDN, USER_FQDN
        return value.decode(errors="replace")
    return None


def racoon_debug_status(text: str, me: str) -> DaemonStatus:
    """racoon's account from its debug log (0.8 states algorithms only at that level): the
    phase-1 proposal it accepted, the peer's identity, and the last phase 2's transform
    and PFS group, with the SPIs and mode of its info lines."""
    base = racoon_status(text, me)
    lines = _debug_texts(text)
    p1 = _phase1(lines)
    ike = base.ike
    if ike is not None and p1:
        integrity = neutral(HASH_NAMES, p1.get("hashtype"))
        ike = IkeStatus(version=1, cipher=_cipher(neutral(CIPHER_NAMES, p1.get("enctype")),
                                                  p1.get("encklen")),
                        integrity=integrity, prf=integrity,
                        dh=neutral(DEBUG_GROUP, p1.get("dh_group")), remote_id=_peer_id(lines))
    trns, group = _phase2(lines)
    children = base.children
    if trns and children:
        children = _last_child_with(
            children, _cipher(neutral(CIPHER_NAMES, trns["cipher"]), trns["bits"]),
            neutral(HASH_NAMES, trns["auth"]), _group(group))
    if not p1 and not trns:
        return base  # no debug output: what the info lines say
    return DaemonStatus(source="racoon.log (debug)", ike=ike, children=children,
                        unreported=DEBUG_UNREPORTED)
