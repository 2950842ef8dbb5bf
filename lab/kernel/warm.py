"""Warm guests: one booted UML guest kept ready for the next command from the prompt.

A node id run alone (lab.plugin) or `ipsec-lab run` boots a guest, imports pytest and
the lab in it, runs one cell and powers off: most of its time is the boot and the
imports. With a warm guest, the first such command starts a keeper
(lab.kernel.warmkeeper): a detached host process that boots a guest whose program
(lab.kernel.warmguest) has imported what every command needs, and answers on a Unix
socket. Each command is then run there in a fresh child process of that program.

- $IPSEC_LAB_WARM_GUEST: ``on``, ``off``, or ``auto`` (the default: on when our
  stdout is a terminal, that is a person at a prompt; scripts and CI boot cold).
- $IPSEC_LAB_WARM_GUEST_IDLE: minutes without a command before the keeper powers the
  guest off (default 10).
- Per user: the keepers live in ``warm/KEY/`` of the user's private state directory
  (0700, lab.state); a client talks only to a socket whose peer is its own uid and the
  keeper's recorded PID, and the keeper answers only its own uid.
- KEY is what the guest was booted with (kernel, memory, boot options, python): a command
  that needs another boot gets another guest. The host directories it binds and may write
  are recorded beside: a command that needs one more restarts it with both's.
- The lab's files (and this python's installed packages) are fingerprinted when the
  keeper starts; a command that finds them changed stops that guest and starts another.
- `ipsec-lab clean` stops them all (`stop_all`).
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import sysconfig
import time
from pathlib import Path
from typing import Any

from lab.kernel import confine, imports, modules
from lab.kernel.uml import KEEP_VAR, OPTS_VAR, UmlKernel, cache_dir, guest_env, guest_keeps
from lab.owner import OWNER_VAR, Owner
from lab.run import TAG_VAR
from lab.state import private_dir, subdir

WARM_VAR = "IPSEC_LAB_WARM_GUEST"
IDLE_VAR = "IPSEC_LAB_WARM_GUEST_IDLE"
DEFAULT_IDLE_MIN = 10.0
START_TIMEOUT = 120.0
PACKAGE = Path(__file__).resolve().parents[1]  # lab/


def wanted(interactive: bool | None = None) -> bool:
    """Whether this command should use a warm guest ($IPSEC_LAB_WARM_GUEST, see above)."""
    value = os.environ.get(WARM_VAR, "auto").strip().lower() or "auto"
    if value not in ("on", "off", "auto"):
        print(f"ipsec-lab: {WARM_VAR}={value}: not on, off or auto; booting cold", file=sys.stderr)
        return False
    if value == "auto":
        return sys.stdout.isatty() if interactive is None else interactive
    return value == "on"


def idle_seconds() -> float:
    value = os.environ.get(IDLE_VAR, "")
    try:
        minutes = float(value) if value else DEFAULT_IDLE_MIN
    except ValueError:
        minutes = -1
    if minutes <= 0:
        print(f"ipsec-lab: {IDLE_VAR}={value}: not a number of minutes above 0; using"
              f" {DEFAULT_IDLE_MIN:g}", file=sys.stderr)
        minutes = DEFAULT_IDLE_MIN
    return minutes * 60


def watched(kernel: UmlKernel) -> list[Path]:
    """Beside the sources, what a guest reads once and may keep in its page cache: the
    kernel itself and each flavor tree (`ipsec-lab setup` replaces a tree it rebuilds)."""
    trees = Path(os.environ.get("IPSEC_LAB_FLAVORS") or cache_dir() / "flavors")
    return [kernel.binary, trees, *(sorted(trees.iterdir()) if trees.is_dir() else [])]


def fingerprint(package: Path = PACKAGE, also: list[Path] | None = None) -> str:
    """The lab's source files and this python's installed packages as the guest would load
    them: every file's path, size and mtime under ``package``, the site-packages
    directory's own mtime (it changes when a package is installed or removed), and the
    mtime of each path in ``also``."""
    h = hashlib.sha256()
    for top, dirs, files in os.walk(package):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            if name.endswith((".pyc", ".pyo")):
                continue
            path = os.path.join(top, name)
            with contextlib.suppress(OSError):
                st = os.stat(path)
                h.update(f"{path}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    for where in (sysconfig.get_paths()["purelib"], os.path.realpath(sys.executable), *map(str, also or [])):
        with contextlib.suppress(OSError):
            h.update(f"{where}\0{os.stat(where).st_mtime_ns}\n".encode())
    return h.hexdigest()


def basetemp_name() -> str:
    """pytest's base temporary directory for the commands of one warm guest, when its kernel is
    confined (it may write only what it was booted with): one per checkout and python."""
    return "ipsec-lab-warm-" + hashlib.sha256(f"{os.getcwd()}\0{sys.executable}".encode()).hexdigest()[:8]


def boot_key(kernel: UmlKernel, mem: str) -> dict[str, Any]:
    """What a warm guest was booted with; a command needing anything else needs another guest
    (the directories it binds and may write are `needs`: a guest that has them all serves)."""
    # (python or python3 of one venv: the same interpreter and packages)
    python = [sys.prefix, os.path.realpath(sys.executable)]
    return {"uid": os.geteuid(), "python": python, "package": str(PACKAGE),
            "kernel": str(kernel.binary), "modules": str(kernel.modules), "mem": mem,
            "opts": os.environ.get(OPTS_VAR), "bundle": os.environ.get(imports.BUNDLE_VAR),
            "uml_user": os.environ.get(confine.USER_VAR) if confine.applies() else None}


def needs() -> dict[str, list[str]]:
    """The host directories this command's guest must bind back under its /tmp ("keep") and,
    confined, may write ("writable")."""
    return {"keep": sorted(set(guest_keeps((), imports.bundle_path(cache_dir()).parent)) - {""}),
            "writable": sorted(map(str, confine.listed())) if confine.applies() else []}


def covers(info: dict[str, Any], need: dict[str, list[str]]) -> bool:
    return all(set(need[k]) <= set(info.get(k, [])) for k in need)


def key_name(key: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]


def warm_root() -> Path:
    return subdir("warm")


def peer_credentials(conn: socket.socket) -> tuple[int, int, int]:
    """(pid, uid, gid) of the process at the other end of a Unix socket."""
    data = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return struct.unpack("3i", data)


def keeper_info(where: Path) -> dict[str, Any] | None:
    """The running keeper's record (``keeper.json``) if its process is alive, else None."""
    try:
        info = json.loads((where / "keeper.json").read_text())
        owner = Owner.parse(info["owner"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return info if owner is not None and owner.alive() else None


def send(conn: socket.socket, msg: dict[str, Any]) -> None:
    conn.sendall((json.dumps(msg) + "\n").encode())


def lines(conn: socket.socket) -> Any:
    buf = b""
    while True:
        chunk = conn.recv(65536)
        if not chunk:
            return
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            yield json.loads(line)


def connect(where: Path, info: dict[str, Any]) -> socket.socket:
    """The keeper's socket, checked to be that keeper's and ours (OSError if not)."""
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(str(where / "ctl"))
        pid, uid, _ = peer_credentials(conn)
        expected = Owner.parse(info["owner"])
        if uid != os.geteuid() or expected is None or pid != expected.pid:
            raise OSError(f"{where / 'ctl'}: answered by PID {pid} of uid {uid}, not by the"
                          f" keeper (PID {getattr(expected, 'pid', '?')}, uid {os.geteuid()})")
    except OSError:
        conn.close()
        raise
    return conn


def stop(where: Path, why: str = "", wait: float = 20.0) -> bool:
    """Stop the keeper in ``where`` (and its guest); True if one was running."""
    info = keeper_info(where)
    if info is None:
        return False
    if why:
        print(f"ipsec-lab: {why}: stopping the warm guest (keeper PID {info['pid']})",
              file=sys.stderr, flush=True)
    with contextlib.suppress(ProcessLookupError):
        os.kill(int(info["pid"]), signal.SIGTERM)
    deadline = time.monotonic() + wait
    while keeper_info(where) is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    return True


def stop_all(dry_run: bool = False) -> list[str]:
    """`ipsec-lab clean`: stop every warm guest of this user."""
    root = warm_root()
    done = []
    for where in sorted(p for p in root.iterdir() if p.is_dir()):
        info = keeper_info(where)
        if info is None:
            continue
        done.append(f"{'would stop' if dry_run else 'stopped'} warm guest {where.name}"
                    f" (keeper PID {info['pid']})")
        if not dry_run:
            stop(where)
    return done


def _start(where: Path, kernel: UmlKernel, mem: str, fresh: str,
           need: dict[str, list[str]]) -> dict[str, Any] | None:
    """Start a keeper in ``where`` whose guest binds and may write what ``need`` says, and
    wait until it is ready; None if it failed (its log says why, and the caller boots cold)."""
    (where / "keeper.json").unlink(missing_ok=True)
    (where / "config.json").write_text(json.dumps({
        "kernel": str(kernel.binary), "modules": str(kernel.modules), "mem": mem,
        "fingerprint": fresh, "idle": idle_seconds(), **need}))
    env = {k: v for k, v in os.environ.items() if k not in ("TMPDIR", TAG_VAR, OWNER_VAR)}
    env.update({KEEP_VAR: os.pathsep.join(need["keep"]),
                confine.WRITABLE_VAR: os.pathsep.join(need["writable"])})
    log = os.open(where / "keeper.log", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        proc = subprocess.Popen([sys.executable, "-m", "lab.kernel.warmkeeper", str(where)],
                                stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                start_new_session=True, cwd=os.getcwd(),
                                env=env)  # its own run: not this command's tag or owner
    finally:
        os.close(log)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        info = keeper_info(where)
        if info is not None and info.get("ready"):
            return info
        if proc.poll() is not None:
            break
        time.sleep(0.02)
    tail = " | ".join((where / "keeper.log").read_text(errors="replace").strip().splitlines()[-3:])
    print(f"ipsec-lab: the warm guest did not start ({where / 'keeper.log'}: {tail});"
          " booting cold", file=sys.stderr, flush=True)
    with contextlib.suppress(ProcessLookupError):
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
    return None


def ready_keeper(kernel: UmlKernel, mem: str) -> tuple[Path, dict[str, Any]] | None:
    """This user's warm guest for this boot, started if needed, restarted if the lab's files
    changed since it started."""
    key = boot_key(kernel, mem)
    where = private_dir(warm_root() / key_name(key), "warm guest directory")
    fresh = fingerprint(PACKAGE, watched(kernel))
    need = needs()
    with open(where / ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        info = keeper_info(where)
        if info is not None and info.get("fingerprint") != fresh:
            stop(where, "the lab's files, this python's packages, the kernel or a flavor tree"
                  " changed since it started")
            info = None
        if info is not None and not covers(info, need):  # booted again with both's directories
            need = {k: sorted(set(need[k]) | set(info.get(k, []))) for k in need}
            stop(where, "this command needs host directories the warm guest was not booted with")
            info = None
        if info is None or not info.get("ready"):
            info = _start(where, kernel, mem, fresh, need)
    return (where, info) if info is not None else None


def command_env(kernel: UmlKernel, tag: str, info: dict[str, Any]) -> dict[str, str]:
    """The command's environment in the guest: ours, as a cold guest's program gets it."""
    env = guest_env(kernel, tag)
    env[modules.RELEASE_VAR] = str(kernel.modules)
    if info.get("bundle"):
        env[imports.BUNDLE_VAR] = info["bundle"]
    return env


def run(argv: list[str], *, kernel: UmlKernel, tag: str, mem: str) -> int | None:
    """Run python's command line ``argv`` in this user's warm guest, its output on our
    stdout (stderr merged, as a cold guest's program alone); its exit code, or None when
    no warm guest could be had (the caller boots cold). Ctrl-C interrupts the command in
    the guest (pytest tears its cell down); a second one leaves it to the keeper."""
    found = ready_keeper(kernel, mem)
    if found is None:
        return None
    where, info = found
    try:
        conn = connect(where, info)
    except OSError as exc:
        print(f"ipsec-lab: warm guest: {exc}; booting cold", file=sys.stderr, flush=True)
        return None
    interrupted: list[int] = []

    def interrupt(signum: int, _frame: object) -> None:
        interrupted.append(signum)
        if len(interrupted) > 1:
            raise KeyboardInterrupt
        with contextlib.suppress(OSError):
            send(conn, {"op": "interrupt"})

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        with contextlib.suppress(OSError):  # a keeper that is busy may have hung up already
            send(conn, {"op": "run", "argv": argv, "cwd": os.getcwd(),
                        "env": command_env(kernel, tag, info)})
        code = relay(conn)
        if code is None:
            print("ipsec-lab: the warm guest is busy with another command; booting cold",
                  file=sys.stderr, flush=True)
        return code
    except KeyboardInterrupt:
        return 130
    finally:
        conn.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def relay(conn: socket.socket) -> int | None:
    """The keeper's answer: output to our stdout, then the exit code (loud when the guest
    was not clean before or after the command); None when the guest is busy with another
    command (the caller boots cold)."""
    heard = False
    try:
        for msg in lines(conn):
            heard = True
            code = _said(msg)
            if code != "more":
                return code  # type: ignore[return-value]
    except OSError:
        pass
    if not heard:
        return None  # nothing from the keeper at all: as if busy
    print("ipsec-lab: warm guest: the keeper hung up before the command ended", file=sys.stderr,
          flush=True)
    return 1


def _said(msg: dict[str, Any]) -> int | str | None:
    """One message of the keeper's: "more" until the last, then the exit code (None: busy)."""
    if msg["t"] == "out":
        data = base64.b64decode(msg["data"])
        view = memoryview(data)
        while view:
            view = view[os.write(sys.stdout.fileno(), view):]
        return "more"
    if msg["t"] == "busy":
        return None
    if msg["t"] == "error":
        print(f"ipsec-lab: warm guest: {msg['message']}", file=sys.stderr, flush=True)
        return 1
    left = msg.get("left") or []  # "done"
    rc = msg.get("rc")
    if left:
        when = "before the command ran" if msg.get("before") else "after the command"
        more = f" (and {len(left) - 10} more)" if len(left) > 10 else ""
        print(f"ipsec-lab: warm guest NOT CLEAN {when}, so it is stopped: {'; '.join(left[:10])}{more}",
              file=sys.stderr, flush=True)
        return rc or 1
    return 1 if rc is None else rc
