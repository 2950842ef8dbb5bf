"""(f) What the path's conditions claim, proved on the wire: the dropped IKE packets were
sent again, ESP crossed in UDP where NAT or forced encapsulation says so (and nowhere
else), a delayed path delayed the echoes, and IKE fragmentation kept IKE messages
whole at the IP layer. (The share a lossy path loses is statistical: tests/test_path.py
proves it on the router itself.)"""

from __future__ import annotations

from lab.scenario.model import Scenario
from lab.wire.packets import Packet
from lab.wire.retransmit import IkeCount
from lab.wire.traffic import PingResult


def check(s: Scenario, packets: list[Packet], counts: dict[str, IkeCount],
          ping: PingResult) -> list[str]:
    problems = []
    pair = {s.left.address, s.right.address}
    between = [p for p in packets if {p.src, p.dst} == pair]
    if s.path.drop_ike:
        side = s.initiator if s.path.drop_from == "initiator" else s.responder
        again = counts[side].retransmissions if side in counts else 0
        if again < s.path.drop_ike:
            problems.append(f"(f) the path dropped the first {s.path.drop_ike} IKE packet(s)"
                            f" of {side}, which sent only {again} again")
    esp = [p for p in between if p.kind == "esp"]
    in_udp = [p for p in esp if p.udp_encapsulated]
    if s.path.nat or s.encapsulation == "force":
        why = "behind the NAT" if s.path.nat else "with encapsulation forced"
        if len(in_udp) != len(esp) or not esp:
            problems.append(f"(f) {why}, {len(esp) - len(in_udp)} of {len(esp)} ESP packets"
                            " were not in UDP")
        elif any(4500 not in (p.sport, p.dport) for p in in_udp):
            problems.append(f"(f) {why}, ESP in UDP not on port 4500")
    elif in_udp:
        problems.append(f"(f) without NAT or forced encapsulation, {len(in_udp)} ESP packets"
                        f" in UDP, first: {in_udp[0].line()}")
    low = (s.path.delay - s.path.jitter) / 1000
    if low > 0 and ping.rtts and max(ping.rtts) < low:
        problems.append(f"(f) a path of {s.path.delay} +- {s.path.jitter} ms delayed no echo"
                        f" that long: longest round trip {1000 * max(ping.rtts):.1f} ms")
    if s.path.mtu and s.fragmentation == "on":
        pieces = [p for p in between if p.kind == "ike" and p.frag is not None]
        if pieces:
            problems.append(f"(f) IKE fragmentation on, but {len(pieces)} IKE packet(s) left"
                            " in IP fragments")
    return problems
