"""A UML kernel started by root runs as an unprivileged user and sees the host read-only.

The guest is root inside its kernel, and a daemon, a native config line or a flavor's
script runs as that root; hostfs turns its file operations into the UML process's own
on the host. So when the lab is started as root, the ``linux`` process is confined before
it starts (all of it in the spawn, between fork and exec):

- a mount namespace of its own (every mount private, so nothing propagates back), in
  which every mount is read-only (``mount_setattr`` with AT_RECURSIVE) except the run's
  writable directories (its kernel's state directory, the run directories), bound onto
  themselves; and a fresh tmpfs on /dev/shm for UML's memory file;
- the uid and gid of $IPSEC_LAB_UML_USER (default ``nobody``), no supplementary groups,
  no new privileges, and of root's capabilities only CAP_DAC_READ_SEARCH (ambient, so it
  survives the exec): the kernel must read the venv, the flavor trees and itself where
  they live under root's 0700 home; it may read, never write, what root owns.

The writable directories are created and handed to that user beforehand (what the guest
writes there is that user's on the host; root reads and removes it as any file).
Only the mount namespace could undo this, and the UML process has no right to change it.
A lab started by another user is that user's already (lab.kernel.choice.unprivileged_reason).
"""

from __future__ import annotations

import ctypes
import os
import pwd
from collections.abc import Callable, Iterable
from pathlib import Path

from lab.errors import UsageError
from lab.state import IN_UML_VAR

USER_VAR = "IPSEC_LAB_UML_USER"
DEFAULT_USER = "nobody"
#: host directories (os.pathsep between them) a guest may write besides its state directory
WRITABLE_VAR = "IPSEC_LAB_UML_WRITABLE"

CLONE_NEWNS = 0x00020000
MS_NOSUID, MS_NODEV, MS_BIND, MS_REC, MS_PRIVATE = 2, 4, 4096, 16384, 1 << 18
AT_FDCWD, AT_RECURSIVE = -100, 0x8000
MOUNT_ATTR_RDONLY = 0x1
SYS_MOUNT_SETATTR = 442  # the same number on every architecture since 5.12
PR_SET_SECUREBITS, PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE = 28, 38, 47, 2
SECBIT_NO_SETUID_FIXUP, SECBIT_NO_SETUID_FIXUP_LOCKED = 1 << 2, 1 << 3
CAP_DAC_READ_SEARCH = 2
LINUX_CAPABILITY_VERSION_3 = 0x20080522

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


class _MountAttr(ctypes.Structure):
    _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64),
                ("propagation", ctypes.c_uint64), ("userns_fd", ctypes.c_uint64)]


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


def applies() -> bool:
    """Whether a kernel started by this process is confined: when it is root's on the host
    (in a guest no kernel is started, and the guest's root is no user of the host)."""
    return os.geteuid() == 0 and not os.environ.get(IN_UML_VAR)


def target() -> tuple[int, int]:
    """The uid and gid the kernels run as ($IPSEC_LAB_UML_USER: a name or a number)."""
    wanted = os.environ.get(USER_VAR) or DEFAULT_USER
    try:
        entry = pwd.getpwuid(int(wanted)) if wanted.isdigit() else pwd.getpwnam(wanted)
    except (KeyError, ValueError):
        raise UsageError(f"{USER_VAR}={wanted}: no such user on this host") from None
    if entry.pw_uid == 0:
        raise UsageError(f"{USER_VAR}={wanted}: the UML kernels must not run as root")
    return entry.pw_uid, entry.pw_gid


def listed() -> list[Path]:
    """The run directories' bases this process lets its guests write ($IPSEC_LAB_UML_WRITABLE)."""
    words = os.environ.get(WRITABLE_VAR, "").split(os.pathsep)
    return list(dict.fromkeys(Path(p).resolve() for p in words if p))


def writable_dirs(state: Path) -> list[Path]:
    """The host directories a guest may change: its state directory and $IPSEC_LAB_UML_WRITABLE's."""
    return [state.resolve(), *listed()]


