"""The lifecycle events themselves: how each is made to happen (a rekey by command or by
lifetime, a delete, DPD after the actor vanishes, a restart, both sides initiating, the
responder initiating) and what its effect must be, with deadlines. LifecycleRun
(lab.lifecycle.events) is built on this class: its methods read the run's scenario,
cell, record and verdict, and call its helpers (prove, settle, spis, the stream's windows).
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable

from lab.errors import DaemonError
from lab.lifecycle.prove import (
    allowed_pairs,
    chained,
    one_pair_each,
    rekeyed_pair,
    wait_until,
)
from lab.lifecycle.spis import spis_text
from lab.scenario.allowed import SIDES
from lab.topology.build import IFACE
from lab.topology.rtnl import Rtnl
from lab.wire.stream import TIMEOUT

#: seconds of traffic before the event and after its effect
SETTLE = 1.5
#: seconds a commanded rekey, a re-initiation or a restart may take to show in the kernels
COMMAND_DEADLINE = 15.0
#: how long past the configured DPD time (delay + timeout) the survivor may take to clear
DPD_SLACK = 5.0


class Acts:
    """The events (``do_<event>``), LifecycleRun's base class."""

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
                                   f" {deadline:g} s (before: {spis_text(before)}, now:"
                                   f" {spis_text(self.spis())})")
            return
        self.record.act("", "new Child SAs in both kernels")
        self.v.figures["new SAs after"] = done - started
        gone = wait_until(lambda: all(not (self.spis()[side] & before[side]) for side in SIDES),
                     COMMAND_DEADLINE)
        if gone is None:
            left = {side: sorted(self.spis()[side] & before[side]) for side in SIDES}
            self.v.problems.append(f"rekey-child: old SAs not deleted within"
                                   f" {COMMAND_DEADLINE:g} s: {spis_text(left)}")
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
                                f" {spis_text(before_spis)}, after {spis_text(self.spis())}")

    def do_delete(self) -> None:
        self.stop_stream()  # without the policies the echoes would cross in clear text
        self.record.act(self.s.initiator, "delete the connection")
        problems = self.cell.delete()
        self.record.act("", "teardown check done")
        self.v.problems += [str(p) for p in problems]

    def do_dpd(self) -> None:
        assert self.s.dpd is not None
        delay, timeout = self.s.dpd
        actor, survivor = self.s.actor_side, self.s.other(self.s.actor_side)
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
                                   f" SAs now: {spis_text(self.spis())})")
            return
        self.record.act("", "new SAs, echoes answered again")
        self.v.figures["traffic flows again after"] = back - killed
        self.resume_window(back)
        self.settle(SETTLE + 1.0)
        stale = {side: sorted(before[side] & self.spis()[side]) for side in SIDES}
        if any(stale.values()):
            self.v.problems.append(f"restart: stale SAs of the killed daemon's connection left:"
                                   f" {spis_text(stale)}")
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
