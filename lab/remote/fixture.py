"""The `road_warrior` pytest fixture: runs the cells of more than two peers (a road
warrior, a hub) for one test through their phases (lab.cell.sequence); keeping a failing
cell's artifacts (and, with --lab-keep-artifacts, a passing one's) and cleaning up after
it are the plugin's, as for the `lab` fixture's two-peer cells (lab.plugin.cells)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lab.peers import Network
from lab.plugin import REPORTS, LabSession
from lab.plugin.cells import CellsFixture
from lab.remote.agent import cannot_run


class RoadWarriorLab(CellsFixture):
    def run(self, network: Network) -> list[str]:
        """Skip if the cell cannot run here; else every phase (raises on a finding); the
        verdict's lines."""
        self.skip_without_kernel()
        reason = cannot_run(network, self.tag)
        if reason:
            pytest.skip(reason)
        from lab.cell.sequence import run_cell
        from lab.remote.hub import cell_class  # (the cell needs the guest's kernel)

        cell = self.add(lambda ident: cell_class(network)(network, tag=self.tag, ident=ident,
                                                          cache=self.session.cache))
        run_cell(cell)
        return cell.lines


@pytest.fixture
def road_warrior(request: pytest.FixtureRequest, lab_session: LabSession
                 ) -> Iterator[RoadWarriorLab]:
    """Run road-warrior cells: ``road_warrior.run(network)``."""
    fixture = RoadWarriorLab(request, lab_session)
    yield fixture
    reports = request.node.stash.get(REPORTS, {})
    fixture.finish(any(r.failed for r in reports.values()))
