"""Road warriors, the pure parts: the network model and its file format, each daemon's
gateway and client configs, the gateway's account of its IKE SAs, the verdict's own
checks, and the grid (lab.peers, lab.remote)."""

from __future__ import annotations

import ipaddress
import socket
import struct
import tomllib
from pathlib import Path

import pytest

from lab import xfrm
from lab.daemons.base import PeerContext
from lab.errors import ScenarioError, UsageError
from lab.flavors import parse_flavor
from lab.matrix import MatrixSelection
from lab.peers import load_network, network_from_dict, network_to_dict
from lab.remote import ROLES, cannot_serve
from lab.remote.base import Session
from lab.remote.libreswan import parse_showstates
from lab.remote.matrix import road_warrior_cells
from lab.remote.racoon import parse_log_sessions
from lab.remote.strongswan import parse_sessions
from lab.remote.verdict import check_link, check_sessions, check_vips, client_vip
from lab.topology.roadwarrior import nat_batch
from lab.wire.packets import Packet
from lab.xfrm import Policy

ROOT = Path(__file__).parents[1]
FILE = ROOT / "scenarios" / "files" / "road-warrior.toml"
FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(autouse=True)
def _libreswan_version(monkeypatch: pytest.MonkeyPatch) -> None:
    from lab.daemons.libreswan import probe
    monkeypatch.setattr(probe, "_version", lambda flavor, tag: "5.2")


def data() -> dict:  # type: ignore[type-arg]
    return tomllib.loads(FILE.read_text())


# -- the model --------------------------------------------------------------------------
def test_the_example_file_loads_and_round_trips() -> None:
    n = load_network(FILE)
    assert (n.gateway.name, [c.name for c in n.clients]) == ("gw", ["alice", "bob"])
    assert n.pool_range() == ("10.3.0.1", "10.3.0.14")
    assert (n.host, n.gateway_lan) == ("10.1.0.2", "10.1.0.1")
    assert network_from_dict(network_to_dict(n), "again") == n


def test_behind_the_nat_the_gateway_knows_the_client_by_the_routers_address() -> None:
    n = load_network(ROOT / "scenarios" / "files" / "road-warrior-nat.toml")
    bob, alice = n.by_name["bob"], n.by_name["alice"]
    assert bob.nat and (n.seen(bob), n.seen(alice)) == ("192.0.2.254", alice.address)
    assert network_from_dict(network_to_dict(n), "again") == n
    batch = nat_batch(bob.address, n.seen(bob))
    assert "action nat egress 203.0.113.2/32 192.0.2.254" in batch
    assert "action nat ingress 192.0.2.254/32 203.0.113.2" in batch


def test_each_connection_is_a_two_peer_scenario() -> None:
    n = load_network(FILE)
    pair = n.pair(n.connection("bob"))
    assert (pair.left.address, pair.right.address) == ("203.0.113.2", "192.0.2.1")
    assert pair.psk == "bob's secret" and pair.initiator == "left" and pair.mode == "tunnel"
    assert str(pair.identity("left")) == "@bob.example.org"


@pytest.mark.parametrize(("change", "words"), [
    (lambda d: d.update(extra=1), "unknown field 'extra'"),
    (lambda d: d["nodes"]["gw"].pop("subnet"), "nodes.gw.subnet: missing"),
    (lambda d: d["nodes"]["bob"].update(subnet="10.9.0.0/24"), "nodes.bob.subnet"),
    (lambda d: d["nodes"]["bob"].update(address="198.51.100.7"), "on alice's network"),
    (lambda d: d["connections"][1].update(client="carol"), "connections[1].client: 'carol'"),
    (lambda d: d["connections"][1].update(gateway="alice"), "connections[0].client: 'alice' is a gateway"),
    (lambda d: d["connections"][1].update(client="alice"), "has a connection already"),
    (lambda d: d["nodes"].update(Bad=d["nodes"].pop("bob")), "is not a node name"),
    (lambda d: d.update(pool="10.1.0.0/28"), "overlaps the gateway's subnet"),
    (lambda d: d["nodes"]["bob"].update(address="10.3.0.2"), "nodes.bob.address: '10.3.0.2' is on a"
     " network that overlaps the pool"),
    (lambda d: d["nodes"]["bob"].update(address="10.1.0.9"), "overlaps the gateway's subnet"),
    (lambda d: d.update(pool="2001:db8:99::/120"), "pool: '2001:db8:99::/120' is IPv6"),
    (lambda d: d["nodes"]["bob"].update(address="2001:db8:3::2"), "one family"),
    (lambda d: d["nodes"]["bob"].update(address="203.0.113.254"), "leaves no router address"),
    (lambda d: d["connections"][0].update(mode="transport"), "connections[0]: unknown field"),
    (lambda d: d["nodes"]["gw"].update(nat=True), "nodes.gw.nat: true is not allowed here"),
    (lambda d: [d["nodes"][c].update(nat=True) for c in ("alice", "bob")], "more than one client"),
    (lambda d: d["nodes"]["bob"].update(nat="yes"), "nodes.bob.nat: 'yes' is not allowed"),
])
def test_bad_input_is_one_line_naming_the_field(change, words) -> None:  # type: ignore[no-untyped-def]
    d = data()
    change(d)
    with pytest.raises(ScenarioError) as exc:
        network_from_dict(d, "rw.toml")
    assert words in str(exc.value) and "\n" not in str(exc.value)
    assert str(exc.value).startswith("rw.toml: ")


