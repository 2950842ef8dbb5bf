"""Hubs (the default run, or ``--lab-topologies=hub``): a hub and two spokes of different daemons, each a
gateway with a subnet and a host behind it; the host behind the first spoke reaches the
host behind the second through both tunnels (the hub forwards between them) and the
hub's own host; per connection both kernels' SAs agree and each spoke's link carries
only that connection's ESP; the first spoke's delete leaves the other up; every kernel
clean at the end (lab.remote.hub). The grid: hub flavor x spoke flavors, and a cell with
certificates per hub daemon (lab.remote.matrix.hub_cells)."""

from __future__ import annotations

import pytest

from lab.remote.fixture import road_warrior  # noqa: F401  (the fixture: any network cell)
from lab.remote.matrix import HubCellSpec, grid_params


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "hubcell" in metafunc.fixturenames:
        metafunc.parametrize("hubcell", grid_params(metafunc.config.option, "hub"))


@pytest.mark.lab
def test_hub(road_warrior, hubcell: HubCellSpec) -> None:  # noqa: F811
    network = hubcell.network()
    lines = road_warrior.run(network)
    # spoke to spoke, on both spokes' links; to the hub's host; after the first delete
    assert sum("3 sent, 3 answered" in line for line in lines) == 4
    # with certificates: each end of each connection named the other's identity
    if network.auth != "psk":
        assert sum(" authenticated " in line for line in lines) == 2 * len(network.connections)
