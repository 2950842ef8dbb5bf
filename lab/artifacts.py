"""A run directory per cell: rendered configs, daemon logs, pcap, SA and policy dumps,
timings, and the one command that reproduces the cell."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from lab.scenario.files import scenario_to_toml
from lab.scenario.model import Scenario


def run_dir_name(nodeid: str, worker: str) -> str:
    """A file-system-safe name from a pytest node id and the xdist worker id."""
    name = re.sub(r"[^A-Za-z0-9_.@+=-]+", "_", nodeid.split("::")[-1] or nodeid).strip("_")
    return f"{name[:150]}{'-' + worker if worker and worker != 'master' else ''}"


class RunDir:
    def __init__(self, path: Path) -> None:
        self.path = path

    def fresh(self) -> RunDir:
        if self.path.exists():
            shutil.rmtree(self.path)
        self.path.mkdir(parents=True)
        return self

    def write(self, name: str, text: str) -> Path:
        target = self.path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        return target

    def copy_tree(self, src: Path, name: str) -> None:
        if src.is_dir():
            shutil.copytree(src, self.path / name, dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns("*.ctl", "*.vici", "*.sock", "*.pid",
                                                          "nss", "*.db"))

    def scenario(self, scenario: Scenario) -> None:
        """scenario.toml: `ipsec-lab run --scenario` on this file reruns the cell."""
        self.write("scenario.toml", scenario_to_toml(scenario))

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
