"""The path between the peers: the [path] table's one-line errors, what the router is
told (tc), NAT mapping, retransmission counting, IP fragments of IKE; and, in a real
kernel, that the router really loses the configured share and exactly the first IKE
packets."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import pytest

from lab.errors import ScenarioError
from lab.matrix import PATHS, MatrixCell, MatrixSelection
from lab.scenario import scenario_from_dict, scenario_to_dict
from lab.topology import impair
from lab.topology.build import Topology
from lab.topology.netns import socket_in
from lab.topology.path import PathSpec
from lab.wire import nat, retransmit
from lab.wire.packets import Packet


def cell(path: str, initiator: str = "libreswan@sid", responder: str = "strongswan@sid"):  # type: ignore[no-untyped-def]
    case = PATHS[path]
    return MatrixCell(initiator, responder, 2, "tunnel", "aes128-sha1", "routed", case.family,
                      case.auth or "psk", path).scenario()


# -- the scenario's [path] ------------------------------------------------------------
@pytest.mark.parametrize(("path", "words"), [
    ({"loss": 120}, "path.loss: 120 is not allowed (allowed: 0..100 percent)"),
    ({"jitter": 10}, "path.jitter: 10 is more than delay 0"),
    ({"reorder": 5}, "path.reorder: 5.0 needs a delay"),
    ({"mtu": 100}, "path.mtu: 100 is not allowed"),
    ({"drop_from": "router"}, "path.drop_from: 'router' is not allowed (allowed: initiator, responder)"),
    ({"nat": "yes"}, "path.nat: 'yes' is not allowed (allowed: true, false)"),
    ({"colour": 1}, "path.colour: unknown field"),
])
def test_bad_path_is_one_line(path: dict, words: str) -> None:
    data = scenario_to_dict(cell("drop1"))
    data["path"] = path
    with pytest.raises(ScenarioError) as exc:
        scenario_from_dict(data, "x.toml")
    assert words in str(exc.value) and "\n" not in str(exc.value)


def test_path_needs_a_router_and_nat_needs_ipv4_tunnel() -> None:
    data = scenario_to_dict(cell("drop1"))
    with pytest.raises(ScenarioError, match="needs a router between the peers"):
        scenario_from_dict({**data, "topology": "host-to-host"}, "x.toml")
    with pytest.raises(ScenarioError, match=r"path\.mtu: 1000 is not allowed for IPv6"):
        scenario_from_dict({**data, "path": {"mtu": 1000}}, "x.toml")
    with pytest.raises(ScenarioError, match=r"path\.nat: true needs IPv4"):
        scenario_from_dict({**data, "path": {"nat": True}}, "x.toml")
    data4 = scenario_to_dict(cell("nat"))
    with pytest.raises(ScenarioError, match="'transport' is not allowed behind NAT"):
        scenario_from_dict({**data4, "mode": "transport"}, "x.toml")


def test_path_round_trips_through_toml_data() -> None:
    s = cell("delay100")
    assert scenario_from_dict(scenario_to_dict(s), "x.toml") == s
    assert scenario_to_dict(s)["path"] == {"delay": 100, "jitter": 50, "reorder": 25.0}


# -- what the router is told -----------------------------------------------------------
def test_drop_is_a_band_of_one_shot_netems_towards_the_receiver() -> None:
    s = cell("drop1").with_(path=PathSpec(drop_ike=2))
    lines = impair.tc_batch(s, Topology(s, "x").layout).splitlines()
    # towards right, the receiver; nothing but the filter's packets in the first band
    assert lines[0] == "qdisc add dev e1 root handle 1: prio bands 2 priomap" + " 1" * 16
    assert "match ip6 src 2001:db8:1:1::1/128" in lines[1] and "dport 500" in lines[1]
    assert lines[2:] == [
        "qdisc add dev e1 parent 1:1 handle 10: netem loss state 100% 0% 100% 0% 0%",
        "qdisc add dev e1 parent 10:1 handle 11: netem loss state 100% 0% 100% 0% 0%"]
    resp = cell("drop1resp")
    assert impair.tc_batch(resp, Topology(resp, "x").layout).startswith(
        "qdisc add dev e0 root")


def test_nat_maps_the_initiator_to_the_router_and_back() -> None:
    s = cell("nat")
    assert s.address_seen("left", by="right") == "198.51.100.254"
    assert s.address_seen("right", by="left") == "198.51.100.2"
    batch = impair.tc_batch(s, Topology(s, "x").layout)
    assert "egress prio 2 protocol ip matchall action nat egress 192.0.2.1/32 198.51.100.254" in batch
    assert "ingress prio 2 protocol ip matchall action nat ingress 198.51.100.254/32 192.0.2.1" in batch
    assert nat.inside(s) == {"198.51.100.254": "192.0.2.1"}
    assert nat.inside(cell("encap")) == {}
    seen = [Packet(0.0, "198.51.100.2", "198.51.100.254", 17, spi=1, seq=1, sport=4500, dport=4500)]
    assert nat.mapped(seen, nat.inside(s))[0].dst == "192.0.2.1"


def test_default_matrix_adds_drop1_and_nat_between_different_daemons() -> None:
    cells = [c for c in MatrixSelection().cells() if c.path != "none"]
    assert {c.path for c in cells} == {"drop1", "nat"}
    assert all(c.initiator.split("@")[0] != c.responder.split("@")[0] for c in cells)
    # 8 libreswan-strongswan pairs in IKEv2; 16 racoon pairs (2 releases x 4 others, both
    # orders) in IKEv1, the version they share
    assert len(cells) == 2 * (8 + 16)
    assert {c.ike_version for c in cells if "racoon" in c.id} == {1}
    assert cells[0].id.endswith("-ikev2-tunnel-aes128-sha1-routed-drop1")


# -- retransmissions and fragments -----------------------------------------------------
def test_retransmissions_are_the_same_bytes_sent_again() -> None:
    a, b = "2001:db8:1:1::1", "2001:db8:2:2::2"
    wire = [Packet(0.0, a, b, 17, sport=500, dport=500, ike=b"init"),
            Packet(0.5, a, b, 17, sport=500, dport=500, ike=b"init"),
            Packet(0.6, b, a, 17, sport=500, dport=500, ike=b"init-r"),
            Packet(0.7, a, b, 17, sport=500, dport=500, ike=b"auth"),
            Packet(0.8, b, a, 17, sport=500, dport=500, ike=b"auth-r")]
    counts = retransmit.count(wire, {"left": a, "right": b})
    assert counts["left"] == retransmit.IkeCount(3 - 1, 1)
    assert counts["right"] == retransmit.IkeCount(2, 0)


def test_later_ip_fragments_of_ike_are_ike() -> None:
    from scapy.layers.inet6 import UDP, IPv6, IPv6ExtHdrFragment, fragment6
    from scapy.layers.l2 import Ether

    from lab.wire.packets import parse_all

    big = IPv6(src="2001:db8:1:1::1", dst="2001:db8:2:2::2") / IPv6ExtHdrFragment() / \
        UDP(sport=500, dport=500) / (b"\x11" * 28 + b"x" * 2000)
    frames = [(0.0, bytes(Ether() / f)) for f in fragment6(big, 1280)]
    packets = parse_all(frames)
    assert len(packets) == 2 and [p.kind for p in packets] == ["ike", "ike"]


# -- in a real kernel: the router does what the path says -------------------------------
SO_RCVBUFFORCE = 33

def _send_and_count(topology: Topology, n: int, port: int) -> list[int]:
    """Send n numbered UDP datagrams from left to right; the numbers that arrived."""
    s = topology.scenario
    src, dst = s.left.address, s.right.address
    rx = socket_in(topology.netns("right"), socket.AF_INET6, socket.SOCK_DGRAM)
    tx = socket_in(topology.netns("left"), socket.AF_INET6, socket.SOCK_DGRAM)
    with rx, tx:
        rx.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 1 << 23)  # all of them wait here
        rx.bind((dst, port))
        tx.bind((src, port))
        for i in range(n):
            tx.sendto(i.to_bytes(4, "big"), (dst, port))
            time.sleep(0.001)
        rx.settimeout(1.0)
        got = []
        try:
            while True:
                got.append(int.from_bytes(rx.recv(64), "big"))
        except TimeoutError:
            pass
    return got


def _topology(path: PathSpec) -> Topology:
    s = cell("drop1").with_(path=path)
    return Topology(s, f"{os.getpid()}-p{int(time.monotonic() * 1000) % 100000}")


@pytest.mark.lab
def test_router_loses_the_configured_share(lab) -> None:
    n = 600
    for loss in (0.0, 30.0):
        topology = _topology(PathSpec(loss=loss))
        try:
            topology.up()
            got = _send_and_count(topology, n, 4242)
        finally:
            topology.down()
        share = 100 * (n - len(got)) / n
        # binomial: 30% of 600 has a standard deviation of 1.9 points; 5 of them either way
        assert abs(share - loss) <= 9.5, (loss, share)
        assert len(set(got)) == len(got)


@pytest.mark.lab
def test_router_drops_exactly_the_first_ike_packets(lab) -> None:
    for drop in (1, 3):
        topology = _topology(PathSpec(drop_ike=drop))
        try:
            topology.up()
            time.sleep(1.5)  # the router's own neighbour discovery must not take a loss
            ike = _send_and_count(topology, 8, 500)
            other = _send_and_count(topology, 8, 4242)
        finally:
            topology.down()
        assert ike == list(range(drop, 8)), (drop, ike)
        assert other == list(range(8))


# -- (f) the path's claims, proved on the wire ------------------------------------------
def _ping(rtts: list[float]):  # type: ignore[no-untyped-def]
    from lab.wire.traffic import PingResult

    return PingResult(1, [1, 2, 3], [1, 2, 3], rtts)


def test_a_drop_that_made_no_retransmission_fails() -> None:
    from lab.wire import pathcheck

    s = cell("drop1")
    quiet = {"left": retransmit.IkeCount(2, 0), "right": retransmit.IkeCount(2, 0)}
    assert "which sent only 0 again" in pathcheck.check(s, [], quiet, _ping([0.001]))[0]
    once = {"left": retransmit.IkeCount(2, 1), "right": retransmit.IkeCount(2, 0)}
    assert pathcheck.check(s, [], once, _ping([0.001])) == []


def test_esp_must_be_in_udp_exactly_where_nat_or_encap_says() -> None:
    from lab.wire import pathcheck

    s = cell("nat")
    a, b = s.left.address, s.right.address
    plain = [Packet(0.0, a, b, 50, spi=1, seq=1)]
    in_udp = [Packet(0.0, a, b, 17, spi=1, seq=1, sport=4500, dport=4500)]
    assert "1 of 1 ESP packets were not in UDP" in pathcheck.check(s, plain, {}, _ping([]))[0]
    assert pathcheck.check(s, in_udp, {}, _ping([])) == []
    loss = cell("loss20")
    v6 = [Packet(0.0, loss.left.address, loss.right.address, 17, spi=1, seq=1, sport=4500,
                 dport=4500)]
    assert "ESP packets in UDP" in pathcheck.check(loss, v6, {}, _ping([]))[0]


def test_a_delay_that_delayed_nothing_fails() -> None:
    from lab.wire import pathcheck

    s = cell("delay100")
    assert "delayed no echo" in pathcheck.check(s, [], {}, _ping([0.002, 0.003]))[0]
    assert pathcheck.check(s, [], {}, _ping([0.002, 0.21])) == []


def test_fragments_are_dropped_on_both_router_links() -> None:
    s = cell("mtu1280fragdrop")
    batch = impair.tc_batch(s, Topology(s, "x").layout).splitlines()
    assert batch == ["qdisc add dev e0 clsact", "qdisc add dev e1 clsact",
                     "filter add dev e0 ingress prio 3 protocol ipv6 u32 match ip6 protocol 44"
                     " 0xff action drop",
                     "filter add dev e1 ingress prio 3 protocol ipv6 u32 match ip6 protocol 44"
                     " 0xff action drop"]
    assert s.expect == "timeout" and s.fragmentation == "off"


def test_lossy_verdict_bounds_the_esp_count() -> None:
    from lab.wire.traffic import PingResult
    from lab.wire.verdict import _lossy_counts

    s = cell("loss20")
    a, b = s.left.address, s.right.address
    ping = PingResult(1, [1, 2, 3, 4], [1, 2, 4], [0.01] * 3, src=a, dst=b)
    assert _lossy_counts(s, {a: 4, b: 3}, ping) == []  # one reply lost on the way back
    assert _lossy_counts(s, {a: 4, b: 4}, ping) == []  # or the request on the way there
    assert "the initiator sent 3 ESP packets, expected 4" in _lossy_counts(s, {a: 3, b: 3}, ping)[0]
    assert "expected 3..4" in _lossy_counts(s, {a: 4, b: 2}, ping)[0]
    short = PingResult(1, [1, 2, 3], [1], [0.01], src=a, dst=b)
    assert "needed 3" in _lossy_counts(s, {a: 3, b: 1}, short)[-1]


# -- the examples and what each daemon is told ----------------------------------------------
FILES = __import__("pathlib").Path(__file__).parents[1] / "scenarios" / "files"


def test_example_files_load() -> None:
    from lab.scenario import load_scenario

    loss = load_scenario(FILES / "router-loss.toml")
    assert (loss.topology, loss.path) == ("routed", PathSpec(loss=20, delay=100, jitter=50))
    behind = load_scenario(FILES / "nat.toml")
    assert behind.path.nat and behind.address_seen("left", by="right") == "198.51.100.254"


def _render(tmp_path, scenario, side: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    from lab.daemons.base import PeerContext
    from lab.daemons.libreswan.driver import Libreswan
    from lab.daemons.strongswan.driver import StrongSwan
    from lab.flavors import Flavor

    impl = scenario.peer(side).flavor.split("@")[0]
    cls, flavor = {"libreswan": (Libreswan, Flavor("libreswan")),
                   "strongswan": (StrongSwan, Flavor("strongswan", "bookworm", tmp_path / "x"))}[impl]
    ctx = PeerContext(side, f"ipl-x-{side[0]}", tmp_path / side, flavor, "t", tmp_path)
    return cls(scenario, ctx).render()


def test_daemons_are_told_the_nat_address_and_the_inside_selectors(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from lab.daemons.libreswan import probe

    monkeypatch.setattr(probe, "pluto_version", lambda flavor, tag: "5.2")
    s = cell("nat", "strongswan", "libreswan")
    pluto = _render(tmp_path, s, "right")["ipsec.conf"]  # the responder, beyond the NAT
    assert "\tright=198.51.100.254\n" in pluto and "\trightid=192.0.2.1\n" in pluto
    assert "\tleftsubnet=198.51.100.2/32\n" in pluto and "\trightsubnet=192.0.2.1/32\n" in pluto
    charon = _render(tmp_path, s, "left")["swanctl.conf"]  # the initiator, behind it
    assert "remote_addrs = 198.51.100.2" in charon
    assert "local_ts = 192.0.2.1/32" in charon and "remote_ts = 198.51.100.2/32" in charon


@pytest.mark.parametrize(("path", "pluto", "charon"), [
    ("mtu1280", "fragmentation=yes", "fragmentation = yes"),
    ("mtu1280nofrag", "fragmentation=no", "fragmentation = no"),
    ("encap", "encapsulation=yes", "encap = yes"),
])
def test_fragmentation_and_encapsulation_knobs(tmp_path, monkeypatch, path: str, pluto: str,  # type: ignore[no-untyped-def]
                                               charon: str) -> None:
    from lab.daemons.libreswan import probe

    monkeypatch.setattr(probe, "pluto_version", lambda flavor, tag: "5.2")
    s = cell(path, "libreswan", "strongswan")
    assert f"\t{pluto}\n" in _render(tmp_path, s, "left")["ipsec.conf"]
    assert charon in _render(tmp_path, s, "right")["swanctl.conf"]
    plain = cell("loss20", "libreswan", "strongswan")
    assert "\tfragmentation=" not in _render(tmp_path, plain, "left")["ipsec.conf"]
    assert "encap = " not in _render(tmp_path, plain, "right")["swanctl.conf"]


@pytest.mark.parametrize(("path", "side", "wanted", "unwanted"), [
    # behind the NAT: NAT-T on, a 4500 socket; the responder knows the initiator by the
    # router's address (remote, psk.txt, the tunnel's end in the SPD)
    ("nat", "left", ["nat_traversal on;", "isakmp_natt 192.0.2.1 [4500];"], ["ike_frag"]),
    ("nat", "right", ["nat_traversal on;", "remote 198.51.100.254"], []),
    ("encap", "left", ["nat_traversal force;", "isakmp_natt 192.0.2.1 [4500];"], []),
    ("mtu1280", "left", ["ike_frag force;"], ["nat_traversal"]),
    ("mtu1280nofrag", "right", ["ike_frag off;"], ["nat_traversal"]),
    ("drop1", "left", [], ["nat_traversal", "ike_frag", "isakmp_natt"]),
])
def test_racoon_renders_the_paths_knobs(tmp_path: Path, path: str, side: str,
                                        wanted: list[str], unwanted: list[str]) -> None:
    from lab.daemons.base import PeerContext
    from lab.daemons.racoon.driver import Racoon
    from lab.flavors import Flavor

    s = cell(path, "racoon", "racoon").with_(ike_version=1)
    why = Racoon.unsupported(s, side, Flavor("racoon"), "t")  # no longer "does not render"
    assert why is None or "PF_KEY" in why
    ctx = PeerContext(side, f"ipl-t-{side}", tmp_path / side, Flavor("racoon"), "t", tmp_path)
    files = Racoon(s, ctx).render()
    conf = files["racoon.conf"]
    for words in wanted:
        assert words in conf + files["psk.txt"] + files["setkey.conf"], words
    for words in unwanted:
        assert words not in conf, words
    if path == "nat" and side == "right":
        seen = s.address_seen("left", "right")
        assert files["psk.txt"].splitlines()[-1].startswith(f"{seen} ")
        assert f"-{seen}/require" in files["setkey.conf"] or f"/{seen}-" in files["setkey.conf"]


def _arrival_span(topology: Topology, n: int, size: int) -> float:
    """Send n datagrams of ``size`` bytes from left to right at once; seconds from the
    first to the last arrival."""
    s = topology.scenario
    rx = socket_in(topology.netns("right"), socket.AF_INET6, socket.SOCK_DGRAM)
    tx = socket_in(topology.netns("left"), socket.AF_INET6, socket.SOCK_DGRAM)
    with rx, tx:
        rx.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 1 << 23)
        rx.bind((s.right.address, 4243))
        for _ in range(n):
            tx.sendto(b"r" * size, (s.right.address, 4243))
        rx.settimeout(5.0)
        times = []
        for _ in range(n):
            rx.recv(size)
            times.append(time.monotonic())
    return times[-1] - times[0]


@pytest.mark.lab
def test_router_holds_the_rate(lab) -> None:
    # 30 kB: the 8000-byte burst at once, the rest at 32 kB/s (0.69 s); the token bucket's
    # queue holds a second's worth, so none is lost
    n, size = 30, 1000
    spans = {}
    for rate in (0, 256):
        topology = _topology(PathSpec(rate=rate))
        try:
            topology.up()
            spans[rate] = _arrival_span(topology, n, size)
        finally:
            topology.down()
    assert spans[256] >= 0.5 > 0.25 >= spans[0], spans


@pytest.mark.lab
@pytest.mark.parametrize("topology", ["routed", "net-to-net", "net-to-net-routed"])
def test_the_kernel_holds_what_the_layout_says(lab, topology: str) -> None:
    """lab.topology.rtnl writes links, addresses, routes, neighbours and the MTU;
    pyroute2's IPRoute reads them back."""
    from lab.topology.rtnl import Rtnl, RtnlError, iproute_in
    from lab.topology.table import address, network

    s = (cell("mtu1280") if topology == "routed" else MatrixCell(
        "libreswan@sid", "strongswan@sid", 2, "tunnel", "aes128-sha1", topology, "4in6").scenario())
    built = Topology(s, f"{os.getpid()}-k{int(time.monotonic() * 1000) % 100000}")
    try:
        built.up()
        for link in built.layout.links:
            for end, other in ((link.a, link.b), (link.b, link.a)):
                with iproute_in(built.netns(end.node)) as ipr:
                    dev = ipr.link_lookup(ifname=end.iface)
                    assert dev, f"{end.node}: no {end.iface}"
                    info = ipr.get_links(dev[0])[0]
                    assert info.get_attr("IFLA_OPERSTATE") in ("UP", "UNKNOWN", "LOWERLAYERDOWN") \
                        and info["flags"] & 1, f"{end.node} {end.iface} is not up"
                    if topology == "routed":
                        assert info.get_attr("IFLA_MTU") == 1280
                    mine = address(s, end.address, end.side)[0]
                    held = {a.get_attr("IFA_ADDRESS") for a in ipr.get_addr(index=dev[0])}
                    assert mine in held, (end, held)
                    theirs = address(s, other.address, other.side)[0]
                    neighbours = {n.get_attr("NDA_DST"): n["state"]
                                  for n in ipr.get_neighbours(ifindex=dev[0])}
                    assert neighbours.get(theirs) == 0x80, (end, neighbours)  # NUD_PERMANENT
        for route in built.layout.routes:
            net = network(s, *route.to)
            with iproute_in(built.netns(route.node)) as ipr:
                family = socket.AF_INET6 if net.version == 6 else socket.AF_INET
                found = [r for r in ipr.get_routes(family=family)
                         if r.get_attr("RTA_DST") == str(net.network_address)
                         and r["dst_len"] == net.prefixlen]
                assert found, f"{route.node}: no route to {net}"
                if route.via:
                    assert found[0].get_attr("RTA_GATEWAY") == address(s, *route.via)[0]
        refused = r"look up nope in ipl-.*: No such device"
        with Rtnl(built.netns("left")) as rtnl, pytest.raises(RtnlError, match=refused):
            rtnl.link("nope")
    finally:
        built.down()


