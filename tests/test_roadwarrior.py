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
from lab.daemons.libreswan.pluto_log import parse_pluto_log
from lab.errors import ScenarioError, UsageError
from lab.flavors import parse_flavor
from lab.matrix import MatrixSelection
from lab.outcome import Outcome
from lab.peers import load_network, network_from_dict, network_to_dict
from lab.remote import ROLES, cannot_serve
from lab.remote.base import Session
from lab.remote.judge import identities, is_refusal
from lab.remote.libreswan import parse_showstates
from lab.remote.matrix import deaf, road_warrior_cells
from lab.remote.racoon import parse_log_sessions, parse_peer_ids
from lab.remote.strongswan import of_peer, parse_sessions
from lab.remote.verdict import check_link, check_sessions, check_vips, client_vip, judge_connection
from lab.sa_words import Side
from lab.status import DaemonStatus, IkeStatus
from lab.topology.roadwarrior import nat_batch
from lab.wire.packets import Packet
from lab.wire.traffic import PingResult
from lab.xfrm import Policy

ROOT = Path(__file__).parents[1]
FILE = ROOT / "scenarios" / "files" / "road-warrior.toml"
FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(autouse=True)
def _libreswan_version(monkeypatch: pytest.MonkeyPatch) -> None:
    from lab.daemons.libreswan import probe
    monkeypatch.setattr(probe, "pluto_version", lambda flavor, tag: "5.2")


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
    every = road_warrior_cells(selection)
    cells = [c for c in every if c.auth == "psk"]
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
    assert [(c.clients, c.ike_version, c.auth) for c in road_warrior_cells(one)] == [
        (("strongswan@sid", "strongswan@sid"), 1, "psk"),
        (("strongswan@sid", "strongswan@sid"), 2, "psk"),
        (("strongswan@sid", "strongswan@sid"), 2, "rsa")]
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


# -- certificates ---------------------------------------------------------------------------
CERT_FILE = ROOT / "scenarios" / "files" / "road-warrior-cert.toml"


def cert_render(impl: str, node: str, cache: Path) -> dict[str, str]:
    n = load_network(CERT_FILE)
    role = "gateway" if node == "gw" else "client"
    ctx = PeerContext(node, "ipl-t", Path("/tmp/ipl-t") / node, parse_flavor(f"{impl}@sid"),
                      "t", cache)
    return ROLES[impl][role](n, n.by_name[node], ctx).render()


def test_the_certificate_example_loads_and_round_trips() -> None:
    n = load_network(CERT_FILE)
    assert n.auth == "rsa" and n.shared and n.pair(n.connection("bob")).auth == "rsa"
    assert [c.name for c in n.admitted] == ["alice", "bob"]
    assert [c.name for c in n.refused] == ["mallory"]
    assert network_from_dict(network_to_dict(n), "again") == n


@pytest.mark.parametrize(("change", "words"), [
    (lambda d: d.update(auth="psk"), "connections[2].cert: 'untrusted' is not allowed here"),
    (lambda d: d["connections"][2].update(cert="self-signed"), "connections[2].cert:"
                                                               " 'self-signed' is not allowed"),
    (lambda d: d["connections"][0].update(psk="x"), "connections[0].psk: not used with auth"),
    (lambda d: d["connections"][1].update(ike_version=1), "connections[1].ike_version: differs"),
    (lambda d: [c.update(cert="untrusted") for c in d["connections"]], "every client has cert"),
    (lambda d: d.update(auth="dsa"), "auth: 'dsa' is not allowed"),
])
def test_certificate_input_errors_name_the_field(change, words) -> None:  # type: ignore[no-untyped-def]
    d = tomllib.loads(CERT_FILE.read_text())
    change(d)
    with pytest.raises(ScenarioError) as exc:
        network_from_dict(d, "rw.toml")
    assert words in str(exc.value) and "\n" not in str(exc.value)


def test_strongswan_gateway_has_one_connection_for_every_client_the_ca_signed(tmp_path: Path) -> None:
    files = cert_render("strongswan", "gw", tmp_path)
    conf = files["swanctl.conf"]
    assert conf.count("remote_addrs = %any") == 1 and "rw-alice" not in conf
    remote = conf.split("remote {", 1)[1].split("}", 1)[0]
    assert "auth = pubkey" in remote and "cacerts = ca.pem" in remote and "id =" not in remote
    assert "certs = peer.pem" in conf and "send_cert = always" in conf and "secrets" not in conf
    assert {"x509ca/ca.pem", "x509/peer.pem", "private/peer.key"} <= set(files)


def test_libreswan_gateway_takes_any_identity_a_certificate_of_its_ca_proves(tmp_path: Path) -> None:
    files = cert_render("libreswan", "gw", tmp_path)
    conf = files["ipsec.conf"]
    for line in ("conn rw", "right=%any", "rightca=%same", "leftcert=ipsec-lab-gw",
                 "authby=rsasig", "rightaddresspool=10.3.0.1-10.3.0.14"):
        assert f"{line}\n" in conf
    # rightid=%fromcert would make the identity the certificate's subject DN
    assert "rightid" not in conf and "PSK" not in files["ipsec.secrets"]


