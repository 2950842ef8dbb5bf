"""docs/own-daemon.md's test file, as ci/package-check.sh takes it out of the page: there,
about ten lines, with the `lab` fixture, and the cells it names are your build against
each peer in both roles. (ci/package-check.sh runs it for real from the installed wheel.)"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "own-daemon.md"
MARKER = "<!-- package-check: test_my_libreswan.py -->"


def example() -> str:
    """The first python block after the marker, as ci/package-check.sh's awk takes it."""
    text = PAGE.read_text()
    assert MARKER in text
    found = re.search(r"^```python\n(.*?)^```$", text[text.index(MARKER):], re.S | re.M)
    assert found, f"{PAGE.name}: no python block after {MARKER}"
    return found.group(1)


def test_the_checker_takes_the_block_this_page_has() -> None:
    script = (ROOT / "ci" / "package-check.sh").read_text()
    assert "page=docs/own-daemon.md" in script and "test_file=test_my_libreswan.py" in script
    assert '"<!-- package-check: " file " -->"' in script


def test_about_ten_lines_with_the_lab_fixture() -> None:
    code = example()
    assert len([line for line in code.splitlines() if line.strip()]) <= 12
    assert "def test_my_build(lab, cell):" in code and "lab.run(" in code


def test_your_build_meets_each_peer_in_both_roles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_LIBRESWAN", str(tmp_path))
    space: dict[str, object] = {}
    exec(compile(example(), str(PAGE), "exec"), space)
    mark = next(m for m in space["test_my_build"].pytestmark if m.name == "parametrize")  # type: ignore[attr-defined]
    cells = mark.args[1]
    mine = f"libreswan@{tmp_path}"
    assert sorted((c.initiator, c.responder) for c in cells) == sorted([
        (mine, "libreswan@sid"), ("libreswan@sid", mine),
        (mine, "strongswan@sid"), ("strongswan@sid", mine)])
    assert {(c.ike_version, c.mode) for c in cells} == {(2, "tunnel")}
