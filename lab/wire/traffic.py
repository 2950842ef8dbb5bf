"""ping, in-process: ICMP or ICMPv6 echo requests from one namespace, replies counted."""

from __future__ import annotations

import ipaddress
import os
import select
import socket
import struct
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from lab.topology.netns import socket_in
from lab.xfrm import XfrmSocket

ECHO_REQUEST, ECHO_REPLY = 128, 129  # ICMPv6
ECHO_REQUEST4, ECHO_REPLY4 = 8, 0  # ICMP
#: IP version -> (echo request type, echo reply type)
ECHO = {6: (ECHO_REQUEST, ECHO_REPLY), 4: (ECHO_REQUEST4, ECHO_REPLY4)}


@dataclass
class PingResult:
    ident: int
    sent: list[int] = field(default_factory=list)  # sequence numbers sent
    replies: list[int] = field(default_factory=list)  # sequence numbers answered
    rtts: list[float] = field(default_factory=list)
    family: int = 6
    src: str | None = None  # the address the requests left from (None: the kernel's choice)
    dst: str | None = None
    #: sequence numbers not waited for to the end: an SA dropped a packet meanwhile
    dropped: list[int] = field(default_factory=list)

    @property
    def tool(self) -> str:
        return "ping6" if self.family == 6 else "ping"

    @property
    def lost(self) -> list[int]:
        return [s for s in self.sent if s not in self.replies]

    def __str__(self) -> str:
        rtt = f", rtt avg {1000 * sum(self.rtts) / len(self.rtts):.2f} ms" if self.rtts else ""
        ends = f" {self.src} > {self.dst}" if self.src and self.dst else ""
        cut = (f", {len(self.dropped)} dropped by an SA (its drop count rose)"
               if self.dropped else "")
        return (f"{self.tool}{ends} id=0x{self.ident:04x}: {len(self.sent)} sent, "
                f"{len(self.replies)} answered{rtt}{cut}")


class EspDrops:
    """The ESP packets the SAs of some namespaces dropped (``XfrmSocket.drops``: bad ICV,
    replayed), summed, read afresh at each call through one XFRM socket per namespace."""

    def __init__(self, namespaces: Iterable[str]) -> None:
        self.sockets = [XfrmSocket(netns) for netns in namespaces]

    def total(self) -> int:
        return sum(xs.drops() for xs in self.sockets)

    def close(self) -> None:
        for xs in self.sockets:
            xs.close()
        self.sockets = []

    def __enter__(self) -> EspDrops:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071)."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def echo_request(family: int, ident: int, seq: int, payload: bytes) -> bytes:
    """An echo request; the kernel fills in the checksum of raw ICMPv6 sockets, not ICMP's."""
    kind = ECHO[family][0]
    header = struct.pack("!BBHHH", kind, 0, 0, ident, seq)
    if family == 6:
        return header + payload
    return struct.pack("!BBHHH", kind, 0, checksum(header + payload), ident, seq) + payload


#: with ``need``: at most this many requests per reply wanted
NEED_FACTOR = 10
#: seconds between two looks at the SAs' drop counts while a reply is late
DROP_POLL = 0.02


def ping(netns: str, dst: str, count: int, timeout: float = 1.0,
         payload: bytes = b"ipsec-lab ping ", src: str | None = None,
         need: int | None = None, drops_in: Sequence[str] = ()) -> PingResult:
    """Send ``count`` echo requests, one after the other's reply (or timeout); ICMP or
    ICMPv6 after ``dst``'s family, from ``src`` if given. With ``need`` (a lossy path):
    go on until that many replies came, or NEED_FACTOR times as many requests went.
    With ``drops_in`` (the peers' namespaces, on a path that neither loses nor duplicates,
    so the echo is the only ESP in flight): stop waiting for a reply once an SA there
    dropped a packet (EspDrops, read before each echo and again every DROP_POLL while
    its reply is late), since a kernel dropped the echo or its reply."""
    family = ipaddress.ip_address(dst).version
    result = PingResult(ident=os.getpid() & 0xFFFF, family=family, src=src, dst=dst)
    af, proto = ((socket.AF_INET6, socket.IPPROTO_ICMPV6) if family == 6
                 else (socket.AF_INET, socket.IPPROTO_ICMP))
    reply_type = ECHO[family][1]
    with socket_in(netns, af, socket.SOCK_RAW, proto) as sock, EspDrops(drops_in) as watch:
        drops = watch if drops_in else None
        if src:
            sock.bind((src, 0))
        limit = count if need is None else need * NEED_FACTOR
        for seq in range(1, limit + 1):
            if need is not None and len(result.replies) >= need:
                break
            before = drops.total() if drops else 0  # the drops counted before this echo
            sock.sendto(echo_request(family, result.ident, seq, payload), (dst, 0))
            result.sent.append(seq)
            started = time.monotonic()
            end = started + timeout
            while (left := end - time.monotonic()) > 0:
                if not select.select([sock], [], [], min(left, DROP_POLL) if drops else left)[0]:
                    if drops and drops.total() > before:
                        result.dropped.append(seq)
                        break
                    continue
                data, _ = sock.recvfrom(2048)
                if family == 4:  # raw IPv4 sockets receive the IP header too
                    data = data[(data[0] & 0x0F) * 4:]
                if len(data) < 8:
                    continue
                kind, _code, _sum, ident, rseq = struct.unpack_from("!BBHHH", data)
                if kind == reply_type and ident == result.ident and rseq == seq:
                    result.replies.append(seq)
                    result.rtts.append(time.monotonic() - started)
                    break
    return result
