"""The verdict's newer pure checks: the kernels' traffic selectors (lab.wire.selectors),
the lifecycle's SPI words (lab.lifecycle.spis), and a road-warrior cell's refused
client, gateway link and IKE SAs (lab.remote.judge), the last through a stand-in of the
cell's state (lab.remote.state.NetworkState is a protocol for this)."""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from lab.errors import ScenarioError
from lab.lifecycle.spis import spi_text, spis_text
from lab.outcome import Outcome
from lab.peers import Network, load_network, network_from_dict
from lab.remote import judge
from lab.remote.base import Session
from lab.remote.state import Stage
from lab.remote.verdict import ConnectionVerdict
from lab.sa_words import Side
from lab.scenario import Scenario, load_scenario
from lab.status import DaemonStatus, IkeStatus
from lab.wire import selectors
from lab.wire.packets import Packet
from lab.wire.traffic import PingResult
from lab.xfrm import SA, Policy

ROOT = Path(__file__).parents[1]
FILES = ROOT / "scenarios" / "files"


# -- selectors ------------------------------------------------------------------------------
def _pol(direction: str, src: str, dst: str, ipsec: bool = True) -> Policy:
    (s, sl), (d, dl) = (x.split("/") for x in (src, dst))
    return Policy(direction, s, int(sl), d, int(dl), 0, ipsec, "allow")


def _exact(mine: str, theirs: str, fwd: bool = True) -> list[Policy]:
    return [_pol("out", mine, theirs), _pol("in", theirs, mine),
            *([_pol("fwd", theirs, mine)] if fwd else [])]


L_NET, R_NET = "2001:db8:11::/64", "2001:db8:22::/64"


def test_net_to_net_selectors_are_the_subnets_both_ways() -> None:
    s = load_scenario(FILES / "net-to-net.toml")
    assert str(selectors.wanted(s, "left")) == L_NET and str(selectors.wanted(s, "right")) == R_NET
    held = {"left": _exact(L_NET, R_NET), "right": _exact(R_NET, L_NET, fwd=False)}
    assert selectors.findings(s, held) == []
    # a bypass policy (no template) is not the tunnel's: neither missing nor extra
    bypass = _pol("out", "::/0", "::/0", ipsec=False)
    assert selectors.findings(s, {**held, "left": [*held["left"], bypass]}) == []


def test_a_missing_or_extra_ipsec_policy_names_the_side() -> None:
    s = load_scenario(FILES / "net-to-net.toml")
    narrowed = [_pol("out", "2001:db8:11::1/128", R_NET), _pol("in", R_NET, L_NET)]
    found = selectors.findings(s, {"left": narrowed, "right": _exact(R_NET, L_NET)})
    assert found == [
        f"selectors: left's kernel holds no IPsec policy out {L_NET} > {R_NET} (the scenario's"
        " traffic)",
        f"selectors: left's kernel holds IPsec policies other than the scenario's {L_NET} <>"
        f" {R_NET}: 2001:db8:11::1/128 > {R_NET} proto 0 out ipsec"]
    none = selectors.findings(s, {"left": [], "right": []})
    assert len(none) == 4 and none[0].startswith("selectors: left's kernel holds no IPsec policy in")
    assert none[2].startswith("selectors: right's") and none[3].endswith("(the scenario's traffic)")
    wide = [*_exact(L_NET, R_NET), *(_pol("out", "::/0", "::/0") for _ in range(4))]
    extra = selectors.findings(s, {"left": wide, "right": _exact(R_NET, L_NET)})
    assert extra[0].endswith(": ::/0 > ::/0 proto 0 out ipsec, ::/0 > ::/0 proto 0 out ipsec,"
                             " ::/0 > ::/0 proto 0 out ipsec")  # the first three only
    # a fwd policy the wrong way round is not the gateway's forward policy
    fwd = selectors.findings(s, {"left": [*_exact(L_NET, R_NET, False), _pol("fwd", L_NET, R_NET)],
                                 "right": _exact(R_NET, L_NET)})
    assert len(fwd) == 1 and "other than the scenario's" in fwd[0]


def test_host_to_host_selectors_are_the_addresses() -> None:
    s = load_scenario(FILES / "ipv4-host-to-host.toml")
    assert str(selectors.wanted(s, "left")) == "192.0.2.1/32"
    held = {"left": _exact("192.0.2.1/32", "198.51.100.2/32"),
            "right": _exact("198.51.100.2/32", "192.0.2.1/32")}
    assert selectors.findings(s, held) == []


def test_behind_a_nat_the_selectors_are_not_checked() -> None:
    s = load_scenario(FILES / "nat.toml")
    assert s.path.nat and selectors.findings(s, {"left": [], "right": []}) == []


# -- SPIs -----------------------------------------------------------------------------------
def test_spis_are_written_in_order_eight_hex_digits_each() -> None:
    assert spi_text({0xABCD, 0x1}) == "{0x00000001, 0x0000abcd}"
    assert spi_text([]) == "{}"
    assert spis_text({"left": {2, 1}, "right": [3]}) == "left {0x00000001, 0x00000002}; right {0x00000003}"


# -- a road-warrior cell's refused client and gateway ------------------------------------------
CERT = FILES / "road-warrior-cert.toml"


@dataclass
class _Driver:
    said: Outcome | None = None
    held: list[Session] = field(default_factory=list)

    def ended(self) -> Outcome | None:
        return self.said

    def sessions(self) -> list[Session]:
        return self.held


@dataclass
class _Capture:
    packets: list[Packet] = field(default_factory=list)
    stopped: bool = False

    def stop(self) -> None:
        self.stopped = True


@dataclass
class _Cell:
    network: Network
    daemons: dict[str, _Driver]
    captures: dict[str, _Capture]
    sas: dict[str, list[SA]]
    problems: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)

    @property
    def gateway(self) -> str:
        return self.network.gateway.name

    @property
    def refused(self) -> list[str]:
        return [c.name for c in self.network.refused]

    @property
    def admitted(self) -> list[str]:
        return [c.name for c in self.network.admitted]


def _cell(said: Outcome | None, sas: list[SA] | None = None,
          packets: list[Packet] | None = None) -> _Cell:
    n = load_network(CERT)
    names = [node.name for node in n.nodes]
    return _Cell(n, {name: _Driver() for name in names} | {"mallory": _Driver(said)},
                 {name: _Capture() for name in names} | {"mallory": _Capture(packets or [])},
                 {name: [] for name in names} | {"gw": sas or []})


AUTH_FAILED = Outcome("authentication-failed", "charon: AUTHENTICATION_FAILED")


def test_a_refused_client_that_heard_so_and_holds_nothing_passes() -> None:
    cell = _cell(AUTH_FAILED)
    judge.refusals(cell)  # type: ignore[arg-type]
    assert cell.problems == []
    assert cell.lines == ["mallory: refused as expected: charon: AUTHENTICATION_FAILED"]
    assert cell.captures["mallory"].stopped


def test_a_refused_client_that_did_not_hear_it_fails() -> None:
    for said, words in ((None, "no failure"), (Outcome("timeout", "no answer"), "no answer")):
        cell = _cell(said)
        judge.refusals(cell)  # type: ignore[arg-type]
        assert cell.problems == ["(r) mallory: the gateway must refuse its certificate, but its"
                                 f" daemon reports {said or words}"] and cell.lines == []
        assert words in cell.problems[0]