def test_paths_go_to_each_named_topology_with_a_router() -> None:
    def ids(topologies: str | None) -> set[str]:
        selection = MatrixSelection.from_options("libreswan@sid,strongswan@sid", "2", "tunnel",
                                                 "aes128-sha1", topologies=topologies,
                                                 paths="nat,loss20")
        return {c.topology for c in selection.cells()}

    assert ids(None) == {"routed"}
    assert ids("host-to-host") == {"routed"}  # no router named: the routed one
    assert ids("net-to-net-routed,routed,net-to-net") == {"net-to-net-routed", "routed"}



# -- (f) and the lossy counts, each check alone with its exact words ---------------------------
def test_the_dropping_side_is_the_one_that_must_send_again() -> None:
    from dataclasses import replace

    from lab.wire import pathcheck

    s = cell("drop1")
    s = s.with_(path=replace(s.path, drop_from="responder"))
    initiator_only = {"left": retransmit.IkeCount(2, 1), "right": retransmit.IkeCount(2, 0)}
    assert pathcheck.check(s, [], initiator_only, _ping([])) == [
        "(f) the path dropped the first 1 IKE packet(s) of right, which sent only 0 again"]
    responder = {"left": retransmit.IkeCount(2, 0), "right": retransmit.IkeCount(2, 1)}
    assert pathcheck.check(s, [], responder, _ping([])) == []
    assert pathcheck.check(cell("drop1"), [], {}, _ping([])) == [
        "(f) the path dropped the first 1 IKE packet(s) of left, which sent only 0 again"]


