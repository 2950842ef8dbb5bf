"""The run's account of the path cells: at the end of the terminal report, one line per
cell with a path (lab.topology.path): its result, each daemon's IKE retransmissions, the
time to establish and the cell's wall time. The workers put each cell's line in its
report's user properties (``path``); the controller prints them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

PROPERTY = "path"


@dataclass
class PathReport:
    rows: list[tuple[str, str, float, str]] = field(default_factory=list)
    _lines: dict[str, str] = field(default_factory=dict)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        line = dict(report.user_properties).get(PROPERTY)
        if line and report.when == "call":
            result = "passed" if report.passed else ("xfailed" if hasattr(report, "wasxfail")
                                                     else "failed")
            self.rows.append((report.nodeid, result, report.duration, str(line)))

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.rows:
            return
        tr = terminalreporter
        tr.section("ipsec-lab: the path between the peers")
        for nodeid, result, duration, line in self.rows:
            name = nodeid.split("[", 1)[-1].rstrip("]") if "[" in nodeid else nodeid
            tr.write_line(f"{name}: {result} in {duration:.1f} s; {line}")
