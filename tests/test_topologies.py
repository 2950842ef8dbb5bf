"""Topologies and address families: the layouts as data, the scenario's one-line
errors, each daemon's rendering per topology and family, ICMP echo, the verdict on
the hosts' clear text, and decryption of IPv4 and mixed-family ESP."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from scapy.layers.inet import ICMP, IP
from scapy.layers.inet6 import ICMPv6EchoReply, ICMPv6EchoRequest, IPv6
from scapy.layers.ipsec import ESP, SecurityAssociation
from scapy.layers.l2 import Ether

from lab.daemons.base import PeerContext
from lab.daemons.libreswan import probe
from lab.daemons.libreswan.driver import Libreswan
from lab.daemons.racoon.driver import Racoon
from lab.daemons.strongswan.driver import StrongSwan
from lab.errors import ScenarioError, VerdictError
from lab.flavors import Flavor
from lab.matrix import MatrixCell
from lab.scenario import load_scenario
from lab.topology.table import FAMILIES, TOPOLOGIES, address, endpoint
from lab.wire.decrypt import decrypt, esp_sa_file
from lab.wire.packets import parse, parse_all
from lab.wire.traffic import PingResult, checksum, echo_request
from lab.wire.verdict import judge
from lab.xfrm import SA

FILES = Path(__file__).parents[1] / "scenarios" / "files"
NET = (FILES / "net-to-net.toml").read_text()


def n2n(family: str, initiator: str = "libreswan", responder: str = "strongswan",
        topology: str = "net-to-net", mode: str = "tunnel"):  # type: ignore[no-untyped-def]
    return MatrixCell(initiator, responder, 2 if "racoon" not in (initiator, responder) else 1,
                      mode, "aes128-sha1", topology, family).scenario()


@pytest.fixture(autouse=True)
def _version(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(probe, "pluto_version", lambda flavor, tag: "4.10")


def render(tmp_path: Path, scenario, side: str = "left") -> dict[str, str]:  # type: ignore[no-untyped-def]
    impl = scenario.peer(side).flavor
    cls, flavor = {"libreswan": (Libreswan, Flavor("libreswan")),
                   "strongswan": (StrongSwan, Flavor("strongswan", "bookworm", tmp_path / "x")),
                   "racoon": (Racoon, Flavor("racoon"))}[impl]
    ctx = PeerContext(side, f"ipl-x-{side[0]}", tmp_path / side, flavor, "t", tmp_path)
    return cls(scenario, ctx).render()


# -- the layouts ----------------------------------------------------------------------
def test_net_to_net_addresses_routes_and_endpoints() -> None:
    s = n2n("4in6")
    assert address(s, "outer", "left") == ("2001:db8:1:1::1", 64)
    assert address(s, "gateway", "right") == ("10.2.0.1", 24)
    assert endpoint(s, "left") == ("left-host", "10.1.0.2")
    assert endpoint(s, "right") == ("right-host", "10.2.0.2")
    layout = TOPOLOGIES["net-to-net"]
    hosts = {(r.node, r.to, r.via) for r in layout.routes if r.node.endswith("host")}
    assert hosts == {("left-host", ("subnet", "right"), ("gateway", "left")),
                     ("right-host", ("subnet", "left"), ("gateway", "right"))}
    assert layout.capture == (("left", "e0"), ("right", "e0"))  # the gateways' link


def test_every_layout_is_consistent() -> None:
    for layout in TOPOLOGIES.values():
        ends = [e for link in layout.links for e in (link.a, link.b)]
        assert {e.node for e in ends} == set(layout.nodes), layout.name
        assert len({(e.node, e.iface) for e in ends}) == len(ends), layout.name
        for node, iface in layout.capture:
            assert (node, iface) in {(e.node, e.iface) for e in ends}, layout.name
        assert {"left", "right"} <= set(layout.nodes)  # the peers run the daemons


def test_routed_gets_a_router_on_each_network() -> None:
    s = n2n("ipv4", topology="routed", mode="transport")
    assert address(s, "router", "left") == ("192.0.2.254", 24)
    assert address(s, "router", "right") == ("198.51.100.254", 24)
    assert endpoint(s, "right") == ("right", "198.51.100.2")


@pytest.mark.parametrize("family", list(FAMILIES))
def test_family_of_each_plan(family: str) -> None:
    assert n2n(family).family == family


# -- one-line errors ------------------------------------------------------------------
@pytest.mark.parametrize(("old", "new", "words", "allowed"), [
    ('subnet = "2001:db8:11::/64"', 'subnet = "2001:db8:11::1/64"',
     "left.subnet: '2001:db8:11::1/64' is not a network", "allowed: e.g. '10.1.0.0/24'"),
    ('subnet = "2001:db8:11::/64"', 'subnet = "10.1.0.0/31"', "left.subnet: '10.1.0.0/31' is too"
     " small", "allowed: /30 or larger"),
    ('subnet = "2001:db8:11::/64"', 'subnet = "10.1.0.0/24"',
     "right.subnet: '2001:db8:22::/64' is IPv6 but left.subnet is IPv4", "allowed: the same"),
    ('subnet = "2001:db8:11::/64"', 'subnet = "2001:db8:22::/48"',
     "right.subnet: '2001:db8:22::/64' overlaps left.subnet", "allowed: separate networks"),
    ('subnet = "2001:db8:11::/64"', 'subnet = "2001:db8:1::/48"',
     "left.address: '2001:db8:1:1::1' is inside left.subnet", "allowed: an address outside"),
    ('mode = "tunnel"', 'mode = "transport"', "mode: 'transport' is not allowed in topology"
     " net-to-net", "allowed: tunnel"),
    ('topology = "net-to-net"', 'topology = "net2net"', "topology: 'net2net' is not allowed",
     "allowed: host-to-host, net-to-net, routed"),
    ('topology = "net-to-net"', 'topology = "host-to-host"', "left.subnet: '2001:db8:11::/64' is"
     " not allowed in topology host-to-host", "allowed: no subnet"),
    ('address = "2001:db8:2:2::2"', 'address = "198.51.100.2"',
     "right.address: '198.51.100.2' is IPv4 but left.address is IPv6", "allowed: the same"),
    ('address = "2001:db8:2:2::2"', 'address = "2001:db8:2:2::2"\nprefixlen = 33\n'
     'address = "x"', "not valid TOML", ""),
])
def test_bad_field_is_one_line(tmp_path: Path, old: str, new: str, words: str,
                               allowed: str) -> None:
    assert NET.count(old) == 1
    path = tmp_path / "bad.toml"
    path.write_text(NET.replace(old, new))
    with pytest.raises(ScenarioError) as exc:
        load_scenario(path)
    message = str(exc.value)
    assert "\n" not in message and message.startswith(f"{path}: "), message
    assert words in message and allowed in message, message


def test_ipv4_prefix_length_is_checked_for_ipv4(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text((FILES / "ipv4-host-to-host.toml").read_text().replace(
        "prefixlen = 24", "prefixlen = 33", 1))
    with pytest.raises(ScenarioError, match=r"left.prefixlen: 33 is not allowed \(allowed: 1..32"
                                            r" for IPv4\)"):
        load_scenario(path)


def test_routed_needs_two_networks() -> None:
    with pytest.raises(ScenarioError, match="is on left's network"):
        n2n("ipv6", topology="routed", mode="tunnel").with_(
            right=n2n("ipv6").right.__class__("2001:db8:1:1::2", "strongswan"))


@pytest.mark.parametrize("name", ["net-to-net", "ipv4-host-to-host", "4in6", "6in4"])
def test_example_files_load(name: str) -> None:
    s = load_scenario(FILES / f"{name}.toml")
    assert s.family == {"net-to-net": "ipv6", "ipv4-host-to-host": "ipv4"}.get(name, name)


# -- rendering per daemon, topology and family -----------------------------------------
@pytest.mark.parametrize("family", ["ipv6", "ipv4", "4in6", "6in4"])
def test_libreswan_net_to_net(tmp_path: Path, family: str) -> None:
    s = n2n(family)
    conf = render(tmp_path, s, "left")["ipsec.conf"]
    assert f"\tleft={s.left.address}\n\tright={s.right.address}\n" in conf
    assert f"\tleftsubnet={s.left.subnet}\n\trightsubnet={s.right.subnet}\n" in conf
    assert "\ttype=tunnel\n" in conf


def test_libreswan_right_side_sees_itself_as_left(tmp_path: Path) -> None:
    s = n2n("6in4", "strongswan", "libreswan")
    conf = render(tmp_path, s, "right")["ipsec.conf"]
    assert "\tleftsubnet=2001:db8:22::/64\n\trightsubnet=2001:db8:11::/64\n" in conf


def test_libreswan_host_to_host_has_no_subnets(tmp_path: Path) -> None:
    conf = render(tmp_path, n2n("ipv4", topology="host-to-host", mode="transport"))["ipsec.conf"]
    assert "subnet" not in conf and "\tleft=192.0.2.1\n" in conf


@pytest.mark.parametrize("family", ["ipv6", "ipv4", "4in6", "6in4"])
def test_strongswan_net_to_net(tmp_path: Path, family: str) -> None:
    s = n2n(family, "strongswan", "libreswan")
    conf = render(tmp_path, s, "left")["swanctl.conf"]
    assert f"local_addrs = {s.left.address}" in conf and f"remote_addrs = {s.right.address}" in conf
    assert f"local_ts = {s.left.subnet}" in conf and f"remote_ts = {s.right.subnet}" in conf


def test_strongswan_host_to_host_has_no_ts(tmp_path: Path) -> None:
    s = n2n("ipv4", "strongswan", "libreswan", topology="host-to-host", mode="tunnel")
    assert "_ts" not in render(tmp_path, s)["swanctl.conf"]


def _statements(text: str) -> list[str]:
    return [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]


@pytest.mark.parametrize("family", ["ipv6", "ipv4", "4in6", "6in4"])
def test_racoon_net_to_net(tmp_path: Path, family: str) -> None:
    s = n2n(family, "racoon", "racoon")
    for side, me, other in (("left", s.left, s.right), ("right", s.right, s.left)):
        files = render(tmp_path / side, s, side)
        conf = files["racoon.conf"]
        assert f"sainfo address {me.subnet} any address {other.subnet} any" in conf
        assert f"sainfo address {other.subnet} any address {me.subnet} any" in conf
        assert f"remote {other.address}\n" in conf and f"isakmp {me.address} [500];" in conf
        spd = _statements(files["setkey.conf"])
        out = (f"spdadd {me.subnet} {other.subnet} any -P out ipsec"
               f" esp/tunnel/{me.address}-{other.address}/require;")
        inb = (f"spdadd {other.subnet} {me.subnet} any -P in ipsec"
               f" esp/tunnel/{other.address}-{me.address}/require;")
        assert out in spd and inb in spd
        assert not any("-P fwd" in ln for ln in spd)  # setkey adds fwd for each in itself
        assert any("icmp6" in ln for ln in spd) == (s.inner_family == 6)


def test_racoon_ipv4_host_to_host(tmp_path: Path) -> None:
    s = n2n("ipv4", "racoon", "racoon", topology="host-to-host", mode="transport")
    spd = _statements(render(tmp_path, s)["setkey.conf"])
    assert spd[2:] == ["spdadd 192.0.2.1 198.51.100.2 any -P out ipsec esp/transport//require;",
                       "spdadd 198.51.100.2 192.0.2.1 any -P in ipsec esp/transport//require;"]


# -- ICMP echo ------------------------------------------------------------------------
def test_icmp_echo_request_has_a_valid_checksum() -> None:
    packet = echo_request(4, 0x1234, 7, b"abc")
    assert packet[0] == 8 and checksum(packet) == 0
    assert bytes(ICMP(type=8, id=0x1234, seq=7) / b"abc") == packet  # scapy agrees
    assert echo_request(6, 1, 1, b"")[:2] == b"\x80\x00"  # the kernel sums ICMPv6


# -- the verdict: the hosts' traffic may not cross in clear -------------------------
def _frame(src: str, dst: str, proto: int, body: bytes) -> bytes:
    ip = IP(src=src, dst=dst, proto=proto) / body
    return b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00" + bytes(ip)


def test_hosts_cleartext_on_the_gateways_link_fails() -> None:
    s = n2n("ipv4")
    left, right = s.left.address, s.right.address
    sas = {side: [SA(left, right, 0x11, "esp", "tunnel", 1), SA(right, left, 0x22, "esp", "tunnel", 1)]
           for side in ("left", "right")}
    frames = [(float(i), _frame(a, b, 50, struct.pack("!II", spi, i) + bytes(32)))
              for i in (1, 2) for a, b, spi in ((left, right, 0x11), (right, left, 0x22))]
    ping = PingResult(1, [1, 2], [1, 2], family=4)
    judge(s, parse_all(frames), sas, ping).check()  # the good capture passes
    leak = (3.0, _frame("10.1.0.2", "10.2.0.2", 1, bytes(ICMP(type=8, id=1, seq=3))))
    with pytest.raises(VerdictError, match=r"\(a\) 1 packet\(s\) between the peers or the hosts"
                                           r" behind them in clear text, first: 10.1.0.2 > 10.2.0.2"):
        judge(s, parse_all([*frames, leak]), sas, ping).check()


# -- decryption of IPv4 and mixed families -------------------------------------------
KEY, AKEY = "00112233445566778899aabbccddeeff", "0123456789abcdef0123456789abcdef01234567"


def _tunnel_capture(family: str, reply_src: str | None = None):  # type: ignore[no-untyped-def]
    s = n2n(family)
    gl, gr = s.left.address, s.right.address
    hl, hr = endpoint(s, "left")[1], endpoint(s, "right")[1]
    sas = [SA(gl, gr, 0x1001, "esp", "tunnel", 1, enc=("cbc(aes)", KEY), auth=("hmac(sha1)", AKEY, 96)),
           SA(gr, gl, 0x2002, "esp", "tunnel", 1, enc=("cbc(aes)", KEY[::-1]),
              auth=("hmac(sha1)", AKEY[::-1], 96))]
    outer = IP if s.outer_family == 4 else IPv6
    inner = IP if s.inner_family == 4 else IPv6
    req = (lambda q: ICMP(type=8, id=7, seq=q)) if s.inner_family == 4 else \
        (lambda q: ICMPv6EchoRequest(id=7, seq=q))
    rep = (lambda q: ICMP(type=0, id=7, seq=q)) if s.inner_family == 4 else \
        (lambda q: ICMPv6EchoReply(id=7, seq=q))
    frames = []
    for seq in (1, 2):
        for sa, src, dst, icmp in ((sas[0], hl, hr, req(seq)), (sas[1], reply_src or hr, hl, rep(seq))):
            engine = SecurityAssociation(ESP, spi=sa.spi, crypt_algo="AES-CBC",
                                         crypt_key=bytes.fromhex(sa.enc[1]),  # type: ignore[index]
                                         auth_algo="HMAC-SHA1-96",
                                         auth_key=bytes.fromhex(sa.auth[1]),  # type: ignore[index]
                                         tunnel_header=outer(src=sa.src, dst=sa.dst))
            eth = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
            frames.append(bytes(eth / engine.encrypt(inner(src=src, dst=dst) / icmp, seq_num=seq)))
    ping = PingResult(7, [1, 2], [1, 2], family=s.inner_family, src=hl, dst=hr)
    return [parse(float(i), f) for i, f in enumerate(frames)], sas, ping


@pytest.mark.parametrize("family", ["ipv6", "ipv4", "4in6", "6in4"])
def test_decrypts_tunnel_mode_of_each_family(family: str) -> None:
    packets, sas, ping = _tunnel_capture(family)
    result = decrypt(packets, sas, ping)
    assert result.problems == [] and sum(len(v) for v in result.inner.values()) == 4


def test_inner_addresses_must_be_the_hosts() -> None:
    packets, sas, ping = _tunnel_capture("4in6", reply_src="10.2.0.1")  # the gateway answered
    problems = decrypt(packets, sas, ping).problems
    assert any("inner packet 10.2.0.1 > 10.1.0.2" in p and "expected 10.2.0.2 > 10.1.0.2" in p
               for p in problems), problems


def test_esp_sa_file_names_ipv4() -> None:
    _, sas, _ = _tunnel_capture("ipv4")
    assert '"IPv4","192.0.2.1","198.51.100.2","0x00001001"' in esp_sa_file(sas)


@pytest.mark.parametrize(("family", "inet"), [("ipv6", "inet6"), ("4in6", "inet6"),
                                              ("ipv4", "inet"), ("6in4", "inet")])
def test_racoonctl_names_the_outer_family(tmp_path: Path, family: str, inet: str) -> None:
    ctx = PeerContext("left", "ipl-x-l", tmp_path, Flavor("racoon"), "t", tmp_path)
    assert Racoon(n2n(family, "racoon", "racoon"), ctx)._inet == inet


@pytest.mark.parametrize(("topology", "subnets"), [
    ("net-to-net-routed", ("10.1.0.0/24", "10.2.0.0/24")),
    ("routed", ("192.0.2.1/32", "198.51.100.2/32")),  # host to host: /32 each behind NAT
])
def test_libreswan_behind_a_nat_keeps_the_subnets(tmp_path: Path, topology: str,
                                                  subnets: tuple[str, str]) -> None:
    s = MatrixCell("libreswan", "strongswan", 2, "tunnel", "aes128-sha1", topology, "ipv4", "psk",
                   "nat").scenario()
    conf = render(tmp_path, s)["ipsec.conf"]
    assert f"leftsubnet={subnets[0]}" in conf and f"rightsubnet={subnets[1]}" in conf, conf
