"""Lifecycle events, driven under continuous traffic, each with what it must prove.

`run_lifecycle(cell)` takes a cell whose scenario names a lifecycle event and whose first
SAs are up (lab.cell.sequence negotiates them, asking `initiators` who starts); it starts
the echo stream, makes the event happen, waits for its effect with deadlines on the
guest's monotonic clock, judges the wire over the windows where traffic must flow
(lab.lifecycle.judge) and checks each kernel's SAs afterwards. The findings are problems
(the cell fails) and figures (how long a rekey, a recovery or DPD took), both in the
returned `LifecycleVerdict`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from lab import xfrm
from lab.errors import LabError, VerdictError
from lab.lifecycle.acts import COMMAND_DEADLINE, SETTLE, Acts
from lab.lifecycle.judge import judge_wire
from lab.lifecycle.prove import prove, wait_until
from lab.lifecycle.record import Record
from lab.scenario.allowed import SIDES
from lab.topology.table import endpoint
from lab.wire.decrypt import decrypt_sample
from lab.wire.stream import INTERVAL, TIMEOUT, EchoStream

if TYPE_CHECKING:
    from lab.cell import Cell
    from lab.scenario import Scenario

#: echo requests per lifetime of a rekey by lifetime
ECHOES_PER_LIFETIME = 3000


@dataclass
class LifecycleVerdict:
    event: str
    problems: list[str] = field(default_factory=list)
    figures: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    wire: list[str] = field(default_factory=list)
    #: the teardown check's findings, after the event (lab.cell.sequence)
    teardown: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        figures = [f"{k}: {v:.3f} s" for k, v in self.figures.items()]
        return [f"lifecycle {self.event}", *figures, *self.notes, *self.wire]

    def check(self) -> None:
        if self.problems:
            raise VerdictError("\n".join([*self.problems, *self.lines()]))


def peer_esp(sas: list[xfrm.SA], pair: tuple[str, str]) -> list[xfrm.SA]:
    """The ESP SAs between the peers of ``pair``. Not an SPI 0 state: that is the kernel's
    own placeholder while it asks for an SA (an acquire, made when a packet meets a policy
    without one); no SA has SPI 0 (RFC 4303 2.1)."""
    return [sa for sa in sas if sa.proto == "esp" and {sa.src, sa.dst} == set(pair) and sa.spi != 0]


class LifecycleRun(Acts):
    def __init__(self, cell: Cell) -> None:
        assert cell.record is not None, "Cell.up() records lifecycle cells"
        self.cell = cell
        self.s = cell.scenario
        self.record: Record = cell.record
        self.v = LifecycleVerdict(self.s.lifecycle)
        #: [start, end) pairs of guest-monotonic time in which no echo may be lost
        self.windows: list[list[float]] = []
        self.pair = (self.s.left.address, self.s.right.address)
        #: SPIs a daemon named as its known leftover (noted once each)
        self.kept: set[int] = set()
        #: SPIs of a pair the traffic moved to, which the wire must show carrying echoes
        self.carried: set[int] = set()

    # -- helpers ----------------------------------------------------------------
    def esp(self, side: str) -> list[xfrm.SA]:
        """The ESP SAs between the peers that ``side``'s kernel holds now, less those its
        daemon names as a known leftover (racoon's inbound SA after the peer deleted that
        phase 2), which are notes."""
        daemon = self.cell.daemons[side]
        held = []
        for sa in peer_esp(xfrm.dump(self.cell.topology.netns(side)), self.pair):
            why = daemon.known_leftover(sa)
            if why is None:
                held.append(sa)
            elif sa.spi not in self.kept:
                self.kept.add(sa.spi)
                self.v.notes.append(f"{side}'s kernel keeps 0x{sa.spi:08x} (known: {why})")
        return held

    def spis(self) -> dict[str, set[int]]:
        return {side: {sa.spi for sa in self.esp(side)} for side in SIDES}

    def start_stream(self) -> None:
        netns, source = self.cell.topology.traffic_end(self.s.initiator)
        target = self.cell.topology.traffic_end(self.s.responder)[1]
        interval = INTERVAL
        if self.s.rekey_by == "lifetime" and self.s.lifecycle.startswith("rekey"):
            lives = [min(self.s.child_lifetime_of(side), self.s.ike_lifetime_of(side))
                     for side in SIDES]
            interval = max(INTERVAL, min(lives) / ECHOES_PER_LIFETIME)
        self.record.stream = EchoStream(netns, target, src=source, interval=interval).start()
        self.record.act(self.s.initiator, f"echo stream starts, one request every"
                        f" {self.record.stream.interval * 1000:.0f} ms")
        self.windows.append([self.record.stream.result.started, float("inf")])

    def stop_stream(self) -> None:
        stream = self.record.stream
        if stream is not None and self.record.result is None:
            self.record.result = stream.stop()
            self.record.act(self.s.initiator, "echo stream stops")
            if self.windows and self.windows[-1][1] == float("inf"):
                self.windows[-1][1] = self.record.result.stopped - TIMEOUT

    def pause_window(self, at: float) -> None:
        """Losses from ``at`` on are expected (until resume_window), and of the requests
        still on their way then (their replies meet the event)."""
        stream = self.record.stream
        self.windows[-1][1] = stream.result.in_flight(at) if stream is not None else at

    def resume_window(self, at: float) -> None:
        self.windows.append([at, float("inf")])

    def wait_stable(self, quiet: float = 1.0) -> None:
        """Until the kernels' SAs have not changed for ``quiet`` seconds (COMMAND_DEADLINE
        at most): both sides' negotiations are over."""
        last, since = self.spis(), time.monotonic()

        def quiet_now() -> bool:
            nonlocal last, since
            now = self.spis()
            if now != last:
                last, since = now, time.monotonic()
            return time.monotonic() - since >= quiet

        if wait_until(quiet_now, COMMAND_DEADLINE, interval=0.1) is None:
            self.v.notes.append(f"the SAs kept changing for {COMMAND_DEADLINE:g} s")
        else:
            self.record.act("", f"no SA changed for {quiet:g} s")

    def settle(self, seconds: float = SETTLE) -> None:
        time.sleep(seconds)

    def prove(self, when: str, rekeyed: bool = False, before: dict[str, set[int]] | None = None,
              chain: bool = False, sane: int | None = None) -> None:
        """What the new SAs negotiated (lab.lifecycle.prove), as a plain cell proves its
        first: the SAs both kernels hold that were not there ``before`` the event (all they
        both hold when none is new: an IKE rekey). SAs in one kernel only are the pair
        checks' findings; where the pair check found the SAs wrong (findings beyond the
        ``sane`` first ones), or no SA is in both kernels, that finding stands alone and
        nothing is proved. ``chain``: rekeys follow each other; a reading during which the
        SAs changed, or that found anything, is taken again 0.3 s later (up to 5 times): a
        rekey, or two colliding, may be changing the SAs at that moment."""
        now = self.spis()
        if (sane is not None and len(self.v.problems) > sane) or not now["left"] & now["right"]:
            self.v.notes.append(f"{when}: negotiated parameters not proved (the SAs are not"
                                " one settled set: see the findings)")
            return
        for _ in range(5):
            now = self.spis()
            both = now["left"] & now["right"]
            fresh = both - set().union(*(before or {}).values())
            problems, lines = prove(self.cell, when, rekeyed, fresh or both)
            if not chain or (self.spis() == now and not problems):
                break
            self.record.act("", f"{when}: the SAs changed while they were read, or a finding:"
                                " again")
            time.sleep(0.3)
        self.v.problems += problems
        self.v.notes += lines

    def judge(self) -> None:
        assert self.record.result is not None and self.cell.capture is not None
        self.cell.capture.stop()
        packets = self.cell.capture.packets
        windows = [(a - self.record.origin, b - self.record.origin) for a, b in self.windows
                   if b > a]
        lives = {side: self.record.monitor.lives(side) for side in SIDES}
        inner = {endpoint(self.s, "left")[1], endpoint(self.s, "right")[1]}
        wire, problems = judge_wire(packets, self.pair, lives, self.record.result, windows,
                                    self.record.origin, self.record.wall_offset, inner)
        self.record.wire = wire
        self.v.wire = wire.lines()
        self.v.problems += problems + self.record.monitor.problems
        on_wire = {spi for runs in wire.runs.values() for run in runs for spi in [run.spi]}
        for spi in sorted(self.carried - on_wire):
            self.v.problems.append(f"(g) spi 0x{spi:08x}, of the pair the traffic moved to after"
                                   " the rekey, carried no packet on the wire")
        r = self.record.result
        self.v.notes.append(str(r))
        # (f) the ESP is the stream's echoes, SA by SA, with the keys the kernels were given
        keyed = {e.sa.spi: e.sa for e in self.record.monitor.snapshot()
                 if e.sa is not None and e.sa.proto == "esp" and (e.sa.enc or e.sa.aead)}
        opened = decrypt_sample(packets, list(keyed.values()), r.family, r.ident,
                                (r.src or "", r.dst), set(r.sent))
        self.v.problems += [f"(f) {p}" for p in opened.problems]
        self.v.notes.append(f"{opened.summary()} (each SPI's first and last 3)")

    # -- the events ---------------------------------------------------------------
    def run(self) -> LifecycleVerdict:
        event = self.s.lifecycle
        self.record.act("", "SAs established in both kernels")
        if initiators(self.s):  # "afterwards traffic must flow": once both negotiations have settled
            self.wait_stable()
        self.prove("the first SAs")
        self.start_stream()
        self.settle()
        handler = getattr(self, "do_" + event.replace("-", "_"))
        try:
            handler()
        except LabError as exc:  # a daemon's tool failed: a finding, the wire is judged still
            self.record.act("", f"{type(exc).__name__}: {exc}")
            self.v.problems.append(f"{event}: {exc}")
        finally:
            self.stop_stream()
        self.judge()
        self.v.problems += self.cell.log_findings()  # the scenario's log assertions
        self.record.summary = [*self.v.problems, *self.v.lines()]
        return self.v


def initiators(s: Scenario) -> tuple[str, ...] | None:
    """Who initiates the first SAs of a lifecycle event: both sides at the same instant
    for ``simultaneous``, else the scenario's initiator (None)."""
    return ("left", "right") if s.lifecycle == "simultaneous" else None


def run_lifecycle(cell: Cell) -> LifecycleVerdict:
    """With the first SAs up: stream, make the scenario's lifecycle event happen, judge
    (see module)."""
    return LifecycleRun(cell).run()
