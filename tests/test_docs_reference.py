"""The generated docs pages match the code: every key the scenario loader accepts is in
docs/reference/scenario-keys.md, and neither generated page is stale."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from lab import scenario
from lab.native import PLACES
from lab.topology.path import PATH_KEYS

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "reference" / "scenario-keys.md"


def _gen():
    spec = importlib.util.spec_from_file_location("gen_reference", ROOT / "docs" / "gen_reference.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _section(title: str) -> set[str]:
    """The keys in the first column of one section's table."""
    text = PAGE.read_text()
    start = text.index(f"## {title}")
    end = text.find("\n## ", start + 1)
    body = text[start:end if end > 0 else None]
    return set(re.findall(r"^\| `([a-z_]+)` \|", body, re.M))


def test_every_key_the_loader_accepts_is_on_the_page() -> None:
    assert _section("Top level") == scenario.TOP_KEYS
    assert _section("`[left]` and `[right]`") == scenario.PEER_KEYS
    assert _section("`[path]`") == set(PATH_KEYS)
    native = PAGE.read_text()
    for daemon, places in PLACES.items():
        for place in places:
            assert f"| `{daemon}` | `{place}` |" in native


def test_generated_pages_are_not_stale() -> None:
    gen = _gen()
    for page, make in gen.PAGES.items():
        assert page.read_text() == make(), f"{page} is stale: run .venv/bin/python docs/gen_reference.py"


def test_a_key_without_a_description_stops_the_generator() -> None:
    gen = _gen()
    described = dict(gen.TOP)
    del described["vanish"]
    try:
        gen._table(scenario.TOP_KEYS, scenario.Scenario, described, "top-level")
    except SystemExit as exc:
        assert "vanish" in str(exc)
    else:
        raise AssertionError("an undescribed key was let through")
