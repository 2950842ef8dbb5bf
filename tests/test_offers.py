"""What a daemon says it offers (recorded from the real daemons), and what two offers must
negotiate: IKEv2's rule with the preferred side's order first (lab.offers), and where the
verdict's expectation comes from (lab.proposals.wanted)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lab.algorithms import Proposal, parse_proposal
from lab.daemons.libreswan.pluto_log import parse_pluto_offers
from lab.daemons.strongswan.status import parse_list_conns, parse_logged_proposals
from lab.daemons.strongswan.vici import vici_decode
from lab.expected import Stated
from lab.native import NativeLines
from lab.negotiated import Side, check, expectations
from lab.offers import Chosen, Offered, from_proposal, select, show_offers
from lab.proposals import Want, offers_of, wanted
from lab.scenario import Peer, Scenario
from lab.status import DaemonStatus, IkeStatus
from lab.xfrm import SA

FIXTURES = Path(__file__).parent / "fixtures"
L, R = "2001:db8:1:1::1", "2001:db8:2:2::2"


def pluto(version: str) -> dict[str, tuple[Offered, ...]]:
    return parse_pluto_offers((FIXTURES / f"pluto-{version}-ikev2-default-offers.log").read_text(), "lab")


def charon_6() -> dict[str, tuple[Offered, ...]]:
    raw = json.loads((FIXTURES / "vici-list-conns-6.1.0-default.json").read_text())
    return parse_list_conns([vici_decode(bytes.fromhex(e)) for e in raw["list-conn"]], "lab")


def charon_5() -> dict[str, tuple[Offered, ...]]:
    return parse_logged_proposals((FIXTURES / "charon-5.9.8-cfg2-default-proposals.log").read_text())


def test_pluto_names_its_default_lists_in_its_log() -> None:
    offers = pluto("5.2")
    assert [str(o) for o in offers["esp"]][:2] == ["aes256gcm16-esn+noesn", "aes128gcm16-esn+noesn"]
    first = offers["ike"][0]
    assert (first.ciphers, first.integrity, first.prfs) == (("aes256gcm16",), (), ("sha512", "sha256"))
    assert first.groups[:4] == ("ecp256", "ecp384", "ecp521", "curve25519")
    assert len(offers["ike"]) == 5 and offers["ike"][3].integrity == ("sha512", "sha256")
    old = pluto("4.10")  # AES_GCM_C, ENABLED+DISABLED
    assert old["ike"][0].ciphers == ("aes256gcm16",) and old["ike"][0].groups[0] == "modp2048"
    assert old["esp"][0].esn == (True, False) and len(old["ike"]) == 4
    assert parse_pluto_offers("nothing here", "lab") == {}


def test_charon_names_its_default_lists_over_vici_or_in_its_log() -> None:
    six = charon_6()
    assert six["ike"][0].ciphers[:3] == ("aes128", "aes192", "aes256")
    assert six["ike"][0].prfs[0] == "sha256" and six["ike"][0].groups[0] == "ecp256"
    assert six["ike"][1].ciphers[0] == "aes128gcm16" and six["ike"][1].integrity == ()
    assert six["esp"][0].ciphers == ("aes128gcm16", "aes192gcm16", "aes256gcm16")
    assert six["esp"][0].esn == (False,)
    five = charon_5()  # 5.9: non-AEAD first everywhere, curve25519 its first group
    assert five["ike"][0].groups[0] == "curve25519" and "ECP256BP" in five["ike"][0].groups
    assert five["esp"][0].integrity[:2] == ("sha256", "sha384") and five["esp"][1].integrity == ()
    assert parse_list_conns([], "lab") == {}


@pytest.mark.parametrize(("initiator", "responder", "ike", "esp", "esn"), [
    # measured with the daemons' defaults on both sides (strongswan@sid initiating, ...)
    (charon_6, lambda: pluto("5.2"), "aes256gcm16-prfsha512-ecp256", "aes256gcm16", False),
    (lambda: pluto("5.2"), charon_6, "aes256-sha256-ecp256", "aes256gcm16", False),
    (lambda: pluto("4.10"), charon_5, "aes256-sha256-curve25519", "aes256-sha256", False),
    (lambda: pluto("5.2"), lambda: pluto("4.10"), "aes256gcm16-prfsha512-modp2048", "aes256gcm16", True),
    (charon_5, charon_6, "aes128-sha256-ecp256", "aes128gcm16", False),
    (charon_6, charon_5, "aes128-sha256-curve25519", "aes128-sha256", False),
])
def test_the_responders_order_first_as_measured(initiator, responder, ike, esp, esn) -> None:
    i, r = initiator(), responder()
    assert select(i["ike"], r["ike"], "ike") == Chosen(parse_proposal(ike, "ike", needs_dh=True), None)
    assert select(i["esp"], r["esp"], "esp") == Chosen(parse_proposal(esp, "esp", needs_dh=False), esn)


def test_the_initiators_order_when_the_responder_follows_it() -> None:
    a = (Offered(("aes128", "aes256"), ("sha1",), ("sha1",), ("modp2048", "ecp256")),)
    b = (Offered(("aes256", "aes128"), ("sha1",), ("sha1",), ("ecp256", "modp2048")),)
    assert str(select(a, b, "ike", "initiator").proposal) == "aes128-sha1-modp2048"  # type: ignore[union-attr]
    assert str(select(a, b, "ike", "responder").proposal) == "aes256-sha1-ecp256"  # type: ignore[union-attr]
    assert select(a, (Offered(("3des",), ("sha1",), ("sha1",), ("modp2048",)),), "ike") is None
    # an AEAD offer never matches one with integrity; an algorithm without a neutral name
    aead = (Offered(("aes128gcm16",), (), ("sha256",), ("ecp256",)),)
    assert select(a, aead, "ike") is None
    odd = (Offered(("CAMELLIACBC128",), ("sha1",), ("sha1",), ("ecp256",)),)
    assert select(odd, odd, "ike") == Chosen(None, None, "cipher CAMELLIACBC128")
    # the scenario's AEAD proposal leaves its PRF open: the other side's first
    open_prf = (from_proposal(parse_proposal("aes128gcm16-ecp256", "ike", needs_dh=True), "ike"),)
    assert str(select(open_prf, aead, "ike").proposal) == "aes128gcm16-prfsha256-ecp256"  # type: ignore[union-attr]


def _scenario(left_ike: object = (), right_ike: object = (), **top: object) -> Scenario:
    return Scenario("t", Peer(L, "strongswan@sid", ike=left_ike), Peer(R, "libreswan@sid", ike=right_ike),  # type: ignore[arg-type]
                    ike=(), esp=(), **top)  # type: ignore[arg-type]


Offers = dict[str, tuple[Offered, ...]]


def _statuses(left: Offers, right: Offers) -> dict[str, DaemonStatus]:
    return {"left": DaemonStatus("l", offers=left), "right": DaemonStatus("r", offers=right)}


def test_where_the_verdicts_expectation_comes_from() -> None:
    both = _statuses(charon_6(), pluto("5.2"))
    w = wanted(_scenario(), "left", "ike", both)
    assert (str(w.proposal), w.how) == ("aes256gcm16-prfsha512-ecp256", "defaults")
    assert w.note == ("worked out from what left (strongswan@sid) and right (libreswan@sid)"
                      " offer, the responder's order first")
    esp = wanted(_scenario(), "right", "esp", both)
    assert (str(esp.proposal), esp.esn, esp.pfs) == ("aes256gcm16", False, False)
    # stated wins, for both sides; ESN stated alone keeps the worked-out proposal
    stated = _scenario(negotiated=Stated(ike=Proposal("aes256", "sha256", "ecp256")))
    assert (str(wanted(stated, "right", "ike", both).proposal), wanted(stated, "right", "ike").how) \
        == ("aes256-sha256-ecp256", "stated")
    esn = wanted(_scenario(negotiated=Stated(esn=True)), "left", "esp", both)
    assert (str(esn.proposal), esn.esn, esn.how) == ("aes256gcm16", True, "defaults")
    # a daemon that names no list: the other side's only proposal forces the result
    one = Proposal("aes128", "sha256", "modp3072")
    forced = wanted(_scenario(right_ike=one), "left", "ike", {})
    assert (forced.proposal, forced.how) == (one, "forced")
    assert forced.note == "right (libreswan@sid)'s only proposal"
    unknown = wanted(_scenario(), "left", "ike", _statuses({}, pluto("5.2")))
    assert (unknown.proposal, unknown.how) == (None, "unknown")
    assert unknown.note == "nothing: left (strongswan@sid) names no list of its default proposals"
    v1 = wanted(_scenario(ike_version=1), "left", "ike", both)
    assert v1.note == "nothing: IKEv1's default lists are not worked out"
    # both sides with one proposal: each side's own (configured), as before
    two = wanted(_scenario(left_ike=one, right_ike=one), "left", "ike")
    assert (two.proposal, two.how) == (one, "configured")


# -- the listing's lines on what the negotiation was compared with --------------------------

def _esp(*names: str) -> tuple[Proposal, ...]:
    return tuple(parse_proposal(n, "esp", needs_dh=False) for n in names)


def _esp_scenario(left_esp: tuple, right_esp: tuple, **top: object) -> Scenario:
    one = Proposal("aes128", "sha256", "modp3072")
    return Scenario("t", Peer(L, "strongswan@sid", ike=one, esp=left_esp),  # type: ignore[arg-type]
                    Peer(R, "libreswan@sid", ike=one, esp=right_esp), ike=(), esp=(), **top)  # type: ignore[arg-type]


WORKED_OUT = ("(worked out from what left (strongswan@sid) and right (libreswan@sid) offer,"
              " the responder's order first)")


def test_the_listing_names_the_default_lists_and_what_they_must_negotiate() -> None:
    both = _statuses(charon_6(), pluto("5.2"))
    six, five_two = charon_6(), pluto("5.2")
    assert expectations(_scenario(), both) == [
        f"expected IKE: aes256gcm16-prfsha512-ecp256 {WORKED_OUT}",
        f"  left offers {show_offers(six['ike'])}",
        f"  right offers {show_offers(five_two['ike'])}",
        f"expected ESP: aes256gcm16, ESN off, PFS group not checked {WORKED_OUT}",
        f"  left offers {show_offers(six['esp'])}",
        "  right offers aes256gcm16-esn+noesn, aes128gcm16-esn+noesn, chacha20poly1305-esn+noesn,"
        " aes256-sha512+sha256-esn+noesn, aes128-sha512+sha256-esn+noesn"]
    assert show_offers(six["ike"]).startswith("aes128+aes192+aes256+AESCTR128+")
    stated = _scenario(negotiated=Stated(ike=Proposal("aes256", "sha256", "ecp256"), esn=True))
    assert expectations(stated, both)[:2] == [
        "expected IKE: aes256-sha256-ecp256 ([negotiated] ike = 'aes256-sha256-ecp256')",
        f"expected ESP: aes256gcm16, ESN on, PFS group not checked {WORKED_OUT}"]
    # the whole check's listing ends with them, worked out from the statuses it was given
    sides = {"left": Side("left", "strongswan 6.1.0", L), "right": Side("right", "libreswan 5.2", R)}
    lines = check(_scenario(), {"left": [], "right": []}, both, sides).lines
    assert lines[-6:] == expectations(_scenario(), both)


def test_the_listing_names_nothing_to_compare_with() -> None:
    assert expectations(_scenario(), _statuses({}, pluto("5.2"))) == [
        f"expected {kind}: not checked (nothing: left (strongswan@sid) names no list of its"
        " default proposals)" for kind in ("IKE", "ESP")]
    one = Proposal("aes128", "sha256", "modp3072")
    assert expectations(_scenario(right_ike=one), {})[0] == \
        "expected IKE: aes128-sha256-modp3072 (right (libreswan@sid)'s only proposal)"


def test_the_listing_on_configured_chosen_forced_and_stated_esp() -> None:
    """Both sides' one proposal is no line (each side is held to its own) unless the
    scenario states the ESN; the initiator's (left's) own is the one named then."""
    differ = (_esp("aes128-sha1"), _esp("aes256-sha256"))
    assert expectations(_esp_scenario(*differ), {}) == []
    assert expectations(_esp_scenario(*differ, negotiated=Stated(esn=True)), {}) == [
        "expected ESP: aes128-sha1, ESN on ([negotiated] esn = true)"]
    assert expectations(_esp_scenario(*differ, negotiated=Stated(esn=False)), {}) == [
        "expected ESP: aes128-sha1, ESN off ([negotiated] esn = false)"]
    chosen = _esp_scenario(_esp("aes128-sha1-modp2048"), _esp("aes256-sha256", "aes128-sha1-modp2048"))
    assert expectations(chosen, {}) == ["expected ESP: aes128-sha1-modp2048 (the rule: chosen)"]
    forced = _esp_scenario(_esp("aes128-sha1-modp2048"), ())
    assert expectations(forced, {}) == [
        "expected ESP: aes128-sha1-modp2048, PFS group not checked (left (strongswan@sid)'s only proposal)"]
    stated = _esp_scenario(*differ, negotiated=Stated(esp=_esp("aes256-sha256-ecp256")[0]))
    assert expectations(stated, {}) == [
        "expected ESP: aes256-sha256-ecp256 ([negotiated] esp = 'aes256-sha256-ecp256')"]


def test_the_responders_driver_and_settings_decide_the_worked_out_choice() -> None:
    """right (pluto) initiates; left's charon responds, in its own order unless its native
    charon lines turn prefer_configured_proposals off."""
    both = _statuses(charon_6(), pluto("5.2"))
    off = (NativeLines("strongswan", "charon", ("prefer_configured_proposals = no",)),)
    words = "worked out from what right (libreswan@sid) and left (strongswan@sid) offer, the {}'s order first"
    own = Scenario("t", Peer(L, "strongswan@sid"), Peer(R, "libreswan@sid"), ike=(), esp=(),  # type: ignore[arg-type]
                   initiator="right")
    w = wanted(own, "left", "ike", both)
    assert (str(w.proposal), w.how, w.note) == ("aes256-sha256-ecp256", "defaults", words.format("responder"))
    theirs = own.with_(left=Peer(L, "strongswan@sid", native=off))
    w = wanted(theirs, "left", "ike", both)
    assert (str(w.proposal), w.how, w.note) == ("aes256gcm16-prfsha512-ecp256", "defaults",
                                                words.format("initiator"))
    esp = wanted(theirs, "right", "esp", both)
    assert (str(esp.proposal), esp.esn, esp.pfs) == ("aes256gcm16", False, False)


def test_offers_that_share_nothing_or_choose_an_unnamed_algorithm_are_not_checked() -> None:
    words = ("worked out from what left (strongswan@sid) and right (libreswan@sid) offer,"
             " the responder's order first")
    a = {"ike": (Offered(("aes128",), ("sha1",), ("sha1",), ("modp2048",)),)}
    b = {"ike": (Offered(("3des",), ("sha1",), ("sha1",), ("modp2048",)),)}
    odd = {"ike": (Offered(("CAMELLIACBC128",), ("sha1",), ("sha1",), ("ecp256",)),)}
    assert wanted(_scenario(), "left", "ike", _statuses(a, b)) == Want(
        None, "unknown", note=f"nothing: the offers share no proposal ({words})")
    assert wanted(_scenario(), "left", "ike", _statuses(odd, odd)) == Want(
        None, "unknown", note=f"nothing: the choice's cipher CAMELLIACBC128 has no name in the lab ({words})")
    # neither daemon names its list: both named; one side on IKEv1: not worked out
    assert expectations(_scenario(), {})[0] == (
        "expected IKE: not checked (nothing: left (strongswan@sid) names no list of its default"
        " proposals and right (libreswan@sid) names no list of its default proposals)")
    both = _statuses(charon_6(), pluto("5.2"))
    for left, right in ((1, None), (None, 1)):
        v1 = Scenario("t", Peer(L, "strongswan@sid", ike_version=left),
                      Peer(R, "libreswan@sid", ike_version=right), ike=(), esp=())  # type: ignore[arg-type]
        assert wanted(v1, "left", "ike", both) == Want(
            None, "unknown", note="nothing: IKEv1's default lists are not worked out")


def test_one_side_configured_the_other_default() -> None:
    """left's one IKE proposal is its whole offer (its PRF the integrity's, its group);
    its ESP is still its daemon's own list."""
    both = _statuses(charon_6(), pluto("5.2"))
    lines = expectations(_scenario(left_ike=Proposal("aes128", "sha256", "ecp256")), both)
    worked = WORKED_OUT
    assert lines[:2] == [f"expected IKE: aes128-sha256-ecp256 {worked}",
                         "  left offers aes128-sha256-prfsha256-ecp256"]
    assert lines[3:] == [
        f"expected ESP: aes256gcm16, ESN off, PFS group not checked {worked}",
        f"  left offers {show_offers(charon_6()['esp'])}",
        "  right offers aes256gcm16-esn+noesn, aes128gcm16-esn+noesn, chacha20poly1305-esn+noesn,"
        " aes256-sha512+sha256-esn+noesn, aes128-sha512+sha256-esn+noesn"]


