"""The scenarios' own hooks: the upstream suite's summary at the end of a run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

UPSTREAM = Path(__file__).parent / "upstream"
UPSTREAM_ID = "test_upstream.py::test_upstream["


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Where upstream cases ran: how many, and how many lines of what the originals check
    the lab cannot check yet (their files' ``not_checked``)."""
    reports = [r for reports in terminalreporter.stats.values() for r in reports
               if UPSTREAM_ID in getattr(r, "nodeid", "") and getattr(r, "when", "call") == "call"]
    if not reports:
        return
    from lab.peers import load_case

    cases = [load_case(path) for path in sorted(UPSTREAM.glob("*.toml"))]
    lines = sum(len(s.origin.not_checked) for s in cases if s.origin)
    ran = len({r.nodeid for r in reports})
    terminalreporter.write_sep("-", "upstream suite")
    terminalreporter.write_line(f"upstream suite: {len(cases)} cases ({ran} run), {lines} lines"
                                " not checked yet (docs/upstream.md)")
