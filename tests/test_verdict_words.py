"""The rest of the verdict's exact words and edges: an established outcome's text and
flag, the word listener's memory, each side's proposal and the rule's choice per kind,
the wire verdict's reserved SPI and sequence numbers, foreign packets and the lossy
responder, findings added twice, and which policies a teardown counts."""

from __future__ import annotations

import pytest

from lab.algorithms import Proposal, parse_proposal, parse_proposals
from lab.native import NativeLines
from lab.negotiated import Problem
from lab.outcome import ESTABLISHED, FAILURES, Listener, Outcome, Words, established, mode_mismatch
from lab.proposals import accepts, expected_for, expected_proposal
from lab.scenario import Peer, Scenario, seed_scenario
from lab.teardown import left_behind
from lab.wire.packets import parse_all
from lab.wire.traffic import PingResult
from lab.wire.verdict import judge
from lab.xfrm import SA, Policy
from tests.test_verdict import BACK, OUT, SAS, esp, good_frames, ping, verdict_of

L, R = "2001:db8:1:1::1", "2001:db8:2:2::2"


# -- outcome ---------------------------------------------------------------------------------

def scenario(**fields: object) -> Scenario:
    base: dict[str, object] = {"name": "o", "left": Peer(L, "libreswan"),
                               "right": Peer(R, "strongswan"), "mode": "transport"}
    return Scenario(**{**base, **fields})  # type: ignore[arg-type]


def test_an_established_outcome_lists_each_kernels_esp_spis() -> None:
    sas = {"left": [SA(L, R, 2, "esp", "transport", 1), SA(R, L, 1, "esp", "transport", 1),
                    SA(L, R, 9, "ah", "transport", 1)],
           "right": [SA(L, R, 2, "esp", "transport", 1), SA(R, L, 1, "esp", "transport", 1)]}
    outcome = established(scenario(), sas)
    assert outcome == Outcome(ESTABLISHED, "ESP SAs in both kernels: left 0x00000001, 0x00000002;"
                                           " right 0x00000001, 0x00000002", sas=True)
    assert str(outcome) == ("established: ESP SAs in both kernels: left 0x00000001, 0x00000002;"
                            " right 0x00000001, 0x00000002")


def test_a_mode_mismatch_is_established_sas_of_the_other_mode() -> None:
    sas = {"left": [SA(L, R, 2, "esp", "tunnel", 1), SA(R, L, 1, "esp", "transport", 1),
                    SA(R, L, 3, "ah", "beet", 1)]}
    words = ("left (libreswan) configured transport, negotiated transport/tunnel;"
             " right (strongswan) configured transport, negotiated none")
    assert mode_mismatch(scenario(), sas) == words
    assert established(scenario(), sas) == Outcome("other-mode",
                                                   f"SAs established, but {words}", sas=True)


def test_the_listener_remembers_each_line_from_when_it_was_first_seen() -> None:
    slow = Words("NO_PROPOSAL_CHOSEN", "no-proposal-chosen", grace=2.0)
    listener = Listener([slow])
    assert listener.final(["x NO_PROPOSAL_CHOSEN", "other"], 10.0) is None
    assert listener.pending() == ["x NO_PROPOSAL_CHOSEN"]
    assert listener.final(["x NO_PROPOSAL_CHOSEN"], 11.0) is None
    assert listener.final(["x NO_PROPOSAL_CHOSEN"], 12.0) == ("x NO_PROPOSAL_CHOSEN", slow)


def test_a_word_of_no_failure_class_is_refused_naming_the_classes() -> None:
    with pytest.raises(ValueError) as exc:
        Words("x", "established")
    assert str(exc.value) == ("Words('x'): class 'established' is not a failure class (allowed:"
                              " no-proposal-chosen, authentication-failed, ts-unacceptable,"
                              " mode-mismatch, other-mode, version-mismatch, timeout)")
    assert len(FAILURES) == 7


# -- proposals ---------------------------------------------------------------------------------

def p(text: str, kind: str = "ike") -> Proposal:
    return parse_proposal(text, kind, needs_dh=kind == "ike")


def test_a_pfs_group_on_one_side_only_is_no_match() -> None:
    assert not accepts(p("aes128-sha1", "esp"), p("aes128-sha1-modp2048", "esp"))
    assert not accepts(p("aes128-sha1-modp2048", "esp"), p("aes128-sha1", "esp"))
    assert accepts(p("aes128-sha1-modp2048", "esp"), p("aes128-sha1-modp2048", "esp"))


def test_each_side_against_its_own_single_proposal_of_each_kind() -> None:
    s = scenario(left=Peer(L, "libreswan", ike=p("aes256-sha256-modp3072"), esp=p("aes256-sha256", "esp")),
                 right=Peer(R, "strongswan", ike=p("aes128-sha1-modp2048"), esp=p("aes128-sha1", "esp")))
    assert [str(expected_for(s, side, kind)) for side in ("left", "right") for kind in ("ike", "esp")] \
        == ["aes256-sha256-modp3072", "aes256-sha256", "aes128-sha1-modp2048", "aes128-sha1"]


