"""Apply a scenario's path (lab.topology.path) on the router between the peers.

- **netem** (pyroute2's tc, in-process): the root qdisc of both router links, so each
  direction is impaired once, on the way out of the router; a rate is a tbf below it;
- **MTU** (pyroute2): every interface of every link;
- **drop the first N IKE packets** of one side, and **NAT**: tc qdiscs and filters on
  the router, written as one ``tc -batch -`` (one process per cell). nftables does not
  work in the UML kernel the lab boots (every table is refused with EOPNOTSUPP, and it
  has no nft_chain_nat and no iptable_nat: measured), and pyroute2 speaks neither
  act_nat nor netem's loss models. So the drop is N netem qdiscs in a row on a band for
  IKE, each losing exactly the first packet it sees (the 4-state loss model with
  probabilities of 0 and 100%), and the NAT is act_nat's stateless one-to-one NAT of the
  initiator's address to the router's (ports unchanged).
"""

from __future__ import annotations

from typing import Protocol

from lab import run as runner
from lab.kernel import modules
from lab.topology.spec import Plan
from lab.topology.table import Layout

#: modules the path needs inside UML (loaded only for cells with a path)
MODULES = ("sch_netem", "sch_tbf", "sch_prio", "sch_ingress", "cls_u32", "cls_matchall", "act_nat",
           "act_gact")
#: netem ``loss state p13 p31 p32 p23 p14``: from the first state the first packet is lost
#: (p13), then transmitting in the burst state for good (p32 = 100%, p23 = 0)
ONE_LOSS = "100% 0% 100% 0% 0%"
IKE_PORT = 500


class Built(Protocol):
    """What the path needs of a built topology (lab.topology.build's Topology is one)."""

    @property
    def scenario(self) -> Plan: ...

    @property
    def layout(self) -> Layout: ...

    def netns(self, node: str, /) -> str: ...


def router_ifaces(layout: Layout) -> dict[str, str]:
    """side -> the router's interface towards that side."""
    return {end.side: end.iface for link in layout.links for end in (link.a, link.b)
            if end.node == "router"}


def drop_qdiscs(s: Plan, iface: str) -> list[str]:
    """tc batch lines: on the router's way out towards the receiver, IKE packets (UDP port
    500) from ``drop_from`` go to a band of their own, through ``drop_ike`` netem qdiscs in
    a row, each of which loses the first packet it sees and none after (netem's 4-state
    loss model with p13 = 100%, p32 = 100%, the rest 0: lose one, then stay in the
    transmitting burst state); everything else goes through the other band untouched."""
    side = s.initiator if s.path.drop_from == "initiator" else s.responder
    src = s.peer(side).address
    match = (f"protocol ipv6 u32 match ip6 src {src}/128 match ip6 protocol 17 0xff"
             f" match ip6 dport {IKE_PORT} 0xffff" if s.outer_family == 6 else
             f"protocol ip u32 match ip src {src}/32 match ip protocol 17 0xff"
             f" match ip dport {IKE_PORT} 0xffff")
    # every priority to the second band: only the filter may put a packet in the first (by
    # default priorities 6 and 7, the router's own neighbour discovery, would go there)
    lines = [f"qdisc add dev {iface} root handle 1: prio bands 2 priomap {' '.join(['1'] * 16)}",
             f"filter add dev {iface} parent 1: prio 1 {match} flowid 1:1"]
    parent = "1:1"
    for i in range(s.path.drop_ike):
        handle = f"{10 + i}:"
        lines.append(f"qdisc add dev {iface} parent {parent} handle {handle} netem"
                     f" loss state {ONE_LOSS}")
        parent = f"{10 + i}:1"
    return lines


def nat_filters(s: Plan, iface: str) -> list[str]:
    """tc batch lines: on the router's interface towards the responder, the initiator's
    address becomes the router's on the way out and back on the way in."""
    inside = s.peer(s.initiator).address
    public = s.address_seen(s.initiator, by=s.responder)
    return [f"filter add dev {iface} egress prio 2 protocol ip matchall action nat egress"
            f" {inside}/32 {public}",
            f"filter add dev {iface} ingress prio 2 protocol ip matchall action nat ingress"
            f" {public}/32 {inside}"]


def fragment_filters(s: Plan, ifaces: list[str]) -> list[str]:
    """tc batch lines: the router drops IP fragments coming in on any link (IPv6: a
    fragment header after the fixed one; IPv4: every piece with more to follow, so no
    datagram can be put together again)."""
    match = ("protocol ipv6 u32 match ip6 protocol 44 0xff" if s.outer_family == 6 else
             "protocol ip u32 match u16 0x2000 0x2000 at 6")
    return [f"filter add dev {i} ingress prio 3 {match} action drop" for i in ifaces]


def tc_batch(s: Plan, layout: Layout) -> str:
    """What ``tc -batch -`` gets on the router; empty when nothing needs a filter."""
    ifaces = router_ifaces(layout)
    lines: list[str] = []
    if s.path.drop_ike:
        sender = s.initiator if s.path.drop_from == "initiator" else s.responder
        lines += drop_qdiscs(s, ifaces[s.other(sender)])
    filters = nat_filters(s, ifaces[s.responder]) if s.path.nat else []
    if s.path.drop_fragments:
        filters += fragment_filters(s, sorted(ifaces.values()))
    clsact = sorted({line.split()[3] for line in filters})  # filter add dev IFACE ...
    lines += [f"qdisc add dev {i} clsact" for i in clsact] + filters
    return "".join(f"{line}\n" for line in lines)


def apply(topology: Built, tag: str) -> None:
    """Make the router's links behave as the scenario's path says."""
    s, layout = topology.scenario, topology.layout
    path = s.path
    if path.plain:
        return
    modules.ensure(MODULES)
    from lab.topology.rtnl import Rtnl, iproute_in

    if path.mtu:
        for link in layout.links:
            for end in (link.a, link.b):
                with Rtnl(topology.netns(end.node)) as rtnl:
                    rtnl.set_mtu(rtnl.link(end.iface)[0], path.mtu)
    router = topology.netns("router")
    if path.netem:
        with iproute_in(router) as ipr:
            for iface in router_ifaces(layout).values():
                dev = ipr.link_lookup(ifname=iface)[0]
                ipr.tc("add", "netem", index=dev, handle="1:", **path.netem_options())
                if path.rate:
                    ipr.tc("add", "tbf", index=dev, handle="2:", parent="1:1",
                           **path.tbf_options())
    batch = tc_batch(s, layout)
    if batch:
        runner.run(["tc", "-batch", "-"], tag=tag, netns=router, input=batch)



def heal(topology: Built) -> None:
    """Take the netem qdiscs off the router's links (the IKE drop and the NAT stay)."""
    if not topology.scenario.path.netem:
        return
    from lab.topology.rtnl import iproute_in

    with iproute_in(topology.netns("router")) as ipr:
        for iface in router_ifaces(topology.layout).values():
            ipr.tc("del", index=ipr.link_lookup(ifname=iface)[0], root=True)
