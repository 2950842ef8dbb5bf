"""Native settings: the escape hatch. A side's own lines, per daemon, at a named place in
the files the lab renders, e.g. in a scenario file::

    [left.native.libreswan]
    conn = ["fragmentation=yes"]

The lines are the user's text, written as they are, but each stays one statement: no line
breaks or control characters, balanced braces where the syntax has blocks (strongSwan,
racoon), and ``key=value`` where the syntax is nothing else (Libreswan). A line that sets a
key the lab writes too replaces the lab's line (Libreswan refuses a key twice).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lab.errors import ScenarioError

#: daemon -> the places its lines can go, and what each is
PLACES: dict[str, dict[str, str]] = {
    "libreswan": {"setup": "ipsec.conf 'config setup'", "conn": "ipsec.conf 'conn lab'"},
    "strongswan": {"charon": "strongswan.conf 'charon { }'",
                   "connection": "swanctl.conf 'connections.lab { }'",
                   "child": "swanctl.conf 'connections.lab.children.lab { }'"},
    "racoon": {"remote": "racoon.conf 'remote { }'", "sainfo": "racoon.conf each 'sainfo { }'"},
}
#: daemons whose syntax nests blocks in braces
BRACES = ("strongswan", "racoon")
LINE_MAX = 400
LIBRESWAN_LINE = re.compile(r"[A-Za-z][A-Za-z0-9_-]*\s*=.*")
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
    code, closed = _swan_code(line) if daemon == "strongswan" else _code(line)
    if not closed:
        raise ScenarioError(f"{where}: {line!r} leaves a '\"' open (allowed: one statement; a"
                            " quoted string closes on the same line)")
    if daemon in BRACES:
        depth = 0
        for c in code:  # braces in quotes or after a '#' do not open or close a block
            depth += {"{": 1, "}": -1}.get(c, 0)
            if depth < 0:
                break
        if depth != 0:
            raise ScenarioError(f"{where}: {line!r} has unbalanced braces (allowed: one"
                                " statement; a block opens and closes on the same line)")
    if daemon == "racoon" and not code.rstrip().endswith((";", "}")):
        raise ScenarioError(f"{where}: {line!r} does not end its statement (allowed: one racoon.conf"
                            " statement ending in ';' or a block closing in '}')")
    if daemon == "libreswan" and not LIBRESWAN_LINE.fullmatch(line.strip()):
        raise ScenarioError(f"{where}: {line!r} is not key=value (allowed: one ipsec.conf"
                            " setting such as 'fragmentation=yes')")
    return line.strip()


def _code(line: str) -> tuple[str, bool]:
    """The line with its quoted strings and its comment blanked out, and whether every
    quoted string closes: an open one would run on into the lab's next lines."""
    out, quoted, i = [], False, 0
    while i < len(line):
        c = line[i]
        if quoted:
            if c == '"':
                quoted = False
            out.append(" ")
        elif c == '"':
            quoted = True
            out.append(" ")
        elif c == "#":
            break
        else:
            out.append(c)
        i += 1
    return "".join(out), not quoted


#: strongSwan's settings lexer (libstrongswan settings_lexer.l): an unquoted include
#: pattern ends at a blank, '#' or '}' unless a backslash escapes it
SWAN_INCLUDE = re.compile(r"include[\t ]+(?=[^=])")
SWAN_INCLUDE_ESCAPES = '"#} '


def _swan_string(line: str, i: int) -> int:
    """The index after the quoted string opening at ``i`` (a backslash escapes any
    character), or -1 if it does not close on the line."""
    i += 1
    while i < len(line):
        if line[i] == "\\":
            i += 2
            continue
        if line[i] == '"':
            return i + 1
        i += 1
    return -1


