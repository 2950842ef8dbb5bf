"""Known incompatibilities: the data file parses, matches the cells it describes (either
order, settings, versions) and no others, and its errors are one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.algorithms import parse_proposal
from lab.errors import LabError, ScenarioError
from lab.known import KnownFailure, KnownIncompatibilities, failing_as, load, parse, xfail_marks
from lab.matrix import LifecycleCell, MatrixCell
from lab.scenario import Peer, Scenario

FILE = Path(__file__).parent.parent / "scenarios" / "known-incompatibilities.toml"
KNOWN = load(FILE, "scenarios/known-incompatibilities.toml")
RFC4868 = ("libreswan", "libreswan@bookworm", "libreswan@sid", "strongswan@bookworm",
           "strongswan@sid")


def cell(initiator: str, responder: str, proposals: str = "aes256-sha256", version: int = 1,
         mode: str = "transport") -> Scenario:
    return MatrixCell(initiator, responder, version, mode, proposals).scenario()


@pytest.mark.parametrize("peer", RFC4868)
@pytest.mark.parametrize("mode", ["transport", "tunnel"])
def test_pfkey_sha256_matches_racoon_against_rfc4868_peers_both_orders(peer: str, mode: str) -> None:
    for s in (cell("racoon", peer, mode=mode), cell(peer, "racoon", mode=mode)):
        entry = KNOWN.matching(s)
        assert entry is not None and entry.id == "pfkey-hmac-sha256-96", s.name


@pytest.mark.parametrize(("initiator", "responder", "proposals"), [
    ("racoon", "racoon", "aes256-sha256"),           # both PF_KEY: 96 bits on both ends
    ("racoon", "libreswan@sid", "aes128-sha1"),       # sha1 is 96 bits everywhere
    ("libreswan@sid", "strongswan@bookworm", "aes256-sha256"),  # both RFC 4868
])
def test_pfkey_sha256_matches_nothing_else(initiator: str, responder: str, proposals: str) -> None:
    assert KNOWN.matching(cell(initiator, responder, proposals)) is None


def _sha256_96(initiator: str, responder: str) -> Scenario:
    return Scenario("w", Peer("2001:db8:1:1::1", initiator), Peer("2001:db8:2:2::2", responder),
                    ike_version=1, esp=parse_proposal("aes256-sha256_96", "esp", needs_dh=False))


def test_libreswan_workaround_cell_is_not_an_incompatibility() -> None:
    assert KNOWN.matching(_sha256_96("racoon", "libreswan@sid")) is None
    assert KNOWN.matching(_sha256_96("libreswan@bookworm", "racoon")) is None


def test_strongswans_sha256_96_has_no_ikev1_identifier() -> None:
    for pair in (("racoon", "strongswan@bookworm"), ("strongswan@bookworm", "libreswan@sid"),
                 ("strongswan", "strongswan")):
        entry = KNOWN.matching(_sha256_96(*pair))
        assert entry is not None and entry.id == "strongswan-sha256-96-ikev1", pair


def test_reason_carries_what_reference_and_workaround() -> None:
    entry = KNOWN.entries[0]
    assert entry.reason.startswith("known incompatibility pfkey-hmac-sha256-96"
                                   " (scenarios/known-incompatibilities.toml): racoon sets")
    assert "RFC 4868" in entry.reason and "sha2-truncbug=yes" in entry.reason
    assert "is GONE" in entry.xpass_message()


def test_versions_narrow_an_entry() -> None:
    data = {"incompatibility": [{
        "id": "x", "what": "w", "reference": "r", "fails_with": ["boom"],
        "one": {"flavors": ["libreswan@*"], "versions": ["4."]},
        "other": {"flavors": ["strongswan@*"]}}]}
    known = parse(data, "k.toml")
    s = cell("libreswan@bookworm", "strongswan@sid", "aes128-sha1", 2)
    assert known.matching(s, lambda f: "4.10" if f.startswith("libreswan") else "6.0.1")
    assert known.matching(s, lambda f: "5.2" if f.startswith("libreswan") else "6.0.1") is None
    assert known.matching(s, lambda f: "unknown")  # a daemon that cannot say: assumed affected


@pytest.mark.parametrize(("raw", "words"), [
    ({"id": "x"}, "k.toml: incompatibility #1: field 'what' is required"),
    ({"id": "x", "what": "w", "reference": "r", "fails_with": ["("], "one": {"flavors": "a"},
      "other": {"flavors": "b"}}, "fails_with: '(' is no regular expression"),
    ({"id": "x", "what": "w", "reference": "r", "fails_with": "f", "one": {"flavors": "a"},
      "other": {"flavors": "b"}, "esp_integrity": ["sha257"]},
     "esp_integrity: 'sha257' is not allowed (allowed: md5, sha1, sha256, sha256_96"),
    ({"id": "x", "what": "w", "reference": "r", "fails_with": "f", "one": {"flavor": "a"},
      "other": {"flavors": "b"}}, "one: a table with 'flavors' is required"),
    ({"id": "x", "color": "red"}, "unknown field 'color'"),
])
def test_bad_entries_get_one_line(raw: dict[str, object], words: str) -> None:
    with pytest.raises(ScenarioError) as exc:
        parse({"incompatibility": [raw]}, "k.toml")
    assert words in str(exc.value) and "\n" not in str(exc.value)


def test_a_failure_the_entry_explains_becomes_a_known_failure() -> None:
    entry = KNOWN.entries[0]
    with pytest.raises(KnownFailure, match=r"pfkey-hmac-sha256-96: .*ICV length differs"), \
            failing_as(entry):
        raise AssertionError("spi 0x1: ICV length differs: left (racoon) 96 bits, right 128 bits")


def test_a_failure_of_another_kind_stays_a_failure() -> None:
    with pytest.raises(LabError, match="AUTHENTICATION_FAILED"), failing_as(KNOWN.entries[0]):
        raise LabError("negotiation x: AUTHENTICATION_FAILED")


def test_marks_are_a_strict_xfail_that_accepts_only_known_failures() -> None:
    xfail, known = xfail_marks(KNOWN.entries[0])
    assert xfail.kwargs["strict"] is True and xfail.kwargs["raises"] is KnownFailure
    assert known.kwargs["id"] == "pfkey-hmac-sha256-96"
    assert xfail_marks(None) == []


def _lifecycle_entry(**fields: object) -> KnownIncompatibilities:
    raw = {"id": "x", "what": "w", "reference": "r", "fails_with": ["old SAs not deleted"],
           "one": {"flavors": ["libreswan@*"]}, "other": {"flavors": ["strongswan@bookworm"]},
           "ike_versions": [1], **fields}
    return parse({"incompatibility": [raw]}, "k.toml")


def test_lifecycle_fields_narrow_an_entry_to_those_events() -> None:
    known = _lifecycle_entry(lifecycles=["rekey-child"], actors=["responder"],
                             rekey_by=["lifetime"])
    hit = LifecycleCell("strongswan@bookworm", "libreswan@sid", 1, "rekey-child",
                        "lifetime-responder")
    assert known.matching(hit.scenario()) is not None
    for miss in (LifecycleCell("strongswan@bookworm", "libreswan@sid", 1, "rekey-child",
                               "lifetime-initiator"),  # the other side acts
                 LifecycleCell("strongswan@bookworm", "libreswan@sid", 1, "rekey-child",
                               "command-responder"),  # a rekey by command
                 LifecycleCell("strongswan@bookworm", "libreswan@sid", 1, "delete"),
                 LifecycleCell("strongswan@bookworm", "libreswan@sid", 2, "rekey-child",
                               "lifetime-responder")):  # IKEv2
        assert known.matching(miss.scenario()) is None, miss.id
    assert known.matching(cell("libreswan@sid", "strongswan@bookworm", "aes128-sha1")) is None


def test_an_entry_without_lifecycles_matches_lifecycle_cells_too() -> None:
    known = _lifecycle_entry()
    assert known.matching(LifecycleCell("libreswan@sid", "strongswan@bookworm", 1,
                                        "delete").scenario()) is not None


def test_a_lifecycle_cell_is_known_only_if_every_finding_is_explained() -> None:
    entry = _lifecycle_entry(lifecycles=["rekey-child"]).entries[0]
    known = "rekey-child: old SAs not deleted within 10 s: {...}"
    assert entry.explains_all([known])
    assert not entry.explains_all([known, "(d) 3 echo request(s) lost: ..."])
    assert not entry.explains_all([])  # a pass is no known failure


@pytest.mark.parametrize(("field", "value", "words"), [
    ("lifecycles", ["rekey"], "lifecycles: 'rekey' is not allowed (allowed: rekey-child,"),
    ("actors", ["both"], "actors: 'both' is not allowed (allowed: initiator, responder)"),
    ("rekey_by", ["timer"], "rekey_by: 'timer' is not allowed (allowed: command, lifetime)"),
])
def test_bad_lifecycle_fields_get_one_line(field: str, value: list[str], words: str) -> None:
    with pytest.raises(ScenarioError) as exc:
        _lifecycle_entry(**{field: value})
    assert words in str(exc.value) and "\n" not in str(exc.value)


def test_acting_names_the_end_whose_daemon_acts() -> None:
    known = _lifecycle_entry(lifecycles=["rekey-child"], acting="other")
    strongswan_acts = LifecycleCell("libreswan@sid", "strongswan@bookworm", 1, "rekey-child",
                                    "lifetime-responder")
    pluto_acts = LifecycleCell("libreswan@sid", "strongswan@bookworm", 1, "rekey-child",
                               "lifetime-initiator")
    assert known.matching(strongswan_acts.scenario()) is not None
    assert known.matching(pluto_acts.scenario()) is None
    swapped = LifecycleCell("strongswan@bookworm", "libreswan@sid", 1, "rekey-child",
                            "lifetime-initiator")  # strongSwan acts, from the left
    assert known.matching(swapped.scenario()) is not None


@pytest.mark.parametrize("event", ["rekey-child", "simultaneous", "responder-initiates"])
def test_lifecycle_entries_match_no_ikev2_and_no_first_sa_cell(event: str) -> None:
    variant = "command-initiator" if event == "rekey-child" else ""
    for pair in (("libreswan@sid", "strongswan@bookworm"), ("strongswan@bookworm", "libreswan@sid")):
        ikev2 = KNOWN.matching(LifecycleCell(*pair, 2, event, variant).scenario())
        if (event, pair) == ("simultaneous", ("strongswan@bookworm", "libreswan@sid")):
            # the one IKEv2 entry: pluto 5.2 answering charon 5.9.8 drops an IKE SA silently
            assert ikev2 is not None and ikev2.id == "ikev2-simultaneous-pluto5-drops-ike-sa-silently"
        else:
            assert ikev2 is None
        assert KNOWN.matching(cell(*pair, "aes128-sha1")) is None  # the matrix's cell
        assert KNOWN.matching(LifecycleCell(*pair, 1, "delete").scenario()) is None


def test_an_intermittent_entry_is_a_non_strict_xfail() -> None:
    entry = _lifecycle_entry(intermittent=True).entries[0]
    (xfail,) = xfail_marks(entry)
    assert xfail.kwargs["strict"] is False and xfail.kwargs["raises"] is KnownFailure
    assert entry.reason.startswith("intermittent known incompatibility x")
    with pytest.raises(ScenarioError, match="intermittent: 'yes' is not allowed"):
        _lifecycle_entry(intermittent="yes")


def test_the_first_matching_entry_applies() -> None:
    narrow = LifecycleCell("strongswan@bookworm", "libreswan@sid", 1, "simultaneous")
    broad = LifecycleCell("libreswan@sid", "strongswan@bookworm", 1, "simultaneous")
    assert KNOWN.matching(narrow.scenario()).id == "ikev1-simultaneous-strongswan-first-pluto5"
    assert KNOWN.matching(broad.scenario()).id == "ikev1-second-child-sa-strongswan-one-out-two-in"
