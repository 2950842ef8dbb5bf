"""ipsec-lab list, exec, shell and down: the labs that are up (each held by its keeper,
lab.cli.keeper), asked through the keeper's socket."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import termios
import time
import tty

from lab.cli import keeper, network
from lab.errors import LabError, UsageError
from lab.peers import NODE_NAME
from lab.topology.table import NODE_SUFFIX

#: the peers, and the other nodes a topology may have (lab.topology.table)
PEERS = tuple(NODE_SUFFIX)
NODE_HELP = "left or right, or another node of the topology (left-host, right-host, router)"


def cmd_list(args: argparse.Namespace) -> int:
    labs = keeper.running_labs()
    if not labs:
        print("no labs are up")
    for state in labs:
        try:
            info = state.read()
        except LabError as exc:
            print(f"{state.name}: BROKEN: {exc}")
            continue
        s = info["scenario"]
        what = network.describe(s) if "nodes" in s else \
            f"{s['left']['flavor']} -> {s['right']['flavor']} IKEv{s['ike_version']} {s['mode']}"
        print(f"{state.name}: {_health(state)}, {what}, since {info['created']}, {info['kernel']}")
    return 0


def _health(state: keeper.LabState) -> str:
    """"up" only while the keeper and both daemons run; else what is gone."""
    if not state.alive():
        return "DEAD: its keeper is gone (ipsec-lab clean)"
    try:
        conn, messages = keeper.request(state, {"op": "status"}, timeout=10)
        with conn:
            msg = next(messages, {"t": "error", "message": "no answer"})
    except (OSError, LabError) as exc:
        return f"UNKNOWN: its keeper does not answer ({exc})"
    if msg["t"] != "done":
        return f"UNKNOWN: {msg.get('message')}"
    gone = [why.splitlines()[0] for why in msg["rc"].values() if why]
    return f"DAEMON GONE: {'; '.join(gone)}" if gone else "up"


def _peer(name: str, lab: str) -> str:
    """A two-peer lab's node, or a node of the scenario with nodes that lab ``lab`` runs."""
    allowed = PEERS
    if name not in PEERS and (NODE_NAME.fullmatch(name) or name.startswith("host-")):
        with contextlib.suppress(LabError):  # (no such lab: the two-peer names are the answer)
            saved = keeper.lab_state(lab).read().get("scenario", {})
            allowed = network.node_names(saved) if "nodes" in saved else PEERS
    if name not in allowed:
        raise UsageError(f"unknown peer {name!r} (allowed: {', '.join(allowed)})")
    return name


def cmd_exec(args: argparse.Namespace) -> int:
    words = list(args.command)
    if "--" in words:  # options may stand between PEER and --
        cut = words.index("--")
        extra, argv = words[:cut], words[cut + 1:]
        while extra[:1] == ["--name"] and len(extra) >= 2:
            args.name, extra = extra[1], extra[2:]
        if extra:
            raise UsageError(f"exec: unexpected {' '.join(extra)!r} before -- (allowed: --name NAME)")
    else:
        argv = words
    if not argv:
        raise UsageError("exec: give a command after --, e.g. ipsec-lab exec left -- ip xfrm state")
    conn, messages = keeper.request(keeper.lab_state(args.name),
                                    {"op": "exec", "peer": _peer(args.peer, args.name), "argv": argv})
    with conn:
        for msg in messages:
            if msg["t"] == "output":
                sys.stdout.buffer.write(msg["out"])
                sys.stderr.buffer.write(msg["err"])
            elif msg["t"] == "error":
                raise LabError(msg["message"])
            else:
                sys.stdout.flush()
                return int(msg["rc"])
    return 1


def cmd_shell(args: argparse.Namespace) -> int:
    conn, messages = keeper.request(keeper.lab_state(args.name), {
        "op": "exec", "peer": _peer(args.peer, args.name), "argv": ["/bin/bash", "--norc", "-i"], "tty": True,
        "term": os.environ.get("TERM", "xterm")})
    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd) if os.isatty(fd) else None
    import threading

    def pump() -> None:
        while data := os.read(fd, 4096):
            keeper.send_message(conn, data=data)
        keeper.send_message(conn, eof=True)

    try:
        if saved:
            tty.setraw(fd)
        threading.Thread(target=pump, daemon=True).start()
        for msg in messages:
            if msg["t"] == "output":
                os.write(sys.stdout.fileno(), msg["out"])
            elif msg["t"] == "error":
                raise LabError(msg["message"])
            else:
                return int(msg["rc"])
    finally:
        if saved:
            termios.tcsetattr(fd, termios.TCSADRAIN, saved)
        conn.close()
    return 1


def cmd_down(args: argparse.Namespace) -> int:
    state = keeper.lab_state(args.name)
    conn, messages = keeper.request(state, {"op": "down"})
    found: list[str] = []
    with conn:
        for msg in messages:
            if msg["t"] == "error":
                raise LabError(f"lab {args.name!r} did not come down cleanly: {msg['message']}")
            found = msg.get("found", [])
            break
    for why in found:
        print(f"found before down: {why.splitlines()[0]}")
    deadline = time.monotonic() + 20
    while state.dir.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    print(f"lab {args.name!r} is down")
    return 0
