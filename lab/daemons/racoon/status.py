"""What racoon says it negotiated, beyond its plain log (pure: text in, lab.status records
out): racoon 0.9's status on its admin socket (racoonctl status -v -f json), racoon 0.8's
debug log (racoon.conf `log debug`). Both start from the log's own account
(lab.daemons.racoon.parse.racoon_status), which gives the SPIs and the mode.
"""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import replace

from lab.daemons.racoon.parse import racoon_status
from lab.status import ChildStatus, DaemonStatus, IkeStatus, neutral

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
            return id_payload_text(bytes.fromhex("".join(words)))
    return None


def id_payload_text(raw: bytes) -> str | None:
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
