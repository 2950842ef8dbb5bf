"""Road warriors (the default run, or ``--lab-topologies=road-warrior``): a gateway and
two clients of different daemons (IKEv2, and IKEv1 with mode config), each client with a virtual IP
from the gateway's pool, its traffic to the host behind the gateway through its own
SPIs, the gateway holding one IKE SA per client, one client's delete leaving the other
up, every kernel clean at the end (lab.remote). The grid: gateway flavor x client
flavors (lab.remote.matrix); what it measured between the daemons is a strict expected
failure (lab.remote.matrix.KNOWN)."""

from __future__ import annotations

import pytest

from lab.remote.fixture import road_warrior  # noqa: F401  (the fixture)
from lab.remote.matrix import RoadWarriorCell, grid_params


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "rwcell" in metafunc.fixturenames:
        metafunc.parametrize("rwcell", grid_params(metafunc.config.option, "road-warrior"))


@pytest.mark.lab
def test_road_warrior(road_warrior, rwcell: RoadWarriorCell) -> None:  # noqa: F811
    network = rwcell.network()
    lines = road_warrior.run(network)
    # every admitted client's echoes were answered, after the first client's delete too
    assert sum("3 sent, 3 answered" in line for line in lines) == 2 * len(network.admitted) - 1
    # with certificates: each end named the other's identity, the untrusted client refused
    if network.auth != "psk":
        assert sum(" authenticated " in line for line in lines) == 2 * len(network.admitted)
        assert [line for line in lines if "refused as expected" in line]
    # without a pool: no virtual IP; each client's selectors its own address <-> the subnet
    if not network.has_pool:
        assert any(line.startswith("(v) no pool: ") for line in lines), lines
        assert sum(" selectors " in line and " in both kernels" in line for line in lines) \
            == len(network.admitted), lines
