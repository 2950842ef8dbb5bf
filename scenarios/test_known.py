"""Workarounds of known incompatibilities (scenarios/known-incompatibilities.toml).

pfkey-hmac-sha256-96: racoon's PF_KEY SAs use hmac(sha256) with a 96-bit ICV. The RFC 4868
end can be asked for 96 bits too: ESP integrity ``sha256_96`` (Libreswan renders
``sha2-truncbug=yes``, strongSwan ``sha256_96``, racoon ``hmac_sha256``). These cells pair
racoon with every other flavor (both orders) with that setting, and must pass: SAs, ping,
both kernels agreeing on a 96-bit ICV, and the ESP decrypted. Pairs without racoon show
that the two spellings meet each other (IKEv1: the setting is local, the wire carries
HMAC-SHA2-256 either way).
"""

from __future__ import annotations

import pytest

from lab.algorithms import parse_proposal
from lab.errors import LabError
from lab.matrix import MatrixSelection
from lab.scenario import Peer, Scenario

LEFT, RIGHT = "2001:db8:1:1::1", "2001:db8:2:2::2"


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
    cells = [(i, r, mode) for i, r in pairs for mode in selection.modes
             if "racoon" in (i, r) or i != r]
    metafunc.parametrize("workaround", cells,
                         ids=[f"{i}->{r}-ikev1-{m}-aes256-sha256_96" for i, r, m in cells])


@pytest.mark.lab
def test_sha256_96_workaround(lab, workaround: tuple[str, str, str]) -> None:
    initiator, responder, mode = workaround
    scenario = Scenario(
        name=f"{initiator}->{responder}-ikev1-{mode}-aes256-sha256_96",
        left=Peer(LEFT, initiator), right=Peer(RIGHT, responder), ike_version=1, mode=mode,
        ike=parse_proposal("aes256-sha256-modp2048", "ike", needs_dh=True),
        esp=parse_proposal("aes256-sha256_96", "esp", needs_dh=False))
    verdict = lab.run(scenario)
    assert verdict.esp_packets == 2 * scenario.pings
    icvs = {sa.auth[2] for held in lab.cells[-1][0].sas.values() for sa in held
            if sa.proto == "esp" and sa.auth}
    assert icvs == {96}, f"ICV lengths in the kernels: {icvs}"