def test_a_configured_strongswan_proposal_offers_no_esn_against_pluto_defaults() -> None:
    """charon with one configured ESP proposal (no esn keyword) offers no ESN only; against
    pluto 5.2's defaults (ESN first) the result is ESN off, as measured (it was expected on,
    and the real cell failed: "negotiated ESN off, expected on"). A configured Libreswan
    proposal leaves ESN to the peer."""
    both = _statuses(charon_6(), pluto("5.2"))
    scenario = _esp_scenario(_esp("aes128gcm16"), ())
    assert wanted(scenario, "left", "esp", both) == Want(
        _esp("aes128gcm16")[0], "defaults", esn=False, pfs=False, note=WORKED_OUT[1:-1])
    offers = offers_of(scenario, "esp", both)
    assert offers["left"] == (Offered(("aes128gcm16",), (), esn=(False,)),)
    libreswan_left = Scenario("t", Peer(L, "libreswan@sid", ike=Proposal("aes128", "sha256", "modp3072"),
                                        esp=_esp("aes128gcm16")),
                              Peer(R, "libreswan@sid", ike=Proposal("aes128", "sha256", "modp3072"),
                                   esp=()), ike=(), esp=())  # type: ignore[arg-type]
    assert offers_of(libreswan_left, "esp", both)["left"] == (Offered(("aes128gcm16",), ()),)


