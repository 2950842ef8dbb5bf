"""The wire dissected by scapy: what each kind of frame becomes for the verdict."""

from __future__ import annotations

import pytest
from scapy.layers.inet import ICMP, IP, UDP
from scapy.layers.inet6 import ICMPv6EchoRequest, ICMPv6ND_NS, IPv6
from scapy.layers.ipsec import ESP
from scapy.layers.l2 import ARP, Ether
from scapy.packet import Raw

from lab.wire.packets import parse

ETH = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
L6, R6, L4, R4 = "2001:db8:1:1::1", "2001:db8:2:2::2", "192.0.2.1", "198.51.100.2"


def one(pkt) -> tuple:  # type: ignore[no-untyped-def]
    p = parse(1.5, bytes(ETH / pkt))
    assert p is not None
    return (p.kind, p.src, p.dst, p.spi, p.seq, p.icmp_type, p.family)


@pytest.mark.parametrize("pkt, want", [
    (IPv6(src=L6, dst=R6) / ESP(spi=0xC0FFEE01, seq=7) / Raw(bytes(32)),
     ("esp", L6, R6, 0xC0FFEE01, 7, None, 6)),
    (IP(src=L4, dst=R4) / ESP(spi=0x1234, seq=1) / Raw(bytes(32)),
     ("esp", L4, R4, 0x1234, 1, None, 4)),
    # RFC 3948: ESP in UDP 4500 is ESP; the non-ESP marker (four zero bytes) is IKE
    (IP(src=L4, dst=R4) / UDP(sport=4500, dport=4500) / Raw(b"\xca\xfe\x00\x01" + b"\0\0\0\x05"
                                                                + bytes(24)),
     ("esp", L4, R4, 0xCAFE0001, 5, None, 4)),
    (IP(src=L4, dst=R4) / UDP(sport=4500, dport=4500) / Raw(bytes(4) + bytes(28)),
     ("ike", L4, R4, None, None, None, 4)),
    (IP(src=L4, dst=R4) / UDP(sport=4500, dport=4500) / Raw(b"\xff"),  # NAT keepalive
     ("ike", L4, R4, None, None, None, 4)),
    (IPv6(src=L6, dst=R6) / UDP(sport=500, dport=500) / Raw(bytes(28)),
     ("ike", L6, R6, None, None, None, 6)),
    (IPv6(src=L6, dst=R6) / ICMPv6ND_NS(tgt=R6), ("nd", L6, R6, None, None, 135, 6)),
    (IPv6(src=L6, dst=R6) / ICMPv6EchoRequest(id=1, seq=1), ("echo", L6, R6, None, None, 128, 6)),
    (IP(src=L4, dst=R4) / ICMP(type=0), ("echo", L4, R4, None, None, 0, 4)),
    (IP(src=L4, dst=R4) / ICMP(type=3), ("other", L4, R4, None, None, 3, 4)),
], ids=["esp6", "esp4", "udp-encap", "ike-4500", "keepalive", "ike-500", "ns", "echo6", "echo4",
        "unreach4"])
def test_kinds(pkt, want) -> None:  # type: ignore[no-untyped-def]
    assert one(pkt) == want


def test_not_ip_is_none() -> None:
    assert parse(0.0, bytes(ETH / ARP(psrc=L4, pdst=R4))) is None


def test_tcpdump_style_lines() -> None:
    esp6 = parse(0.0, bytes(ETH / IPv6(src=L6, dst=R6) / ESP(spi=0x1fca95d2, seq=1) / Raw(bytes(16))))
    encap = parse(0.0, bytes(ETH / IP(src=L4, dst=R4) / UDP(sport=4500, dport=4500)
                             / Raw(b"\0\0\0\x2a\0\0\0\x03" + bytes(16))))
    assert esp6 is not None and encap is not None
    assert esp6.line() == f"{L6} > {R6}: ESP(spi=0x1fca95d2,seq=0x1)"
    assert encap.line() == f"{L4}.4500 > {R4}.4500: UDP-encap: ESP(spi=0x0000002a,seq=0x3)"