def test_behind_a_nat_every_esp_packet_must_be_in_udp_on_4500() -> None:
    from lab.wire import pathcheck

    s = cell("nat")
    a, b = s.left.address, s.right.address
    plain = Packet(0.0, a, b, 50, spi=1, seq=1)
    in_udp = Packet(0.0, b, a, 17, spi=2, seq=1, sport=4500, dport=4500)
    assert pathcheck.check(s, [in_udp, plain], {}, _ping([])) == [
        "(f) behind the NAT, 1 of 2 ESP packets were not in UDP"]
    assert pathcheck.check(s, [], {}, _ping([])) == [
        "(f) behind the NAT, 0 of 0 ESP packets were not in UDP"]
    other_port = Packet(0.0, a, b, 17, spi=1, seq=1, sport=4501, dport=4501)
    assert pathcheck.check(s, [other_port, in_udp], {}, _ping([])) == [
        "(f) behind the NAT, ESP in UDP not on port 4500"]
    one_end = Packet(0.0, a, b, 17, spi=1, seq=1, sport=34500, dport=4500)
    assert pathcheck.check(s, [one_end], {}, _ping([])) == []


def test_forced_encapsulation_puts_esp_in_udp_without_a_nat() -> None:
    from lab.wire import pathcheck

    s = cell("loss20").with_(encapsulation="force")
    a, b = s.left.address, s.right.address
    assert pathcheck.check(s, [Packet(0.0, a, b, 50, spi=1, seq=1)], {}, _ping([])) == [
        "(f) with encapsulation forced, 1 of 1 ESP packets were not in UDP"]
    in_udp = Packet(0.0, a, b, 17, spi=1, seq=1, sport=4500, dport=4500)
    assert pathcheck.check(s, [in_udp], {}, _ping([])) == []
    assert pathcheck.check(cell("loss20"), [in_udp], {}, _ping([])) == [
        f"(f) without NAT or forced encapsulation, 1 ESP packets in UDP, first: {in_udp.line()}"]


