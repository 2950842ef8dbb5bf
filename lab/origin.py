"""Where a scenario comes from: a case of a daemon's own test suite (metadata only).

A scenario translated from strongSwan's ``testing/tests`` or Libreswan's ``testing/pluto``
names its origin in an ``[origin]`` table: the project, the case's path in that project's
tree, the commit it was read at, what the original checks (in the translator's words) and
what of that the lab cannot check yet. Nothing here reaches a daemon's configuration; the
upstream suite (scenarios/test_upstream.py) counts the ``not_checked`` lines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from lab.errors import ScenarioError

PROJECTS = ("strongswan", "libreswan")
#: where each project keeps its cases
TREES = {"strongswan": "testing/tests/", "libreswan": "testing/pluto/"}
KEYS = ("project", "path", "commit", "checks", "not_checked")
LINE_MAX = 300
_PATH = re.compile(r"[A-Za-z0-9._+-]+(/[A-Za-z0-9._+-]+)*")
_COMMIT = re.compile(r"[0-9a-f]{40}")


@dataclass(frozen=True)
class Origin:
    project: str
    path: str
    commit: str
    #: what the original case checks, one claim a line
    checks: tuple[str, ...]
    #: what of that the lab cannot say yet (the suite's summary counts these lines)
    not_checked: tuple[str, ...] = ()

    @property
    def case(self) -> str:
        """The case's name: the last part of its path."""
        return self.path.rstrip("/").rsplit("/", 1)[-1]

    def to_dict(self) -> dict[str, Any]:
        return {"project": self.project, "path": self.path, "commit": self.commit,
                "checks": list(self.checks), "not_checked": list(self.not_checked)}


def _lines(where: str, value: Any, empty_ok: bool) -> tuple[str, ...]:
    allowed = (f"a list of {'' if empty_ok else 'at least one '}line(s) of 1 to {LINE_MAX}"
               " characters, no line breaks")
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise ScenarioError(f"{where}: {value!r} is not a list (allowed: {allowed})")
    if not value and not empty_ok:
        raise ScenarioError(f"{where}: empty (allowed: {allowed})")
    for i, line in enumerate(value):
        if not isinstance(line, str) or not line.strip() or len(line) > LINE_MAX \
                or any(c in line for c in "\r\n"):
            raise ScenarioError(f"{where}[{i}]: {line!r} is not allowed (allowed: {allowed})")
    return tuple(value)


def parse_origin(data: Any, where: str = "origin") -> Origin:
    """The ``[origin]`` table; every error one line naming the key and what is allowed."""
    if not isinstance(data, dict):
        raise ScenarioError(f"{where}: {data!r} is not a table (allowed: [origin] with"
                            f" {', '.join(KEYS)})")
    unknown = sorted(set(data) - set(KEYS))
    if unknown:
        raise ScenarioError(f"{where}.{unknown[0]}: unknown field (allowed: {', '.join(KEYS)})")
    for key in ("project", "path", "commit", "checks"):
        if key not in data:
            raise ScenarioError(f"{where}.{key}: missing (allowed: [origin] needs project,"
                                " path, commit and checks)")
    project = data["project"]
    if project not in PROJECTS:
        raise ScenarioError(f"{where}.project: {project!r} is not allowed (allowed:"
                            f" {', '.join(PROJECTS)})")
    path, tree = data["path"], TREES[project]
    if not isinstance(path, str) or not path.startswith(tree) or len(path) > LINE_MAX \
            or not _PATH.fullmatch(path) or ".." in path.split("/") or path == tree:
        raise ScenarioError(f"{where}.path: {path!r} is not allowed (allowed: a case's"
                            f" directory in {project}'s tree, {tree}CASE)")
    commit = data["commit"]
    if not isinstance(commit, str) or not _COMMIT.fullmatch(commit):
        raise ScenarioError(f"{where}.commit: {commit!r} is not allowed (allowed: the 40"
                            " lower-case hex digits of the commit the case was read at)")
    return Origin(project, path, commit, _lines(f"{where}.checks", data["checks"], False),
                  _lines(f"{where}.not_checked", data.get("not_checked", []), True))
