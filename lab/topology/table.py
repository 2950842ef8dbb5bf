"""Topologies as data: which namespaces exist, how veth links join them, which
addresses and routes they get, where the ping runs and where the capture listens.

Nothing here touches the kernel (lab.topology.build builds a layout). Addresses are
*rules* resolved against the scenario for one side:

- ``outer``:   the side's own address (the IKE peer's, on the link between the peers);
- ``gateway``: the first address of the side's subnet (the gateway's LAN interface);
- ``host``:    the second address of the side's subnet (the host behind the gateway);
- ``router``:  the 254th address of the side's outer network (a router between the peers).

A new topology is a new `Layout` in `TOPOLOGIES`, not new plumbing.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lab.scenario import Scenario

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

#: address rule -> offset from the network address
OFFSETS = {"gateway": 1, "host": 2, "router": 254}
#: node -> suffix of its namespace name (ipl-<ident>-<suffix>)
NODE_SUFFIX = {"left": "l", "right": "r", "left-host": "lh", "right-host": "rh", "router": "m"}


@dataclass(frozen=True)
class End:
    """One end of a veth link: a node, its interface, and the address rule for it."""

    node: str
    iface: str
    address: str  # rule: outer, gateway, host, router
    side: str  # whose networks the rule reads


@dataclass(frozen=True)
class Link:
    a: End
    b: End


@dataclass(frozen=True)
class Route:
    """On ``node``: the side's ``outer`` network or ``subnet`` via ``iface``, through the
    ``via`` address rule (of the same side as ``to``'s gateway) or on the link when None."""

    node: str
    iface: str
    to: tuple[str, str]  # ("outer" | "subnet", side)
    via: tuple[str, str] | None = None  # (address rule, side)


@dataclass(frozen=True)
class Layout:
    name: str
    summary: str
    nodes: tuple[str, ...]
    links: tuple[Link, ...]
    routes: tuple[Route, ...]
    #: side -> (node, address rule): where the ping starts / is answered for that side
    traffic: dict[str, tuple[str, str]]
    #: (node, iface) pairs whose *sent* frames make the capture (each packet once)
    capture: tuple[tuple[str, str], ...]
    #: nodes that forward IPv4 and IPv6
    forwarding: tuple[str, ...] = ()
    #: the sides that protect a subnet behind them (tunnel mode, subnet traffic selectors)
    subnet_sides: tuple[str, ...] = ()

    @property
    def subnets(self) -> bool:
        """Both peers protect a subnet (net-to-net)."""
        return len(self.subnet_sides) == 2

    @property
    def has_router(self) -> bool:
        """A router between the peers (where a path's conditions go)."""
        return "router" in self.nodes


def _mirror(route: Route) -> Route:
    swap = {"left": "right", "right": "left", "left-host": "right-host", "right-host": "left-host"}
    return Route(swap.get(route.node, route.node), route.iface, (route.to[0], swap[route.to[1]]),
                 (route.via[0], swap[route.via[1]]) if route.via else None)


def _both(*routes: Route) -> tuple[Route, ...]:
    return tuple(r for route in routes for r in (route, _mirror(route)))


TOPOLOGIES: dict[str, Layout] = {t.name: t for t in (
    Layout("host-to-host", "the two peers on one link, traffic between their own addresses",
           nodes=("left", "right"),
           links=(Link(End("left", "e0", "outer", "left"), End("right", "e0", "outer", "right")),),
           routes=_both(Route("left", "e0", ("outer", "right"))),
           traffic={"left": ("left", "outer"), "right": ("right", "outer")},
           capture=(("left", "e0"), ("right", "e0"))),
    Layout("net-to-net", "two gateways on one link, each with a host behind it on its own "
           "subnet; tunnel mode, traffic from host to host",
           nodes=("left", "right", "left-host", "right-host"),
           links=(Link(End("left", "e0", "outer", "left"), End("right", "e0", "outer", "right")),
                  Link(End("left", "e1", "gateway", "left"),
                       End("left-host", "e0", "host", "left")),
                  Link(End("right", "e1", "gateway", "right"),
                       End("right-host", "e0", "host", "right"))),
           routes=_both(Route("left", "e0", ("outer", "right")),
                        Route("left", "e0", ("subnet", "right")),
                        Route("left-host", "e0", ("subnet", "right"), ("gateway", "left"))),
           traffic={"left": ("left-host", "host"), "right": ("right-host", "host")},
           capture=(("left", "e0"), ("right", "e0")),
           forwarding=("left", "right"), subnet_sides=("left", "right")),
    Layout("routed", "the two peers on two links joined by a router (for impairments and NAT)",
           nodes=("left", "router", "right"),
           links=(Link(End("left", "e0", "outer", "left"), End("router", "e0", "router", "left")),
                  Link(End("router", "e1", "router", "right"),
                       End("right", "e0", "outer", "right"))),
           routes=_both(Route("left", "e0", ("outer", "right"), ("router", "left"))),
           traffic={"left": ("left", "outer"), "right": ("right", "outer")},
           capture=(("left", "e0"), ("right", "e0")),
           forwarding=("router",)),
    Layout("net-to-net-routed", "net-to-net with a router between the gateways (for "
           "impairments and NAT); tunnel mode, traffic from host to host",
           nodes=("left", "router", "right", "left-host", "right-host"),
           links=(Link(End("left", "e0", "outer", "left"), End("router", "e0", "router", "left")),
                  Link(End("router", "e1", "router", "right"),
                       End("right", "e0", "outer", "right")),
                  Link(End("left", "e1", "gateway", "left"),
                       End("left-host", "e0", "host", "left")),
                  Link(End("right", "e1", "gateway", "right"),
                       End("right-host", "e0", "host", "right"))),
           # the far subnet on the outer link, as in net-to-net: the kernel needs a route
           # for the inner destination before the SA's tunnel takes it to the far gateway
           # (through the router), and the inner family may not be the router's
           routes=_both(Route("left", "e0", ("outer", "right"), ("router", "left")),
                        Route("left", "e0", ("subnet", "right")),
                        Route("left-host", "e0", ("subnet", "right"), ("gateway", "left"))),
           traffic={"left": ("left-host", "host"), "right": ("right-host", "host")},
           capture=(("left", "e0"), ("right", "e0")),
           forwarding=("left", "right", "router"), subnet_sides=("left", "right")),
    Layout("host-to-net", "a host (left) and a gateway (right) on one link, a host behind the "
           "gateway on its subnet; tunnel mode, traffic from the left peer to that host",
           nodes=("left", "right", "right-host"),
           links=(Link(End("left", "e0", "outer", "left"), End("right", "e0", "outer", "right")),
                  Link(End("right", "e1", "gateway", "right"),
                       End("right-host", "e0", "host", "right"))),
           routes=(*_both(Route("left", "e0", ("outer", "right"))),
                   Route("left", "e0", ("subnet", "right")),
                   Route("right-host", "e0", ("outer", "left"), ("gateway", "right"))),
           traffic={"left": ("left", "outer"), "right": ("right-host", "host")},
           capture=(("left", "e0"), ("right", "e0")),
           forwarding=("right",), subnet_sides=("right",)),
)}


# -- address plans: the matrix's and the examples' addresses per family ------------------
@dataclass(frozen=True)
class Plan:
    """Outer addresses (with prefix lengths) and subnets for left and right."""

    outer: tuple[tuple[str, int], tuple[str, int]]
    subnets: tuple[str, str]

    @property
    def mixed(self) -> bool:
        """The subnets' family is not the outer addresses'."""
        return (ipaddress.ip_address(self.outer[0][0]).version
                != ipaddress.ip_network(self.subnets[0]).version)


OUTER6 = (("2001:db8:1:1::1", 64), ("2001:db8:2:2::2", 64))  # the source text's
OUTER4 = (("192.0.2.1", 24), ("198.51.100.2", 24))
SUBNETS6 = ("2001:db8:11::/64", "2001:db8:22::/64")
SUBNETS4 = ("10.1.0.0/24", "10.2.0.0/24")
#: family name -> plan: ipv6 and ipv4 throughout, IPv4 inside IPv6 ESP and the reverse
FAMILIES: dict[str, Plan] = {
    "ipv6": Plan(OUTER6, SUBNETS6),
    "ipv4": Plan(OUTER4, SUBNETS4),
    "4in6": Plan(OUTER6, SUBNETS4),
    "6in4": Plan(OUTER4, SUBNETS6),
}


def family_name(outer: int, inner: int) -> str:
    return f"ipv{outer}" if outer == inner else f"{inner}in{outer}"


# -- resolving rules against a scenario ------------------------------------------------
def outer_network(s: Scenario, side: str) -> Network:
    peer = s.peer(side)
    return ipaddress.ip_network(f"{peer.address}/{peer.prefixlen}", strict=False)


def subnet(s: Scenario, side: str) -> Network:
    net = s.peer(side).subnet
    if net is None:
        raise ValueError(f"{side} has no subnet (topology {s.topology})")
    return ipaddress.ip_network(net)


def address(s: Scenario, rule: str, side: str) -> tuple[str, int]:
    """The address (and prefix length) a rule gives on ``side``."""
    if rule == "outer":
        return s.peer(side).address, s.peer(side).prefixlen
    net = subnet(s, side) if rule in ("gateway", "host") else outer_network(s, side)
    return str(net.network_address + OFFSETS[rule]), net.prefixlen


def network(s: Scenario, what: str, side: str) -> Network:
    return subnet(s, side) if what == "subnet" else outer_network(s, side)


def endpoint(s: Scenario, side: str) -> tuple[str, str]:
    """(node, address) where ``side``'s traffic starts or is answered."""
    node, rule = TOPOLOGIES[s.topology].traffic[side]
    return node, address(s, rule, side)[0]
