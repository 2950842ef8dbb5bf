"""Answers of a flavor's own programs, kept on disk from one run to the next.

What ``algparse`` says about a proposal, or which version a tree's package is, depends on
the files of the flavor and nothing else, yet asking costs a process started in a fresh
view of the tree: 50-160 ms each inside UML, three of them before the first cell of a run
(0.28 s of a cold start, measured). So the answer is kept in the cache directory under a
key made of the flavor, the program's size and modification time, and the question; a
rebuilt or replaced program is asked again. Writers race harmlessly: the file is replaced
whole, and an answer lost to a concurrent writer is asked again next time.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from lab import run as runner
from lab.kernel.uml import cache_dir

if TYPE_CHECKING:
    from lab.flavors import Flavor

T = TypeVar("T")
STORE = "probes.json"
#: the store is a cache: past this many answers it starts afresh
MAX_ANSWERS = 2000


def _store() -> Path:
    return cache_dir() / STORE


def _load(path: Path) -> dict[str, object]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def key(flavor: Flavor, program: str, question: str) -> str | None:
    """The key of ``question`` put to ``program`` (a path inside the flavor), or None
    when the program cannot be found (then nothing is kept)."""
    try:
        st = flavor.host_path(program).stat()
    except OSError:
        return None
    return f"{flavor.name} {program} {st.st_size} {st.st_mtime_ns}: {question}"


def remembered(flavor: Flavor, program: str, question: str, ask: Callable[[], T]) -> T:
    """The kept answer, else ``ask()``'s (a JSON value), kept for next time."""
    k = key(flavor, program, question)
    if k is None:
        return ask()
    path = _store()
    known = _load(path)
    if k in known:
        return known[k]  # type: ignore[return-value]
    answer = ask()
    if runner.programs_forbidden():  # nothing was asked: nothing to keep
        return answer
    known = _load(path)  # what others added meanwhile
    if len(known) >= MAX_ANSWERS:
        known = {}
    known[k] = answer
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{STORE}.{os.getpid()}")
        tmp.write_text(json.dumps(known, sort_keys=True))
        os.replace(tmp, path)
    except OSError:
        pass  # a cache that cannot be written only costs time
    return answer
