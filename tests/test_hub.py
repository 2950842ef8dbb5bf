"""Hubs, the pure parts: the model's hub checks, each daemon's hub config and a spoke's
two-peer config (its subnet to everything), the grid (lab.peers, lab.remote)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from lab.daemons.base import PeerContext
from lab.errors import ScenarioError, UsageError
from lab.flavors import parse_flavor
from lab.matrix import MatrixSelection
from lab.peers import load_network, network_from_dict, network_to_dict
from lab.remote.drivers import driver
from lab.remote.matrix import HubCellSpec, hub_cells, spoke_pairs
from lab.topology.hub import host_of

ROOT = Path(__file__).parents[1]
FILE = ROOT / "scenarios" / "files" / "hub.toml"


@pytest.fixture(autouse=True)
def _libreswan_version(monkeypatch: pytest.MonkeyPatch) -> None:
    from lab.daemons.libreswan import probe
    monkeypatch.setattr(probe, "pluto_version", lambda flavor, tag: "5.2")


def data() -> dict:  # type: ignore[type-arg]
    return tomllib.loads(FILE.read_text())


def test_the_example_file_loads_and_round_trips() -> None:
    n = load_network(FILE)
    assert [n.role(node) for node in n.nodes] == ["hub", "spoke", "spoke"]
    assert (n.host, n.wide, n.by_name["west"].lan(2)) == ("10.1.0.2", "0.0.0.0/0", "10.4.0.2")
    pair = n.pair(n.connections[0])
    assert (pair.topology, pair.left.subnet, pair.right.subnet) == (
        "net-to-net-routed", "10.2.0.0/24", "10.1.0.0/24")
    assert network_from_dict(network_to_dict(n), "again") == n
    assert host_of("east") == "host-east"


@pytest.mark.parametrize(("change", "words"), [
    (lambda d: d["nodes"]["east"].pop("subnet"), "nodes.east.subnet: missing"),
    (lambda d: d["nodes"]["east"].update(subnet="10.1.0.0/25"), "overlaps hub's"),
    (lambda d: d["nodes"]["east"].update(nat=True), "nodes.east.nat: true is not allowed"),
    (lambda d: d.update(connections=d["connections"][:1]), "2 or more spokes"),
    (lambda d: d["nodes"]["west"].update(subnet="203.0.113.0/24"), "not holding the node"),
])
def test_bad_hubs_are_one_line_naming_the_field(change, words) -> None:  # type: ignore[no-untyped-def]
    d = data()
    change(d)
    if "connections" in d and len(d["connections"]) == 1:
        d["nodes"].pop("west")
    with pytest.raises(ScenarioError) as exc:
        network_from_dict(d, "hub.toml")
    assert words in str(exc.value) and "\n" not in str(exc.value)


def render(flavors: dict[str, str], node: str, version: int = 2) -> dict[str, str]:
    d = data()
    d["ike_version"] = version
    for name, flavor in flavors.items():
        d["nodes"][name]["flavor"] = flavor
    n = network_from_dict(d, "hub.toml")
    ctx = PeerContext(node, "ipl-t", Path("/tmp/ipl-t") / node,
                      parse_flavor(n.by_name[node].flavor), "t", Path("/tmp"))
    return driver(n, n.by_name[node], ctx).render()


def test_strongswan_hub_has_a_connection_per_spoke_from_everything_to_its_subnet() -> None:
    conf = render({}, "hub")["swanctl.conf"]
    for spoke, addr, subnet in (("east", "198.51.100.2", "10.2.0.0/24"),
                                ("west", "203.0.113.2", "10.4.0.0/24")):
        block = conf.split(f"hub-{spoke} {{", 1)[1]
        assert f"remote_addrs = {addr}" in block and f"remote_ts = {subnet}" in block
        assert "local_ts = 0.0.0.0/0" in block
    assert "aggressive" not in conf and "pools" not in conf


def test_libreswan_hub_and_a_spoke() -> None:
    hub = render({"hub": "libreswan@sid"}, "hub", 1)
    conf = hub["ipsec.conf"]
    assert "conn hub-east" in conf and "conn hub-west" in conf
    assert conf.count("leftsubnet=0.0.0.0/0") == 2 and "rightsubnet=10.4.0.0/24" in conf
    assert "aggressive" not in conf and "ikev1-policy=accept" in conf
    spoke = render({}, "east")["ipsec.conf"]
    assert "leftsubnet=10.2.0.0/24" in spoke and "rightsubnet=0.0.0.0/0" in spoke


def test_racoon_hub_has_a_remote_and_policies_per_spoke() -> None:
    files = render({"hub": "racoon@0.9.1"}, "hub", 1)
    conf, setkey = files["racoon.conf"], files["setkey.conf"]
    assert "remote 198.51.100.2" in conf and "remote 203.0.113.2" in conf
    assert "sainfo address 0.0.0.0/0 any address 10.2.0.0/24 any" in conf
    assert ("spdadd 0.0.0.0/0 10.4.0.0/24 any -P out ipsec"
            " esp/tunnel/192.0.2.1-203.0.113.2/require;") in setkey
    assert files["psk.txt"].count("0x") == 2


def test_a_racoon_spoke_protects_its_subnet_to_everything() -> None:
    setkey = render({"east": "racoon@0.9.1"}, "east", 1)["setkey.conf"]
    assert "spdadd 10.2.0.0/24 0.0.0.0/0 any -P out" in setkey


def test_the_grid() -> None:
    selection = MatrixSelection.from_options(None, None, None, None, topologies="hub")
    cells = hub_cells(selection)
    ids = {c.id for c in cells}
    assert "strongswan_sid-libreswan_bookworm+strongswan_bookworm-ikev2-hub" in ids
    assert all(c.ike_version == 1 for c in cells if c.hub.startswith("racoon"))
    assert not any("racoon" in s for c in cells if c.ike_version == 2 for s in c.spokes)
    assert spoke_pairs(["racoon@0.8.2", "racoon@0.9.1", "libreswan@sid"]) == [
        ("racoon@0.8.2", "libreswan@sid"), ("racoon@0.9.1", "libreswan@sid")]
    certs = [c.id for c in cells if c.auth != "psk"]
    assert certs == ["libreswan_bookworm-libreswan_bookworm+strongswan_bookworm-ikev2-hub-rsa",
                     "strongswan_bookworm-libreswan_bookworm+strongswan_bookworm-ikev2-hub-rsa",
                     "racoon_0_8_2-libreswan_bookworm+strongswan_bookworm-ikev1-hub-rsa"]
    ids = [node.id for node in cells[-1].network().nodes]
    assert ids == ["@hub.example.org", "@s1.example.org", "@s2.example.org"]
    only = hub_cells(MatrixSelection.from_options(None, None, None, None, topologies="hub",
                                                  auth="rsa"))
    assert [c.auth for c in only] == ["rsa", "rsa", "rsa"]
    # racoon's hub has no ECDSA: no cell
    ecdsa = hub_cells(MatrixSelection.from_options(None, None, None, None, topologies="hub",
                                                   auth="ecdsa"))
    assert [c.hub for c in ecdsa] == ["libreswan@bookworm", "strongswan@bookworm"]
    n = HubCellSpec("racoon@0.9.1", ("libreswan@sid", "racoon@0.8.2"), 1).network()
    assert n.topology == "hub" and [c.client for c in n.connections] == ["s1", "s2"]
    with pytest.raises(UsageError, match="not for topology hub"):
        hub_cells(MatrixSelection.from_options(None, None, None, None, topologies="hub",
                                               paths="nat"))


def test_exec_names_the_hosts_behind_the_spokes() -> None:
    from lab.cli.network import node_names

    saved = network_to_dict(load_network(FILE))
    assert node_names(saved) == ("hub", "east", "west", "router", "host", "host-east",
                                 "host-west")


def test_an_ipv6_hub_protects_everything_of_its_family() -> None:
    d = data()
    for i, name in enumerate(("hub", "east", "west"), 1):
        d["nodes"][name].update(address=f"2001:db8:{i}::2", subnet=f"fd00:{i}::/64")
    n = network_from_dict(d, "hub6.toml")
    assert n.wide == "::/0" and n.by_name["east"].lan(2) == "fd00:2::2"


def test_racoon_hub_with_certificates_checks_each_spokes_identity(tmp_path: Path) -> None:
    n = HubCellSpec("racoon@0.9.1", ("libreswan@sid", "strongswan@bookworm"), 1, "rsa").network()
    ctx = PeerContext("hub", "ipl-t", tmp_path / "hub", parse_flavor("racoon@0.9.1"), "t",
                      tmp_path)
    files = driver(n, n.by_name["hub"], ctx).render()
    conf = files["racoon.conf"]
    block = conf.split("remote 203.0.113.2", 1)[1].split("sainfo", 1)[0]
    for line in ('\tpeers_identifier fqdn "s2.example.org";', "\tverify_cert on;",
                 "\tverify_identifier on;", '\tcertificate_type x509 "peer.pem" "peer.key";',
                 "\t\tauthentication_method rsasig;"):
        assert line in block
    assert 'path certificate "' in conf and "certs/peer.key" in files
    assert "0x" not in files["psk.txt"]
