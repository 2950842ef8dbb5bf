"""`ipsec-lab clean`: remove what interrupted or killed runs left behind.

Only the lab's own things, found by what marks them: processes whose environment
carries IPSEC_LAB_TAG (every process the lab starts, UML kernels included),
namespaces named ipl-*, the state directories under /var/tmp/ipsec-lab, and work
directories /tmp/ipl-*. Never anything found by a process name.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
import time
from pathlib import Path

from lab.keeper import LabState, labs_dir
from lab.netns import lab_namespaces, remove_netns
from lab.run import TAG_VAR
from lab.uml import IN_UML_VAR, STATE_BASE

_TAG = f"{TAG_VAR}=".encode()


def _ancestors() -> set[int]:
    pids, pid = set(), os.getpid()
    while pid > 1:
        pids.add(pid)
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            break
        pid = int(stat.rsplit(")", 1)[1].split()[1])
    return pids


def tagged_processes() -> list[tuple[int, str]]:
    """(pid, command name) of every process that carries the lab's tag."""
    mine = _ancestors()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) in mine:
            continue
        try:
            env = Path(f"/proc/{entry}/environ").read_bytes()
            comm = Path(f"/proc/{entry}/comm").read_text().strip()
        except OSError:
            continue
        if any(var.startswith(_TAG) for var in env.split(b"\0")):
            found.append((int(entry), comm))
    return found


def _alive(pid_file: Path) -> bool:
    try:
        os.kill(int(pid_file.read_text()), 0)
    except (OSError, ValueError):
        return False
    return True


def clean(dry_run: bool = False) -> list[str]:
    done: list[str] = []
    verb = "would remove" if dry_run else "removed"
    procs = tagged_processes()
    for pid, comm in procs:
        done.append(f"{'would kill' if dry_run else 'killed'} process {pid} ({comm})")
        if not dry_run:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    if procs and not dry_run:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(Path(f"/proc/{p}").exists() for p, _ in procs):
            time.sleep(0.05)
    for name in lab_namespaces():
        done.append(f"{verb} namespace {name}")
        if not dry_run:
            try:
                remove_netns(name)
            except OSError as exc:
                done.append(f"  could not remove {name}: {exc}")
    # State directories only where their owner is gone (another run may be going on).
    kernels = [] if os.environ.get(IN_UML_VAR) else sorted(STATE_BASE.glob("uml-*"))
    leftovers = [d for d in kernels if not _alive(d / "pid")]
    labs = labs_dir()
    leftovers += [d for d in sorted(labs.iterdir()) if not LabState(d.name, d).alive()] \
        if labs.is_dir() else []
    leftovers += sorted(Path(tempfile.gettempdir()).glob("ipl-*"))
    for path in leftovers:
        done.append(f"{verb} {path}")
        if not dry_run:
            shutil.rmtree(path, ignore_errors=True)
    return done or ["nothing to clean"]
