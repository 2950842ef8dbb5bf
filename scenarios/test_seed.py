"""The source text's pluto example, Libreswan at both ends: IKEv1 as in the text and
IKEv2, transport and tunnel, with the text's modp1024 and with modp2048.

A daemon that cannot do a proposal (Libreswan 4.10 has no modp1024) skips its cell
with the daemon's own answer, asked of its `algparse`.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from lab.algorithms import parse_proposal
from lab.scenario import load_scenario

# the file pairs pluto with racoon; this test keeps Libreswan at both ends
_FILE = load_scenario(Path(__file__).parent / "files" / "openswan-seed.toml")
SEED = _FILE.with_(left=replace(_FILE.left, flavor="libreswan"),
                   right=replace(_FILE.right, flavor="libreswan"))


@pytest.mark.lab
@pytest.mark.parametrize("ike", ["aes128-sha1-modp1024", "aes128-sha1-modp2048"])
@pytest.mark.parametrize("mode", ["transport", "tunnel"])
@pytest.mark.parametrize("ike_version", [1, 2], ids=["ikev1", "ikev2"])
def test_seed(lab, ike_version: int, mode: str, ike: str) -> None:
    scenario = SEED.with_(name=f"seed-ikev{ike_version}-{mode}-{ike}", ike_version=ike_version,
                          mode=mode, ike=parse_proposal(ike, "ike", needs_dh=True))
    verdict = lab.run(scenario)
    assert verdict.esp_packets == 2 * scenario.pings
