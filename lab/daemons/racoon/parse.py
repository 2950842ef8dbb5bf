"""Pure parsers for what racoon and setkey print: racoon's log and `setkey -D`;
racoon's own account of its SAs (lab.status records) from its log (what its status and
debug log add: lab.daemons.racoon.status).

No process is started here; every function takes text and returns records, so the
unit tests can feed them fixtures and the driver can feed them live output.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lab.status import ChildStatus, DaemonStatus, IkeStatus
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
