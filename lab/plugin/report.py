"""What the plugin adds to the reports: each test's cells (outcome, path, artifacts) and,
with --lab-keep-up, the first failed cell brought up again after the run."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from lab.pathreport import PROPERTY as PATH_PROPERTY


def annotate(item: pytest.Item, report: pytest.TestReport) -> None:
    """A test's report, with what its cells saw: a known incompatibility that is gone,
    the cells' outcomes and paths, the artifacts and the command that reproduces a
    failure (JUnit: properties of the item)."""
    known = item.get_closest_marker("known_incompatibility")
    if known and report.when == "call" and report.failed and \
            str(report.longrepr).startswith("[XPASS(strict)]"):
        report.longrepr = known.kwargs["xpass"]  # loud: the incompatibility is gone
    fixture = getattr(item, "_lab_fixture", None)
    if fixture is not None and report.when == "call":
        seen = [f"expected {cell.scenario.expect}, seen {cell.outcome}"
                for cell, _ in fixture.cells if cell.outcome is not None]
        if seen:  # shown for failures, and for passes with -rP
            report.sections.append(("ipsec-lab outcome", "\n".join(seen)))
            for props in (report.user_properties, item.user_properties):  # JUnit: the item's
                props.append(("outcome", "\n".join(seen)))
    paths = [cell.path_summary() for cell, _ in (fixture.cells if fixture else [])
             if not cell.scenario.path.plain or cell.scenario.encapsulation != "auto"]
    if paths and report.when == "call":
        for props in (report.user_properties, item.user_properties):
            props.append((PATH_PROPERTY, " | ".join(paths)))
    if fixture is not None and report.failed and fixture.cells:
        report.sections.append(("ipsec-lab", fixture.describe_artifacts()))



class KeepUp:
    """--lab-keep-up, on the controller: after the run, bring the first failed cell's
    scenario up again as a lab that stays up, for `ipsec-lab shell` and `exec`."""

    def __init__(self) -> None:
        self.failed: list[tuple[str, str]] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        cell = dict(report.user_properties).get("failed_cell")
        if report.when == "teardown" and cell:
            self.failed.append((report.nodeid, str(cell)))

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.failed:
            return
        nodeid, rundir = self.failed[0]
        tr = terminalreporter
        tr.section("ipsec-lab: keeping a failed cell up")
        tr.write_line(f"{nodeid}: ipsec-lab up --scenario {rundir}/scenario.toml --name failed")
        proc = subprocess.run([sys.executable, "-m", "lab", "up", "--scenario",
                               f"{rundir}/scenario.toml", "--name", "failed"],
                              capture_output=True, text=True, check=False)
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-3:]
        for line in tail:
            tr.write_line(line)
        tr.write_line("get inside: ipsec-lab shell left --name failed; "
                      "when done: ipsec-lab down --name failed")
