"""The negotiated check's exact words: every field a kernel-to-kernel disagreement names,
the neutral and kernel names of an SA's transform, each kind of problem against the
scenario, and the listing line by line. A report reader greps these texts; a verdict that
names the wrong field, value or kind is wrong even where it fails the cell."""

from __future__ import annotations

from dataclasses import replace

import pytest

from lab.algorithms import Proposal, parse_proposal
from lab.negotiated import (
    Problem,
    against_scenario,
    agreement,
    esp_detail,
    esp_name,
    expected_detail,
    listing,
)
from lab.scenario import Peer
from lab.status import ChildStatus, DaemonStatus, IkeStatus
from lab.xfrm import SA, Selector
from tests.test_negotiated import AKEY, BACK, KEY, OUT, SCENARIO, SIDES, L, R, held, ike_status

GCM = SA(L, R, 7, "esp", "tunnel", 1, aead=("rfc4106(gcm(aes))", KEY + "01020304", 128),
         esn=True, encap_ports=(4500, 4501))
CBC = SA(R, L, 7, "esp", "transport", 1, enc=("cbc(aes)", KEY), auth=("hmac(sha1)", AKEY, 96))
LEFT, RIGHT = "left (libreswan 5.2)", "right (strongswan 6.1.0)"


def _differs(field: str, left: str, right: str) -> str:
    return f"spi 0x00000007: {field} differs: {LEFT} {left}, {RIGHT} {right}"


# -- both kernels agree: every field by name, both values ----------------------------------

def test_every_field_of_two_different_copies_is_named_with_both_values() -> None:
    gcm = ["2001:db8:1:1::1 -> 2001:db8:2:2::2", "tunnel", "none", "none", "none", "none", "none",
           "rfc4106(gcm(aes))", KEY + "01020304", "128 bits", "on", "ports 4500 -> 4501",
           "2001:db8:1:1::1 - 2001:db8:2:2::2"]
    cbc = ["2001:db8:2:2::2 -> 2001:db8:1:1::1", "transport", "cbc(aes)", KEY, "hmac(sha1)", AKEY,
           "96 bits", "none", "none", "none", "off", "none", "none"]
    fields = ["direction", "mode", "encryption algorithm", "encryption key", "integrity algorithm",
              "integrity key", "ICV length", "AEAD algorithm", "AEAD key", "AEAD ICV length", "ESN",
              "UDP encapsulation", "tunnel endpoints"]
    found = agreement({"left": [GCM], "right": [CBC]}, SIDES)
    assert found == [Problem("agreement", _differs(*x)) for x in zip(fields, gcm, cbc, strict=True)]
    # the other way round: a field only the right copy has (tunnel endpoints) is named too
    found = agreement({"left": [CBC], "right": [GCM]}, SIDES)
    assert found == [Problem("agreement", _differs(*x)) for x in zip(fields, cbc, gcm, strict=True)]


def test_equal_tunnel_copies_agree_and_transport_copies_have_no_endpoints() -> None:
    assert agreement({"left": [GCM], "right": [GCM]}, SIDES) == []
    moved = replace(GCM, mode="transport")
    assert agreement({"left": [moved], "right": [moved]}, SIDES) == []


def test_sas_in_one_kernel_only_each_named_and_the_rest_still_compared() -> None:
    lone = replace(OUT, spi=1)
    found = agreement({"left": [lone, OUT, BACK], "right": [replace(OUT, spi=2), BACK,
                                                              replace(OUT, esn=True)]}, SIDES)
    assert found == [
        Problem("agreement", f"spi 0x00000001: only in {LEFT}'s kernel, not in {RIGHT}'s"),
        Problem("agreement", f"spi 0x00000002: only in {RIGHT}'s kernel, not in {LEFT}'s"),
        Problem("agreement", f"spi 0xc41712cf: ESN differs: {LEFT} off, {RIGHT} on")]


def test_only_esp_between_the_peers_is_compared() -> None:
    ah = replace(OUT, spi=3, proto="ah")
    elsewhere = replace(OUT, spi=4, dst="2001:db8:9::9")
    assert agreement({"left": [OUT, BACK, ah, elsewhere], "right": [OUT, BACK]}, SIDES) == []


