"""A cell ends by its outcome against the scenario's expect, with real daemons in a real
kernel (inside UML where the host has no ESP): what the issue asks to see."""

from __future__ import annotations

import re

import pytest

from lab.algorithms import parse_proposal
from lab.errors import NegotiationError, VerdictError
from lab.outcome import Outcome
from lab.scenario import Peer, seed_scenario

pytestmark = pytest.mark.lab

L, R = "2001:db8:1:1::1", "2001:db8:2:2::2"
BASE = seed_scenario(ike_version=2, ike="aes128-sha1-modp2048").with_(
    left=Peer(L, "libreswan@sid"), right=Peer(R, "strongswan@bookworm"))
DISJOINT = BASE.with_(right=Peer(R, "strongswan@bookworm",
                                 esp=parse_proposal("aes256-sha256", "esp", needs_dh=False)))


def test_disjoint_proposals_with_the_default_expect_fail_naming_no_proposal_chosen(lab) -> None:
    with pytest.raises(NegotiationError) as exc:
        lab.run(DISJOINT)
    text = str(exc.value)
    print(text)
    assert "negotiation failed: NO_PROPOSAL_CHOSEN: " in text, text


def test_disjoint_proposals_expecting_no_proposal_chosen_pass_saying_what_they_saw(lab) -> None:
    outcome = lab.run(DISJOINT.with_(expect="no-proposal-chosen"))
    print(outcome)
    assert isinstance(outcome, Outcome) and outcome.cls == "no-proposal-chosen"
    assert "(left)" in outcome.seen or "(right)" in outcome.seen, outcome.seen


def test_sides_with_different_modes_pass_with_the_class_the_daemons_produce(lab) -> None:
    """IKEv2, left tunnel, right (charon) transport: charon accepts the tunnel, so both
    kernels hold tunnel SAs, a mismatch against the right side's configuration."""
    scenario = BASE.with_(mode="transport", left=Peer(L, "libreswan@sid", mode="tunnel"),
                          expect="other-mode")
    outcome = lab.run(scenario)
    print(outcome)
    assert isinstance(outcome, Outcome) and outcome.cls == "other-mode"
    assert "right (strongswan@bookworm) configured transport, negotiated tunnel" in outcome.seen


def test_another_failure_than_the_expected_one_fails_naming_both(lab) -> None:
    scenario = BASE.with_(right=Peer(R, "strongswan@bookworm", psk="not-the-secret"),
                          expect="no-proposal-chosen")
    with pytest.raises(NegotiationError) as exc:
        lab.run(scenario)
    text = str(exc.value)
    print(text)
    assert "expected NO_PROPOSAL_CHOSEN, but it failed another way: AUTHENTICATION_FAILED" in text


def test_an_expected_failure_that_does_not_come_fails(lab) -> None:
    with pytest.raises(NegotiationError) as exc:
        lab.run(BASE.with_(expect="authentication-failed"))
    text = str(exc.value)
    print(text)
    assert "expected AUTHENTICATION_FAILED, but the negotiation succeeded: ESP SAs in both" in text


def test_log_assertions_hold_or_fail_naming_side_pattern_and_log(lab) -> None:
    """strongSwan's evaltest.dat style: lines that must and must not be in each daemon's log."""
    right = Peer(R, "strongswan@bookworm", log_must=(r"CHILD_SA lab\{\d+\} established",),
                 log_must_not=("retransmit",))
    lab.run(BASE.with_(right=right))  # passes
    broken = Peer(R, "strongswan@bookworm", log_must_not=(r"CHILD_SA lab\{\d+\} established",))
    with pytest.raises(VerdictError) as exc:
        lab.run(BASE.with_(right=broken))
    assert ("log: right (strongswan): log_must_not 'CHILD_SA lab\\\\{\\\\d+\\\\} established'"
            " matches line") in str(exc.value)
    assert "of right/charon.log of the run directory" in str(exc.value)


def test_log_assertions_apply_to_a_cell_that_expects_its_failure(lab) -> None:
    left = Peer(L, "libreswan@sid", log_must=("NO_PROPOSAL_CHOSEN",))
    outcome = lab.run(DISJOINT.with_(left=left, expect="no-proposal-chosen"))
    assert isinstance(outcome, Outcome)
    missing = Peer(L, "libreswan@sid", log_must=("no such line",))
    with pytest.raises(VerdictError, match=re.escape(
            "log: left (libreswan): no line matches log_must 'no such line' in left/pluto.log")):
        lab.run(DISJOINT.with_(left=missing, expect="no-proposal-chosen"))