def test_a_stated_esp_keeps_the_stated_esn_and_a_stated_esn_alone_its_note() -> None:
    both = _statuses(charon_6(), pluto("5.2"))
    stated = _esp_scenario(_esp("aes128-sha1"), (), negotiated=Stated(esp=_esp("aes256-sha256")[0], esn=True))
    assert wanted(stated, "left", "esp", both) == Want(
        _esp("aes256-sha256")[0], "stated", esn=True, note="[negotiated] esp = 'aes256-sha256'")
    # right's daemon names no list: left's only proposal forces the result, the ESN stated
    assert wanted(stated.with_(negotiated=Stated(esn=True)), "left", "esp", {}) == Want(
        _esp("aes128-sha1")[0], "forced", esn=True, pfs=False, note="left (strongswan@sid)'s only proposal")


# -- charon's words, over VICI and in its log ---------------------------------------------------

def _list_conn() -> dict:
    raw = json.loads((FIXTURES / "vici-list-conns-6.1.0-default.json").read_text())
    return vici_decode(bytes.fromhex(raw["list-conn"][0]))


def test_list_conns_skips_other_events_and_reads_the_older_key_names() -> None:
    event = _list_conn()
    assert parse_list_conns([{}, {"lab": "no section"}, event], "lab") == charon_6()
    # no Child of that name: its IKE proposals only
    event["lab"]["children"] = {}
    assert list(parse_list_conns([event], "lab")) == ["ike"]
    del event["lab"]["children"]
    assert parse_list_conns([event], "lab")["ike"] == charon_6()["ike"]
    # 'dh' and 'esn' where 'ke' and 'sn' are not
    event = _list_conn()
    child = event["lab"]["children"]["lab"]["esp_proposals"]["0"]
    child["dh"], child["esn"] = child.pop("ke"), child.pop("sn")
    first = parse_list_conns([event], "lab")["esp"][0]
    assert first == charon_6()["esp"][0]
    assert (first.groups[-2:], first.esn) == (("modp2048", "none"), (False,))