# -- rendering ------------------------------------------------------------------------------
def render(impl: str, node: str) -> dict[str, str]:
    n = load_network(FILE)
    role = "gateway" if node == "gw" else "client"
    ctx = PeerContext(node, "ipl-t", Path("/tmp/ipl-t") / node, parse_flavor(f"{impl}@sid"),
                      "t", Path("/tmp"))
    return ROLES[impl][role](n, n.by_name[node], ctx).render()


def test_strongswan_gateway_accepts_any_peer_and_tells_clients_apart_by_identity() -> None:
    conf = render("strongswan", "gw")["swanctl.conf"]
    for client, psk in (("alice", "alice's secret"), ("bob", "bob's secret")):
        block = conf.split(f"rw-{client} {{", 1)[1].split("children", 1)[0]
        assert "remote_addrs = %any" in block and "pools = rw" in block
        assert f"id = @{client}.example.org" in block
        secret = conf.split(f"ike-{client} {{", 1)[1].split("}", 1)[0]
        assert f"secret = 0x{psk.encode().hex()}" in secret and f"@{client}.example.org" in secret
    assert "addrs = 10.3.0.1-10.3.0.14" in conf and conf.count("local_ts = 10.1.0.0/24") == 2


def test_strongswan_client_asks_for_a_virtual_ip() -> None:
    conf = render("strongswan", "alice")["swanctl.conf"]
    assert "vips = 0.0.0.0" in conf and "remote_ts = 10.1.0.0/24" in conf
    assert "remote_addrs = 192.0.2.1" in conf and "local_ts" not in conf


def test_libreswan_gateway_has_a_conn_and_a_psk_per_client_and_one_pool() -> None:
    files = render("libreswan", "gw")
    conf, secrets = files["ipsec.conf"], files["ipsec.secrets"]
    assert conf.count("right=%any") == 2 and conf.count("rightaddresspool=10.3.0.1-10.3.0.14") == 2
    assert "conn rw-alice" in conf and "rightid=@bob.example.org" in conf
    assert "uniqueids=no" in conf and "leftsubnet=10.1.0.0/24" in conf
    assert f"@gw.example.org @alice.example.org : PSK 0x{b'alice'.hex()}" in secrets


def test_libreswan_client_is_a_mode_config_client() -> None:
    conf = render("libreswan", "bob")["ipsec.conf"]
    for line in ("leftmodecfgclient=yes", "leftsubnet=0.0.0.0/0", "rightsubnet=10.1.0.0/24",
                 "right=192.0.2.1", "keyexchange=ikev2"):
        assert f"\t{line}\n" in conf


def test_racoon_serves_as_an_ikev1_gateway_only() -> None:
    assert cannot_serve("racoon", "gateway", 1) is None and cannot_serve("strongswan", "client") is None
    assert "IKEv1 only, not IKEv2" in (cannot_serve("racoon", "gateway", 2) or "")
    assert "no road-warrior client driver" in (cannot_serve("racoon", "client") or "")


def test_racoon_gateway_takes_anyone_in_aggressive_mode_and_hands_out_the_pool() -> None:
    n = load_network(FILE)
    ctx = PeerContext("gw", "ipl-t", Path("/tmp/ipl-t/gw"), parse_flavor("racoon@0.9.1"), "t",
                      Path("/tmp"))
    files = ROLES["racoon"]["gateway"](n, n.gateway, ctx).render()
    conf = files["racoon.conf"]
    for line in ("remote anonymous", "\texchange_mode aggressive;", "\tgenerate_policy on;",
                 "\tpassive on;", "\tnetwork4 10.3.0.1;", "\tpool_size 14;",
                 "\tnetmask4 255.255.255.240;", '\tmy_identifier fqdn "gw.example.org";'):
        assert line in conf
    assert f"alice.example.org 0x{b'alice'.hex()}" in files["psk.txt"]
    assert "spdadd" not in files["setkey.conf"]


