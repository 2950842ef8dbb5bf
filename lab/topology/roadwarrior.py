"""Topology road-warrior, built in-process: a gateway with a subnet and a host behind it,
clients each on a network of its own, one router joining the gateway's and the clients'
networks (the router is at the 254th address of each).

    client1 e0 --- eN router e0 --- e0 gw e1 --- e0 host
    client2 e0 --- eM router

Namespaces are ``ipl-<id>-<node>`` (the node's name; ``router``, ``host``). The capture
listens per client link (what the client and the router send on it), so each client's
packets are apart from the others'; and on the gateway's link.

Only plain node records come in (`Site`), never a scenario: topology/ imports nothing above it.
"""

from __future__ import annotations

import ipaddress
import time
from dataclasses import dataclass

from lab import run as runner
from lab.kernel import modules
from lab.topology.links import IFA_F_NODAD, Namespaces, Port, exists_ok, neighbours, route, veth
from lab.topology.netns import NetNS
from lab.topology.rtnl import Rtnl, RtnlError, await_carrier

#: the gateway's link to the router, and its LAN
GW_WAN, GW_LAN = "e0", "e1"


@dataclass(frozen=True)
class Site:
    """A node on a network of its own: its name, address and prefix length, the router's
    address on that network."""

    name: str
    address: str
    plen: int
    router: str


@dataclass(frozen=True)
class Lan:
    """The gateway's subnet: the gateway's address on it and the host's."""

    gateway: str
    host: str
    plen: int


#: kernel modules of the router's NAT (tc's clsact qdisc, a matchall filter, act_nat)
NAT_MODULES = ("sch_ingress", "cls_matchall", "act_nat")
#: how long a new IPv6 virtual IP may take to be routed to its node (the local table)
LOCAL_ROUTE_S = 2.0


def nat_batch(inside: str, public: str) -> str:
    """tc batch lines for the router's link to the gateway: ``inside`` leaves as ``public``
    and what comes back to ``public`` goes on to ``inside`` (act_nat, one to one)."""
    return ("qdisc add dev e0 clsact\n"
            f"filter add dev e0 egress prio 2 protocol ip matchall action nat egress"
            f" {inside}/32 {public}\n"
            f"filter add dev e0 ingress prio 2 protocol ip matchall action nat ingress"
            f" {public}/32 {inside}\n")


class RoadWarrior(Namespaces):
    """Namespaces, links, addresses, routes and neighbours of one road-warrior lab."""

    def __init__(self, ident: str, gateway: Site, clients: tuple[Site, ...], lan: Lan,
                 nat: tuple[str, str] | None = None, tag: str = "ipsec-lab") -> None:
        self.gateway, self.clients, self.lan = gateway, clients, lan
        #: (a client's address, the router's on the gateway's network): the NAT, if any
        self.nat, self.tag = nat, tag
        names = [gateway.name, *(c.name for c in clients), "router", "host"]
        self.ns = {name: NetNS(f"ipl-{ident}-{name}") for name in names}

    def router_iface(self, client: str) -> str:
        """The router's interface toward a client's network (e1, e2, ...)."""
        return f"e{1 + [c.name for c in self.clients].index(client)}"

    def capture_points(self, client: str) -> list[tuple[str, str]]:
        """Where what crosses one client's link is sent: the client, the router toward it."""
        return [(self.netns(client), "e0"), (self.netns("router"), self.router_iface(client))]

    def gateway_points(self) -> list[tuple[str, str]]:
        return [(self.netns(self.gateway.name), GW_WAN), (self.netns("router"), "e0")]

    def up(self) -> None:
        self._build()
        # a veth drops what is sent until the kernel's link watch has seen its carrier
        await_carrier(self.netns(node) for node in self.ns)

    def _build(self) -> None:
        self.create(("router", self.gateway.name))
        gw = self.gateway
        self._link(gw.name, GW_WAN, gw.address, "router", "e0", gw.router, gw.plen)
        self._link(gw.name, GW_LAN, self.lan.gateway, "host", "e0", self.lan.host, self.lan.plen)
        self._default(gw.name, GW_WAN, gw.router)
        self._default("host", "e0", self.lan.gateway)
        for client in self.clients:
            self._link(client.name, "e0", client.address, "router",
                       self.router_iface(client.name), client.router, client.plen)
            self._default(client.name, "e0", client.router)
        self._inner_defaults()
        if self.nat:
            modules.ensure(NAT_MODULES)
            runner.run(["tc", "-batch", "-"], tag=self.tag, netns=self.netns("router"),
                       input=nat_batch(*self.nat))

    def _link(self, a: str, a_if: str, a_addr: str, b: str, b_if: str, b_addr: str,
              plen: int) -> None:
        """A veth pair, both ends addressed and up, each the other's permanent neighbour
        (the first IKE packet must not wait on neighbour discovery)."""
        ends = (Port(self.netns(a), a_if, a_addr, plen), Port(self.netns(b), b_if, b_addr, plen))
        neighbours(*ends, veth(*ends))

    def _default(self, node: str, iface: str, via: str) -> None:
        """The default route of ``via``'s family (the other family inside it has its own:
        _inner_defaults)."""
        any_address = "0.0.0.0" if ipaddress.ip_address(via).version == 4 else "::"
        route(self.netns(node), any_address, 0, iface, via)

    def _inner_defaults(self) -> None:
        """Where the subnet's family is not the outer addresses' (IPv6 inside IPv4, or the
        other way round), the gateway and each client route that family on the link: the
        policy's ESP carries it (the router never sees it in clear), and the route only
        has to exist for the kernel to reach the policy lookup."""
        inner = "::" if ipaddress.ip_address(self.lan.gateway).version == 6 else "0.0.0.0"
        if ipaddress.ip_address(self.gateway.address).version == \
                ipaddress.ip_address(inner).version:
            return
        route(self.netns(self.gateway.name), inner, 0, GW_WAN, None)
        for client in self.clients:
            route(self.netns(client.name), inner, 0, "e0", None)

    def add_address(self, node: str, address: str) -> None:
        """A virtual IP on the node's loopback (the lab's part of installing it: the
        daemons' own updown scripts are off)."""
        plen = 32 if ipaddress.ip_address(address).version == 4 else 128
        with Rtnl(self.netns(node)) as rtnl, exists_ok():
            rtnl.add_address(rtnl.link("lo")[0], address, plen, IFA_F_NODAD)
        if plen == 128:
            self._await_local(node, address)

    def _await_local(self, node: str, address: str) -> None:
        """Return once the kernel's local table routes an IPv6 address to the node itself
        (Rtnl.is_local). Measured with virtual IPv6 addresses over IPv4: without a wait 2 of
        11 runs lost the first echo reply to the new address."""
        deadline = time.monotonic() + LOCAL_ROUTE_S
        with Rtnl(self.netns(node)) as rtnl:
            while not rtnl.is_local(address):
                if time.monotonic() > deadline:
                    raise RtnlError(0, f"{node}: no local route to its address {address} after"
                                       f" {LOCAL_ROUTE_S:g} s")
                time.sleep(0.001)
