"""Hubs (the default run, or ``--lab-topologies=hub``): a hub and two spokes of different daemons, each a
gateway with a subnet and a host behind it; the host behind the first spoke reaches the
host behind the second through both tunnels (the hub forwards between them) and the
hub's own host; per connection both kernels' SAs agree and each spoke's link carries
only that connection's ESP; the first spoke's delete leaves the other up; every kernel
clean at the end (lab.remote.hub). The grid: hub flavor x spoke flavors
(lab.remote.matrix.hub_cells)."""

from __future__ import annotations

import pytest

from lab.errors import LabError, NegotiationError
from lab.matrix import MatrixSelection
from lab.remote.fixture import road_warrior  # noqa: F401  (the fixture: any network cell)
from lab.remote.matrix import HubCellSpec, hub_cells

NOT_NAMED = ("hub cells run by default, or when --lab-topologies names hub (this run's "
             "--lab-topologies, --lab-families or --lab-paths leave them out)")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "hubcell" not in metafunc.fixturenames:
        return
    opt = metafunc.config.option
    try:
        selection = MatrixSelection.from_pytest(opt)
        if "hub" not in selection.networks:
            metafunc.parametrize("hubcell", [pytest.param(None, id="hub",
                                                          marks=pytest.mark.skip(reason=NOT_NAMED))])
            return
        cells = hub_cells(selection)
    except LabError as exc:
        raise pytest.UsageError(str(exc)) from None
    params = []
    for cell in cells:
        why = cell.known()
        marks = [pytest.mark.xfail(strict=True, raises=NegotiationError, reason=why)] if why else []
        params.append(pytest.param(cell, id=cell.id, marks=marks))
    metafunc.parametrize("hubcell", params)


@pytest.mark.lab
def test_hub(road_warrior, hubcell: HubCellSpec) -> None:  # noqa: F811
    lines = road_warrior.run(hubcell.network())
    # spoke to spoke, on both spokes' links; to the hub's host; after the first delete
    assert sum("3 sent, 3 answered" in line for line in lines) == 4
