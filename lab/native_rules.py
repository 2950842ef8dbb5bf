"""What a daemon's native lines must look like, as data: one ``NativeRules`` per daemon,
kept beside its driver (lab.daemons.libreswan.native, lab.daemons.racoon.native,
lab.daemons.strongswan.native), and the plain lexer most syntaxes share. lab.native holds
the table of them and applies them; the rules sit below the scenario, so neither this
module nor a daemon's rules import anything of the drivers."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

#: the settings a line sets, each as its path of section names and key
Keys = Callable[[str], list[tuple[str, ...]]]


def blank_quoted(line: str) -> tuple[str, bool]:
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


@dataclass(frozen=True)
class NativeRules:
    """One daemon's native lines: where they go, and what makes a line one statement."""

    #: the daemon's name, as a scenario's [SIDE.native.DAEMON] spells it
    daemon: str
    #: the places its lines can go, each with what it is in the rendered files
    places: Mapping[str, str]
    #: keys and words of its syntax that run a command or open a file by name (updown
    #: scripts, start scripts, log files, includes, key and secret paths)
    risky: re.Pattern[str]
    #: the line as the daemon's lexer reads it (what is no statement blanked out), and
    #: whether every quoted string closes on the line
    lexer: Callable[[str], tuple[str, bool]] = blank_quoted
    #: its syntax nests blocks in braces: a line opens and closes its own
    braces: bool = False
    #: whether (line, lexed line) is one whole statement of the daemon's syntax, and what
    #: the error says of a line that is not
    statement: Callable[[str, str], bool] | None = None
    not_a_statement: str = ""
    #: the settings a line sets (for ``no_effect``)
    keys: Keys | None = None
    #: place -> settings (a key's path of section names, '*' any one) that a line there may
    #: not set because the lab's own config makes them do nothing, and why
    no_effect: Mapping[str, Mapping[tuple[str, ...], str]] = field(default_factory=dict)
