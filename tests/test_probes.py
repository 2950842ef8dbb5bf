"""Probe answers kept on disk between runs (lab.probes)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lab import probes
from lab.flavors import Flavor
from lab.kernel.uml import CACHE_VAR


@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Flavor:
    monkeypatch.setenv(CACHE_VAR, str(tmp_path / "cache"))
    root = tmp_path / "tree"
    (root / "usr/libexec").mkdir(parents=True)
    (root / "usr/libexec/algparse").write_text("#!/bin/true\n")
    return Flavor("libreswan", "sid", root)


def test_an_answer_is_asked_once_then_kept(tree: Flavor) -> None:
    asked: list[str] = []

    def ask(answer: str | None) -> str | None:
        asked.append("x")
        return answer

    for _ in range(3):
        assert probes.remembered(tree, "/usr/libexec/algparse", "-v2 ike=aes", lambda: ask(None)) is None
        assert probes.remembered(tree, "/usr/libexec/algparse", "-v2 ike=des", lambda: ask("no")) == "no"
    assert len(asked) == 2, "None is an answer too: it must be kept"


def test_a_changed_program_is_asked_again(tree: Flavor) -> None:
    program = tree.host_path("/usr/libexec/algparse")
    assert probes.remembered(tree, "/usr/libexec/algparse", "q", lambda: "old") == "old"
    st = program.stat()
    os.utime(program, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    assert probes.remembered(tree, "/usr/libexec/algparse", "q", lambda: "new") == "new"
    other = Flavor("libreswan", "bookworm", tree.root)
    assert probes.remembered(other, "/usr/libexec/algparse", "q", lambda: "its own") == "its own"


def test_a_missing_program_or_a_broken_store_only_costs_time(tree: Flavor) -> None:
    calls = []
    for _ in range(2):
        probes.remembered(tree, "/usr/libexec/nothere", "q", lambda: calls.append(1))
    assert len(calls) == 2, "nothing is kept for a program that is not there"
    store = probes._store()
    store.parent.mkdir(parents=True, exist_ok=True)
    store.write_text("{not json")
    assert probes.remembered(tree, "/usr/libexec/algparse", "q", lambda: "fresh") == "fresh"
    assert probes.remembered(tree, "/usr/libexec/algparse", "q", lambda: "again") == "fresh"
