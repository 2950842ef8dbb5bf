"""Negative cells: every initiator x responder flavor pair (both orders, self pairs), each
broken one way on purpose, must fail the way its daemons really fail, i.e. with the
failure class the cell expects (``expect``), as soon as the daemons' words are final.

The class a case expects is in CASES; where a pair of daemons really ends another way
(measured here, with the reason) EXPECTED_INSTEAD says so. Choose flavors and pairs with
--lab-flavors and --lab-pairs, as for the matrix.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from dataclasses import dataclass, replace

import pytest

from lab.algorithms import parse_proposal
from lab.errors import LabError
from lab.matrix import MatrixSelection, cell_id, speaks
from lab.outcome import Outcome
from lab.scenario import Peer, Scenario

LEFT, RIGHT = "2001:db8:1:1::1", "2001:db8:2:2::2"
Change = Callable[[Scenario], Scenario]


def _ike(text: str) -> object:
    return parse_proposal(text, "ike", needs_dh=True)


def _esp(text: str) -> object:
    return parse_proposal(text, "esp", needs_dh=False)


def _right(s: Scenario, **changes: object) -> Scenario:
    return s.with_(right=replace(s.right, **changes))  # type: ignore[arg-type]


def _left(s: Scenario, **changes: object) -> Scenario:
    return s.with_(left=replace(s.left, **changes))  # type: ignore[arg-type]


@dataclass(frozen=True)
class Case:
    name: str
    what: str  # what is broken, for the cell's doc
    expect: str
    versions: tuple[tuple[int, int], ...]  # (initiator's, responder's) IKE version
    change: Change


CASES: tuple[Case, ...] = (
    Case("wrong-psk", "the responder holds another PSK", "authentication-failed",
         ((1, 1), (2, 2)), lambda s: _right(s, psk="not-the-secret")),
    Case("disjoint-ike", "IKE proposals share no transform set", "no-proposal-chosen",
         ((1, 1), (2, 2)), lambda s: _right(s, ike=_ike("aes256-sha256-modp2048"))),
    Case("disjoint-esp", "ESP proposals share no transform set", "no-proposal-chosen",
         ((1, 1), (2, 2)), lambda s: _right(s, esp=_esp("aes256-sha256"))),
    # a daemon refuses over the mode (other-mode where SAs come up all the same: below)
    Case("transport-vs-tunnel", "initiator transport, responder tunnel", "mode-mismatch",
         ((1, 1), (2, 2)), lambda s: _right(s, mode="tunnel")),
    Case("tunnel-vs-transport", "initiator tunnel, responder transport", "mode-mismatch",
         ((1, 1), (2, 2)), lambda s: _left(s, mode="tunnel")),
    Case("ikev1-vs-ikev2", "initiator IKEv1, responder IKEv2", "version-mismatch",
         ((1, 2),), lambda s: s),
    # an IKEv1-only responder has no IKEv2 connection and answers IKE_SA_INIT with the
    # catch-all NO_PROPOSAL_CHOSEN (Libreswan 4.10, 5.2; strongSwan 5.9): measured here
    Case("ikev2-vs-ikev1", "initiator IKEv2, responder IKEv1", "no-proposal-chosen",
         ((2, 1),), lambda s: s),
)

#: (case, IKE version label, initiator glob, responder glob) -> the class those daemons
#: really produce instead of the case's, and why (measured in this lab; the first that
#: matches applies)
EXPECTED_INSTEAD: dict[tuple[str, str, str, str], tuple[str, str]] = {
    # the two mode cases expect a refusal over the mode (mode-mismatch: pluto's "policy
    # requires Transport Mode but peer requires required Tunnel Mode"); where no daemon
    # refuses, SAs come up in a mode one side is not configured for: other-mode
    # (measured 2026-12-05 with Libreswan 4.10, 5.2, strongSwan 5.9.8, 6.1, racoon 0.8.2, 0.9.1)
    ("transport-vs-tunnel", "ikev2", "libreswan*", "strongswan*"): (
        "mode-mismatch", "charon (responder) answers in tunnel mode and pluto (initiator)"
        " refuses it"),
    ("transport-vs-tunnel", "ikev2", "strongswan*", "*"): (
        "other-mode", "the responder ignores charon's USE_TRANSPORT_MODE and charon"
        " (initiator) accepts the tunnel"),
    ("tunnel-vs-transport", "ikev2", "*", "strongswan*"): (
        "other-mode", "charon (responder) accepts the initiator's tunnel though it is"
        " configured for transport"),
    ("transport-vs-tunnel", "ikev1", "*", "libreswan*"): (
        "other-mode", "pluto (responder) accepts the mode of the initiator's IKEv1 proposal"),
    ("tunnel-vs-transport", "ikev1", "*", "libreswan*"): (
        "other-mode", "pluto (responder) accepts the mode of the initiator's IKEv1 proposal"),
    # IKEv1 Quick Mode carries the mode in the proposal; charon finds no child config for
    # it ("no matching CHILD_SA config found") and answers INVALID_ID_INFORMATION
    ("transport-vs-tunnel", "ikev1", "*", "strongswan*"): (
        "ts-unacceptable", "charon (responder) has no child config in the proposed mode"),
    ("tunnel-vs-transport", "ikev1", "*", "strongswan*"): (
        "ts-unacceptable", "charon (responder) has no child config in the proposed mode"),
    # charon 5.9 (built with IKEv1) has no IKEv1 connection for the peer and answers
    # NO_PROPOSAL_CHOSEN; charon 6 without IKEv1 says it does not speak IKEv1
    ("ikev1-vs-ikev2", "ikev1-ikev2", "*", "strongswan@bookworm"): (
        "no-proposal-chosen", "charon (responder) finds no IKE config for an IKEv1 peer and"
        " answers NO_PROPOSAL_CHOSEN"),
    # racoon (0.8.2 and 0.9.1) as responder, measured with every initiator: IKEv1 carries
    # the encapsulation mode in the phase-2 proposal, and racoon finds none that matches
    ("transport-vs-tunnel", "ikev1", "*", "racoon*"): (
        "no-proposal-chosen", "racoon (responder) matches the mode as part of the phase-2"
        " proposal and answers NO-PROPOSAL-CHOSEN"),
    ("tunnel-vs-transport", "ikev1", "*", "racoon*"): (
        "no-proposal-chosen", "racoon (responder) matches the mode as part of the phase-2"
        " proposal and answers NO-PROPOSAL-CHOSEN"),
    # an IKEv1-only racoon refuses the IKEv2 header ("invalid flag 0x08", IKEv2's Initiator
    # flag) and answers nothing
    ("ikev2-vs-ikev1", "ikev2-ikev1", "*", "racoon*"): (
        "version-mismatch", "racoon (responder) refuses IKEv2's header flag and answers"
        " nothing"),
}


def expected(case: Case, version: str, initiator: str, responder: str) -> tuple[str, str]:
    """The class a cell expects and why (the case's, unless a measured exception applies)."""
    for (name, v, i, r), (cls, why) in EXPECTED_INSTEAD.items():
        if name == case.name and v == version and fnmatch.fnmatch(initiator, i) \
                and fnmatch.fnmatch(responder, r):
            return cls, why
    return case.expect, case.what


@dataclass(frozen=True)
class NegativeCell:
    initiator: str
    responder: str
    case: Case
    versions: tuple[int, int]

    @property
    def version_label(self) -> str:
        i, r = self.versions
        return f"ikev{i}" if i == r else f"ikev{i}-ikev{r}"

    @property
    def id(self) -> str:
        """``libreswan_sid-strongswan_bookworm-wrong-psk-ikev2``: -k picks a flavor or pair."""
        return cell_id(self.initiator, self.responder, self.case.name, self.version_label)

    def scenario(self) -> Scenario:
        i, r = self.versions
        base = Scenario(
            name=self.id, left=Peer(LEFT, self.initiator, ike_version=i),
            right=Peer(RIGHT, self.responder, ike_version=r), ike_version=i, mode="transport",
            ike=_ike("aes128-sha1-modp2048"), esp=_esp("aes128-sha1"), pings=1)  # type: ignore[arg-type]
        cls, _ = expected(self.case, self.version_label, self.initiator, self.responder)
        return self.case.change(base).with_(expect=cls)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "negative" not in metafunc.fixturenames:
        return
    opt = metafunc.config.option
    try:
        selection = MatrixSelection.from_options(opt.lab_flavors, None, None, None, opt.lab_pairs)
    except LabError as exc:
        raise pytest.UsageError(str(exc)) from None
    pairs = selection.pairs or tuple((i, r) for i in selection.flavors for r in selection.flavors)
    cells = [NegativeCell(i, r, case, v) for i, r in pairs for case in CASES for v in case.versions
             if speaks(i, v[0]) and speaks(r, v[1])]
    metafunc.parametrize("negative", cells, ids=[c.id for c in cells])


@pytest.mark.lab
def test_negative(lab, negative: NegativeCell) -> None:
    scenario = negative.scenario()
    outcome = lab.run(scenario)
    assert isinstance(outcome, Outcome) and outcome.cls == scenario.expect