def allow_writes(path: Path) -> None:
    """Let the guests this process starts write ``path`` (a run directory's base)."""
    listed = [p for p in os.environ.get(WRITABLE_VAR, "").split(os.pathsep) if p]
    os.environ[WRITABLE_VAR] = os.pathsep.join(dict.fromkeys([*listed, str(path)]))


def hand_over(paths: Iterable[Path], uid: int, gid: int) -> None:
    """Create ``paths`` and give them (and what is in them) to ``uid``: the guest writes
    there as that user. Run directories other runs left as root change hands too."""
    for path in paths:
        path.mkdir(parents=True, exist_ok=True)
        for top, dirs, files in os.walk(path):
            for name in [top, *(os.path.join(top, n) for n in dirs + files)]:
                st = os.lstat(name)
                if st.st_uid != uid or st.st_gid != gid:
                    os.lchown(name, uid, gid)


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    _check(_libc.mount(source.encode() if source else None, target.encode(),
                       fstype.encode() if fstype else None, flags, data.encode() if data else None),
           f"mount {target}")


def _setattr(path: str, flags: int, attr_set: int = 0, attr_clr: int = 0) -> None:
    attr = _MountAttr(attr_set, attr_clr, 0, 0)
    _check(_libc.syscall(SYS_MOUNT_SETATTR, AT_FDCWD, path.encode(), flags,
                         ctypes.byref(attr), ctypes.sizeof(attr)), f"mount_setattr {path}")


def _read_search_only(uid: int, gid: int) -> None:
    """Become ``uid``/``gid`` keeping CAP_DAC_READ_SEARCH (ambient: it survives the exec)."""
    # hostfs asks the host with access(2), which drops every capability of a uid other
    # than 0 unless SECBIT_NO_SETUID_FIXUP is set (which also keeps root's capabilities
    # across the uid change: capset below leaves only the one)
    _check(_libc.prctl(PR_SET_SECUREBITS, SECBIT_NO_SETUID_FIXUP | SECBIT_NO_SETUID_FIXUP_LOCKED,
                       0, 0, 0), "prctl(PR_SET_SECUREBITS)")
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    bit = 1 << CAP_DAC_READ_SEARCH
    data = (_CapData * 2)(_CapData(bit, bit, bit), _CapData(0, 0, 0))
    _check(_libc.capset(ctypes.byref(_CapHeader(LINUX_CAPABILITY_VERSION_3, 0)), data), "capset")
    _check(_libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_DAC_READ_SEARCH, 0, 0),
           "prctl(PR_CAP_AMBIENT_RAISE)")
    _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(PR_SET_NO_NEW_PRIVS)")


def confine(writable: list[Path], uid: int, gid: int) -> None:
    """In the child before exec: the read-only view of the host, then the user."""
    _check(_libc.unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    for path in writable:
        _mount(str(path), str(path), None, MS_BIND)
    _mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777")
    _setattr("/", AT_RECURSIVE, attr_set=MOUNT_ATTR_RDONLY)
    for path in [*writable, Path("/dev/shm")]:
        _setattr(str(path), 0, attr_clr=MOUNT_ATTR_RDONLY)
    _read_search_only(uid, gid)


def preexec(state: Path, then: Callable[[], None]) -> Callable[[], None]:
    """The spawn's preexec for a kernel whose state directory is ``state``: ``then``
    (while still root), and the confinement if it applies. Prepares the directories now."""
    if not applies():
        return then
    uid, gid = target()
    writable = writable_dirs(state)
    hand_over(writable, uid, gid)

    def enter() -> None:
        then()
        confine(writable, uid, gid)

    return enter


def own_kernel(pid: int | str, uid: int, state_root: Path) -> bool:
    """Whether process ``pid`` of host uid ``uid`` is one of this user's confined kernels:
    the kernels' user, and a ``uml_dir`` in this user's private state directory (which
    only this user can make) on its command line."""
    if not applies():
        return False
    try:
        if uid != target()[0]:
            return False
        words = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, UsageError):
        return False
    return any(w.startswith(f"uml_dir={state_root}/".encode()) for w in words)
