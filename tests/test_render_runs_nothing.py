"""Issue 21 finding 2: `ipsec-lab render` runs no program, not even a tree's `pluto
--version` (a tree's "pluto" could be anything, and render ran it as root). Where a driver
would ask its daemon, the answer is "unknown"; trees that are no daemon's render too."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from lab.cli.main import main


@pytest.fixture
def no_process(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    started: list[list[str]] = []

    def refuse(self: subprocess.Popen[bytes], args: list[str], *a: object, **kw: object) -> None:
        started.append(list(args))
        raise AssertionError(f"render started {args}")

    monkeypatch.setattr(subprocess.Popen, "__init__", refuse)
    return started


def fake_tree(root: Path) -> Path:
    for d in ("proc", "tmp", "run", "usr/libexec/ipsec", "usr/sbin", "usr/bin"):
        (root / d).mkdir(parents=True)
    for exe in ("usr/libexec/ipsec/pluto", "usr/sbin/racoon", "usr/sbin/swanctl"):
        (root / exe).write_text("#!/bin/sh\ntouch /tmp/pwned\n")
        (root / exe).chmod(0o755)
    return root


@pytest.mark.parametrize("impl", ["libreswan", "strongswan", "racoon"])
@pytest.mark.parametrize("tree", ["fake", "empty", "/etc"])
def test_render_runs_no_program(tmp_path: Path, no_process: list[list[str]], impl: str, tree: str,
                                capsys: pytest.CaptureFixture[str]) -> None:
    path = {"fake": lambda: fake_tree(tmp_path / "t"), "empty": lambda: tmp_path,
            "/etc": lambda: Path("/etc")}[tree]()
    ike = ["--ike", "v1"] if impl == "racoon" else []
    assert main(["render", "--left", f"{impl}@{path}", "--right", impl, *ike]) == 0
    out = capsys.readouterr().out
    assert no_process == [] and out.startswith(f"==> left ({impl}@{path})"), no_process
