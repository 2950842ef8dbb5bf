"""[negotiated] and 'default' proposals with real daemons in a real kernel (inside UML where
the host has no ESP): what the two default lists negotiate is worked out from what each
daemon says it offers, a stated result is checked, and a side with one proposal forces the
result of a side with 'default'. Each wrong claim fails naming expected and negotiated."""

from __future__ import annotations

import pytest

from lab.algorithms import parse_proposal
from lab.errors import VerdictError
from lab.expected import Stated
from lab.scenario import Peer, Scenario

pytestmark = pytest.mark.lab

L, R = "2001:db8:1:1::1", "2001:db8:2:2::2"
DEFAULTS = Scenario("defaults", Peer(L, "strongswan@sid"), Peer(R, "libreswan@sid"),
                    ike_version=2, mode="tunnel", ike=(), esp=())


def _ike(text: str) -> object:
    return parse_proposal(text, "ike", needs_dh=True)


def _verdict_text(lab, claimed: Scenario, configured: Scenario | None = None) -> tuple[str, list[str]]:
    """Run ``configured`` (default: ``claimed``) and judge it as ``claimed``: the problems
    as one text (empty when it passes) and the listing."""
    cell = lab.start(configured or claimed)
    cell.scenario = claimed
    cell.negotiate()
    cell.traffic()
    verdict = cell.judge()
    cell.delete()
    try:
        verdict.check()
    except VerdictError as exc:
        return str(exc), cell.negotiated.lines
    return "", cell.negotiated.lines


def test_two_default_lists_are_worked_out_and_checked(lab) -> None:
    text, lines = _verdict_text(lab, DEFAULTS)
    print("\n".join(lines))
    assert text == ""
    assert "expected IKE: aes256gcm16-prfsha512-ecp256 (worked out from what left" \
        " (strongswan@sid) and right (libreswan@sid) offer, the responder's order first)" in lines
    assert any(line.startswith("expected ESP: aes256gcm16, ESN off") for line in lines), lines


def test_a_stated_group_that_was_not_negotiated_fails_naming_both(lab) -> None:
    claimed = DEFAULTS.with_(negotiated=Stated(ike=_ike("aes256gcm16-prfsha512-modp2048")))  # type: ignore[arg-type]
    text, _ = _verdict_text(lab, claimed, DEFAULTS)
    print(text)
    for side in ("left (strongswan 6.1", "right (libreswan 5.2"):
        assert "ike: negotiated IKE group ecp256, expected modp2048 (" + side in text, text
    assert "[negotiated] ike = 'aes256gcm16-prfsha512-modp2048'" in text


def test_a_stated_esn_that_was_not_negotiated_fails(lab) -> None:
    claimed = DEFAULTS.with_(negotiated=Stated(esn=True))
    text, _ = _verdict_text(lab, claimed, DEFAULTS)
    print(text)
    assert "esp: negotiated ESN off, expected on (left (strongswan 6.1" in text, text


def test_one_sides_only_proposal_is_checked_against_a_default_side(lab) -> None:
    """strongSwan 5.9 (left) with 'default', Libreswan with one IKE proposal: the result is
    worked out from the lists; the cell claiming another cipher fails (the check is on)."""
    one = DEFAULTS.with_(left=Peer(L, "strongswan@bookworm"),
                         right=Peer(R, "libreswan@sid", ike=_ike("aes128-sha256-modp3072")))  # type: ignore[arg-type]
    text, lines = _verdict_text(lab, one)
    print("\n".join(lines))
    assert text == "" and any(line.startswith("expected IKE: aes128-sha256-modp3072 (worked out")
                              for line in lines), lines
    claimed = one.with_(right=Peer(R, "libreswan@sid", ike=_ike("aes256-sha256-modp3072")))  # type: ignore[arg-type]
    text, _ = _verdict_text(lab, claimed, one)
    print(text)
    assert "ike: negotiated IKE cipher aes128, expected aes256 (left (strongswan 5.9.8" in text, text


def test_in_ikev1_one_sides_only_proposal_forces_the_result(lab) -> None:
    """IKEv1: no default list is worked out; the side with one proposal forces it."""
    esp = parse_proposal("aes128-sha256-modp2048", "esp", needs_dh=False)  # pluto: PFS
    one = DEFAULTS.with_(ike_version=1, left=Peer(L, "libreswan@sid"),
                         right=Peer(R, "strongswan@bookworm", ike=_ike("aes128-sha256-modp2048"),  # type: ignore[arg-type]
                                    esp=esp))
    text, lines = _verdict_text(lab, one)
    print("\n".join(lines))
    assert text == "", text
    assert "expected IKE: aes128-sha256-modp2048 (right (strongswan@bookworm)'s only proposal)" in lines
    assert "expected ESP: aes128-sha256-modp2048, PFS group not checked (right (strongswan@bookworm)'s only" \
        " proposal)" in lines
    claimed = one.with_(right=Peer(R, "strongswan@bookworm", ike=_ike("aes128-sha256-modp3072"),  # type: ignore[arg-type]
                                   esp=esp))
    text, _ = _verdict_text(lab, claimed, one)
    print(text)
    assert "ike: negotiated IKE group modp2048, expected modp3072 (left (libreswan 5.2" in text
