"""The one command runner: argv lists, a namespace to run in, a deadline.

Every process the lab starts carries ``IPSEC_LAB_TAG`` in its environment so
that ``ipsec-lab clean`` can find the lab's own processes and nothing else.
"""

from __future__ import annotations

import contextlib
import contextvars
import ctypes
import functools
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from lab.errors import CommandError, DeadlineError

TAG_VAR = "IPSEC_LAB_TAG"
NETNS_DIR = Path("/run/netns")
CLONE_NEWNS = 0x00020000
CLONE_NEWNET = 0x40000000

libc = ctypes.CDLL(None, use_errno=True)


def setns_fd(fd: int, nstype: int) -> None:
    if libc.setns(fd, nstype) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


def setns(path: Path, nstype: int) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        setns_fd(fd, nstype)
    finally:
        os.close(fd)


def unshare(flags: int) -> None:
    if libc.unshare(flags) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"unshare: {os.strerror(err)}")


def lab_env(tag: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env[TAG_VAR] = tag
    env.setdefault("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
    if extra:
        env.update(extra)
    return env


def in_netns(netns: str | None, then: Callable[[], None] | None = None) -> Callable[[], None]:
    """A preexec function that moves the child into ``netns`` (and runs ``then``)."""

    def enter() -> None:
        if netns:
            setns(NETNS_DIR / netns, CLONE_NEWNET)
        if then:
            then()

    return enter


def join_root(pid: int) -> Callable[[], None]:
    """A preexec function that joins process ``pid``'s mount namespace and root."""
    root_link = f"/proc/{pid}/root"

    def enter() -> None:
        fd = os.open(root_link, os.O_RDONLY | os.O_DIRECTORY)  # before /proc changes
        try:
            setns(Path(f"/proc/{pid}/ns/mnt"), CLONE_NEWNS)
            os.fchdir(fd)
        finally:
            os.close(fd)
        os.chroot(".")
        os.chdir("/")

    return enter


def chroot(root: Path) -> Callable[[], None]:
    """A preexec function that changes the root to ``root``."""

    def enter() -> None:
        os.chroot(root)
        os.chdir("/")

    return enter


@functools.cache
def _nsenter() -> str | None:
    return shutil.which("nsenter", path=lab_env("")["PATH"])


def _missing(program: str, root: str | None, path: str) -> bool:
    """Whether nsenter would find no ``program``: checked here, so that a missing program
    is FileNotFoundError as with a plain spawn."""
    if root is not None:  # inside that root; a bare name is looked up in there
        return program.startswith("/") and not os.path.isfile(f"{root}{program}")
    return shutil.which(program, path=path) is None


def _entering(argv: list[str], netns: str | None, join: int | None,
              preexec: Callable[[], None] | None, env: dict[str, str],
              root: Path | None = None) -> tuple[list[str], Callable[[], None] | None]:
    """The argv and preexec that start ``argv`` in ``netns`` (and in process ``join``'s
    mounts and root, or chrooted into ``root``, a flavor's view). A preexec makes Python
    fork the whole interpreter, which costs about 50 ms inside UML with the lab loaded;
    where nothing but namespaces and a root is needed, util-linux nsenter does it after a
    vfork (about 6 ms). A preexec of the caller's own (a fresh view of a flavor tree in a
    new mount namespace) still forks."""
    tool = _nsenter()
    if preexec is not None or tool is None:
        assert [preexec, join, root].count(None) >= 2, "one way into a tree"
        then = join_root(join) if join is not None else chroot(root) if root else preexec
        return argv, (in_netns(netns, then) if netns or then else None)
    if not (netns or join or root):
        return argv, None
    inside = f"/proc/{join}/root" if join is not None else str(root) if root else None
    if _missing(argv[0], inside, env["PATH"]):
        raise FileNotFoundError(argv[0])
    prefix = [tool] + ([f"--net={NETNS_DIR / netns}"] if netns else [])
    if join is not None:
        prefix.append(f"--mount=/proc/{join}/ns/mnt")
    if inside:
        prefix += [f"--root={inside}", f"--wd={inside}"]
    return [*prefix, "--", *argv], None


#: why no program may run now (``ipsec-lab render``), or None
_NO_PROGRAMS: contextvars.ContextVar[str | None] = contextvars.ContextVar("no_programs", default=None)


@contextlib.contextmanager
def no_programs(why: str) -> Iterator[None]:
    """While inside, `run` starts nothing: it answers as for a program that is not there
    (exit 127, or CommandError where the caller checks), and `spawn` raises."""
    token = _NO_PROGRAMS.set(why)
    try:
        yield
    finally:
        _NO_PROGRAMS.reset(token)


def programs_forbidden() -> str | None:
    return _NO_PROGRAMS.get()


def _not_run(argv: list[str], check: bool) -> subprocess.CompletedProcess[str]:
    why = f"{argv[0]}: not run ({_NO_PROGRAMS.get()})"
    if check:
        raise CommandError(argv, 127, "", why)
    return subprocess.CompletedProcess(argv, 127, "", why)


def run(argv: list[str], *, tag: str, netns: str | None = None, timeout: float = 20.0,
        check: bool = True, preexec: Callable[[], None] | None = None,
        env: dict[str, str] | None = None, input: str | None = None,
        cwd: str | Path | None = None, join: int | None = None, root: Path | None = None,
        ) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` to completion in ``netns`` (and in process ``join``'s mounts and root,
    or chrooted into ``root``); raise CommandError on failure if ``check``."""
    if _NO_PROGRAMS.get() is not None:
        return _not_run(argv, check)
    full_env = lab_env(tag, env)
    try:
        real_argv, preexec_fn = _entering(argv, netns, join, preexec, full_env, root)
        proc = subprocess.run(real_argv, capture_output=True, text=True, timeout=timeout,
                              preexec_fn=preexec_fn, env=full_env,
                              input=input, cwd=cwd, check=False)
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        err = exc.stderr.decode() if isinstance(exc.stderr, bytes) else (exc.stderr or "")
        raise CommandError(argv, None, out, err, netns or "") from None
    except FileNotFoundError:
        raise CommandError(argv, 127, "", f"{argv[0]}: not found", netns or "") from None
    proc.args = argv  # as the caller named it, not through nsenter
    if check and proc.returncode != 0:
        raise CommandError(argv, proc.returncode, proc.stdout, proc.stderr, netns or "")
    return proc


def spawn(argv: list[str], *, tag: str, log: IO[bytes] | None, netns: str | None = None,
          preexec: Callable[[], None] | None = None,
          env: dict[str, str] | None = None, root: Path | None = None) -> subprocess.Popen[bytes]:
    """Start a long-running process in ``netns`` (chrooted into ``root``) with its output
    in ``log`` (nsenter execs the program in its own place: the process is the program's)."""
    if _NO_PROGRAMS.get() is not None:
        _not_run(argv, check=True)
    full_env = lab_env(tag, env)
    real_argv, preexec_fn = _entering(argv, netns, None, preexec, full_env, root)
    return subprocess.Popen(real_argv, stdin=subprocess.DEVNULL, stdout=log or subprocess.DEVNULL,
                            stderr=subprocess.STDOUT, preexec_fn=preexec_fn,
                            env=full_env, start_new_session=True)


def stop(proc: subprocess.Popen[bytes], grace: float = 3.0) -> int | None:
    """SIGTERM, then SIGKILL after ``grace`` seconds; returns the exit status."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(grace)
    return proc.returncode


def wait_until(condition: Callable[[], object], *, deadline: float, what: str,
               interval: float = 0.02, failed: Callable[[], str | None] | None = None) -> object:
    """Poll ``condition`` until it returns something truthy or ``deadline`` seconds pass.

    ``failed`` is asked between polls; a non-empty answer ends the wait early with that
    reason (a daemon died, a log said no)."""
    end = time.monotonic() + deadline
    while True:
        result = condition()
        if result:
            return result
        if failed is not None:
            reason = failed()
            if reason:
                raise DeadlineError(f"{what}: {reason}")
        if time.monotonic() >= end:
            raise DeadlineError(f"{what}: not reached within {deadline:g} s")
        time.sleep(interval)
