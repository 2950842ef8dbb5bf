"""The lab's side of the command line: runs inside the kernel that holds the SAs.

`ipsec-lab run` and `ipsec-lab up` open an execnet gateway into that kernel (a
UML guest, or a plain subprocess where the host has ESP) and call `serve` over a
channel. Requests are dicts; the answer is a stream of ``("event", ...)`` tuples
ending in ``("done", result)`` or ``("error", message)``. The running cell is
kept on the gateway object, so a later channel (exec, shell, down) finds it.
"""

from __future__ import annotations

import contextlib
import os
import pty
import select
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from lab import owner
from lab import run as runner
from lab.artifacts import RunDir
from lab.cell import Cell
from lab.daemons.registry import cannot_run
from lab.errors import LabError
from lab.lifecycle.events import LifecycleVerdict, run_lifecycle, teardown
from lab.scenario import SIDES, scenario_from_dict


def _phase_events(cell: Cell, send: Any) -> Any:
    real = cell.phase

    def announced(name: str):  # type: ignore[no-untyped-def]
        with contextlib.suppress(OSError):  # the channel that asked may be gone (down later)
            send(("event", f"{name} ..."))
        return real(name)

    cell.phase = announced  # type: ignore[method-assign]
    return cell


def summary(cell: Cell) -> dict[str, Any]:
    if cell.capture:
        cell.capture.stop()  # dissects what it captured, also when the cell failed early
    packets = cell.capture.packets if cell.capture else []
    return {
        "sas": {side: [str(sa) for sa in held]
                for side, held in (cell.kernel_sas or cell.sas).items()},
        "wire": [p.line() for p in packets if p.kind in ("esp", "ike")][:40],
        "verdict": cell.verdict.summary() if cell.verdict else [],
        "problems": cell.verdict.problems if cell.verdict else [],
        "negotiated": cell.negotiated.lines if cell.negotiated else [],
        "decryption": cell.decryption.summary() if cell.decryption else "",
        "ping": str(cell.ping) if cell.ping else "",
        "probes": [r.line() for r in cell.probes],
        "outcome": f"expected {cell.scenario.expect}, seen {cell.outcome}" if cell.outcome else "",
        "timings": dict(cell.timings),
        "path": cell.path_report() if not cell.scenario.path.plain
        or cell.scenario.encapsulation != "auto" else [],
        "netns": {side: cell.topology.netns(side) for side in SIDES},
    }


def _first_sa(cell: Cell, keep: bool) -> None:
    cell.negotiate()  # raises unless it ends as the scenario expects
    if cell.scenario.expect == "established":
        cell.traffic()
        cell.judge()
        if not keep:  # a lab that stays up keeps its SAs
            cell.delete()
    elif not keep:
        cell.end_as_expected()


def up(channel: Any, request: dict[str, Any]) -> None:
    scenario = scenario_from_dict(request["scenario"], "scenario")
    reason = cannot_run(scenario, request["tag"])  # asked in the kernel that holds the SAs
    if reason:
        channel.send(("error", f"this cell cannot run here: {reason}"))
        return
    cache = Path(tempfile.mkdtemp(prefix=owner.current().name_prefix() + "cli-"))
    cell = Cell(scenario, tag=request["tag"], ident=request["ident"], cache=cache)
    _phase_events(cell, channel.send)
    rundir = RunDir(Path(request["rundir"])).fresh()
    error = None
    lifecycle: LifecycleVerdict | None = None
    try:
        cell.up()
        if cell.scenario.lifecycle != "none" and not request.get("keep"):
            lifecycle = run_lifecycle(cell)  # negotiates, streams, the event, its checks
            lifecycle.problems += teardown(cell)
        else:  # a lab that stays up gets its SAs, not the lifecycle event
            _first_sa(cell, keep=bool(request.get("keep")))
    except (LabError, AssertionError, OSError) as exc:
        error = f"{type(exc).__name__}: {exc}"
    except KeyboardInterrupt:  # Ctrl-C of a cell run in this process (a warm guest's): take it down
        cell.down()
        raise
    result = summary(cell)
    if lifecycle is not None:
        result["verdict"] = lifecycle.lines()
        result["problems"] = lifecycle.problems
    failed = bool(error or result["problems"])
    try:
        cell.collect(rundir, failed)
    except (LabError, OSError) as exc:
        result["problems"].append(f"artifacts: {exc}")
    result.update(error=error, rundir=str(rundir.path))
    if request.get("keep"):
        channel.gateway._ipsec_lab_cell = cell
    else:
        cell.down()
    channel.send(("done", result))


def health(cell: Cell) -> dict[str, str | None]:
    """Per side: that its daemon is gone (with its exit status and log), or None."""
    found: dict[str, str | None] = {}
    for side, daemon in cell.daemons.items():
        proc = daemon.proc
        if proc is not None and proc.poll() is None:
            found[side] = None
        else:
            status = f"exited with status {proc.returncode}" if proc else "never started"
            found[side] = f"{daemon.name} ({side}) {status}; log: {daemon.ctx.dir / daemon.log_name}"
    return found


