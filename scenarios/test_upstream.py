"""The upstream suite: cases of strongSwan's testing/tests and Libreswan's testing/pluto,
each translated into a file of scenarios/upstream/ whose ``[origin]`` names the case and
says what the original checks (docs/upstream.md lists them).

Each file runs as its own cell, ``test_upstream[FILE STEM]`` (``-k upstream`` selects the
group): a first-SA cell as ``lab.run`` runs it (negotiation, pings, verdict, the stated
``[negotiated]`` result, log assertions, ``must_not_pass`` probes, teardown), a lifecycle
cell through its event; a file with ``[nodes.NAME]`` and ``[[connections]]`` (a road
warrior) as a network cell, as scenarios/test_roadwarrior.py runs one (every phase of
lab.cell.sequence: each client's SAs, virtual IP and pings, the gateway's, teardown).
The run ends with how many ``not_checked`` lines the suite has
(scenarios/conftest.py).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from lab.blocked import parse_probes
from lab.peers import Network, load_case
from lab.remote.fixture import road_warrior  # noqa: F401  (the fixture)
from lab.scenario import Scenario, load_scenario
from lab.timetravel import waits_on_timers

UPSTREAM = Path(__file__).parent / "upstream"
FILES = sorted(UPSTREAM.glob("*.toml"))
#: the issue's floor for the suite
MIN_CASES = 30


def test_upstream_files_name_their_origin() -> None:
    assert len(FILES) >= MIN_CASES, f"{len(FILES)} upstream cases, at least {MIN_CASES} wanted"
    stems = {}
    for path in FILES:
        s = load_case(path)
        assert s.origin is not None, f"{path.name}: no [origin] table"
        assert path.stem.startswith(f"{s.origin.project}-"), \
            f"{path.name}: the name starts with its project ({s.origin.project}-)"
        assert path.stem.endswith(s.origin.case), f"{path.name}: the name ends with its case"
        stems[path.stem] = s.origin.path
    assert len(set(stems.values())) == len(stems), "two files translate one case"


def _run(request: pytest.FixtureRequest, case: Scenario | Network) -> None:
    if isinstance(case, Network):
        # raises on a finding; every admitted client's echoes were answered, and the
        # others' again after the first client's delete (as scenarios/test_roadwarrior.py)
        lines = request.getfixturevalue("road_warrior").run(case)
        assert sum(f"{case.pings} sent, {case.pings} answered" in line for line in lines) \
            == 2 * len(case.admitted) - 1, lines
        if case.auth != "psk":  # each end named the other's identity
            assert sum(" authenticated " in line for line in lines) \
                == 2 * len(case.admitted), lines
        return
    # a lifecycle case: its event, its checks, then the teardown check
    request.getfixturevalue("lab").run(case)


def _marks(case: Scenario | Network) -> list[pytest.MarkDecorator]:
    """A case that waits on daemon timers (DPD, a rekey by lifetime) runs on the
    time-travel worker where there is one."""
    if isinstance(case, Scenario) and waits_on_timers(case):
        return [pytest.mark.time_travel(required=False)]
    return []


def _params() -> list[object]:
    """One per file, its id the file's stem."""
    return [pytest.param(p, id=p.stem, marks=_marks(load_case(p))) for p in FILES]


@pytest.mark.lab
@pytest.mark.parametrize("path", _params())
def test_upstream(request: pytest.FixtureRequest, path: Path) -> None:
    _run(request, load_case(path))


@pytest.mark.lab
def test_must_not_pass_fails_when_traffic_passes(lab) -> None:
    """The probes' check can fail: the protected traffic itself (host to host) comes back;
    the gateways' own addresses (outside the subnets' selectors, no policy) answer in clear;
    a probe that never leaves its node (the far host from the gateway's outer address: no
    neighbour on that link) proves nothing. Each finding names the side and the probe."""
    base = load_scenario(UPSTREAM / "strongswan-ikev2-net2net-psk.toml")
    probes = parse_probes([{"from": "left-host", "to": "right-host"},
                           {"from": "left", "to": "right"},
                           {"from": "192.168.0.1", "to": "right-host"}], "must_not_pass")
    cell = lab.start(base.with_(must_not_pass=probes, origin=None))
    cell.negotiate()
    cell.traffic()
    verdict = cell.judge()
    found = [p for p in verdict.problems if p.startswith("must_not_pass")]
    assert any("left: must_not_pass[0] from left-host (10.1.0.2) to 10.2.0.2: an echo reply"
               " came back" in p for p in found), found
    assert any(p.startswith("must_not_pass: left: must_not_pass[1] from left (its own address)"
                            " to 192.168.0.2: ") and "in clear between the peers" in p
               for p in found), found
    assert any(p.startswith("must_not_pass: left: must_not_pass[2] from left (192.168.0.1) to"
                            " 10.2.0.2: its own node answered destination unreachable")
               for p in found), found
    assert not any("must_not_pass[0]" in p and "in clear" in p for p in found), found
    cell.delete()


@pytest.mark.lab
def test_icmp_forward_fails_without_its_icmp_setting(lab) -> None:
    """strongSwan's net2net-icmp-forward without its children's ``icmp = yes``: the far
    gateway's unreachable (from its outer address, outside the selectors) does not come
    back through the tunnel (this kernel drops it: measured, nothing in clear either), and
    the probe says so; the upstream case passing is not vacuous."""
    s = load_scenario(UPSTREAM / "strongswan-ipv6-net2net-icmp-forward-ikev2.toml")
    s = s.with_(left=replace(s.left, native=()), right=replace(s.right, native=()), origin=None)
    cell = lab.start(s)
    cell.negotiate()
    cell.traffic()
    verdict = cell.judge()
    found = [p for p in verdict.problems if p.startswith("must_not_pass")]
    assert found == ["must_not_pass: left: must_not_pass[0] from left-host (2001:db8:11::2) to"
                     " 2001:db8:22::25: no ICMP destination unreachable came back (unreachable ="
                     " true)"], verdict.problems
    cell.delete()
