"""How a daemon is kept running from one cell to the next (lab.warm): the interface.

Each implementation that can be kept warm has one small class in its own module
(lab.daemons.libreswan.warm, lab.daemons.strongswan.warm): what its global settings
are (a daemon is reused only where they are the same), how a cell's connection,
secrets and certificates go in through the daemon's control interface and come
out again, and what the daemon still holds afterwards.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from lab.daemons.base import Daemon


class WarmOps(ABC):
    """One implementation's way of serving several cells with one running daemon."""

    @abstractmethod
    def globals(self, daemon: Daemon) -> str:
        """Everything the running daemon read at its start and does not read again per
        cell (as text): a cell whose text differs gets a fresh daemon."""

    def adopt(self, daemon: Daemon, running: Daemon) -> None:
        """Make ``daemon`` (the new cell's object) the handle of ``running``'s process."""
        daemon.proc = running.proc
        daemon._view = running._view

    @abstractmethod
    def load(self, daemon: Daemon, before: dict[str, str]) -> None:
        """Load the cell's connection, secrets and certificates (already written to the
        daemon's directory) into the running daemon; ``before``: the files the daemon had
        from the last cell, by path relative to its directory."""

    @abstractmethod
    def unload(self, daemon: Daemon, deleted: bool) -> None:
        """Delete the cell's SAs and unload its connection, secrets and certificates
        (``deleted``: the cell's teardown check had this daemon delete the connection)."""

    @abstractmethod
    def leftovers(self, daemon: Daemon) -> list[str]:
        """What the daemon still holds (IKE SAs, connections), in its own words; empty
        when the next cell may use it."""