def test_direction_flag_and_selectors_are_agreement_problems() -> None:
    host = Selector(L, 128, R, 128, 0, 0, 0, 10)
    same_dir = {"left": [replace(OUT, dir="out", sel=host)],
                "right": [replace(OUT, dir="out", sel=replace(host, dst_len=64))]}
    assert agreement(same_dir, SIDES) == [
        Problem("agreement", f"spi 0xc41712cf: SA direction is the same in both kernels: {LEFT}"
                f" out, {RIGHT} out (one copy must be in, the other out)"),
        Problem("agreement", f"spi 0xc41712cf: selectors differ: {LEFT} {host}, {RIGHT}"
                f" {replace(host, dst_len=64)}")]
    ok = {"left": [replace(OUT, dir="out")], "right": [replace(OUT, dir="in")]}
    assert agreement(ok, SIDES) == []


# -- the names of what a kernel holds ------------------------------------------------------

@pytest.mark.parametrize(("sa", "name", "detail"), [
    (GCM, "aes128gcm16", "rfc4106(gcm(aes)) 160-bit key incl. salt, 128-bit ICV"),
    (replace(GCM, aead=("rfc7539esp(chacha20,poly1305)", KEY * 2 + "01020304", 96)),
     "rfc7539esp(chacha20,poly1305)/288",
     "rfc7539esp(chacha20,poly1305) 288-bit key incl. salt, 96-bit ICV"),
    (OUT, "aes128-sha1", "cbc(aes) 128-bit key, hmac(sha1) 96-bit ICV"),
    (replace(OUT, enc=("cbc(aes)", KEY * 2), auth=("hmac(sha256)", AKEY, 96)), "aes256-sha256_96",
     "cbc(aes) 256-bit key, hmac(sha256) 96-bit ICV"),
    (replace(OUT, enc=("cbc(twofish)", KEY), auth=("hmac(rmd160)", AKEY, 160)),
     "cbc(twofish)/128-hmac(rmd160)/160", "cbc(twofish) 128-bit key, hmac(rmd160) 160-bit ICV"),
    (replace(OUT, enc=None, auth=None), "no-cipher-no-integrity", "no cipher, no integrity"),
])
def test_esp_name_and_detail(sa: SA, name: str, detail: str) -> None:
    assert (esp_name(sa), esp_detail(sa)) == (name, detail)


@pytest.mark.parametrize(("cipher", "integrity", "icv_bits", "detail"), [
    ("aes128", "sha1", {}, "cbc(aes) 128-bit key, hmac(sha1) 96-bit ICV"),
    ("aes256", "sha256", {"sha256": 96}, "cbc(aes) 256-bit key, hmac(sha256) 96-bit ICV"),
    ("aes256", "sha256", {"sha1": 160}, "cbc(aes) 256-bit key, hmac(sha256) 128-bit ICV"),
    ("aes128", "sha3", {}, "cbc(aes) 128-bit key, integrity sha3"),
    ("aes128", None, {}, "cbc(aes) 128-bit key, integrity None"),
    ("aes128gcm12", None, {}, "rfc4106(gcm(aes)) 160-bit key incl. salt, 96-bit ICV"),
])
def test_expected_detail(cipher: str, integrity: str | None, icv_bits: dict[str, int],
                         detail: str) -> None:
    assert expected_detail(cipher, integrity, icv_bits) == detail


# -- against the scenario: kinds and texts ---------------------------------------------------

def esp(name: str) -> Proposal:
    return parse_proposal(name, "esp", needs_dh=False)


def test_each_side_is_checked_against_its_own_proposal() -> None:
    scenario = SCENARIO.with_(left=Peer(L, "libreswan", esp=esp("aes256-sha256")),
                              right=Peer(R, "strongswan", esp=esp("aes128-sha1")))
    found = against_scenario(scenario, held(OUT, BACK), statuses_ok(), SIDES)
    assert found == [Problem("esp", f"esp: {LEFT} configured aes256-sha256 (cbc(aes) 256-bit key,"
                             " hmac(sha256) 128-bit ICV); spis 0xc41712cf, 0xbc046e28 in its"
                             " kernel are aes128-sha1 (cbc(aes) 128-bit key, hmac(sha1) 96-bit"
                             " ICV)")]


