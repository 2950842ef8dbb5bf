"""The negotiate phase of a two-peer cell: who initiates, and the watch until both
kernels hold the SAs, a daemon's words are final, or the deadline passes."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

from lab import xfrm
from lab.errors import NegotiationError
from lab.outcome import ESTABLISHED, OTHER_MODE, Outcome, established, most_specific
from lab.scenario import SIDES, other_side

if TYPE_CHECKING:
    from lab.cell.state import CellState


def initiate(cell: CellState, sides: tuple[str, ...]) -> None:
    """Each of ``sides`` initiates; two sides start at the same instant, each in its own
    thread (an error is raised here, in the cell's thread)."""
    if cell.record is not None:
        cell.record.act(",".join(sides), "initiate")
    if len(sides) == 1:
        cell.daemons[sides[0]].initiate()
        return
    errors: list[BaseException] = []

    def one(side: str) -> None:
        try:
            cell.daemons[side].initiate()
        except BaseException as exc:  # raised below, in the cell's thread
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(side,)) for side in sides]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


def is_established(cell: CellState) -> bool:
    """Both kernels hold keyed ESP SAs both ways, and each sends its traffic (its own,
    or its subnet's) to the other through an IPsec policy (some daemons install the
    policy after the SAs). Not yet keyed: the kernel's acquire placeholder (SPI 0) and
    an SPI reserved for a negotiation (SADB_GETSPI, no algorithm yet); racoon sends its
    last Quick Mode message before it installs its SAs, so for a moment its kernel holds
    only those while the peer's holds the real ones."""
    cell.sas = cell.held()
    for side in SIDES:
        pairs = {(sa.src, sa.dst) for sa in cell.sas[side] if sa.proto == "esp" and xfrm.keyed(sa)}
        across = other_side(side)
        me, other = cell.scenario.peer(side).address, cell.scenario.peer(across).address
        if not {(me, other), (other, me)} <= pairs:
            return False
        src, dst = cell.topology.traffic_end(side)[1], cell.topology.traffic_end(across)[1]
        if not any(p.dir == "out" and p.ipsec and p.covers(src, dst)
                   for p in xfrm.dump_policies(cell.topology.netns(side))):
            return False
    return True


def watch(cell: CellState) -> Outcome:
    """Poll until both kernels hold the SAs, a daemon's words are final (a crash, or the
    most specific failure class), or the deadline."""
    end = time.monotonic() + cell.negotiate_deadline
    while True:
        if is_established(cell):
            return established(cell.scenario, cell.sas)
        ended = most_specific(daemon.ended() for daemon in cell.daemons.values())
        if ended:
            return ended
        if time.monotonic() >= end:
            words = " / ".join(f"{side}: {d.last_words(2)}" for side, d in cell.daemons.items())
            return Outcome("timeout", f"no SAs within {cell.negotiate_deadline:g} s;"
                                      f" last log lines: {words}")
        time.sleep(0.01)


def negotiate(cell: CellState, sides: tuple[str, ...] | None = None) -> Outcome:
    """Initiate and watch until the negotiation ends; raise NegotiationError when its
    outcome is not the scenario's ``expect`` (a failure names its class). ``sides``:
    who initiates (default the scenario's initiator)."""
    started = time.monotonic()
    with cell.phase("initiate"):
        initiate(cell, sides or (cell.scenario.initiator,))
    with cell.phase("ike"):
        cell.outcome = watch(cell)
    if cell.outcome.cls == ESTABLISHED:
        cell.established_in = time.monotonic() - started
    expect = cell.scenario.expect
    problem = cell.outcome.against(expect)
    # SAs whose mode is not a side's configured one, in a cell that expects them
    # established: the verdict's negotiated check reports that with all its findings
    if problem and not (expect == ESTABLISHED and cell.outcome.cls == OTHER_MODE):
        raise NegotiationError(f"negotiation {cell.scenario.name}: {problem}")
    return cell.outcome
