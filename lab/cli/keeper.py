"""Labs that stay up: `ipsec-lab up` leaves a keeper process holding the kernel.

The keeper owns the execnet gateway into the kernel (a UML guest, or a plain
subprocess where the host has ESP) and answers on a Unix socket in the lab's
state directory: one JSON line per message, bytes in base64. `ipsec-lab exec`,
`shell` and `down` talk to it; `list` reads the state files.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import shutil
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import execnet

import lab.cli.agent
from lab.errors import LabError, UsageError
from lab.kernel import warm
from lab.kernel.choice import KernelChoice
from lab.kernel.uml import UmlKernel, worker_python
from lab.owner import Owner
from lab.state import check_lab_name, subdir, write_atomic


def labs_dir() -> Path:
    """Where labs that are up keep their state: ``labs/`` in the user's private state
    directory (lab.state), so lab names are per user."""
    return subdir("labs")


def gateway(choice: KernelChoice, tag: str, travel: UmlKernel | None = None) -> execnet.Gateway:
    """A Python process in the kernel that holds the SAs: a fresh UML guest, or (on a
    host with ESP, or already inside a guest) a plain subprocess; with ``travel``, that
    kernel (ours) booted with time-travel, whatever the choice."""
    if travel is not None:
        return execnet.makegateway(f"popen//python={worker_python(tag, travel, time_travel=True)}")
    spec = f"popen//python={worker_python(tag, choice.uml)}" if choice.uml is not None else "popen"
    return execnet.makegateway(spec)


def call(gw: execnet.Gateway, request: dict[str, Any]) -> Iterator[tuple[Any, ...]]:
    """Send one request to lab.cli.agent; yield its messages up to the last."""
    channel = gw.remote_exec(lab.cli.agent)
    channel.send(request)
    while True:
        msg = channel.receive()
        yield msg
        if msg[0] in ("done", "error"):
            return


class _Direct:
    """A channel for the agent run in this process: what it sends goes to ``said``."""

    def __init__(self, said: Callable[[tuple[Any, ...]], None]) -> None:
        self.send = said
        self.gateway = self


def here(said: Callable[[tuple[Any, ...]], None], request: dict[str, Any]) -> None:
    """Serve one request with lab.cli.agent in this process and thread (a command already in
    the kernel that holds the SAs, as in a warm guest: no gateway's python to start). Ctrl-C
    reaches the cell itself, which takes it down."""
    lab.cli.agent.OPS[request["op"]](_Direct(said), request)


@dataclass
class LabState:
    name: str
    dir: Path

    @property
    def file(self) -> Path:
        return self.dir / "state.json"

    @property
    def ctl(self) -> Path:
        return self.dir / "ctl"

    @property
    def owner_file(self) -> Path:
        return self.dir / "owner"

    def read(self) -> dict[str, Any]:
        """The state file, or a one-line LabError if it is unreadable or incomplete."""
        try:
            info = json.loads(self.file.read_text())
            missing = next((k for k in STATE_KEYS if k not in info), None)
        except (OSError, ValueError, TypeError) as exc:
            missing = f"unreadable ({getattr(exc, 'strerror', None) or exc})"
        if missing is not None:
            raise LabError(f"lab {self.name!r}: its state file {self.file} is broken (lacks or"
                           f" cannot read {missing!r}); run `ipsec-lab clean`")
        return info

    def write(self, info: dict[str, Any]) -> None:
        write_atomic(self.file, json.dumps(info))

    def owner(self) -> Owner | None:
        """The keeper (or, while it starts, the `up` that makes it), with its start time."""
        try:
            return Owner.parse(self.owner_file.read_text().strip())
        except OSError:
            return None

    def claim(self) -> None:
        write_atomic(self.owner_file, f"{Owner.me()}\n")

    def alive(self) -> bool:
        found = self.owner()
        return found is not None and found.alive()


#: what a state file must hold for `list`
STATE_KEYS = ("name", "keeper", "owner", "tag", "kernel", "scenario", "created")


def take(state: LabState) -> None:
    """Take the lab's name for this process, or fail in one line: under a per-user lock,
    a name whose owner lives is refused; one left by a dead owner is taken over."""
    with open(labs_dir() / ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        found = state.owner()
        if found is not None and found.alive():
            raise UsageError(f"--name: a lab named {state.name!r} is up or coming up already"
                             f" (owner PID {found.pid}; ipsec-lab down --name {state.name})")
        remove(state)
        state.dir.mkdir(mode=0o700)
        state.claim()


def lab_state(name: str) -> LabState:
    return LabState(check_lab_name(name), labs_dir() / name)


def running_labs() -> list[LabState]:
    labs = labs_dir()
    if not labs.is_dir():
        return []
    return [LabState(d.name, d) for d in sorted(labs.iterdir()) if (d / "state.json").is_file()]


def send_message(conn: socket.socket, **msg: Any) -> None:
    for key in ("out", "err", "data"):
        if isinstance(msg.get(key), bytes):
            msg[key] = base64.b64encode(msg[key]).decode()
    conn.sendall((json.dumps(msg) + "\n").encode())


def _lines(conn: socket.socket) -> Iterator[dict[str, Any]]:
    """The keeper's messages (one JSON object a line, lab.kernel.warm.lines), their output
    and data decoded."""
    for msg in warm.lines(conn):
        for key in ("out", "err", "data"):
            if isinstance(msg.get(key), str):
                msg[key] = base64.b64decode(msg[key])
        yield msg


def serve(state: LabState, gw: execnet.Gateway) -> None:
    """The keeper's loop: one thread per client, until a client says down."""
    stop = threading.Event()
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(state.ctl))
    server.listen(8)
    server.settimeout(0.5)

    def client(conn: socket.socket) -> None:
        with conn:
            messages = _lines(conn)
            request = next(messages, None)
            if request is None:
                return
            if request["op"] == "down":
                last = list(call(gw, {"op": "down"}))[-1]
                if last[0] == "error":
                    print(f"keeper: down: {last[1]}", file=sys.stderr, flush=True)
                    send_message(conn, t="error", message=last[1])
                else:
                    send_message(conn, t="done", rc=0, found=last[1] or [])
                stop.set()
                return
            channel = gw.remote_exec(lab.cli.agent)
            channel.send(request)
            if request.get("tty"):
                def pump() -> None:
                    for msg in messages:
                        if "data" in msg:
                            channel.send(msg["data"])
                    channel.send(b"")
                threading.Thread(target=pump, daemon=True).start()
            while True:
                msg = channel.receive()
                if msg[0] == "output":
                    send_message(conn, t="output", out=msg[1], err=msg[2])
                elif msg[0] == "done":
                    send_message(conn, t="done", rc=msg[1])
                    return
                else:
                    send_message(conn, t="error", message=msg[1])
                    return

    while not stop.is_set():
        try:
            conn, _ = server.accept()
        except TimeoutError:
            continue
        threading.Thread(target=client, args=(conn,), daemon=True).start()
    server.close()


def request(state: LabState, msg: dict[str, Any], timeout: float | None = None,
            ) -> tuple[socket.socket, Iterator[dict[str, Any]]]:
    if not state.file.is_file():
        names = ", ".join(s.name for s in running_labs() if s.alive()) or "none"
        raise UsageError(f"no lab named {state.name!r} is up (running: {names})")
    if not state.alive():
        raise LabError(f"lab {state.name!r}: its keeper is gone; run `ipsec-lab clean`")
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.settimeout(timeout)
    try:
        conn.connect(str(state.ctl))
        send_message(conn, **msg)
    except OSError as exc:
        conn.close()
        pid = getattr(state.owner(), "pid", "?")
        raise LabError(f"lab {state.name!r}: its keeper (PID {pid}) lives but does not answer on"
                       f" {state.ctl} ({exc.strerror or exc}); stop it with kill {pid}, then"
                       " ipsec-lab clean") from None
    return conn, _lines(conn)


def remove(state: LabState) -> None:
    shutil.rmtree(state.dir, ignore_errors=True)


def detach() -> None:
    """Become a session leader with no terminal, immune to the shell's hang-up."""
    os.setsid()
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
