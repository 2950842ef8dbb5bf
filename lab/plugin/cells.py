"""The cells of one test: the `lab` fixture's (two peers) and, built on the same base,
the `road_warrior` fixture's (lab.remote.fixture). A fixture makes its cells, runs them
through their phases (lab.cell.sequence) and, after the test, keeps the artifacts of a
failed one (all with --lab-keep-artifacts), takes every cell down and checks that nothing
is left behind."""

from __future__ import annotations

import itertools
import os
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from lab import owner
from lab.artifacts import RunDir, run_dir_name
from lab.daemons.registry import DAEMONS
from lab.errors import LabError
from lab.flavors import parse_flavor, tree_missing
from lab.outcome import Outcome
from lab.plugin.uml import NO_KERNEL
from lab.run import TAG_VAR
from lab.scenario import SIDES, Scenario
from lab.topology.netns import lab_namespaces
from lab.wire.verdict import Verdict

if TYPE_CHECKING:  # the cell (pyroute2 and all) is imported by the worker that runs one
    from lab.cell import Cell
    from lab.warm import WarmPool

#: each test's reports by phase (setup, call, teardown): whether it failed
REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()


@dataclass
class LabSession:
    """What the cells of one worker share: a scratch directory, a cell counter, and the
    kept namespaces and daemons (lab.warm; None with --lab-warm=off)."""

    cache: Path
    cells: itertools.count = field(default_factory=lambda: itertools.count(1))
    warm: WarmPool | None = None

    def warm_for(self, scenario: Scenario) -> WarmPool | None:
        from lab.warm import cold_reason

        if self.warm is None or self.warm.busy or cold_reason(scenario) is not None:
            return None  # (busy: a test's second cell while its first is still up)
        return self.warm


class CellsFixture:
    """The cells of one test, each with its run directory, and their end (``finish``)."""

    def __init__(self, request: pytest.FixtureRequest, session: LabSession) -> None:
        self.request = request
        self.config = request.config
        self.session = session
        self.cells: list[tuple[Any, RunDir]] = []
        self.worker = os.environ.get("PYTEST_XDIST_WORKER", "")
        self.base = Path(self.config.option.lab_rundir or (self.config.rootpath / ".lab-runs"))
        self.tag = os.environ[TAG_VAR]

    def skip_without_kernel(self) -> None:
        no_kernel = self.config.stash.get(NO_KERNEL, None)
        if no_kernel:
            pytest.skip(no_kernel)

    def add(self, make: Callable[[str], Any]) -> Any:
        """A new cell, ``make(ident)``, with its run directory (the test's, then -2, -3...)."""
        n = len(self.cells)
        ident = f"{owner.current()}-{os.getpid()}-{next(self.session.cells)}"
        name = run_dir_name(self.request.node.nodeid, self.worker) + (f"-{n + 1}" if n else "")
        cell = make(ident)
        self.cells.append((cell, RunDir(self.base / name)))
        return cell

    def keep(self, cell: Any, rundir: RunDir, failed: bool) -> None:
        """A cell's artifacts, kept (a failed test's, or with --lab-keep-artifacts)."""
        cell.collect(rundir, failed)
        self.request.node.user_properties.append(("artifacts", str(rundir.path)))

    def pcap_only(self, cell: Any, rundir: RunDir) -> bool:
        """With --lab-pcap, a passing cell's capture alone (whether written)."""
        return False

    def finish(self, failed: bool) -> None:
        """Keep what is to be kept, take every cell down (last first), and fail the test
        if a daemon died during a passing test, a teardown failed or a namespace stayed."""
        keep = failed or self.config.option.lab_keep_artifacts
        errors = []
        for cell, rundir in reversed(self.cells):
            if not failed:  # health check: a daemon that died during a passing test is a failure
                errors += [f"during the test, {why}" for d in cell.daemons.values()
                           if (why := d.crashed())]
            try:
                if keep:
                    rundir.fresh()
                    self.keep(cell, rundir, failed)
                elif not self.pcap_only(cell, rundir):
                    rundir.remove()
            finally:
                try:
                    cell.passed = cell.passed and not failed and not errors
                    cell.down()
                except (OSError, LabError) as exc:
                    errors.append(f"teardown of {cell.ident}: {exc}")
        left = [ns for ns in lab_namespaces()
                if any(ns.startswith(f"ipl-{cell.ident}-") for cell, _ in self.cells)]
        if left:
            errors.append(f"namespaces left behind: {', '.join(left)}")
        if errors:
            raise LabError("; ".join(errors))


