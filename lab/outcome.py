"""How a negotiation ended: established, or one class of failure read from a daemon's words.

Each driver carries a table of ``Words``: a piece of its log, the failure class it
means (one of ``lab.scenario.EXPECTS``) and how final it is. A word with ``grace`` 0
ends the negotiation as soon as it is logged; one with a grace only ends it if the
kernels still hold no SAs that many seconds later (some daemons log an error about one
message of an exchange that then completes all the same). The cell compares the
outcome with the scenario's ``expect``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from lab.scenario.allowed import EXPECTS, SIDES
from lab.scenario.model import Scenario
from lab.xfrm import SA

ESTABLISHED = "established"
#: SAs in both kernels, but in a mode a side is not configured for (no daemon refused)
OTHER_MODE = "other-mode"
FAILURES = tuple(e for e in EXPECTS if e != ESTABLISHED)
#: when both daemons' words are final at once, the more specific class tells the cause
#: (NO_PROPOSAL_CHOSEN is the catch-all notify a refusal for mode or version travels in)
SPECIFIC_FIRST = ("crashed", OTHER_MODE, "mode-mismatch", "version-mismatch",
                  "authentication-failed", "ts-unacceptable", "no-proposal-chosen", "timeout")


@dataclass(frozen=True)
class Words:
    """One entry of a driver's word table: a regular expression searched in each log line."""

    pattern: str
    cls: str
    #: seconds without SAs after the line before it is final (0: final at once)
    grace: float = 0.0
    #: why it means this class, or why it waits
    note: str = ""

    def __post_init__(self) -> None:
        if self.cls not in FAILURES:
            raise ValueError(f"Words({self.pattern!r}): class {self.cls!r} is not a failure class"
                             f" (allowed: {', '.join(FAILURES)})")
        re.compile(self.pattern)

    def search(self, line: str) -> bool:
        return re.search(self.pattern, line) is not None


def label(cls: str) -> str:
    """A class as messages name it: ``no-proposal-chosen`` -> ``NO_PROPOSAL_CHOSEN``."""
    return cls.upper().replace("-", "_")


def match(line: str, table: Iterable[Words]) -> Words | None:
    """The first entry of ``table`` that ``line`` contains, or None."""
    return next((w for w in table if w.search(line)), None)


def classify(lines: Iterable[str], table: Iterable[Words]) -> list[tuple[str, Words]]:
    """Every line that names a failure class, with the entry that says which (pure)."""
    entries = tuple(table)
    return [(line.strip(), w) for line in lines if (w := match(line, entries))]


@dataclass(frozen=True)
class Heard:
    """A daemon's word that ended (or would end) a negotiation."""

    side: str
    daemon: str
    cls: str
    line: str

    def __str__(self) -> str:
        return f"{self.daemon} ({self.side}): {self.line}"


class Listener:
    """Remembers when each classified line was first seen, so that a word with a grace
    becomes final only once its grace has passed (one per daemon, polled by the cell)."""

    def __init__(self, table: Iterable[Words]) -> None:
        self.table = tuple(table)
        self.first_seen: dict[str, float] = {}

    def final(self, lines: Iterable[str], now: float) -> tuple[str, Words] | None:
        """The first classified line whose grace has passed at ``now``, or None."""
        for line, words in classify(lines, self.table):
            seen = self.first_seen.setdefault(line, now)
            if now - seen >= words.grace:
                return line, words
        return None

    def pending(self) -> list[str]:
        return list(self.first_seen)


@dataclass(frozen=True)
class Outcome:
    """How a cell's negotiation ended, and what the lab saw to say so."""

    cls: str  # ESTABLISHED or a failure class; "crashed" when a daemon died
    seen: str  # the daemon and its words, or the SAs, or the deadline
    sas: bool = False  # both kernels hold the cell's SAs both ways

    @property
    def established(self) -> bool:
        return self.cls == ESTABLISHED

    def __str__(self) -> str:
        return f"{label(self.cls)}: {self.seen}" if self.cls != ESTABLISHED else \
            f"established: {self.seen}"

    def against(self, expect: str) -> str | None:
        """Why this outcome does not meet ``expect``, or None when it does."""
        if self.cls == expect:
            return None
        if expect == ESTABLISHED:
            return f"negotiation failed: {self}"
        if self.cls == ESTABLISHED:
            return f"expected {label(expect)}, but the negotiation succeeded: {self.seen}"
        return f"expected {label(expect)}, but it failed another way: {self}"


def mode_mismatch(scenario: Scenario, sas: dict[str, list[SA]]) -> str | None:
    """Where a side's kernel ESP SAs are not in the mode that side is configured for:
    one line naming each side's configured and negotiated mode, or None."""
    parts, differs = [], False
    for side in SIDES:
        configured = scenario.mode_of(side)
        modes = sorted({sa.mode for sa in sas.get(side, []) if sa.proto == "esp"})
        negotiated = "/".join(modes) or "none"
        differs |= modes != [configured]
        parts.append(f"{side} ({scenario.peer(side).flavor}) configured {configured},"
                     f" negotiated {negotiated}")
    return "; ".join(parts) if differs else None


def most_specific(outcomes: Iterable[Outcome | None]) -> Outcome | None:
    """The outcome whose class says most about the cause (see SPECIFIC_FIRST), or None."""
    found = [o for o in outcomes if o is not None]
    return min(found, key=lambda o: SPECIFIC_FIRST.index(o.cls)) if found else None


def established(scenario: Scenario, sas: dict[str, list[SA]]) -> Outcome:
    """The outcome of a negotiation whose SAs are in both kernels: ``other-mode`` where
    a side's SAs are not in its configured mode (a daemon that refuses over the mode
    says so in its log instead: ``mode-mismatch``, from its driver's words)."""
    mismatch = mode_mismatch(scenario, sas)
    if mismatch:
        return Outcome(OTHER_MODE, f"SAs established, but {mismatch}", sas=True)
    spis = {side: sorted(f"0x{sa.spi:08x}" for sa in held if sa.proto == "esp")
            for side, held in sas.items()}
    return Outcome(ESTABLISHED, "ESP SAs in both kernels: " + "; ".join(
        f"{side} {', '.join(v)}" for side, v in spis.items()), sas=True)
