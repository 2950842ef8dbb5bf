"""The Python examples of the docs run: each ```python block of the pages below is run as
test code here, so a page cannot show a test that no longer works.

A block's ``test_*`` functions become tests of this module, named after the page and the
function; they take the ``lab`` fixture like any other test and are marked ``lab``.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", ROOT / "docs" / "writing-tests.md"]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def blocks(page: Path) -> list[str]:
    return BLOCK.findall(page.read_text())


def _collect() -> dict[str, object]:
    found: dict[str, object] = {}
    for page in PAGES:
        stem = page.stem.lower().replace("-", "_")
        for n, code in enumerate(blocks(page), 1):
            space: dict[str, object] = {"__name__": f"{__name__}.{stem}_{n}"}
            exec(compile(code, f"{page.relative_to(ROOT)} (python block {n})", "exec"), space)
            for name, value in space.items():
                if name.startswith("test_") and callable(value):
                    found[f"test_{stem}_{n}_{name[5:]}"] = value
    return found


globals().update(_collect())


def test_the_pages_have_examples() -> None:
    assert all(blocks(page) for page in PAGES)
    assert sum(name.startswith("test_readme_") for name in globals()) >= 1
    assert sum(name.startswith("test_writing_tests_") for name in globals()) >= 3
