"""Workarounds of known incompatibilities (scenarios/known-incompatibilities.toml).

pfkey-hmac-sha256-96: racoon's PF_KEY SAs use hmac(sha256) with a 96-bit ICV. The RFC 4868
end can be asked for 96 bits too: ESP integrity ``sha256_96`` (Libreswan renders
``sha2-truncbug=yes``, strongSwan ``sha256_96``, racoon ``hmac_sha256``). These cells pair
racoon with every other flavor (both orders) with that setting, and must pass: SAs, ping,
both kernels holding a 96-bit ICV, and the ESP decrypted. Pairs without racoon show the
setting between the other daemons. Libreswan's truncation bug is local (the wire carries
HMAC-SHA2-256); strongSwan's sha256_96 has no IKEv1 identifier at all, which the second
entry of known-incompatibilities.toml says: those cells are strict expected failures.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.algorithms import parse_proposal
from lab.errors import LabError
from lab.known import failing_as, load, xfail_marks
from lab.matrix import MatrixSelection, cell_id
from lab.scenario import Peer, Scenario

LEFT, RIGHT = "2001:db8:1:1::1", "2001:db8:2:2::2"
KNOWN_FILE = Path(__file__).parent / "known-incompatibilities.toml"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "workaround" not in metafunc.fixturenames:
        return
    opt = metafunc.config.option
    try:
        selection = MatrixSelection.from_options(opt.lab_flavors, "1", opt.lab_modes, None,
                                                 opt.lab_pairs)
    except LabError as exc:
        raise pytest.UsageError(str(exc)) from None
    pairs = selection.pairs or tuple((i, r) for i in selection.flavors for r in selection.flavors)
    known = load(KNOWN_FILE, "scenarios/known-incompatibilities.toml")
    params = [pytest.param((i, r, m), id=cell_id(i, r, "ikev1", m, "aes256-sha256_96"),
                           marks=xfail_marks(known.matching(_scenario(i, r, m))))
              for i, r in pairs for m in selection.modes]
    metafunc.parametrize("workaround", params)


def _scenario(initiator: str, responder: str, mode: str) -> Scenario:
    return Scenario(
        name=f"{initiator}->{responder}-ikev1-{mode}-aes256-sha256_96",
        left=Peer(LEFT, initiator), right=Peer(RIGHT, responder), ike_version=1, mode=mode,
        ike=parse_proposal("aes256-sha256-modp2048", "ike", needs_dh=True),
        esp=parse_proposal("aes256-sha256_96", "esp", needs_dh=False))


@pytest.mark.lab
def test_sha256_96_workaround(lab, workaround: tuple[str, str, str]) -> None:
    scenario = _scenario(*workaround)
    known = load(KNOWN_FILE, "scenarios/known-incompatibilities.toml").matching(scenario)
    with failing_as(known):
        verdict = lab.run(scenario)
    assert verdict.esp_packets == 2 * scenario.pings
    icvs = {sa.auth[2] for held in lab.cells[-1][0].sas.values() for sa in held
            if sa.proto == "esp" and sa.auth}
    assert icvs == {96}, f"ICV lengths in the kernels: {icvs}"