def test_charons_logged_words_are_told_by_their_kind() -> None:
    text = ("Dec  5 19:17:17.602 15[CFG] added configuration 'lab'\n"
            "Dec  5 19:17:17.602 15[CFG]   proposals = IKE:AES_CBC_128/HMAC_SHA2_256_96/HMAC_MD5_128"
            "/PRF_HMAC_SHA2_256/MODP_6144/ECP_256_BP/KE1_ML_KEM_768\n"
            "Dec  5 19:17:17.602 15[CFG]    proposals = AH:HMAC_SHA1_96/NO_EXT_SEQ\n")
    assert parse_logged_proposals(text) == {"ike": (Offered(
        ("aes128",), ("HMACSHA225696", "HMACMD5128"), ("sha256",), ("MODP6144", "ECP256BP", "KE1MLKEM768")),)}


def test_pluto_offers_with_a_pfs_group_and_lines_of_another_shape() -> None:
    text = ('"lab": Child SA proposals (connection add):\n'
            '"lab":   1:ESP=AES_CBC_128-HMAC_SHA2_256_128-MODP2048+ECP_256-ESN:NO\n'
            '"lab":   2:ESP=AES_CBC_128-HMAC_SHA2_256_128-NONE\n'
            '"other":   1:IKE=AES_CBC_128-HMAC_SHA2_256-HMAC_SHA2_256_128-MODP2048\n'
            '"lab":   3:IKE=AES_CBC_128-HMAC_SHA2_256-HMAC_SHA2_256_128-MODP2048\n')
    assert parse_pluto_offers(text, "lab") == {"esp": (
        Offered(("aes128",), ("sha256",), groups=("modp2048", "ecp256"), esn=(False,)),)}


