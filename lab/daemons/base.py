"""The interface every daemon driver implements (Daemon), checked when a driver's class
is created.

A daemon object is one peer's IKE daemon: built from the scenario and the side it plays,
it renders its files (pure: `render()`), checks them with the daemon's own tools, starts,
loads the connection, initiates, and stops. Per-daemon differences are data (spelling
tables, capability tables) in the daemon's own package. What every driver shares lives
in three parts: its processes (lab.daemons.process), its log (lab.daemons.logread) and
its capabilities (lab.daemons.capability).
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from lab.certs import Credentials, credentials
from lab.daemons.capability import Capabilities
from lab.daemons.logread import DaemonLog
from lab.daemons.process import IKE_PORT, DaemonProcess, PeerContext, udp_bound
from lab.errors import DaemonError
from lab.flavors import View
from lab.native import lines_for
from lab.outcome import Listener
from lab.scenario import Scenario, other_side
from lab.status import DaemonStatus
from lab.xfrm import SA, Policy

__all__ = ["IKE_PORT", "Daemon", "PeerContext", "udp_bound"]


class Daemon(DaemonLog, DaemonProcess, Capabilities, ABC):
    """One peer's IKE daemon: the interface every driver implements.

    A driver (registered in lab.daemons.DAEMONS) must define (REQUIRED, checked when its
    class is created: a TypeError names what is missing):

    - ``name``: the implementation, as in flavor names (lab.flavors.IMPLEMENTATIONS)
    - ``render()``: its files from the scenario and the side (pure)
    - ``launch()``, ``wait_started()``: start its process; wait until it is ready
    - ``load()``, ``initiate()``: give it the connection; start the negotiation

    It may override, where its daemon can more or differs (the defaults say "cannot"):

    - settings (data): ``stale_files`` here; ``log_name``, ``outcome_words``,
      ``ike_sa_words`` (DaemonLog); ``ike_versions``, ``icv_bits``, ``rekeys_on_command``,
      ``no_rekey_command``, ``lifecycle_gaps``, ``revives``, ``no_mixed_families``,
      ``preference``, ``configured_esn`` (Capabilities)
    - questions before a cell: ``binaries()``, ``missing()``, ``unsupported()``,
      ``kernel_lacks()``, ``version()``, ``prefers()`` (Capabilities)
    - during a cell: ``status()``, ``delete()``, ``rekey()``, ``known_leftover()``,
      ``status_commands()``, ``after_crash()`` (here); ``outcome_lines()`` (DaemonLog);
      ``tool()``, ``stop()`` (DaemonProcess)

    A class that adds to the interface for drivers to inherit (lab.remote.base.RoleDriver,
    a driver's mixins) says so: ``class X(Daemon, interface=True)``, and need not define
    them. Any class that overrides a hook must keep its number of parameters.
    """

    #: what a driver must define: its name, then the hooks without a default
    REQUIRED: ClassVar[tuple[str, ...]] = ("name", "render", "launch", "wait_started", "load",
                                           "initiate")
    #: files a daemon killed with SIGKILL leaves in its peer directory that keep a new one
    #: from starting (pid files, control sockets), relative to the peer directory
    stale_files: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, interface: bool = False, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        where = f"{cls.__module__}.{cls.__qualname__}"
        misfit = misfits(cls)
        if misfit:
            raise TypeError(f"{where}: {'; '.join(misfit)} (lab.daemons.base.Daemon)")
        lacking = [] if interface else undefined(cls)
        if lacking:
            raise TypeError(f"{where}: a daemon driver must define "
                            f"{', '.join(lacking)} (lab.daemons.base.Daemon.REQUIRED)")

    def __init__(self, scenario: Scenario, ctx: PeerContext) -> None:
        self.scenario = scenario
        self.ctx = ctx
        self.side = ctx.side
        self.peer = scenario.peer(ctx.side)
        self.other = scenario.peer(other_side(ctx.side))
        self.proc = None
        self.stopped = False
        self._credentials: Credentials | None = None
        self._view: View | None = None
        self.listener = Listener(self.outcome_words)
        self.log_offset = 0

    def credentials(self) -> Credentials:
        """This side's certificate, key and CA for ``auth = rsa|ecdsa`` (keys cached per session)."""
        if self._credentials is None:
            s = self.scenario
            self._credentials = credentials(self.ctx.cache, s.auth, self.side,
                                            s.identity(self.side), self.peer.address)
        return self._credentials

    def native_lines(self, place: str) -> list[str]:
        """This side's native lines for this daemon at ``place`` (lab.native)."""
        return lines_for(self.peer.native, self.name, place)

    # -- what every driver defines ---------------------------------------------
    @abstractmethod
    def render(self) -> dict[str, str]:
        """The daemon's files: {path relative to the peer directory: text}."""

    @abstractmethod
    def launch(self) -> None:
        """Start the daemon's process without waiting for it (the cell launches both
        peers' daemons first, then waits for both)."""

    @abstractmethod
    def wait_started(self) -> None:
        """Wait until the launched daemon is ready (raise DaemonError if it is not)."""

    @abstractmethod
    def load(self) -> None:
        """Give the daemon the connection; a config it refuses raises DaemonError with its words."""

    @abstractmethod
    def initiate(self) -> None:
        """Start the negotiation (without waiting for it)."""

    # -- running --------------------------------------------------------------
    def write(self) -> list[Path]:
        written = []
        for rel, text in self.render().items():
            path = self.ctx.dir / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            if rel.endswith((".secrets", "psk.txt", ".key")):
                path.chmod(0o600)
            written.append(path)
        return written

    def start(self) -> None:
        """Launch the daemon and wait until it is ready."""
        self.launch()
        self.wait_started()

    # -- lifecycle (lab.lifecycle) ---------------------------------------------
    def rekey(self, what: str) -> None:
        """Rekey the Child SA (``what`` = "child") or the IKE SA ("ike") now, the daemon's
        own way, without waiting for it."""
        raise DaemonError(f"{self.name} ({self.side}): the driver cannot rekey the {what} SA")

    def after_crash(self) -> str | None:
        """What the daemon's service manager does once the daemon died (its unit's
        ExecStopPost), done here; a line for the timeline, or None when it does nothing."""
        return None

    def restart(self) -> None:
        """Start the daemon again after it was killed (what it left behind that would
        stop it removed), wait until it is ready, and load the connection."""
        for rel in self.stale_files:
            (self.ctx.dir / rel).unlink(missing_ok=True)
        self.launch()
        self.wait_started()
        self.load()

    def status(self) -> DaemonStatus:
        """The daemon's own account of its IKE SA and Child SAs (lab.status records).
        Drivers read it without starting a process where they can, and keep the raw
        text beside the daemon's files (the artifacts)."""
        return DaemonStatus(source="nothing", unreported=("IKE SA", "Child SAs"))

    def delete(self) -> None:
        """Delete the connection the daemon's own way (with a Delete to the peer),
        as an administrator would; the cell then checks both kernels are clean."""
        raise DaemonError(f"{self.name} ({self.side}): the driver cannot delete a connection")

    def known_leftover(self, item: SA | Policy) -> str | None:
        """Why ``item`` (an SA or a policy), still in the kernel after the delete, is a known
        defect or behaviour of this daemon version (the teardown check names it without
        failing the cell), or None."""
        return None

    def status_commands(self) -> list[list[str]]:
        """Commands whose output goes into the artifacts when a cell fails."""
        return []


def _function(value: object) -> Callable[..., Any] | None:
    inner = value.__func__ if isinstance(value, classmethod | staticmethod) else value
    return inner if inspect.isfunction(inner) else None


def misfits(cls: type[Daemon]) -> list[str]:
    """The hooks ``cls`` defines with another number of parameters than the interface's
    (a parameter left out or added: a call from the lab would fail mid-cell)."""
    out = []
    for attr, value in vars(cls).items():
        mine = _function(value)
        theirs = next((_function(vars(base)[attr]) for base in Daemon.__mro__
                       if attr in vars(base)), None)
        if attr.startswith("__") or mine is None or theirs is None:
            continue
        have, want = (list(inspect.signature(f).parameters) for f in (mine, theirs))
        if len(have) != len(want):
            out.append(f"{attr}() takes ({', '.join(have)}), the interface's ({', '.join(want)})")
    return out


def undefined(cls: type[Daemon]) -> list[str]:
    """What of Daemon.REQUIRED the class leaves undefined ('name', 'render()', ...)."""
    out = []
    for attr in cls.REQUIRED:
        value = getattr(cls, attr, None)
        if attr == "name":
            if not isinstance(value, str) or not value:
                out.append(attr)
        elif value is None or getattr(value, "__isabstractmethod__", False):
            out.append(f"{attr}()")
    return out
