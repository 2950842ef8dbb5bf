"""Every example file runs after setup: each scenarios/files/*.toml, as a person runs it
(``ipsec-lab run --scenario FILE``, no flavor override), must end in PASS.

The command is started as its own process, so the file goes the whole way the command
goes (argument parsing, the flavor check, the kernel choice, the keeper, the summary).
A new example file is picked up by the glob: one that cannot run after ``ci/setup.sh``
fails here.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

FILES = sorted((Path(__file__).parent / "files").glob("*.toml"))


def test_there_are_example_files() -> None:
    assert len(FILES) >= 10, FILES


@pytest.mark.lab
@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_example_file_passes(path: Path, tmp_path: Path) -> None:
    argv = [sys.executable, "-m", "lab", "run", "--scenario", str(path), "--rundir", str(tmp_path)]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=600, env=dict(os.environ),
                          cwd=tmp_path, check=False)
    out = proc.stdout + proc.stderr
    tail = "\n".join(out.splitlines()[-25:])
    assert proc.returncode == 0, f"ipsec-lab run --scenario {path.name}: exit {proc.returncode}\n{tail}"
    assert out.rstrip().endswith("PASS"), tail