def _swan_code(line: str) -> tuple[str, bool]:
    """As strongSwan's lexer reads the line: only the braces that open or close a section
    are kept, everything else is blanked. In a value ('key = ...') a '{' is text and a '}'
    ends the value and closes a section; in an unquoted include pattern '\\#', '\\}',
    '\\"' and '\\ ' are escapes; '#' elsewhere starts a comment. A '"' where no value or
    include pattern is open is a lexer error, reported as an open string."""
    out, state, i = [], "top", 0
    while i < len(line):
        c = line[i]
        include = SWAN_INCLUDE.match(line + "\n", i) if state == "top" else None
        if include:
            out.append(" " * include.end())
            state, i = "inc", include.end()
            continue
        if c == '"':
            end = _swan_string(line, i)
            if state == "top" or end < 0:
                return "".join(out), False
            out.append(" " * (end - i))
            state, i = ("top" if state == "inc" else state), end
            continue
        if state == "inc" and c == "\\" and line[i + 1:i + 2] in tuple(SWAN_INCLUDE_ESCAPES):
            out.append("  ")
            i += 2
            continue
        if c == "#":
            break
        if c == "}" or (state == "top" and c == "{"):
            out.append(c)
            state = "top"
        elif state == "inc" and c in "\t ":
            state = "top"
            out.append(" ")
        else:
            state = "val" if (state == "top" and c == "=") else state
            out.append(" " if state != "top" or c in "\t =" else "x")
        i += 1
    return "".join(out), True


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


#: (daemon, place) -> settings (a key's path of section names, '*' any one) that a native
#: line may not set because the lab's own config makes them do nothing, and why
NO_EFFECT: dict[tuple[str, str], dict[tuple[str, ...], str]] = {
    ("strongswan", "charon"): {
        ("plugins", "*", "load"): "has no effect: the lab loads a fixed plugin list"
        " (charon's load, with load_modular = no), and a plugin's own load setting counts only"
        " with load_modular = yes (allowed: a 'load = PLUGIN PLUGIN ...' line, which replaces"
        " the lab's list)",
    },
}


def swan_keys(line: str) -> list[tuple[str, ...]]:
    """The settings a strongSwan line sets, each as its path of section names and key
    (``plugins { eap-md5 { load = yes } }`` -> ``[("plugins", "eap-md5", "load")]``)."""
    code, _ = _swan_code(line)
    path: list[str] = []
    found = []
    for m in re.finditer(r"x+|[{}]", code):
        if m.group() == "}":
            path = path[:-1]
        elif m.group() != "{":
            name = line[m.start():m.end()]
            if code[m.end():].lstrip().startswith("{"):
                path.append(name)
            else:
                found.append((*path, name))
    return found


def _check_effect(daemon: str, place: str, line: str, where: str) -> None:
    refused = NO_EFFECT.get((daemon, place), {})
    for key in swan_keys(line) if daemon == "strongswan" else []:
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


#: daemon -> keys and words of its syntax that run a command or open a file by name
#: (updown scripts, start scripts, log files, includes, key and secret paths)
RISKY: dict[str, re.Pattern[str]] = {
    "libreswan": re.compile(r"\s*(?:left|right)?(?:updown|statsbin|logfile|plutostderrlog|dumpdir"
                            r"|ipsecdir|secretsfile|nssdir|rundir|leftcert|rightcert)\s*=", re.I),
    "strongswan": re.compile(r".*(?:^|[\s{])(?:start-scripts|stop-scripts|updown|filelog|include"
                             r"|path|file|load_modular|cacert|cert|key)\b"),
    "racoon": re.compile(r".*\b(?:script|include|path|logfile|adminsock|chroot|certificate_type"
                         r"|ca_type|peers_certfile)\b"),
}


def risky(native: Native, side: str) -> list[str]:
    """The lines that can run a command or open a file, each with its place."""
    return [f"{side}.native.{n.daemon}.{n.place}: {line}" for n in native for line in n.lines
            if RISKY[n.daemon].match(line)]


def summary(native: Native, side: str) -> list[str]:
    """One line per place, for the run summary."""
    return [f"{side}.native.{n.daemon}.{n.place}: {' | '.join(n.lines)}" for n in native]
