"""The scenario model: parsing, and one-line errors that name the field."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lab.algorithms import Proposal, parse_proposal
from lab.errors import ScenarioError
from lab.scenario import Peer, Scenario, load_scenario, scenario_to_toml, seed_scenario

SEED_FILE = Path(__file__).parents[1] / "scenarios" / "files" / "openswan-seed.toml"


def test_seed_file_is_the_source_text_connection() -> None:
    s = load_scenario(SEED_FILE)
    assert (s.left.address, s.right.address) == ("2001:db8:1:1::1", "2001:db8:2:2::2")
    assert s.ike == Proposal("aes128", "sha1", "modp2048")  # the text's modp1024: no Libreswan here has it
    assert (s.left.flavor, s.right.flavor) == ("libreswan", "racoon@0.9.1")
    assert s.esp == Proposal("aes128", "sha1")
    assert (s.ike_version, s.mode, s.psk) == (1, "transport", "verysecret")


@pytest.mark.parametrize(("text", "expected"), [
    ("aes128-sha1-modp2048", Proposal("aes128", "sha1", "modp2048")),
    ("AES256-SHA256-ECP256", Proposal("aes256", "sha256", "ecp256")),
    ("aes128gcm16-sha256-curve25519", Proposal("aes128gcm16", "sha256", "curve25519")),
])
def test_ike_proposals(text: str, expected: Proposal) -> None:
    assert parse_proposal(text, "ike", needs_dh=True) == expected


def test_esp_aead_takes_no_integrity() -> None:
    assert parse_proposal("aes128gcm16", "esp", needs_dh=False) == Proposal("aes128gcm16")
    with pytest.raises(ScenarioError, match="AEAD"):
        parse_proposal("aes128gcm16-sha1", "esp", needs_dh=False)


def _one_line(exc: pytest.ExceptionInfo[ScenarioError]) -> str:
    text = str(exc.value)
    assert "\n" not in text
    return text


def test_unknown_algorithm_in_a_file_names_file_field_value_and_choices(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(SEED_FILE.read_text().replace('esp = "aes128-sha1"', 'esp = "aes129-sha1"'))
    with pytest.raises(ScenarioError) as exc:
        load_scenario(bad)
    text = _one_line(exc)
    assert str(bad) in text and "esp" in text and "'aes129'" in text
    assert "allowed: 3des, aes128" in text


@pytest.mark.parametrize(("change", "field"), [
    ({"mode": "beet"}, "mode"),
    ({"ike_version": 3}, "ike_version"),
    ({"initiator": "middle"}, "initiator"),
    ({"child_lifetime": 3}, "child_lifetime"),
    ({"left": Peer("192.0.2.1")}, "right.address"),  # families differ
    ({"right": Peer("not-an-address")}, "right.address"),
])
def test_invalid_fields(change: dict, field: str) -> None:
    with pytest.raises(ScenarioError) as exc:
        seed_scenario().with_(**change)
    assert _one_line(exc).startswith(field)


def test_unknown_field_in_file(tmp_path: Path) -> None:
    bad = tmp_path / "typo.toml"
    bad.write_text(SEED_FILE.read_text().replace("mode =", "mood ="))
    with pytest.raises(ScenarioError, match="unknown field 'mood'"):
        load_scenario(bad)


def test_missing_file_and_bad_toml(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="no such scenario file"):
        load_scenario(tmp_path / "nope.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("mode = \n")
    with pytest.raises(ScenarioError, match="not valid TOML"):
        load_scenario(broken)


def test_ike_needs_dh() -> None:
    with pytest.raises(ScenarioError, match="DH group"):
        Scenario("x", Peer("2001:db8::1"), Peer("2001:db8::2"), ike=Proposal("aes128", "sha1"))


def test_per_side_settings_and_expect_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "sides.toml"
    path.write_text('expect = "mode-mismatch"\nmode = "transport"\n'
                    '[left]\naddress = "2001:db8:1:1::1"\nmode = "tunnel"\nesp = "aes256-sha256"\n'
                    '[right]\naddress = "2001:db8:2:2::2"\nike = "aes256-sha256-modp3072"\n'
                    'ike_version = 1\n')
    s = load_scenario(path)
    assert (s.ike_version_of("left"), s.ike_version_of("right")) == (2, 1)
    assert (s.mode_of("left"), s.mode_of("right"), s.expect) == ("tunnel", "transport", "mode-mismatch")
    assert str(s.esp_of("left")) == "aes256-sha256" and str(s.esp_of("right")) == "aes128-sha1"
    assert str(s.ike_of("right")) == "aes256-sha256-modp3072" and str(s.ike_of("left")) == str(s.ike)
    again = tmp_path / "again.toml"
    again.write_text(scenario_to_toml(s))
    assert load_scenario(again) == s


@pytest.mark.parametrize("text, words", [
    ('expect = "maybe"', "expect: 'maybe' is not allowed"),
    ('[left]\naddress = "2001:db8:1:1::1"\nmode = "beet"', "left.mode: 'beet' is not allowed"),
    ('[left]\naddress = "2001:db8:1:1::1"\nike = "aes128-sha1"', "left.ike: IKE needs a DH group"),
    ('[left]\naddress = "2001:db8:1:1::1"\nike_version = 3',
     "left.ike_version: 3 is not allowed (allowed: 1, 2)"),
    ('[left]\naddress = "2001:db8:1:1::1"\nike = "aes256-sha256_96-modp2048"',
     "left.ike: 'sha256_96' is for ESP only"),
])
def test_per_side_errors(tmp_path: Path, text: str, words: str) -> None:
    base = {"expect": "", "left": '[left]\naddress = "2001:db8:1:1::1"',
            "right": '[right]\naddress = "2001:db8:2:2::2"'}
    if text.startswith("[left]"):
        base["left"] = text
    else:
        base["expect"] = text
    path = tmp_path / "bad.toml"
    path.write_text("\n".join([base["expect"], base["left"], base["right"]]) + "\n")
    with pytest.raises(ScenarioError, match=re.escape(words)):
        load_scenario(path)


def test_sha256_96_is_an_esp_integrity() -> None:
    assert parse_proposal("aes256-sha256_96", "esp", needs_dh=False) == Proposal("aes256", "sha256_96")
