"""Known incompatibilities field by field: what an entry parses to (every field and its
default), each error's exact line, which settings of which side an entry narrows on, the
versions of both ends, loading a file, and the version a flavor's daemon reports."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab import known as known_mod
from lab.algorithms import Proposal, parse_proposal
from lab.errors import DaemonError, ScenarioError
from lab.flavors import Flavor
from lab.known import (
    Ends,
    Incompatibility,
    daemon_version,
    load,
    load_for_pytest,
    parse,
    run_version,
    xfail_marks,
)
from lab.scenario import Peer, Scenario

L, R = "2001:db8:1:1::1", "2001:db8:2:2::2"
MINIMAL = {"id": "x", "what": "w", "reference": "r", "fails_with": "boom",
           "one": {"flavors": "libreswan"}, "other": {"flavors": ["strongswan@*"]}}


def test_every_field_of_an_entry_is_parsed() -> None:
    raw = {**MINIMAL, "workaround": "wa", "fails_with": ["a", "b"],
           "one": {"flavors": ["libreswan@sid"], "versions": ["5."]},
           "esp_integrity": ["sha1"], "esp_cipher": "aes128", "ike_versions": [1],
           "modes": ["tunnel"], "lifecycles": ["rekey-child"], "actors": "responder",
           "rekey_by": ["lifetime"], "acting": "other", "intermittent": True}
    (entry,) = parse({"incompatibility": [raw]}, "k.toml").entries
    assert entry == Incompatibility(
        id="x", what="w", reference="r", one=Ends(("libreswan@sid",), ("5.",)),
        other=Ends(("strongswan@*",)), fails_with=("a", "b"), workaround="wa",
        esp_integrity=("sha1",), esp_cipher=("aes128",), ike_versions=(1,), modes=("tunnel",),
        lifecycles=("rekey-child",), actors=("responder",), rekey_by=("lifetime",),
        acting="other", intermittent=True, source="k.toml")


def test_an_entry_with_only_the_required_fields_has_the_defaults() -> None:
    (entry,) = parse({"incompatibility": [MINIMAL]}, "k.toml").entries
    assert entry == Incompatibility(id="x", what="w", reference="r", one=Ends(("libreswan",)),
                                    other=Ends(("strongswan@*",)), fails_with=("boom",),
                                    source="k.toml")
    assert entry.reason == "known incompatibility x (k.toml): w; reference: r"
    assert parse({}, "k.toml").entries == []


W = "k.toml: incompatibility #2"


@pytest.mark.parametrize(("data", "words"), [
    ({"incompatibility": [MINIMAL], "other": 1}, "k.toml: expected [[incompatibility]] tables only"),
    ({"incompatibility": MINIMAL}, "k.toml: expected [[incompatibility]] tables only"),
    ({"incompatibility": [MINIMAL, MINIMAL]}, f"{W}: id 'x' is used twice"),
    ({"incompatibility": [MINIMAL, {**MINIMAL, "id": "y", "colour": 1, "acting": 2}]},
     f"{W}: unknown field 'colour' (allowed: acting, actors, esp_cipher, esp_integrity,"
     " fails_with, id, ike_versions, intermittent, lifecycles, modes, one, other, reference,"
     " rekey_by, what, workaround)"),
    ({"incompatibility": [MINIMAL, {**MINIMAL, "id": "y", "intermittent": "yes"}]},
     f"{W}: intermittent: 'yes' is not allowed (allowed: true, false)"),
    ({"incompatibility": [MINIMAL, {**MINIMAL, "id": "y", "ike_versions": [3]}]},
     f"{W}: ike_versions: [3] is not allowed (allowed: a list of 1, 2)"),
    ({"incompatibility": [MINIMAL, {**MINIMAL, "id": "y", "ike_versions": 1}]},
     f"{W}: ike_versions: 1 is not allowed (allowed: a list of 1, 2)"),
    ({"incompatibility": [MINIMAL, {**MINIMAL, "id": "y", "fails_with": [1]}]},
     f"{W}: fails_with: [1] is not a string or a list of strings"),
    ({"incompatibility": [MINIMAL, {**MINIMAL, "id": "y", "fails_with": 1}]},
     f"{W}: fails_with: 1 is not a string or a list of strings"),
    ({"incompatibility": [MINIMAL, {**MINIMAL, "id": "y", "one": {"flavors": 1}}]},
     f"{W}: one.flavors: 1 is not a string or a list of strings"),
    ({"incompatibility": [MINIMAL, {**MINIMAL, "id": "y", "other": {"flavors": "a", "versions": 5}}]},
     f"{W}: other.versions: 5 is not a string or a list of strings"),
    ({"incompatibility": [MINIMAL, {**MINIMAL, "id": "y", "other": {"flavors": "a", "v": 1, "w": 2}}]},
     f"{W}: other.v: unknown field (allowed: flavors, versions)"),
    ({"incompatibility": [MINIMAL, {**MINIMAL, "id": "y", "other": "strongswan"}]},
     f"{W}: other: a table with 'flavors' is required"),
    ({"incompatibility": [MINIMAL, {**MINIMAL, "id": "y", "esp_cipher": ["aes1024"]}]},
     f"{W}: esp_cipher: 'aes1024' is not allowed (allowed: "),
    ({"incompatibility": [MINIMAL, {**MINIMAL, "id": "y", "modes": ["beet"]}]},
     f"{W}: modes: 'beet' is not allowed (allowed: transport, tunnel)"),
    ({"incompatibility": [MINIMAL, {**MINIMAL, "id": "y", "acting": "both"}]},
     f"{W}: acting: 'both' is not allowed (allowed: one, other)"),
    ({"incompatibility": [MINIMAL, {**MINIMAL, "id": "y", "acting": ["one", 1]}]},
     f"{W}: acting: ['one', 1] is not a string or a list of strings"),
])
def test_each_error_is_one_exact_line(data: dict[str, object], words: str) -> None:
    with pytest.raises(ScenarioError) as exc:
        parse(data, "k.toml")
    assert str(exc.value).startswith(words) and "\n" not in str(exc.value)
    if not words.endswith("(allowed: "):
        assert str(exc.value) == words


def test_acting_one_is_parsed() -> None:
    (entry,) = parse({"incompatibility": [{**MINIMAL, "acting": ["one"]}]}, "k.toml").entries
    assert entry.acting == "one"


def test_marks_carry_the_reason_and_the_xpass_message() -> None:
    (entry,) = parse({"incompatibility": [{**MINIMAL, "workaround": "wa"}]}, "k.toml").entries
    xfail, mark = xfail_marks(entry)
    assert xfail.kwargs == {"strict": True, "raises": known_mod.KnownFailure,
                            "reason": "known incompatibility x (k.toml): w; reference: r;"
                                      " workaround: wa"}
    assert mark.kwargs == {"id": "x", "xpass": "XPASS: known incompatibility x is GONE: this"
                           " cell passed although k.toml says it fails (w); remove or narrow"
                           " the entry"}
    (flaky,) = xfail_marks(Incompatibility(**{**entry.__dict__, "intermittent": True}))
    assert flaky.kwargs["reason"] == ("intermittent known incompatibility x (k.toml): w;"
                                      " reference: r; workaround: wa")


# -- matching: each side's settings, both ends' versions -------------------------------------

def scenario(left: Peer, right: Peer, **fields: object) -> Scenario:
    return Scenario("s", left, right, **fields)  # type: ignore[arg-type]


def entry(**fields: object) -> Incompatibility:
    return parse({"incompatibility": [{**MINIMAL, **fields}]}, "k.toml").entries[0]


def esp(name: str) -> Proposal:
    return parse_proposal(name, "esp", needs_dh=False)


def test_an_implementation_name_matches_its_every_flavor() -> None:
    e = entry(other={"flavors": "strongswan"})
    assert e.matches(scenario(Peer(L, "libreswan@sid"), Peer(R, "strongswan@bookworm")))
    assert not e.matches(scenario(Peer(L, "libreswan@sid"), Peer(R, "racoon")))
    # a tree's path may hold an '@': the implementation is what comes before the first
    assert e.matches(scenario(Peer(L, "libreswan@sid"), Peer(R, "strongswan@/opt/sw@6")))


@pytest.mark.parametrize(("field", "value", "left", "right", "hit"), [
    ("esp_cipher", ["aes256"], {"esp": esp("aes256-sha1")}, {"esp": esp("aes256-sha1")}, True),
    ("esp_cipher", ["aes256"], {"esp": esp("aes256-sha1")}, {"esp": esp("aes128-sha1")}, False),
    ("esp_cipher", ["aes256"], {"esp": esp("aes128-sha1")}, {"esp": esp("aes256-sha1")}, False),
    ("esp_cipher", ["aes256"], {"esp": ()}, {"esp": esp("aes256-sha1")}, False),
    ("esp_integrity", ["sha1"], {"esp": esp("aes128-md5")}, {"esp": esp("aes256-sha1")}, False),
    ("esp_integrity", ["sha1"], {"esp": esp("aes128-sha1")}, {"esp": esp("aes256-sha1")}, True),
    ("ike_versions", [1], {"ike_version": 2}, {}, False),
    ("ike_versions", [1], {}, {}, True),
    ("modes", ["tunnel"], {"mode": "transport"}, {}, False),
    ("modes", ["tunnel"], {}, {}, True),
])
def test_settings_narrow_on_each_side(field: str, value: list[object], left: dict[str, object],
                                      right: dict[str, object], hit: bool) -> None:
    s = scenario(Peer(L, "libreswan@sid", **left), Peer(R, "strongswan@bookworm", **right),
                 ike_version=1, mode="tunnel")  # type: ignore[arg-type]
    assert entry(**{field: value}).matches(s) is hit


def test_the_versions_of_both_ends_are_asked() -> None:
    e = entry(one={"flavors": "libreswan", "versions": ["5."]},
              other={"flavors": "strongswan@*", "versions": ["6.1"]})
    versions = {"libreswan@sid": "5.2", "strongswan@bookworm": "5.9.8"}
    s = scenario(Peer(L, "libreswan@sid"), Peer(R, "strongswan@bookworm"))
    assert not e.matches(s, versions.__getitem__)  # strongSwan's version is not affected
    assert e.matches(s, {**versions, "strongswan@bookworm": "6.1.0"}.__getitem__)
    swapped = scenario(Peer(L, "strongswan@bookworm"), Peer(R, "libreswan@sid"))
    assert not e.matches(swapped, versions.__getitem__)
    assert e.matches(s)  # without a way to ask, versions do not narrow


# -- loading -----------------------------------------------------------------------------------

TOML = """\
[[incompatibility]]
id = "x"
what = "w"
reference = "r"
fails_with = "boom"
one = { flavors = "libreswan" }
other = { flavors = "strongswan" }
"""


def test_load_names_the_file_by_its_name_or_as_told(tmp_path: Path) -> None:
    (tmp_path / "k.toml").write_text(TOML)
    assert load(tmp_path / "k.toml").entries[0].source == "k.toml"
    assert load(str(tmp_path / "k.toml"), "scenarios/k.toml").entries[0].source == "scenarios/k.toml"
    assert load_for_pytest(tmp_path / "k.toml").entries[0].source == "scenarios/k.toml"


def test_load_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError) as exc:
        load(tmp_path / "none.toml")
    assert str(exc.value) == f"{tmp_path}/none.toml: no such file of known incompatibilities"
    (tmp_path / "bad.toml").write_text("id = \n")
    with pytest.raises(ScenarioError) as exc:
        load(tmp_path / "bad.toml")
    assert str(exc.value).startswith(f"{tmp_path}/bad.toml: not valid TOML: ")
    (tmp_path / "twice.toml").write_text(TOML + TOML)
    with pytest.raises(pytest.UsageError) as usage:
        load_for_pytest(tmp_path / "twice.toml")
    assert str(usage.value) == "scenarios/twice.toml: incompatibility #2: id 'x' is used twice"


# -- the version a flavor's daemon reports -------------------------------------------------------

class FakeDaemon:
    lacks: str | None = None

    @classmethod
    def missing(cls, flavor: Flavor) -> str | None:
        return cls.lacks if flavor.impl == "strongswan" else "another daemon"

    @classmethod
    def version(cls, flavor: Flavor, tag: str) -> str:
        if tag == "broken":
            raise DaemonError("cannot run it")
        return f"{flavor.impl} 1.0 ({tag})"


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> type[FakeDaemon]:
    monkeypatch.setattr(known_mod, "DAEMONS", {"strongswan": FakeDaemon})
    monkeypatch.setattr(known_mod, "tree_missing", lambda flavor: None if flavor.impl else "?")
    FakeDaemon.lacks = None
    return FakeDaemon


def test_daemon_version_asks_the_driver(fake: type[FakeDaemon],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    assert daemon_version("strongswan", "t1") == "strongswan 1.0 (t1)"
    assert daemon_version("libreswan", "t1") == "unknown"  # no driver registered
    assert daemon_version("nosuchdaemon", "t1") == "unknown"  # not a flavor at all
    assert daemon_version("strongswan", "broken") == "unknown"
    fake.lacks = "no charon"
    assert daemon_version("strongswan", "t1") == "unknown"
    fake.lacks = None
    monkeypatch.setattr(known_mod, "tree_missing", lambda flavor: "no tree")
    assert daemon_version("strongswan", "t1") == "unknown"


def test_run_version_uses_the_runs_tag(fake: type[FakeDaemon],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(known_mod.TAG_VAR, "run-7")
    assert run_version("strongswan") == "strongswan 1.0 (run-7)"
    monkeypatch.delenv(known_mod.TAG_VAR)
    assert run_version("strongswan") == "strongswan 1.0 (ipsec-lab)"