def test_a_refused_client_with_sas_or_esp_on_its_link_fails() -> None:
    n = load_network(CERT)
    me, gw = n.by_name["mallory"].address, n.gateway.address
    other = n.by_name["alice"].address
    sa = SA(gw, me, 0x1234, "esp", "tunnel", 1)
    elsewhere = SA(gw, other, 0x99, "esp", "tunnel", 1)
    esp = [Packet(1.0, me, gw, 50, spi=0x1234, seq=1), Packet(2.0, gw, me, 50, spi=5, seq=1)]
    cell = _cell(AUTH_FAILED, [sa, elsewhere], esp)
    judge.refusals(cell)  # type: ignore[arg-type]
    assert cell.problems[0] == f"(r) mallory must be refused, but the kernels hold SAs with it: gw: {sa}"
    assert cell.problems[1].startswith("(r) mallory must be refused, but its link carried 2 ESP"
                                       f" packet(s), first: {esp[0].line()}")
    assert len(cell.problems) == 2
    # an echo in clear is not ESP: the refusal's own check does not count it
    clear = Packet(0.0, me, gw, 1, icmp_type=8)
    quiet = _cell(AUTH_FAILED, [elsewhere], [clear])
    judge.refusals(quiet)  # type: ignore[arg-type]
    assert quiet.problems == []


def test_echoes_in_clear_on_a_link_are_a_finding() -> None:
    clear = [Packet(0.0, "10.1.0.1", "10.3.0.1", 1, icmp_type=8),
             Packet(1.0, "10.3.0.1", "10.1.0.1", 1, icmp_type=0)]
    assert judge.in_clear([], "x") == []
    assert judge.in_clear([Packet(0.0, "a", "b", 50, spi=1, seq=1)], "x") == []
    assert judge.in_clear(clear, "the gateway's link") == [
        f"(w) the gateway's link: 2 echo packet(s) in clear text, first: {clear[0].line()}"]


def test_the_gateway_reports_one_ike_sa_per_admitted_client() -> None:
    cell = _cell(AUTH_FAILED)
    n = cell.network
    held = [Session("rw", n.seen(n.by_name[c]), f"{c}.example.org", 1) for c in ("alice", "bob")]
    cell.daemons["gw"].held = held
    cell.captures["gw"].packets = [Packet(0.0, "10.1.0.1", "10.3.0.1", 1, icmp_type=8)]
    judge.gateway(cell)  # type: ignore[arg-type]
    assert cell.captures["gw"].stopped
    assert len(cell.problems) == 1 and cell.problems[0].startswith("(w) the gateway's link: 1 echo")
    assert cell.lines == [f"gw: IKE SA rw with {s.remote}, 1 Child SA(s)" for s in held]
    short = _cell(AUTH_FAILED)
    short.daemons["gw"].held = held[:1]
    judge.gateway(short)  # type: ignore[arg-type]
    assert short.problems and all("bob" in p or "1" in p for p in short.problems)


def test_a_policy_tunnels_to_an_address_only_outbound_to_that_vip() -> None:
    out = Policy("out", "10.1.0.0", 24, "10.3.0.1", 32, 0, True, "allow", "192.0.2.1")
    assert judge.tunnels_to([out], "10.3.0.1", "192.0.2.1")
    assert not judge.tunnels_to([out], "10.3.0.2", "192.0.2.1")
    assert not judge.tunnels_to([out], "10.3.0.1", "192.0.2.9")
    assert not judge.tunnels_to([dataclasses.replace(out, dir="in")], "10.3.0.1", "192.0.2.1")


# -- a road-warrior cell's connections: the stand-in cell with pings, statuses and policies ---
@dataclass
class _Topology:
    def netns(self, node: str) -> str:
        return f"ns-{node}"


@dataclass
class _RoleDriver(_Driver):
    status: dict[str, DaemonStatus] = field(default_factory=dict)

    def status_of(self, conn: object) -> DaemonStatus | None:
        return self.status.get(conn.client)  # type: ignore[attr-defined]


@dataclass
class _RwCell(_Cell):
    topology: _Topology = field(default_factory=_Topology)
    pings: dict[str, PingResult] = field(default_factory=dict)
    vips: dict[str, str | None] = field(default_factory=dict)
    results: list[ConnectionVerdict] = field(default_factory=list)

    @property
    def clients(self) -> list[str]:
        return [c.name for c in self.network.clients]

    def sides(self) -> dict[str, Side]:
        return {node.name: Side(node.name, "strongswan 6.1", node.address)
                for node in self.network.nodes}


def _rw_cell(monkeypatch: pytest.MonkeyPatch, gw_policies: list[Policy],
             file: Path = CERT) -> _RwCell:
    monkeypatch.setattr(judge.xfrm, "dump_policies",
                        lambda ns: gw_policies if ns == "ns-gw" else pytest.fail(ns))
    n = load_network(file)
    names = [node.name for node in n.nodes]
    gw_says = DaemonStatus(source="vici", ike=IkeStatus())
    drivers = {name: _RoleDriver() for name in names}
    drivers["alice"].status = {"alice": DaemonStatus(source="vici", ike=IkeStatus(
        remote_id="gw.example.org"))}
    drivers["gw"].status = {"alice": gw_says, "bob": gw_says}
    a, b, gw = (n.by_name[x].address for x in ("alice", "bob", "gw"))
    sas = {name: [] for name in names}
    sas["gw"] = [SA(gw, b, 0x77, "esp", "tunnel", 1), SA(gw, a, 0x55, "ah", "tunnel", 1)]
    sas["alice"] = [SA(a, gw, 0x66, "esp", "tunnel", 1)]
    sas["bob"] = [SA(b, gw, 0x88, "esp", "tunnel", 1)]
    caps = {name: _Capture() for name in names}
    caps["alice"].packets = [Packet(1.0, gw, a, 50, spi=0x88, seq=1)]
    return _RwCell(n, drivers, caps, sas, pings={"alice": PingResult(ident=1, family=4)},  # type: ignore[arg-type]
                   vips={"alice": "10.3.0.1", "bob": None})


def test_each_connection_is_judged_on_its_own_link(monkeypatch: pytest.MonkeyPatch) -> None:
    n = load_network(CERT)
    a = n.by_name["alice"].address
    to_alice = Policy("out", "10.1.0.0", 24, "10.3.0.1", 32, 0, True, "allow", a)
    astray = Policy("out", "10.1.0.0", 24, "10.3.0.9", 32, 0, True, "allow", "192.0.2.99")
    cell = _rw_cell(monkeypatch, [to_alice, astray])
    judge.connections(cell)  # type: ignore[arg-type]
    alice, bob = cell.results
    assert (alice.client, alice.vip, bob.client, bob.vip) == ("alice", "10.3.0.1", "bob", None)
    assert bob.problems == ["bob: no traffic (no virtual IP)"] and bob.verdict is None
    assert alice.verdict is not None and cell.captures["alice"].stopped
    assert "alice: identity: gw names no identity of alice (vici)" in alice.problems
    # bob's SPI on alice's link, taken from bob's own SAs
    assert "(w) alice's link carries SPIs of other clients' SAs: 0x00000088" in alice.problems
    assert any(p.startswith("alice: (e) ") for p in alice.problems)
    assert all(p.startswith("alice: ") or p.startswith("(w) alice") for p in alice.problems)
    assert cell.lines[0] == "alice: alice authenticated gw as 'gw.example.org' (vici)"
    assert cell.lines[1].startswith(f"alice: {cell.pings['alice']}; decryption: ")
    assert len(cell.lines) == 2
    vips = [p for p in cell.problems if p.startswith("(v)")]
    assert vips == ["(v) bob: no outbound IPsec policy from a virtual IP to the host behind"
                    " the gateway"]  # alice's virtual IP is the one the gateway sends to
    assert cell.problems[:len(alice.problems)] == alice.problems
    assert cell.problems[len(alice.problems)] == bob.problems[0]


