"""The negotiated parameters: the daemons' status parsers on recorded outputs, the two
kernels' agreement, the match with the scenario, and the teardown findings. Each check
is broken on purpose here and must fail naming the field and both values."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from lab.algorithms import parse_proposal
from lab.daemons.libreswan.pluto_log import parse_pluto_log
from lab.daemons.racoon.parse import racoon_status
from lab.daemons.strongswan.status import parse_list_sas
from lab.daemons.strongswan.vici import vici_decode
from lab.expected import Stated
from lab.negotiated import Problem, Side, against_scenario, agreement, check, only_mode_mismatch
from lab.scenario import Peer, seed_scenario
from lab.status import ChildStatus, DaemonStatus, IkeStatus
from lab.teardown import check as teardown_check
from lab.teardown import left_behind
from lab.xfrm import SA, Policy, Selector, parse_sa

FIXTURES = Path(__file__).parent / "fixtures"
L, R = "2001:db8:1:1::1", "2001:db8:2:2::2"
KEY, AKEY = "00112233445566778899aabbccddeeff", "0123456789abcdef0123456789abcdef01234567"
OUT = SA(L, R, 0xC41712CF, "esp", "tunnel", 1, enc=("cbc(aes)", KEY),
         auth=("hmac(sha1)", AKEY, 96))
BACK = SA(R, L, 0xBC046E28, "esp", "tunnel", 1, enc=("cbc(aes)", KEY[::-1]),
          auth=("hmac(sha1)", AKEY[::-1], 96))
SIDES = {"left": Side("left", "libreswan 5.2", L), "right": Side("right", "strongswan 6.1.0", R)}
SCENARIO = seed_scenario(ike_version=2, mode="tunnel", ike="aes128-sha1-modp2048")


def held(*sas: SA) -> dict[str, list[SA]]:
    return {"left": list(sas), "right": [OUT, BACK]}


def ike_status(**changes: object) -> DaemonStatus:
    ike = IkeStatus(2, "aes128", "sha1", "sha1", "modp2048", None, R)
    return DaemonStatus("test", ike=replace(ike, **changes))  # type: ignore[arg-type]


def statuses(left: DaemonStatus | None = None) -> dict[str, DaemonStatus]:
    return {"left": left or ike_status(),
            "right": ike_status(local_id=R, remote_id=L)}


# -- the status parsers on recorded outputs ----------------------------------------------

def test_pluto_5_2_ikev2_initiator_aead() -> None:
    text = (FIXTURES / "pluto-5.2-ikev2-initiator-transport-aes128gcm16.log").read_text()
    st = parse_pluto_log(text, 2)
    assert st.ike == IkeStatus(2, "aes128gcm16", "none", "sha256", "modp2048", None, R)
    assert st.children == [ChildStatus(0x89EA3EE6, 0xCC9EB911, "transport", "aes128gcm16",
                                       "none", None)]


def test_pluto_4_10_ikev2_responder() -> None:
    text = (FIXTURES / "pluto-4.10-ikev2-responder-tunnel-aes128-sha1.log").read_text()
    st = parse_pluto_log(text, 2)
    assert st.ike == IkeStatus(2, "aes128", "sha1", "sha1", "modp2048", None, L)
    assert st.children == [ChildStatus(0x6E7639E3, 0xC42A601C, "tunnel", "aes128", "sha1", None)]


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("pluto-*ikev1*.log")))
def test_pluto_ikev1(name: str) -> None:
    st = parse_pluto_log((FIXTURES / name).read_text(), 1)
    assert st.ike is not None and st.ike.cipher == "aes128" and st.ike.dh == "modp2048"
    assert st.ike.prf == st.ike.integrity  # IKEv1: HMAC with the negotiated hash
    assert st.ike.remote_id in (L, R)
    assert st.children and st.children[-1].pfs == ("none" if "initiator" in name else None)


def vici_events(name: str) -> list:
    recorded = json.loads((FIXTURES / name).read_text())
    return [vici_decode(bytes.fromhex(e)) for e in recorded["list-sa"]]


def test_vici_6_1_0_responder_aead() -> None:
    st = parse_list_sas(vici_events("vici-list-sas-6.1.0-responder-tunnel-aes128gcm16.json"), "lab")
    assert st.ike == IkeStatus(2, "aes128gcm16", "none", "sha256", "modp2048", R, L)
    assert st.children == [ChildStatus(0xCD87C31F, 0xDCEF6488, "tunnel", "aes128gcm16", "none",
                                       None)]


def test_vici_5_9_8_initiator() -> None:
    st = parse_list_sas(vici_events("vici-list-sas-5.9.8-initiator-tunnel-aes128-sha1.json"), "lab")
    assert st.ike == IkeStatus(2, "aes128", "sha1", "sha1", "modp2048", L, R)
    assert st.children == [ChildStatus(0xC42A601C, 0x6E7639E3, "tunnel", "aes128", "sha1", None)]
    assert parse_list_sas(vici_events("vici-list-sas-5.9.8-initiator-tunnel-aes128-sha1.json"),
                          "other").error == "no IKE SA of connection 'other' listed"


def test_vici_a_rekeyed_child_on_its_way_out_is_no_claim() -> None:
    """During a chain of short rekeys charon lists the replaced Child SA (REKEYED, DELETED:
    its outbound SA gone, the inbound one kept for the delete delay) beside the new one, in
    no fixed order: only the installed one is what the daemon says it carries."""
    events = vici_events("vici-list-sas-5.9.8-initiator-tunnel-aes128-sha1.json")
    ike = events[0]["lab"]
    (name, child), = ike["child-sas"].items()
    for state in ("REKEYED", "DELETING", "DELETED", "DESTROYING"):
        old = dict(child, state=state, **{"spi-in": "0000aaaa", "spi-out": "0000bbbb"})
        ike["child-sas"] = {name: child, "lab-0": old}
        st = parse_list_sas(events, "lab")
        assert [(c.spi_in, c.spi_out) for c in st.children] == [(0xC42A601C, 0x6E7639E3)], state
    ike["child-sas"] = {name: child, "lab-0": dict(child, state="REKEYING")}
    assert len(parse_list_sas(events, "lab").children) == 2


def test_vici_5_9_8_ikev1_initiator_aead_child() -> None:
    st = parse_list_sas(vici_events("vici-list-sas-5.9.8-ikev1-initiator-tunnel-aes128gcm16.json"),
                        "lab")
    assert st.ike == IkeStatus(1, "aes128", "sha256", "sha256", "modp2048", L, R)
    assert [(c.mode, c.cipher, c.integrity, c.pfs) for c in st.children] == [
        ("tunnel", "aes128gcm16", "none", "none")]  # IKEv1 without a dh-group: no PFS


def test_racoon_status_from_its_log() -> None:
    st = racoon_status((FIXTURES / "racoon-tunnel.log").read_text(), "2001:db8:20::2")
    assert st.ike == IkeStatus(version=1)
    assert st.children == [ChildStatus(spi_in=61457633, spi_out=4030823228, mode="tunnel")]
    assert "IKE algorithms" in st.unreported


# -- both kernels agree ---------------------------------------------------------------------

def test_agreeing_kernels_pass() -> None:
    assert agreement(held(OUT, BACK), SIDES) == []


def recorded(name: str) -> list[SA]:
    """A kernel's SAs as XFRM netlink sent them in a real cell (the run dir's xfrm-sa-*.hex)."""
    text = (FIXTURES / "xfrm" / name).read_text()
    return [parse_sa(bytes.fromhex(line)) for line in text.split()]


@pytest.mark.parametrize(("left", "right", "ikev1"), [
    ("strongswan-5.9.8-left-ikev2-tunnel-aes128gcm16.hex",
     "libreswan-4.10-right-ikev2-tunnel-aes128gcm16.hex", False),
    ("libreswan-5.2-left-ikev1-tunnel-aes128-sha1.hex",
     "libreswan-4.10-right-ikev1-tunnel-aes128-sha1.hex", True),
])
def test_recorded_kernels_agree_and_a_changed_icv_does_not(left: str, right: str,
                                                           ikev1: bool) -> None:
    sides = {"left": Side("left", " ".join(left.split("-")[:2]), L),
             "right": Side("right", " ".join(right.split("-")[:2]), R)}
    sas = {"left": recorded(left), "right": recorded(right)}
    assert len(between := [sa for sa in sas["left"] if sa.proto == "esp"]) == 2, between
    assert agreement(sas, sides) == []
    scenario = SCENARIO.with_(ike_version=1 if ikev1 else 2, esp=parse_proposal(
        "aes128-sha1" if ikev1 else "aes128gcm16", "esp", needs_dh=False))
    assert check(scenario, sas, {}, sides).problems == []
    sa = sas["right"][0]
    if sa.aead:
        broken = replace(sa, aead=(sa.aead[0], sa.aead[1], 96))
        words = "AEAD ICV length differs: left (strongswan 5.9.8) 128 bits, right" \
                " (libreswan 4.10) 96 bits"
    else:
        assert sa.auth is not None
        broken = replace(sa, auth=(sa.auth[0], sa.auth[1], 128))
        words = "ICV length differs: left (libreswan 5.2) 96 bits, right (libreswan 4.10) 128 bits"
    sas["right"][0] = broken
    assert [p.text for p in agreement(sas, sides)] == [f"spi 0x{sa.spi:08x}: {words}"]


@pytest.mark.parametrize(("change", "words"), [
    ({"auth": ("hmac(sha1)", AKEY, 128)},
     "ICV length differs: left (libreswan 5.2) 128 bits, right (strongswan 6.1.0) 96 bits"),
    ({"enc": ("cbc(aes)", KEY[:-2] + "00")}, "encryption key differs"),
    ({"auth": ("hmac(sha256)", AKEY, 96)}, "integrity algorithm differs: left (libreswan 5.2)"
                                           " hmac(sha256), right (strongswan 6.1.0) hmac(sha1)"),
    ({"mode": "transport"}, "mode differs: left (libreswan 5.2) transport, right"),
    ({"esn": True}, "ESN differs: left (libreswan 5.2) on, right (strongswan 6.1.0) off"),
    ({"src": R, "dst": L}, "direction differs"),
    ({"encap_ports": (4500, 4500)}, "UDP encapsulation differs"),
])
def test_disagreement_names_field_and_both_values(change: dict, words: str) -> None:
    found = agreement(held(replace(OUT, **change), BACK), SIDES)
    assert found and all(p.kind == "agreement" for p in found)
    assert any(p.text.startswith("spi 0xc41712cf: ") and words in p.text for p in found), found


def test_selectors_differ_only_where_both_kernels_have_one() -> None:
    """A selector-less SA matches every packet (charon's tunnel SAs): no disagreement."""
    host = Selector(L, 128, R, 128, 0, 0, 0, 10)
    assert agreement(held(replace(OUT, sel=host), BACK), SIDES) == []
    wider = {"left": [replace(OUT, sel=host), BACK],
             "right": [replace(OUT, sel=replace(host, dst_len=64)), BACK]}
    assert [p.text for p in agreement(wider, SIDES)] == [
        "spi 0xc41712cf: selectors differ: left (libreswan 5.2) 2001:db8:1:1::1/128 >"
        " 2001:db8:2:2::2/128, right (strongswan 6.1.0) 2001:db8:1:1::1/128 > 2001:db8:2:2::2/64"]


def test_sa_in_one_kernel_only() -> None:
    found = agreement(held(OUT), SIDES)
    assert [p.text for p in found] == ["spi 0xbc046e28: only in right (strongswan 6.1.0)'s kernel,"
                                       " not in left (libreswan 5.2)'s"]


def test_aead_icv_and_direction_flag() -> None:
    gcm = SA(L, R, 7, "esp", "tunnel", 1, aead=("rfc4106(gcm(aes))", KEY + "01020304", 128),
             dir="out")
    other = {"left": [gcm], "right": [replace(gcm, aead=("rfc4106(gcm(aes))", KEY + "01020304", 96),
                                              dir="out")]}
    texts = [p.text for p in agreement(other, SIDES)]
    assert any("AEAD ICV length differs: left (libreswan 5.2) 128 bits, right (strongswan 6.1.0)"
               " 96 bits" in t for t in texts)
    assert any("SA direction is the same in both kernels" in t and "one copy must be in" in t
               for t in texts)


# -- the SAs and the statuses match the scenario -------------------------------------------

def test_matching_cell_has_no_problems_and_a_listing() -> None:
    result = check(SCENARIO, held(OUT, BACK), statuses(), SIDES)
    assert result.problems == []
    text = "\n".join(result.lines)
    assert "left (libreswan 5.2), 2001:db8:1:1::1:" in text
    assert "IKE SA (test): IKEv2 cipher aes128 integrity sha1 prf sha1 group modp2048" in text
    assert "ESP out spi 0xc41712cf: tunnel, aes128-sha1 (cbc(aes) 128-bit key," \
           " hmac(sha1) 96-bit ICV)" in text
    assert f"identities: local {R}, peer {L}" in text


def test_sides_with_different_modes_name_configured_and_negotiated() -> None:
    scenario = SCENARIO.with_(mode="transport", left=Peer(L, "libreswan", mode="tunnel"))
    problems = check(scenario, held(OUT, BACK), statuses(), SIDES).problems
    assert [p.text for p in problems] == [
        "mode: left (libreswan 5.2) configured tunnel, negotiated tunnel;"
        " right (strongswan 6.1.0) configured transport, negotiated tunnel"]
    assert only_mode_mismatch(problems)


def test_an_spi_reserved_for_a_negotiation_still_going_on_has_no_mode_yet() -> None:
    """Seen when both sides initiate: charon's SPI for its own exchange, allocated before
    IKE_AUTH completed, sat in its kernel without algorithms while the outcome was read."""
    scenario = SCENARIO.with_(mode="tunnel")
    reserved = SA(R, L, 0xE70232DA, "esp", "transport", 0)
    problems = check(scenario, {"left": [OUT, BACK], "right": [OUT, BACK, reserved]},
                     statuses(), SIDES).problems
    assert not [p for p in problems if p.kind == "mode"], problems
    negotiated = SA(R, L, 0xE70232DA, "esp", "transport", 1, enc=("cbc(aes)", KEY),
                    auth=("hmac(sha1)", AKEY, 96))
    problems = check(scenario, {"left": [OUT, BACK], "right": [OUT, BACK, negotiated]},
                     statuses(), SIDES).problems
    assert [p.kind for p in problems if p.kind == "mode"] == ["mode"]


def test_a_cell_named_aes128gcm16_with_another_cipher_fails() -> None:
    scenario = SCENARIO.with_(esp=parse_proposal("aes128gcm16", "esp", needs_dh=False))
    problems = check(scenario, held(OUT, BACK), statuses(), SIDES).problems
    assert {p.kind for p in problems} == {"esp"}
    assert not only_mode_mismatch(problems)
    assert problems[0].text == (
        "esp: left (libreswan 5.2) configured aes128gcm16 (rfc4106(gcm(aes)) 160-bit key incl."
        " salt, 128-bit ICV); spis 0xc41712cf, 0xbc046e28 in its kernel are aes128-sha1 (cbc(aes)"
        " 128-bit key,"
        " hmac(sha1) 96-bit ICV)")


def test_racoon_installs_96_bit_sha256_and_says_so() -> None:
    scenario = SCENARIO.with_(esp=parse_proposal("aes256-sha256", "esp", needs_dh=False))
    sa = [SA(a, b, spi, "esp", "tunnel", 1, enc=("cbc(aes)", KEY * 2),
             auth=("hmac(sha256)", AKEY[:64].ljust(64, "0"), 96)) for a, b, spi in ((L, R, 1), (R, L, 2))]
    racoons = {n: Side(n, "racoon 0.8.2", a, {"sha256": 96}) for n, a in (("left", L), ("right", R))}
    assert check(scenario, {"left": sa, "right": sa}, {}, racoons).problems == []
    # the same SAs are wrong for an RFC 4868 daemon, and the problem says what was expected
    problems = check(scenario, {"left": sa, "right": sa}, {}, SIDES).problems
    assert "hmac(sha256) 128-bit ICV); spis 0x00000001, 0x00000002 in its kernel are aes256-sha256_96" \
           " (cbc(aes) 256-bit key, hmac(sha256) 96-bit ICV)" in problems[0].text


@pytest.mark.parametrize(("changes", "words"), [
    ({"cipher": "aes256"}, "ike: left (libreswan 5.2) configured aes128-sha1-modp2048; test"
                           " reports cipher aes256 (configured aes128)"),
    ({"prf": "sha256"}, "prf sha256 (configured sha1)"),
    ({"dh": "modp3072"}, "group modp3072 (configured modp2048)"),
    ({"remote_id": "2001:db8::99"}, "identity: left (libreswan 5.2) authenticated its peer as"
                                    " '2001:db8::99' (test), but right (strongswan 6.1.0) has"
                                    " the identity 2001:db8:2:2::2"),
    ({"local_id": "@left"}, "identity: left (libreswan 5.2) used the local identity '@left'"),
])
def test_ike_sa_and_identities_checked(changes: dict, words: str) -> None:
    problems = check(SCENARIO, held(OUT, BACK), statuses(ike_status(**changes)), SIDES).problems
    assert any(words in p.text for p in problems), problems


def test_pfs_and_child_sa_account_checked() -> None:
    status = ike_status()
    status.children = [ChildStatus(0xBC046E28, 0xC41712CF, "tunnel", "aes128", "sha1", "modp2048")]
    texts = [p.text for p in check(SCENARIO, held(OUT, BACK), statuses(status), SIDES).problems]
    assert texts == ["pfs: left (libreswan 5.2) configured no PFS; test reports PFS group modp2048"]
    pfs = SCENARIO.with_(esp=parse_proposal("aes128-sha1-modp2048", "esp", needs_dh=False))
    status.children = [ChildStatus(0xBC046E28, 0xC41712CF, "tunnel", "aes128", "sha1", "none")]
    assert check(pfs, held(OUT, BACK), statuses(status), SIDES).problems == []  # IKEv2's first
    assert [p.text for p in check(pfs.with_(ike_version=1), held(OUT, BACK), statuses(status),
                                  SIDES).problems] == [
        "pfs: left (libreswan 5.2) configured modp2048; test reports PFS group none"]
    status.children = [ChildStatus(0x1234, 0xC41712CF, "tunnel", "aes128", "sha1", None)]
    texts = [p.text for p in check(SCENARIO, held(OUT, BACK), statuses(status), SIDES).problems]
    assert texts == ["left (libreswan 5.2): test reports a Child SA tunnel in 0x00001234 out"
                     " 0xc41712cf, but its kernel holds inbound {0xbc046e28}"]


def test_status_errors_are_problems() -> None:
    broken = DaemonStatus("VICI list-sas", error="no IKE SA of connection 'lab' listed")
    problems = check(SCENARIO, held(OUT, BACK), statuses(broken), SIDES).problems
    assert [p.kind for p in problems] == ["status"]


# -- teardown ----------------------------------------------------------------------------------

def test_teardown_lists_what_was_left() -> None:
    nd = Policy("out", "::", 0, "::", 0, 58, False, "allow")
    cell = Policy("out", R, 128, L, 128, 0, True, "allow")
    items, notes = left_behind([BACK], [nd, cell], baseline={nd})
    assert (items, notes) == ([f"SA {BACK}", f"policy {cell}"], [])
    problems = teardown_check(SIDES["left"], {"left": [], "right": items}, SIDES)
    assert problems == [Problem("teardown", "teardown: after left (libreswan 5.2) deleted the"
                                " connection, right (strongswan 6.1.0)'s kernel still holds 2"
                                f" item(s) of the cell: SA {BACK}; policy {cell}")]
    assert left_behind([], [nd], baseline={nd}) == ([], [])
    socket_policy = Policy("4", "::", 0, "::", 0, 0, False, "allow")
    late_bypass = Policy("in", "::", 0, "::", 0, 58, False, "allow")
    assert left_behind([], [socket_policy, late_bypass], baseline=set()) == ([], [])
    known = left_behind([], [nd, cell], {nd}, lambda p: "pluto 4.x keeps it" if p.ipsec else None)
    assert known == ([], [f"policy {cell} (known: pluto 4.x keeps it)"])
    acquire = replace(BACK, spi=0, reqid=0, enc=None, auth=None)  # the kernel's, not an SA
    items, notes = left_behind([acquire, BACK], [], set())
    assert items == [f"SA {BACK}"] and notes == [
        f"SA {acquire} (the kernel's acquire placeholder, not a negotiated SA: it expires by itself)"]


# -- each driver deletes the connection its own way ----------------------------------------

def test_racoon_deletes_the_isakmp_sa_as_racoonctl_documents(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from lab.daemons.base import PeerContext
    from lab.daemons.racoon.driver import Racoon
    from lab.errors import DaemonError
    from lab.flavors import Flavor

    scenario = SCENARIO.with_(ike_version=1, left=Peer(L, "racoon"), right=Peer(R, "racoon"))
    ctx = PeerContext("left", "ipl-test-left", tmp_path / "left", Flavor("racoon"), "ipl-unit",
                      tmp_path)
    racoon = Racoon(scenario, ctx)
    calls: list[list[str]] = []
    monkeypatch.setattr(racoon, "tool", lambda argv, **kw: calls.append(argv))
    monkeypatch.setattr(Flavor, "which", lambda self, *names: None)
    with pytest.raises(DaemonError, match=r"racoon \(left\): racoonctl not found on PATH .*"
                                          "the teardown check needs it"):
        racoon.delete()
    monkeypatch.setattr(Flavor, "which", lambda self, *names: f"/usr/sbin/{names[0]}")
    # the IPsec SAs go first, in the kernel: racoon hears it and tells the peer of phase 2
    from lab.daemons.racoon import driver as racoon_mod
    kernel = [OUT, BACK, replace(OUT, src=R, dst="2001:db8:9::9", spi=7)]  # not with the peer
    deleted: list[SA] = []
    monkeypatch.setattr(racoon_mod.xfrm, "dump", lambda netns: kernel)
    monkeypatch.setattr(racoon_mod.xfrm, "delete", lambda netns, sas: deleted.extend(sas))
    ctx.dir.mkdir(parents=True)
    log = ctx.dir / "racoon.log"
    log.write_text("")
    monkeypatch.setattr(racoon_mod, "DELETE_DEADLINE", 0.3)
    with pytest.raises(DaemonError, match="logging its IPsec SAs established"):
        racoon.delete()  # racoon does not count the phase 2 as up yet: it would tell nobody
    assert deleted == [] and calls == []
    est = "INFO: IPsec-SA established: ESP/Tunnel {}[500]->{}[500] spi={}(0x{:x})\n"
    log.write_text(est.format(R, L, BACK.spi, BACK.spi) + est.format(L, R, OUT.spi, OUT.spi))
    with pytest.raises(DaemonError, match="hearing the kernel's SA delete"):
        racoon.delete()  # racoon never logs that it heard: the delete says so
    assert deleted == [OUT, BACK] and calls == []
    deleted.clear()
    text = log.read_text()
    monkeypatch.setattr(racoon, "log_text", lambda: text + (
        "ERROR: pfkey DELETE received: ESP ...\n" if deleted else ""))
    racoon.delete()
    assert deleted == [OUT, BACK]
    assert calls == [["/usr/sbin/racoonctl", "-s", str(ctx.home / "racoon.sock"), "delete-sa",
                      "isakmp", "inet6", L, R]]


def test_racoon_names_only_its_inbound_sa_kept_after_the_peers_delete(tmp_path: Path) -> None:
    from lab.daemons.base import PeerContext
    from lab.daemons.racoon.driver import Racoon
    from lab.flavors import Flavor

    scenario = SCENARIO.with_(ike_version=1, left=Peer(L, "racoon"), right=Peer(R, "racoon"))
    ctx = PeerContext("left", "ipl-test-left", tmp_path, Flavor("racoon"), "ipl-unit", tmp_path)
    racoon = Racoon(scenario, ctx)
    inbound, outbound = BACK, OUT  # left is L: BACK goes R -> L
    est = ("2026-12-05 16:37:22: INFO: IPsec-SA established: ESP/Tunnel {}[500]->{}[500]"
           " spi={}(0x{:x})\n")
    log = (est.format(R, L, BACK.spi, BACK.spi) + est.format(L, R, OUT.spi, OUT.spi)
           + est.format(R, L, 5, 5) + est.format(L, R, 6, 6))
    (tmp_path / "racoon.log").write_text(log)
    assert racoon.known_leftover(inbound) is None  # the peer's Delete was not acted on
    (tmp_path / "racoon.log").write_text(
        log + f"2026-12-05 16:37:23: INFO: purged IPsec-SA proto_id=ESP spi={OUT.spi}.\n")
    assert "keeps this inbound one" in (racoon.known_leftover(inbound) or "")
    assert racoon.known_leftover(outbound) is None
    assert racoon.known_leftover(replace(BACK, spi=5)) is None  # another phase 2's: not purged
    policy = Policy("out", L, 128, R, 128, 0, True, "allow")
    assert racoon.known_leftover(policy) is None
    items, notes = left_behind([inbound, outbound], [], set(), racoon.known_leftover)
    assert items == [f"SA {outbound}"] and notes[0].startswith(f"SA {inbound} (known: racoon")


def test_racoon_0_9_status_json() -> None:
    from lab.daemons.racoon.status import racoon_json_status
    text = (FIXTURES / "racoonctl-status-0.9.1-initiator-transport-aes256-sha256.json").read_text()
    log = ("2026-12-05 16:38:22: INFO: ISAKMP-SA established 2001:db8:1:1::1[500]-2001:db8:2:2::2[500]"
           " spi:22e85dcdfb83ec7d:ee2766953977b881\n"
           "2026-12-05 16:38:22: INFO: IPsec-SA established: ESP/Transport"
           " 2001:db8:2:2::2[500]->2001:db8:1:1::1[500] spi=198574080(0xbd60000)\n"
           "2026-12-05 16:38:22: INFO: IPsec-SA established: ESP/Transport"
           " 2001:db8:1:1::1[500]->2001:db8:2:2::2[500] spi=69926912(0x42b0000)\n")
    st = racoon_json_status(text, log, L, R)
    assert st.source == "racoonctl status" and st.error is None
    assert st.ike == IkeStatus(1, "aes", "sha256", "sha256", "modp2048", L, R)
    assert st.children == [ChildStatus(198574080, 69926912, "transport", "aes", "sha256", "none")]
    assert st.unreported == ("AES key lengths",)
    # checked against the scenario: AES of any key length is the family; others are wrong
    aes256 = SCENARIO.with_(ike_version=1, mode="transport",
                            ike=parse_proposal("aes256-sha256-modp2048", "ike", needs_dh=True),
                            esp=parse_proposal("aes256-sha256", "esp", needs_dh=False))
    out = replace(OUT, mode="transport", spi=69926912, enc=("cbc(aes)", KEY * 2),
                  auth=("hmac(sha256)", AKEY[:64].ljust(64, "0"), 96))
    back = replace(out, src=R, dst=L, spi=198574080)
    racoons = {n: Side(n, "racoon 0.9.1", a, {"sha256": 96}) for n, a in (("left", L), ("right", R))}
    peer = DaemonStatus("test", ike=IkeStatus(1, "aes256", "sha256", "sha256", "modp2048", R, L))
    kernels = {"left": [out, back], "right": [out, back]}
    assert check(aes256, kernels, {"left": st, "right": peer}, racoons).problems == []
    bad = replace(st, ike=replace(st.ike, cipher="3des"))
    texts = [p.text for p in check(aes256, kernels, {"left": bad, "right": peer}, racoons).problems]
    assert texts == ["ike: left (racoon 0.9.1) configured aes256-sha256-modp2048; racoonctl status"
                     " reports cipher 3des (configured aes256)"]
    gcm = replace(st, ike=replace(st.ike, cipher="aesgcm"))
    assert check(aes256, kernels, {"left": gcm, "right": peer}, racoons).problems
    broken = racoon_json_status("{not json", log, L, R)
    assert broken.error and broken.error.startswith("racoon status JSON:")


# -- identities other than the address, and proposal lists ----------------------------------
FQDN = SCENARIO.with_(left=Peer(L, "libreswan", id="@moon.example"),
                      right=Peer(R, "strongswan", id="C=CH, O=Lab, CN=sun.example"))


@pytest.mark.parametrize(("left", "right", "problems"), [
    # pluto writes '@moon.example', charon 'moon.example'; DNs with or without blanks
    (ike_status(local_id="@moon.example", remote_id="C=CH,O=Lab,CN=sun.example"),
     ike_status(local_id="C=CH, O=Lab, CN=sun.example", remote_id="moon.example"), []),
    (ike_status(local_id=L, remote_id="C=CH, O=Lab, CN=sun.example"), None,
     ["identity: left (libreswan 5.2) used the local identity '2001:db8:1:1::1' (test),"
      " configured @moon.example"]),
    (ike_status(remote_id="C=CH, O=Lab, CN=mars.example"), None,
     ["identity: left (libreswan 5.2) authenticated its peer as 'C=CH, O=Lab, CN=mars.example'"
      " (test), but right (strongswan 6.1.0) has the identity C=CH, O=Lab, CN=sun.example"]),
])
def test_configured_identities_checked(left: DaemonStatus, right: DaemonStatus | None,
                                       problems: list[str]) -> None:
    right = right or ike_status(local_id="C=CH, O=Lab, CN=sun.example", remote_id="moon.example")
    found = check(FQDN, held(OUT, BACK), {"left": left, "right": right}, SIDES).problems
    assert [p.text for p in found] == problems


def test_lists_are_checked_against_the_rules_choice() -> None:
    """aes128-sha1 is in both lists; pluto responding takes its own first, charon responding
    (prefer_configured_proposals) its own first too: the SAs must be that."""
    def lists(*names: str) -> tuple:
        return tuple(parse_proposal(n, "esp", needs_dh=False) for n in names)
    ok = SCENARIO.with_(left=Peer(L, "libreswan", esp=lists("aes256-sha256", "aes128-sha1")),
                        right=Peer(R, "strongswan", esp=lists("aes128-sha1", "aes256-sha256")))
    assert check(ok, held(OUT, BACK), statuses(), SIDES).problems == []
    # the responder's own first choice is aes256-sha256 now, and the SAs are aes128-sha1
    wrong = ok.with_(right=Peer(R, "strongswan", esp=lists("aes256-sha256", "aes128-sha1")))
    texts = [p.text for p in check(wrong, held(OUT, BACK), statuses(), SIDES).problems]
    assert texts and all(t.startswith("esp: ") and "configured aes256-sha256" in t for t in texts)


def test_the_cipher_key_length_is_part_of_the_cipher() -> None:
    """aes128 configured, cbc(aes) with a 256-bit key in the kernel: another cipher."""
    long = [replace(sa, enc=("cbc(aes)", KEY * 2)) for sa in (OUT, BACK)]
    problems = check(SCENARIO, {"left": long, "right": long}, statuses(), SIDES).problems
    assert [p.text for p in problems if p.kind == "esp"] == [
        f"esp: {side} configured aes128-sha1 (cbc(aes) 128-bit key, hmac(sha1) 96-bit ICV);"
        " spis 0xc41712cf, 0xbc046e28 in its kernel are aes256-sha1 (cbc(aes) 256-bit key,"
        " hmac(sha1) 96-bit ICV)" for side in SIDES.values()]


def test_pluto_names_a_rekeyed_child_sa_as_its_latest() -> None:
    text = (FIXTURES / "pluto-5.2-ikev2-initiator-transport-aes128gcm16.log").read_text()
    rekeyed = ('Nov 27 07:21:10.157269: "lab" #3: rekeyed Child SA #2 using #1; IPsec transport'
               " [2001:db8:1:1::1/128===2001:db8:2:2::2/128] {ESP=>0x0badcafe <0x0ddba11"
               " xfrm=AES_GCM_16_128-NONE DPD=passive}\n")
    st = parse_pluto_log(text + rekeyed, 2)
    assert st.children[-1] == ChildStatus(0x0DDBA11, 0x0BADCAFE, "transport", "aes128gcm16", "none", None)
    assert len(st.children) == 2


def test_ike_and_esn_findings_are_of_their_kind_with_every_field() -> None:
    two = statuses(ike_status(cipher="aes256", dh="modp3072"))
    assert check(SCENARIO, held(OUT, BACK), two, SIDES).problems == [Problem(
        "ike", "ike: left (libreswan 5.2) configured aes128-sha1-modp2048; test reports cipher"
               " aes256 (configured aes128), group modp3072 (configured modp2048)")]
    esn = SCENARIO.with_(negotiated=Stated(esn=True))
    assert check(esn, held(OUT, BACK), statuses(), SIDES).problems == [Problem(
        "esp", f"esp: negotiated ESN off, expected on ({side}'s kernel, {{0xbc046e28, 0xc41712cf}};"
               " [negotiated] esn = true)") for side in SIDES.values()]


def test_a_rekeyed_child_sa_shows_its_pfs_group_and_the_whole_kernel_is_its_account() -> None:
    """IKEv2's first Child SA has no PFS group of its own; a rekeyed one must show the
    configured one. The daemon's latest Child SA is looked for in all the kernel holds."""
    status = ike_status()
    status.children = [ChildStatus(0xBC046E28, 0xC41712CF, "tunnel", "aes128", "sha1", "none")]
    pfs = SCENARIO.with_(esp=parse_proposal("aes128-sha1-modp2048", "esp", needs_dh=False))
    assert check(pfs, held(OUT, BACK), statuses(status), SIDES, rekeyed=True).problems == [
        Problem("pfs", "pfs: left (libreswan 5.2) configured modp2048; test reports PFS group none")]
    assert against_scenario(pfs, held(OUT, BACK), statuses(status), SIDES) == []  # not rekeyed
    status.children = [ChildStatus(0x1234, 0x4321, "tunnel", "aes128", "sha1", None)]
    new = (replace(BACK, spi=0x1234), replace(OUT, spi=0x4321))
    assert check(SCENARIO, held(OUT, BACK), statuses(status), SIDES).problems == [Problem(
        "status", "left (libreswan 5.2): test reports a Child SA tunnel in 0x00001234 out 0x00004321,"
                  " but its kernel holds inbound {0xbc046e28}")]
    whole = held(OUT, BACK, *new)
    assert check(SCENARIO, held(OUT, BACK), statuses(status), SIDES, whole=whole).problems == []


def test_a_stated_esp_holds_the_daemons_child_sa_words_to_it() -> None:
    status = ike_status()
    status.children = [ChildStatus(0xBC046E28, 0xC41712CF, "tunnel", "aes128", "sha256", "modp2048")]
    stated = SCENARIO.with_(negotiated=Stated(esp=parse_proposal("aes128-sha1", "esp", needs_dh=False)))
    said = "(left (libreswan 5.2), test; [negotiated] esp = 'aes128-sha1')"
    assert check(stated, held(OUT, BACK), statuses(status), SIDES).problems == [
        Problem("pfs", f"pfs: negotiated PFS group modp2048, expected no PFS {said}"),
        Problem("esp", f"esp: negotiated ESP integrity sha256, expected sha1 {said}")]
