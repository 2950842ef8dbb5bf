"""The two-peer cell: its bring-up and its phases, each timed for the benchmark.

A cell goes scenario -> configs -> namespaces -> daemons -> SAs -> traffic and capture
-> verdict -> delete -> artifacts. Its state is lab.cell.state; the negotiation's watch
is lab.cell.negotiation, every check lab.cell.verdict, the artifacts lab.cell.collect,
and the order the phases run in lab.cell.sequence."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from lab import xfrm
from lab.artifacts import RunDir
from lab.cell import collect, negotiation, verdict
from lab.cell.state import CellState, Pool
from lab.daemons.base import PeerContext
from lab.daemons.registry import daemon_class
from lab.flavors import parse_flavor, require
from lab.lifecycle.record import Record
from lab.negotiated import Problem
from lab.outcome import Outcome
from lab.scenario import SIDES
from lab.wire import esplength
from lab.wire.capture import Capture
from lab.wire.traffic import PingResult, ping
from lab.wire.verdict import Verdict
from lab.xfrm_monitor import XfrmMonitor

__all__ = ["Cell", "Pool"]


class Cell(CellState):
    """One two-peer cell (its state: lab.cell.state.CellState); run its phases with
    lab.cell.sequence.run_cell, then down() (or use it as a context manager)."""

    def build(self) -> None:
        """Render every peer's files (pure, no namespace needed)."""
        for side in SIDES:
            flavor = parse_flavor(self.scenario.peer(side).flavor, f"{side}.flavor")
            require(flavor)
            ctx = PeerContext(side=side, netns=self.topology.netns(side),
                              dir=self.workdir / side, flavor=flavor, tag=self.tag,
                              cache=self.cache)
            self.daemons[side] = daemon_class(flavor.impl)(self.scenario, ctx)

    def up(self) -> None:
        """Namespaces, link, capture, daemons started and loaded."""
        if self.warm is not None:
            self.warm.up(self)
            return
        with self.phase("configs"):
            # A fresh 0700 directory with an unguessable name (its prefix names the owner).
            self.workdir = Path(tempfile.mkdtemp(prefix=f"ipl-{self.ident}-"))
            self._stack.callback(shutil.rmtree, self.workdir, ignore_errors=True)
            self.build()
            for daemon in self.daemons.values():
                daemon.ctx.dir.mkdir()
                daemon.write()
        with self.phase("topology"):
            self._stack.callback(self.topology.down)
            self.topology.up()
            self.capture = Capture(self.topology.capture_points()).start()
            self._stack.callback(self.capture.stop)
            if self.scenario.lifecycle != "none":  # every SA the daemons will install
                monitor = XfrmMonitor({side: self.topology.netns(side) for side in SIDES})
                self.record = Record(monitor.start())
                self._stack.callback(monitor.stop)
        with self.phase("daemon start"):
            with self.phase("start: launch"):
                for side in SIDES:  # both launched first: one waits while the other starts
                    self._stack.callback(self.daemons[side].stop)
                    self.daemons[side].launch()
            with self.phase("start: ready"):
                for side in SIDES:
                    self.daemons[side].wait_started()
            with self.phase("start: load"):
                for side in SIDES:
                    self.daemons[side].load()
                for side in SIDES:  # nothing is initiated before both listen for IKE
                    self.daemons[side].wait_listening()
            # what the kernels hold before the negotiation is not the cell's (teardown check)
            self.baseline = {side: set(xfrm.dump_policies(self.topology.netns(side)))
                             for side in SIDES}

    def negotiate(self, sides: tuple[str, ...] | None = None) -> Outcome:
        """Initiate and watch (lab.cell.negotiation); raises NegotiationError unless the
        outcome is the scenario's ``expect``. ``sides``: who initiates."""
        return negotiation.negotiate(self, sides)

    def end_as_expected(self) -> Outcome:
        """The verdict of a cell whose expected failure came (lab.cell.verdict)."""
        return verdict.end_as_expected(self)

    def traffic(self) -> PingResult:
        netns, source = self.topology.traffic_end(self.scenario.initiator)
        target = self.topology.traffic_end(self.scenario.responder)[1]
        with self.phase("traffic"):
            # a lossy path loses echoes: ping until as many replies came (or 10 times as many sent)
            need = self.scenario.pings if self.scenario.path.lossy else None
            # a plain path: a reply an SA's drop count says is gone is not waited for
            self.ping = ping(netns, target, self.scenario.pings, src=source, need=need,
                             payload=esplength.payload(self.scenario.ping_size), drops_in=[
                                 self.topology.netns(s) for s in SIDES if self.scenario.path.plain])
        return self.ping

    def judge(self) -> Verdict:
        """Every check of the SAs and the traffic (lab.cell.verdict.judge)."""
        return verdict.judge(self)

    def log_findings(self) -> list[str]:
        """The log_must / log_must_not findings (lab.cell.verdict)."""
        return verdict.log_findings(self)

    def delete(self, order: tuple[str, ...] = ()) -> list[Problem]:
        """The delete phase and the teardown check (lab.cell.verdict.delete)."""
        return verdict.delete(self, order)

    def check(self) -> None:
        """Raise VerdictError with every finding of the verdict (after the delete)."""
        assert self.verdict is not None, "judge() first"
        self.verdict.check()

    # -- afterwards (lab.cell.collect) ---------------------------------------------
    def collect(self, rundir: RunDir, failed: bool, extra: Callable[[RunDir], None] | None = None,
                ) -> None:
        """Write the artifacts (before down(): the dumps need the namespaces)."""
        collect.collect(self, rundir, failed, extra)

    def write_capture(self, rundir: RunDir) -> None:
        collect.write_capture(self, rundir)

    def count_ike(self, packets: list | None = None) -> None:  # type: ignore[type-arg]
        collect.count_ike(self, packets)

    def path_report(self) -> list[str]:
        return collect.path_report(self)

    def path_summary(self) -> str:
        return collect.path_summary(self)

    def down(self) -> None:
        """Stop daemons, remove namespaces and the work directory (last in, first out)."""
        with self.phase("teardown"):
            self._stack.close()

    def __enter__(self) -> Cell:
        return self

    def __exit__(self, *exc: object) -> None:
        self.down()
