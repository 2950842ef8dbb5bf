"""The traffic selectors both kernels enforce: what the Child SA protects.

Each side's kernel must hold IPsec policies for exactly the scenario's traffic: outbound
from its own network to the peer's, and inbound (in, and fwd on a gateway) the other way.
The networks are the sides' subnets where the topology has them, else their addresses
(a /32 or /128 each). A policy wider or narrower than that (a daemon that narrowed the
selectors, or made them 0/0) is a finding naming the side and what it holds. Behind a NAT
the initiator's policies name addresses the responder never sees: not checked there.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING

from lab.topology.table import TOPOLOGIES
from lab.xfrm import Policy

if TYPE_CHECKING:
    from lab.scenario import Scenario

Net = ipaddress.IPv4Network | ipaddress.IPv6Network


def wanted(s: Scenario, side: str) -> Net:
    """The network whose traffic ``side`` protects."""
    peer = s.peer(side)
    if side in TOPOLOGIES[s.topology].subnet_sides and peer.subnet is not None:
        return ipaddress.ip_network(peer.subnet)
    return ipaddress.ip_network(peer.address)


def _net(address: str, plen: int) -> Net:
    return ipaddress.ip_network(f"{address}/{plen}", strict=False)


def findings(s: Scenario, policies: dict[str, list[Policy]]) -> list[str]:
    """Per side: an IPsec policy out (own > peer's) and in (peer's > own) with exactly the
    scenario's selectors, and no other IPsec policy (pure). Policies installed before the
    negotiation count too (racoon's come from setkey when it starts)."""
    if s.path.nat:
        return []
    found = []
    for side in ("left", "right"):
        other = "right" if side == "left" else "left"
        mine, theirs = wanted(s, side), wanted(s, other)
        held = [p for p in policies[side] if p.ipsec]
        want = {("out", mine, theirs), ("in", theirs, mine)}
        have = {(p.dir, _net(p.src, p.src_len), _net(p.dst, p.dst_len)) for p in held}
        for direction, src, dst in sorted(want - have, key=str):
            found.append(f"selectors: {side}'s kernel holds no IPsec policy {direction}"
                         f" {src} > {dst} (the scenario's traffic)")
        extra = [p for p in held if (p.dir, _net(p.src, p.src_len), _net(p.dst, p.dst_len))
                 not in want | {("fwd", theirs, mine)}]
        if extra:
            found.append(f"selectors: {side}'s kernel holds IPsec policies other than the"
                         f" scenario's {mine} <> {theirs}: {', '.join(map(str, extra[:3]))}")
    return found