def test_racoon_gateway_sessions_from_its_log() -> None:
    log = "\n".join([
        "INFO: ISAKMP-SA established 192.0.2.1[500]-198.51.100.2[500] spi:1:2",
        "INFO: IPsec-SA established: ESP/Tunnel 198.51.100.2[500]->192.0.2.1[500] spi=1(0x1)",
        "INFO: IPsec-SA established: ESP/Tunnel 192.0.2.1[500]->198.51.100.2[500] spi=2(0x2)",
        "INFO: ISAKMP-SA established 192.0.2.1[500]-203.0.113.2[500] spi:3:4",
        "INFO: ISAKMP-SA deleted 192.0.2.1[500]-203.0.113.2[500] spi:3:4"])
    assert parse_log_sessions(log, "192.0.2.1") == [Session("anonymous", "198.51.100.2", "", 1)]


# -- what the gateway says it holds -------------------------------------------------------
def test_pluto_showstates_one_ike_sa_and_one_child_per_client() -> None:
    text = (FIXTURES / "whack-showstates-5.2-road-warrior-gateway.txt").read_text()
    assert parse_showstates(text) == [Session("rw-alice", "198.51.100.2", "", 1),
                                      Session("rw-bob", "203.0.113.2", "", 1)]


def test_pluto_showstates_ikev1_isakmp_sas_waiting_for_a_mode_config_ack_are_up() -> None:
    text = (FIXTURES / "whack-showstates-5.2-road-warrior-gateway-ikev1.txt").read_text()
    assert sorted(parse_showstates(text), key=lambda s: s.conn) == [
        Session("rw-alice", "198.51.100.2", "", 1), Session("rw-bob", "203.0.113.2", "", 1)]


def test_vici_sessions_count_installed_children_of_established_ike_sas() -> None:
    events = [{"rw-a": {"state": "ESTABLISHED", "remote-host": "198.51.100.2",
                        "remote-id": "a", "child-sas": {"rw-a-1": {"state": "INSTALLED"},
                                                        "rw-a-2": {"state": "REKEYED"}}}},
              {"rw-b": {"state": "CONNECTING", "remote-host": "203.0.113.2"}}]
    assert parse_sessions(events) == [Session("rw-a", "198.51.100.2", "a", 1)]


# -- the verdict's own checks ---------------------------------------------------------------
A, B, GW = "198.51.100.2", "203.0.113.2", "192.0.2.1"


def test_client_vip_is_the_source_of_the_policy_to_the_host() -> None:
    pols = [Policy("out", "10.3.0.5", 32, "10.1.0.0", 24, 0, True, "allow", GW),
            Policy("in", "10.1.0.0", 24, "10.3.0.5", 32, 0, True, "allow")]
    assert client_vip(pols, "10.1.0.2", "10.3.0.0/28") == "10.3.0.5"
    assert client_vip(pols[1:], "10.1.0.2", "10.3.0.0/28") is None


def test_vips_must_be_in_the_pool_distinct_and_what_the_gateway_sends_to() -> None:
    pool = "10.3.0.0/28"
    assert check_vips({"a": "10.3.0.1", "b": "10.3.0.2"},
                      {"a": {"10.3.0.1"}, "b": {"10.3.0.2"}}, pool) == []
    found = check_vips({"a": "10.3.0.1", "b": "10.3.0.1", "c": "10.9.0.1", "d": None},
                       {"a": {"10.3.0.1"}, "b": set(), "c": {"10.9.0.1"}}, pool)
    text = "\n".join(found)
    assert "b and a both hold virtual IP 10.3.0.1" in text
    assert "b: installed 10.3.0.1, but the gateway sends to nothing" in text
    assert "c: virtual IP 10.9.0.1 is not in the pool" in text and "d: no outbound" in text


def test_the_gateway_holds_one_ike_sa_per_client() -> None:
    clients = {"a": A, "b": B}
    good = [Session("rw-a", A, "", 1), Session("rw-b", B, "", 1)]
    assert check_sessions(good, clients, "gw") == []
    twice = [*good, Session("rw-a", A, "", 1), Session("x", "192.0.2.77", "", 1)]
    text = "\n".join(check_sessions(twice, clients, "gw"))
    assert "2 IKE SA(s) with a" in text and "no client: x 192.0.2.77" in text
    assert "has 2 Child SA(s)" in check_sessions([Session("rw-a", A, "", 2), good[1]],
                                                 clients, "gw")[0]


