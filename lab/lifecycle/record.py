"""What a lifecycle cell records while it runs: the kernels' XFRM events, the echo stream,
the lab's own actions, and the clocks to put them on one time line (timeline.txt)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from lab.lifecycle import timeline
from lab.lifecycle.judge import Wire
from lab.wire.stream import EchoStream, StreamResult
from lab.xfrm_monitor import XfrmMonitor


@dataclass
class DaemonLog:
    side: str
    name: str
    path: Path


@dataclass
class Record:
    monitor: XfrmMonitor
    #: guest-monotonic time of the cell's start, and wall minus monotonic (read together)
    origin: float = field(default_factory=time.monotonic)
    wall_offset: float = field(default_factory=lambda: time.time() - time.monotonic())
    stream: EchoStream | None = None
    result: StreamResult | None = None
    actions: list[timeline.Entry] = field(default_factory=list)
    wire: Wire | None = None
    #: the lifecycle verdict's findings and figures, for the timeline's header
    summary: list[str] = field(default_factory=list)

    def now(self) -> float:
        return time.monotonic() - self.origin

    def act(self, side: str, text: str) -> float:
        """Note one of the lab's actions; returns its time (guest-monotonic, absolute)."""
        t = time.monotonic()
        self.actions.append(timeline.Entry(t - self.origin, side, "lab", text))
        return t

    def timeline(self, logs: list[DaemonLog]) -> str:
        entries = [*self.actions, *timeline.kernel_entries(self.monitor.snapshot(), self.origin)]
        year = time.localtime().tm_year
        for log in logs:
            try:
                text = log.path.read_text(errors="replace")
            except OSError:
                continue
            entries += timeline.log_entries(text, log.side, log.name, self.wall_offset,
                                            self.origin, year)
        if self.result is not None:
            interval = self.stream.interval if self.stream else 0.02
            entries += timeline.loss_entries(self.result.losses(), self.origin, interval)
        if self.wire is not None:
            entries += timeline.wire_entries(self.wire)
        started = time.strftime("%F %T", time.localtime(self.origin + self.wall_offset))
        header = [f"# t = seconds of guest-monotonic time since the cell started ({started}"
                  " by the guest's wall clock)"]
        if self.result is not None and not self.summary:  # the summary names it
            header.append(f"# {self.result}")
        header += [f"# {line}" for line in self.summary]
        header += [f"# {p}" for p in self.monitor.problems]
        return timeline.render(entries, header)
