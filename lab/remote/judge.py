"""The verdict phase of a road-warrior cell: what the kernels, the captures, the pings
and the daemons hold, handed to the checks (lab.remote.verdict), per connection and for
the gateway."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lab import xfrm
from lab.remote.state import NetworkState
from lab.remote.verdict import (
    ConnectionVerdict,
    check_link,
    check_own,
    check_selectors,
    check_sessions,
    check_vips,
    gateway_vips,
    judge_connection,
)
from lab.wire.decrypt import decrypt
from lab.wire.packets import Packet

if TYPE_CHECKING:
    from lab.outcome import Outcome
    from lab.status import DaemonStatus


def tunnels_to(policies: list[xfrm.Policy], vip: str, address: str) -> bool:
    """Whether an outbound policy to ``vip`` tunnels to ``address``."""
    return any(p.dir == "out" and p.dst == vip and p.tmpl_dst == address for p in policies)


def connections(cell: NetworkState) -> None:
    """Per client: the two-peer checks on its link, its link's own checks, the decryption;
    then the virtual IPs against the gateway's policies."""
    n, gw, sides = cell.network, cell.gateway, cell.sides()
    gw_policies = xfrm.dump_policies(cell.topology.netns(gw))
    sends = gateway_vips(gw_policies, n.host)
    spis = {c: {sa.spi for sa in cell.sas[c] if sa.proto == "esp"} for c in cell.clients}
    gw_to: dict[str, set[str]] = {}
    for client in cell.admitted:
        node = n.by_name[client]
        gw_to[client] = {v for v in sends if tunnels_to(gw_policies, v, n.seen(node))}
        cell.captures[client].stop()
        packets = cell.captures[client].packets
        result = ConnectionVerdict(client, cell.vips.get(client), own=not n.has_pool)
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
        seen, unsaid = identities(client, gw, said)
        cell.lines += seen
        if n.auth != "psk":  # the certificates' identities are the claim: each side names one
            result.problems += unsaid
        others = set().union(*(s for c, s in spis.items() if c != client))
        result.problems += check_link(client, packets, spis[client], others, node.nat)
        held = [sa for sa in cell.sas[client] + cell.sas[gw]
                if {sa.src, sa.dst} == {node.address, n.gateway.address}]
        dec = decrypt(packets, held, pinged)
        result.problems += [f"{client}: (e) {p}" for p in dec.problems]
        cell.lines.append(f"{client}: {pinged}; decryption: {dec.summary()}")
        cell.results.append(result)
    cell.problems += [p for r in cell.results for p in r.problems]
    if n.pool is not None:
        cell.problems += check_vips(cell.vips, gw_to, n.pool)
        return
    cell.lines.append("(v) no pool: no virtual IPs to check (none asked or served); each"
                      " client's kernel must send from its own address, the gateway's to it")
    cell.problems += check_own({c: cell.vips.get(c) for c in cell.admitted},
                               {c: n.by_name[c].address for c in cell.admitted}, gw_to)
    for client in cell.admitted:
        own, subnet = n.by_name[client].address, n.gateway.subnet or ""
        found = check_selectors(client, own, subnet,
                                xfrm.dump_policies(cell.topology.netns(client)), gw_policies)
        cell.problems += found
        if not found:
            cell.lines.append(f"{client}: selectors {own} <-> {subnet} in both kernels")


def identities(client: str, gw: str, said: dict[str, DaemonStatus]) -> tuple[list[str], list[str]]:
    """What each end says it authenticated the other as (lab.negotiated compares it with
    the other's identity), as listing lines; and a finding per end whose daemon gives
    its account but names no peer identity in it."""
    lines, unsaid = [], []
    for end, me, them in (("left", client, gw), ("right", gw, client)):
        st = said.get(end)
        if st is None or st.error:
            continue
        peer = st.ike.remote_id if st.ike is not None else None
        if peer is None:
            unsaid.append(f"{client}: identity: {me} names no identity of {them} ({st.source})")
        else:
            lines.append(f"{client}: {me} authenticated {them} as {peer!r} ({st.source})")
    return lines, unsaid


#: how a refused client hears it: authentication failed; in IKEv1 Main Mode pluto answers a
#: certificate it rejects with INVALID_ID_INFORMATION instead (measured with 5.2: "X509:
#: certificate rejected for this connection", then that notify), which a daemon's words
#: otherwise class as a Quick Mode selector refusal
IKEV1_REFUSAL = "INVALID_ID_INFORMATION"


def is_refusal(ended: Outcome | None, ike_version: int) -> bool:
    """Whether a client's last word says the gateway refused to authenticate it."""
    if ended is None:
        return False
    return ended.cls == "authentication-failed" or (ike_version == 1
                                                    and IKEV1_REFUSAL in ended.seen)


def refusals(cell: NetworkState) -> None:
    """(r) Each client the gateway must refuse (its certificate from a CA the gateway
    does not trust): its daemon says authentication failed, neither kernel holds an SA
    between it and the gateway, no ESP crossed its link (the gateway's IKE SAs: gateway())."""
    n, gw = cell.network, cell.gateway
    for client in cell.refused:
        node = n.by_name[client]
        ended = cell.daemons[client].ended()
        if not is_refusal(ended, n.ike_version_of(n.connection(client))):
            cell.problems.append(f"(r) {client}: the gateway must refuse its certificate, but"
                                 f" its daemon reports {ended or 'no failure'}")
        else:
            cell.lines.append(f"{client}: refused as expected: {ended.seen}")  # type: ignore[union-attr]
        held = [f"{name}: {sa}" for name in (client, gw) for sa in cell.sas[name]
                if {sa.src, sa.dst} == {node.address, n.gateway.address}]
        if held:
            cell.problems.append(f"(r) {client} must be refused, but the kernels hold SAs"
                                 f" with it: {'; '.join(held)}")
        cell.captures[client].stop()
        esp = [p for p in cell.captures[client].packets if p.kind == "esp"]
        if esp:
            cell.problems.append(f"(r) {client} must be refused, but its link carried"
                                 f" {len(esp)} ESP packet(s), first: {esp[0].line()}")


def gateway(cell: NetworkState) -> None:
    """(w) nothing of the echoes in clear on the gateway's link either; (g) the gateway's
    IKE SAs, one per client (as the daemon reports them)."""
    n, gw = cell.network, cell.gateway
    cell.captures[gw].stop()
    cell.problems += in_clear(cell.captures[gw].packets, "the gateway's link")
    sessions(cell, {c: n.seen(n.by_name[c]) for c in cell.admitted})


def in_clear(packets: list[Packet], where: str) -> list[str]:
    """(w) the echoes that crossed a link in clear text, as a problem."""
    clear = [p for p in packets if p.kind == "echo"]
    return [f"(w) {where}: {len(clear)} echo packet(s) in clear text, first:"
            f" {clear[0].line()}"] if clear else []


def sessions(cell: NetworkState, expected: dict[str, str]) -> None:
    """(g) the gateway's (or hub's) IKE SAs as its daemon reports them: one per client,
    with the address ``expected`` of each."""
    gw = cell.gateway
    held = cell.daemons[gw].sessions()
    cell.problems += check_sessions(held, expected, gw)
    cell.lines += [f"{gw}: IKE SA {s.conn} with {s.remote}, {s.children} Child SA(s)"
                   for s in held]
