"""What pluto's own log says was negotiated (pure: text in, lab.status records out).

pluto logs every established SA with its algorithms, so reading its log costs no
process (a `whack --status` costs 0.2-0.6 s inside UML). Lines as Libreswan 4.10
and 5.2 print them (tests/fixtures/pluto-*.log), e.g. for IKEv2

    "lab" #1: sent IKE_AUTH request {cipher=AES_CBC_128 integ=HMAC_SHA1_96 prf=HMAC_SHA1
              group=MODP2048}
    "lab" #1: initiator established IKE SA; authenticated peer using authby=secret and
              ID_IPV6_ADDR '2001:db8:2:2::2'
    "lab" #2: initiator established Child SA using #1; IPsec tunnel [...]
              {ESP/ESN=>0x2bc481aa <0xd32f667a xfrm=AES_GCM_16_128-NONE DPD=passive}

and for IKEv1 ("ISAKMP SA established" or "IKE SA established", by version and role)

    "lab" #1: ISAKMP SA established {auth=PRESHARED_KEY cipher=AES_CBC_128 integ=HMAC_SHA1
              group=MODP2048}
    "lab" #1: Peer ID is ID_IPV6_ADDR: '2001:db8:2:2::2'
    "lab" #2: IPsec SA established transport mode {ESP=>0xab291f73 <0x9a94db7a
              xfrm=AES_CBC_128-HMAC_SHA1_96 DPD=passive}

(each on one line in the log). A Child SA pluto 5 rekeyed is "initiator rekeyed Child SA #4
using #1; IPsec tunnel [...] {ESP=>0x... <0x... xfrm=...-MODP3072 ...}", with its PFS group.
"""

from __future__ import annotations

import re

from lab.offers import CIPHER_WORDS, ESN_WORDS, GROUP_WORDS, INTEG_WORDS, PRF_WORDS, Offered, word
from lab.status import ChildStatus, DaemonStatus, IkeStatus, neutral

#: pluto's cipher names (with key length) -> neutral
CIPHER = {"AES_CBC_128": "aes128", "AES_CBC_192": "aes192", "AES_CBC_256": "aes256",
          "3DES_CBC": "3des", "3DES_CBC_192": "3des", "AES_GCM_16_128": "aes128gcm16",
          "AES_GCM_16_256": "aes256gcm16", "AES_GCM_C_128": "aes128gcm16",
          "AES_GCM_C_256": "aes256gcm16", "CHACHA20_POLY1305": "chacha20poly1305",
          "CHACHA20_POLY1305_256": "chacha20poly1305",
          **{f"AES_GCM_{icv}_{bits}": f"aes{bits}gcm{icv}" for bits in (128, 192, 256)
             for icv in (8, 12, 16)},
          **{f"AES_GCM_{letter}_{bits}": f"aes{bits}gcm{icv}" for bits in (128, 192, 256)
             for letter, icv in (("A", 8), ("B", 12), ("C", 16))}}
#: pluto's integrity names (IKEv1 prints the hash, IKEv2 and ESP the truncated MAC) -> neutral
INTEG = {"HMAC_MD5": "md5", "HMAC_MD5_96": "md5", "MD5": "md5",
         "HMAC_SHA1": "sha1", "HMAC_SHA1_96": "sha1", "SHA1": "sha1",
         "HMAC_SHA2_256": "sha256", "HMAC_SHA2_256_128": "sha256", "SHA2_256": "sha256",
         "HMAC_SHA2_256_TRUNCBUG": "sha256_96",
         "HMAC_SHA2_384": "sha384", "HMAC_SHA2_384_192": "sha384", "SHA2_384": "sha384",
         "HMAC_SHA2_512": "sha512", "HMAC_SHA2_512_256": "sha512", "SHA2_512": "sha512",
         "AES_XCBC": "aesxcbc", "AES_XCBC_96": "aesxcbc",
         "NONE": "none", "n/a": "none"}
PRF = {"HMAC_MD5": "md5", "HMAC_SHA1": "sha1", "HMAC_SHA2_256": "sha256",
       "HMAC_SHA2_384": "sha384", "HMAC_SHA2_512": "sha512", "AES_XCBC": "aesxcbc"}
DH = {"MODP768": "modp768", "MODP1024": "modp1024", "MODP1536": "modp1536",
      "MODP2048": "modp2048", "MODP3072": "modp3072", "MODP4096": "modp4096",
      "DH19": "ecp256", "DH20": "ecp384", "DH21": "ecp521", "DH31": "curve25519",
      "DH32": "curve448", "NONE": "none"}

_IKE_ALGS = re.compile(r"\{(?:auth=\S+ )?cipher=(?P<cipher>\S+) integ=(?P<integ>\S+)"
                       r"(?: prf=(?P<prf>\S+))? group=(?P<group>[^\s}]+)\}")
