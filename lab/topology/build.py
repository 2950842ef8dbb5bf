"""Build a layout (lab.topology.table) in the kernel: one namespace per node, veth links,
addresses, routes, forwarding and permanent neighbours, all in-process over netlink."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from lab.run import TAG_VAR
from lab.topology import impair
from lab.topology.links import Namespaces, Port, neighbours, route, veth
from lab.topology.netns import NetNS
from lab.topology.rtnl import await_carrier
from lab.topology.spec import Plan
from lab.topology.table import NODE_SUFFIX, TOPOLOGIES, End, Layout, Route, address, network

#: the interface of a peer on the link between the peers (where the capture is)
IFACE = "e0"


@dataclass
class Topology(Namespaces):
    """The scenario's layout: namespaces ``ipl-<id>-<suffix>``, one per node (the peers
    are the nodes ``left`` and ``right``)."""

    scenario: Plan  # a Scenario (lab.topology.spec: what is read of it)
    ident: str
    tag: str = field(default_factory=lambda: os.environ.get(TAG_VAR, "ipsec-lab"))

    def __post_init__(self) -> None:
        self.layout: Layout = TOPOLOGIES[self.scenario.topology]
        self.ns = {node: NetNS(f"ipl-{self.ident}-{NODE_SUFFIX[node]}")
                   for node in self.layout.nodes}

    def traffic_end(self, side: str) -> tuple[str, str]:
        """(namespace, address) where ``side``'s traffic starts or is answered."""
        node, rule = self.layout.traffic[side]
        return self.netns(node), address(self.scenario, rule, side)[0]

    def capture_points(self) -> list[tuple[str, str]]:
        return [(self.netns(node), iface) for node, iface in self.layout.capture]

    def up(self) -> None:
        self.create(self.layout.forwarding)
        macs: dict[Port, str] = {}
        for link in self.layout.links:
            macs |= veth(self._port(link.a), self._port(link.b))
        for r in self.layout.routes:
            self._route(r)
        # The nd-deadlock fault needs neighbour discovery, so it gets no permanent neighbours.
        if self.scenario.fault != "nd-deadlock":
            for link in self.layout.links:
                neighbours(self._port(link.a), self._port(link.b), macs)
        impair.apply(self, self.tag)  # the path's conditions, on the router
        # a veth drops what is sent until the kernel's link watch has seen its carrier
        await_carrier(self.netns(node) for node in self.layout.nodes)

    def _port(self, end: End) -> Port:
        return Port(self.netns(end.node), end.iface,
                    *address(self.scenario, end.address, end.side))

    def _route(self, r: Route) -> None:
        net = network(self.scenario, *r.to)
        gateway = address(self.scenario, *r.via)[0] if r.via else None
        route(self.netns(r.node), str(net.network_address), net.prefixlen, r.iface, gateway)
