"""strongSwan's native plugins lines: one that would load a plugin is refused in one line
(the lab loads a fixed list); a plugin's other settings and a whole 'load' list take effect."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.daemons.base import PeerContext
from lab.daemons.strongswan.driver import StrongSwan
from lab.errors import ScenarioError
from lab.flavors import Flavor
from lab.scenario import Scenario, scenario_from_dict

LEFT, RIGHT = "2001:db8:1:1::1", "2001:db8:2:2::2"


def scenario(*lines: str) -> Scenario:
    return scenario_from_dict({"name": "t", "left": {"address": LEFT}, "right": {
        "address": RIGHT, "native": {"strongswan": {"charon": list(lines)}}}}, "t.toml")


def strongswan_conf(s: Scenario, tmp_path: Path) -> str:
    ctx = PeerContext("right", "ipl-x", tmp_path / "right", Flavor("strongswan"), "t", tmp_path / "c")
    return StrongSwan(s, ctx).render()["strongswan.conf"]


@pytest.mark.parametrize("line", ["plugins { eap-md5 { load = yes } }",
                                  "plugins {eap-md5{load=yes}}",
                                  "plugins { openssl { fips_mode = 0 } eap-md5 { load = yes } }"])
def test_a_plugins_load_line_is_refused_in_one_line(line: str) -> None:
    with pytest.raises(ScenarioError) as exc:
        scenario(line)
    text = str(exc.value)
    assert "\n" not in text
    assert text.startswith(f"t.toml: right.native.strongswan.charon[0]: {line!r} sets plugins.")
    assert ".load, which has no effect: the lab loads a fixed plugin list" in text
    assert "(allowed: a 'load = PLUGIN PLUGIN ...' line, which replaces the lab's list)" in text


def test_a_plugins_setting_and_a_load_list_take_effect(tmp_path: Path) -> None:
    conf = strongswan_conf(scenario("plugins { openssl { fips_mode = 0 } }",
                                    "load = random nonce openssl kernel-netlink socket-default vici"),
                           tmp_path)
    assert "plugins { openssl { fips_mode = 0 } }" in conf
    charon, systemd = conf.split("charon-systemd")[:2]
    assert "load = random nonce openssl kernel-netlink socket-default vici" in charon
    assert charon.count("load = ") == 1  # the lab's own list is left out
    # charon-systemd (the binary the lab starts where there is one) reads its own section
    # first: the lab's list must not be there either, or the native list does nothing
    assert "load = " not in systemd.split("swanctl")[0]


def test_without_a_native_load_both_sections_carry_the_labs_list(tmp_path: Path) -> None:
    conf = strongswan_conf(scenario("retransmit_tries = 3"), tmp_path)
    charon, systemd = conf.split("charon-systemd")[:2]
    assert "load = " in charon and "load = " in systemd.split("swanctl")[0]


def test_load_elsewhere_than_a_plugins_section_is_fine() -> None:
    scenario("plugins { load = x }", "something { eap-md5 { load = yes } }")