def test_with_psk_a_missing_identity_is_no_finding(monkeypatch: pytest.MonkeyPatch) -> None:
    cell = _rw_cell(monkeypatch, [], FILES / "road-warrior.toml")
    judge.connections(cell)  # type: ignore[arg-type]
    assert not any("identity:" in p for p in cell.problems)
    assert "(v) alice: installed 10.3.0.1, but the gateway sends to nothing through it" in cell.problems


# -- a network file's checks (lab.peers.checks) ---------------------------------------------
def _net(name: str) -> dict:  # type: ignore[type-arg]
    return tomllib.loads((FILES / f"{name}.toml").read_text())


def _spokes(d: dict, count: int) -> None:  # type: ignore[type-arg]
    for i in range(count):
        d["nodes"][f"c{i}"] = {"flavor": "strongswan@sid", "address": f"198.18.{i}.2"}
        d["connections"].append({"client": f"c{i}", "gateway": "gw", "psk": "a secret here"})


@pytest.mark.parametrize(("name", "change", "words"), [
    ("road-warrior", lambda d: d.update(connections=[]), "connections: none (allowed: one"),
    ("road-warrior", lambda d: _spokes(d, 7), "connections: 9 (allowed: 1..8)"),
    ("road-warrior-cert", lambda d: d.update(pool="10.3.0.0/30"),
     "pool: '10.3.0.0/30' holds fewer addresses than there are clients"),
    ("hub", lambda d: d["connections"].pop(), "nodes.west: in no connection (allowed: every"),
    ("hub", lambda d: [d["connections"].pop(), d["nodes"].pop("west")],
     "connections: 1 (allowed: 2 or more spokes"),
    ("hub", lambda d: d["nodes"]["west"].update(subnet="2001:db8:4::/64"),
     "nodes: the subnets are of two families (allowed: one)"),
    ("hub", lambda d: d["nodes"]["west"].update(subnet="10.4.0.0/31"),
     "nodes.west.subnet: '10.4.0.0/31' (allowed: /30 or larger"),
    ("hub", lambda d: d["nodes"]["west"].update(subnet="203.0.113.0/24"),
     "nodes.west.subnet: '203.0.113.0/24' (allowed: /30 or larger"),
    ("hub", lambda d: d["nodes"]["west"].update(subnet="10.2.0.0/25"),
     "nodes.west: its network or subnet overlaps east's"),
    ("hub", lambda d: d["nodes"]["west"].pop("subnet"), "nodes.west.subnet: missing"),
])
def test_a_network_files_checks_name_the_field(name, change, words) -> None:  # type: ignore[no-untyped-def]
    d = _net(name)
    change(d)
    with pytest.raises(ScenarioError) as exc:
        network_from_dict(d, "n.toml")
    assert words in str(exc.value) and str(exc.value).startswith("n.toml: ")


def test_eight_clients_and_a_pool_of_exactly_their_number_are_allowed() -> None:
    d = _net("road-warrior")
    _spokes(d, 6)
    assert len(network_from_dict(d, "n.toml").connections) == 8
    d = _net("road-warrior-cert")
    d["pool"] = "10.3.0.0/29"
    assert len(network_from_dict(d, "n.toml").clients) == 3
    d = _net("hub")
    d["nodes"]["west"]["subnet"] = "10.4.0.0/30"
    assert network_from_dict(d, "n.toml").topology == "hub"


# -- smaller pieces ---------------------------------------------------------------------------
def test_esp_length_after_an_ipv6_header_and_in_udp() -> None:
    from lab.wire import esplength
    from lab.wire.packets import ESP

    v6 = Packet(0.0, "2001:db8::1", "2001:db8::2", ESP, spi=1, seq=1, raw_ip=bytes(40 + 120))
    assert esplength.esp_length(v6) == 120
    ip4 = bytes([0x46]) + bytes(23)  # a 24-byte IPv4 header (IHL 6: with options)
    udp = Packet(0.0, "192.0.2.1", "192.0.2.2", 17, spi=1, seq=1, sport=4500, dport=4500,
                 raw_ip=ip4 + bytes(8 + 100))
    assert esplength.esp_length(udp) == 100
    assert esplength.findings([udp], {"192.0.2.1", "192.0.2.2"}, None) == []
    other = Packet(0.0, "192.0.2.1", "192.0.2.9", 17, spi=1, seq=1, sport=4500, dport=4500,
                   raw_ip=ip4 + bytes(8 + 100))
    assert esplength.findings([other], {"192.0.2.1", "192.0.2.2"}, 100)[0].startswith(
        "esp_length: no ESP packet between the peers to measure (expected 100 bytes)")


def test_the_gateway_sends_to_single_addresses_through_ipsec_from_the_hosts_subnet() -> None:
    from lab.remote.verdict import gateway_vips

    def out(dst: str, plen: int = 32, ipsec: bool = True, d: str = "out") -> Policy:
        return Policy(d, "10.1.0.0", 24, dst, plen, 0, ipsec, "allow")

    held = [out("10.3.0.1"), out("10.3.0.2", ipsec=False), out("10.3.0.0", 28),
            out("10.3.0.3", d="fwd"), Policy("out", "10.9.0.0", 24, "10.3.0.4", 32, 0, True, "allow"),
            Policy("out", "2001:db8::", 64, "2001:db8:3::5", 128, 0, True, "allow")]
    assert gateway_vips(held, "10.1.0.2") == {"10.3.0.1"}
    assert gateway_vips(held, "2001:db8::2") == {"2001:db8:3::5"}


def test_a_connections_lines_name_its_virtual_ip_and_the_verdicts_summary() -> None:
    from lab.wire.verdict import Direction, Verdict

    assert ConnectionVerdict("alice", None).lines() == ["alice: virtual IP none"]
    v = Verdict([Direction("a", "b", {"a": {1}}, {1: [1, 2]})], [], 2, 0)
    assert ConnectionVerdict("bob", "10.3.0.2", v).lines() == [
        "bob: virtual IP 10.3.0.2", *(f"  {line}" for line in v.summary())]
    assert len(v.summary()) == 1


def test_an_aead_offer_does_not_match_one_with_integrity() -> None:
    from lab.offers import Offered, select

    gcm = Offered(("aes128gcm16",), (), (), (), (False,))
    cbc = Offered(("aes128gcm16",), ("sha256",), (), (), (False,))
    assert select((gcm,), (cbc,), "esp") is None and select((cbc,), (gcm,), "esp") is None
    chosen = select((gcm,), (gcm, cbc), "esp")
    assert chosen is not None and chosen.proposal is not None and chosen.proposal.integrity is None


def test_a_stated_result_built_in_python_is_checked() -> None:
    from lab.algorithms import Proposal
    from lab.expected import Stated

    with pytest.raises(ScenarioError, match=r"^here\.esp: 'aes128' is not a proposal"):
        Stated(esp="aes128").check("here")  # type: ignore[arg-type]
    with pytest.raises(ScenarioError, match=r"^negotiated\.ike: IKE needs a DH group, e\.g\."
                                            r" 'aes128-sha1-modp2048'"):
        Stated(ike=Proposal("aes128", "sha1")).check()
    Stated(ike=Proposal("aes128", "sha1", "modp2048"), esp=Proposal("aes128", "sha1"),
           esn=True).check()


