"""The negotiated-parameter and teardown checks, broken on purpose with real daemons
in a real kernel (inside UML where the host has no ESP): each must fail the cell
with words that name the cause."""

from __future__ import annotations

import pytest

from lab.algorithms import parse_proposal
from lab.errors import VerdictError
from lab.negotiated import only_mode_mismatch
from lab.scenario import Peer, seed_scenario

pytestmark = pytest.mark.lab

L, R = "2001:db8:1:1::1", "2001:db8:2:2::2"
BASE = seed_scenario(ike_version=2, ike="aes128-sha1-modp2048")


def test_sides_with_different_modes_fail_naming_both(lab) -> None:
    """left says tunnel, the scenario (and so right) transport; the daemons settle on one."""
    scenario = BASE.with_(mode="transport", left=Peer(L, "libreswan@sid", mode="tunnel"),
                          right=Peer(R, "strongswan@sid"))
    cell = lab.start(scenario)
    cell.negotiate()
    cell.traffic()
    verdict = cell.judge()
    with pytest.raises(VerdictError) as exc:
        verdict.check()
    text = str(exc.value)
    print(text)
    assert "mode: left (libreswan " in text and "configured tunnel, negotiated " in text, text
    assert "right (strongswan " in text and "configured transport, negotiated " in text, text
    assert only_mode_mismatch(verdict.findings), verdict.findings


def test_a_cell_named_aes128gcm16_that_negotiated_aes128_sha1_fails(lab) -> None:
    """The daemons are configured with aes128-sha1; the cell claims aes128gcm16."""
    cell = lab.start(BASE)
    cell.scenario = BASE.with_(name="aes128gcm16",
                               esp=parse_proposal("aes128gcm16", "esp", needs_dh=False))
    cell.negotiate()
    cell.traffic()
    with pytest.raises(VerdictError) as exc:
        cell.judge().check()
    text = str(exc.value)
    print(text)
    assert "esp: left (libreswan " in text and "configured aes128gcm16" in text, text
    assert "in its kernel are aes128-sha1 (cbc(aes) 128-bit key, hmac(sha1) 96-bit ICV)" in text


def test_a_daemon_that_leaves_its_sas_fails_listing_them(lab) -> None:
    """The initiator 'deletes' without doing anything: both kernels keep the cell's SAs."""
    cell = lab.start(BASE)
    cell.negotiate()
    cell.traffic()
    verdict = cell.judge()
    cell.daemons["left"].delete = lambda: None  # type: ignore[method-assign]
    cell.delete_deadline = 0.5
    cell.delete()
    with pytest.raises(VerdictError) as exc:
        verdict.check()
    text = str(exc.value)
    print(text)
    spis = [f"spi=0x{sa.spi:08x}" for sa in cell.sas["left"] if sa.proto == "esp"]
    assert "teardown: after left (libreswan " in text and " deleted the connection, " in text
    for side in ("left", "right"):
        assert f"{side} (libreswan " in text and "'s kernel still holds " in text, text
    assert all(spi in text for spi in spis), (spis, text)
    assert "policy 2001:db8:1:1::1/128 > 2001:db8:2:2::2/128" in text, text
