"""The deletes of a road-warrior cell: one client's delete leaves the others up and
their traffic flowing; after every client's delete no kernel holds anything of the cell
(what a daemon is known to keep is named, not failed: its driver's known_leftover)."""

from __future__ import annotations

import contextlib

from lab import run as runner
from lab import teardown, xfrm
from lab.errors import DeadlineError
from lab.remote.state import NetworkState
from lab.wire.traffic import ping


def one_then_the_rest(cell: NetworkState) -> list[str]:
    """(x) The first client deletes; its SAs leave the gateway's kernel, every other
    client's stay and its echoes are answered; then the others delete. Raises
    DaemonError when a daemon cannot delete."""
    n, gw = cell.network, cell.gateway
    first, rest = cell.admitted[0], cell.admitted[1:]
    problems: list[str] = []
    cell.daemons[first].delete()
    seen, known = n.seen(n.by_name[first]), cell.daemons[gw].known_leftover

    def first_gone() -> bool:  # (an SA its daemon is known to keep is noted at the end)
        held = xfrm.dump(cell.topology.netns(gw))
        return not any(seen in (sa.src, sa.dst) and not known(sa) for sa in held)

    try:
        runner.wait_until(first_gone, deadline=cell.delete_deadline, interval=0.02,
                          what=f"the gateway's SAs with {first} gone")
    except DeadlineError as exc:
        problems.append(f"(x) {exc}")
    for client in rest:
        if not cell.still_up(client):
            problems.append(f"(x) after {first} deleted its connection, {client}'s SAs are"
                            " gone too")
            continue
        src = cell.vips.get(client) if n.has_pool else n.by_name[client].address
        again = ping(cell.topology.netns(client), n.host, n.pings, src=src)
        if again.lost:
            problems.append(f"(x) after {first} deleted its connection, {client}'s echoes"
                            f" {again.lost} got no reply")
        cell.lines.append(f"after {first} deleted: {client}: {again}")
    for client in rest:
        cell.daemons[client].delete()
    return problems


def left_behind(cell: NetworkState) -> list[str]:
    """Wait until every kernel is clean (or the deadline); what is left is a finding."""
    state: dict[str, list[str]] = {}
    notes: dict[str, list[str]] = {}

    def clean() -> bool:
        for name, daemon in cell.daemons.items():
            ns = cell.topology.netns(name)
            state[name], notes[name] = teardown.left_behind(
                xfrm.dump(ns), xfrm.dump_policies(ns), cell.baseline.get(name, set()),
                daemon.known_leftover)
        return not any(state.values())

    with contextlib.suppress(DeadlineError):
        runner.wait_until(clean, deadline=cell.delete_deadline, interval=0.02,
                          what="every kernel clean after the deletes")
    cell.lines += [f"after the deletes, {name} ({cell.daemons[name].name}) kept {note}"
                   for name, kept in notes.items() for note in kept]
    return [f"teardown: after every client deleted its connection, {name}'s kernel still"
            f" holds {len(items)} item(s): " + "; ".join(items)
            for name, items in state.items() if items]
