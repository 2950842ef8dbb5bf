"""Two namespaces joined by one veth pair, addressed as the source text: in-process netlink."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from pyroute2 import IPRoute

from lab.netns import NetNS, entered
from lab.scenario import Scenario

IFA_F_NODAD = 0x02
NUD_PERMANENT = 0x80
IFACE = "e0"


def iproute_in(netns: str) -> IPRoute:
    """An rtnetlink socket opened inside ``netns`` (no helper process, unlike IPRoute(netns=))."""
    with entered(netns):
        return IPRoute()


@dataclass
class Topology:
    """``ipl-<id>-l`` and ``ipl-<id>-r``, each with ``e0`` holding the peer's address."""

    scenario: Scenario
    ident: str

    def __post_init__(self) -> None:
        self.ns = {side: NetNS(f"ipl-{self.ident}-{side[0]}") for side in ("left", "right")}

    def netns(self, side: str) -> str:
        return self.ns[side].name

    def up(self) -> None:
        for ns in self.ns.values():
            ns.create()
        left, right = self.netns("left"), self.netns("right")
        with iproute_in(left) as ipr:
            ipr.link("add", ifname=IFACE, kind="veth", peer={"ifname": IFACE, "net_ns_fd": right})
        macs = {}
        for side, ns in (("left", left), ("right", right)):
            me = self.scenario.peer(side)
            other = self.scenario.peer("right" if side == "left" else "left")
            with iproute_in(ns) as ipr:
                lo = ipr.link_lookup(ifname="lo")[0]
                dev = ipr.link_lookup(ifname=IFACE)[0]
                macs[side] = ipr.get_links(dev)[0].get_attr("IFLA_ADDRESS")
                ipr.link("set", index=lo, state="up")
                ipr.addr("add", index=dev, address=me.address, prefixlen=me.prefixlen,
                         flags=IFA_F_NODAD)
                ipr.link("set", index=dev, state="up")
                net = ipaddress.IPv6Network(f"{other.address}/{other.prefixlen}", strict=False)
                mine = ipaddress.IPv6Network(f"{me.address}/{me.prefixlen}", strict=False)
                if net != mine:  # the other /64 is on this link too
                    ipr.route("add", dst=str(net.network_address), dst_len=net.prefixlen,
                              oif=dev, scope=253)
        # Permanent neighbour entries: the first IKE packet must not wait on neighbour
        # discovery over a link that came up a moment ago (the kernel retries after 1 s).
        # The nd-deadlock fault needs neighbour discovery, so it gets none.
        if self.scenario.fault == "nd-deadlock":
            return
        for side, ns in (("left", left), ("right", right)):
            other = "right" if side == "left" else "left"
            with iproute_in(ns) as ipr:
                dev = ipr.link_lookup(ifname=IFACE)[0]
                ipr.neigh("add", dst=self.scenario.peer(other).address, lladdr=macs[other],
                          ifindex=dev, state=NUD_PERMANENT)

    def down(self) -> None:
        errors = []
        for ns in self.ns.values():
            try:
                ns.remove()
            except OSError as exc:
                errors.append(f"{ns}: {exc}")
        if errors:
            raise OSError("; ".join(errors))
