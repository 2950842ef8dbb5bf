"""The size of the ESP packets the pings make: strongSwan's algorithm tests send a ping of
a given size and expect ESP of a given length on the wire (tcpdump's ``ESP ... length N``:
the ESP header, IV, encrypted payload with its padding, and ICV, without the outer IP
header or a UDP encapsulation). The scenario's ``ping_size`` sets the echo's data bytes,
``esp_length`` the length every ESP packet between the peers must have."""

from __future__ import annotations

from lab.wire.packets import Packet

FILLER = b"ipsec-lab ping "


def payload(size: int | None) -> bytes:
    """The echo requests' data: the lab's own words, repeated to ``size`` bytes."""
    if size is None:
        return FILLER
    return (FILLER * (size // len(FILLER) + 1))[:size]


def esp_length(p: Packet) -> int:
    """The ESP part of a captured packet: after the IP header (IPv4's IHL, IPv6's fixed 40
    bytes) and, for ESP in UDP, the UDP header."""
    raw = p.raw_ip
    header = (raw[0] & 0x0F) * 4 if p.family == 4 else 40
    return len(raw) - header - (8 if p.udp_encapsulated else 0)


def findings(packets: list[Packet], pair: set[str], want: int | None) -> list[str]:
    """Each ESP packet between the peers must be ``want`` bytes long (pure)."""
    if want is None:
        return []
    esp = [p for p in packets if p.kind == "esp" and {p.src, p.dst} == pair]
    wrong = [p for p in esp if esp_length(p) != want]
    if not esp:
        return [f"esp_length: no ESP packet between the peers to measure (expected {want} bytes)"]
    if wrong:
        return [f"esp_length: {len(wrong)} of {len(esp)} ESP packets are not {want} bytes long"
                f" (ESP header to ICV), first: {esp_length(wrong[0])} bytes, {wrong[0].line()}"]
    return []
