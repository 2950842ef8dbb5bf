"""--lab-repeat=N: every lab cell runs N times, and each cell's pass ratio is reported.

Like pytest-repeat, each run is its own test item, with ``-repIofN`` appended to its
parameter id (``test_interop[...-aes128-sha1-rep2of5]``): ``-k`` selects cells as
before (``-k rep1of5`` selects one run of each), xdist spreads the runs over its
workers, and JUnit XML holds every run. At the end the terminal summary gives each
cell's ratio, intermittent cells first: "fails 1 time in 5" is what a bug report needs.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import pytest

from lab.errors import UsageError

FIXTURE = "lab_repeat"
MAX_REPEAT = 1000
_SUFFIX = re.compile(r"-rep(\d+)of(\d+)(?=\]$)")


def parse_repeat(text: str | None, option: str = "--lab-repeat") -> int:
    """The option's value as a count; one line naming the option when it is bad."""
    if text is None or text == "":
        return 1
    try:
        n = int(text)
    except ValueError:
        n = 0
    if not 1 <= n <= MAX_REPEAT:
        raise UsageError(f"{option}: {text!r} is not allowed (allowed: a whole number"
                         f" from 1 to {MAX_REPEAT})")
    return n


def run_ids(n: int) -> list[str]:
    return [f"rep{i}of{n}" for i in range(1, n + 1)]


def base_id(nodeid: str) -> tuple[str, int, int]:
    """``test[x-rep2of5]`` -> (``test[x]``, 2, 5); a node id without a repeat -> (id, 1, 1)."""
    m = _SUFFIX.search(nodeid)
    if not m:
        return nodeid, 1, 1
    return nodeid[:m.start()] + nodeid[m.end():], int(m[1]), int(m[2])


def status_of(report: Any) -> str | None:
    """One run's result from its reports: passed, failed, skipped or xfailed (None while
    the report does not decide it, e.g. a passing setup)."""
    if report.when == "call" or report.failed or report.skipped:
        if hasattr(report, "wasxfail"):
            return "xfailed" if report.skipped else ("failed" if report.failed else "passed")
        return report.outcome
    return None


@dataclass
class CellRuns:
    """The runs of one cell and what each ended with."""

    nodeid: str
    statuses: list[str] = field(default_factory=list)
    first_failure: str = ""

    @property
    def runs(self) -> int:
        return len(self.statuses)

    @property
    def failures(self) -> int:
        return self.statuses.count("failed")

    @property
    def intermittent(self) -> bool:
        return 0 < self.failures < self.runs

    def describe(self) -> str:
        n = self.runs
        if self.failures == 0:
            kinds = sorted(set(self.statuses))
            return f"{self.nodeid}: {'/'.join(kinds)} {n} of {n}"
        if self.failures == n:
            verdict = f"fails {n} of {n}"
        else:
            times = "time" if self.failures == 1 else "times"
            verdict = f"fails {self.failures} {times} in {n} (intermittent)"
        why = f": {self.first_failure}" if self.first_failure else ""
        return f"{self.nodeid}: {verdict}{why}"


def tally(results: list[tuple[str, str, str]]) -> list[CellRuns]:
    """(nodeid, status, failure message) per run -> one CellRuns per cell, intermittent
    cells first, then those that always failed, then the rest (pure)."""
    cells: dict[str, CellRuns] = defaultdict(lambda: CellRuns(""))
    for nodeid, status, message in results:
        base, _, _ = base_id(nodeid)
        cell = cells[base]
        cell.nodeid = base
        cell.statuses.append(status)
        if status == "failed" and not cell.first_failure:
            cell.first_failure = message.strip().splitlines()[0] if message.strip() else ""
    rank = {True: 0, False: 1}
    return sorted(cells.values(), key=lambda c: (rank[c.intermittent], -c.failures, c.nodeid))


class RepeatReport:
    """On the controller: collects each run's result, prints the ratios at the end."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.results: dict[str, tuple[str, str]] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        status = status_of(report)
        if status is None or (report.nodeid in self.results and status != "failed"):
            return
        message = ""
        if report.failed:
            crash = getattr(report.longrepr, "reprcrash", None)
            message = crash.message if crash is not None else str(report.longrepr)
        self.results[report.nodeid] = (status, message)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        cells = tally([(k, s, m) for k, (s, m) in self.results.items()])
        if not cells:
            return
        tr = terminalreporter
        flaky = sum(c.intermittent for c in cells)
        tr.section(f"ipsec-lab repeats: {len(cells)} cells x {self.n} runs,"
                   f" {flaky} intermittent")
        for cell in cells:
            tr.write_line(cell.describe())