def _way_in(cell: Cell, side: str, program: str) -> tuple[Any, list[str]]:
    """How a command gets into the peer: the running daemon's view of its flavor tree;
    a fresh view of the tree if the daemon is gone; the host's own tree (in the peer's
    namespace) for a tool the flavor tree lacks, such as kill or ps."""
    daemon = cell.daemons[side]
    flavor = daemon.ctx.flavor
    notes = [f"note: {why}" for why in [health(cell)[side]] if why]
    if flavor.root is not None and "/" not in program and flavor.which(program) is None:
        found = shutil.which(program, path=runner.lab_env("")["PATH"] + ":/usr/sbin:/sbin")
        if found:
            notes.append(f"{program}: not in the {flavor.name} tree; running the host's {found}"
                         f" in {side}'s namespace")
            return None, notes
    if daemon.proc is not None and daemon.proc.poll() is None:
        return flavor.enter_running(daemon.proc.pid), notes
    return flavor.enter_new(daemon.ctx.dir), notes


def status(channel: Any, request: dict[str, Any]) -> None:
    cell: Cell | None = getattr(channel.gateway, "_ipsec_lab_cell", None)
    if cell is None:
        channel.send(("error", "no lab is up in this kernel"))
        return
    channel.send(("done", health(cell)))


def exec_in_peer(channel: Any, request: dict[str, Any]) -> None:
    cell: Cell | None = getattr(channel.gateway, "_ipsec_lab_cell", None)
    if cell is None:
        channel.send(("error", "no lab is up in this kernel"))
        return
    side = request["peer"]  # a peer, or another node of the topology (a host, the router)
    if side not in cell.topology.ns:
        channel.send(("error", f"no node {side!r} in topology {cell.scenario.topology}"
                               f" (allowed: {', '.join(cell.topology.ns)})"))
        return
    daemon = cell.daemons.get(side)
    enter, notes = _way_in(cell, side, request["argv"][0]) if daemon else (None, [])
    preexec = runner.in_netns(cell.topology.netns(side), enter)
    if notes:
        text = "".join(f"ipsec-lab exec: {note}\n" for note in notes).encode()
        channel.send(("output", b"", text) if not request.get("tty")
                     else ("output", text.replace(b"\n", b"\r\n"), b""))
    label = f"{side} {daemon.ctx.flavor.name}" if daemon else side
    env = runner.lab_env(cell.tag, {"PS1": f"[{label}] \\w# ",
                                    "TERM": request.get("term", "xterm")})
    if not request.get("tty"):
        proc = subprocess.run(request["argv"], capture_output=True, preexec_fn=preexec,
                              env=env, timeout=120, check=False)
        channel.send(("output", proc.stdout, proc.stderr))
        channel.send(("done", proc.returncode))
        return
    pid, fd = pty.fork()
    if pid == 0:  # the child: into the peer, then the shell
        try:
            preexec()
            os.execvpe(request["argv"][0], request["argv"], env)
        finally:
            os._exit(127)
    incoming: list[bytes] = []
    channel.setcallback(incoming.append, endmarker=b"")
    try:
        while True:
            while incoming:
                data = incoming.pop(0)
                if data == b"":
                    raise EOFError
                os.write(fd, data)
            if select.select([fd], [], [], 0.05)[0]:
                try:
                    data = os.read(fd, 65536)
                except OSError:
                    break
                if not data:
                    break
                channel.send(("output", data, b""))
    except EOFError:
        pass
    finally:
        os.close(fd)
        _, status = os.waitpid(pid, 0)
    channel.send(("done", os.waitstatus_to_exitcode(status)))


def down(channel: Any, request: dict[str, Any]) -> None:
    """Take the lab down; the answer says what was found dead before that."""
    cell: Cell | None = getattr(channel.gateway, "_ipsec_lab_cell", None)
    found: list[str] = []
    if cell is not None:
        found = [why for why in health(cell).values() if why]
        cell.down()
        channel.gateway._ipsec_lab_cell = None
    channel.send(("done", found))


def network(channel: Any, request: dict[str, Any]) -> None:
    """A scenario of more than two peers (lab.remote.agent)."""
    from lab.remote.agent import up as up_network

    up_network(channel, request)


OPS = {"up": up, "exec": exec_in_peer, "status": status, "down": down, "network": network}


def serve(channel: Any) -> None:
    request = channel.receive()
    try:
        OPS[request["op"]](channel, request)
    except Exception as exc:  # the host shows it; the guest keeps running
        channel.send(("error", f"{type(exc).__name__}: {exc}"))


if __name__ == "__channelexec__":
    serve(channel)  # type: ignore[name-defined]  # noqa: F821
