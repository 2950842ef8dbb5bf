#!/usr/bin/env python3
"""The matrix as a page and a summary, from JUnit XML.

    .venv/bin/python ci/report.py ci/out/scenarios.xml [--html ci/out/matrix.html] [--md ci/out/summary.md]

The page (report_html.py) has a section per test module (matrix, path, lifecycle, files,
and whatever module a run adds), a grid per IKE version and mode where the cells are pairs
of flavors; each mark names its cell in words and is coloured by its result: pass, fail,
skip, known incompatibility (a strict xfail of scenarios/known-incompatibilities.toml; one
that passed, an XPASS, is a failure of its own colour), intermittent (with --lab-repeat, a
cell that failed some runs but not all: "fails 1 time in 5"). Its reason, time and
``reproduce:`` line show on hover and pin on a click; a failed cell links to its artifacts.
The summary (report_md.py) is markdown for a CI job's page.
"""

from __future__ import annotations

import argparse
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from report_html import page as _page
from report_md import (
    releases_compared,
    releases_html,
    releases_side_by_side,
    summary,
)
from report_read import LIFECYCLE_MODE, STATUSES, Result, combine, read

__all__ = ["LIFECYCLE_MODE", "STATUSES", "Result", "combine", "page", "read", "releases_compared",
           "releases_html", "releases_side_by_side", "summary"]


def page(results: list[Result], out_dir: Path) -> str:
    """The page, the racoon releases compared at its end."""
    return _page(results, out_dir, releases_html(results))


def wall_time(paths: list[Path]) -> float | None:
    """The runs' wall time, as pytest wrote it on each JUnit test suite (summed over files)."""
    try:
        suites = [s for p in paths for s in ET.parse(p).getroot().iter("testsuite")]
        return sum(float(s.get("time") or 0) for s in suites) if suites else None
    except (ET.ParseError, ValueError):
        return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("junit", nargs="+", type=Path)
    parser.add_argument("--html", type=Path, default=Path("ci/out/matrix.html"))
    parser.add_argument("--md", type=Path, default=Path("ci/out/summary.md"))
    args = parser.parse_args()
    missing = [str(p) for p in args.junit if not p.is_file()]
    if missing:
        print(f"report: no such JUnit XML file: {', '.join(missing)}", file=sys.stderr)
        return 2
    results = read(args.junit)
    if not results:
        print("report: no test cases in " + ", ".join(map(str, args.junit)), file=sys.stderr)
        return 1
    args.html.parent.mkdir(parents=True, exist_ok=True)
    args.html.write_text(page(results, args.html.parent.resolve()))
    args.md.parent.mkdir(parents=True, exist_ok=True)
    text = summary(results, wall_time(args.junit))
    args.md.write_text(text)
    print(text, end="")
    print(f"report: {args.html}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
