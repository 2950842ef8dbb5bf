"""The verdict phase of a road-warrior cell: what the kernels, the captures, the pings
and the daemons hold, handed to the checks (lab.remote.verdict), per connection and for
the gateway."""

from __future__ import annotations

from lab import xfrm
from lab.remote.state import CellState
from lab.remote.verdict import (
    ConnectionVerdict,
    check_link,
    check_sessions,
    check_vips,
    gateway_vips,
    judge_connection,
)
from lab.wire.decrypt import decrypt
from lab.wire.packets import Packet


def tunnels_to(policies: list[xfrm.Policy], vip: str, address: str) -> bool:
    """Whether an outbound policy to ``vip`` tunnels to ``address``."""
    return any(p.dir == "out" and p.dst == vip and p.tmpl_dst == address for p in policies)


def connections(cell: CellState) -> None:
    """Per client: the two-peer checks on its link, its link's own checks, the decryption;
    then the virtual IPs against the gateway's policies."""
    n, gw, sides = cell.network, cell.gateway, cell.sides()
    gw_policies = xfrm.dump_policies(cell.topology.netns(gw))
    sends = gateway_vips(gw_policies, n.host)
    spis = {c: {sa.spi for sa in cell.sas[c] if sa.proto == "esp"} for c in cell.clients}
    gw_to: dict[str, set[str]] = {}
    for client in cell.clients:
        node = n.by_name[client]
        gw_to[client] = {v for v in sends if tunnels_to(gw_policies, v, n.seen(node))}
        cell.captures[client].stop()
        packets = cell.captures[client].packets
        result = ConnectionVerdict(client, cell.vips.get(client))
        pinged = cell.pings.get(client)
        if pinged is None:
            result.problems.append(f"{client}: no traffic (no virtual IP)")
            cell.results.append(result)
            continue
        conn = n.connection(client)
        said = {end: st for end, st in (("left", cell.daemons[client].status_of(conn)),
                                        ("right", cell.daemons[gw].status_of(conn))) if st}
        verdict, found = judge_connection(
            n.pair(conn), sides[client], sides[gw], packets,
            {"left": cell.sas[client], "right": cell.sas[gw]}, pinged, said)
        result.verdict = verdict
        result.problems += [f"{client}: {p}" for p in [*verdict.problems, *found]]
        others = set().union(*(s for c, s in spis.items() if c != client))
        result.problems += check_link(client, packets, spis[client], others, node.nat)
        held = [sa for sa in cell.sas[client] + cell.sas[gw]
                if {sa.src, sa.dst} == {node.address, n.gateway.address}]
        dec = decrypt(packets, held, pinged)
        result.problems += [f"{client}: (e) {p}" for p in dec.problems]
        cell.lines.append(f"{client}: {pinged}; decryption: {dec.summary()}")
        cell.results.append(result)
    cell.problems += [p for r in cell.results for p in r.problems]
    cell.problems += check_vips(cell.vips, gw_to, n.pool)


def gateway(cell: CellState) -> None:
    """(w) nothing of the echoes in clear on the gateway's link either; (g) the gateway's
    IKE SAs, one per client (as the daemon reports them)."""
    n, gw = cell.network, cell.gateway
    cell.captures[gw].stop()
    cell.problems += in_clear(cell.captures[gw].packets, "the gateway's link")
    sessions(cell, {c: n.seen(n.by_name[c]) for c in cell.clients})


def in_clear(packets: list[Packet], where: str) -> list[str]:
    """(w) the echoes that crossed a link in clear text, as a problem."""
    clear = [p for p in packets if p.kind == "echo"]
    return [f"(w) {where}: {len(clear)} echo packet(s) in clear text, first:"
            f" {clear[0].line()}"] if clear else []


def sessions(cell: CellState, expected: dict[str, str]) -> None:
    """(g) the gateway's (or hub's) IKE SAs as its daemon reports them: one per client,
    with the address ``expected`` of each."""
    gw = cell.gateway
    held = cell.daemons[gw].sessions()
    cell.problems += check_sessions(held, expected, gw)
    cell.lines += [f"{gw}: IKE SA {s.conn} with {s.remote}, {s.children} Child SA(s)"
                   for s in held]