@pytest.mark.parametrize(("value", "words"), [
    ([["x"]], "must_not_pass[0]: ['x'] is not a table"),
    ([{"from": "left-host", "to": "right-host", "port": 1}], "must_not_pass[0].port: unknown field"),
    ([{"from": "", "to": "right-host"}], "must_not_pass[0].from: '' is not allowed"),
    ([{"from": "left-host", "to": 5}], "must_not_pass[0].to: 5 is not allowed"),
])
def test_a_blocked_probes_fields_are_checked(value, words) -> None:  # type: ignore[no-untyped-def]
    from lab.blocked import parse_probes

    with pytest.raises(ScenarioError) as exc:
        parse_probes(value, "must_not_pass")
    assert str(exc.value).startswith(words)


# -- racoon's traits: what it cannot do, said before a cell starts ----------------------------
def _racoon_rekey(**changes: object) -> Scenario:
    from lab.algorithms import parse_proposal
    from lab.scenario import Peer

    fields: dict[str, object] = {
        "name": "t", "left": Peer("192.0.2.1", "racoon"),
        "right": Peer("198.51.100.2", "racoon", child_lifetime=30), "ike_version": 1,
        "ike": parse_proposal("aes128-sha1-modp2048", "ike", needs_dh=True),
        "esp": parse_proposal("aes128-sha1", "esp", needs_dh=False), "lifecycle": "rekey-child",
        "rekey_by": "lifetime", "actor": "responder", "child_lifetime": 120}
    return Scenario(**{**fields, **changes})  # type: ignore[arg-type]


def test_racoon_as_the_responder_cannot_rekey_first_by_a_shorter_lifetime() -> None:
    from lab.daemons.racoon.driver import Racoon
    from lab.flavors import Flavor

    racoon = Flavor("racoon")
    assert Racoon.lifecycle_unsupported(_racoon_rekey(), "right", racoon) == (
        "racoon: as the responder racoon refuses a proposal whose lifetime is longer than its"
        " own (120 s > 30 s: proposal_check strict, its default)")
    from lab.scenario import Peer
    same = Peer("198.51.100.2", "racoon", child_lifetime=120)
    longer = _racoon_rekey(lifecycle="rekey-ike", ike_lifetime=600,
                           right=Peer("198.51.100.2", "racoon", ike_lifetime=60))
    assert "lifetime" not in (Racoon.lifecycle_unsupported(longer, "right", racoon) or "")
    for s, side in ((_racoon_rekey(right=same), "right"), (_racoon_rekey(), "left"),
                    (_racoon_rekey(actor="initiator"), "right"),
                    (_racoon_rekey(rekey_by="command"), "right")):
        assert "proposal_check" not in (Racoon.lifecycle_unsupported(s, side, racoon) or "")


def test_racoon_renders_no_host_to_net_and_says_how_to_get_it(tmp_path: Path) -> None:
    from lab.daemons.racoon.driver import Racoon
    from lab.flavors import Flavor
    from lab.scenario import Peer

    s = _racoon_rekey(topology="host-to-net", lifecycle="none", actor="initiator", mode="tunnel",
                      right=Peer("198.51.100.2", "racoon", subnet="10.2.0.0/24"))
    assert Racoon.never(s, "left") == ("the racoon driver renders no host-to-net policies (one"
                                       " side's subnet only)")
    assert Racoon.never(_racoon_rekey(lifecycle="none"), "left") is None
    mine = Racoon.missing(Flavor("racoon", "/x", tmp_path))
    assert mine is not None and "ipsec-tools is in no Debian suite: use racoon@0.8.2 or" \
        " racoon@0.9.1 (ipsec-lab setup builds them)" in mine
    built = Racoon.missing(Flavor("racoon", "0.9.1", None, tmp_path))
    assert built is not None and built.endswith("(build it with: ipsec-lab setup"
                                                " --flavors=racoon@0.9.1)")


