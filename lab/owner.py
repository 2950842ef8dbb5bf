"""Who owns a run: the process that started it, told apart from a later process that
happens to get the same PID by its start time (field 22 of /proc/PID/stat).

The owner travels with the tag: every process the lab starts carries IPSEC_LAB_OWNER
(``PID.START``) beside IPSEC_LAB_TAG, and the lab's namespaces and work directories
carry it in their names (``ipl-PID.START-...``). `ipsec-lab clean` removes only what
belongs to an owner that is gone.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

OWNER_VAR = "IPSEC_LAB_OWNER"
_TOKEN = re.compile(r"(\d+)\.(\d+)")


def start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot, or None if there is none."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])  # field 22; fields 1-2 precede ")"


@dataclass(frozen=True)
class Owner:
    pid: int
    start: int

    def __str__(self) -> str:
        return f"{self.pid}.{self.start}"

    @classmethod
    def me(cls) -> Owner:
        pid = os.getpid()
        start = start_time(pid)
        assert start is not None
        return cls(pid, start)

    @classmethod
    def parse(cls, text: str | None) -> Owner | None:
        match = _TOKEN.fullmatch(text or "")
        return cls(int(match[1]), int(match[2])) if match else None

    @classmethod
    def in_name(cls, name: str) -> Owner | None:
        """The owner in a name made with `name_prefix` (``ipl-PID.START-...``, or
        another word before the token), if any."""
        match = re.match(r"[a-z]+-(\d+\.\d+)-", name)
        return cls.parse(match[1]) if match else None

    def alive(self) -> bool:
        return start_time(self.pid) == self.start

    def name_prefix(self, word: str = "ipl") -> str:
        return f"{word}-{self}-"


def current() -> Owner:
    """The owner of the run this process belongs to: the one in the environment, else
    this process (which then becomes the owner of what it starts)."""
    return Owner.parse(os.environ.get(OWNER_VAR)) or Owner.me()


def become_owner() -> Owner:
    """Make this process the owner of everything it starts from now on."""
    owner = Owner.me()
    os.environ[OWNER_VAR] = str(owner)
    return owner


def claim() -> Owner:
    """The run's owner, recorded in the environment (this process if none is recorded yet)."""
    owner = current()
    os.environ[OWNER_VAR] = str(owner)
    return owner