def _esp(src: str, dst: str, spi: int) -> Packet:
    return Packet(0.0, src, dst, 50, spi=spi, seq=1)


def test_a_client_link_carries_its_own_spis_and_nothing_in_clear() -> None:
    own = [_esp(A, GW, 1), _esp(GW, A, 2)]
    assert check_link("a", own, {1, 2}, {3, 4}) == []
    found = check_link("a", [*own, _esp(GW, A, 4)], {1, 2}, {3, 4})
    assert found == ["(w) a's link carries SPIs of other clients' SAs: 0x00000004"]
    assert "behind a NAT, but 2 ESP packet(s)" in check_link("a", own, {1, 2}, set(), True)[0]
    inudp = [Packet(0.0, A, GW, 17, spi=1, seq=1, sport=4500, dport=4500)]
    assert check_link("a", inudp, {1}, set(), behind_nat=True) == []
    clear = Packet(0.0, "10.3.0.1", "10.1.0.2", 1, icmp_type=8)
    assert "in clear text" in check_link("a", [*own, clear], {1, 2}, set())[0]


# -- the kernel's policy template, the grid ---------------------------------------------------
def test_a_policy_names_its_tunnels_far_end() -> None:
    sel = ipaddress.IPv4Address("10.1.0.0").packed + bytes(12)
    dst = ipaddress.IPv4Address("10.3.0.1").packed + bytes(12)
    info = xfrm._POLICY_INFO.pack(dst, sel, 0, 0, 0, 0, socket.AF_INET, 32, 24, 0, 0, 0,
                                  *([0] * 8), *([0] * 4), 0, 0, 1, 0, 0, 0)
    tmpl = ipaddress.IPv4Address(A).packed + bytes(12) + struct.pack("=IB3xH", 0, 50, 2)
    tmpl += bytes(64 - len(tmpl))
    payload = info + bytes((-len(info)) % 4) + struct.pack("=HH", 4 + len(tmpl), xfrm.XFRMA_TMPL) + tmpl
    policy = xfrm.parse_policy(payload)
    assert (policy.dir, policy.dst, policy.ipsec, policy.tmpl_dst) == ("out", "10.3.0.1", True, A)


def test_the_grid_is_gateway_flavor_times_client_pairs_of_different_daemons() -> None:
    selection = MatrixSelection.from_options(None, None, None, None, topologies="road-warrior")
    assert selection.networks == ("road-warrior",) and selection.cells() == []
    cells = road_warrior_cells(selection)
    # IKEv2: 4 gateway flavors; IKEv1: racoon's 2 too; x 4 client pairs (racoon is no client)
    assert len(cells) == (4 + 6) * 4
    assert "strongswan_sid-libreswan_bookworm+strongswan_sid-ikev2-road-warrior" in {
        c.id for c in cells}
    for cell in cells:
        impls = {parse_flavor(f, "").impl for f in cell.clients}
        assert impls == {"libreswan", "strongswan"}
        n = cell.network()
        assert len({c.address for c in n.clients}) == 2 and n.gateway.flavor == cell.gateway
    one = MatrixSelection.from_options("strongswan@sid", None, None, None,
                                       topologies="road-warrior")
    assert [(c.clients, c.ike_version) for c in road_warrior_cells(one)] == [
        (("strongswan@sid", "strongswan@sid"), 1), (("strongswan@sid", "strongswan@sid"), 2)]
    nat = road_warrior_cells(MatrixSelection.from_options(
        None, "2", None, None, topologies="road-warrior", paths="nat"))
    assert all(c.nat and c.id.endswith("-road-warrior-nat") for c in nat) and len(nat) == 16
    assert [n.nat for n in nat[0].network().clients] == [False, True]
    with pytest.raises(UsageError, match="'loss20' is not for topology road-warrior"):
        road_warrior_cells(MatrixSelection.from_options(
            None, None, None, None, topologies="road-warrior", paths="loss20"))
    assert MatrixSelection.from_options(None, None, None, None, topologies="road-warrior",
                                        paths="nat").cells() == []
    known = [c.id for c in cells if c.known()]
    assert known == ["libreswan_bookworm-libreswan_bookworm+strongswan_bookworm-ikev1-road-warrior",
                     "libreswan_bookworm-libreswan_sid+strongswan_bookworm-ikev1-road-warrior"]
