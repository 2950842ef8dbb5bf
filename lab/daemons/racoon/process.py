"""racoon started and watched: the SPD loaded with setkey, racoon in the foreground, ready
when its admin socket answers, privsep checked where the flavor has it (pure rendering:
lab.daemons.racoon.conf)."""

from __future__ import annotations

import os
import re
from pathlib import Path

from lab.daemons.racoon import admin
from lab.daemons.racoon.conf import PRIVSEP_PREFIX, PRIVSEP_ROOT, RacoonConf
from lab.daemons.racoon.traits import RacoonTraits
from lab.errors import DaemonError
from lab.scenario import other_side

#: racoon's log line naming its unprivileged process
PRIVSEP_CHILD = re.compile(r"racoon unprivileged process running with PID (\d+)")


def privsep_wrong(log: str, chroot: Path, proc: Path = Path("/proc")) -> str | None:
    """What is wrong with racoon's unprivileged process (the one its log names): not
    running, running as root, or not in the chroot; None when privsep is in force."""
    m = PRIVSEP_CHILD.search(log)
    if m is None:
        return "racoon's log names no unprivileged process"
    here = proc / m[1]
    try:
        uid = next(line.split()[1] for line in (here / "status").read_text().splitlines()
                   if line.startswith("Uid:"))
        root = os.readlink(here / "root")
    except (OSError, StopIteration):
        return f"its unprivileged process {m[1]} is gone"
    if uid == "0":
        return f"process {m[1]} runs as root"
    if Path(root) != chroot:
        return f"process {m[1]} has its root at {root}, not {chroot}"
    return None


class RacoonProcess(RacoonTraits, interface=True):
    """racoon's files rendered, its process started, watched and asked whether it is ready."""

    # -- pure -----------------------------------------------------------------
    def render(self) -> dict[str, str]:
        return RacoonConf(self, self._seen, self.privsep).render()

    @property
    def _seen(self) -> str:
        """The other peer's address as this one sees it (behind a NAT: the router's)."""
        other = other_side(self.side)
        return self.scenario.address_seen(other, self.side)

    @property
    def privsep(self) -> bool:
        """The flavor is a privilege-separated racoon (racoon@privsep-0.9.1)."""
        return self.ctx.flavor.source.startswith(PRIVSEP_PREFIX)

    @property
    def log_path(self) -> Path:
        """Under privsep the negotiating process cannot open racoon.log again inside its
        chroot and logs to its stderr (racoon -F), which the lab keeps as racoon.log.out."""
        if self.privsep:
            return self.ctx.dir / (self.log_name + ".out")
        return super().log_path

    # -- running --------------------------------------------------------------
    def _exe(self, name: str) -> str:
        return self.ctx.flavor.which(name) or name

    @property
    def sock(self) -> Path:
        """The admin socket as the daemon sees it."""
        return self.ctx.home / "racoon.sock"

    def _load_spd(self) -> None:
        conf = self.ctx.home / "setkey.conf"
        out = self.tool([self._exe("setkey"), "-f", str(conf)], check=False)
        words = (out.stderr + out.stdout).strip()
        if out.returncode != 0:
            first = words.splitlines()[0] if words else f"setkey exit {out.returncode}"
            raise DaemonError(f"racoon ({self.side}): setkey refused {self.ctx.dir}/setkey.conf:"
                              f" {first}")

    def _ready(self) -> bool:
        """racoon answers a command on its admin socket (lab.daemons.racoon.admin: a whole, valid
        request, never an empty connection, which racoon logs as an error)."""
        if admin.answers(self.ctx.dir / "racoon.sock", timeout=1.0):
            return True
        return "used as isakmp port" in self.log_text()

    def crashed(self) -> str | None:
        """As the base says, naming the config racoon read (it exits on a bad one)."""
        if self.proc is None or self.stopped or self.proc.poll() is None:
            return None
        return (f"racoon ({self.side}) exited with status {self.proc.returncode}"
                f" ({self.ctx.dir}/racoon.conf): {self.last_words()}")

    def launch(self) -> None:
        self._load_spd()
        home = self.ctx.home
        self.proc = self.spawn([self._exe("racoon"), "-F", "-f", str(home / "racoon.conf"),
                                "-l", str(home / self.log_name)])

    def wait_started(self) -> None:
        self.wait_ready(self._ready)
        if self.privsep:
            self.wait_ready(lambda: PRIVSEP_CHILD.search(self.log_text()), deadline=5.0,
                            what="starting its unprivileged process (privsep)")
            wrong = privsep_wrong(self.log_text(), self.ctx.dir / PRIVSEP_ROOT)
            if wrong:
                raise DaemonError(f"racoon ({self.side}): privsep is not in force: {wrong}")

    def load(self) -> None:
        """racoon read everything at start; only make sure it is still running."""
        reason = self.crashed()
        if reason:
            raise DaemonError(reason)

    def status_commands(self) -> list[list[str]]:
        return [["setkey", "-D"], ["setkey", "-DP"]]
