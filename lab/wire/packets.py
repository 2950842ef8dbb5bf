"""The wire, dissected by scapy into what the verdict needs: who sent what to whom.

Each captured Ethernet frame becomes one `Packet`: its addresses (IPv6 or IPv4),
and for ESP its SPI and sequence number, for UDP its ports, for ICMP its type.
ESP inside UDP port 4500 (RFC 3948) counts as ESP; a zero non-ESP marker there
is IKE, a lone 0xff byte a NAT keepalive. scapy does the dissecting; importing it
costs a second or more, so it happens on first use (`scapy()`), which a UML worker
makes while it waits for its first cell; the pytest process outside needs none.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cache
from types import SimpleNamespace
from typing import Any

ESP, UDP_PROTO, ICMP4, ICMPV6 = 50, 17, 1, 58
#: ICMPv6 router and neighbour discovery, redirect
ND_TYPES = {133, 134, 135, 136, 137}
#: echo request and reply per ICMP version
ECHO_TYPES = {ICMP4: (8, 0), ICMPV6: (128, 129)}
IKE_PORTS = {500, 4500}
NATT_PORT = 4500


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
    #: an IKE message's bytes (after the non-ESP marker on port 4500), for retransmissions
    ike: bytes = b""
    #: an IP fragment's (identification, offset in 8-byte units); None: not a fragment
    frag: tuple[int, int] | None = None
    #: a later fragment: the kind of the packet whose first fragment it follows
    continues: str | None = None

    @property
    def family(self) -> int:
        return 6 if ":" in self.src else 4

    @property
    def udp_encapsulated(self) -> bool:
        return self.proto == UDP_PROTO and self.spi is not None

    @property
    def kind(self) -> str:
        if self.continues is not None:
            return self.continues
        if self.frag is not None and self.frag[1] > 0:
            return "fragment"  # of a packet whose first fragment was not captured
        if self.proto == ESP or self.udp_encapsulated:
            return "esp"
        if self.proto == UDP_PROTO and (self.sport in IKE_PORTS or self.dport in IKE_PORTS):
            return "ike"
        if self.proto == ICMPV6 and self.icmp_type in ND_TYPES:
            return "nd"
        if self.proto in ECHO_TYPES and self.icmp_type in ECHO_TYPES[self.proto]:
            return "echo"
        return "other"

    def line(self) -> str:
        """One line in tcpdump's style."""
        if self.kind == "esp":
            udp = f"{self.src}.{self.sport} > {self.dst}.{self.dport}: UDP-encap: " \
                if self.udp_encapsulated else f"{self.src} > {self.dst}: "
            return f"{udp}ESP(spi=0x{self.spi:08x},seq=0x{self.seq:x})"
        if self.kind == "ike":
            return f"{self.src}.{self.sport} > {self.dst}.{self.dport}: isakmp"
        if self.proto in (ICMPV6, ICMP4):
            return f"{self.src} > {self.dst}: ICMP{'6' if self.proto == ICMPV6 else ''} " \
                   f"type {self.icmp_type}"
        return f"{self.src} > {self.dst}: proto {self.proto}"


@cache
def scapy() -> Any:
    """The scapy layers the lab uses, imported once."""
    from scapy.layers.inet import IP, UDP
    from scapy.layers.inet6 import IPv6, IPv6ExtHdrFragment
    from scapy.layers.ipsec import ESP
    from scapy.layers.l2 import Ether

    return SimpleNamespace(IP=IP, UDP=UDP, IPv6=IPv6, ESP=ESP, Ether=Ether,
                           Fragment6=IPv6ExtHdrFragment)


def _udp(ts: float, ip: Any, src: str, dst: str, udp: Any,
         frag: tuple[int, int] | None = None) -> Packet:
    ports = {"sport": udp.sport, "dport": udp.dport}
    payload = udp.payload
    # scapy takes everything on port 4500 for ESP: an SPI of 0 is the non-ESP marker
    # of IKE, and a single 0xff byte (too short for ESP) is a NAT keepalive
    if isinstance(payload, scapy().ESP) and NATT_PORT in (udp.sport, udp.dport) and payload.spi:
        return Packet(ts, src, dst, UDP_PROTO, spi=payload.spi, seq=payload.seq,
                      raw_ip=bytes(ip), **ports)
    body = bytes(payload)
    if NATT_PORT in (udp.sport, udp.dport):
        body = body[4:] if len(body) > 4 and body[:4] == b"\0\0\0\0" else b""
    elif not IKE_PORTS & {udp.sport, udp.dport}:
        body = b""
    return Packet(ts, src, dst, UDP_PROTO, raw_ip=bytes(ip), ike=body, frag=frag, **ports)


def parse(ts: float, frame: bytes) -> Packet | None:
    """The IP packet in an Ethernet frame, or None for anything else (ARP, ...)."""
    layers = scapy()
    ip = layers.Ether(frame).payload
    if isinstance(ip, layers.IPv6):
        proto = ip.nh
    elif isinstance(ip, layers.IP):
        proto = ip.proto
    else:
        return None
    src, dst, l4 = str(ip.src), str(ip.dst), ip.payload
    frag = None
    if isinstance(l4, layers.Fragment6):  # an IPv6 fragment: its header, then the piece
        frag, proto, l4 = (l4.id, l4.offset), l4.nh, l4.payload
    elif isinstance(ip, layers.IP) and (ip.frag or ip.flags.MF):
        frag = (ip.id, ip.frag)
    if frag is not None and frag[1] > 0:  # a later piece: no transport header in it
        return Packet(ts, src, dst, proto, raw_ip=bytes(ip), frag=frag)
    if isinstance(l4, layers.ESP):
        return Packet(ts, src, dst, ESP, spi=l4.spi, seq=l4.seq, raw_ip=bytes(ip))
    if isinstance(l4, layers.UDP):
        return _udp(ts, ip, src, dst, l4, frag)
    if proto in (ICMPV6, ICMP4):
        body = bytes(l4)  # whatever class scapy chose for the type, the type is byte 0
        return Packet(ts, src, dst, proto, icmp_type=body[0] if body else None, raw_ip=bytes(ip))
    return Packet(ts, src, dst, proto, raw_ip=bytes(ip))


def parse_all(frames: list[tuple[float, bytes]]) -> list[Packet]:
    """Every frame's packet; a later IP fragment takes the kind of its first fragment
    (an IKE message larger than the MTU, sent without IKE fragmentation)."""
    packets = [p for p in (parse(ts, f) for ts, f in frames) if p is not None]
    first = {(p.src, p.dst, p.frag[0]): p.kind for p in packets
             if p.frag is not None and p.frag[1] == 0}
    return [replace(p, continues=first[(p.src, p.dst, p.frag[0])])
            if p.frag is not None and p.frag[1] > 0 and (p.src, p.dst, p.frag[0]) in first
            else p for p in packets]
