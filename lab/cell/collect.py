"""What a two-peer cell leaves behind and reports: its artifacts in a run directory
(configs, daemon logs, pcap, SA and policy dumps, timings), the path report and the IKE
counts it is made from."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from lab import run as runner
from lab import xfrm
from lab.artifacts import RunDir
from lab.errors import LabError
from lab.lifecycle.record import DaemonLog
from lab.scenario import SIDES
from lab.wire import nat, retransmit
from lab.wire.decrypt import write_esp_sa

if TYPE_CHECKING:
    from lab.cell.state import CellState


def collect(cell: CellState, rundir: RunDir, failed: bool,
            extra: Callable[[RunDir], None] | None = None) -> None:
    """Write the artifacts (before down(): the dumps need the namespaces)."""
    rundir.scenario(cell.scenario)
    for side, daemon in cell.daemons.items():
        rundir.copy_tree(daemon.ctx.dir, side)
        if daemon.log_offset:  # a kept daemon's log: this cell's part only
            rundir.write(f"{side}/{daemon.log_name}", daemon.log_text())
    write_capture(cell, rundir)
    lines = [f"# behind the NAT, {public} is {own}: the checks read it so"
             for public, own in cell.inside.items()]
    for side in SIDES:  # as the verdict saw them (the teardown check deletes them)
        try:
            held = cell.kernel_sas.get(side) or xfrm.dump(cell.topology.netns(side))
        except OSError as exc:
            held, lines = [], [*lines, f"{side}: {exc}"]
        lines += [f"{side}: {sa}" for sa in held]
    rundir.write("sa.txt", "\n".join(lines) + "\n")
    if cell.negotiated is not None:
        rundir.write("negotiated.txt", "\n".join(cell.negotiated.lines) + "\n")
    for side, held in cell.sas.items():  # the kernels' own messages, for replays in tests
        rundir.write(f"xfrm-sa-{side}.hex", "".join(f"{sa.raw.hex()}\n" for sa in held))
    if failed and cell.topology.ns["left"].created:
        _dump_kernel_state(cell, rundir)
    if cell.probes:
        rundir.write("must-not-pass.txt", "".join(f"{r.line()}\n" for r in cell.probes))
    if cell.outcome is not None:
        rundir.write("outcome.txt", f"expected: {cell.scenario.expect}\nseen: {cell.outcome}\n")
    rundir.write("timings.txt", "".join(f"{k}: {v:.3f} s\n" for k, v in cell.timings.items()))
    rundir.write("path.txt", "\n".join(path_report(cell)) + "\n")
    if not cell.scenario.path.plain and "router" in cell.topology.ns:
        _dump_router(cell, rundir)
    if cell.record is not None:
        rundir.write("timeline.txt", cell.record.timeline(
            [DaemonLog(side, d.name, d.log_path) for side, d in cell.daemons.items()]))
    if extra:
        extra(rundir)


def write_capture(cell: CellState, rundir: RunDir) -> None:
    """capture.pcap, and esp_sa beside it so that Wireshark opens it decrypted."""
    if cell.capture is not None:
        cell.capture.stop()
        cell.capture.write_pcap(rundir.path / "capture.pcap")
        write_esp_sa(rundir.path / "esp_sa", [sa for side in SIDES for sa in _held_safe(cell, side)])


def _held_safe(cell: CellState, side: str) -> list[xfrm.SA]:
    """The SAs as the kernel held them for the verdict, else as it holds them now."""
    if cell.kernel_sas.get(side):
        return cell.kernel_sas[side]
    try:
        return xfrm.dump(cell.topology.netns(side))
    except OSError:
        return []


def _dump_router(cell: CellState, rundir: RunDir) -> None:
    """The router's qdiscs and filters with their counters (what the path dropped)."""
    lines = []
    for argv in (["tc", "-s", "qdisc", "show"], ["tc", "-s", "filter", "show", "dev", "e0"],
                 ["tc", "-s", "filter", "show", "dev", "e1"]):
        out = runner.run(argv, tag=cell.tag, netns=cell.topology.netns("router"), check=False)
        lines.append(f"$ {' '.join(argv)}\n{out.stdout}{out.stderr}")
    rundir.write("router-tc.txt", "\n".join(lines))


def _dump_kernel_state(cell: CellState, rundir: RunDir) -> None:
    for side in SIDES:
        ns = cell.topology.netns(side)
        for what in ("state", "policy"):
            out = runner.run(["ip", "xfrm", what], tag=cell.tag, netns=ns, check=False)
            rundir.write(f"xfrm-{what}-{side}.txt", out.stdout + out.stderr)
        daemon = cell.daemons.get(side)
        if daemon and daemon.proc and daemon.proc.poll() is None:
            # the kernel's XFRM error counters in the peer's namespace (why a packet that
            # met a policy went nowhere: no state, a larval one, a bad ICV, ...)
            with contextlib.suppress(OSError):
                rundir.write(f"xfrm-stat-{side}.txt",
                             Path(f"/proc/{daemon.proc.pid}/net/xfrm_stat").read_text())
            for argv in daemon.status_commands():
                try:
                    out = daemon.tool(argv, check=False, timeout=10)
                    text = out.stdout + out.stderr
                except LabError as exc:
                    text = str(exc)
                rundir.write(f"status-{side}-{os.path.basename(argv[0])}-"
                             f"{argv[-1].lstrip('-')}.txt", text)


def count_ike(cell: CellState, packets: list | None = None) -> None:  # type: ignore[type-arg]
    """Each side's IKE messages and retransmissions, from the capture (stopped here
    when the cell ended before its verdict)."""
    if packets is None:
        if cell.capture is None:
            return
        cell.capture.stop()
        packets = nat.mapped(cell.capture.packets, cell.inside)
    cell.ike_counts = retransmit.count(
        packets, {side: cell.scenario.peer(side).address for side in SIDES})


def path_report(cell: CellState) -> list[str]:
    """The path, each daemon's IKE retransmissions, the time to establish."""
    if not cell.ike_counts:
        count_ike(cell)
    s = cell.scenario
    lines = [f"path: {s.path.describe()}" + (f"; fragmentation {s.fragmentation}"
                                              if s.fragmentation != "default" else "")
             + (f"; encapsulation {s.encapsulation}" if s.encapsulation != "auto" else "")]
    for side, n in cell.ike_counts.items():
        daemon = cell.daemons.get(side)
        who = f"{side} ({daemon.name} {daemon.version(daemon.ctx.flavor, cell.tag)})" \
            if daemon else side
        lines.append(f"{who}: {n.messages} IKE packets sent, {n.retransmissions}"
                     " of them again (retransmissions)")
    if cell.established_in is not None:
        lines.append(f"established in {cell.established_in:.2f} s")
    return lines


def path_summary(cell: CellState) -> str:
    """One line: each daemon's retransmissions, the time to establish."""
    if not cell.ike_counts:
        count_ike(cell)
    parts = []
    for side, n in cell.ike_counts.items():
        daemon = cell.daemons.get(side)
        name = f"{daemon.ctx.flavor.name}" if daemon else side
        parts.append(f"{side} {name} {n.retransmissions} retransmitted of {n.messages}")
    took = f"established in {cell.established_in:.2f} s" if cell.established_in is not None \
        else "not established"
    return "; ".join([*parts, took])
