"""strongswan.conf syntax (swanctl.conf's too), written from nested dicts."""

from __future__ import annotations

import re

from lab.errors import ScenarioError
from lab.native import overridden

Settings = dict[str, "str | list[str] | Settings"]
#: the key under which a section holds native lines (lab.native): written as they are
NATIVE = "#native"
#: keys and section names: the scenario never names one, the driver does
KEY = re.compile(r"[A-Za-z0-9_.-]+")
#: values written as they are; anything else is written as a quoted string
PLAIN = re.compile(r"[A-Za-z0-9._/+@:,%-]+(?: [A-Za-z0-9._/+@:,%-]+)*")


def conf_value(value: str) -> str:
    """A value in strongswan.conf syntax: plain when it is safe, else a quoted string.
    A quoted string could hold escapes, but nothing the lab writes needs them: a value
    with a quote, a backslash or a control character is refused, never rewritten."""
    if PLAIN.fullmatch(value):
        return value
    bad = next((c for c in value if not c.isprintable() or c in '"\\'), None)
    if bad is not None:
        raise ScenarioError(f"strongswan.conf value {value!r} holds {bad!r}, which the lab does"
                            " not write into strongSwan's files")
    return f'"{value}"'


def conf_text(settings: Settings, indent: int = 0) -> str:
    """strongswan.conf / swanctl.conf syntax from nested dicts (insertion order kept)."""
    pad, lines = "    " * indent, []
    for key, value in settings.items():
        if key == NATIVE:
            assert isinstance(value, list)
            lines += [f"{pad}# native"] + [f"{pad}{line}" for line in value]
            continue
        if not KEY.fullmatch(key):
            raise ScenarioError(f"strongswan.conf key {key!r} is not a plain name")
        if isinstance(value, dict):
            lines += [f"{pad}{key} {{", conf_text(value, indent + 1).rstrip("\n"), f"{pad}}}"]
        else:
            assert isinstance(value, str)
            lines.append(f"{pad}{key} = {conf_value(value)}")
    return "\n".join(line for line in lines if line) + "\n"


def with_native(section: Settings, native: list[str]) -> Settings:
    """``section`` with the native lines at its end; a line that sets one of the section's
    keys replaces the lab's value."""
    if not native:
        return section
    keys = overridden(native)
    return {**{k: v for k, v in section.items() if k not in keys}, NATIVE: native}
