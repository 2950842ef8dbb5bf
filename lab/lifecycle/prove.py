"""What a lifecycle cell's kernels hold after an event, and what it negotiated.

``prove``: after every event, as a plain cell proves its first SA, both kernels hold the
same SAs, and those SAs and both daemons' own accounts have the scenario's algorithms (or
its [negotiated] result), identities and PFS group (lab.negotiated, with the same
expectation: lab.proposals.wanted).

``one_pair_each`` and ``allowed_pairs``: how many SAs each kernel may hold afterwards.
``rekeyed_pair``: the same after a rekey by lifetime where lifetimes are so short that the
next rekey can begin before a side has deleted what the last one replaced (``chained``) (charon keeps a
replaced inbound SA for its ``delete_rekeyed_delay``, 5 s by default): the pair the
traffic moved to must be in both kernels, and every other SA must be an older one that
goes within the delete delay, or one of the next rekey.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from lab import xfrm
from lab.lifecycle.record import Record
from lab.lifecycle.spis import spi_text
from lab.negotiated import check
from lab.scenario.allowed import SIDES, other_side
from lab.scenario.model import Scenario

if TYPE_CHECKING:
    from lab.cell import Cell

#: at most this many polls per wait
POLLS = 2000
#: the number of Child SA pairs one connection may hold after both sides initiated at once
#: (RFC 7296 lets both negotiations complete; each leaves one pair)
MAX_PAIRS = 2
#: how long a side may keep an SA a rekey replaced (charon's delete_rekeyed_delay, 5 s by
#: default), and the slack on top
DELETE_DELAY, DELETE_SLACK = 5.0, 2.0



class Findings(Protocol):
    """Where the checks write: a lifecycle verdict's problems and notes."""

    problems: list[str]
    notes: list[str]


class Run(Protocol):
    """What the checks read of a lifecycle run (lab.lifecycle.events' LifecycleRun is one)."""

    s: Scenario
    v: Findings
    record: Record
    pair: tuple[str, str]

    def esp(self, side: str, /) -> list[xfrm.SA]: ...

    def spis(self) -> dict[str, set[int]]: ...


def wait_until(condition: Callable[[], object], deadline: float,
               interval: float = 0.05) -> float | None:
    """Poll until ``condition()``; the guest-monotonic time it held, or None at the deadline.
    A long deadline polls less often (an hour-long lifetime under time-travel: each poll
    costs real CPU time however little guest time passes)."""
    interval = max(interval, deadline / POLLS)
    end = time.monotonic() + deadline
    while True:
        if condition():
            return time.monotonic()
        if time.monotonic() >= end:
            return None
        time.sleep(interval)


def prove(cell: Cell, when: str, rekeyed: bool = False,
          spis: set[int] | None = None) -> tuple[list[str], list[str]]:
    """(problems, listing) of what the SAs held now negotiated, each line prefixed with
    ``when`` ('after the rekey'); ``rekeyed``: the Child SA replaced one (its PFS group
    counts, IKEv2's first-Child exception does not apply); ``spis``: only these ESP SAs."""
    statuses = {side: cell.daemons[side].status() for side in SIDES}
    whole = cell.held()  # after the statuses: a Child SA a daemon names is in its kernel
    sas = whole if spis is None else {
        side: [sa for sa in held if sa.proto != "esp" or sa.spi in spis]
        for side, held in whole.items()}
    found = check(cell.scenario, sas, statuses, cell.sides(), rekeyed=rekeyed, whole=whole)
    return ([f"{when}: {p}" for p in found.problems],
            [f"{when}, negotiated:", *(f"  {line}" for line in found.lines)])


def one_pair_each(run: Run, what: str) -> None:
    """Each kernel holds exactly one ESP SA per direction, the same SPIs as the other."""
    held = {side: run.esp(side) for side in SIDES}
    for side, sas in held.items():
        ways = [(sa.src, sa.dst) for sa in sas]
        if sorted(ways) != sorted([run.pair, run.pair[::-1]]):
            listing = ", ".join(f"0x{sa.spi:08x} {sa.src} > {sa.dst}" for sa in sas) or "none"
            run.v.problems.append(f"{what}: {side}'s kernel holds {len(sas)} ESP SA(s),"
                                  f" expected one pair: {listing}")
    spis = {side: {sa.spi for sa in sas} for side, sas in held.items()}
    if spis["left"] != spis["right"] and all(len(v) == 2 for v in spis.values()):
        run.v.problems.append(f"{what}: the kernels hold different SAs: left"
                              f" {sorted(map(hex, spis['left']))}, right"
                              f" {sorted(map(hex, spis['right']))}")


