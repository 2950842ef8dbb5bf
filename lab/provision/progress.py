"""Setup's steps run one by one, with progress a person can follow.

Every step is announced as ``[n/m] what``; each line its script prints comes back with the
step's number and the time since the step began (``[n/m 1:05] ...``), and a step that has
said nothing for a while gets a line saying it is still at work. At the end a table says
what took how long and how each step ended (the script's last line).
"""

from __future__ import annotations

import os
import queue
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TextIO

from lab.provision.plan import Plan, Step

#: seconds without a line from the script before a "still at work" line
HEARTBEAT = 30.0
#: how much of a script's last line the table shows
RESULT_WIDTH = 72


@dataclass(frozen=True)
class Done:
    step: Step
    seconds: float
    status: str  # "ok", "FAILED (exit N)", "not run"
    last: str = ""


def clock(seconds: float) -> str:
    """Elapsed time as a person reads it: ``0:07``, ``12:40``, ``1:02:03``."""
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def took(seconds: float) -> str:
    """A step's time for the table: ``0.3 s``, ``33 s``, ``9 min 13 s``."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s"


def table(done: list[Done], total: float) -> list[str]:
    """The closing table: one row per step (its time, how it ended), then the total."""
    width = max((len(d.step.title) for d in done), default=4)
    rows = [f"  {'step':<{width}}  {'time':>10}  result"]
    for d in done:
        result = d.last if d.status == "ok" else f"{d.status}: {d.last}" if d.last else d.status
        if len(result) > RESULT_WIDTH:
            result = result[:RESULT_WIDTH - 3] + "..."
        rows.append(f"  {d.step.title:<{width}}  {took(d.seconds):>10}  {result}")
    rows.append(f"  {'total':<{width}}  {took(total):>10}")
    return rows


class Runner:
    """Runs a plan's steps in order and stops at the first that fails."""

    def __init__(self, out: TextIO, env: Mapping[str, str], heartbeat: float = HEARTBEAT,
                 now: Callable[[], float] = time.monotonic) -> None:
        self.out = out
        self.env = dict(env)
        self.heartbeat = heartbeat
        self.now = now

    def say(self, line: str) -> None:
        print(line, file=self.out, flush=True)

    def run(self, plan: Plan) -> list[Done]:
        begun = self.now()
        count = len(plan.steps)
        done: list[Done] = []
        for note in plan.notes:
            self.say(f"setup: {note}")
        for n, step in enumerate(plan.steps, 1):
            if done and done[-1].status != "ok":
                done.append(Done(step, 0.0, "not run"))
                continue
            self.say(f"[{n}/{count}] {step.title} ({step.short()})")
            done.append(self.one(step, f"{n}/{count}"))
        total = self.now() - begun
        failed = [d for d in done if d.status != "ok" and d.status != "not run"]
        self.say(f"setup: {'FAILED' if failed else 'done'} in {took(total)}, {count} step"
                 + ("" if count == 1 else "s"))
        for row in table(done, total):
            self.say(row)
        return done

    def one(self, step: Step, label: str) -> Done:
        started = self.now()
        lines: queue.Queue[str | None] = queue.Queue()
        proc = subprocess.Popen(step.argv(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=self.env, text=True, bufsize=1)
        assert proc.stdout is not None
        stream = proc.stdout

        def pump() -> None:
            for line in stream:
                lines.put(line.rstrip("\n"))
            lines.put(None)

        threading.Thread(target=pump, name=f"setup {label}", daemon=True).start()
        last = ""
        while True:
            try:
                line = lines.get(timeout=self.heartbeat)
            except queue.Empty:
                self.say(f"  [{label} {clock(self.now() - started)}] still at work on {step.title}"
                         + (f" (last: {last})" if last else ""))
                continue
            if line is None:
                break
            if line.strip():
                last = line.strip()
                self.say(f"  [{label} {clock(self.now() - started)}] {last}")
        status = proc.wait()
        seconds = self.now() - started
        return Done(step, seconds, "ok" if status == 0 else f"FAILED (exit {status})", step.plain(last))


def script_env(cache: str) -> dict[str, str]:
    """The scripts' environment: this one, with the cache directory the lab itself uses
    (lab.kernel.uml.cache_dir), so that what they build is where the lab looks."""
    return {**os.environ, "IPSEC_LAB_CACHE": cache}
