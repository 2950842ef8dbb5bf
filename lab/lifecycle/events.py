"""Lifecycle events, driven under continuous traffic, each with what it must prove.

`run_lifecycle(cell)` takes a cell whose daemons are up (Cell.up()) and whose scenario
names a lifecycle event; it negotiates, starts the echo stream, makes the event happen,
waits for its effect with deadlines on the guest's monotonic clock, judges the wire over
the windows where traffic must flow (lab.lifecycle.judge) and checks each kernel's SAs
afterwards. The findings are problems (the cell fails) and figures (how long a rekey, a
recovery or DPD took), both in the returned `LifecycleVerdict`.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from lab import xfrm
from lab.errors import DaemonError, LabError, VerdictError
from lab.lifecycle.judge import judge_wire
from lab.lifecycle.prove import (
    allowed_pairs,
    chained,
    one_pair_each,
    prove,
    rekeyed_pair,
    wait_until,
)
from lab.lifecycle.record import Record
from lab.scenario import SIDES
from lab.topology.build import IFACE
from lab.topology.rtnl import Rtnl
from lab.topology.table import endpoint
from lab.wire.decrypt import decrypt_sample
from lab.wire.stream import INTERVAL, TIMEOUT, EchoStream

if TYPE_CHECKING:
    from lab.cell import Cell

#: seconds of traffic before the event and after its effect
SETTLE = 1.5
#: seconds a commanded rekey, a re-initiation or a restart may take to show in the kernels
COMMAND_DEADLINE = 15.0
#: how long past the configured DPD time (delay + timeout) the survivor may take to clear
DPD_SLACK = 5.0
#: echo requests per lifetime of a rekey by lifetime
ECHOES_PER_LIFETIME = 3000


@dataclass
class LifecycleVerdict:
    event: str
    problems: list[str] = field(default_factory=list)
    figures: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    wire: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        figures = [f"{k}: {v:.3f} s" for k, v in self.figures.items()]
        return [f"lifecycle {self.event}", *figures, *self.notes, *self.wire]

    def check(self) -> None:
        if self.problems:
            raise VerdictError("\n".join([*self.problems, *self.lines()]))


def _other(side: str) -> str:
    return "right" if side == "left" else "left"


def peer_esp(sas: list[xfrm.SA], pair: tuple[str, str]) -> list[xfrm.SA]:
    """The ESP SAs between the peers of ``pair``. Not an SPI 0 state: that is the kernel's
    own placeholder while it asks for an SA (an acquire, made when a packet meets a policy
    without one); no SA has SPI 0 (RFC 4303 2.1)."""
    return [sa for sa in sas if sa.proto == "esp" and {sa.src, sa.dst} == set(pair) and sa.spi != 0]


class LifecycleRun:
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
        """Losses from ``at`` on are expected (until resume_window)."""
        self.windows[-1][1] = at

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
        both = ("left", "right") if event == "simultaneous" else None
        self.cell.negotiate(both)
        self.record.act("", "SAs established in both kernels")
        if both:  # "afterwards traffic must flow": once both negotiations have settled
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

    def _start_rekey(self, what: str, name: str, lifetime_of: Callable[[str], int]) -> float:
        """By command, the actor's daemon rekeys ``what`` now; by lifetime, the daemons
        will. Returns how long to wait for the new SAs."""
        actor = self.s.actor_side
        if self.s.rekey_by == "command":
            self.record.act(actor, f"rekey {name} (command)")
            self.cell.daemons[actor].rekey(what)
            return COMMAND_DEADLINE
        life = min(lifetime_of(side) for side in SIDES)
        self.record.act(actor, f"wait for {name}'s rekey by lifetime ({life} s)")
        return life + COMMAND_DEADLINE

    def do_rekey_child(self) -> None:
        before = self.spis()
        started = time.monotonic()
        deadline = self._start_rekey("child", "the Child SA", self.s.child_lifetime_of)

        def replaced() -> bool:
            now = self.spis()
            return all(len(now[side] - before[side]) >= 2 for side in SIDES)

        done = wait_until(replaced, deadline)
        if done is None:
            self.v.problems.append(f"rekey-child: no new Child SA in both kernels within"
                                   f" {deadline:g} s (before: {self._hex(before)}, now:"
                                   f" {self._hex(self.spis())})")
            return
        self.record.act("", "new Child SAs in both kernels")
        self.v.figures["new SAs after"] = done - started
        gone = wait_until(lambda: all(not (self.spis()[side] & before[side]) for side in SIDES),
                     COMMAND_DEADLINE)
        if gone is None:
            left = {side: sorted(self.spis()[side] & before[side]) for side in SIDES}
            self.v.problems.append(f"rekey-child: old SAs not deleted within"
                                   f" {COMMAND_DEADLINE:g} s: {self._hex(left)}")
        else:
            self.record.act("", "old Child SAs gone from both kernels")
            self.v.figures["old SAs gone after"] = gone - started
        self.settle()
        if self.s.rekey_by == "lifetime" and chained(self.s):  # the next rekey may have begun
            found = len(self.v.problems)
            self.carried |= rekeyed_pair(self, "after the rekey", before)
            self.prove("after the rekey", rekeyed=True, before=before, chain=True, sane=found)
        else:
            found = len(self.v.problems)
            one_pair_each(self, "after the rekey")
            self.prove("after the rekey", rekeyed=True, before=before, sane=found)

    def do_rekey_ike(self) -> None:
        before_spis = self.spis()
        counts = {side: self.cell.daemons[side].ike_sas_logged() for side in SIDES}
        started = time.monotonic()
        deadline = self._start_rekey("ike", "the IKE SA", self.s.ike_lifetime_of)
        done = wait_until(lambda: all(self.cell.daemons[side].ike_sas_logged() > counts[side]
                                 for side in SIDES), deadline)
        if done is None:
            now = {side: self.cell.daemons[side].ike_sas_logged() for side in SIDES}
            self.v.problems.append(f"rekey-ike: no new IKE SA logged by both daemons within"
                                   f" {deadline:g} s (IKE SAs logged before {counts}, now {now})")
            return
        self.record.act("", "both daemons logged a new IKE SA")
        self.v.figures["new IKE SA after"] = done - started
        self.settle()
        found = len(self.v.problems)
        one_pair_each(self, "after the IKE rekey")
        self.prove("after the IKE rekey", before=before_spis, sane=found)
        if self.s.ike_version == 2 and self.spis() != before_spis:
            self.v.notes.append(f"the IKE rekey changed the Child SAs: before"
                                f" {self._hex(before_spis)}, after {self._hex(self.spis())}")

    def do_delete(self) -> None:
        self.stop_stream()  # without the policies the echoes would cross in clear text
        self.record.act(self.s.initiator, "delete the connection")
        problems = self.cell.delete()
        self.record.act("", "teardown check done")
        self.v.problems += [str(p) for p in problems]

    def do_dpd(self) -> None:
        assert self.s.dpd is not None
        delay, timeout = self.s.dpd
        actor, survivor = self.s.actor_side, _other(self.s.actor_side)
        self.stop_stream()  # a peer that vanishes sends nothing, its kernel included
        vanish, back = self._vanish(actor)
        started = self.record.act(actor, f"{vanish} (DPD delay {delay} s, timeout {timeout} s)")
        try:
            deadline = delay + timeout + max(DPD_SLACK, (delay + timeout) / 2)
            cleared = wait_until(lambda: not self.esp(survivor), deadline, interval=0.2)
        finally:
            self.record.act(actor, back())
        if cleared is None:
            left = ", ".join(f"0x{sa.spi:08x}" for sa in self.esp(survivor))
            self.v.problems.append(f"dpd: {survivor}'s kernel still holds {left}"
                                   f" {deadline:g} s after {actor} vanished ({vanish}; DPD"
                                   f" delay {delay} s + timeout {timeout} s)")
            return
        self.record.act(survivor, "no ESP SA left in the kernel")
        self.v.figures["survivor cleared after"] = cleared - started

    def _vanish(self, actor: str) -> tuple[str, Callable[[], str]]:
        """Make ``actor`` vanish as the scenario says; (what was done, how to undo it)."""
        if self.s.vanish == "link":
            netns = self.cell.topology.netns(actor)
            with Rtnl(netns) as rtnl:
                index = rtnl.link(IFACE)[0]
                rtnl.up(index, False)

            def link_up() -> str:
                with Rtnl(netns) as rtnl:
                    rtnl.up(index)
                return f"link {IFACE} up again"

            return f"link {IFACE} down", link_up
        daemon = self.cell.daemons[actor]
        daemon.send_signal(signal.SIGSTOP)

        def cont() -> str:
            daemon.send_signal(signal.SIGCONT)
            return "SIGCONT the daemon"

        return "SIGSTOP the daemon", cont

    def do_restart(self) -> None:
        actor = self.s.actor_side
        daemon = self.cell.daemons[actor]
        killed = self.record.act(actor, "SIGKILL the daemon")
        daemon.send_signal(signal.SIGKILL)
        self.pause_window(killed)
        before = self.spis()
        done = daemon.after_crash()
        if done:
            self.record.act(actor, f"service manager: {done}")
        daemon.restart()
        self.record.act(actor, "daemon started again and loaded")
        self.v.figures["restart took"] = time.monotonic() - killed
        deadline = COMMAND_DEADLINE
        if actor == self.s.initiator:  # as auto=start / start_action=start would
            self.record.act(actor, "initiate again")
            daemon.initiate()
        else:  # the initiator must find out (DPD) and negotiate again (its DPD action)
            delay, timeout = self.s.dpd or (0, 0)
            deadline += delay + timeout + DPD_SLACK
            self.record.act("", f"wait for {self.s.initiator}'s DPD ({delay} s + {timeout} s,"
                                f" then {self.s.dpd_action}) to bring the SAs back")
        stream = self.record.stream
        assert stream is not None

        def flows() -> bool:
            return stream.result.first_answer_after(time.monotonic() - 0.2) is not None \
                and all(self.spis()[side] - before[side] for side in SIDES)

        back = wait_until(flows, deadline, interval=0.1)
        if back is None:
            lost = len(stream.result.losses(until=time.monotonic() - TIMEOUT))
            self.v.problems.append(f"restart: no new SAs with traffic flowing within"
                                   f" {deadline:g} s of the kill ({lost} echoes lost so far;"
                                   f" SAs now: {self._hex(self.spis())})")
            return
        self.record.act("", "new SAs, echoes answered again")
        self.v.figures["traffic flows again after"] = back - killed
        self.resume_window(back)
        self.settle(SETTLE + 1.0)
        stale = {side: sorted(before[side] & self.spis()[side]) for side in SIDES}
        if any(stale.values()):
            self.v.problems.append(f"restart: stale SAs of the killed daemon's connection left:"
                                   f" {self._hex(stale)}")
        found = len(self.v.problems)
        one_pair_each(self, "after the restart")
        self.prove("after the restart", before=before, sane=found)

    def do_simultaneous(self) -> None:
        self.settle()
        allowed_pairs(self, "both initiated at once")  # (proved as the first SAs)

    def do_responder_initiates(self) -> None:
        responder = self.s.responder
        before = self.spis()
        started = self.record.act(responder, "initiate (the responder)")
        try:
            self.cell.daemons[responder].initiate()
        except DaemonError as exc:
            self.v.problems.append(f"responder-initiates: {exc}")
            return
        changed = wait_until(lambda: self.spis() != before, COMMAND_DEADLINE / 3)
        if changed is not None:
            self.record.act("", "the kernels' SAs changed")
            self.v.figures["SAs changed after"] = changed - started
        else:
            self.v.notes.append("the responder's initiation changed no SA in "
                                f"{COMMAND_DEADLINE / 3:g} s")
        self.settle(SETTLE + 1.0)
        found = len(self.v.problems)
        allowed_pairs(self, "after the responder initiated")
        self.prove("after the responder initiated", before=before, sane=found)

    @staticmethod
    def _hex(spis: dict[str, set[int]] | dict[str, list[int]]) -> str:
        return "; ".join(f"{side} {{{', '.join(f'0x{x:08x}' for x in sorted(v))}}}"
                         for side, v in spis.items())


def run_lifecycle(cell: Cell) -> LifecycleVerdict:
    """Negotiate, stream, make the scenario's lifecycle event happen, judge (see module)."""
    return LifecycleRun(cell).run()


def teardown(cell: Cell) -> list[str]:
    """The teardown check after a lifecycle event, as every cell has it (not after delete,
    which was one, nor after dpd, where one side has already cleared). Where the responder
    initiated too both sides delete, first the one whose daemon brings a connection it
    initiated back up when only its peer deletes it (pluto 4.10 and 5.2, measured)."""
    s = cell.scenario
    if s.lifecycle in ("delete", "dpd"):
        return []
    if s.lifecycle not in ("simultaneous", "responder-initiates"):
        return [str(p) for p in cell.delete()]
    # both initiated: both delete, a daemon that brings back what its peer deletes first
    order = sorted((s.initiator, s.responder), key=lambda side: not cell.daemons[side].revives)
    return [str(p) for p in cell.delete(order=tuple(order))]
