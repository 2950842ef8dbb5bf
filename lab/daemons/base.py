"""The interface every daemon module implements, and the plumbing they share.

A daemon object is one peer's IKE daemon: built from the scenario and the side
it plays, it renders its files (pure: `render()`), checks them with the daemon's
own tools, starts, loads the connection, initiates, and stops. Per-daemon
differences are data (spelling tables, capability tables) in the daemon's module.
"""

from __future__ import annotations

import ipaddress
import os
import re
import signal
import socket
import subprocess
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from lab import run as runner
from lab.certs import Credentials, credentials
from lab.errors import CommandError, DaemonError, DeadlineError, MissingError
from lab.flavors import Flavor, View
from lab.native import lines_for
from lab.outcome import Heard, Listener, Outcome, Words
from lab.scenario import Scenario, other_side
from lab.state import IN_UML_VAR
from lab.status import DaemonStatus
from lab.xfrm import SA, Policy


@dataclass
class PeerContext:
    """Where one peer's daemon runs: its namespace, its private directory, its flavor."""

    side: str
    netns: str
    dir: Path  # the peer's private directory, as the lab sees it
    flavor: Flavor
    tag: str
    cache: Path  # per-session scratch shared by the peers (templates, probes)
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def home(self) -> Path:
        """The peer directory as the daemon sees it (inside its flavor's tree)."""
        return self.flavor.home(self.dir)


IKE_PORT = 500


def _address(hexaddr: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """An address as /proc/net/udp* print it: 32-bit words in the host's byte order."""
    raw = bytes.fromhex(hexaddr)
    return ipaddress.ip_address(b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4)))