def statuses_ok() -> dict[str, DaemonStatus]:
    return {"left": ike_status(), "right": ike_status(local_id=R, remote_id=L)}


def test_one_wrong_spi_is_named_in_the_singular() -> None:
    scenario = SCENARIO.with_(esp=esp("aes128gcm16"))
    gcm12 = replace(GCM, spi=9, esn=False, encap_ports=None,
                    aead=("rfc4106(gcm(aes))", KEY + "01020304", 96))
    gcm16 = replace(gcm12, src=R, dst=L, spi=8, aead=("rfc4106(gcm(aes))", KEY + "01020304", 128))
    found = against_scenario(scenario, {"left": [gcm12, gcm16]}, {}, SIDES)
    assert found == [Problem("esp", f"esp: {LEFT} configured aes128gcm16 (rfc4106(gcm(aes))"
                             " 160-bit key incl. salt, 128-bit ICV); spi 0x00000009 in its kernel"
                             " is aes128gcm12 (rfc4106(gcm(aes)) 160-bit key incl. salt, 96-bit"
                             " ICV)")]


def test_an_aead_sa_with_a_cipher_or_integrity_beside_it_is_wrong() -> None:
    scenario = SCENARIO.with_(esp=esp("aes128gcm16"))
    plain = replace(GCM, esn=False, encap_ports=None)
    for extra in ({"enc": ("cbc(aes)", KEY)}, {"auth": ("hmac(sha1)", AKEY, 96)}):
        found = against_scenario(scenario, {"left": [replace(plain, **extra)]}, {}, SIDES)
        assert [p.kind for p in found] == ["esp"], extra


def test_the_daemons_child_sa_words_are_checked_with_their_kind() -> None:
    status = ike_status()
    status.children = [ChildStatus(0xBC046E28, 0xC41712CF, "tunnel", "aes256", "sha256", None)]
    found = against_scenario(SCENARIO, held(OUT, BACK), {"left": status}, SIDES)
    assert found == [
        Problem("esp", f"esp: {LEFT} configured aes128-sha1; test reports the Child SA's cipher"
                " aes256"),
        Problem("esp", f"esp: {LEFT} configured aes128-sha1; test reports the Child SA's integrity"
                " sha256")]
    # the daemon's word for a local truncation is the wire's transform (sha2-truncbug)
    truncated = SCENARIO.with_(esp=esp("aes128-sha256_96"))
    sha256 = [replace(sa, auth=("hmac(sha256)", AKEY, 96)) for sa in (OUT, BACK)]
    status.children = [ChildStatus(0xBC046E28, 0xC41712CF, "tunnel", "aes128", "sha256", None)]
    assert against_scenario(truncated, {"left": sha256}, {"left": status}, SIDES) == []
    # unreported words are not checked; AEAD has no separate integrity to compare
    status.children = [ChildStatus(0xBC046E28, 0xC41712CF, "tunnel", None, None, "modp2048")]
    assert against_scenario(SCENARIO, held(OUT, BACK), {"left": status}, SIDES) == [
        Problem("pfs", f"pfs: {LEFT} configured no PFS; test reports PFS group modp2048")]
    gcm = [replace(GCM, esn=False, encap_ports=None),
           replace(GCM, src=R, dst=L, spi=8, esn=False, encap_ports=None)]
    status.children = [ChildStatus(8, 7, "tunnel", "aes128gcm16", "sha1", None)]
    assert against_scenario(SCENARIO.with_(esp=esp("aes128gcm16")), {"left": gcm},
                            {"left": status}, SIDES) == []


def test_only_the_newest_child_sa_is_compared_with_the_kernel() -> None:
    status = ike_status()
    status.children = [ChildStatus(1, 2, "tunnel", "aes256", "md5", "modp1024"),
                       ChildStatus(0xBC046E28, 0xC41712CF, "tunnel", "aes128", "sha1", None)]
    assert against_scenario(SCENARIO, held(OUT, BACK), {"left": status}, SIDES) == []