def test_a_delay_is_judged_against_its_low_end() -> None:
    from dataclasses import replace

    from lab.wire import pathcheck

    s = cell("delay100")
    s = s.with_(path=replace(s.path, delay=100, jitter=20))  # at least 80 ms
    assert pathcheck.check(s, [], {}, _ping([0.002, 0.08])) == []
    assert pathcheck.check(s, [], {}, _ping([0.0799])) == [
        "(f) a path of 100 +- 20 ms delayed no echo that long: longest round trip 79.9 ms"]
    assert pathcheck.check(s, [], {}, _ping([0.09])) == []
    assert pathcheck.check(s, [], {}, _ping([])) == []
    exact = s.with_(path=replace(s.path, delay=100, jitter=0))
    assert pathcheck.check(exact, [], {}, _ping([0.09995])) != []


def test_ike_in_ip_fragments_fails_only_with_fragmentation_on() -> None:
    from dataclasses import replace

    from lab.wire import pathcheck

    s = cell("mtu1280fragdrop")
    s = s.with_(fragmentation="on", path=replace(s.path, drop_fragments=False))
    a, b = s.left.address, s.right.address
    piece = Packet(0.0, a, b, 17, sport=500, dport=500, frag=(7, 0))
    whole = Packet(0.0, a, b, 17, sport=500, dport=500)
    esp_piece = Packet(0.0, a, b, 50, spi=1, seq=1, frag=(8, 0))
    assert piece.kind == "ike" and esp_piece.kind == "esp"
    assert pathcheck.check(s, [piece, whole, esp_piece], {}, _ping([])) == [
        "(f) IKE fragmentation on, but 1 IKE packet(s) left in IP fragments"]
    assert pathcheck.check(s, [whole, esp_piece], {}, _ping([])) == []
    assert pathcheck.check(s.with_(fragmentation="off"), [piece], {}, _ping([])) == []
    no_mtu = s.with_(path=replace(s.path, mtu=0))
    assert pathcheck.check(no_mtu, [piece], {}, _ping([])) == []