def test_the_whole_check_holds_default_sides_to_what_their_offers_work_out() -> None:
    both = _statuses(charon_6(), pluto("5.2"))
    for status in both.values():
        status.ike = IkeStatus(2, "aes128", "sha1", "sha1", "modp2048", None, None)
    sides = {"left": Side("left", "strongswan 6.1.0", L), "right": Side("right", "libreswan 5.2", R)}
    key, akey = "00112233445566778899aabbccddeeff", "0123456789abcdef0123456789abcdef01234567"
    out = SA(L, R, 0xC41712CF, "esp", "tunnel", 1, enc=("cbc(aes)", key), auth=("hmac(sha1)", akey, 96))
    back = SA(R, L, 0xBC046E28, "esp", "tunnel", 1, enc=("cbc(aes)", key[::-1]),
              auth=("hmac(sha1)", akey[::-1], 96))
    held = {"left": [out, back], "right": [out, back]}
    problems = check(_scenario(mode="tunnel"), held, both, sides).problems
    expected = f"; {WORKED_OUT[1:]}"
    assert [(p.kind, str(p)) for p in problems] == [
        (text[:3], text) for side, source in zip(sides.values(), "lr", strict=True) for text in (
        "esp: negotiated ESP aes128-sha1 (cbc(aes) 128-bit key, hmac(sha1) 96-bit ICV), expected"
        " aes256gcm16 (rfc4106(gcm(aes)) 288-bit key incl. salt, 128-bit ICV)"
        f" ({side}'s kernel, spis 0xc41712cf, 0xbc046e28{expected}",
        "ike: negotiated IKE cipher aes128, expected aes256gcm16, negotiated IKE integrity sha1,"
        " expected none, negotiated IKE prf sha1, expected sha512, negotiated IKE group modp2048,"
        f" expected ecp256 ({side}, {source}{expected}")]