@pytest.mark.parametrize(("child", "words"), [
    (ChildStatus(0xBC046E28, 0x1234, "tunnel"),
     "a Child SA tunnel in 0xbc046e28 out 0x00001234, but its kernel holds outbound {0xc41712cf}"),
    (ChildStatus(0xBC046E28, 0xC41712CF, "transport"),
     "a Child SA transport in 0xbc046e28 out 0xc41712cf, but its kernel holds tunnel mode SAs"),
    (ChildStatus(None, 0x1234), "a Child SA out 0x00001234, but its kernel holds outbound"
                                " {0xc41712cf}"),
    (ChildStatus(0x1234, None), "a Child SA in 0x00001234, but its kernel holds inbound"
                                " {0xbc046e28}"),
])
def test_a_child_sa_the_kernel_does_not_hold_is_a_status_problem(child: ChildStatus,
                                                                 words: str) -> None:
    status = ike_status()
    status.children = [child]
    assert against_scenario(SCENARIO, held(OUT, BACK), {"left": status}, SIDES) == [
        Problem("status", f"{LEFT}: test reports {words}")]


def test_a_child_sa_without_mode_or_spis_matches_any_kernel() -> None:
    status = ike_status()
    status.children = [ChildStatus()]
    assert against_scenario(SCENARIO, held(OUT, BACK), {"left": status}, SIDES) == []
    mixed = [OUT, replace(BACK, mode="transport")]
    status.children = [ChildStatus(mode="tunnel")]
    found = against_scenario(SCENARIO.with_(esp=()), {"left": mixed}, {"left": status}, SIDES)
    # 'default' ESP: the daemons chose, nothing to compare their words with; the modes are
    assert [p.kind for p in found] == ["mode"]


def test_status_errors_and_a_missing_ike_sa_are_status_problems_of_each_side() -> None:
    broken = DaemonStatus("VICI list-sas", error="no IKE SA of connection 'lab' listed")
    silent = DaemonStatus("pluto log")
    found = against_scenario(SCENARIO, {"left": [OUT, BACK], "right": [OUT, BACK]},
                             {"left": broken, "right": silent}, SIDES)
    assert found == [
        Problem("status", f"{LEFT}: VICI list-sas: no IKE SA of connection 'lab' listed"),
        Problem("status", f"{RIGHT}: pluto log names no established IKE SA although its kernel"
                " holds the Child SAs")]
    # a daemon that never reports its IKE SA (racoon 0.8) says so instead
    quiet = DaemonStatus("racoon log", unreported=("IKE SA",))
    assert against_scenario(SCENARIO, {"right": [OUT, BACK]}, {"right": quiet}, SIDES) == []
    assert against_scenario(SCENARIO, {}, {"right": silent}, SIDES) == []


def test_identity_and_ike_problems_of_the_right_side_are_its_own() -> None:
    right = ike_status(local_id=R, remote_id="2001:db8::99", cipher="aes256")
    found = against_scenario(SCENARIO, {"right": [OUT, BACK]}, {"right": right}, SIDES)
    assert found == [
        Problem("ike", f"ike: {RIGHT} configured aes128-sha1-modp2048; test reports cipher aes256"
                " (configured aes128)"),
        Problem("identity", f"identity: {RIGHT} authenticated its peer as '2001:db8::99' (test),"
                f" but {LEFT} has the identity {L}")]


def test_wrong_kernel_sas_hide_only_the_daemons_esp_words() -> None:
    scenario = SCENARIO.with_(esp=esp("aes256-sha1"))
    status = ike_status()
    status.children = [ChildStatus(0xBC046E28, 0x1234, "tunnel", "aes128", "sha1", "modp2048")]
    found = against_scenario(scenario, {"left": [OUT, BACK]}, {"left": status}, SIDES)
    assert [p.kind for p in found] == ["esp", "pfs", "status"]
    assert found[0].text.startswith(f"esp: {LEFT} configured aes256-sha1 (cbc(aes) 256-bit key")


# -- the listing -------------------------------------------------------------------------------

