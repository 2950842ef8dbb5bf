"""What the installed Libreswan says of itself: its version (pluto --version), whether
algparse takes a proposal list, whether the flavor's ipsec.service flushes the kernel's
IPsec state after pluto stopped. Each answer is asked once per flavor and remembered."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from lab import probes
from lab import run as runner
from lab.daemons.libreswan.words import LIBEXEC
from lab.flavors import Flavor


@cache
def pluto_version(flavor: Flavor, tag: str) -> str:
    def ask() -> str:
        out = runner.run([f"{LIBEXEC}/pluto", "--version"], tag=tag, check=False,
                         preexec=flavor.enter_new(Path("/tmp")))
        m = re.search(r"Libreswan (\S+)", out.stdout + out.stderr)
        return m.group(1) if m else "unknown"

    return probes.remembered(flavor, f"{LIBEXEC}/pluto", "--version", ask)


@cache
def algparse_error(flavor: Flavor, tag: str, ike_version: int, what: str) -> str | None:
    def ask() -> str | None:
        out = runner.run([f"{LIBEXEC}/algparse", f"-v{ike_version}", what], tag=tag, check=False,
                         preexec=flavor.enter_new(Path("/tmp")))
        if out.returncode == 0:
            return None
        errors = [ln.strip() for ln in (out.stdout + out.stderr).splitlines() if "ERROR" in ln]
        return errors[0].removeprefix("ERROR: ") if errors else f"algparse rejected {what!r}"

    return probes.remembered(flavor, f"{LIBEXEC}/algparse", f"-v{ike_version} {what}", ask)


#: the flavor's systemd unit, and what in its ExecStopPost flushes the kernel's IPsec state
UNIT = "/usr/lib/systemd/system/ipsec.service"
UNIT_FLUSH = re.compile(r"^ExecStopPost=.*\bip xfrm state flush", re.M)


@cache
def flushes_after_stop(flavor: Flavor) -> bool:
    """Whether the flavor's ipsec.service flushes XFRM state and policies once pluto has
    stopped, a crash included (Debian's 4.10 does; 5.2's does not)."""
    try:
        return bool(UNIT_FLUSH.search(flavor.host_path(UNIT).read_text(errors="replace")))
    except OSError:
        return False


def major_version(flavor: Flavor, tag: str) -> int:
    version = pluto_version(flavor, tag)
    return int(version.split(".")[0]) if version[:1].isdigit() else 4