def test_racoons_version_is_what_racoon_v_says(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from types import SimpleNamespace

    from lab.daemons.racoon import traits
    from lab.daemons.racoon.driver import Racoon
    from lab.flavors import Flavor

    said = {"out": "", "err": "@(#)ipsec-tools 0.8.2 (http://ipsec-tools.sourceforge.net)\n"}
    calls = []

    def run(argv: list[str], **kw: object) -> SimpleNamespace:
        calls.append((argv, kw))
        return SimpleNamespace(stdout=said["out"], stderr=said["err"])

    monkeypatch.setattr(traits.runner, "run", run)
    traits.racoon_version.cache_clear()
    flavor = Flavor("racoon", "0.8.2", None, tmp_path)
    assert Racoon.version(flavor, "t") == "0.8.2"
    (argv, kw), = calls
    assert argv == ["racoon", "-V"] and kw["tag"] == "t" and kw["check"] is False
    assert callable(kw["preexec"]) or kw["preexec"] is None
    said.update(out="ipsec-tools 0.9.1\n", err="")
    assert Racoon.version(Flavor("racoon", "0.9.1", None, tmp_path), "t") == "0.9.1"
    said.update(out="racoon: unknown option", err="")
    assert Racoon.version(Flavor("racoon", "/y", tmp_path), "t") == "unknown"
    traits.racoon_version.cache_clear()


# -- what the first mutation run found untested ---------------------------------------------
def test_a_policy_whose_selector_has_host_bits_is_read_as_its_network() -> None:
    s = load_scenario(FILES / "net-to-net.toml")
    host_bits = [_pol("out", "2001:db8:11::5/64", R_NET), _pol("in", R_NET, "2001:db8:11::5/64")]
    assert selectors.findings(s, {"left": host_bits, "right": _exact(R_NET, L_NET)}) == []


def test_the_link_check_names_the_first_bare_esp_packet() -> None:
    from lab.remote.verdict import check_link

    bare = [Packet(1.0, "198.51.100.2", "192.0.2.1", 50, spi=1, seq=1),
            Packet(2.0, "198.51.100.2", "192.0.2.1", 50, spi=1, seq=2)]
    assert check_link("a", bare, {1}, set(), True) == [
        f"(w) a is behind a NAT, but 2 ESP packet(s) on its link are not in UDP, first:"
        f" {bare[0].line()}"]
    foreign = [Packet(1.0, "x", "y", 50, spi=4, seq=1), Packet(1.0, "x", "y", 50, spi=3, seq=1)]
    assert check_link("a", foreign, {1}, {3, 4}) == [
        "(w) a's link carries SPIs of other clients' SAs: 0x00000003, 0x00000004"]


def test_the_gateways_ike_sas_are_counted_per_client() -> None:
    from lab.remote.verdict import check_sessions

    held = [Session("rw", "a1", "alice", 1), Session("rw", "b1", "bob", 1),
            Session("rw", "b1", "bob", 1), Session("x", "s1", "who", 1), Session("y", "s2", "?", 1)]
    assert check_sessions(held, {"alice": "a1", "bob": "b1"}, "gw") == [
        "(g) gw holds 2 IKE SA(s) with bob (b1), expected 1",
        "(g) gw holds IKE SAs with peers that are no client: x s1, y s2"]


def test_every_client_with_a_virtual_ip_is_checked() -> None:
    from lab.remote.verdict import check_vips

    found = check_vips({"a": None, "b": "10.3.0.2", "c": "10.3.0.3"}, {"c": {"10.3.0.3"}},
                       "10.3.0.0/28")
    assert found[1:] == ["(v) b: installed 10.3.0.2, but the gateway sends to nothing through it"]


def test_a_clients_virtual_ip_is_a_single_outbound_ipsec_source_to_the_host() -> None:
    from lab.remote.verdict import client_vip

    def pol(src: str, plen: int, d: str = "out", ipsec: bool = True, dst: str = "10.1.0.0",
            dlen: int = 24) -> Policy:
        return Policy(d, src, plen, dst, dlen, 0, ipsec, "allow")

    host = "10.1.0.2"
    assert client_vip([pol("10.3.0.1", 32, d="in"), pol("10.3.0.2", 32)], host, "") == "10.3.0.2"
    assert client_vip([pol("10.3.0.1", 32, ipsec=False)], host, "") is None
    assert client_vip([pol("10.3.0.0", 28)], host, "") is None
    assert client_vip([pol("10.3.0.1", 32, dst="10.9.0.0")], host, "") is None
    v6 = pol("2001:db8:3::1", 128, dst="2001:db8:1::", dlen=64)
    assert client_vip([pol("2001:db8:3::", 127, dst="2001:db8:1::", dlen=64), v6],
                      "2001:db8:1::2", "") == "2001:db8:3::1"


def test_racoons_undecryptable_line_looks_back_twelve_lines_to_the_start() -> None:
    from lab.daemons.racoon.traits import undecryptable

    tail = ["x DEBUG: seen nptype=5(id)", "x DEBUG: invalid length of payload"]
    assert undecryptable(["x DEBUG: decrypted.", *tail], 2)
    assert undecryptable(["x DEBUG: decrypted.", *["y"] * 10, *tail], 12)
    assert not undecryptable(["x DEBUG: decrypted.", *["y"] * 11, *tail], 13)


def test_racoon_reads_each_sides_own_ike_version_and_lifetime(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from lab.daemons.racoon import traits
    from lab.daemons.racoon.driver import Racoon
    from lab.flavors import Flavor
    from lab.scenario import Peer

    v2 = _racoon_rekey(lifecycle="none", left=Peer("192.0.2.1", "racoon", ike_version=2))
    assert Racoon.never(v2, "left") == "racoon speaks IKEv1 only (scenario asks for IKEv2)"
    assert Racoon.never(v2, "right") is None
    # the left side as the responder and actor, with the shorter lifetime
    left = _racoon_rekey(initiator="right", left=Peer("192.0.2.1", "racoon", child_lifetime=30),
                         right=Peer("198.51.100.2", "racoon"))
    assert "(120 s > 30 s" in (Racoon.lifecycle_unsupported(left, "left", Flavor("racoon")) or "")
    # the initiator (and actor) with the shorter lifetime is not the refusing responder
    first = _racoon_rekey(actor="initiator", left=Peer("192.0.2.1", "racoon", child_lifetime=30),
                          right=Peer("198.51.100.2", "racoon"))
    assert Racoon.lifecycle_unsupported(first, "left", Flavor("racoon")) is None
    monkeypatch.setattr(traits, "PFKEY_PROC", tmp_path)  # as if the kernel had PF_KEY
    said = Racoon.unsupported(left, "left", Flavor("racoon", "0.9.1"), "t")
    assert said is not None and said.startswith("racoon@0.9.1: as the responder")


def test_the_phases_add_to_what_the_cell_holds(monkeypatch: pytest.MonkeyPatch) -> None:
    n = load_network(CERT)
    a = n.by_name["alice"].address
    cell = _rw_cell(monkeypatch, [Policy("out", "10.1.0.0", 24, "10.3.0.1", 32, 0, True, "allow", a)])
    cell.problems, cell.lines = ["earlier"], ["earlier"]
    judge.connections(cell)  # type: ignore[arg-type]
    assert cell.problems[0] == "earlier" and cell.lines[0] == "earlier" and len(cell.lines) == 3
    alice = cell.results[0].problems
    assert alice.index("alice: identity: gw names no identity of alice (vici)") > 0
    cell.problems, cell.lines = ["earlier"], ["earlier"]
    cell.daemons["gw"].held = [Session("rw", a, "alice", 1)]
    judge.gateway(cell)  # type: ignore[arg-type]
    assert cell.problems[0] == "earlier" and cell.lines[0] == "earlier"
    assert "(g) gw holds 0 IKE SA(s) with bob (203.0.113.2), expected 1" in cell.problems


def test_a_client_without_traffic_does_not_end_the_others(monkeypatch: pytest.MonkeyPatch) -> None:
    cell = _rw_cell(monkeypatch, [], FILES / "road-warrior.toml")
    cell.pings = {"bob": PingResult(ident=1, family=4)}
    judge.connections(cell)  # type: ignore[arg-type]
    assert [r.client for r in cell.results] == ["alice", "bob"]
    assert cell.results[1].verdict is not None


def test_behind_a_nat_bare_esp_on_the_clients_link_is_a_finding(
        monkeypatch: pytest.MonkeyPatch) -> None:
    cell = _rw_cell(monkeypatch, [], FILES / "road-warrior-nat.toml")
    n = cell.network
    bob, gw = n.by_name["bob"], n.gateway.address
    cell.pings = {"bob": PingResult(ident=1, family=4)}
    cell.captures["bob"].packets = [Packet(1.0, bob.address, gw, 50, spi=0x88, seq=1)]
    judge.connections(cell)  # type: ignore[arg-type]
    assert any(p.startswith("(w) bob is behind a NAT, but 1 ESP") for p in cell.results[1].problems)


def test_identities_skip_an_end_without_an_account() -> None:
    gone = DaemonStatus(source="vici", error="no answer")
    right = DaemonStatus(source="vici", ike=IkeStatus(remote_id="alice.example.org"))
    lines, unsaid = judge.identities("alice", "gw", {"left": gone, "right": right})
    assert lines == ["alice: gw authenticated alice as 'alice.example.org' (vici)"] and unsaid == []
    lines, unsaid = judge.identities("alice", "gw", {"right": right})
    assert len(lines) == 1 and unsaid == []
    lines, unsaid = judge.identities("alice", "gw", {"left": DaemonStatus(source="pluto.log")})
    assert lines == [] and unsaid == ["alice: identity: alice names no identity of gw (pluto.log)"]


def test_an_ikev1_client_refused_with_invalid_id_information_passes() -> None:
    d = tomllib.loads(CERT.read_text())
    d.update(ike_version=1, ike="aes128-sha1-modp2048", esp="aes128-sha1")
    cell = _cell(Outcome("ts-unacceptable", "received INVALID_ID_INFORMATION error notify"))
    cell.network = network_from_dict(d, "rw.toml")
    judge.refusals(cell)  # type: ignore[arg-type]
    assert cell.problems == []
    n = cell.network
    me, gw = n.by_name["mallory"].address, n.gateway.address
    two = _cell(AUTH_FAILED, [SA(gw, me, 1, "esp", "tunnel", 1), SA(me, gw, 2, "esp", "tunnel", 1)])
    judge.refusals(two)  # type: ignore[arg-type]
    assert "; gw: " in two.problems[0]


#: every check of a network file, with its whole one-line message
EXACT = [
    ("road-warrior", lambda d: d.update(connections=[]),
     'n.toml: connections: none (allowed: one [[connections]] table per client)'),
    ("road-warrior", lambda d: _spokes(d, 7),
     'n.toml: connections: 9 (allowed: 1..8)'),
    ("road-warrior", lambda d: d["nodes"]["gw"].pop("subnet"),
     "n.toml: nodes.gw.subnet: missing (allowed: a network such as '10.1.0.0/24'; the"
     " gateway has the host behind it)"),
    ("road-warrior", lambda d: d.update(pool="10.1.0.0/28"),
     "n.toml: pool: '10.1.0.0/28' is too small or overlaps the gateway's subnet"
     " (allowed: /30 or larger, a network of its own)"),
    ("road-warrior", lambda d: d.update(pool="10.3.0.0/31"),
     "n.toml: pool: '10.3.0.0/31' is too small or overlaps the gateway's subnet"
     " (allowed: /30 or larger, a network of its own)"),
    ("road-warrior", lambda d: d.update(pool="10.3.0.0/30!"),
     "n.toml: pool: '10.3.0.0/30!' is not a network (allowed: e.g. '10.1.0.0/24' or"
     " '2001:db8:11::/64': ADDRESS/PREFIXLEN with a decimal prefix length, no host"
     " bits, no netmask)"),
    ("road-warrior", lambda d: d["nodes"]["gw"].update(subnet="10.1.0.0/33"),
     "n.toml: nodes.gw.subnet: '10.1.0.0/33' is not a network (allowed: e.g."
     " '10.1.0.0/24' or '2001:db8:11::/64': ADDRESS/PREFIXLEN with a decimal prefix"
     " length, no host bits, no netmask)"),
    ("road-warrior", lambda d: d["nodes"]["bob"].update(subnet="10.9.0.0/24"),
     "n.toml: nodes.bob.subnet: '10.9.0.0/24' is not allowed (allowed: a client has"
     " no subnet; its address comes from the pool)"),
    ("road-warrior", lambda d: d["nodes"]["bob"].update(address="198.51.100.7"),
     "n.toml: nodes.bob.address: '198.51.100.7' is on alice's network 198.51.100.0/24"
     " (allowed: a network of its own per node)"),
    ("road-warrior", lambda d: d["nodes"]["gw"].update(nat=True),
     "n.toml: nodes.gw.nat: true is not allowed here (allowed: on a client, with IPv4"
     " addresses: the router's NAT is IPv4's act_nat)"),
    ("road-warrior", lambda d: [d["nodes"][c].update(nat=True) for c in ("alice", "bob")],
     "n.toml: nodes: more than one client with nat = true (allowed: one; the router's"
     " one address on the gateway's network stands for it)"),
    ("road-warrior", lambda d: d["connections"][1].update(client="carol"),
     "n.toml: connections[1].client: 'carol' is not a node (allowed: gw, alice, bob)"),
    ("road-warrior", lambda d: d["connections"][1].update(client="alice"),
     "n.toml: connections[1].client: 'alice' has a connection already (allowed: one"
     " connection per client)"),
    ("road-warrior", lambda d: d["connections"][1].update(psk=""),
     "n.toml: connections[1].psk: '' is 0 bytes long (allowed: printable text of 1 to"
     " 255 bytes in UTF-8)"),
    ("road-warrior", lambda d: d["connections"][1].update(ike_version=3),
     'n.toml: connections[1].ike_version: 3 is not allowed (allowed: 1, 2)'),
    ("road-warrior", lambda d: d["nodes"].update(carol={"flavor": "strongswan@sid", "address": "198.18.9.2"}),
     'n.toml: nodes.carol: in no connection (allowed: every node a client or the gateway)'),
    ("road-warrior", lambda d: d["connections"][1].update(gateway="alice"),
     "n.toml: connections[0].client: 'alice' is a gateway (allowed: a node that no"
     " connection has as its gateway)"),
    ("road-warrior", lambda d: d["connections"][0].update(cert="untrusted"),
     "n.toml: connections[0].cert: 'untrusted' is not allowed here (allowed: in"
     " topology road-warrior with auth = 'rsa' or 'ecdsa')"),
    ("road-warrior-cert", lambda d: d["connections"][0].update(psk="a secret here"),
     "n.toml: connections[0].psk: not used with auth = 'rsa' (allowed: no psk; the"
     " certificates authenticate)"),
    ("road-warrior-cert", lambda d: d["connections"][1].update(ike_version=1),
     "n.toml: connections[1].ike_version: differs from connections[0]'s (allowed:"
     " with auth = 'rsa' the gateway has one connection for every client: the same"
     " for all)"),
    ("road-warrior-cert", lambda d: [c.update(cert="untrusted") for c in d["connections"]],
     "n.toml: connections: every client has cert = 'untrusted' (allowed: at least one"
     " client the gateway admits)"),
    ("road-warrior-cert", lambda d: d.update(pool="10.3.0.0/30"),
     "n.toml: pool: '10.3.0.0/30' holds fewer addresses than there are clients"),
    ("hub", lambda d: [d["connections"].pop(), d["nodes"].pop("west")],
     'n.toml: connections: 1 (allowed: 2 or more spokes in topology hub)'),
    ("hub", lambda d: d["nodes"]["west"].update(address="2001:db8:4::2", subnet="2001:db8:44::/64"),
     "n.toml: nodes.west.address: '2001:db8:4::2' is IPv6 but the hub's is IPv4"
     " (allowed: one family)"),
    ("hub", lambda d: d["nodes"]["west"].update(nat=True),
     'n.toml: nodes.west.nat: true is not allowed in topology hub (allowed: false)'),
    ("hub", lambda d: d["nodes"]["west"].pop("subnet"),
     "n.toml: nodes.west.subnet: missing (allowed: a network such as '10.2.0.0/24';"
     " in topology hub every node has a host behind it)"),
    ("hub", lambda d: d["nodes"]["west"].update(subnet="10.4.0.0/33"),
     "n.toml: nodes.west.subnet: '10.4.0.0/33' is not a network (allowed: e.g."
     " '10.1.0.0/24' or '2001:db8:11::/64': ADDRESS/PREFIXLEN with a decimal prefix"
     " length, no host bits, no netmask)"),
    ("hub", lambda d: d["nodes"]["west"].update(subnet="10.2.0.0/25"),
     "n.toml: nodes.west: its network or subnet overlaps east's (allowed: separate networks)"),
    ("hub", lambda d: d["nodes"]["west"].update(subnet="10.4.0.0/31"),
     "n.toml: nodes.west.subnet: '10.4.0.0/31' (allowed: /30 or larger, not holding"
     " the node's address)"),
    ("hub", lambda d: d["nodes"]["west"].update(subnet="2001:db8:4::/64"),
     'n.toml: nodes: the subnets are of two families (allowed: one)'),
    ("road-warrior", lambda d: d["nodes"]["bob"].update(address="2001:db8:3::2"),
     "n.toml: nodes.bob.address: '2001:db8:3::2' is IPv6 but the gateway's is IPv4 (allowed: one"
     " family)"),
    ("road-warrior", lambda d: [d["nodes"].update(carol={"flavor": "strongswan@sid",
                                                         "address": "198.18.9.2",
                                                         "subnet": "10.7.0.0/24"}),
                                d["connections"][1].update(gateway="carol")],
     "n.toml: connections: gateways ['carol', 'gw'] (allowed: one gateway in topology"
     " road-warrior)"),
]


@pytest.mark.parametrize(("name", "change", "message"), EXACT)
def test_a_network_files_messages_in_full(name, change, message) -> None:  # type: ignore[no-untyped-def]
    d = _net(name)
    change(d)
    with pytest.raises(ScenarioError) as exc:
        network_from_dict(d, "n.toml")
    assert str(exc.value) == message


# -- blocked probes: the whole messages ---------------------------------------------------
PROBE_NET = {"name": "t", "topology": "net-to-net", "mode": "tunnel",
             "left": {"address": "192.168.0.1", "subnet": "10.1.0.0/16"},
             "right": {"address": "192.168.0.2", "subnet": "10.2.0.0/16"}}
NODES = "left, right, left-host, right-host"
HELD = ("left (192.168.0.1 10.1.0.1), right (192.168.0.2 10.2.0.1), left-host (10.1.0.2),"
        " right-host (10.2.0.2)")


@pytest.mark.parametrize(("probes", "message"), [
    ([{"from": "router", "to": "right"}],
     "t.toml: must_not_pass[0].from: 'router' is no node of topology net-to-net and"
     " no address one holds (allowed: " + HELD + ")"),
    ([{"from": "10.9.9.9", "to": "right"}],
     "t.toml: must_not_pass[0].from: '10.9.9.9' is no node of topology net-to-net and"
     " no address one holds (allowed: " + HELD + ")"),
    ([{"from": "left", "to": "127.0.0.1"}],
     "t.toml: must_not_pass[0].to: '127.0.0.1' is not allowed (allowed: a unicast"
     " address, or a node: " + NODES + ")"),
    ([{"from": "left", "to": "0.0.0.0"}],
     "t.toml: must_not_pass[0].to: '0.0.0.0' is not allowed (allowed: a unicast"
     " address, or a node: " + NODES + ")"),
    ([{"from": "left", "to": "nowhere"}],
     "t.toml: must_not_pass[0].to: 'nowhere' is not allowed (allowed: a unicast"
     " address, or a node: " + NODES + ")"),
    ([{"from": "10.1.0.1", "to": "2001:db8::1"}],
     "t.toml: must_not_pass[0]: from '10.1.0.1' to '2001:db8::1' mixes IPv4 and IPv6"
     " (allowed: both ends of one family)"),
    ([{"from": "left", "to": "right", "via": "x"}],
     't.toml: must_not_pass[0].via: unknown field (allowed: from, to, unreachable)'),
    ([{"from": "", "to": "right"}],
     "t.toml: must_not_pass[0].from: '' is not allowed (allowed: a node name or an address)"),
])
def test_a_probes_messages_in_full(probes, message) -> None:  # type: ignore[no-untyped-def]
    from lab.scenario import scenario_from_dict

    with pytest.raises(ScenarioError) as exc:
        scenario_from_dict({**PROBE_NET, "must_not_pass": probes}, "t.toml")
    assert str(exc.value) == message


def test_probes_up_to_eight_each_described_and_reachable_unless_said() -> None:
    from lab.blocked import resolve
    from lab.scenario import scenario_from_dict

    def load(probes: list[dict[str, object]], **top: object) -> Scenario:
        return scenario_from_dict({**PROBE_NET, "must_not_pass": probes, **top}, "t.toml")

    s = load([{"from": "left", "to": "right"}, {"from": "10.1.0.1", "to": "10.2.0.5",
                                                 "unreachable": True}])
    assert [r.describe() for r in resolve(s, s.must_not_pass)] == [
        "must_not_pass[0] from left (its own address) to 192.168.0.2",
        "must_not_pass[1] from left (10.1.0.1) to 10.2.0.5"]
    assert [p.unreachable for p in s.must_not_pass] == [False, True]
    assert len(load([{"from": "left", "to": "right"}] * 8).must_not_pass) == 8
    with pytest.raises(ScenarioError) as exc:
        load([{"from": "left", "to": "right"}] * 9)
    assert str(exc.value).endswith("; 1 to 8 probes)")
    with pytest.raises(ScenarioError) as exc:
        load([{"from": "left", "to": "right"}], expect="timeout")
    assert str(exc.value) == ("t.toml: must_not_pass: probes run after the first SA's traffic"
                              " (allowed: with expect 'established' and lifecycle 'none')")


# -- offers and a stated result: what the mutation run left ----------------------------------
def test_offers_are_written_and_chosen_as_the_daemons_say_them() -> None:
    from lab.algorithms import Proposal
    from lab.offers import Offered, from_proposal, select, show_offers, word

    assert str(Offered(("aes128",), ("sha256",), ("sha256", "sha1"), ("modp2048", "ecp256"),
                       (True, False))) == "aes128-sha256-prfsha256+prfsha1-modp2048+ecp256-esn+noesn"
    assert show_offers(()) == "nothing" and word("x_y", {}) == "XY"

    def chosen(offer: Offered, kind: str) -> tuple[object, ...]:
        c = select((offer,), (offer,), kind)
        assert c is not None
        return c.proposal, c.esn, c.missing

    assert chosen(Offered(("weird",), ("sha1",), (), ("modp2048",), (True,)), "ike") == (
        None, True, "cipher weird")
    assert chosen(Offered(("aes128",), ("weird",), (), (), (True,)), "esp")[2] == "integrity weird"
    assert chosen(Offered(("aes128",), ("sha1",), ("weird",), ("modp2048",)), "ike")[2] == "PRF weird"
    assert chosen(Offered(("aes128",), ("sha1",), ("sha1",), ("weird",)), "ike")[2] == "group weird"
    # an AEAD IKE proposal that lists an integrity all the same: its PRF, no integrity
    assert chosen(Offered(("aes128gcm16",), ("sha256",), ("sha256",), ("modp2048",)), "ike")[0] == \
        Proposal("aes128gcm16", None, "modp2048", "sha256")
    assert select((Offered((), ("sha1",)),), (Offered((), ("sha1",)),), "esp") is None
    assert select((Offered(("aes128",), ("sha1",), ("sha1",), ("modp2048",)),),
                  (Offered(("aes128",), ("sha1",), ("sha1",), ("ecp256",)),), "ike") is None
    assert from_proposal(Proposal("aes128", "sha1"), "ike").groups == ()
    assert from_proposal(Proposal("aes128", "sha1"), "esp").integrity == ("sha1",)
    assert from_proposal(Proposal("aes128"), "esp").integrity == ()


@pytest.mark.parametrize(("value", "message"), [
    ("x" * 100, f"negotiated: {'x' * 80!r} is not a table (allowed: a [negotiated] table with ike,"
                " esp and/or esn)"),
    ({"ike": ["a", "b"]}, "negotiated.ike: \"['a', 'b']\" is not one proposal (allowed: the one"
                          " proposal the negotiation ends with, e.g. 'aes256-sha256-ecp256')"),
    ({"esp": "default"}, "negotiated.esp: 'default' is not one proposal (allowed: the one proposal"
                         " the negotiation ends with, e.g. 'aes128gcm16')"),
    ({"ike": "a" * 100 + ",b"}, f"negotiated.ike: {'a' * 80!r} is not one proposal (allowed: the"
                                " one proposal the negotiation ends with, e.g."
                                " 'aes256-sha256-ecp256')"),
    ({"esn": "y" * 100}, f"negotiated.esn: {'y' * 80!r} is not allowed (allowed: true, false)"),
])
def test_a_stated_results_messages_in_full(value, message) -> None:  # type: ignore[no-untyped-def]
    from lab.expected import parse_stated

    with pytest.raises(ScenarioError) as exc:
        parse_stated(value)
    assert str(exc.value) == message


def test_a_stated_result_built_in_python_says_what_it_takes() -> None:
    from lab.expected import Stated

    with pytest.raises(ScenarioError) as exc:
        Stated(ike="x").check()  # type: ignore[arg-type]
    assert str(exc.value) == ("negotiated.ike: 'x' is not a proposal (allowed: one proposal,"
                              " e.g. parse_proposal('aes128-sha256-ecp256', ...))")


def test_racoons_reasons_in_full(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from lab.daemons.racoon import traits
    from lab.daemons.racoon.driver import Racoon
    from lab.flavors import Flavor

    mine = Racoon.missing(Flavor("racoon", "/x", tmp_path))
    assert mine is not None and mine.endswith(
        "or put your own build's racoon and setkey on PATH, or name its prefix as racoon@/PATH)")
    monkeypatch.setattr(traits, "PFKEY_PROC", tmp_path / "none")
    assert Racoon.unsupported(_racoon_rekey(lifecycle="none"), "left", Flavor("racoon"), "t") == (
        f"racoon: the running kernel has no PF_KEY ({tmp_path / 'none'} is missing; racoon and"
        " setkey need CONFIG_NET_KEY / the af_key module)")


def test_a_pool_holds_as_many_clients_as_addresses_but_two() -> None:
    d = _net("road-warrior")
    d["pool"] = "10.3.0.0/30"
    assert len(network_from_dict(d, "n.toml").clients) == 2


def test_racoon_compares_child_lifetimes_only_for_a_child_rekey() -> None:
    from lab.daemons.racoon.driver import Racoon
    from lab.flavors import Flavor

    assert Racoon.lifecycle_unsupported(_racoon_rekey(lifecycle="none"), "right",
                                        Flavor("racoon")) is None


def test_a_connection_is_judged_on_the_sas_between_its_two_ends_only() -> None:
    from lab.remote.verdict import judge_connection

    n = load_network(CERT)
    pair = n.pair(n.connection("alice"))
    a, b, gw = (n.by_name[x].address for x in ("alice", "bob", "gw"))
    sides = (Side("alice", "strongswan 6.1", a), Side("gw", "strongswan 6.1", gw))
    ping = PingResult(ident=1, family=4)
    bobs = [SA(gw, b, 0x77, "esp", "tunnel", 1), SA(b, gw, 0x78, "esp", "tunnel", 1)]
    alone = judge_connection(pair, *sides, [], {"left": [], "right": []}, ping, {})
    others = judge_connection(pair, *sides, [], {"left": [], "right": bobs}, ping, {})
    assert others[0].summary() == alone[0].summary() and others[0].problems == alone[0].problems
    assert [p.text for p in others[1]] == [p.text for p in alone[1]]


# -- a hub cell's verdict (lab.remote.hubcheck), through a stand-in hub cell ------------------
@dataclass
class _HubDriver(_Driver):
    own: DaemonStatus | None = None
    of: dict[str, DaemonStatus] = field(default_factory=dict)

    def status(self) -> DaemonStatus | None:
        return self.own

    def status_of(self, conn: object) -> DaemonStatus | None:
        return self.of.get(conn.client)  # type: ignore[attr-defined]


@dataclass
class _HubCell(_RwCell):
    stages: list[Stage] = field(default_factory=list)


def _hub_cell(lost: bool = False) -> _HubCell:
    n = load_network(FILES / "hub.toml")
    names = [node.name for node in n.nodes]
    drivers = {name: _HubDriver() for name in names}
    drivers["east"].own = DaemonStatus(source="pluto.log", ike=IkeStatus(remote_id="@hub.example.org"))
    drivers["hub"].of = {"east": DaemonStatus(source="vici", ike=IkeStatus())}
    e, w, h = (n.by_name[x].address for x in ("east", "west", "hub"))
    sas = {"east": [SA(e, h, 0x11, "esp", "tunnel", 1)], "west": [SA(w, h, 0x22, "esp", "tunnel", 1)],
           "hub": [SA(h, e, 0x12, "esp", "tunnel", 1), SA(h, w, 0x21, "ah", "tunnel", 1)]}
    clear = Packet(0.0, "10.2.0.2", "10.4.0.2", 1, icmp_type=8)
    spokes = Stage("spokes", PingResult(ident=1, family=4),
                   {"east": [Packet(1.0, h, e, 50, spi=0x22, seq=1)], "west": [], "hub": [clear]})
    to_hub = Stage("hub", PingResult(ident=2, family=4, sent=[1], replies=[] if lost else [1]),
                   {"east": [], "west": [], "hub": []})
    return _HubCell(n, drivers, {name: _Capture() for name in names}, sas,  # type: ignore[arg-type]
                    stages=[spokes, to_hub])


def test_a_hub_cells_connections_and_links() -> None:
    from lab.remote import hubcheck

    cell = _hub_cell()
    cell.problems, cell.lines = ["earlier"], ["earlier"]
    hubcheck.connections(cell)  # type: ignore[arg-type]
    assert cell.problems[0] == "earlier" and cell.lines[0] == "earlier"
    assert "spokes: (w) east's link carries SPIs of other clients' SAs: 0x00000022" in cell.problems
    assert any(p.startswith("east: (e) spokes: ") for p in cell.problems)
    assert any(p.startswith("east: (e) hub: ") for p in cell.problems)
    assert not any(p.startswith("west: (e) hub") for p in cell.problems)
    assert any(ln.startswith("west's link, spokes: ") for ln in cell.lines)
    assert not any(ln.startswith("west's link, hub: ") for ln in cell.lines)
    assert any(p.startswith("west: (b) ") for p in cell.problems)
    assert "east: east authenticated hub as '@hub.example.org' (pluto.log)" in cell.lines
    assert any(ln.startswith("east's link, spokes: ") for ln in cell.lines)
    assert any(ln.startswith("east: ") and "->" in ln for ln in cell.lines)
    assert not any("hub: the host behind" in p for p in cell.problems)
    assert not any("identity:" in p for p in cell.problems)  # PSKs: no identity is claimed
    lost = _hub_cell(lost=True)
    hubcheck.connections(lost)  # type: ignore[arg-type]
    assert "hub: the host behind east got no reply from the hub's host to [1]" in lost.problems


def test_a_hubs_own_link_and_ike_sas() -> None:
    from lab.remote import hubcheck

    cell = _hub_cell()
    n = cell.network
    cell.daemons["hub"].held = [Session("east", n.by_name["east"].address, "east", 1)]
    cell.problems = ["earlier"]
    hubcheck.hub(cell)  # type: ignore[arg-type]
    assert cell.problems[0] == "earlier"
    assert cell.problems[1].startswith("(w) the hub's link, spokes: 1 echo packet(s) in clear")
    assert cell.problems[2] == "(g) hub holds 0 IKE SA(s) with west (203.0.113.2), expected 1"


# -- racoon's peer identity from its debug log (lab.daemons.racoon.status) -------------------
def test_racoons_id_payload_and_where_its_hex_dump_stands() -> None:
    from lab.daemons.racoon.status import _peer_id, id_payload_text

    assert id_payload_text(b"") is None and id_payload_text(bytes([2, 0, 0, 0])) is None
    assert id_payload_text(b"\x02\x00\x00\x00a") == "a"
    assert id_payload_text(b"\x02\x00\x00\x00\xff") == "\ufffd"
    name = "02000000 616c6963 65"
    assert _peer_id(["x DEBUG: peer's ID", f"x DEBUG: {name}"]) == "alice"
    assert _peer_id([f"x DEBUG: peer's ID x DEBUG: {name}"]) == "alice"
    assert _peer_id([f"x DEBUG: peer's ID: {name}"]) == "alice"
    assert _peer_id(["x DEBUG: peer's ID", "x DEBUG: ", name]) is None  # only the next line
    assert _peer_id(["nothing"]) is None
