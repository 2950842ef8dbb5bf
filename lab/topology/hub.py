"""Topology hub, built in-process: a hub and spokes, each a gateway with a subnet and a
host behind it, each on a network of its own, one router joining their networks (at the
254th address of each). The layout of road-warrior (lab.topology.roadwarrior) with a
subnet and a host behind every spoke too:

    host-east e0 --- e1 east e0 --- e1 router e0 --- e0 hub e1 --- e0 host
    host-west e0 --- e1 west e0 --- e2 router

Namespaces are ``ipl-<id>-<node>``; the host behind the hub is ``host``, the host behind
a spoke ``host-<spoke>``. The capture points are road-warrior's: each spoke's link (what
the spoke and the router send on it) and the hub's.

Only plain node records come in (`Site`, `Lan`): topology/ imports nothing above it.
"""

from __future__ import annotations

from lab.topology.netns import NetNS
from lab.topology.roadwarrior import Lan, RoadWarrior, Site

#: a spoke's link to its host
SPOKE_LAN = "e1"


def host_of(spoke: str) -> str:
    """The name of the host behind a spoke (node names have no dash: no clash)."""
    return f"host-{spoke}"


class Hub(RoadWarrior):
    """Namespaces, links, addresses, routes and neighbours of one hub lab: road-warrior's
    with a LAN and a host behind every spoke, and the spokes forwarding."""

    def __init__(self, ident: str, hub: Site, spokes: tuple[Site, ...], lan: Lan,
                 lans: dict[str, Lan], tag: str = "ipsec-lab") -> None:
        super().__init__(ident, hub, spokes, lan, None, tag)
        #: spoke -> its LAN (its own address there, its host's)
        self.lans = lans
        for spoke in spokes:
            name = host_of(spoke.name)
            self.ns[name] = NetNS(f"ipl-{ident}-{name}")

    def _build(self) -> None:
        super()._build()
        for spoke in self.clients:
            lan, host = self.lans[spoke.name], host_of(spoke.name)
            self.forward(spoke.name)
            self._link(spoke.name, SPOKE_LAN, lan.gateway, host, "e0", lan.host, lan.plen)
            self._default(host, "e0", lan.gateway)
