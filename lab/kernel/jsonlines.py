"""JSON a line from a file descriptor (a pipe, a serial line, a socket): the warm guest's
requests and its keeper's answers. Only the standard library: the warm guest imports it
before anything else of the lab."""

from __future__ import annotations

import json
import os
import select
import time
from typing import Any

CHUNK = 65536


class JsonLines:
    """The messages read from ``fd`` so far; ``ended`` once the other end closed it."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buf = b""
        self.ended = False

    def read(self) -> list[dict[str, Any]]:
        """One read (it blocks until there is data); the whole lines it completed."""
        data = os.read(self.fd, CHUNK)
        if not data:
            self.ended = True
        self.buf += data
        done, _, self.buf = self.buf.rpartition(b"\n")
        return [json.loads(line) for line in done.split(b"\n") if line.strip()]

    def poll(self, timeout: float | None = 0.0) -> list[dict[str, Any]]:
        """As read(), but none when nothing comes within ``timeout`` (None: wait)."""
        if self.ended or not select.select([self.fd], [], [], timeout)[0]:
            return []
        return self.read()

    def next(self, timeout: float) -> dict[str, Any] | None:
        """The next message, or None when none is complete within ``timeout``."""
        deadline = time.monotonic() + timeout
        while not self.ended:
            if b"\n" in self.buf:
                line, self.buf = self.buf.split(b"\n", 1)
                return json.loads(line)
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.fd], [], [], left)[0]:
                return None
            data = os.read(self.fd, CHUNK)
            self.ended = not data
            self.buf += data
        return None