def udp_bound(pid: int, address: str, port: int = IKE_PORT, proc: Path = Path("/proc")) -> bool:
    """Whether a UDP socket in process ``pid``'s network namespace is bound to ``port``
    on ``address`` or on any address (from /proc/PID/net/udp and udp6: no process)."""
    ip = ipaddress.ip_address(address)
    wanted: set[ipaddress.IPv4Address | ipaddress.IPv6Address] = {ip, ipaddress.ip_address("::")}
    if ip.version == 4:  # or a dual-stack socket
        wanted |= {ipaddress.ip_address("0.0.0.0"), ipaddress.ip_address(f"::ffff:{ip}")}
    for table in ("udp", "udp6"):
        try:
            lines = (proc / str(pid) / "net" / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            hexaddr, _, hexport = line.split()[1].partition(":")
            if int(hexport, 16) == port and _address(hexaddr) in wanted:
                return True
    return False


class Daemon(ABC):
    """One peer's IKE daemon."""

    #: implementation name, as in flavor names
    name: ClassVar[str]
    #: IKE versions the implementation speaks at all
    ike_versions: ClassVar[tuple[int, ...]] = (1, 2)
    #: the log file, relative to the peer directory
    log_name: ClassVar[str] = "daemon.log"
    #: words in the log that end a negotiation, the failure class each means, how final
    outcome_words: ClassVar[tuple[Words, ...]] = ()
    #: ICV bits the daemon's kernel interface installs where they differ from the RFC
    #: lengths (lab.negotiated.INTEGRITY), by neutral integrity name
    icv_bits: ClassVar[dict[str, int]] = {}
    #: what the driver can rekey on command ("child", "ike"), per IKE version: rekey()
    rekeys_on_command: ClassVar[dict[int, tuple[str, ...]]] = {}
    #: why the daemon cannot rekey on command in an IKE version, in its own words
    no_rekey_command: ClassVar[dict[int, str]] = {}
    #: lifecycle events (lab.scenario.LIFECYCLES) the daemon cannot take part in, and why
    lifecycle_gaps: ClassVar[dict[str, str]] = {}
    #: files a daemon killed with SIGKILL leaves in its peer directory that keep a new one
    #: from starting (pid files, control sockets), relative to the peer directory
    stale_files: ClassVar[tuple[str, ...]] = ()
    #: whether the daemon negotiates a connection it initiated again when its peer deletes
    #: it (lab.lifecycle's teardown lets such a side delete first)
    revives: ClassVar[bool] = False
    #: a log line that means an IKE SA (IKEv1: ISAKMP SA) was established or rekeyed
    ike_sa_words: ClassVar[str | None] = None
    #: why the daemon can never carry one address family inside the other (4in6, 6in4),
    #: or None where it can
    no_mixed_families: ClassVar[str | None] = None

    def __init__(self, scenario: Scenario, ctx: PeerContext) -> None:
        self.scenario = scenario
        self.ctx = ctx
        self.side = ctx.side
        self.peer = scenario.peer(ctx.side)
        self.other = scenario.peer(other_side(ctx.side))
        self.proc: subprocess.Popen[bytes] | None = None
        self.stopped = False
        self._credentials: Credentials | None = None
        self._view: View | None = None
        self.listener = Listener(self.outcome_words)
        #: where this cell's part of the log starts (a daemon kept from cell to cell: lab.warm)
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

    # -- pure ---------------------------------------------------------------
    @abstractmethod
    def render(self) -> dict[str, str]:
        """The daemon's files: {path relative to the peer directory: text}."""

    # -- capabilities ---------------------------------------------------------
    @classmethod
    def binaries(cls) -> tuple[str, ...]:
        """Executables the implementation needs (names or absolute paths)."""
        return ()

    @classmethod
    def missing(cls, flavor: Flavor) -> str | None:
        """What this flavor lacks to run the daemon at all, or None."""
        for exe in cls.binaries():
            if flavor.which(exe) is None:
                return f"{flavor.name}: {exe} not found {flavor.where}"
        return None

    @classmethod
    def never(cls, scenario: Scenario, side: str) -> str | None:
        """Why no build of this daemon could play ``side`` of ``scenario`` (asked of the
        implementation, not of a flavor: the matrix generates no such cell), or None."""
        version = scenario.ike_version_of(side)
        if version not in cls.ike_versions:
            return f"{cls.name} does not speak IKEv{version}"
        if cls.no_mixed_families and scenario.outer_family != scenario.inner_family:
            return f"{cls.name}: {cls.no_mixed_families}"
        return None

    @classmethod
    def unsupported(cls, scenario: Scenario, side: str, flavor: Flavor, tag: str) -> str | None:
        """Why this flavor cannot play ``side`` of ``scenario``, or None."""
        never = cls.never(scenario, side)
        if never:
            return f"{flavor.name}: {never}"
        return cls.lifecycle_unsupported(scenario, side, flavor)

    @classmethod
    def lifecycle_unsupported(cls, scenario: Scenario, side: str, flavor: Flavor) -> str | None:
        """Why this daemon cannot play ``side`` in the scenario's lifecycle event, or None."""
        event = scenario.lifecycle
        if event in cls.lifecycle_gaps:
            return f"{flavor.name}: {cls.lifecycle_gaps[event]}"
        version = scenario.ike_version_of(side)
        if event in ("rekey-child", "rekey-ike") and scenario.rekey_by == "command" \
                and side == scenario.actor_side \
                and event.removeprefix("rekey-") not in cls.rekeys_on_command.get(version, ()):
            return f"{flavor.name}: " + cls.no_rekey_command.get(
                version, f"the driver has no command to rekey the"
                         f" {'Child' if event == 'rekey-child' else 'IKE'} SA")
        return None

    @classmethod
    def version(cls, flavor: Flavor, tag: str) -> str:
        return "unknown"

    #: whose order of preference this daemon follows when it responds to a proposal list
    #: ('initiator': the first of the initiator's list it accepts; 'responder': its own first)
    preference: ClassVar[str] = "initiator"
    #: what the daemon offers for ESN with a proposal the lab renders (which names no ESN):
    #: empty where that is either, the peer's pick (lab.proposals.offers_of)
    configured_esn: ClassVar[tuple[bool, ...]] = ()

    @classmethod
    def prefers(cls, scenario: Scenario, side: str) -> str:
        """Whose order ``side`` follows as the responder (lab.proposals)."""
        return cls.preference

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

    @property
    def log_path(self) -> Path:
        return self.ctx.dir / self.log_name

    def log_text(self) -> str:
        try:
            with self.log_path.open("rb") as log:
                log.seek(self.log_offset)
                return log.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def _way_in(self, beside_daemon: bool = True) -> dict[str, Any]:
        """How a process of this peer starts in its flavor: nothing for the host's own
        binaries; inside a UML guest, the peer's view of the tree (mounted on first use,
        entered after a vfork); elsewhere beside the running daemon (its mounts and root),
        else a fresh view of the tree in a new mount namespace (a preexec: a fork)."""
        flavor = self.ctx.flavor
        if flavor.root is None:
            return {}
        if os.environ.get(IN_UML_VAR):
            if self._view is None:
                self._view = flavor.view(self.ctx.dir, self.ctx.dir.with_name(f".{self.side}-root"))
            return {"root": self._view.at}
        if beside_daemon and self.proc is not None and self.proc.poll() is None:
            return {"join": self.proc.pid}
        return {"preexec": flavor.enter_new(self.ctx.dir)}

    def tool(self, argv: list[str], timeout: float = 20.0, check: bool = True,
             env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """Run one of the flavor's tools beside the running daemon (its netns and tree)."""
        try:
            return runner.run(argv, tag=self.ctx.tag, netns=self.ctx.netns, timeout=timeout,
                              check=check, env=env, **self._way_in())
        except CommandError as exc:
            raise DaemonError(f"{self.name} ({self.side}): {exc}") from None

    def spawn(self, argv: list[str], log_name: str | None = None,
              env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        log = open(self.ctx.dir / (log_name or (self.log_name + ".out")), "ab")  # noqa: SIM115
        try:
            proc = runner.spawn(argv, tag=self.ctx.tag, log=log, netns=self.ctx.netns, env=env,
                                **self._way_in(beside_daemon=False))
        except FileNotFoundError:
            raise MissingError(f"{self.ctx.flavor.name}: {argv[0]} not found") from None
        finally:
            log.close()
        self.ctx.procs.append(proc)
        return proc

    def wait_ready(self, ready: Callable[[], object], deadline: float = 15.0,
                   what: str = "start") -> None:
        """Wait until ``ready()`` says yes; a daemon that exits meanwhile ends the wait
        with its last words. Either failure is a DaemonError."""
        try:
            runner.wait_until(ready, deadline=deadline, what=f"{self.name} ({self.side}) {what}",
                              failed=self.crashed)
        except DeadlineError as exc:
            raise DaemonError(str(exc)) from None

    def wait_socket(self, path: Path, deadline: float = 15.0) -> None:
        """Ready means the control socket answers."""

        def answers() -> bool:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                try:
                    s.connect(str(path))
                except OSError:
                    return False
                return True

        self.wait_ready(answers, deadline)

    def wait_listening(self, deadline: float = 10.0) -> None:
        """Wait until the daemon has bound the IKE port on its address. pluto, for one,
        answers on its control socket before it listens for IKE (addconn tells it to); an
        IKE_SA_INIT that comes before then meets a port unreachable and a retransmission."""
        assert self.proc is not None
        pid, address = self.proc.pid, self.peer.address
        self.wait_ready(lambda: udp_bound(pid, address), deadline,
                        f"listening for IKE on {address} port {IKE_PORT}")

    def last_words(self, lines: int = 3) -> str:
        text = []
        out = self.ctx.dir / (self.log_name + ".out")
        if out.is_file():  # the daemon's own output first: its log's last lines say more
            text = out.read_text(errors="replace").strip().splitlines()
        text += self.log_text().strip().splitlines()
        return " | ".join(text[-lines:]) or "(no output)"

    def crashed(self) -> str | None:
        """Why the daemon is gone although nobody stopped it, or None."""
        if self.proc is None or self.stopped or self.proc.poll() is None:
            return None
        return f"{self.name} ({self.side}) exited with status {self.proc.returncode}: {self.last_words()}"

    def heard(self) -> Heard | None:
        """The first line of the daemon's log that names a failure class and is final
        by now (a word with a grace waits that long for SAs that may still come)."""
        found = self.listener.final(self.outcome_lines(), time.monotonic())
        return Heard(self.side, self.name, found[1].cls, found[0]) if found else None

    def outcome_lines(self) -> list[str]:
        """The log lines the outcome words are looked for in (all of them by default)."""
        return self.log_text().splitlines()

    def ended(self) -> Outcome | None:
        """The daemon's final word on the negotiation: a failure class, a crash, or None."""
        heard = self.heard()
        if heard:
            return Outcome(heard.cls, str(heard))
        crash = self.crashed()
        return Outcome("crashed", crash) if crash else None

    def failure(self) -> str | None:
        """What the daemon said (or did) that ended the negotiation, as one line."""
        ended = self.ended()
        return ended.seen if ended else None

    @abstractmethod
    def launch(self) -> None:
        """Start the daemon's process without waiting for it (the cell launches both
        peers' daemons first, then waits for both)."""

    @abstractmethod
    def wait_started(self) -> None:
        """Wait until the launched daemon is ready (raise DaemonError if it is not)."""

    def start(self) -> None:
        """Launch the daemon and wait until it is ready."""
        self.launch()
        self.wait_started()

    @abstractmethod
    def load(self) -> None:
        """Give the daemon the connection; a config it refuses raises DaemonError with its words."""

    @abstractmethod
    def initiate(self) -> None:
        """Start the negotiation (without waiting for it)."""

    def stop(self) -> None:
        """Stop every process this peer's daemon started, the daemon last-started first."""
        self.stopped = True
        for proc in reversed(self.ctx.procs):
            runner.stop(proc)
        if self._view is not None:
            self._view.unmount()
            self._view = None

    # -- lifecycle (lab.lifecycle) ---------------------------------------------
    def rekey(self, what: str) -> None:
        """Rekey the Child SA (``what`` = "child") or the IKE SA ("ike") now, the daemon's
        own way, without waiting for it."""
        raise DaemonError(f"{self.name} ({self.side}): the driver cannot rekey the {what} SA")

    def ike_sas_logged(self) -> int:
        """How many IKE SAs the daemon's log says were established or rekeyed so far."""
        if self.ike_sa_words is None:
            raise DaemonError(f"{self.name} ({self.side}): the driver does not know how the"
                              " daemon logs a new IKE SA")
        return len(re.findall(self.ike_sa_words, self.log_text(), re.M))

    def send_signal(self, signum: int) -> None:
        """Send the daemon's process a signal (SIGSTOP/SIGCONT: the peer vanishes and
        comes back; SIGKILL: it dies without a word)."""
        if self.proc is None or self.proc.poll() is not None:
            raise DaemonError(f"{self.name} ({self.side}): not running")
        os.kill(self.proc.pid, signum)
        if signum == signal.SIGKILL:
            self.proc.wait(5)

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
