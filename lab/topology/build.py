"""Build a layout (lab.topology.table) in the kernel: one namespace per node, veth links,
addresses, routes, forwarding and permanent neighbours, all in-process over netlink."""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass, field

from lab.run import TAG_VAR
from lab.topology import impair
from lab.topology.netns import NetNS, entered
from lab.topology.rtnl import Rtnl, RtnlError, await_carrier
from lab.topology.spec import Plan
from lab.topology.table import NODE_SUFFIX, TOPOLOGIES, End, Layout, Route, address, network

IFA_F_NODAD = 0x02
NUD_PERMANENT = 0x80
RT_SCOPE_LINK = 253
#: the interface of a peer on the link between the peers (where the capture is)
IFACE = "e0"
#: sysctls a forwarding node gets (written inside its namespace)
FORWARDING = ("/proc/sys/net/ipv4/ip_forward", "/proc/sys/net/ipv6/conf/all/forwarding")


def write_sysctl_in(netns: str, path: str, value: str) -> None:
    """/proc/sys/net is the opening thread's namespace's: open it from inside."""
    with entered(netns):
        fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


@dataclass
class Topology:
    """The scenario's layout: namespaces ``ipl-<id>-<suffix>``, one per node."""

    scenario: Plan  # a Scenario (lab.topology.spec: what is read of it)
    ident: str
    tag: str = field(default_factory=lambda: os.environ.get(TAG_VAR, "ipsec-lab"))

    def __post_init__(self) -> None:
        self.layout: Layout = TOPOLOGIES[self.scenario.topology]
        self.ns = {node: NetNS(f"ipl-{self.ident}-{NODE_SUFFIX[node]}")
                   for node in self.layout.nodes}

    def netns(self, node: str) -> str:
        """The namespace of a node; the peers are the nodes ``left`` and ``right``."""
        return self.ns[node].name

    def traffic_end(self, side: str) -> tuple[str, str]:
        """(namespace, address) where ``side``'s traffic starts or is answered."""
        node, rule = self.layout.traffic[side]
        return self.netns(node), address(self.scenario, rule, side)[0]

    def capture_points(self) -> list[tuple[str, str]]:
        return [(self.netns(node), iface) for node, iface in self.layout.capture]

    def up(self) -> None:
        for ns in self.ns.values():
            ns.create()
        for node in self.layout.nodes:
            with Rtnl(self.netns(node)) as rtnl:
                rtnl.up(rtnl.link("lo")[0])
        for node in self.layout.forwarding:
            for path in FORWARDING:
                write_sysctl_in(self.netns(node), path, "1")
        macs = {}
        for link in self.layout.links:
            with Rtnl(self.netns(link.a.node)) as rtnl:
                rtnl.add_veth(link.a.iface, link.b.iface, self.netns(link.b.node))
            for end in (link.a, link.b):
                macs[end] = self._address(end)
        for route in self.layout.routes:
            self._route(route)
        # Permanent neighbour entries: the first IKE packet must not wait on neighbour
        # discovery over a link that came up a moment ago (the kernel retries after 1 s).
        # The nd-deadlock fault needs neighbour discovery, so it gets none.
        if self.scenario.fault != "nd-deadlock":
            self._neighbours(macs)
        impair.apply(self, self.tag)  # the path's conditions, on the router
        # a veth drops what is sent until the kernel's link watch has seen its carrier
        await_carrier(self.netns(node) for node in self.layout.nodes)

    def _neighbours(self, macs: dict[End, str]) -> None:
        for link in self.layout.links:
            for me, other in ((link.a, link.b), (link.b, link.a)):
                with Rtnl(self.netns(me.node)) as rtnl:
                    rtnl.add_neighbour(rtnl.link(me.iface)[0],
                                       address(self.scenario, other.address, other.side)[0],
                                       macs[other], NUD_PERMANENT)

    def _address(self, end: End) -> str:
        """Address the interface and bring it up; its MAC address."""
        addr, plen = address(self.scenario, end.address, end.side)
        with Rtnl(self.netns(end.node)) as rtnl:
            dev, mac = rtnl.link(end.iface)
            rtnl.add_address(dev, addr, plen, IFA_F_NODAD)
            rtnl.up(dev)
            return mac

    def _route(self, route: Route) -> None:
        net = network(self.scenario, *route.to)
        gateway = address(self.scenario, *route.via)[0] if route.via else None
        with Rtnl(self.netns(route.node)) as rtnl:
            try:
                rtnl.add_route(str(net.network_address), net.prefixlen, rtnl.link(route.iface)[0],
                               gateway, scope=0 if gateway else RT_SCOPE_LINK)
            except RtnlError as exc:
                if exc.errno != errno.EEXIST:  # the link's own prefix route is there already
                    raise

    def down(self) -> None:
        errors = []
        for ns in self.ns.values():
            try:
                ns.remove()
            except OSError as exc:
                errors.append(f"{ns}: {exc}")
        if errors:
            raise OSError("; ".join(errors))
