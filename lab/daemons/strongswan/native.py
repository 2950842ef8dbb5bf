"""strongSwan's native lines (lab.native): where they go in strongswan.conf and
swanctl.conf, how strongSwan's settings lexer reads a line (braces, quoted strings,
include patterns), which settings a line sets and which of them do nothing under the lab's
config, and which keys run a command or open a file. Plain data and its lexer, below the
scenario: this module imports nothing of the driver (lab.daemons.strongswan)."""

from __future__ import annotations

import re

from lab.native_rules import NativeRules

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


def swan_code(line: str) -> tuple[str, bool]:
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



def swan_keys(line: str) -> list[tuple[str, ...]]:
    """The settings a strongSwan line sets, each as its path of section names and key
    (``plugins { eap-md5 { load = yes } }`` -> ``[("plugins", "eap-md5", "load")]``)."""
    code, _ = swan_code(line)
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


RULES = NativeRules(
    daemon="strongswan",
    places={"charon": "strongswan.conf 'charon { }'",
            "connection": "swanctl.conf 'connections.lab { }'",
            "child": "swanctl.conf 'connections.lab.children.lab { }'"},
    risky=re.compile(r".*(?:^|[\s{])(?:start-scripts|stop-scripts|updown|filelog|include"
                     r"|path|file|load_modular|cacert|cert|key)\b"),
    lexer=swan_code,
    braces=True,
    keys=swan_keys,
    no_effect={"charon": {
        ("plugins", "*", "load"): "has no effect: the lab loads a fixed plugin list"
        " (charon's load, with load_modular = no), and a plugin's own load setting counts only"
        " with load_modular = yes (allowed: a 'load = PLUGIN PLUGIN ...' line, which replaces"
        " the lab's list)",
    }},
)
