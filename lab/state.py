"""Where the lab keeps its state on this host: one private directory per user.

$IPSEC_LAB_STATE if set, else $XDG_RUNTIME_DIR/ipsec-lab (or /run/user/UID/ipsec-lab),
else for root /run/ipsec-lab, else $TMPDIR/ipsec-lab-UID. The lab creates the
directory with mode 0700 and refuses, in one line, one that another user owns or
others can enter: no shared path in /tmp or /var/tmp is ever trusted.

Inside a UML guest the same function answers with the guest's own /run (tmpfs).
What host and guest must both read (a kernel's boot files) is read by the guest at
boot, before it mounts its tmpfs over /run and /tmp.
"""

from __future__ import annotations

import os
import re
import stat
import tempfile
from pathlib import Path

from lab.errors import UsageError

STATE_VAR = "IPSEC_LAB_STATE"
IN_UML_VAR = "IPSEC_LAB_IN_UML"  # set in every UML guest
#: in a guest whose kernel runs confined (lab.kernel.confine): the host uid it runs as,
#: which is what the files this guest makes on the host (hostfs) show as their owner
HOST_UID_VAR = "IPSEC_LAB_HOST_UID"
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,31}")
NAME_RULE = "1-32 letters, digits, '-' or '_', starting with a letter or digit"


def my_uids() -> set[int]:
    """The owners whose files are this process's own: its uid, and in a confined guest the
    host uid its kernel runs as."""
    host = os.environ.get(HOST_UID_VAR, "")
    return {os.geteuid(), *([int(host)] if host.isdigit() else [])}


def private_dir(path: Path, what: str = "state directory") -> Path:
    """``path``, created 0700 if missing; refused unless it is a real directory of ours
    that nobody else can enter."""
    try:
        path.mkdir(mode=0o700)
    except FileExistsError:
        pass
    except OSError as exc:
        raise UsageError(f"ipsec-lab {what} {path}: cannot create it ({exc.strerror});"
                         f" set {STATE_VAR} to a directory of yours") from None
    st = path.lstat()
    problem = None
    if not stat.S_ISDIR(st.st_mode):
        problem = "is not a directory (a symlink?)"
    elif st.st_uid not in my_uids():
        problem = f"belongs to uid {st.st_uid}, not to uid {os.geteuid()}"
    elif st.st_mode & 0o077:
        problem = f"has mode {stat.S_IMODE(st.st_mode):04o}, not 0700"
    if problem:
        raise UsageError(f"ipsec-lab {what} {path} {problem}: refusing to use it"
                         f" (remove it, or set {STATE_VAR} to a directory of yours)")
    return path


def _runtime_dir() -> Path | None:
    for candidate in (os.environ.get("XDG_RUNTIME_DIR"), f"/run/user/{os.geteuid()}"):
        if not candidate:
            continue
        path = Path(candidate)
        try:
            st = path.lstat()
        except OSError:
            continue
        if stat.S_ISDIR(st.st_mode) and st.st_uid == os.geteuid() and not st.st_mode & 0o022:
            return path
    return None


def state_root() -> Path:
    """This user's private state directory (created on first use)."""
    if os.environ.get(IN_UML_VAR):  # never the host's: its PIDs mean nothing in here
        return private_dir(Path("/run/ipsec-lab"))
    explicit = os.environ.get(STATE_VAR)
    if explicit:
        return private_dir(Path(explicit))
    runtime = _runtime_dir()
    if runtime is not None:
        return private_dir(runtime / "ipsec-lab")
    if os.geteuid() == 0:
        return private_dir(Path("/run/ipsec-lab"))
    return private_dir(Path(tempfile.gettempdir()) / f"ipsec-lab-{os.geteuid()}")


def subdir(name: str) -> Path:
    """A directory of the state root (``uml``, ``labs``), private like the root."""
    return private_dir(state_root() / name)


def write_atomic(path: Path, text: str) -> None:
    """Write ``path`` whole or not at all: a temporary file beside it, renamed over it, so
    a reader (or a process killed mid-write) never leaves a truncated file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def check_lab_name(name: object, option: str = "--name") -> str:
    """A lab name is a plain word, never a path."""
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise UsageError(f"{option}: {name!r} is not a lab name (allowed: {NAME_RULE})")
    return name
