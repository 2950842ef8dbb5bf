"""Native settings: the escape hatch. A side's own lines, per daemon, at a named place in
the files the lab renders, e.g. in a scenario file::

    [left.native.libreswan]
    conn = ["fragmentation=yes"]

The lines are the user's text, written as they are, but each stays one statement: no line
breaks or control characters, balanced braces where the syntax has blocks (strongSwan,
racoon), and ``key=value`` where the syntax is nothing else (Libreswan). A line that sets a
key the lab writes too replaces the lab's line (Libreswan refuses a key twice).

What differs between daemons is data beside each driver (lab.native_rules.NativeRules:
lab.daemons.libreswan.native, lab.daemons.strongswan.native, lab.daemons.racoon.native);
``RULES`` is the one table of them. A new daemon adds its rules there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lab.daemons.libreswan.native import RULES as LIBRESWAN
from lab.daemons.racoon.native import RULES as RACOON
from lab.daemons.strongswan.native import RULES as STRONGSWAN
from lab.errors import ScenarioError
from lab.native_rules import NativeRules

#: daemon -> the rules of its native lines
RULES: dict[str, NativeRules] = {r.daemon: r for r in (LIBRESWAN, STRONGSWAN, RACOON)}
#: daemon -> the places its lines can go, and what each is
PLACES: dict[str, dict[str, str]] = {d: dict(r.places) for d, r in RULES.items()}
LINE_MAX = 400
KEY_VALUE = re.compile(r"\s*([A-Za-z0-9_.-]+)\s*=")


@dataclass(frozen=True)
class NativeLines:
    daemon: str
    place: str
    lines: tuple[str, ...]


Native = tuple[NativeLines, ...]


def _allowed_places() -> str:
    return "; ".join(f"{d}: {', '.join(p)}" for d, p in PLACES.items())


def check_line(daemon: str, line: object, where: str) -> str:
    if not isinstance(line, str):
        raise ScenarioError(f"{where}: {line!r} is not a string (allowed: one line of"
                            f" {daemon}'s own syntax)")
    bad = next((c for c in line if not c.isprintable()), None)
    if bad is not None or not line.strip() or len(line) > LINE_MAX:
        what = f"holds {bad!r}" if bad is not None else "is empty or too long"
        raise ScenarioError(f"{where}: {line[:80]!r} {what} (allowed: one statement of 1 to"
                            f" {LINE_MAX} printable characters, no line break)")
    rules = RULES[daemon]
    code, closed = rules.lexer(line)
    if not closed:
        raise ScenarioError(f"{where}: {line!r} leaves a '\"' open (allowed: one statement; a"
                            " quoted string closes on the same line)")
    if rules.braces:
        depth = 0
        for c in code:  # braces in quotes or after a '#' do not open or close a block
            depth += {"{": 1, "}": -1}.get(c, 0)
            if depth < 0:
                break
        if depth != 0:
            raise ScenarioError(f"{where}: {line!r} has unbalanced braces (allowed: one"
                                " statement; a block opens and closes on the same line)")
    if rules.statement is not None and not rules.statement(line, code):
        raise ScenarioError(f"{where}: {line!r} {rules.not_a_statement}")
    return line.strip()


def parse_native(raw: object, where: str) -> Native:
    """``{daemon: {place: [line, ...]}}`` as a scenario file holds it."""
    if not isinstance(raw, dict):
        raise ScenarioError(f"{where}: {raw!r} is not a table (allowed: [SIDE.native.DAEMON]"
                            f" with PLACE = [lines]; {_allowed_places()})")
    out = []
    for daemon, places in raw.items():
        if daemon not in PLACES:
            raise ScenarioError(f"{where}.{daemon}: unknown daemon (allowed: {', '.join(PLACES)})")
        if not isinstance(places, dict):
            raise ScenarioError(f"{where}.{daemon}: {places!r} is not a table (allowed: PLACE ="
                                f" [lines] with PLACE one of {', '.join(PLACES[daemon])})")
        for place, lines in places.items():
            here = f"{where}.{daemon}.{place}"
            if place not in PLACES[daemon]:
                raise ScenarioError(f"{here}: unknown place for {daemon}"
                                    f" (allowed: {', '.join(PLACES[daemon])})")
            if isinstance(lines, str):
                lines = [lines]
            if not isinstance(lines, list):
                raise ScenarioError(f"{here}: {lines!r} is not a list of lines")
            checked = tuple(check_line(daemon, line, f"{here}[{i}]") for i, line in enumerate(lines))
            for i, line in enumerate(checked):
                _check_effect(daemon, place, line, f"{here}[{i}]")
            out.append(NativeLines(daemon, place, checked))
    return tuple(out)


def _check_effect(daemon: str, place: str, line: str, where: str) -> None:
    rules = RULES[daemon]
    refused = rules.no_effect.get(place, {})
    for key in rules.keys(line) if rules.keys else []:
        why = next((w for k, w in refused.items() if len(k) == len(key)
                    and all(a in ("*", b) for a, b in zip(k, key, strict=True))), None)
        if why:
            raise ScenarioError(f"{where}: {line!r} sets {'.'.join(key)}, which {why}")


def check_native(native: object, where: str) -> None:
    """Native lines built in Python get the same checks as those read from a file."""
    if not isinstance(native, tuple) or not all(isinstance(n, NativeLines) for n in native):
        raise ScenarioError(f"{where}: {native!r} is not a tuple of NativeLines")
    for n in native:
        parse_native({n.daemon: {n.place: list(n.lines)}}, where)


def native_to_dict(native: Native) -> dict[str, dict[str, list[str]]]:
    out: dict[str, dict[str, list[str]]] = {}
    for n in native:
        out.setdefault(n.daemon, {}).setdefault(n.place, []).extend(n.lines)
    return out


def lines_for(native: Native, daemon: str, place: str) -> list[str]:
    return [line for n in native if (n.daemon, n.place) == (daemon, place) for line in n.lines]


def key_of(line: str) -> str | None:
    """The key a ``key = value`` line sets, or None."""
    m = KEY_VALUE.match(line)
    return m.group(1) if m else None


def overridden(native: list[str]) -> set[str]:
    """Keys the native lines set: the lab leaves its own lines for them out."""
    return {k for k in map(key_of, native) if k is not None}


def risky(native: Native, side: str) -> list[str]:
    """The lines that can run a command or open a file, each with its place."""
    return [f"{side}.native.{n.daemon}.{n.place}: {line}" for n in native for line in n.lines
            if RULES[n.daemon].risky.match(line)]


def summary(native: Native, side: str) -> list[str]:
    """One line per place, for the run summary."""
    return [f"{side}.native.{n.daemon}.{n.place}: {' | '.join(n.lines)}" for n in native]