def test_a_lossy_responder_sent_at_most_the_requests() -> None:
    from lab.wire.traffic import PingResult
    from lab.wire.verdict import _lossy_counts

    s = cell("loss20")
    a, b = s.left.address, s.right.address
    ping = PingResult(1, [1, 2, 3, 4], [1, 2, 4], [0.01] * 3, src=a, dst=b)
    assert _lossy_counts(s, {a: 4, b: 5}, ping) == [
        "(d) the responder sent 5 ESP packets, expected 3..4 (replies received ... requests sent)"]
    assert _lossy_counts(s, {a: 5, b: 4}, ping) == [
        "(d) the initiator sent 5 ESP packets, expected 4 (the echo requests sent)"]
    assert _lossy_counts(s.with_(initiator="right"), {a: 3, b: 4}, ping) == []


def test_a_lossy_cell_is_judged_by_the_lossy_counts() -> None:
    from lab.wire.traffic import PingResult
    from lab.wire.verdict import judge
    from lab.xfrm import SA

    s = cell("loss20")
    a, b = s.left.address, s.right.address
    sas = {side: [SA(a, b, 1, "esp", "tunnel", 1), SA(b, a, 2, "esp", "tunnel", 1)]
           for side in ("left", "right")}
    packets = [Packet(0.0, a, b, 50, spi=1, seq=i) for i in (1, 2, 3, 4)] + \
        [Packet(0.0, b, a, 50, spi=2, seq=i) for i in (1, 2)]
    ping = PingResult(1, [1, 2, 3, 4], [1, 2, 4], [0.01] * 3, src=a, dst=b)
    v = judge(s, packets, sas, ping)
    assert (v.problems, v.esp_packets, v.echo_packets) == ([
        "(d) the responder sent 2 ESP packets, expected 3..4 (replies received ... requests sent)"],
        6, 0)
    assert [d.seen for d in v.directions] == [{1: [1, 2, 3, 4]}, {2: [1, 2]}]


def test_a_run_of_paths_leaves_the_default_networks_out() -> None:
    """--lab-paths alone is a study of the path between two peers: the road-warrior and hub
    grids (the hub takes no path: a usage error before) come only where named."""
    assert MatrixSelection.from_options(None, None, None, None, None).networks == ("road-warrior", "hub")
    assert MatrixSelection.from_options(None, None, None, None, None, paths="nat").networks == ()
    assert MatrixSelection.from_options(None, None, None, None, None, paths="nat",
                                        topologies="road-warrior").networks == ("road-warrior",)
