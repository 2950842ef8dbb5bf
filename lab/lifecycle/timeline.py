"""The timeline of a lifecycle cell (pure): what the lab did, what each kernel did (XFRM
events), what each daemon logged, what the wire carried and which echoes were lost, in
one list ordered by guest-monotonic time since the cell's origin.

Daemon log lines carry the guest's wall-clock time (pluto: ``Nov 27 10:06:30.123456:``,
charon with the lab's time_format: ``Nov 27 10:06:30.123``, racoon:
``2026-11-27 10:06:30:``); ``wall_offset`` (wall minus monotonic, read once in the guest)
turns them into monotonic time. A line without a time keeps the previous line's.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from lab.lifecycle.judge import Wire
from lab.wire.stream import Loss
from lab.xfrm_monitor import XfrmEvent

MONTHS = {m: i for i, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug",
                                      "Sep", "Oct", "Nov", "Dec"), 1)}
SYSLOG_TIME = re.compile(r"^(?P<mon>[A-Z][a-z]{2}) +(?P<day>\d{1,2}) (?P<h>\d\d):(?P<m>\d\d):"
                         r"(?P<s>\d\d)(?:\.(?P<frac>\d+))?:? ?")
ISO_TIME = re.compile(r"^(?P<y>\d{4})-(?P<mo>\d\d)-(?P<d>\d\d) (?P<h>\d\d):(?P<m>\d\d):"
                      r"(?P<s>\d\d)(?:\.(?P<frac>\d+))?:? ?")


@dataclass(frozen=True)
class Entry:
    t: float  # seconds since the origin
    side: str
    source: str  # lab, kernel, wire, stream, or the daemon's name
    text: str

    def line(self) -> str:
        return f"{self.t:10.3f}  {self.side:<5}  {self.source:<10}  {self.text}"


def log_time(line: str, year: int) -> tuple[float, str] | None:
    """(wall-clock seconds, the rest of the line) of a log line that starts with a time."""
    m = SYSLOG_TIME.match(line)
    if m:
        fields = (year, MONTHS.get(m["mon"], 1), int(m["day"]))
    else:
        m = ISO_TIME.match(line)
        if not m:
            return None
        fields = (int(m["y"]), int(m["mo"]), int(m["d"]))
    wall = time.mktime((*fields, int(m["h"]), int(m["m"]), int(m["s"]), 0, 0, -1))
    frac = float(f"0.{m['frac']}") if m["frac"] else 0.0
    return wall + frac, line[m.end():]


def log_entries(text: str, side: str, source: str, wall_offset: float, origin: float,
                year: int) -> list[Entry]:
    out: list[Entry] = []
    last = 0.0
    for line in text.splitlines():
        if not line.strip():
            continue
        found = log_time(line, year)
        if found:
            last = found[0] - wall_offset - origin
            line = found[1]
        out.append(Entry(last, side, source, line.rstrip()))
    return out


def kernel_entries(events: list[XfrmEvent], origin: float) -> list[Entry]:
    return [Entry(e.t - origin, e.side, "kernel", f"{e.kind}: {e.text}") for e in events]


def loss_entries(losses: list[Loss], origin: float, interval: float) -> list[Entry]:
    """Losses, a run of consecutive ones as one entry."""
    out: list[Entry] = []
    run: list[Loss] = []

    def flush() -> None:
        if not run:
            return
        if len(run) == 1:
            text = f"lost: echo seq {run[0].seq} sent at {run[0].sent - origin:.3f} s"
        else:
            text = (f"lost {len(run)} echoes, seq {run[0].seq}..{run[-1].seq}, sent"
                    f" {run[0].sent - origin:.3f}..{run[-1].sent - origin:.3f} s")
        out.append(Entry(run[0].sent - origin, "", "stream", text))
        run.clear()

    for loss in losses:
        if run and loss.sent - run[-1].sent > 3 * interval:
            flush()
        run.append(loss)
    flush()
    return out


def wire_entries(wire: Wire) -> list[Entry]:
    out = []
    for (src, dst), runs in wire.runs.items():
        for run in runs:
            out.append(Entry(run.first, "", "wire", f"{src} -> {dst} first ESP spi"
                             f" 0x{run.spi:08x} seq {run.seqs[0]}"))
            out.append(Entry(run.last, "", "wire", f"{src} -> {dst} last ESP spi"
                             f" 0x{run.spi:08x} seq {run.seqs[-1]} ({len(run.seqs)} packets)"))
    return out


def render(entries: list[Entry], header: list[str]) -> str:
    body = [e.line() for e in sorted(entries, key=lambda e: e.t)]
    return "\n".join([*header, f"{'t (s)':>10}  {'side':<5}  {'source':<10}  what", *body]) + "\n"