def test_with_a_list_on_one_side_the_rules_choice_of_that_kind() -> None:
    s = scenario(ike_version=2,
                 left=Peer(L, "libreswan", ike=parse_proposals(
                     ["aes256-sha256-modp3072", "aes128-sha1-modp2048"], "ike", needs_dh=True),
                     esp=parse_proposals(["aes256-sha256", "aes128-sha1"], "esp", needs_dh=False)),
                 right=Peer(R, "strongswan", ike=p("aes128-sha1-modp2048"),
                            esp=p("aes128-sha1", "esp")))
    for side in ("left", "right"):
        assert str(expected_for(s, side, "ike")) == "aes128-sha1-modp2048"
        assert str(expected_for(s, side, "esp")) == "aes128-sha1"
    assert str(expected_proposal(s)) == "aes128-sha1"  # ESP unless told
    # a list of IKE proposals, one ESP proposal a side: IKE goes by the rule, ESP by each side's
    one_esp = s.with_(left=Peer(L, "libreswan", ike=s.left.ike, esp=p("aes256-sha256", "esp")))
    assert str(expected_for(one_esp, "left", "ike")) == "aes128-sha1-modp2048"
    assert str(expected_for(one_esp, "left", "esp")) == "aes256-sha256"


def test_the_responders_own_driver_and_settings_decide() -> None:
    ike = parse_proposals(["aes256-sha256-modp3072", "aes128-sha1-modp2048"], "ike", needs_dh=True)
    # racoon responds on the left in the initiator's order; libreswan would take its own
    s = scenario(ike_version=1, initiator="right", left=Peer(L, "racoon", ike=ike[::-1]),
                 right=Peer(R, "libreswan", ike=ike))
    assert str(expected_proposal(s, "ike")) == "aes256-sha256-modp3072"
    off = (NativeLines("strongswan", "charon", ("prefer_configured_proposals = no",)),)
    s = scenario(initiator="right", left=Peer(L, "strongswan", ike=ike[::-1], native=off),
                 right=Peer(R, "strongswan", ike=ike))
    assert str(expected_proposal(s, "ike")) == "aes256-sha256-modp3072"


# -- the wire verdict ----------------------------------------------------------------------------

def test_a_reserved_spi_or_sequence_number_on_the_wire_is_named() -> None:
    frames = [f for f in good_frames() if f != esp(L, R, OUT, 1)] + [esp(L, R, OUT, 0)]
    problems = verdict_of(frames).problems
    assert problems == [f"(c) {L} -> {R} spi 0x{OUT:08x}: sequence numbers [2, 3, 0], expected"
                        " 1, 2, 3, ..."]
    frames = [*good_frames(), esp(L, R, 0, 4)]
    problems = verdict_of(frames).problems
    assert problems[0] == (f"(b) {L} -> {R}: SPIs expected {{0x{OUT:08x}}}, seen"
                           f" {{0x00000000, 0x{OUT:08x}}}")


def test_packets_between_other_hosts_are_passed_over() -> None:
    frames = [esp("2001:db8::7", R, 5, 1), *good_frames()]
    assert verdict_of(frames).problems == []


def test_a_lossy_responder_on_the_left_is_counted_as_the_responder() -> None:
    from lab.matrix import MatrixCell

    cell = MatrixCell("libreswan@sid", "strongswan@sid", 2, "tunnel", "aes128-sha1", "routed",
                      "ipv6", "psk", "loss20").scenario()
    s = cell.with_(initiator="right")
    a, b = s.left.address, s.right.address
    sas = {side: [SA(b, a, OUT, "esp", "tunnel", 1), SA(a, b, BACK, "esp", "tunnel", 1)]
           for side in ("left", "right")}
    frames = [esp(b, a, OUT, i) for i in (1, 2, 3)] + [esp(a, b, BACK, i) for i in (1, 2, 3, 4)]
    problems = judge(s, parse_all(frames), sas, ping()).problems
    assert problems == ["(d) the responder sent 4 ESP packets, expected 3..3 (replies received"
                        " ... requests sent)"]


def test_findings_added_twice_keep_the_wire_problems_and_both() -> None:
    v = verdict_of(good_frames(), p=PingResult(1, [1, 2, 3, 4], [1, 2, 3]))
    wire = list(v.problems)
    v.add([Problem("esp", "esp: one")])
    v.add([Problem("ike", "ike: two")])
    assert v.problems == [*wire, "esp: one", "ike: two"]
    assert [f.kind for f in v.findings] == ["esp", "ike"]
    assert SAS["left"][0].spi == OUT and SAS["left"][1].spi == BACK


# -- teardown ------------------------------------------------------------------------------------

def test_which_policies_a_teardown_counts() -> None:
    cell = Policy("out", R, 128, L, 128, 0, True, "allow")
    half = Policy("in", R, 128, "::", 0, 0, True, "allow")
    socket = Policy("4", R, 128, L, 128, 0, False, "allow")
    items, notes = left_behind([], [cell, half, socket], baseline={cell})
    assert (items, notes) == ([f"policy {half}"], [])
    assert seed_scenario().left.address == L
