"""`ipsec-lab clean`: remove what interrupted or killed runs left behind, and only that.

Every run has an owner (lab.owner: a PID and its start time). Processes carry it in
their environment beside IPSEC_LAB_TAG; namespaces (``ipl-PID.START-...``), work
directories (``$TMPDIR/ipl-PID.START-...``) and UML kernel state
(``uml-PID.START-...`` in the user's state directory) carry it in their names; a lab
that is up has its keeper in ``labs/NAME/owner``. `clean` removes a thing only when
its owner is gone, so a run that is going on, from this checkout or another, is left
alone. `clean --all` takes everything of this user it can find, live runs included, and
says so; it kills an owner only if it is this user's process and its record is in this
user's state directory (a keeper's ``labs/NAME/owner``, a kernel's ``uml-PID.START-...``)
or in a work directory this user owns (``ipl-PID.START-...`` in the temporary directory),
never because a process's environment names it.
Never anything found by a process name.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lab.cli.keeper import LabState, labs_dir
from lab.kernel import confine, warm
from lab.kernel.uml import UML_PREFIX
from lab.owner import OWNER_VAR, Owner
from lab.run import TAG_VAR
from lab.state import my_uids, state_root
from lab.topology.netns import lab_namespaces, remove_netns

_TAG = f"{TAG_VAR}=".encode()
_OWNER = f"{OWNER_VAR}=".encode()
#: Where ipsec-lab kept its state before it had a per-user directory.
OLD_STATE = Path("/var/tmp/ipsec-lab")


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


@dataclass(frozen=True)
class Proc:
    pid: int
    comm: str
    owner: Owner | None


def _users(pid: int | str) -> bool:
    """Whether the process runs as this user (its /proc directory is the user's), or as
    the user this user's UML kernels run as (root's: lab.kernel.confine)."""
    try:
        uid = os.stat(f"/proc/{pid}").st_uid
        return uid == os.geteuid() or confine.own_kernel(pid, uid, state_root())
    except OSError:
        return False


def tagged_processes() -> list[Proc]:
    """Every process of this user (but this one and its ancestors) that carries the lab's
    tag. The owner in its environment is what it claims, never proof (see `_owners`)."""
    mine = _ancestors()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) in mine or not _users(entry):
            continue
        try:
            env = Path(f"/proc/{entry}/environ").read_bytes().split(b"\0")
            comm = Path(f"/proc/{entry}/comm").read_text().strip()
        except OSError:
            continue
        if any(var.startswith(_TAG) for var in env):
            owner = next((Owner.parse(v[len(_OWNER):].decode(errors="replace"))
                          for v in env if v.startswith(_OWNER)), None)
            found.append(Proc(int(entry), comm, owner))
    return found


@dataclass(frozen=True)
class Thing:
    """One thing the lab made: what to call it, whose it is, how to remove it; ``record``:
    its owner is written in this user's state directory (proof, not a claim)."""

    what: str
    owner: Owner | None
    remove: Callable[[], None]
    record: bool = False


def _mine(path: Path) -> bool:
    try:
        return path.lstat().st_uid in my_uids()
    except OSError:
        return False


def _rmtree(path: Path) -> Callable[[], None]:
    return lambda: shutil.rmtree(path, ignore_errors=True)


def _netns(name: str) -> Callable[[], None]:
    return lambda: remove_netns(name)


def things() -> list[Thing]:
    """Namespaces and directories, each with the owner its name or its files record."""
    found = [Thing(f"namespace {name}", Owner.in_name(name), _netns(name))
             for name in lab_namespaces()]
    found += [Thing(str(d), Owner.in_name(d.name), _rmtree(d), record=True)
              for d in sorted(state_root().glob(f"{UML_PREFIX}-*"))]
    found += [Thing(f"lab {d.name} ({d})", LabState(d.name, d).owner(), _rmtree(d), record=True)
              for d in sorted(labs_dir().iterdir()) if d.is_dir() and not d.is_symlink()]
    # a work directory this user owns is a record too: nobody else can make one it owns
    # (a run inside a guest, with no kernel of its own, has no other)
    found += [Thing(str(d), Owner.in_name(d.name), _rmtree(d), record=True)
              for d in sorted(Path(tempfile.gettempdir()).glob("ipl-*")) if _mine(d)]
    return found


