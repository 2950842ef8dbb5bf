"""Traffic that must not pass, on the wire: each ``[[must_not_pass]]`` probe (lab.blocked)
is one ICMP echo request with a payload no other packet carries, sent once the first SA's
traffic and verdict are done, under a capture of its own on the link between the peers
(so the cell's ESP counts stay the pings'). A probe passes when

- it was sent (a kernel that refuses it with EPERM, an IPsec policy's block, counts as
  not passing; any other send error, such as no route, proves nothing and fails it);
- no echo reply came back;
- no packet on the link between the peers carries its payload outside ESP (the request,
  a reply, or an ICMP error quoting it, in clear);
- with ``unreachable = true``, an ICMP destination unreachable quoting it came back;
- an unreachable from the probe's own node (no route, no neighbour) means it never left:
  such a probe proves nothing and fails.
"""

from __future__ import annotations

import errno
import os
import select
import socket
import struct
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from lab.blocked import Resolved, resolve
from lab.topology.netns import socket_in
from lab.wire.capture import Capture
from lab.wire.packets import Packet
from lab.wire.traffic import ECHO, echo_request

if TYPE_CHECKING:
    from lab.scenario.model import Scenario
    from lab.topology.build import Topology

#: seconds each probe waits: a gateway answers an address no host holds after its
#: neighbour discovery gives up (about 3 s)
WAIT = 5.0
#: ICMP destination unreachable per IP version
UNREACHABLE = {6: 1, 4: 3}


@dataclass
class ProbeResult:
    probe: Resolved
    token: bytes
    error: str | None = None  # why it was not sent
    refused: bool = False  # the kernel refused it (EPERM: a block policy)
    replied: bool = False
    unreachable: bool = False  # an ICMP destination unreachable quoting it came back
    #: where that unreachable came from (the node's own address: the probe never left it)
    unreachable_from: str | None = None
    in_clear: list[str] = field(default_factory=list)

    def line(self) -> str:
        what = ("refused by the kernel (EPERM)" if self.refused else
                f"not sent: {self.error}" if self.error else
                "answered" if self.replied else "no reply")
        extra = (f"; destination unreachable came back from {self.unreachable_from}"
                 if self.unreachable else "")
        return (f"{self.probe.describe()}: {what}{extra}; {len(self.in_clear)} packet(s) of it"
                " in clear between the peers")


def _send(netns: str, r: Resolved, token: bytes, ident: int) -> ProbeResult:
    result = ProbeResult(r, token)
    family = 6 if ":" in r.dst else 4
    af, proto = ((socket.AF_INET6, socket.IPPROTO_ICMPV6) if family == 6
                 else (socket.AF_INET, socket.IPPROTO_ICMP))
    with socket_in(netns, af, socket.SOCK_RAW, proto) as sock:
        try:
            if r.src:
                sock.bind((r.src, 0))
            sock.sendto(echo_request(family, ident, 1, token), (r.dst, 0))
        except OSError as exc:
            result.refused = exc.errno == errno.EPERM
            result.error = None if result.refused else (exc.strerror or str(exc))
            return result
        end = time.monotonic() + WAIT
        while (left := end - time.monotonic()) > 0 and not result.replied:
            if not select.select([sock], [], [], left)[0]:
                break
            data, sender = sock.recvfrom(2048)
            if family == 4:
                data = data[(data[0] & 0x0F) * 4:]
            if len(data) < 8:
                continue
            kind, _code, _sum, got, _seq = struct.unpack_from("!BBHHH", data)
            if kind == ECHO[family][1] and got == ident and token in data:
                result.replied = True
            elif kind == UNREACHABLE[family] and token in data:
                result.unreachable, result.unreachable_from = True, str(sender[0])
                break  # the request went no further than that node: no reply can follow
    return result


def in_clear(packets: list[Packet], token: bytes) -> list[str]:
    """The packets outside ESP that carry ``token`` (pure)."""
    return [p.line() for p in packets if p.kind != "esp" and token in p.raw_ip]


def run(scenario: Scenario, topology: Topology) -> list[ProbeResult]:
    """Send every probe under a capture of its own; each result knows what was in clear."""
    probes = resolve(scenario, scenario.must_not_pass)
    if not probes:
        return []
    capture = Capture(topology.capture_points()).start()
    results = []
    try:
        for r in probes:
            token = b"ipsec-lab must-not-pass " + os.urandom(8).hex().encode()
            ident = (os.getpid() + 1 + r.index) & 0xFFFF
            results.append(_send(topology.netns(r.node), r, token, ident))
        time.sleep(0.2)  # what is still on its way reaches the capture
    finally:
        capture.stop()
    for result in results:
        result.in_clear = in_clear(capture.packets, result.token)
    return results


def findings(results: list[ProbeResult]) -> list[str]:
    """One line per broken promise, naming the probe and its side (pure)."""
    found = []
    for res in results:
        who = f"must_not_pass: {res.probe.side}: {res.probe.describe()}"
        if res.error:
            found.append(f"{who}: could not be sent ({res.error}), so it proves nothing")
        elif res.unreachable_from in res.probe.own:
            found.append(f"{who}: its own node answered destination unreachable"
                         f" ({res.unreachable_from}): it never left, so it proves nothing")
        if res.replied:
            found.append(f"{who}: an echo reply came back")
        if res.in_clear:
            found.append(f"{who}: {len(res.in_clear)} packet(s) of it in clear between the"
                         f" peers, first: {res.in_clear[0]}")
        if res.probe.probe.unreachable and not res.unreachable and not res.error:
            found.append(f"{who}: no ICMP destination unreachable came back (unreachable ="
                         " true)")
    return found
