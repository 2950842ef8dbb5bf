"""The wire over time, following SPI changes (pure: packets, SA histories, the stream).

Over the judged windows of a lifecycle cell:
(a) no echo between the peers crosses in clear text;
(b) every SPI on the wire is one that both kernels held at that moment;
(c) each SPI's sequence numbers start at 1 and rise by one;
(d) no echo request is lost; each loss is reported with its time, the SPIs last seen on
    the wire in each direction before it, and the SPIs the kernels held then;
(e) once a newer SPI carries a direction's traffic, the older one falls silent.
(f), in lab.lifecycle.events: each SPI's first and last packets decrypt, with the keys the
kernels were given, to echoes of the stream (lab.wire.decrypt.decrypt_sample).
Times are seconds of guest-monotonic time since the cell's origin.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from lab.lifecycle.spis import spi_text
from lab.wire.packets import Packet
from lab.wire.stream import Loss, StreamResult
from lab.xfrm_monitor import SaLife

#: how far a packet's time may be from its SA's install or delete (clocks read in
#: different threads), and how long an old SPI may still carry packets after a newer one
#: appeared (the receiver installs its new inbound SA before the sender switches)
SLACK, SILENT_GRACE = 0.2, 1.0


@dataclass
class SpiRun:
    """One SPI in one direction on the wire."""

    spi: int
    first: float
    last: float
    seqs: list[int] = field(default_factory=list)

    def line(self) -> str:
        return (f"spi 0x{self.spi:08x}: {len(self.seqs)} packets, seq {self.seqs[0]}..{self.seqs[-1]},"
                f" {self.first:.3f}..{self.last:.3f} s")


@dataclass
class Wire:
    """Per direction (src, dst): the SPIs in order of first appearance."""

    runs: dict[tuple[str, str], list[SpiRun]]

    def spis(self, src: str, dst: str) -> list[int]:
        return [r.spi for r in self.runs.get((src, dst), [])]

    def last_before(self, src: str, dst: str, t: float) -> tuple[int, float] | None:
        best = None
        for run in self.runs.get((src, dst), []):
            if run.first <= t and (best is None or run.first > best[1]):
                best = (run.spi, run.first)
        return best

    def lines(self) -> list[str]:
        return [f"{src} -> {dst}: " + ("; ".join(r.line() for r in runs) or "nothing")
                for (src, dst), runs in self.runs.items()]


def esp_runs(packets: list[Packet], pair: tuple[str, str], origin: float,
             wall_offset: float = 0.0) -> Wire:
    """The ESP between the two peers, per direction and SPI; a packet's time is its capture
    time (the guest's wall clock) minus ``wall_offset`` (wall minus monotonic) and ``origin``."""
    a, b = pair
    runs: dict[tuple[str, str], list[SpiRun]] = {(a, b): [], (b, a): []}
    index: dict[tuple[str, str, int], SpiRun] = {}
    for p in packets:
        if p.kind != "esp" or (p.src, p.dst) not in runs:
            continue
        t, key = p.ts - wall_offset - origin, (p.src, p.dst, p.spi or 0)
        run = index.get(key)
        if run is None:
            run = index[key] = SpiRun(p.spi or 0, t, t)
            runs[(p.src, p.dst)].append(run)
        run.last = t
        run.seqs.append(p.seq or 0)
    return Wire(runs)


def _held(lives: dict[int, SaLife], t: float) -> list[int]:
    return sorted(spi for spi, life in lives.items()
                  if life.added <= t + SLACK and (life.deleted is None or life.deleted >= t - SLACK))


def _within(t: float, windows: list[tuple[float, float]]) -> bool:
    return any(start <= t < end for start, end in windows)


def describe_loss(loss: Loss, wire: Wire, pair: tuple[str, str],
                  lives: dict[str, dict[int, SaLife]], origin: float) -> str:
    t = loss.sent - origin
    a, b = pair
    parts = []
    for src, dst in ((a, b), (b, a)):
        last = wire.last_before(src, dst, t)
        parts.append(f"{src} -> {dst} spi 0x{last[0]:08x}" if last else f"{src} -> {dst} no ESP yet")
    held = ", ".join(f"{side} {spi_text(_held(sas, loss.sent))}" for side, sas in lives.items())
    return (f"echo seq {loss.seq} sent at {t:.3f} s got no reply; ESP then: {'; '.join(parts)};"
            f" kernels held: {held}")


def judge_wire(packets: list[Packet], pair: tuple[str, str], lives: dict[str, dict[int, SaLife]],
               stream: StreamResult, windows: list[tuple[float, float]], origin: float,
               wall_offset: float = 0.0, inner: set[str] | None = None
               ) -> tuple[Wire, list[str]]:
    """(the ESP per direction, the problems (a) to (e)) over ``windows`` (seconds since
    ``origin``, guest-monotonic; packets carry wall-clock times: see esp_runs)."""
    problems: list[str] = []
    wire = esp_runs(packets, pair, origin, wall_offset)
    ends = inner or set(pair)
    clear = [p for p in packets if p.kind == "echo" and {p.src, p.dst} <= (ends | set(pair))
             and _within(p.ts - wall_offset - origin, windows)]
    if clear:
        problems.append(f"(a) {len(clear)} echo packet(s) in clear text, first at"
                        f" {clear[0].ts - wall_offset - origin:.3f} s: {clear[0].line()}")
    for (src, dst), runs in wire.runs.items():
        for run in runs:
            for side, sas in lives.items():
                if not any(_within(t, windows) for t in (run.first, run.last)):
                    continue
                life = sas.get(run.spi)
                if life is None:
                    problems.append(f"(b) {src} -> {dst} spi 0x{run.spi:08x} on the wire at"
                                    f" {run.first:.3f} s: {side}'s kernel never held it")
                elif life.added - origin > run.first + SLACK or (
                        life.deleted is not None and life.deleted - origin < run.last - SLACK):
                    gone = f"{life.deleted - origin:.3f}" if life.deleted is not None else "-"
                    problems.append(f"(b) {src} -> {dst} spi 0x{run.spi:08x} on the wire"
                                    f" {run.first:.3f}..{run.last:.3f} s but {side}'s kernel held"
                                    f" it {life.added - origin:.3f}..{gone} s")
            if run.seqs != list(range(1, len(run.seqs) + 1)):
                gap = next(i for i, s in enumerate(run.seqs, 1) if s != i)
                problems.append(f"(c) {src} -> {dst} spi 0x{run.spi:08x}: sequence number"
                                f" {run.seqs[gap - 1]} where {gap} was due"
                                f" (seq {run.seqs[:3]}...), expected 1, 2, 3, ...")
        for older, newer in itertools.pairwise(runs):
            if older.last > newer.first + SILENT_GRACE:
                problems.append(f"(e) {src} -> {dst} spi 0x{older.spi:08x} still carried"
                                f" packets until {older.last:.3f} s, after the newer spi"
                                f" 0x{newer.spi:08x} took over at {newer.first:.3f} s")
    lost = [loss for loss in stream.losses() if _within(loss.sent - origin, windows)]
    if lost:
        shown = [describe_loss(loss, wire, pair, lives, origin) for loss in lost[:5]]
        more = f" (and {len(lost) - 5} more)" if len(lost) > 5 else ""
        problems.append(f"(d) {len(lost)} echo request(s) lost{more}: " + " | ".join(shown))
    return wire, problems