def test_the_listing_line_by_line() -> None:
    full = DaemonStatus("VICI list-sas", ike=IkeStatus(2, "aes128", "sha1", "sha1", "modp2048", L, R),
                        children=[ChildStatus(1, 2, "tunnel", "aes128", "sha1", "modp2048")],
                        unreported=("IKE lifetimes", "ESN"))
    plain = "aes128-sha1 (cbc(aes) 128-bit key, hmac(sha1) 96-bit ICV"
    assert listing({"left": [BACK, replace(OUT, esn=True)], "right": [OUT]},
                   {"left": full, "right": DaemonStatus("pluto log", ike=IkeStatus(None))},
                   SIDES) == [
        f"{LEFT}, {L}:",
        "  IKE SA (VICI list-sas): IKEv2 cipher aes128 integrity sha1 prf sha1 group modp2048",
        f"  identities: local {L}, peer {R}",
        f"  ESP out spi 0xc41712cf: tunnel, {plain}, ESN)",
        f"  ESP in  spi 0xbc046e28: tunnel, {plain})",
        "  PFS group: modp2048",
        "  not reported by libreswan: IKE lifetimes, ESN",
        f"{RIGHT}, {R}:",
        "  IKE SA (pluto log): algorithms not reported",
        "  identities: local not reported, peer not reported",
        f"  ESP in  spi 0xc41712cf: tunnel, {plain})"]
    assert listing({"right": [OUT]}, {"right": DaemonStatus("pluto log", error="no log")},
                   SIDES) == [f"{LEFT}, {L}:", "  (no status read)", f"{RIGHT}, {R}:",
                              "  pluto log: no log", f"  ESP in  spi 0xc41712cf: tunnel, {plain})"]
    no_pfs = DaemonStatus("pluto log", children=[ChildStatus(1, 2)])
    assert listing({}, {"left": no_pfs}, SIDES) == [
        f"{LEFT}, {L}:", "  IKE SA: none in pluto log", f"{RIGHT}, {R}:", "  (no status read)"]


def ike(name: str) -> Proposal:
    return parse_proposal(name, "ike", needs_dh=True)


def test_each_side_reports_against_its_own_ike_and_esp_proposal() -> None:
    scenario = SCENARIO.with_(left=Peer(L, "libreswan", ike=ike("aes256-sha256-modp3072"),
                                        esp=esp("aes256-sha256")),
                              right=Peer(R, "strongswan", ike=ike("aes128-sha1-modp2048"),
                                         esp=esp("aes128-sha1")))
    sha256 = [replace(sa, enc=("cbc(aes)", KEY * 2), auth=("hmac(sha256)", AKEY, 128))
              for sa in (OUT, BACK)]
    status = ike_status()  # the right side's algorithms, in the left's status
    status.children = [ChildStatus(0xBC046E28, 0xC41712CF, "tunnel", "aes128", "sha1", None)]
    found = against_scenario(scenario, {"left": sha256}, {"left": status}, SIDES)
    assert found == [
        Problem("ike", f"ike: {LEFT} configured aes256-sha256-modp3072; test reports cipher aes128"
                " (configured aes256), integrity sha1 (configured sha256), prf sha1 (configured"
                " sha256), group modp2048 (configured modp3072)"),
        Problem("esp", f"esp: {LEFT} configured aes256-sha256; test reports the Child SA's cipher"
                " aes128"),
        Problem("esp", f"esp: {LEFT} configured aes256-sha256; test reports the Child SA's"
                " integrity sha1")]


@pytest.mark.parametrize(("proposal", "changes", "words"), [
    ("aes128gcm16-prfsha256-modp2048", {"cipher": "aes128gcm16", "prf": "sha256"},
     "integrity sha1 (configured none)"),
    ("aes128gcm16-prfsha256-modp2048", {"cipher": "aes", "integrity": "none", "prf": "sha256"},
     "cipher aes (configured aes128gcm16)"),
    ("aes256-sha256-modp2048", {"cipher": "aes", "integrity": "sha", "prf": "sha256"},
     "integrity sha (configured sha256)"),
    ("aes128-sha1-modp2048", {"dh": "modp"}, "group modp (configured modp2048)"),
])
def test_a_family_name_without_key_length_is_only_for_aes_ciphers(proposal: str, changes: dict,
                                                                   words: str) -> None:
    scenario = SCENARIO.with_(ike=ike(proposal))
    found = against_scenario(scenario, {}, {"left": ike_status(**changes)}, SIDES)
    assert found == [Problem("ike", f"ike: {LEFT} configured {proposal}; test reports {words}")]


