"""Identities and native settings: parsing, one-line errors, and what each daemon's files say
(pure: nothing is started)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.daemons.base import Daemon, PeerContext
from lab.daemons.libreswan.driver import Libreswan
from lab.daemons.racoon.driver import Racoon
from lab.daemons.strongswan.driver import StrongSwan
from lab.errors import ScenarioError
from lab.flavors import Flavor
from lab.identity import Identity, parse_identity
from lab.native import NativeLines
from lab.scenario import Peer, Scenario, load_scenario, scenario_from_dict, scenario_to_toml

FILES = Path(__file__).parents[1] / "scenarios" / "files"
LEFT, RIGHT = "2001:db8:1:1::1", "2001:db8:2:2::2"


@pytest.fixture(autouse=True)
def _libreswan_version(monkeypatch: pytest.MonkeyPatch) -> None:
    from lab.daemons.libreswan import probe
    monkeypatch.setattr(probe, "pluto_version", lambda flavor, tag: "4.10")


def scenario(left: dict[str, object] | None = None, right: dict[str, object] | None = None,
             **top: object) -> Scenario:
    data = {"name": "t", "ike_version": 2, **top,
            "left": {"address": LEFT, **(left or {})}, "right": {"address": RIGHT, **(right or {})}}
    return scenario_from_dict(data, "t.toml")


def render(cls: type[Daemon], s: Scenario, tmp_path: Path, side: str = "left") -> dict[str, str]:
    ctx = PeerContext(side, "ipl-x", tmp_path / side, Flavor(cls.name), "t", tmp_path / "cache")
    return cls(s, ctx).render()


# -- identities -------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "kind", "value"), [
    ("2001:db8:1:1::1", "address", "2001:db8:1:1::1"),
    ("@moon.example", "fqdn", "moon.example"),
    ("carol@example.org", "user_fqdn", "carol@example.org"),
    ("C=CH,O=Lab,  CN=moon.example", "dn", "C=CH, O=Lab, CN=moon.example"),
])
def test_identity_kinds(text: str, kind: str, value: str) -> None:
    assert parse_identity(text, "left.id") == Identity(kind, value)


@pytest.mark.parametrize(("text", "words"), [
    ("moon.example", "not an identity; for an FQDN write '@moon.example'"),
    ("@moon", "not an FQDN after '@'"),
    ('@moon.example"; evil', "not an FQDN after '@'"),
    ("C=CH, O=La\"b, CN=x", "O='La\"b' is not allowed"),
    ("C=Switzerland, CN=x", "C takes two capital letters"),
    ("X=1, CN=x", "'X=1' is not ATTRIBUTE=value"),
    ("C=CH, O=Lab", "has no CN"),
    ("a b@example.org", "not a user FQDN"),
])
def test_bad_identity_is_one_line(text: str, words: str) -> None:
    with pytest.raises(ScenarioError) as exc:
        scenario(left={"id": text})
    assert "\n" not in str(exc.value) and "t.toml: left.id" in str(exc.value)
    assert words in str(exc.value)


def test_identities_per_daemon(tmp_path: Path) -> None:
    s = scenario(left={"id": "@moon.example"}, right={"id": "C=CH, O=Lab, CN=sun.example"})
    conf = render(Libreswan, s, tmp_path)["ipsec.conf"]
    assert "\tleftid=@moon.example\n" in conf and '\trightid="C=CH, O=Lab, CN=sun.example"\n' in conf
    secrets = render(Libreswan, s, tmp_path)["ipsec.secrets"]
    assert "%any %any : PSK 0x" in secrets  # a DN: the only secret of this pluto
    swan = render(StrongSwan, s, tmp_path, "right")["swanctl.conf"]
    assert 'id = "C=CH, O=Lab, CN=sun.example"' in swan and "id = @moon.example" in swan
    racoon = render(Racoon, s.with_(ike_version=1), tmp_path)["racoon.conf"]
    assert 'my_identifier fqdn "moon.example";' in racoon
    assert 'peers_identifier asn1dn "C=CH, O=Lab, CN=sun.example";' in racoon
    assert "verify_identifier on;" in racoon


def test_user_fqdn_psk_index(tmp_path: Path) -> None:
    s = scenario(left={"id": "carol@example.org"}, right={"id": "@sun.example"})
    secrets = render(Libreswan, s, tmp_path)["ipsec.secrets"]
    assert "carol@example.org @sun.example : PSK 0x" in secrets


# -- native settings -----------------------------------------------------------------------
def test_native_lines_land_at_their_place(tmp_path: Path) -> None:
    native = {"libreswan": {"conn": ["fragmentation=yes", "ikelifetime=2h"],
                            "setup": ["uniqueids=no"]},
              "strongswan": {"charon": ["retransmit_tries = 2"], "connection": ["fragmentation = yes"],
                             "child": ["esp_proposals = aes256-sha256", "updown { x = 1 }"]},
              "racoon": {"remote": ["nat_traversal off;"], "sainfo": ["lifetime time 2 hour;"]}}
    s = scenario(left={"native": native}, ike_version=1)
    conf = render(Libreswan, s, tmp_path)["ipsec.conf"]
    setup, conn = conf.split("conn lab")
    assert "\tuniqueids=no" in setup and "\tfragmentation=yes" in conn
    assert "\tikelifetime=2h" in conn and "ikelifetime=3600s" not in conn  # replaced, not twice
    assert "# native (left.native.libreswan.conn)" in conn
    files = render(StrongSwan, s, tmp_path)
    charon = files["strongswan.conf"].split("charon-systemd")[0]
    assert "    retransmit_tries = 2" in charon
    swan = files["swanctl.conf"]
    assert swan.count("esp_proposals") == 1 and "esp_proposals = aes256-sha256" in swan
    assert "updown { x = 1 }" in swan and "        fragmentation = yes" in swan
    racoon = render(Racoon, s, tmp_path)["racoon.conf"]
    remote = racoon.split("remote ")[1].split("sainfo")[0]
    assert "\tnat_traversal off;" in remote
    assert racoon.count("\tlifetime time 2 hour;") == 2  # both sainfo sections


def test_native_lines_only_for_their_side_and_daemon(tmp_path: Path) -> None:
    s = scenario(left={"native": {"strongswan": {"connection": ["fragmentation = yes"]}}})
    assert "fragmentation" not in render(StrongSwan, s, tmp_path, "right")["swanctl.conf"]
    assert "fragmentation" not in render(Libreswan, s, tmp_path)["ipsec.conf"]


@pytest.mark.parametrize(("native", "words"), [
    ({"pluto": {"conn": ["a=b"]}},
     "left.native.pluto: unknown daemon (allowed: libreswan, strongswan, racoon)"),
    ({"libreswan": {"setup2": ["a=b"]}},
     "left.native.libreswan.setup2: unknown place for libreswan (allowed: setup, conn)"),
    ({"libreswan": {"conn": ["a=b\nconn evil"]}},
     "left.native.libreswan.conn[0]: 'a=b\\nconn evil' holds '\\n'"),
    ({"libreswan": {"conn": ["conn evil"]}}, "is not key=value"),
    ({"strongswan": {"child": ["} evil {"]}}, "has unbalanced braces"),
    ({"strongswan": {"child": ["x {"]}}, "has unbalanced braces"),
    ({"racoon": {"remote": ["};"]}}, "has unbalanced braces"),
    ({"racoon": {"remote": [5]}}, "left.native.racoon.remote[0]: 5 is not a string"),
    ({"racoon": {"remote": [""]}}, "is empty or too long"),
    ({"racoon": "x"}, "left.native.racoon: 'x' is not a table"),
])
def test_bad_native_is_one_line(native: dict[str, object], words: str) -> None:
    with pytest.raises(ScenarioError) as exc:
        scenario(left={"native": native})
    assert "\n" not in str(exc.value) and words in str(exc.value)


def test_native_from_python_is_checked() -> None:
    with pytest.raises(ScenarioError, match=r"left\.native"):
        Scenario("t", Peer(LEFT, native=(NativeLines("strongswan", "child", ("a {",)),)),
                 Peer(RIGHT))


def test_ids_native_auth_round_trip(tmp_path: Path) -> None:
    s = scenario(left={"id": "@moon.example",
                       "native": {"libreswan": {"conn": ["fragmentation=yes"]}}},
                 right={"id": "C=CH, O=Lab, CN=sun.example"}, auth="ecdsa")
    path = tmp_path / "again.toml"
    path.write_text(scenario_to_toml(s))
    assert load_scenario(path) == s


@pytest.mark.parametrize("name", ["fqdn-ids", "rsa-certs", "ecdsa-certs", "proposal-lists",
                                  "native-settings"])
def test_example_files_load(name: str) -> None:
    assert load_scenario(FILES / f"{name}.toml").name == name


@pytest.mark.parametrize(("top", "left", "words"), [
    ({"auth": "dsa"}, {}, "t.toml: auth: 'dsa' is not allowed (allowed: psk, rsa, ecdsa)"),
    ({"auth": True}, {}, "t.toml: auth: true is not allowed"),
    ({}, {"id": 5}, "t.toml: left.id: 5 is not an identity"),
    ({}, {"native": ["fragmentation=yes"]}, "t.toml: left.native: ['fragmentation=yes'] is not a table"),
    ({"esp": []}, {}, "t.toml: esp: [] is an empty list"),
    ({}, {"ike": ["aes128-sha1-modp2048", "x"]}, "t.toml: left.ike[1]: unknown cipher 'x'"),
])
def test_new_fields_bad_values_are_one_line(top: dict[str, object], left: dict[str, object],
                                            words: str) -> None:
    with pytest.raises(ScenarioError) as exc:
        scenario(left=left, **top)
    assert "\n" not in str(exc.value) and words in str(exc.value), str(exc.value)


def test_every_daemon_has_its_native_rules() -> None:
    """The native-line rules (lab.native.RULES) and the drivers (lab.daemons.registry) name
    the same daemons: a new daemon is refused in [SIDE.native] until it states its rules."""
    from lab.daemons.registry import DAEMONS
    from lab.native import RULES

    assert sorted(RULES) == sorted(DAEMONS)
    assert all(rules.places and rules.risky.pattern for rules in RULES.values())