def test_clients_send_their_certificates(tmp_path: Path) -> None:
    conf = cert_render("strongswan", "alice", tmp_path)["swanctl.conf"]
    assert "certs = peer.pem" in conf and "id = @gw.example.org" in conf and "secret" not in conf
    conf = cert_render("libreswan", "bob", tmp_path)["ipsec.conf"]
    assert "\tleftcert=ipsec-lab-bob\n" in conf and "\trightid=@gw.example.org\n" in conf


def test_the_untrusted_client_has_a_certificate_of_another_ca(tmp_path: Path) -> None:
    from cryptography import x509

    n = load_network(CERT_FILE)

    def creds(name: str):  # type: ignore[no-untyped-def]
        role = "gateway" if name == "gw" else "client"
        ctx = PeerContext(name, "ipl-t", tmp_path / name, parse_flavor("strongswan@sid"), "t",
                          tmp_path)
        return ROLES["strongswan"][role](n, n.by_name[name], ctx).credentials()

    gw, alice, mallory = creds("gw"), creds("alice"), creds("mallory")
    ca = x509.load_pem_x509_certificate(gw.ca_pem.encode()).subject
    issuer = {name: x509.load_pem_x509_certificate(c.cert_pem.encode()).issuer
              for name, c in (("alice", alice), ("mallory", mallory))}
    assert issuer["alice"] == ca and issuer["mallory"] != ca
    assert mallory.ca_pem == gw.ca_pem  # it trusts the gateway's CA all the same
    cert = x509.load_pem_x509_certificate(alice.cert_pem.encode())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "alice.example.org" in names.get_values_for_type(x509.DNSName)


def test_racoon_gateway_takes_rsa_certificates_in_main_mode(tmp_path: Path) -> None:
    assert "psk/rsa only, not ecdsa (racoon.conf(5) has no ECDSA" in (
        cannot_serve("racoon", "gateway", 1, "ecdsa") or "")
    assert cannot_serve("racoon", "gateway", 1, "rsa") is None
    d = tomllib.loads(CERT_FILE.read_text())
    d.update(ike_version=1, ike="aes128-sha1-modp2048", esp="aes128-sha1")
    n = network_from_dict(d, "rw.toml")
    ctx = PeerContext("gw", "ipl-t", tmp_path / "gw", parse_flavor("racoon@0.9.1"), "t", tmp_path)
    files = ROLES["racoon"]["gateway"](n, n.gateway, ctx).render()
    conf = files["racoon.conf"]
    for line in ("\texchange_mode main;", '\tcertificate_type x509 "peer.pem" "peer.key";',
                 "\tverify_cert on;", "\tverify_identifier on;",
                 "\t\tauthentication_method rsasig;", f'path certificate "{tmp_path}/gw/certs";'):
        assert line in conf
    assert "aggressive" not in conf and "certs/peer.key" in files
    assert any(name.endswith(".0") for name in files)  # the CA by its OpenSSL hash


def test_racoon_gateway_names_each_clients_identity_by_its_address() -> None:
    log = "\n".join([
        "2026-12-05 22:20:56: [198.51.100.2] DEBUG: peer's ID",
        "2026-12-05 22:20:56: DEBUG: ",
        "02000000 616c6963 652e6578 616d706c 652e6f72 67",
        "2026-12-05 22:20:56: [203.0.113.2] DEBUG: peer's ID",
        "2026-12-05 22:20:56: DEBUG: ",
        "02000000 626f622e 6578616d 706c652e 6f7267"])
    assert parse_peer_ids(log) == {A: "alice.example.org", B: "bob.example.org"}


def test_the_grid_adds_one_rsa_cell_per_gateway_flavor_with_a_refused_client() -> None:
    cells = road_warrior_cells(MatrixSelection.from_options(None, None, None, None,
                                                            topologies="road-warrior"))
    certs = [c for c in cells if c.auth != "psk"]
    v2 = [c for c in certs if c.id.endswith("-ikev2-road-warrior-rsa")]
    v1 = {c.gateway: c.clients for c in certs if c.id.endswith("-ikev1-road-warrior-rsa")}
    assert len(v2) == 4 and len(certs) == 4 + 5
    # IKEv1: every gateway flavor with IKEv1; no client without it, none known to fail with
    # the gateway (pluto 4.10's mode config reply), the refused (first) client one that
    # hears the refusal (DEAF: pluto 4.10 hears no IKEv1 refusal, no pluto racoon's)
    assert v1 == {"libreswan@bookworm": ("libreswan@bookworm", "libreswan@sid"),
                  "libreswan@sid": ("libreswan@sid", "strongswan@bookworm"),
                  "strongswan@bookworm": ("libreswan@sid", "strongswan@bookworm"),
                  "racoon@0.8.2": ("strongswan@bookworm", "libreswan@bookworm"),
                  "racoon@0.9.1": ("strongswan@bookworm", "libreswan@bookworm")}
    assert all(not c.known() for c in certs)
    assert deaf("racoon@0.9.1", "libreswan@sid", 1) and not deaf("racoon@0.9.1",
                                                                 "libreswan@sid", 2)
    n = certs[0].network()
    assert [c.name for c in n.refused] == ["c3"] and len(n.admitted) == 2
    only = road_warrior_cells(MatrixSelection.from_options(None, None, None, None,
                                                           topologies="road-warrior", auth="ecdsa"))
    assert only and all(c.auth == "ecdsa" for c in only)
    # a Libreswan gateway names ECDSA clients by their addresses: a strict expected failure
    known = {c.gateway: c.known_error().__name__ for c in only if c.known()}
    assert known == {"libreswan@bookworm": "VerdictError", "libreswan@sid": "VerdictError"}


