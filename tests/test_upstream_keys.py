"""The upstream suite's keys: [origin] (metadata, refused in one line when bad, round-trips,
reaches no daemon file), [[must_not_pass]] (read, resolved against the topology, judged),
and the selectors check, all pure (the probes themselves run in scenarios/test_upstream.py)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from lab.blocked import Probe, resolve
from lab.errors import ScenarioError
from lab.peers import Network, load_case, network_from_dict, network_to_dict
from lab.scenario import Scenario, scenario_from_dict, scenario_to_toml
from lab.wire import blocked, selectors
from lab.xfrm import Policy

COMMIT = "3b902ea59b86a8ac097e27a34db85feb877a00f9"
ORIGIN = {"project": "strongswan", "path": "testing/tests/ikev2/net2net-psk", "commit": COMMIT,
          "checks": ["the IKE SA is established"]}
NET = {"name": "t", "topology": "net-to-net", "mode": "tunnel",
       "left": {"address": "192.168.0.1", "subnet": "10.1.0.0/16"},
       "right": {"address": "192.168.0.2", "subnet": "10.2.0.0/16"}}
UPSTREAM = Path(__file__).parents[1] / "scenarios" / "upstream"


def load(**top: Any) -> Scenario:
    return scenario_from_dict({**NET, **top}, "t.toml")


def test_origin_is_read_and_round_trips() -> None:
    s = load(origin={**ORIGIN, "not_checked": ["the ESP length"]}, ping_size=120, esp_length=200,
             must_not_pass=[{"from": "left-host", "to": "10.2.0.99", "unreachable": True}])
    assert s.origin is not None and s.origin.case == "net2net-psk"
    assert s.origin.not_checked == ("the ESP length",)
    again = scenario_from_dict(tomllib.loads(scenario_to_toml(s)), "again.toml")
    assert again == s


@pytest.mark.parametrize(("change", "words"), [
    ({"project": "openswan"}, "t.toml: origin.project: 'openswan' is not allowed (allowed:"
                              " strongswan, libreswan)"),
    ({"path": "testing/pluto/x"}, "t.toml: origin.path: 'testing/pluto/x' is not allowed"
                                  " (allowed: a case's directory in strongswan's tree,"
                                  " testing/tests/CASE)"),
    ({"path": "testing/tests/../etc"}, "origin.path: 'testing/tests/../etc' is not allowed"),
    ({"commit": "abc"}, "t.toml: origin.commit: 'abc' is not allowed (allowed: the 40"),
    ({"checks": []}, "t.toml: origin.checks: empty (allowed: a list of at least one line(s)"),
    ({"checks": ["a\nb"]}, "t.toml: origin.checks[0]: 'a\\nb' is not allowed"),
    ({"not_checked": "x"}, "t.toml: origin.not_checked: 'x' is not a list"),
    ({"why": 1}, "t.toml: origin.why: unknown field (allowed: project, path, commit, checks,"
                 " not_checked)"),
])
def test_a_bad_origin_is_one_line(change: dict[str, Any], words: str) -> None:
    with pytest.raises(ScenarioError) as info:
        load(origin={**ORIGIN, **change})
    assert words in str(info.value) and "\n" not in str(info.value)


def test_a_missing_origin_key_is_named() -> None:
    with pytest.raises(ScenarioError, match=r"^t\.toml: origin\.commit: missing"):
        load(origin={k: v for k, v in ORIGIN.items() if k != "commit"})


def test_probes_resolve_against_the_topology() -> None:
    s = load(must_not_pass=[{"from": "left-host", "to": "10.2.0.99", "unreachable": True},
                            {"from": "10.1.0.1", "to": "right"}, {"from": "left", "to": "right-host"}])
    got = resolve(s, s.must_not_pass)
    assert [(r.node, r.src, r.dst, r.side) for r in got] == [
        ("left-host", "10.1.0.2", "10.2.0.99", "left"), ("left", "10.1.0.1", "192.168.0.2", "left"),
        ("left", None, "10.2.0.2", "left")]
    assert got[0].probe.unreachable and got[1].own == ("192.168.0.1", "10.1.0.1")


@pytest.mark.parametrize(("probes", "words"), [
    ([{"from": "router", "to": "right"}], "must_not_pass[0].from: 'router' is no node of topology"
                                          " net-to-net and no address one holds (allowed: left"),
    ([{"from": "left", "to": "ff02::1"}], "must_not_pass[0].to: 'ff02::1' is not allowed"),
    ([{"from": "left-host", "to": "2001:db8::1"}], "must_not_pass[0]: from 'left-host' to"
                                                   " '2001:db8::1' mixes IPv4 and IPv6"),
    ([{"from": "left", "to": "right", "via": "x"}], "must_not_pass[0].via: unknown field"),
    ([{"from": "left", "to": "right", "unreachable": 1}], "must_not_pass[0].unreachable: 1 is"
                                                          " not allowed (allowed: true or false)"),
    ([], "must_not_pass: [] is not allowed"),
])
def test_a_bad_probe_is_one_line(probes: list[Any], words: str) -> None:
    with pytest.raises(ScenarioError) as info:
        load(must_not_pass=probes)
    assert words in str(info.value) and "\n" not in str(info.value)


def test_probes_need_an_established_first_sa() -> None:
    with pytest.raises(ScenarioError, match="must_not_pass: probes run after the first SA"):
        load(must_not_pass=[{"from": "left", "to": "right"}], expect="timeout")


def _result(**kw: Any) -> blocked.ProbeResult:
    s = load(must_not_pass=[{"from": "left-host", "to": "10.2.0.99", "unreachable": True}])
    return blocked.ProbeResult(resolve(s, s.must_not_pass)[0], b"tok", **kw)


def test_a_probe_that_was_kept_in_passes() -> None:
    assert blocked.findings([_result(unreachable=True, unreachable_from="192.168.0.2")]) == []


@pytest.mark.parametrize(("kw", "words"), [
    ({"replied": True, "unreachable": True}, "an echo reply came back"),
    ({"in_clear": ["10.1.0.2 > 10.2.0.99: ICMP type 8"], "unreachable": True},
     "1 packet(s) of it in clear between the peers, first: 10.1.0.2 > 10.2.0.99: ICMP type 8"),
    ({}, "no ICMP destination unreachable came back (unreachable = true)"),
    ({"error": "Network is unreachable"}, "could not be sent (Network is unreachable), so it"
                                          " proves nothing"),
])
def test_each_broken_promise_names_side_and_probe(kw: dict[str, Any], words: str) -> None:
    found = blocked.findings([_result(**kw)])
    assert found == [f"must_not_pass: left: must_not_pass[0] from left-host (10.1.0.2) to"
                     f" 10.2.0.99: {words}"]


def test_in_clear_counts_what_carries_the_token_outside_esp() -> None:
    packets = [SimpleNamespace(kind="esp", raw_ip=b"..tok..", line=lambda: "esp"),
               SimpleNamespace(kind="other", raw_ip=b"..tok..", line=lambda: "icmp error"),
               SimpleNamespace(kind="echo", raw_ip=b"other", line=lambda: "echo")]
    assert blocked.in_clear(packets, b"tok") == ["icmp error"]  # type: ignore[arg-type]


def _policy(direction: str, src: str, dst: str) -> Policy:
    (s, sl), (d, dl) = src.split("/"), dst.split("/")
    return Policy(direction, s, int(sl), d, int(dl), 0, True, "allow")


def test_selectors_are_exactly_the_subnets() -> None:
    s = load()
    left = [_policy("out", "10.1.0.0/16", "10.2.0.0/16"), _policy("in", "10.2.0.0/16", "10.1.0.0/16"),
            _policy("fwd", "10.2.0.0/16", "10.1.0.0/16")]
    right = [_policy("out", "10.2.0.0/24", "10.1.0.0/16"), _policy("in", "10.1.0.0/16", "10.2.0.0/16")]
    found = selectors.findings(s, {"left": left, "right": right})
    assert found == ["selectors: right's kernel holds no IPsec policy out 10.2.0.0/16 > 10.1.0.0/16"
                     " (the scenario's traffic)",
                     "selectors: right's kernel holds IPsec policies other than the scenario's"
                     " 10.2.0.0/16 <> 10.1.0.0/16: 10.2.0.0/24 > 10.1.0.0/16 proto 0 out ipsec"]


def test_every_upstream_file_loads_with_its_origin() -> None:
    files = sorted(UPSTREAM.glob("*.toml"))
    assert len(files) >= 30
    networks = 0
    for path in files:
        s = load_case(path)
        assert s.origin is not None and path.stem.endswith(s.origin.case), path.name
        if isinstance(s, Network):  # a road warrior: a network cell
            networks += 1
            continue
        assert isinstance(s.must_not_pass, tuple) and all(isinstance(p, Probe) for p in s.must_not_pass)
    assert networks >= 2


RW = {"topology": "road-warrior", "pool": "10.3.0.0/28",
      "nodes": {"moon": {"flavor": "strongswan@sid", "address": "192.168.0.1",
                         "subnet": "10.1.0.0/16"},
                "carol": {"flavor": "strongswan@sid", "address": "192.168.1.100"},
                "dave": {"flavor": "strongswan@sid", "address": "192.168.2.200"}},
      "connections": [{"client": "carol", "gateway": "moon"},
                      {"client": "dave", "gateway": "moon"}]}


def test_a_network_scenario_reads_and_round_trips_its_origin() -> None:
    origin = {**ORIGIN, "path": "testing/tests/ikev2/ip-pool", "not_checked": ["the leases"]}
    n = network_from_dict({**RW, "origin": origin}, "rw.toml")
    assert n.origin is not None and n.origin.case == "ip-pool"
    assert n.origin.not_checked == ("the leases",)
    assert network_from_dict(network_to_dict(n), "again.toml") == n
    assert network_from_dict(RW, "rw.toml").origin is None


def test_a_network_scenario_names_a_bad_origin_in_one_line() -> None:
    with pytest.raises(ScenarioError) as info:
        network_from_dict({**RW, "origin": {**ORIGIN, "commit": "abc"}}, "rw.toml")
    assert str(info.value).startswith("rw.toml: origin.commit: 'abc' is not allowed")
    assert "\n" not in str(info.value)


def test_esp_length_is_measured_from_the_esp_header() -> None:
    from lab.wire import esplength
    from lab.wire.packets import ESP, Packet

    ip4 = bytes([0x45]) + bytes(19)  # a 20-byte IPv4 header
    good = Packet(0.0, "192.168.0.100", "192.168.0.1", ESP, spi=1, seq=1, raw_ip=ip4 + bytes(200))
    bad = Packet(0.0, "192.168.0.1", "192.168.0.100", ESP, spi=2, seq=1, raw_ip=ip4 + bytes(216))
    pair = {"192.168.0.100", "192.168.0.1"}
    assert esplength.esp_length(good) == 200
    assert esplength.findings([good], pair, 200) == []
    assert esplength.findings([good, bad], pair, 200) == [
        "esp_length: 1 of 2 ESP packets are not 200 bytes long (ESP header to ICV), first: 216"
        " bytes, 192.168.0.1 > 192.168.0.100: ESP(spi=0x00000002,seq=0x1)"]
    assert esplength.findings([], pair, 200)[0].startswith("esp_length: no ESP packet")
    assert len(esplength.payload(120)) == 120 and esplength.payload(None) == b"ipsec-lab ping "


@pytest.mark.parametrize(("key", "value", "words"), [
    ("ping_size", 8, "t.toml: ping_size: 8 is not allowed (allowed: 16..1400 bytes)"),
    ("esp_length", True, "t.toml: esp_length: true is not allowed (allowed: 16..1500 bytes)"),
])
def test_bad_sizes_are_one_line(key: str, value: Any, words: str) -> None:
    with pytest.raises(ScenarioError, match=f"^{words.replace('(', '[(]').replace(')', '[)]')}$"):
        load(**{key: value})


H2N = {"name": "t", "topology": "host-to-net", "mode": "tunnel",
       "left": {"address": "192.168.0.100"},
       "right": {"address": "192.168.0.1", "subnet": "10.1.0.0/16"}}


def test_host_to_net_protects_the_right_subnet_only() -> None:
    s = scenario_from_dict(H2N, "t.toml")
    assert str(selectors.wanted(s, "left")) == "192.168.0.100/32"
    assert str(selectors.wanted(s, "right")) == "10.1.0.0/16"
    got = resolve(s, blocked_probes([{"from": "left", "to": "right-host"}]))
    assert (got[0].node, got[0].dst) == ("left", "10.1.0.2")


def blocked_probes(value: list[Any]) -> tuple[Probe, ...]:
    from lab.blocked import parse_probes

    return parse_probes(value, "must_not_pass")


@pytest.mark.parametrize(("change", "words"), [
    ({"right": {"address": "192.168.0.1"}}, "t.toml: right.subnet: missing (allowed: a network"
                                            " such as '10.1.0.0/24'; topology host-to-net needs"
                                            " one on right)"),
    ({"left": {"address": "192.168.0.100", "subnet": "10.9.0.0/16"}},
     "t.toml: left.subnet: '10.9.0.0/16' is not allowed in topology host-to-net (allowed: no"
     " subnet on left in host-to-net"),
    ({"mode": "transport"}, "t.toml: mode: 'transport' is not allowed in topology host-to-net"
                            " (allowed: tunnel)"),
    ({"right": {"address": "192.168.0.1", "subnet": "2001:db8:22::/64"}},
     "t.toml: right.subnet: '2001:db8:22::/64' is IPv6 but the addresses are IPv4"),
])
def test_host_to_net_refuses_in_one_line(change: dict[str, Any], words: str) -> None:
    with pytest.raises(ScenarioError) as info:
        scenario_from_dict({**H2N, **change}, "t.toml")
    assert str(info.value).startswith(words), str(info.value)