_IKEV1_UP = re.compile(r"(?:ISAKMP|IKE) SA established \{")
_PEER_ID = re.compile(r"(?:Peer ID is|authenticated peer using \S+ and) ID_\w+:? '(?P<id>[^']*)'")
_CHILD = re.compile(r"IPsec (?:SA established )?(?P<mode>tunnel|transport)\b.*?"
                    r"\{(?:ESP|AH)(?:/\S+?)?=>0x(?P<out>[0-9a-f]+) <0x(?P<in>[0-9a-f]+)"
                    r" xfrm=(?P<xfrm>\S+)")
_QUICK_PFS = re.compile(r"initiating Quick Mode .*pfsgroup=(?P<pfs>[\w-]+)")


def _child(m: re.Match[str], pfs: str | None) -> ChildStatus:
    parts = m["xfrm"].split("-")
    cipher = neutral(CIPHER, parts[0])
    integ = neutral(INTEG, parts[1]) if len(parts) > 1 else None
    group = neutral(DH, parts[2]) if len(parts) > 2 else pfs
    return ChildStatus(spi_in=int(m["in"], 16), spi_out=int(m["out"], 16), mode=m["mode"],
                       cipher=cipher, integrity=integ, pfs=group)


def parse_pluto_log(text: str, ike_version: int) -> DaemonStatus:
    """The last IKE SA and the Child SAs pluto logged as established."""
    algs: re.Match[str] | None = None
    remote_id = None
    pfs = None
    children: list[ChildStatus] = []
    for line in text.splitlines():
        if (m := _IKE_ALGS.search(line)) and (ike_version == 2 or _IKEV1_UP.search(line)):
            algs = m
        if m := _PEER_ID.search(line):
            remote_id = m["id"]
        if m := _QUICK_PFS.search(line):
            pfs = "none" if m["pfs"] == "no-pfs" else neutral(DH, m["pfs"])
        if ("established" in line or "rekeyed Child SA" in line) and (m := _CHILD.search(line)):
            children.append(_child(m, pfs))
    ike = None
    if algs or remote_id:
        integ = neutral(INTEG, algs["integ"]) if algs else None
        # IKEv1 has no PRF of its own here: it is HMAC with the negotiated hash
        prf = neutral(PRF, algs["prf"]) if algs and algs["prf"] else (
            integ if algs and ike_version == 1 else None)
        ike = IkeStatus(version=ike_version, cipher=neutral(CIPHER, algs["cipher"]) if algs else None,
                        integrity=integ, prf=prf, dh=neutral(DH, algs["group"]) if algs else None,
                        remote_id=remote_id)
    return DaemonStatus(source="pluto.log", ike=ike, children=children,
                        unreported=("local identity",))


_OFFERS_START = re.compile(r"\"(?P<conn>[^\"]+)\": (?P<kind>IKE|Child) SA proposals \(connection add\):")
_OFFER = re.compile(r"\"(?P<conn>[^\"]+)\":\s+\d+:(?P<kind>IKE|ESP)=(?P<spec>\S+)")


def _split(field: str, table: dict[str, str], prefix: str = "") -> tuple[str, ...]:
    return () if field == "NONE" else tuple(word(w, table, prefix) for w in field.split("+"))


def _offer(kind: str, spec: str) -> Offered | None:
    parts = spec.split("-")
    if kind == "IKE" and len(parts) == 4:  # ENCR-PRF-INTEG-DH
        return Offered(_split(parts[0], CIPHER_WORDS), _split(parts[2], INTEG_WORDS),
                       _split(parts[1], PRF_WORDS), _split(parts[3], GROUP_WORDS))
    if kind == "ESP" and len(parts) == 4:  # ENCR-INTEG-DH-ESN (4.10: ENABLED+DISABLED)
        esn = tuple(ESN_WORDS[w] for w in parts[3].removeprefix("ESN:").split("+")
                    if w in ESN_WORDS)
        return Offered(_split(parts[0], CIPHER_WORDS), _split(parts[1], INTEG_WORDS),
                       groups=_split(parts[2], GROUP_WORDS), esn=esn)
    return None


def parse_pluto_offers(text: str, conn: str) -> dict[str, tuple[Offered, ...]]:
    """What pluto says connection ``conn`` offers, from the last "IKE SA proposals
    (connection add)" and "Child SA proposals" lists in its log (IKEv2; pluto lists
    none for IKEv1: {}). One line per proposal, e.g.

        "lab":   1:IKE=AES_GCM_16_256-HMAC_SHA2_512+HMAC_SHA2_256-NONE-ECP_256+MODP2048
        "lab":   4:ESP=AES_CBC_256-HMAC_SHA2_512_256+HMAC_SHA2_256_128-NONE-ESN:YES+NO
    """
    offers: dict[str, list[Offered]] = {}
    for line in text.splitlines():
        if (m := _OFFERS_START.search(line)) and m["conn"] == conn:
            offers["ike" if m["kind"] == "IKE" else "esp"] = []
        elif (m := _OFFER.search(line)) and m["conn"] == conn:
            kind = "ike" if m["kind"] == "IKE" else "esp"
            offer = _offer(m["kind"], m["spec"])
            if kind in offers and offer is not None:
                offers[kind].append(offer)
    return {kind: tuple(found) for kind, found in offers.items() if found}
