"""The `road_warrior` pytest fixture: runs NetworkCells for one test, keeps a failing
cell's artifacts (and, with --lab-keep-artifacts, a passing one's) and cleans up after it.
The plugin's `lab` fixture does the same for two-peer cells (lab.plugin)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab import owner
from lab.artifacts import RunDir, run_dir_name
from lab.errors import LabError
from lab.peers import Network
from lab.plugin import NO_KERNEL, REPORTS, LabSession
from lab.remote.agent import cannot_run
from lab.run import TAG_VAR
from lab.topology.netns import lab_namespaces

if False:  # typing only: the cell imports the kernel's modules (imported where it runs)
    from lab.remote.cell import NetworkCell


class RoadWarriorLab:
    def __init__(self, request: pytest.FixtureRequest, session: LabSession) -> None:
        self.request, self.session = request, session
        self.cells: list[tuple[NetworkCell, RunDir]] = []
        base = request.config.option.lab_rundir or (request.config.rootpath / ".lab-runs")
        self.base, self.tag = Path(base), os.environ[TAG_VAR]

    def run(self, network: Network) -> list[str]:
        """Skip if the cell cannot run here; else every phase (raises on a finding)."""
        no_kernel = self.request.config.stash.get(NO_KERNEL, None)
        if no_kernel:
            pytest.skip(no_kernel)
        reason = cannot_run(network, self.tag)
        if reason:
            pytest.skip(reason)
        from lab.remote.hub import cell_class

        ident = f"{owner.current()}-{os.getpid()}-{next(self.session.cells)}"
        name = run_dir_name(self.request.node.nodeid, os.environ.get("PYTEST_XDIST_WORKER", ""))
        cell = cell_class(network)(network, tag=self.tag, ident=ident,
                                   cache=self.session.cache)
        self.cells.append((cell, RunDir(self.base / name)))
        return cell.run()

    def finish(self, failed: bool) -> None:
        keep = failed or self.request.config.option.lab_keep_artifacts
        errors = []
        for cell, rundir in reversed(self.cells):
            if not failed:
                errors += [f"during the test, {why}" for d in cell.daemons.values()
                           if (why := d.crashed())]
            try:
                if keep:
                    rundir.fresh()
                    cell.collect(rundir)
                    self.request.node.user_properties.append(("artifacts", str(rundir.path)))
                else:
                    rundir.remove()
            finally:
                try:
                    cell.down()
                except (OSError, LabError) as exc:
                    errors.append(f"teardown of {cell.ident}: {exc}")
        left = [ns for ns in lab_namespaces()
                if any(ns.startswith(f"ipl-{cell.ident}-") for cell, _ in self.cells)]
        if left:
            errors.append(f"namespaces left behind: {', '.join(left)}")
        if errors:
            raise LabError("; ".join(errors))


@pytest.fixture
def road_warrior(request: pytest.FixtureRequest, lab_session: LabSession
                 ) -> Iterator[RoadWarriorLab]:
    """Run road-warrior cells: ``road_warrior.run(network)``."""
    fixture = RoadWarriorLab(request, lab_session)
    yield fixture
    reports = request.node.stash.get(REPORTS, {})
    fixture.finish(any(r.failed for r in reports.values()))
