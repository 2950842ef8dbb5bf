"""The verdict phase of a hub cell: per connection (a spoke and the hub) the two-peer
checks on the spoke's link while the first spoke's host pinged the second's (the echoes
cross both links: the first spoke's connection carries them to the hub, the hub's
connection with the second spoke on to it), the decryption, nothing in clear on any
link; the hub's own host reached through the first connection; the hub's IKE SAs."""

from __future__ import annotations

from lab.remote import judge
from lab.remote.state import HubState, Stage
from lab.remote.verdict import check_link, judge_connection
from lab.wire.decrypt import decrypt


def _spis(cell: HubState, spoke: str) -> set[int]:
    return {sa.spi for sa in cell.sas[spoke] if sa.proto == "esp"}


def _link(cell: HubState, stage: Stage, spoke: str, crossed: bool) -> list[str]:
    """(w) on one spoke's link in one stage: no echo in clear, no SPI of another spoke's
    SAs; (e) where the stage's echoes crossed it, its ESP decrypts with this connection's
    keys to exactly those echoes."""
    n, packets = cell.network, stage.packets[spoke]
    others = set().union(*(_spis(cell, c) for c in cell.clients if c != spoke))
    problems = [f"{stage.name}: {p}" for p in check_link(spoke, packets, _spis(cell, spoke),
                                                          others)]
    if crossed:
        node = n.by_name[spoke]
        held = [sa for sa in cell.sas[spoke] + cell.sas[cell.gateway]
                if {sa.src, sa.dst} == {node.address, n.gateway.address}]
        dec = decrypt(packets, held, stage.ping)
        problems += [f"{spoke}: (e) {stage.name}: {p}" for p in dec.problems]
        cell.lines.append(f"{spoke}'s link, {stage.name}: {stage.ping}; decryption:"
                          f" {dec.summary()}")
    return problems


def connections(cell: HubState) -> None:
    """Per connection: the two-peer checks on the spoke's link (the spoke-to-spoke ping:
    only IKE and ESP, the SPIs those both kernels hold for this connection, sequence
    numbers from 1, as many ESP packets as echoes; both kernels' SAs agree field by
    field; what the daemons say matches), then each stage's link checks."""
    n, hub, sides = cell.network, cell.gateway, cell.sides()
    spokes, to_hub = cell.stages
    crossing = {n.clients[0].name, n.clients[1].name}
    for spoke in cell.clients:
        conn = n.connection(spoke)
        if spoke in crossing:
            said = {end: st for end, st in (("left", cell.daemons[spoke].status()),
                                            ("right", cell.daemons[hub].status_of(conn))) if st}
            verdict, found = judge_connection(
                n.pair(conn), sides[spoke], sides[hub], spokes.packets[spoke],
                {"left": cell.sas[spoke], "right": cell.sas[hub]}, spokes.ping, said)
            cell.lines += [f"{spoke}: {line}" for line in verdict.summary()]
            cell.problems += [f"{spoke}: {p}" for p in [*verdict.problems, *found]]
        cell.problems += _link(cell, spokes, spoke, spoke in crossing)
        cell.problems += _link(cell, to_hub, spoke, spoke == n.clients[0].name)
    if to_hub.ping.lost:
        cell.problems.append(f"hub: the host behind {n.clients[0].name} got no reply from the"
                             f" hub's host to {to_hub.ping.lost}")


def hub(cell: HubState) -> None:
    """(w) nothing of the echoes in clear on the hub's link; (g) the hub's IKE SAs, one per
    spoke with one Child SA (as its daemon reports them)."""
    for stage in cell.stages:
        cell.problems += judge.in_clear(stage.packets[cell.gateway], f"the hub's link, {stage.name}")
    judge.sessions(cell, {c.name: c.address for c in cell.network.clients})
