"""The interop matrix: every initiator x responder flavor pair, both orders and
self-pairs, x IKE version x mode x proposal set, x topology and address family
(by default host-to-host IPv6, plus IPv4 and net-to-net in every family for one
proposal set, all with PSK, plus rsa/ecdsa certificate cells: lab.matrix).

Choose a subset with --lab-flavors, --lab-ike, --lab-modes, --lab-proposals,
--lab-pairs, --lab-topologies, --lab-families, --lab-auth. A
cell a pair cannot do is skipped with the reason the daemon (or its capability
table) gives.
"""

from __future__ import annotations

import pytest

from lab.errors import LabError
from lab.matrix import MatrixCell, MatrixSelection


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "cell" not in metafunc.fixturenames:
        return
    opt = metafunc.config.option
    try:
        selection = MatrixSelection.from_options(opt.lab_flavors, opt.lab_ike, opt.lab_modes,
                                                 opt.lab_proposals, opt.lab_pairs,
                                                 topologies=opt.lab_topologies,
                                                 families=opt.lab_families, auth=opt.lab_auth)
    except LabError as exc:
        raise pytest.UsageError(str(exc)) from None
    cells = selection.cells()
    metafunc.parametrize("cell", cells, ids=[c.id for c in cells])


@pytest.mark.lab
def test_interop(lab, cell: MatrixCell) -> None:
    reason = cell.not_generated_reason()
    if reason:
        pytest.skip(reason)
    verdict = lab.run(cell.scenario())
    assert verdict.esp_packets == 2 * cell.scenario().pings
