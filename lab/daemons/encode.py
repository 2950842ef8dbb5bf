"""How scenario text reaches a daemon's files without changing their meaning.

Every renderer writes free text (the scenario name, paths, the PSK) only through these
helpers: the PSK as hex of its UTF-8 bytes (``0x...``, which Libreswan's ipsec.secrets,
strongSwan's swanctl.conf and racoon's psk.txt all decode to the same bytes), paths and
names only where they cannot end a line, a quoted string or a statement.
"""

from __future__ import annotations

from pathlib import Path

from lab.errors import ScenarioError, UsageError

#: characters no path may hold anywhere in a rendered file: a quote or backslash would end or
#: escape the quoted strings racoon.conf and strongswan.conf put paths in
PATH_FORBIDDEN = '"\\'


def psk_hex(psk: str, daemon: str, max_bytes: int) -> str:
    """``0x`` and the hex of the PSK's UTF-8 bytes; longer than ``max_bytes`` is an error."""
    raw = psk.encode()
    if not raw or len(raw) > max_bytes:
        raise ScenarioError(f"psk: {len(raw)} bytes, but {daemon} takes 1 to {max_bytes}"
                            f" (allowed: printable text of 1 to {max_bytes} bytes in UTF-8)")
    return "0x" + raw.hex()


def check_path(path: Path | str, daemon: str, where: str = "peer directory") -> str:
    """A path a daemon's file names (its peer directory, a socket): printable, no quote or
    backslash. Anything else is a one-line error naming the path."""
    text = str(path)
    bad = next((c for c in text if not c.isprintable() or c in PATH_FORBIDDEN), None)
    if bad is not None:
        raise UsageError(f"{where}: {text!r} holds {bad!r}, which the config files of {daemon}"
                         " cannot hold (allowed: printable characters except \" and \\; the"
                         " peer directories are made under TMPDIR)")
    return text


def header(daemon: str, name: str, side: str, what: str, home: Path) -> str:
    """The first line of every rendered file: a comment naming the scenario and the peer."""
    path = check_path(home, daemon)
    bad = next((c for c in name if not c.isprintable()), None)
    if bad is not None:  # the scenario refuses such a name already; a comment must stay one line
        raise ScenarioError(f"name: {name!r} holds {bad!r}, which cannot go into a comment line"
                            " (allowed: printable characters)")
    return f"# ipsec-lab: {name}, {side} peer, {what} for {daemon} in {path}\n"
