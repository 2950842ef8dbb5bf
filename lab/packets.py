"""Just enough packet parsing for the verdict: Ethernet, IPv6, ESP, UDP, ICMPv6."""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

ETH_IPV6 = 0x86DD
ESP, UDP, ICMPV6 = 50, 17, 58
ND_TYPES = {133, 134, 135, 136, 137}
IKE_PORTS = {500, 4500}


@dataclass(frozen=True)
class Packet:
    ts: float
    src: str
    dst: str
    proto: int
    spi: int | None = None
    seq: int | None = None
    sport: int | None = None
    dport: int | None = None
    icmp_type: int | None = None
    raw_ip: bytes = b""

    @property
    def kind(self) -> str:
        if self.proto == ESP:
            return "esp"
        if self.proto == UDP and (self.sport in IKE_PORTS or self.dport in IKE_PORTS):
            if self.dport == 4500 and self.spi:  # ESP in UDP: non-zero marker
                return "esp"
            return "ike"
        if self.proto == ICMPV6 and self.icmp_type in ND_TYPES:
            return "nd"
        if self.proto == ICMPV6 and self.icmp_type in (128, 129):
            return "echo"
        return "other"

    def line(self) -> str:
        """One line in tcpdump's style."""
        if self.kind == "esp":
            return f"{self.src} > {self.dst}: ESP(spi=0x{self.spi:08x},seq=0x{self.seq:x})"
        if self.kind == "ike":
            return f"{self.src}.{self.sport} > {self.dst}.{self.dport}: isakmp"
        if self.proto == ICMPV6:
            return f"{self.src} > {self.dst}: ICMP6 type {self.icmp_type}"
        return f"{self.src} > {self.dst}: proto {self.proto}"


def parse(ts: float, frame: bytes) -> Packet | None:
    """An IPv6 packet from an Ethernet frame, or None for anything else."""
    if len(frame) < 14 + 40 or struct.unpack_from("!H", frame, 12)[0] != ETH_IPV6:
        return None
    ip = frame[14:]
    next_header = ip[6]
    src = str(ipaddress.IPv6Address(ip[8:24]))
    dst = str(ipaddress.IPv6Address(ip[24:40]))
    body = ip[40:]
    if next_header == ESP and len(body) >= 8:
        spi, seq = struct.unpack_from("!II", body)
        return Packet(ts, src, dst, ESP, spi=spi, seq=seq, raw_ip=bytes(ip))
    if next_header == UDP and len(body) >= 8:
        sport, dport = struct.unpack_from("!HH", body)
        marker = struct.unpack_from("!I", body, 8)[0] if dport == 4500 and len(body) >= 12 else 0
        if marker:  # RFC 3948: ESP in UDP
            seq = struct.unpack_from("!I", body, 12)[0] if len(body) >= 16 else 0
            return Packet(ts, src, dst, UDP, spi=marker, seq=seq, sport=sport, dport=dport,
                          raw_ip=bytes(ip))
        return Packet(ts, src, dst, UDP, sport=sport, dport=dport, raw_ip=bytes(ip))
    if next_header == ICMPV6 and body:
        return Packet(ts, src, dst, ICMPV6, icmp_type=body[0], raw_ip=bytes(ip))
    return Packet(ts, src, dst, next_header, raw_ip=bytes(ip))


def parse_all(frames: list[tuple[float, bytes]]) -> list[Packet]:
    return [p for p in (parse(ts, f) for ts, f in frames) if p is not None]
