#!/usr/bin/env python3
"""Wall time of the matrix with -n 1 and -n 2, the per-cell median, and peak memory
per worker (its UML kernel included).

    .venv/bin/python ci/bench_matrix.py [pytest matrix options, e.g. --lab-proposals aes128-sha1]

Each run is `pytest scenarios/test_matrix.py -n N --junitxml ...`; memory is the
largest sum of resident memory of one kernel's host processes, sampled every 0.5 s.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "ci" / "out"


def kernels_rss() -> dict[str, int]:
    """umid -> summed VmRSS (KiB) of the host processes of each UML kernel."""
    total: dict[str, int] = defaultdict(int)
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes().split(b"\0")
            status = (proc / "status").read_text()
        except OSError:
            continue
        umid = next((a[5:].decode() for a in cmd if a.startswith(b"umid=")), None)
        if umid and cmd[0].endswith(b"linux.uml"):
            for line in status.splitlines():
                if line.startswith("VmRSS:"):
                    total[umid] += int(line.split()[1])
    return total


def run(workers: int, extra: list[str]) -> dict[str, float]:
    junit = OUT / f"bench-n{workers}.xml"
    peak: dict[str, int] = defaultdict(int)
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            for umid, kib in kernels_rss().items():
                peak[umid] = max(peak[umid], kib)
            time.sleep(0.5)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "pytest", "scenarios/test_matrix.py", "-q",
                           "-n", str(workers), f"--junitxml={junit}", *extra], cwd=ROOT,
                          capture_output=True, text=True, check=False)
    wall = time.monotonic() - started
    done.set()
    sampler.join()
    cases = list(ET.parse(junit).getroot().iter("testcase"))
    passed = [float(c.get("time") or 0) for c in cases
              if not any(c.find(k) is not None for k in ("failure", "error", "skipped"))]
    print(f"-n {workers}: {proc.stdout.strip().splitlines()[-1]}")
    return {"wall": wall, "median": statistics.median(passed) if passed else 0.0,
            "cells": len(passed), "peak_mib": max(peak.values(), default=0) / 1024}


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    extra = sys.argv[1:]
    one, two = run(1, extra), run(2, extra)
    for n, r in ((1, one), (2, two)):
        print(f"-n {n}: wall {r['wall']:.1f} s, {r['cells']} cells passed, per-cell median "
              f"{r['median']:.2f} s, peak memory per worker (UML included) {r['peak_mib']:.0f} MiB")
    print(f"speedup -n 2 over -n 1: {one['wall'] / two['wall']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
