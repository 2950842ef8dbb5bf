#!/usr/bin/env python3
"""Benchmark of the seed scenario, phase by phase: prints the median of each phase.

    .venv/bin/python ci/bench.py [--runs N] [--json FILE] [--flavors LEFT,RIGHT]
    .venv/bin/python ci/bench.py --cold N [--node NODEID] [--scenario FILE]

UML boot is the time from starting a worker kernel to a worker that answers;
the other phases are the cell's own timings (lab.cell.Cell.timings), measured
inside that kernel, over N runs of the source text's connection (IKEv2,
transport, aes128-sha1-modp2048, Libreswan at both ends unless --flavors names the
two peers' flavors, e.g. strongswan@bookworm,libreswan@sid). Retransmissions are
counted from the daemons' logs: the aim is none.

--warm on|off|both (default both): the cells with the worker's daemons kept from one cell to
the next (lab.warm: a warm daemon start is the load and unload through its control interface),
and with every cell starting its own; both runs in the same kernels, in turns.

--cold N times what a person reproducing a bug waits for: `pytest -q NODEID` and
`ipsec-lab run --scenario FILE` from the shell prompt to their exit, N times each, without
and with a warm guest (lab.kernel.warm; its first use, which boots it, is said apart), and
beside them `pytest -q NODEID` with the imports file by file and with Debian's UML
(ci/install-uml.sh) where the pick is our own kernel (ci/build-uml.sh).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import execnet

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lab.kernel.choice import choose
from lab.kernel.imports import BUNDLE_VAR
from lab.kernel.uml import KERNEL_VAR, cache_dir, find_kernel, worker_python
from lab.kernel.warm import WARM_VAR
from lab.run import TAG_VAR
from lab.state import STATE_VAR

REMOTE = '''
import tempfile, time
from dataclasses import replace
from pathlib import Path
started = time.monotonic()
import lab.wire.packets  # scapy: the worker imports it while it boots
lab.wire.packets.scapy()
scapy_import = time.monotonic() - started
from lab.cell import Cell
from lab.cell.sequence import run_cell
from lab.scenario import seed_scenario
from lab.warm import WarmPool
runs, tag, flavors, warm = channel.receive()
channel.send({"scapy import": scapy_import})
cache = Path(tempfile.mkdtemp(prefix="ipl-bench-"))
pool = WarmPool(tag, cache, "bench-warm") if warm else None
for mode in ("transport", "tunnel"):
    scenario = seed_scenario(ike_version=2, mode=mode, ike="aes128-sha1-modp2048")
    scenario = scenario.with_(left=replace(scenario.left, flavor=flavors[0]),
                              right=replace(scenario.right, flavor=flavors[1]))
    for i in range(runs):
        started = time.monotonic()
        cell = Cell(scenario, tag=tag, ident=f"b{i}{mode[0]}", cache=cache, warm=pool)
        try:
            run_cell(cell)
            retrans = sum(d.log_text().count("retransmi") for d in cell.daemons.values())
        finally:
            cell.down()
        reused = all(pool.reused.values()) if pool else False
        channel.send({"mode": mode, "phases": cell.timings, "retransmissions": retrans,
                      "cell": time.monotonic() - started, "reused": reused})
if pool:
    pool.close()
channel.send(None)
'''

PHASES = ("uml boot", "scapy import", "configs", "topology", "daemon start", "start: launch",
          "start: ready", "start: load", "initiate", "ike",
          "traffic", "dissect", "verdict", "decrypt", "negotiated", "delete",
          "teardown", "cell")


ROOT = Path(__file__).resolve().parents[1]
COLD_NODE = "scenarios/test_seed.py::test_seed[ikev2-tunnel-aes128-sha1-modp2048]"
COLD_SCENARIO = "scenarios/files/net-to-net.toml"


GUEST_COSTS = '''
import mmap, os, time
started = time.monotonic()
for _ in range(5000):
    os.getppid()
syscall = (time.monotonic() - started) / 5000
area = mmap.mmap(-1, 5000 * 4096)
started = time.monotonic()
for offset in range(0, 5000 * 4096, 4096):
    area[offset] = 1
channel.send((syscall, (time.monotonic() - started) / 5000))
'''


def guest_costs(tag: str) -> tuple[float, float]:
    """What a system call and a page fault cost in a UML guest right now (seconds): the cold
    start is mostly those, and they vary on this machine (UML's come from the hypervisor's)."""
    gw = execnet.makegateway(f"popen//python={worker_python(tag)}")
    try:
        return gw.remote_exec(GUEST_COSTS).receive()
    finally:
        gw.exit()


def cold(runs: int, node: str, scenario: str) -> dict[str, float]:
    """Median wall time of ``pytest -q NODE`` and ``ipsec-lab run --scenario SCENARIO`` from the
    prompt, with and without a warm guest (lab.kernel.warm); each run must pass. With
    IPSEC_LAB_IMPORTS=off in the environment every variant imports file by file."""
    picked = find_kernel()
    no_bundle = os.environ.get(BUNDLE_VAR) == "off"
    base = {k: v for k, v in os.environ.items()
            if k not in (TAG_VAR, "PYTHONDONTWRITEBYTECODE", BUNDLE_VAR, WARM_VAR, STATE_VAR)}
    base.update({KERNEL_VAR: str(picked.binary), **({BUNDLE_VAR: "off"} if no_bundle else {})})
    state = tempfile.mkdtemp(prefix="ipl-bench-state-")  # the bench's warm guests, nobody else's
    pytest_cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", node]
    run_cmd = [sys.executable, "-m", "lab", "run", "--scenario", scenario]
    cold_env, warm_env = {WARM_VAR: "off"}, {WARM_VAR: "on", STATE_VAR: state}
    variants = [("pytest NODE, no warm guest", pytest_cmd, cold_env),
                ("pytest NODE, warm guest", pytest_cmd, warm_env),
                ("ipsec-lab run, no warm guest", run_cmd, cold_env),
                ("ipsec-lab run, warm guest", run_cmd, warm_env)]
    if not no_bundle:
        variants.append(("pytest NODE, no warm guest, imports file by file", pytest_cmd,
                         {**cold_env, BUNDLE_VAR: "off"}))
    debian = cache_dir() / "uml" / "linux.uml"
    if debian.is_file() and picked.binary != debian:
        variants.append((f"pytest NODE, no warm guest, {find_kernel(str(debian))}", pytest_cmd,
                         {**cold_env, KERNEL_VAR: str(debian)}))
    syscall, fault = guest_costs(os.environ.setdefault(TAG_VAR, f"ipl-bench-{os.getpid()}"))
    print(f"kernel: {picked}; in a guest now: a system call {syscall * 1e6:.0f} us, a page fault"
          f" {fault * 1e6:.0f} us", flush=True)
    figures = {"guest system call": syscall, "guest page fault": fault}

    def timed(label: str, argv: list[str], extra: dict[str, str]) -> float:
        started = time.monotonic()
        done = subprocess.run(argv, cwd=ROOT, env={**base, **extra}, capture_output=True, text=True)
        took = time.monotonic() - started
        if done.returncode != 0:
            raise SystemExit(f"bench: {label} did not pass:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
        return took

    times: dict[str, list[float]] = {label: [] for label, _, _ in variants}
    try:
        for label, argv, extra in variants:  # the warm guests' first use boots them: said apart
            if extra is warm_env:
                figures[f"{label}: first use"] = took = timed(label, argv, extra)
                print(f"{label}: first use (starts it) {took:.2f} s", flush=True)
        for _ in range(runs):  # in turns: this machine's speed drifts within minutes
            for label, argv, extra in variants:
                times[label].append(timed(label, argv, extra))
    finally:
        subprocess.run([sys.executable, "-c", "from lab.kernel import warm; warm.stop_all()"],
                       cwd=ROOT, env={**base, STATE_VAR: state}, check=False)
        shutil.rmtree(state, ignore_errors=True)
    for label, took in times.items():
        figures[label] = statistics.median(took)
        print(f"{label}: median {statistics.median(took):.2f} s, min {min(took):.2f} s,"
              f" max {max(took):.2f} s, n {runs}", flush=True)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="cells per mode (default 5)")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--flavors", default="libreswan,libreswan",
                        help="the left and the right peer's flavors (default libreswan,libreswan)")
    parser.add_argument("--cold", type=int, metavar="N",
                        help="time N runs of `pytest -q NODE` and `ipsec-lab run` from the prompt instead")
    parser.add_argument("--warm", default="both", choices=("on", "off", "both"),
                        help="daemons kept from cell to cell (lab.warm), or not, or both (default)")
    parser.add_argument("--node", default=COLD_NODE, help=f"the node id for --cold (default {COLD_NODE})")
    parser.add_argument("--scenario", default=COLD_SCENARIO,
                        help=f"the scenario of `ipsec-lab run` for --cold (default {COLD_SCENARIO})")
    args = parser.parse_args()
    if args.cold:
        figures = cold(args.cold, args.node, args.scenario)
        if args.json:
            Path(args.json).write_text(json.dumps({"median_s": figures}, indent=2))
        return 0
    flavors = args.flavors.split(",")
    if len(flavors) != 2:
        parser.error(f"--flavors: {args.flavors!r} is not two flavors (allowed: LEFT,RIGHT)")
    choice = choose("auto")
    if choice.kind != "uml" or choice.uml is None:
        print("bench: the host kernel has ESP; this benchmark measures the UML path")
        return 0
    tag = os.environ.setdefault(TAG_VAR, f"ipl-bench-{os.getpid()}")
    os.environ[KERNEL_VAR] = str(choice.uml.binary)
    ways = {"on": ("warm",), "off": ("cold",), "both": ("cold", "warm")}[args.warm]
    samples: dict[str, dict[str, list[float]]] = {way: {p: [] for p in PHASES} for way in ways}
    retransmissions = dict.fromkeys(ways, 0)
    warm_starts = 0
    for _ in range(2):  # two kernels: boot is measured twice
        for way in ways:  # in turns, each way in a kernel of its own
            started = time.monotonic()
            gw = execnet.makegateway(f"popen//python={worker_python(tag)}")
            gw.remote_exec("channel.send(1)").receive()
            samples[way]["uml boot"].append(time.monotonic() - started)
            ch = gw.remote_exec(REMOTE)
            ch.send((args.runs, tag, flavors, way == "warm"))
            samples[way]["scapy import"].append(ch.receive()["scapy import"])
            while (result := ch.receive()) is not None:
                for phase, seconds in result["phases"].items():
                    samples[way].setdefault(phase, []).append(seconds)
                samples[way]["cell"].append(result["cell"])
                retransmissions[way] += result["retransmissions"]
                warm_starts += result["reused"]
            gw.exit()
    figures = {way: {p: statistics.median(v) for p, v in samples[way].items() if v} for way in ways}
    print(f"ipsec-lab benchmark: {choice.describe()}; {flavors[0]} -> {flavors[1]}")
    print(f"{'phase':<14}" + "".join(f" {way + ' median':>13} {'n':>4}" for way in ways))
    names = [*PHASES, *(p for way in ways for p in figures[way] if p not in PHASES)]
    for phase in dict.fromkeys(names):
        if any(phase in figures[way] for way in ways):
            print(f"{phase:<14}" + "".join(
                f" {figures[way][phase] * 1000:>11.0f}ms {len(samples[way][phase]):>4}"
                if phase in figures[way] else f" {'-':>13} {'':>4}" for way in ways))
    for way in ways:
        if "dissect" in figures[way]:
            share = figures[way]["dissect"] / figures[way]["cell"]
            print(f"{way}: dissect (scapy) is {share:.1%} of a cell: "
                  f"{'within' if share <= 0.10 else 'ABOVE'} the 10% the hand-written parser was allowed")
        print(f"{way}: IKE retransmissions in {len(samples[way]['cell'])} cells: {retransmissions[way]}")
    if "warm" in ways:
        print(f"warm: {warm_starts} of {len(samples['warm']['cell'])} cells on both daemons kept"
              " (the first cell of each kernel starts them)")
    if args.json:
        Path(args.json).write_text(json.dumps({"median_s": figures,
                                               "retransmissions": retransmissions}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