class Lab(CellsFixture):
    """The `lab` fixture: runs two-peer cells for one test and cleans up after it."""

    def skip_unless_possible(self, scenario: Scenario) -> None:
        self.skip_without_kernel()
        for side in SIDES:
            flavor = parse_flavor(scenario.peer(side).flavor, f"{side}.flavor")
            cls = DAEMONS.get(flavor.impl)
            if cls is None:
                pytest.skip(f"{flavor.name}: no driver for {flavor.impl} in this lab")
            reason = tree_missing(flavor) or cls.missing(flavor) or \
                cls.unsupported(scenario, side, flavor, self.tag)
            if reason:
                pytest.skip(f"{side}: {reason}")

    def cell(self, scenario: Scenario, warm: bool = False) -> Cell:
        """Skip if the cell cannot run here; else the cell, not up yet (``warm``: on the
        worker's kept namespaces and daemons where they fit, lab.warm)."""
        self.skip_unless_possible(scenario)
        from lab.cell import Cell  # (imported here: the controller outside UML needs none)

        return self.add(lambda ident: Cell(
            scenario, tag=self.tag, ident=ident, cache=self.session.cache,
            warm=self.session.warm_for(scenario) if warm else None))

    def start(self, scenario: Scenario, warm: bool = False) -> Cell:
        """Skip if the cell cannot run here; else bring it up (namespaces, daemons loaded),
        for a test that runs the phases itself."""
        cell = self.cell(scenario, warm)
        cell.up()
        return cell

    def run(self, scenario: Scenario, check: bool = True,
            before_delete: Callable[[Any], None] | None = None) -> Verdict | Outcome | Any:
        """One whole cell through its phases (lab.cell.sequence): up, negotiate (raises
        unless it ends as the scenario's ``expect`` says); a cell that expects a failure
        ends there with its outcome; else traffic and capture, the verdict, the delete and
        both kernels clean, or the scenario's lifecycle event (its LifecycleVerdict's lines
        are the test's ``lifecycle`` property). Raises if anything fails (``check``)."""
        from lab.cell.sequence import run_cell
        from lab.lifecycle.events import LifecycleVerdict

        def judged(verdict: Any) -> None:
            if isinstance(verdict, LifecycleVerdict):
                self.request.node.user_properties.append(("lifecycle", "\n".join(verdict.lines())))
            if before_delete is not None:
                before_delete(verdict)

        return run_cell(self.cell(scenario, warm=True), check=check, before_delete=judged)

    def reproduce(self) -> str:
        nodeid = self.request.node.nodeid
        return f"pytest {shlex.quote(nodeid)} --lab-keep-artifacts"

    def describe_artifacts(self) -> str:
        dirs = ", ".join(str(rundir.path) for _, rundir in self.cells)
        return f"artifacts: {dirs}\nreproduce: {self.reproduce()}"

    def keep(self, cell: Any, rundir: RunDir, failed: bool) -> None:
        super().keep(cell, rundir, failed)
        rundir.write("reproduce.sh", f"#!/bin/sh\n{self.reproduce()}\n")
        if failed:
            self.request.node.user_properties.append(("failed_cell", str(rundir.path)))

    def pcap_only(self, cell: Any, rundir: RunDir) -> bool:
        if not self.config.option.lab_pcap:
            return False
        rundir.fresh()
        cell.write_capture(rundir)
        return True