def _owners(owners: list[Owner | None], taken: set[int]) -> list[Proc]:
    """The live owners among ``owners`` that are this user's processes."""
    mine = _ancestors()
    found = {}
    for owner in owners:
        if owner and owner.alive() and owner.pid not in mine | taken and _users(owner.pid):
            try:
                comm = Path(f"/proc/{owner.pid}/comm").read_text().strip()
            except OSError:
                continue
            found[owner.pid] = Proc(owner.pid, f"{comm}, owner of a run", owner)
    return list(found.values())


def _kill(procs: list[Proc], dry_run: bool) -> list[str]:
    done = [f"{'would kill' if dry_run else 'killed'} process {p.pid} ({p.comm})" for p in procs]
    if dry_run or not procs:
        return done
    for proc in procs:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(Path(f"/proc/{p.pid}").exists() for p in procs):
        time.sleep(0.05)
    return done


def _gone(owner: Owner | None, everything: bool) -> bool:
    return everything or (owner is not None and not owner.alive())


def clean(dry_run: bool = False, everything: bool = False) -> list[str]:
    """Remove what belongs to runs whose owner is gone (``everything``: all of it)."""
    done: list[str] = []
    if everything:
        done.append("clean --all: taking every lab process and namespace on this machine and"
                    f" all of this user's lab state in {state_root()}, live runs included"
                    " (their owners too)")
    verb = "would remove" if dry_run else "removed"
    done += warm.stop_all(dry_run)  # this user's warm guests, idle or not (lab.kernel.warm)
    procs = tagged_processes()
    found = things()
    doomed = [p for p in procs if _gone(p.owner, everything)]
    if everything:  # and the live runs' owners (a pytest, a keeper): their runs end here
        doomed += _owners([t.owner for t in found if t.record], {p.pid for p in doomed})
    done += _kill(doomed, dry_run)
    if not dry_run and doomed:  # a second look: what was starting or unreadable in the first
        killed = {p.pid for p in doomed}
        again = [p for p in tagged_processes() if p.pid not in killed and _gone(p.owner, everything)]
        done += _kill(again, dry_run)
    for thing in found:
        if not _gone(thing.owner, everything):
            continue
        done.append(f"{verb} {thing.what}")
        if not dry_run:
            try:
                thing.remove()
            except OSError as exc:
                done.append(f"  could not remove {thing.what}: {exc}")
    if everything and OLD_STATE.is_dir() and _mine(OLD_STATE):
        done.append(f"{verb} {OLD_STATE} (where older versions kept their state)")
        if not dry_run:
            shutil.rmtree(OLD_STATE, ignore_errors=True)
    if len(done) == int(everything):
        done.append("nothing to clean")
    if not everything:
        done += _left_alone(procs, found)
    return done


def _left_alone(procs: list[Proc], found: list[Thing]) -> list[str]:
    live = [p.owner for p in procs if p.owner and p.owner.alive()]
    live += [t.owner for t in found if t.owner and t.owner.alive()]
    unknown = [p.comm for p in procs if p.owner is None]
    unknown += [t.what for t in found if t.owner is None]
    lines = []
    if live:
        owners = ", ".join(sorted({str(o.pid) for o in live}, key=int))
        lines.append(f"left alone: {len(live)} processes, namespaces or directories of runs"
                     f" still going on (owner PID {owners}); `ipsec-lab clean --all` takes them too")
    if unknown:
        lines.append(f"left alone: {len(unknown)} with no owner record (e.g. {unknown[0]});"
                     " `ipsec-lab clean --all` takes them")
    return lines
