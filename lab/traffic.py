"""ping6, in-process: ICMPv6 echo requests from one namespace, replies counted."""

from __future__ import annotations

import os
import select
import socket
import struct
import time
from dataclasses import dataclass, field

from lab.netns import socket_in

ECHO_REQUEST, ECHO_REPLY = 128, 129


@dataclass
class PingResult:
    ident: int
    sent: list[int] = field(default_factory=list)  # sequence numbers sent
    replies: list[int] = field(default_factory=list)  # sequence numbers answered
    rtts: list[float] = field(default_factory=list)

    @property
    def lost(self) -> list[int]:
        return [s for s in self.sent if s not in self.replies]

    def __str__(self) -> str:
        rtt = f", rtt avg {1000 * sum(self.rtts) / len(self.rtts):.2f} ms" if self.rtts else ""
        return (f"ping6 id=0x{self.ident:04x}: {len(self.sent)} sent, "
                f"{len(self.replies)} answered{rtt}")


def ping6(netns: str, dst: str, count: int, timeout: float = 1.0,
          payload: bytes = b"ipsec-lab ping6 ") -> PingResult:
    """Send ``count`` echo requests, one after the other's reply (or timeout)."""
    result = PingResult(ident=os.getpid() & 0xFFFF)
    with socket_in(netns, socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6) as sock:
        for seq in range(1, count + 1):
            # The kernel fills in the ICMPv6 checksum of raw ICMPv6 sockets.
            sock.sendto(struct.pack("!BBHHH", ECHO_REQUEST, 0, 0, result.ident, seq) + payload,
                        (dst, 0))
            result.sent.append(seq)
            started = time.monotonic()
            end = started + timeout
            while (left := end - time.monotonic()) > 0:
                if not select.select([sock], [], [], left)[0]:
                    break
                data, _ = sock.recvfrom(2048)
                kind, _code, _sum, ident, rseq = struct.unpack_from("!BBHHH", data)
                if kind == ECHO_REPLY and ident == result.ident and rseq == seq:
                    result.replies.append(seq)
                    result.rtts.append(time.monotonic() - started)
                    break
    return result
