"""The interop matrix: every initiator x responder flavor pair, both orders and
self-pairs, x IKE version x mode x proposal set, x topology and address family
(by default host-to-host IPv6, plus IPv4 and net-to-net in every family for one
proposal set, all with PSK, plus rsa/ecdsa certificate cells: lab.matrix).

Choose a subset with --lab-flavors, --lab-ike, --lab-modes, --lab-proposals,
--lab-pairs, --lab-topologies, --lab-families, --lab-auth. A
cell a pair cannot do is skipped with the reason the daemon (or its capability
table) gives. A cell that known-incompatibilities.toml describes is a strict expected
failure carrying that entry's reason: it must fail as the entry says, and a pass
(XPASS) fails loudly.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.errors import LabError
from lab.known import failing_as, load_for_pytest, run_version, xfail_marks
from lab.matrix import MatrixCell, MatrixSelection
from lab.timetravel import waits_on_timers

KNOWN_FILE = Path(__file__).parent / "known-incompatibilities.toml"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "cell" not in metafunc.fixturenames:
        return
    opt = metafunc.config.option
    try:
        selection = MatrixSelection.from_pytest(opt)
    except LabError as exc:
        raise pytest.UsageError(str(exc)) from None
    known = load_for_pytest(KNOWN_FILE)
    params = []
    for c in selection.cells():
        scenario = None if c.not_generated_reason() else c.scenario()
        entry = known.matching(scenario, run_version) if scenario else None
        # a path that drops IKE packets waits on the retransmission timer: time travel
        travel = ([pytest.mark.time_travel(required=False)]
                  if scenario and waits_on_timers(scenario) else [])
        params.append(pytest.param(c, id=c.id, marks=[*xfail_marks(entry), *travel]))
    if not params and selection.networks:  # their cells: scenarios/test_roadwarrior.py
        why = f"no two-peer cells: --lab-topologies names {', '.join(selection.networks)} only"
        params = [pytest.param(None, id="none", marks=pytest.mark.skip(reason=why))]
    metafunc.parametrize("cell", params)


@pytest.mark.lab
def test_interop(lab, cell: MatrixCell) -> None:
    reason = cell.not_generated_reason()
    if reason:
        pytest.skip(reason)
    scenario = cell.scenario()
    with failing_as(load_for_pytest(KNOWN_FILE).matching(scenario, run_version)):
        verdict = lab.run(scenario)
        if scenario.expect != "established":  # an expected failure came (lab.run checks it)
            return
        if not scenario.path.lossy:  # (a lossy path: the verdict bounds the count instead)
            assert verdict.esp_packets == 2 * scenario.pings
