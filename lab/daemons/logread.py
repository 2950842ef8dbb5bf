"""What a daemon's log says: its text since the cell began, its last words, the first
line that ends the negotiation (lab.outcome), the IKE SAs it established
(lab.daemons.base.Daemon is made of this and its process handling)."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import ClassVar

from lab.daemons.process import PeerContext
from lab.errors import DaemonError
from lab.outcome import Heard, Listener, Outcome, Words


class DaemonLog:
    """One peer's daemon's log. Part of lab.daemons.base.Daemon, which sets the
    attributes below; ``ended()`` also asks ``crashed()``, of its process handling
    (lab.daemons.process.DaemonProcess)."""

    name: ClassVar[str]
    #: the log file, relative to the peer directory
    log_name: ClassVar[str] = "daemon.log"
    #: words in the log that end a negotiation, the failure class each means, how final
    outcome_words: ClassVar[tuple[Words, ...]] = ()
    #: a log line that means an IKE SA (IKEv1: ISAKMP SA) was established or rekeyed
    ike_sa_words: ClassVar[str | None] = None
    side: str
    ctx: PeerContext
    listener: Listener
    #: where this cell's part of the log starts (a daemon kept from cell to cell: lab.warm)
    log_offset: int

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

    def last_words(self, lines: int = 3) -> str:
        text = []
        out = self.ctx.dir / (self.log_name + ".out")
        if out.is_file():  # the daemon's own output first: its log's last lines say more
            text = out.read_text(errors="replace").strip().splitlines()
        text += self.log_text().strip().splitlines()
        return " | ".join(text[-lines:]) or "(no output)"

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
        crash = self.crashed()  # type: ignore[attr-defined]
        return Outcome("crashed", crash) if crash else None

    def failure(self) -> str | None:
        """What the daemon said (or did) that ended the negotiation, as one line."""
        ended = self.ended()
        return ended.seen if ended else None

    def ike_sas_logged(self) -> int:
        """How many IKE SAs the daemon's log says were established or rekeyed so far."""
        if self.ike_sa_words is None:
            raise DaemonError(f"{self.name} ({self.side}): the driver does not know how the"
                              " daemon logs a new IKE SA")
        return len(re.findall(self.ike_sa_words, self.log_text(), re.M))
