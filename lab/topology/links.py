"""Namespaces and the links between them, as every layout builds them (the two-peer
topologies: build.py; road-warrior and hub: roadwarrior.py, hub.py): a namespace per
node with its loopback up, forwarding where a node routes, a veth pair per link with both
ends addressed and up, each end the other's permanent neighbour (the first IKE packet must
not wait on neighbour discovery over a link that came up a moment ago: the kernel retries
after 1 s), routes, and removing every namespace at the end."""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator
from dataclasses import dataclass

from lab.topology.netns import NetNS, entered
from lab.topology.rtnl import Rtnl, RtnlError

IFA_F_NODAD = 0x02
NUD_PERMANENT = 0x80
RT_SCOPE_LINK = 253
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


@contextlib.contextmanager
def exists_ok() -> Iterator[None]:
    """An address or a route that is there already (e.g. the link's own prefix route) is
    no error."""
    try:
        yield
    except RtnlError as exc:
        if exc.errno != errno.EEXIST:
            raise


@dataclass(frozen=True)
class Port:
    """One end of a link: the namespace, its interface there, its address and prefix."""

    netns: str
    iface: str
    address: str
    plen: int


def veth(a: Port, b: Port) -> dict[Port, str]:
    """A veth pair from ``a`` to ``b``, both ends addressed and up; each end's MAC address."""
    with Rtnl(a.netns) as rtnl:
        rtnl.add_veth(a.iface, b.iface, b.netns)
    macs = {}
    for end in (a, b):
        with Rtnl(end.netns) as rtnl:
            dev, macs[end] = rtnl.link(end.iface)
            rtnl.add_address(dev, end.address, end.plen, IFA_F_NODAD)
            rtnl.up(dev)
    return macs


def neighbours(a: Port, b: Port, macs: dict[Port, str]) -> None:
    """Each end of a link the other's permanent neighbour."""
    for me, other in ((a, b), (b, a)):
        with Rtnl(me.netns) as rtnl:
            rtnl.add_neighbour(rtnl.link(me.iface)[0], other.address, macs[other], NUD_PERMANENT)


def route(netns: str, dst: str, plen: int, iface: str, via: str | None) -> None:
    """A route to ``dst/plen`` out of ``iface``, through ``via`` (None: on the link)."""
    with Rtnl(netns) as rtnl, exists_ok():
        rtnl.add_route(dst, plen, rtnl.link(iface)[0], via, scope=0 if via else RT_SCOPE_LINK)


class Namespaces:
    """A layout's namespaces by node name (``ns``, filled by the layout)."""

    ns: dict[str, NetNS]

    def netns(self, node: str) -> str:
        """The namespace of a node."""
        return self.ns[node].name

    def create(self, forwarding: tuple[str, ...] = ()) -> None:
        """Every namespace, its loopback up; the ``forwarding`` nodes forward."""
        for ns in self.ns.values():
            ns.create()
        for node in self.ns:
            with Rtnl(self.netns(node)) as rtnl:
                rtnl.up(rtnl.link("lo")[0])
        for node in forwarding:
            self.forward(node)

    def forward(self, node: str) -> None:
        for path in FORWARDING:
            write_sysctl_in(self.netns(node), path, "1")

    def down(self) -> None:
        """Every namespace removed; what could not be, one error naming each."""
        errors = []
        for ns in self.ns.values():
            try:
                ns.remove()
            except OSError as exc:
                errors.append(f"{ns}: {exc}")
        if errors:
            raise OSError("; ".join(errors))
