"""A daemon's processes: where they run (the peer's namespace and its flavor's tree),
how they start, how the lab waits for one to be ready, signals and stops them, and how
it tells that one died (lab.daemons.base.Daemon is made of this and its log reading)."""

from __future__ import annotations

import ipaddress
import os
import signal
import socket
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from lab import run as runner
from lab.errors import CommandError, DaemonError, DeadlineError, MissingError
from lab.flavors import Flavor, View
from lab.scenario import Peer
from lab.state import IN_UML_VAR

IKE_PORT = 500


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


class DaemonProcess:
    """The processes of one peer's daemon. Part of lab.daemons.base.Daemon, which sets
    the attributes below; ``crashed()`` quotes ``last_words()``, from the daemon's log
    reading (lab.daemons.logread.DaemonLog)."""

    name: ClassVar[str]
    log_name: ClassVar[str]
    ctx: PeerContext
    side: str
    peer: Peer
    #: the daemon's own process, once launched
    proc: subprocess.Popen[bytes] | None
    #: whether the lab stopped it (a process gone otherwise crashed)
    stopped: bool
    _view: View | None

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

    def crashed(self) -> str | None:
        """Why the daemon is gone although nobody stopped it, or None."""
        if self.proc is None or self.stopped or self.proc.poll() is None:
            return None
        return f"{self.name} ({self.side}) exited with status {self.proc.returncode}: {self.last_words()}"

    def stop(self) -> None:
        """Stop every process this peer's daemon started, the daemon last-started first."""
        self.stopped = True
        for proc in reversed(self.ctx.procs):
            runner.stop(proc)
        if self._view is not None:
            self._view.unmount()
            self._view = None

    def send_signal(self, signum: int) -> None:
        """Send the daemon's process a signal (SIGSTOP/SIGCONT: the peer vanishes and
        comes back; SIGKILL: it dies without a word)."""
        if self.proc is None or self.proc.poll() is not None:
            raise DaemonError(f"{self.name} ({self.side}): not running")
        os.kill(self.proc.pid, signum)
        if signum == signal.SIGKILL:
            self.proc.wait(5)
