"""[negotiated]: the stated result of a negotiation, read, checked and written back."""

from __future__ import annotations

import pytest

from lab.algorithms import Proposal
from lab.errors import ScenarioError
from lab.expected import Stated
from lab.scenario import Scenario, scenario_from_dict, scenario_to_dict

SIDES = {"left": {"address": "2001:db8:1:1::1"}, "right": {"address": "2001:db8:2:2::2"}}


def load(negotiated: object, **top: object) -> Scenario:
    return scenario_from_dict({"name": "t", "negotiated": negotiated, **top, **SIDES}, "t.toml")


def test_every_key_is_read_and_written_back() -> None:
    s = load({"ike": "aes256-sha256-ecp256", "esp": "aes128gcm16", "esn": False})
    assert s.negotiated == Stated(Proposal("aes256", "sha256", "ecp256"),
                                  Proposal("aes128gcm16"), False)
    assert scenario_to_dict(s)["negotiated"] == {"ike": "aes256-sha256-ecp256",
                                                 "esp": "aes128gcm16", "esn": False}
    assert scenario_from_dict(scenario_to_dict(s), "again") == s


def test_each_key_may_be_absent() -> None:
    assert load({"esp": "aes128-sha256-modp2048"}).negotiated == \
        Stated(esp=Proposal("aes128", "sha256", "modp2048"))
    assert load({}).negotiated.empty
    assert "negotiated" not in scenario_to_dict(load({}))
    plain = scenario_from_dict({"name": "t", **SIDES}, "t.toml")
    assert plain.negotiated == Stated() and "negotiated" not in scenario_to_dict(plain)


@pytest.mark.parametrize(("table", "error"), [
    ("aes128", "t.toml: negotiated: 'aes128' is not a table (allowed: a [negotiated] table"
               " with ike, esp and/or esn)"),
    ({"pfs": "modp2048"}, "t.toml: negotiated: unknown field 'pfs' (allowed: ike, esp, esn)"),
    ({"ike": "aes128-sha256"}, "t.toml: negotiated.ike: IKE needs a DH group, e.g."
                               " 'aes128-sha256-modp2048'"),
    ({"ike": "aes128-sha256-modp999"}, "t.toml: negotiated.ike: unknown DH group 'modp999'"),
    ({"ike": ["aes128-sha256-ecp256"]}, "t.toml: negotiated.ike: \"['aes128-sha256-ecp256']\" is"
                                        " not one proposal"),
    ({"esp": "default"}, "t.toml: negotiated.esp: 'default' is not one proposal"),
    ({"esp": "aes128-sha1,aes256-sha1"}, "t.toml: negotiated.esp: 'aes128-sha1,aes256-sha1' is"
                                         " not one proposal"),
    ({"esp": "aes128gcm16-sha256"}, "t.toml: negotiated.esp: aes128gcm16 is an AEAD cipher"),
    ({"esp": 3}, "t.toml: negotiated.esp: 3 is not a proposal"),
    ({"esn": "yes"}, "t.toml: negotiated.esn: 'yes' is not allowed (allowed: true, false)"),
    ({"esn": 1}, "t.toml: negotiated.esn: '1' is not allowed (allowed: true, false)"),
])
def test_bad_values_are_one_line_naming_the_key(table: object, error: str) -> None:
    with pytest.raises(ScenarioError) as info:
        load(table)
    assert str(info.value).startswith(error) and "\n" not in str(info.value)


def test_only_with_an_established_expectation() -> None:
    with pytest.raises(ScenarioError, match=r"^t.toml: negotiated: stated with expect"
                                            r" 'no-proposal-chosen' \(allowed: only with expect"):
        load({"esn": True}, expect="no-proposal-chosen")
    load({}, expect="no-proposal-chosen")  # an empty table states nothing


def test_built_in_python_it_is_checked_too() -> None:
    base = scenario_from_dict({"name": "t", **SIDES}, "t")
    with pytest.raises(ScenarioError, match=r"^negotiated.esn: 'no' is not allowed"):
        base.with_(negotiated=Stated(esn="no"))  # type: ignore[arg-type]
    with pytest.raises(ScenarioError, match=r"^negotiated: \{'esn': True\} is not a table"):
        base.with_(negotiated={"esn": True})


def test_the_verdict_checks_a_stated_result_against_kernels_and_daemons() -> None:
    """Recorded SAs and statuses (tests/test_negotiated.py): aes128-sha1, modp2048, no ESN."""
    from dataclasses import replace

    from lab.negotiated import check
    from tests.test_negotiated import BACK, OUT, SCENARIO, SIDES, held, ike_status, statuses

    def problems(stated: Stated, left: object = None) -> list[str]:
        found = check(SCENARIO.with_(negotiated=stated), held(OUT, BACK), statuses(left), SIDES)  # type: ignore[arg-type]
        return [str(p) for p in found.problems]

    assert problems(Stated(Proposal("aes128", "sha1", "modp2048"), Proposal("aes128", "sha1"), False)) == []
    wrong = problems(Stated(ike=Proposal("aes128", "sha1", "ecp256")))
    assert wrong == [
        "ike: negotiated IKE group modp2048, expected ecp256 (left (libreswan 5.2), test;"
        " [negotiated] ike = 'aes128-sha1-ecp256')",
        "ike: negotiated IKE group modp2048, expected ecp256 (right (strongswan 6.1.0), test;"
        " [negotiated] ike = 'aes128-sha1-ecp256')"]
    esp = problems(Stated(esp=Proposal("aes256gcm16")))
    assert esp[0].startswith("esp: negotiated ESP aes128-sha1 (cbc(aes) 128-bit key, hmac(sha1)"
                             " 96-bit ICV), expected aes256gcm16 (rfc4106(gcm(aes)) 288-bit key incl."
                             " salt, 128-bit ICV) (left (libreswan 5.2)'s kernel, spis 0xc41712cf,"
                             " 0xbc046e28; [negotiated] esp = 'aes256gcm16')"), esp
    assert problems(Stated(esn=True)) == [
        f"esp: negotiated ESN off, expected on ({side}'s kernel, {{0xbc046e28, 0xc41712cf}};"
        " [negotiated] esn = true)" for side in ("left (libreswan 5.2)", "right (strongswan 6.1.0)")]
    assert problems(Stated(esn=False), ike_status()) == []
    sha256 = replace(ike_status(), ike=replace(ike_status().ike, integrity="sha256"))  # type: ignore[type-var]
    assert problems(Stated(ike=Proposal("aes128", "sha1", "modp2048")), sha256) == [
        "ike: negotiated IKE integrity sha256, expected sha1 (left (libreswan 5.2), test;"
        " [negotiated] ike = 'aes128-sha1-modp2048')"]
