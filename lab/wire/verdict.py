"""The verdict: does the wire prove what the daemons claim?

(a) between the two peers, everything but IKE and neighbour discovery is ESP, and
    nothing of the traffic between the hosts behind them (net-to-net) is in clear text;
(b) the SPIs seen in each direction are exactly those negotiated for it, as both
    kernels hold them; (c) ESP sequence numbers start at 1 and rise by one;
(d) ESP packets = echo requests sent + replies received (on a lossy path: the
    initiator's ESP packets = requests sent, the responder's between the replies received
    and the requests sent: the capture holds what each peer sent); and (e, lab.wire.decrypt)
    decrypted with the kernels' keys, the ESP carries exactly those echoes.
It also reports what lab.negotiated and lab.teardown found (``add``): both kernels'
copies of each SA agree, the SAs and the daemons' accounts match the scenario, and
nothing of the cell is left once the initiator has deleted the connection.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lab.errors import VerdictError
from lab.negotiated import Negotiated, Problem
from lab.scenario.model import Scenario
from lab.topology.table import endpoint
from lab.wire.packets import Packet
from lab.wire.traffic import PingResult
from lab.xfrm import SA


@dataclass
class Direction:
    src: str
    dst: str
    negotiated: dict[str, set[int]]  # which kernel -> SPIs it holds for this direction
    seen: dict[int, list[int]] = field(default_factory=dict)  # SPI -> sequence numbers

    @property
    def label(self) -> str:
        return f"{self.src} -> {self.dst}"

    @property
    def expected(self) -> set[int]:
        sets = list(self.negotiated.values())
        return set.intersection(*sets) if sets else set()


def _hex(spis: set[int] | list[int]) -> str:
    return "{" + ", ".join(f"0x{s:08x}" for s in sorted(spis)) + "}" if spis else "{}"


@dataclass
class Verdict:
    directions: list[Direction]
    problems: list[str]
    esp_packets: int
    echo_packets: int
    #: the negotiated parameters' and the teardown's findings, with their kinds
    findings: list[Problem] = field(default_factory=list)
    negotiated: Negotiated | None = None

    def add(self, problems: list[Problem]) -> None:
        self.findings += problems
        self.problems += [str(p) for p in problems]

    def summary(self) -> list[str]:
        out = []
        for d in self.directions:
            seqs = {f"0x{spi:08x}": f"seq {v[0]}..{v[-1]}" for spi, v in d.seen.items() if v}
            out.append(f"{d.label}: negotiated {_hex(d.expected)}, seen {seqs or 'nothing'}")
        return out

    def check(self) -> None:
        if self.problems:
            listing = ["negotiated:", *self.negotiated.lines] if self.negotiated else []
            raise VerdictError("\n".join([*self.problems, "per direction:", *self.summary(),
                                          *listing]))


def judge(scenario: Scenario, packets: list[Packet], sas: dict[str, list[SA]],
          ping: PingResult) -> Verdict:
    left, right = scenario.left.address, scenario.right.address
    pair = {left, right}
    inner = {endpoint(scenario, "left")[1], endpoint(scenario, "right")[1]}
    problems: list[str] = []
    directions = []
    for src, dst in ((left, right), (right, left)):
        negotiated = {side: {sa.spi for sa in held if sa.proto == "esp"
                             and sa.src == src and sa.dst == dst}
                      for side, held in sas.items()}
        directions.append(Direction(src, dst, negotiated))
    by_dir = {(d.src, d.dst): d for d in directions}

    cleartext: list[str] = []
    esp = echo = 0
    esp_from: dict[str, int] = {left: 0, right: 0}
    for p in packets:
        if {p.src, p.dst} == inner != pair:  # the hosts' own packets on the peers' link
            cleartext.append(p.line())
            echo += p.kind == "echo"
            continue
        if {p.src, p.dst} != pair:
            continue
        kind = p.kind
        if kind == "esp":
            esp += 1
            esp_from[p.src] += 1
            by_dir[(p.src, p.dst)].seen.setdefault(p.spi or 0, []).append(p.seq or 0)
        elif kind in ("ike", "nd"):
            continue
        else:
            cleartext.append(p.line())
            if kind == "echo":
                echo += 1
    if cleartext:
        who = "between the peers" + (" or the hosts behind them" if inner != pair else "")
        problems.append(f"(a) {len(cleartext)} packet(s) {who} in clear text, "
                        f"first: {cleartext[0]}")

    for d in directions:
        held = {side: _hex(spis) for side, spis in d.negotiated.items()}
        if len({frozenset(s) for s in d.negotiated.values()}) > 1 or not d.expected:
            problems.append(f"(b) {d.label}: the kernels disagree or hold no ESP SA: {held}")
        if set(d.seen) != d.expected:
            problems.append(f"(b) {d.label}: SPIs expected {_hex(d.expected)}, "
                            f"seen {_hex(list(d.seen))}")
        for spi, seqs in d.seen.items():
            if seqs != list(range(1, len(seqs) + 1)):
                problems.append(f"(c) {d.label} spi 0x{spi:08x}: sequence numbers "
                                f"{seqs[:8]}{'...' if len(seqs) > 8 else ''}, expected 1, 2, 3, ...")

    if scenario.path.lossy:
        problems += _lossy_counts(scenario, esp_from, ping)
        return Verdict(directions, problems, esp, echo)
    wanted = len(ping.sent) + len(ping.replies)
    if esp != wanted:
        problems.append(f"(d) {esp} ESP packets on the wire, expected {wanted} "
                        f"({len(ping.sent)} echo requests + {len(ping.replies)} replies)")
    if ping.lost:
        problems.append(f"{ping.tool}: no reply to sequence number(s) {ping.lost}")
    return Verdict(directions, problems, esp, echo)


def _lossy_counts(scenario: Scenario, esp_from: dict[str, int], ping: PingResult) -> list[str]:
    """(d) on a lossy path: every request the initiator sent is on its side of the wire;
    the responder answered at least the replies that came back, at most every request;
    and the ping got the replies it needed."""
    problems = []
    sent_by = esp_from[scenario.peer(scenario.initiator).address]
    answered_by = esp_from[scenario.peer(scenario.responder).address]
    if sent_by != len(ping.sent):
        problems.append(f"(d) the initiator sent {sent_by} ESP packets, expected"
                        f" {len(ping.sent)} (the echo requests sent)")
    if not len(ping.replies) <= answered_by <= len(ping.sent):
        problems.append(f"(d) the responder sent {answered_by} ESP packets, expected"
                        f" {len(ping.replies)}..{len(ping.sent)} (replies received ..."
                        " requests sent)")
    if len(ping.replies) < scenario.pings:
        problems.append(f"{ping.tool}: {len(ping.replies)} replies to {len(ping.sent)}"
                        f" requests on a lossy path, needed {scenario.pings}")
    return problems