def test_vici_status_of_the_shared_connection_is_the_clients_ike_sa() -> None:
    events = [{"rw": {"remote-host": A, "remote-id": "alice.example.org"}},
              {"rw": {"remote-host": B, "remote-id": "bob.example.org"}}]
    assert of_peer(events, "rw", B) == events[1:]


# -- the identities each side saw ----------------------------------------------------------
def _identity_problems(gateway_saw: str) -> list[str]:
    n = load_network(CERT_FILE)
    pair = n.pair(n.connection("alice"))
    sides = (Side("alice", "strongswan 6.1", A), Side("gw", "strongswan 6.1", GW))
    said = {"right": DaemonStatus(source="VICI list-sas", ike=IkeStatus(remote_id=gateway_saw))}
    ping = PingResult(ident=1, family=4)
    _, found = judge_connection(pair, *sides, [], {"left": [], "right": []}, ping, said)
    return [p.text for p in found if p.kind == "identity"]


def test_the_verdict_fails_when_the_gateway_saw_another_identity() -> None:
    assert _identity_problems("alice.example.org") == []
    wrong = _identity_problems("mallory.example.org")
    assert len(wrong) == 1 and "'mallory.example.org'" in wrong[0] and "@alice" in wrong[0]


def test_each_end_must_name_the_identity_it_authenticated() -> None:
    said = {"left": DaemonStatus(source="pluto.log", ike=IkeStatus(remote_id="@gw.example.org")),
            "right": DaemonStatus(source="pluto.log", ike=IkeStatus())}
    lines, unsaid = identities("alice", "gw", said)
    assert lines == ["alice: alice authenticated gw as '@gw.example.org' (pluto.log)"]
    assert unsaid == ["alice: identity: gw names no identity of alice (pluto.log)"]


def test_a_refused_client_hears_authentication_failed_or_ikev1s_invalid_id() -> None:
    assert is_refusal(Outcome("authentication-failed", "AUTHENTICATION_FAILED"), 2)
    assert not is_refusal(None, 2) and not is_refusal(Outcome("timeout", "x"), 2)
    invalid = Outcome("ts-unacceptable", "received INVALID_ID_INFORMATION error notify")
    assert is_refusal(invalid, 1) and not is_refusal(invalid, 2)


def test_pluto_names_the_identity_a_certificate_proved() -> None:
    for line in ('"rw"[1] 198.51.100.2 #1: responder established IKE SA; authenticated peer'
                 " certificate '@alice.example.org' and 2048-bit PKCS#1 1.5 RSA with SHA2_256"
                 " digital signature issued by 'C=CH, O=ipsec-lab, CN=ipsec-lab rsa CA'",
                 '"rw"[4] 198.51.100.2 #1: responder established IKE SA; authenticated peer'
                 " '2048-bit PKCS#1 1.5 RSA with SHA2_256' digital signature using peer"
                 " certificate '@alice.example.org' issued by CA 'C=CH, O=ipsec-lab'"):
        ike = parse_pluto_log(line, 2).ike
        assert ike is not None and ike.remote_id == "@alice.example.org"


def test_pluto_gateway_reads_each_clients_instance_of_the_shared_conn(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    d = tomllib.loads(CERT_FILE.read_text())
    d["nodes"]["gw"]["flavor"] = "libreswan@sid"
    n = network_from_dict(d, "rw.toml")
    ctx = PeerContext("gw", "ipl-t", tmp_path / "gw", parse_flavor("libreswan@sid"), "t", tmp_path)
    gw = ROLES["libreswan"]["gateway"](n, n.gateway, ctx)
    line = ('"rw"[{i}] {addr} #{i}: responder established IKE SA; authenticated peer certificate'
            " '@{who}.example.org' and 2048-bit PKCS#1 1.5 RSA with SHA2_256 digital signature")
    log = "\n".join([line.format(i=1, addr=A, who="alice"),
                     line.format(i=2, addr=A + "2", who="mallory"),  # 198.51.100.22: no match
                     line.format(i=3, addr=B, who="bob")])
    monkeypatch.setattr(type(gw), "log_text", lambda self: log)
    for client, who in (("alice", "@alice.example.org"), ("bob", "@bob.example.org")):
        st = gw.status_of(n.connection(client))
        assert st is not None and st.ike is not None and st.ike.remote_id == who
