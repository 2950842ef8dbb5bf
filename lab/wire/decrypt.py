"""Decrypt the captured ESP with the keys the kernels hold, and write Wireshark's esp_sa.

scapy does the cryptography (its SecurityAssociation); this module maps the
kernel's algorithm names to scapy's and to Wireshark's, and checks that what was
encrypted is exactly the echo requests and replies that were sent.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass, field
from pathlib import Path

from lab.wire.packets import ICMP4, ICMPV6, Packet
from lab.wire.traffic import ECHO, PingResult
from lab.wire.xcbc import AesXcbcMac
from lab.xfrm import SA

#: protocol numbers of an IP packet inside IP (tunnel mode): IPv4, IPv6
IP_IN_IP = (4, 41)

#: kernel name -> (scapy name, Wireshark esp_sa name)
CIPHERS = {
    "cbc(aes)": ("AES-CBC", "AES-CBC [RFC3602]"),
    "cbc(des3_ede)": ("3DES", "TripleDES-CBC [RFC2451]"),
    "rfc4106(gcm(aes))": ("AES-GCM", "AES-GCM with 16 octet ICV [RFC4106]"),
    "rfc7539esp(chacha20,poly1305)": ("CHACHA20-POLY1305", "ChaCha20 with Poly1305 [RFC7634]"),
}
#: (kernel name, truncation bits) -> (scapy name, Wireshark esp_sa name)
INTEGRITY = {
    ("hmac(sha1)", 96): ("HMAC-SHA1-96", "HMAC-SHA-1-96 [RFC2404]"),
    ("hmac(md5)", 96): ("HMAC-MD5-96", "HMAC-MD5-96 [RFC2403]"),
    ("hmac(sha256)", 128): ("SHA2-256-128", "HMAC-SHA-256-128 [RFC4868]"),
    # PF_KEY (racoon) installs hmac(sha256) truncated to the pre-RFC 4868 96 bits
    ("hmac(sha256)", 96): ("SHA2-256-96", "HMAC-SHA-256-96 [draft-ietf-ipsec-ciph-sha-256-00]"),
    ("hmac(sha384)", 192): ("SHA2-384-192", "HMAC-SHA-384-192 [RFC4868]"),
    ("hmac(sha512)", 256): ("SHA2-512-256", "HMAC-SHA-512-256 [RFC4868]"),
    # Wireshark has no AES-XCBC: it decrypts such an SA and leaves the ICV unchecked
    ("xcbc(aes)", 96): ("AES-XCBC-MAC-96", "ANY 96 bit authentication [no checking]"),
}


@dataclass
class Decryption:
    inner: dict[tuple[str, str], list[tuple[int, int, int]]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def summary(self) -> str:
        n = sum(len(v) for v in self.inner.values())
        return f"decrypted {n} ESP packets" + (f"; {len(self.problems)} problem(s)"
                                               if self.problems else ", all echo as sent")


#: integrity algorithms scapy has no entry for: name -> (hash, or XCBC for lab.wire.xcbc;
#: ICV bytes)
SCAPY_EXTRA_AUTH = {"SHA2-256-96": ("SHA256", 12), "AES-XCBC-MAC-96": ("XCBC", 12)}


def _scapy_sa(sa: SA):  # type: ignore[no-untyped-def]
    from scapy.layers.ipsec import ESP, SecurityAssociation

    kwargs: dict[str, object] = {"spi": sa.spi, "esn_en": sa.esn}
    if sa.aead:
        name, key, icv = sa.aead
        kwargs.update(crypt_algo=CIPHERS[name][0], crypt_key=bytes.fromhex(key),
                      crypt_icv_size=icv // 8)
        if CIPHERS[name][0] == "AES-GCM" and icv != 128:
            engine = SecurityAssociation(ESP, **kwargs)
            engine.crypt_algo = _short_gcm(icv // 8)
            return engine
    else:
        assert sa.enc is not None and sa.auth is not None
        auth = INTEGRITY[(sa.auth[0], sa.auth[2])][0]
        kwargs.update(crypt_algo=CIPHERS[sa.enc[0]][0], crypt_key=bytes.fromhex(sa.enc[1]),
                      auth_algo="NULL" if auth in SCAPY_EXTRA_AUTH else auth,
                      auth_key=bytes.fromhex(sa.auth[1]))
        if auth in SCAPY_EXTRA_AUTH:  # this SA's own algorithm object; scapy's table stays as it is
            engine = SecurityAssociation(ESP, **kwargs)
            engine.auth_algo = _extra_auth(auth)
            engine.auth_key = bytes.fromhex(sa.auth[1])
            return engine
    return SecurityAssociation(ESP, **kwargs)


def _short_gcm(icv: int):  # type: ignore[no-untyped-def]
    """AES-GCM with an 8- or 12-byte ICV (aes128gcm8, aes256gcm12 ...). scapy's AES-GCM goes
    through cryptography's AESGCM, which takes 16-byte tags only; its cipher-and-mode path
    (modes.GCM with the tag's own length) checks a short one. Same key, salt and nonce."""
    from cryptography.hazmat.primitives.ciphers import algorithms, modes
    from scapy.layers.ipsec import CryptAlgo

    return CryptAlgo(f"AES-GCM-{icv * 8}", cipher=algorithms.AES, mode=modes.GCM,
                     key_size=(16, 24, 32), salt_size=4, block_size=1, iv_size=8, icv_size=icv,
                     format_mode_iv=lambda sa, iv, **_: sa.crypt_salt + iv)


def _extra_auth(name: str):  # type: ignore[no-untyped-def]
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.hmac import HMAC
    from scapy.layers.ipsec import AuthAlgo

    digest, icv = SCAPY_EXTRA_AUTH[name]
    if digest == "XCBC":
        return AuthAlgo(name, mac=AesXcbcMac, digestmod=type(None), icv_size=icv)
    return AuthAlgo(name, mac=HMAC, digestmod=getattr(hashes, digest), icv_size=icv)


def unsupported(sa: SA) -> str | None:
    if sa.aead:
        return None if sa.aead[0] in CIPHERS else f"no decryption for {sa.aead[0]}"
    if not sa.enc or sa.enc[0] not in CIPHERS:
        return f"no decryption for {sa.enc[0] if sa.enc else 'a missing cipher'}"
    if not sa.auth or (sa.auth[0], sa.auth[2]) not in INTEGRITY:
        return f"no integrity check for {sa.auth[0] if sa.auth else 'a missing integrity'}"
    return None


def _header(raw: bytes) -> tuple[int, int, int] | None:
    """(IP version, header length, next protocol) of an IPv4 or IPv6 packet."""
    if len(raw) >= 20 and raw[0] >> 4 == 4:
        return 4, (raw[0] & 0x0F) * 4, raw[9]
    if len(raw) >= 40 and raw[0] >> 4 == 6:
        return 6, 40, raw[6]
    return None


def _addresses(raw: bytes, version: int) -> tuple[str, str]:
    if version == 4:
        return str(ipaddress.IPv4Address(raw[12:16])), str(ipaddress.IPv4Address(raw[16:20]))
    return str(ipaddress.IPv6Address(raw[8:24])), str(ipaddress.IPv6Address(raw[24:40]))


def inner_echo(raw: bytes) -> tuple[int, str, str, int, int, int] | None:
    """(IP version, source, destination, ICMP type, ident, seq) of the echo in a decrypted
    packet, or None. Transport: an IP header with ICMP(v6) after it. Tunnel: scapy keeps
    the outer header (protocol 4 or 41) in front of the inner packet, of either family."""
    while (head := _header(raw)) is not None and head[2] in IP_IN_IP:
        raw = raw[head[1]:]
    if head is None or head[2] != (ICMPV6 if head[0] == 6 else ICMP4) or len(raw) < head[1] + 8:
        return None
    kind, _code, _sum, ident, seq = struct.unpack_from("!BBHHH", raw, head[1])
    return (head[0], *_addresses(raw, head[0]), kind, ident, seq)


def esp_packet(p: Packet):  # type: ignore[no-untyped-def]
    """The captured ESP packet as scapy's IP(v6)/ESP; ESP in UDP (RFC 3948) without its
    UDP header, as the receiving kernel decapsulates it."""
    from scapy.layers.inet import IP, UDP
    from scapy.layers.inet6 import IPv6
    from scapy.packet import Raw

    outer = IPv6(p.raw_ip) if p.family == 6 else IP(p.raw_ip)
    if not p.udp_encapsulated:
        return outer
    esp = bytes(outer[UDP].payload)
    if p.family == 6:
        return IPv6(bytes(IPv6(src=outer.src, dst=outer.dst, nh=50, hlim=outer.hlim) / Raw(esp)))
    return IP(bytes(IP(src=outer.src, dst=outer.dst, proto=50, ttl=outer.ttl) / Raw(esp)))


def _open(p: Packet, by_spi: dict[int, SA], engines: dict[int, object],
          family: int) -> tuple[int, str, str, int, int, int] | str:
    """The echo inside one ESP packet, or what went wrong (a problem's text)."""
    sa = by_spi.get(p.spi or 0)
    if sa is None:
        return f"no key for spi 0x{p.spi:08x}"
    why = unsupported(sa)
    if why:
        return f"spi 0x{sa.spi:08x}: {why}"
    engine = engines.setdefault(sa.spi, _scapy_sa(sa))
    try:
        inner = engine.decrypt(esp_packet(p))  # type: ignore[attr-defined]
    except Exception as exc:  # scapy raises plain exceptions for bad ICVs
        return f"spi 0x{sa.spi:08x} seq {p.seq}: {exc}"
    echo = inner_echo(bytes(inner))
    if echo is None or echo[0] != family:
        return f"spi 0x{sa.spi:08x} seq {p.seq}: inner packet is not {'ICMPv6' if family == 6 else 'ICMP'}"
    return echo


def decrypt(packets: list[Packet], sas: list[SA], ping: PingResult,
            lossy: bool = False) -> Decryption:
    """Decrypt every ESP packet between the peers (ESP in UDP too); the inner packets
    must be the pings. ``lossy``: the capture holds what the peers sent, and the path
    lost some, so a reply may have been sent that never came back."""
    result = Decryption()
    by_spi = {sa.spi: sa for sa in sas if sa.proto == "esp"}
    engines: dict[int, object] = {}
    for p in packets:
        if p.kind != "esp":
            continue
        echo = _open(p, by_spi, engines, ping.family)
        if isinstance(echo, str):
            result.problems.append(echo)
            continue
        _version, src, dst, kind, ident, seq = echo
        ends = _expected_ends(ping, kind)
        if ends is not None and (src, dst) != ends:
            result.problems.append(f"spi 0x{p.spi:08x} seq {p.seq}: inner packet {src} > {dst},"
                                   f" expected {ends[0]} > {ends[1]} (the ping's ends)")
        result.inner.setdefault((p.src, p.dst), []).append((kind, ident, seq))
    _check_echo(result, ping, lossy)
    return result


def decrypt_sample(packets: list[Packet], sas: list[SA], family: int, ident: int,
                   ends: tuple[str, str], sent: set[int], per_spi: int = 3) -> Decryption:
    """A lifecycle cell's wire, SA by SA: each SPI's first and last ``per_spi`` ESP packets
    decrypted with the keys its kernels held; each must be an echo of the stream (its
    identifier, from ``ends[0]`` to ``ends[1]`` or back, a sequence number it sent).
    A sample: a stream sends thousands, and each costs about 0.5 ms in a guest."""
    result = Decryption()
    by_spi = {sa.spi: sa for sa in sas if sa.proto == "esp"}
    engines: dict[int, object] = {}
    per: dict[int, list[Packet]] = {}
    for p in packets:
        if p.kind == "esp":
            per.setdefault(p.spi or 0, []).append(p)
    request, reply = ECHO[family]
    for spi_packets in per.values():
        chosen = spi_packets if len(spi_packets) <= 2 * per_spi else \
            spi_packets[:per_spi] + spi_packets[-per_spi:]
        for p in chosen:
            echo = _open(p, by_spi, engines, family)
            if isinstance(echo, str):
                result.problems.append(echo)
                continue
            _version, src, dst, kind, got_ident, seq = echo
            want = {request: ends, reply: (ends[1], ends[0])}.get(kind)
            if want is None or (src, dst) != want or got_ident != ident or seq not in sent:
                result.problems.append(
                    f"spi 0x{p.spi:08x} seq {p.seq}: inner packet {src} > {dst} type {kind}"
                    f" id 0x{got_ident:04x} seq {seq}, not an echo of the stream"
                    f" ({ends[0]} <> {ends[1]} id 0x{ident:04x})")
                continue
            result.inner.setdefault((p.src, p.dst), []).append((kind, got_ident, seq))
    return result


def _expected_ends(ping: PingResult, kind: int) -> tuple[str, str] | None:
    """(source, destination) an echo of this type must carry, where the ping knows both."""
    if ping.src is None or ping.dst is None:
        return None
    return (ping.src, ping.dst) if kind == ECHO[ping.family][0] else (ping.dst, ping.src)


def _check_echo(result: Decryption, ping: PingResult, lossy: bool = False) -> None:
    request, reply = ECHO[ping.family]
    requests = [(k, i, s) for v in result.inner.values() for (k, i, s) in v if k == request]
    replies = [(k, i, s) for v in result.inner.values() for (k, i, s) in v if k == reply]
    want_req = [(request, ping.ident, s) for s in ping.sent]
    want_rep = [(reply, ping.ident, s) for s in ping.replies]
    if requests != want_req:
        result.problems.append(f"decrypted echo requests {[s for *_, s in requests]}, "
                               f"sent {ping.sent} (id 0x{ping.ident:04x})")
    if lossy:  # replies the path lost were sent all the same: those received, in order
        sent_replies = [x for x in replies if x in want_rep]
        if sent_replies != want_rep or len(set(replies)) != len(replies) or \
                not {s for *_, s in replies} <= set(ping.sent):
            result.problems.append(f"decrypted echo replies {[s for *_, s in replies]}, "
                                   f"answered {ping.replies} (lossy path: a superset of the"
                                   " answered, within the sent)")
    elif replies != want_rep:
        result.problems.append(f"decrypted echo replies {[s for *_, s in replies]}, "
                               f"answered {ping.replies}")


def esp_sa_file(sas: list[SA]) -> str:
    """Wireshark's esp_sa UAT: put it in the profile directory and the capture opens decrypted."""
    rows = []
    # one row per SA and address pair: behind a NAT each side's capture has its own addresses
    for sa in sorted({(sa.spi, sa.src, sa.dst): sa for sa in sas if sa.proto == "esp"}.values(),
                     key=lambda s: (s.src, s.spi)):
        if sa.aead and sa.aead[0] in CIPHERS:
            enc, key, auth, akey = CIPHERS[sa.aead[0]][1], sa.aead[1], "NULL", ""
            enc = enc.replace("16 octet ICV", f"{sa.aead[2] // 8} octet ICV")  # GCM's 8 and 12
        elif sa.enc and sa.auth and sa.enc[0] in CIPHERS and (sa.auth[0], sa.auth[2]) in INTEGRITY:
            enc, key = CIPHERS[sa.enc[0]][1], sa.enc[1]
            auth, akey = INTEGRITY[(sa.auth[0], sa.auth[2])][1], sa.auth[1]
        else:
            continue
        rows.append(",".join(f'"{v}"' for v in (
            "IPv6" if ":" in sa.src else "IPv4", sa.src, sa.dst, f"0x{sa.spi:08x}", enc, f"0x{key}", auth,
            f"0x{akey}" if akey else "")))
    return "# Wireshark esp_sa, written by ipsec-lab\n" + "\n".join(rows) + "\n"


def write_esp_sa(path: Path, sas: list[SA]) -> None:
    path.write_text(esp_sa_file(sas))