def test_an_aead_ike_sa_reporting_no_integrity_matches() -> None:
    scenario = SCENARIO.with_(ike=ike("aes128gcm16-prfsha256-modp2048"))
    status = ike_status(cipher="aes128gcm16", integrity="none", prf="sha256")
    assert against_scenario(scenario, {}, {"left": status}, SIDES) == []


def test_a_wrong_local_identity_is_an_identity_problem() -> None:
    found = against_scenario(SCENARIO, {}, {"left": ike_status(local_id="@left")}, SIDES)
    assert found == [Problem("identity", f"identity: {LEFT} used the local identity '@left'"
                             f" (test), configured {L}")]


@pytest.mark.parametrize(("configured", "reported", "same"), [
    (L, "2001:db8:1:1:0:0:0:1", True),  # an address in another spelling
    (L, "2001:db8:1:1::2", False),
    ("@moon.example", "'@moon.example'", True),
    ("@moon.example", '"moon.example"', True),
    ("@Xen.example", "@Xen.example", True),
    ("@moon.example", "@sun.example", False),
    ("carol@example.org", "carol@example.org", True),
    ("carol@example.org", "dave@example.org", False),
    ("C=CH, O=Lab, CN=moon.example", "C = CH,O = Lab,CN = moon.example", True),
    ("C=CH, O=Lab, CN=moon.example", "'C=CH, O=Lab, CN=moon.example'", True),
    ("C=CH, O=Lab, CN=moon.example", "C=CH, O=Lab, CN=sun.example", False),
    ("C=CH, CN=X", "C=CH, CN=X", True),
])
def test_identity_spellings(configured: str, reported: str, same: bool) -> None:
    scenario = SCENARIO.with_(left=Peer(L, "libreswan", id=configured))
    found = against_scenario(scenario, {}, {"left": ike_status(local_id=reported)}, SIDES)
    assert (found == []) == same, found


def test_modes_and_spi_sets_are_named_in_full() -> None:
    only_enc = replace(OUT, auth=None, mode="transport")
    only_auth = replace(BACK, enc=None)
    found = against_scenario(SCENARIO.with_(esp=()), {"left": [only_enc, only_auth]}, {}, SIDES)
    assert found == [Problem("mode", f"mode: {LEFT} configured tunnel, negotiated"
                             f" transport/tunnel; {RIGHT} configured tunnel, negotiated nothing")]
    status = ike_status()
    status.children = [ChildStatus(0x1234, None, "tunnel")]
    two_in = [OUT, BACK, replace(BACK, spi=0x10, mode="transport")]
    found = against_scenario(SCENARIO, {"left": two_in}, {"left": status}, SIDES)
    assert found[-1] == Problem("status", f"{LEFT}: test reports a Child SA tunnel in 0x00001234,"
                                " but its kernel holds inbound {0x00000010, 0xbc046e28}")
    status.children = [ChildStatus(None, None, "tunnel")]
    found = against_scenario(SCENARIO, {"left": two_in}, {"left": status}, SIDES)
    assert found[-1] == Problem("status", f"{LEFT}: test reports a Child SA tunnel, but its"
                                " kernel holds transport/tunnel mode SAs")


def test_a_kernel_not_read_at_all_holds_nothing() -> None:
    assert agreement({"left": [OUT]}, SIDES) == [
        Problem("agreement", f"spi 0xc41712cf: only in {LEFT}'s kernel, not in {RIGHT}'s")]
    assert agreement({"right": [OUT]}, SIDES) == [
        Problem("agreement", f"spi 0xc41712cf: only in {RIGHT}'s kernel, not in {LEFT}'s")]