def allowed_pairs(run: Run, what: str) -> None:
    """After both sides initiated: each kernel holds 1..MAX_PAIRS pairs, both kernels
    the same SAs; more than one pair is a duplicate (RFC 7296 allows it): a note."""
    held = {side: run.esp(side) for side in SIDES}
    spis = {side: {sa.spi for sa in sas} for side, sas in held.items()}
    for side, sas in held.items():
        mine = run.s.peer(side).address
        out = sum(sa.src == mine for sa in sas)
        inn = len(sas) - out
        if not 1 <= out <= MAX_PAIRS or out != inn:
            run.v.problems.append(f"{what}: {side}'s kernel holds {out} outbound and {inn}"
                                  f" inbound ESP SA(s) (allowed: 1 to {MAX_PAIRS} pairs)")
        elif out > 1:
            run.v.notes.append(f"{what}: duplicate Child SAs: {side}'s kernel holds {out}"
                               " pairs (RFC 7296 allows it)")
    if spis["left"] != spis["right"]:
        only = {side: sorted(f"0x{x:08x}" for x in spis[side] - spis[other_side(side)])
                for side in SIDES}
        run.v.problems.append(f"{what}: SAs in one kernel only: {only}")


def chained(s: Scenario) -> bool:
    """Whether a Child SA's rekeys by lifetime follow each other so closely that the next
    can begin before a side must have deleted what the last one replaced (the rekey
    interval, lifetime less margin, at most DELETE_DELAY + DELETE_SLACK): then the pairs
    are judged as a chain (rekeyed_pair), else one pair each (one_pair_each)."""
    interval = min(s.child_lifetime_of(side) - (s.margin_of(side) or 0) for side in SIDES)
    return interval <= DELETE_DELAY + DELETE_SLACK


def rekeyed_pair(run: Run, what: str, before: dict[str, set[int]]) -> set[int]:
    """After a rekey by lifetime (see the module): the pair the traffic moved to, i.e. each
    side's newest outbound SA, must be in both kernels; every other SA a kernel holds must
    be older (a replaced SA in the holder's delete delay: it must go within DELETE_DELAY +
    DELETE_SLACK; those held ``before`` the rekey are the caller's "old SAs" check) or newer
    (the next rekey). Returns the pair's SPIs (the wire must show them carrying the stream)."""
    held = {side: run.esp(side) for side in SIDES}
    lives = {side: run.record.monitor.lives(side) for side in SIDES}

    def added(side: str, spi: int) -> float:
        life = lives[side].get(spi)
        return life.added if life is not None else float("-inf")

    pair: set[int] = set()
    for side in SIDES:
        outs = [sa.spi for sa in held[side] if sa.src == run.s.peer(side).address]
        if not outs:
            run.v.problems.append(f"{what}: {side}'s kernel holds no outbound ESP SA")
            continue
        pair.add(max(outs, key=lambda spi: added(side, spi)))
    for side in SIDES:
        missing = pair - {sa.spi for sa in held[side]}
        if missing:
            run.v.problems.append(f"{what}: {side}'s kernel lacks {spi_text(missing)} of the pair"
                                  f" the traffic moved to {spi_text(pair)}")
    newest = {side: max((added(side, spi) for spi in pair), default=float("-inf"))
              for side in SIDES}
    older = {side: {sa.spi for sa in held[side] if sa.spi not in pair
                    and added(side, sa.spi) < newest[side]} for side in SIDES}
    newer = {side: {sa.spi for sa in held[side] if sa.spi not in pair} - older[side]
             for side in SIDES}
    older = {side: spis - before.get(side, set()) for side, spis in older.items()}
    kept = ", ".join(f"{side} {spi_text(spis)}" for side, spis in older.items() if spis)
    if kept:
        run.v.notes.append(f"{what}: besides the pair {spi_text(pair)}, replaced SAs still held:"
                           f" {kept} (a delete delay)")
        deadline = DELETE_DELAY + DELETE_SLACK
        if wait_until(lambda: not any(older[side] & run.spis()[side] for side in SIDES),
                      deadline, interval=0.1) is None:
            left = ", ".join(f"{side} {spi_text(older[side] & run.spis()[side])}" for side in SIDES)
            run.v.problems.append(f"{what}: replaced SAs still held {deadline:g} s later: {left}")
    if any(newer.values()):
        run.v.notes.append(f"{what}: the next rekey has begun: "
                           + ", ".join(f"{side} {spi_text(spis)}" for side, spis in newer.items()))
    return pair
