"""Log assertions: per side, lines that must and must not appear in the daemon's log.

The scenario's ``[left] log_must = [...]`` and ``log_must_not = [...]`` are Python regular
expressions, each searched in every line of that side's daemon log (as strongSwan's
evaltest.dat greps a host's log). They are checked once the negotiation has ended, whatever
the scenario expects; a failure names the side, the daemon, the pattern and the log file.
"""

from __future__ import annotations

import re

from lab.errors import ScenarioError

KEYS = ("log_must", "log_must_not")
#: the words of a log_must finding (a pattern no line matches yet)
MISSING = "no line matches log_must"
PATTERN_MAX = 400
ALLOWED = ("a list of Python regular expressions, each searched in every line of the side's"
           " daemon log, e.g. 'CHILD_SA lab\\{\\d+\\} established'")


def check_patterns(where: str, value: object) -> tuple[str, ...]:
    """The patterns as a tuple, each compiled once; a bad one is one line naming it."""
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise ScenarioError(f"{where}: {value!r} is not a list (allowed: {ALLOWED})")
    for i, pattern in enumerate(value):
        if not isinstance(pattern, str) or not pattern or len(pattern) > PATTERN_MAX:
            raise ScenarioError(f"{where}[{i}]: {pattern!r} is not a pattern of 1 to"
                                f" {PATTERN_MAX} characters (allowed: {ALLOWED})")
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ScenarioError(f"{where}[{i}]: {pattern!r} is not a regular expression:"
                                f" {exc} (allowed: {ALLOWED})") from None
    return tuple(value)


def judge_log(who: str, log: str, text: str, must: tuple[str, ...],
              must_not: tuple[str, ...]) -> list[str]:
    """The findings of one side's log (pure): each ``must`` pattern no line matches, each
    ``must_not`` pattern a line matches (with the first such line and its number)."""
    lines = text.splitlines()
    found = []
    for pattern in must:
        if not any(re.search(pattern, line) for line in lines):
            found.append(f"log: {who}: {MISSING} {pattern!r} in {log}")
    for pattern in must_not:
        hit = next(((n, line) for n, line in enumerate(lines, 1) if re.search(pattern, line)), None)
        if hit:
            found.append(f"log: {who}: log_must_not {pattern!r} matches line {hit[0]} of {log}:"
                         f" {hit[1].strip()[:200]!r}")
    return found
