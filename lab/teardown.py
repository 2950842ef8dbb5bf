"""The teardown check: once the initiator has deleted the connection, neither kernel
may hold anything of the cell.

"Of the cell" is every SA in the peer's namespace (an SPI 0 acquire placeholder is a
note), and every SPD policy (in, out,
fwd) about the two peers' addresses that was not in the kernel before the
negotiation. Not the cell's: what the lab loads as configuration (racoon's SPD comes
from the lab's setkey script and stays), what a daemon installs for itself
(pluto's ::/0 neighbour-discovery bypasses, its per-socket policies on the IKE
sockets, which pluto may add after the baseline was read). A policy the daemon's
driver names as a known defect or behaviour of its version (``Daemon.known_leftover``),
and an SA it names likewise (racoon keeps its inbound SA after the peer's Delete), is
reported as a note, not as a failure; anything else left fails the cell.
"""

from __future__ import annotations

from collections.abc import Callable

from lab.negotiated import Problem, Side
from lab.xfrm import SA, Policy

#: SPD directions; the others (socket policies) belong to a daemon's own sockets
SPD_DIRS = ("in", "out", "fwd")


def left_behind(sas: list[SA], policies: list[Policy], baseline: set[Policy],
                known: Callable[[SA | Policy], str | None] = lambda item: None,
                ) -> tuple[list[str], list[str]]:
    """What one kernel still holds of the cell, one item a string: (failures, known
    defects with their reason)."""
    items: list[str] = []
    notes: list[str] = []
    for sa in sas:
        # SPI 0: the kernel's placeholder while it asks for an SA (an acquire, when a packet
        # met a policy without one); not a negotiated SA, it expires by itself (xfrm_acq_expires)
        why = "the kernel's acquire placeholder, not a negotiated SA: it expires by itself" \
            if sa.spi == 0 else known(sa)
        if why:
            notes.append(f"SA {sa} ({'known: ' if sa.spi else ''}{why})")
        else:
            items.append(f"SA {sa}")
    for p in policies:
        if p in baseline or p.dir not in SPD_DIRS or not (p.src_len or p.dst_len):
            continue
        why = known(p)
        if why:
            notes.append(f"policy {p} (known: {why})")
        else:
            items.append(f"policy {p}")
    return items, notes


def check(deleted_by: Side, held: dict[str, list[str]], sides: dict[str, Side]) -> list[Problem]:
    """One finding per kernel that is not clean, listing what it kept."""
    return [Problem("teardown", f"teardown: after {deleted_by} deleted the connection,"
                    f" {sides[name]}'s kernel still holds {len(items)} item(s) of the cell: "
                    + "; ".join(items))
            for name, items in held.items() if items]
