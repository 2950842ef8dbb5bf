"""User-Mode Linux: a kernel with ESP and PF_KEY, run as an ordinary program.

`boot_program(argv)` replaces the calling process with a UML kernel whose PID 1
(lab.kernel.guest) runs ``argv`` with this process's stdin/stdout as its own, through
the serial line. pytest-xdist starts its workers this way (``python -m lab.kernel.uml``
is the "python" of each worker's execnet gateway), so every worker has a kernel
of its own. When the program exits the kernel powers off; when the host side
closes the pipes, the program sees end of file and exits.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from lab import owner
from lab.errors import MissingError, UsageError
from lab.kernel import confine, imports, locked
from lab.kernel.serial import READY, host_relay
from lab.run import TAG_VAR
from lab.state import HOST_UID_VAR, IN_UML_VAR, state_root

#: Per-kernel state is a directory ``uml-PID.START-XXXX`` in the user's state root,
#: named after the run's owner (lab.owner) so that `ipsec-lab clean` can tell whose
#: it is. The guest reads its boot files at boot, before it hides /run and /tmp.
UML_PREFIX = "uml"
KERNEL_VAR = "IPSEC_LAB_UML"
MEM_VAR = "IPSEC_LAB_UML_MEM"
KEEP_VAR = "IPSEC_LAB_UML_KEEP"  # host paths under /tmp that the guest must still see
OPTS_VAR = "IPSEC_LAB_UML_OPTS"
#: extra boot options by default: seccomp=on (UML traps the guest's system calls with
#: seccomp instead of ptrace) made the seed cell about 40% faster in ci/bench.py
#: (median 0.98-1.17 s against 1.67-2.00 s, five pairs of runs); a kernel that does not
#: know the option hands it to init as an environment variable, which is harmless
DEFAULT_OPTS = "seccomp=on"
#: the boot option that makes the guest's clock skip idle time (lab.kernel.choice.time_travel);
#: only a kernel built with UML_TIME_TRAVEL_SUPPORT knows it, and only workers that asked
#: for it get it (never from IPSEC_LAB_UML_OPTS: labs that stay up must keep real time)
TIME_TRAVEL_OPT = "time-travel"
#: where `ipsec-lab setup` (build-uml.sh) puts our own kernel, under the cache directory
OWN_DIR = "uml-own"
#: words a UML kernel that knows the seccomp mode prints at boot, in its binary
SECCOMP_MODE = b"Checking that seccomp filters can be installed"
SYSTEM_UML = Path("/usr/bin/linux.uml")
SYSTEM_MODULES = Path("/usr/lib/uml/modules")


CACHE_VAR = "IPSEC_LAB_CACHE"


def cache_dir() -> Path:
    """Where `ipsec-lab setup` puts the UML kernel (uml/) and the flavor trees (flavors/):
    $IPSEC_LAB_CACHE, else $XDG_CACHE_HOME/ipsec-lab, else ~/.cache/ipsec-lab (the
    user's home from the password database when $HOME is empty)."""
    explicit = os.environ.get(CACHE_VAR)
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME")
    if not base:
        home = os.environ.get("HOME") or pwd.getpwuid(os.geteuid()).pw_dir
        base = str(Path(home) / ".cache")
    return Path(base) / "ipsec-lab"


@dataclass(frozen=True)
class UmlKernel:
    binary: Path
    modules: Path  # the release directory that holds modules.dep

    @property
    def release(self) -> str:
        return self.modules.name

    def __str__(self) -> str:
        return f"UML {self.release} ({self.binary})"


def _release_dir(root: Path) -> Path | None:
    found = sorted(p for p in root.glob("*") if (p / "modules.dep").is_file()) if root.is_dir() else []
    return found[-1] if found else None


def find_kernel(explicit: str | None = None) -> UmlKernel:
    """The UML kernel to use: ``explicit`` (or $IPSEC_LAB_UML), else our own where it has
    UML's seccomp mode (build-uml.sh), else the one install-uml.sh put in the cache,
    else Debian's /usr/bin/linux.uml."""
    wanted = explicit or os.environ.get(KERNEL_VAR)
    candidates: list[tuple[Path, Path]] = []
    if wanted:
        binary = Path(wanted)
        candidates.append((binary, binary.parent / "modules"))
        if binary.resolve() == SYSTEM_UML.resolve():  # Debian's: its modules live elsewhere
            candidates.append((binary, SYSTEM_MODULES))
    else:
        own = fast_own_kernel()
        if own is not None:
            return own
        cached = cache_dir() / "uml"
        candidates += [(cached / "linux.uml", cached / "modules"), (SYSTEM_UML, SYSTEM_MODULES)]
    for binary, mods in candidates:
        release = _release_dir(mods)
        if binary.is_file() and os.access(binary, os.X_OK) and release:
            return UmlKernel(binary, release)
    if wanted:
        where = " or ".join(str(mods) for _, mods in candidates)
        raise MissingError(f"UML kernel {wanted}: missing, not executable, or no modules"
                           f" under {where} (run ipsec-lab setup --no-flavors)")
    raise MissingError("no User-Mode Linux kernel: install one with ipsec-lab setup --no-flavors"
                       " (or apt-get install user-mode-linux)")


def own_kernel_path() -> Path:
    return cache_dir() / OWN_DIR / "linux"


def find_own_kernel() -> UmlKernel:
    """Our own UML (build-uml.sh, run by `ipsec-lab setup`): everything built in, and time-travel support.
    Raises MissingError naming what is missing and how to get it."""
    binary = own_kernel_path()
    config = binary.parent / "config"
    release = _release_dir(binary.parent / "modules")
    if not (binary.is_file() and os.access(binary, os.X_OK) and release):
        raise MissingError(f"needs our own UML with time-travel: run ipsec-lab setup; not found at {binary}")
    if config.is_file() and "CONFIG_UML_TIME_TRAVEL_SUPPORT=y" not in config.read_text():
        raise MissingError(f"{binary} was built without UML_TIME_TRAVEL_SUPPORT ({config});"
                           " rebuild it with ipsec-lab setup (after removing it)")
    return UmlKernel(binary, release)


def fast_own_kernel() -> UmlKernel | None:
    """Our own UML (build-uml.sh) if it can trap the guest's system calls with seccomp
    (UML 6.16 and later): everything built in, it reaches init in about 0.2 s where Debian's
    takes 1.2 s (0.85 s of that a raid6 benchmark). An older build of ours (6.12, ptrace
    only) made every cell 1.7 times slower: it serves the time-travel workers only."""
    try:
        kernel = find_own_kernel()
    except MissingError:
        return None
    return kernel if SECCOMP_MODE in kernel.binary.read_bytes() else None


def boot_argv(kernel: UmlKernel, state: Path, init: Path, mem: str,
              time_travel: bool = False) -> list[str]:
    """The kernel command line; IPSEC_LAB_UML_OPTS adds options (words without spaces),
    except time-travel, which only ``time_travel`` adds."""
    extra = [word for word in os.environ.get(OPTS_VAR, DEFAULT_OPTS).split()
             if word.split("=")[0] != TIME_TRAVEL_OPT]
    extra += [TIME_TRAVEL_OPT] if time_travel else []
    return [str(kernel.binary), f"mem={mem}", "rootfstype=hostfs", "rootflags=/", "rw",
            f"init={init}", "quiet", "con=null", "con0=null,fd:3", "ssl=null", "ssl0=fd:0,fd:1",
            f"uml_dir={state}", f"umid={state.name}", *extra]


def prepare_state(kernel: UmlKernel, program: list[str], tag: str,
                  keep: tuple[str, ...] = (), time_travel: bool = False,
                  stderr_out: bool = False) -> tuple[Path, Path]:
    state = Path(tempfile.mkdtemp(prefix=owner.current().name_prefix(UML_PREFIX), dir=state_root()))
    env = guest_env(kernel, tag)
    bundle = imports.bundle_path(cache_dir())
    if env.get(imports.BUNDLE_VAR) != "off":
        try:
            env[imports.BUNDLE_VAR] = str(imports.prepare(bundle))
        except OSError as exc:  # a cache that cannot be written only costs time
            print(f"ipsec-lab: {bundle}: {exc.strerror or exc}; the guest imports file by file",
                  file=sys.stderr)
    boot = {"argv": program, "cwd": os.getcwd(), "env": env, "modules": str(kernel.modules),
            "log": str(state / "guest.log"), "time_travel": time_travel, "stderr_out": stderr_out,
            "keep": guest_keeps(keep, bundle.parent)}
    (state / "boot.json").write_text(json.dumps(boot))
    init = state / "init"
    init.write_text(init_script(state / "boot.json", env.get(imports.BUNDLE_VAR)))
    init.chmod(0o755)
    return state, init


def check_cwd() -> None:
    """Refused in one line: a working directory the guest cannot share."""
    if Path.cwd() in (Path("/tmp"), Path("/tmp").resolve()):
        raise UsageError("the working directory is /tmp itself, which a UML guest cannot share"
                         " (it binds the host's directories under /tmp over a /tmp of its own):"
                         " run from a directory under /tmp, or anywhere else")


def guest_keeps(keep: tuple[str, ...], bundle_dir: Path) -> list[str]:
    """The host paths under /tmp the guest binds back over its own tmpfs: the working
    directory, this python's environment (a venv made under /tmp, as ci/package-check.sh
    makes one) and the directory this package is imported from, the import bundle, the
    flavor trees, $IPSEC_LAB_UML_KEEP's, and every run directory the guest writes
    (lab.kernel.confine.listed): a run directory under the host's /tmp must be the host's,
    or what the guest writes there is lost with its tmpfs. Those are made here, since the
    guest binds only what exists when it boots."""
    check_cwd()
    runs = confine.listed()
    for path in runs:
        path.mkdir(parents=True, exist_ok=True)
    return [os.getcwd(), sys.prefix, str(Path(__file__).resolve().parents[2]), *keep, str(bundle_dir),
            *os.environ.get(KEEP_VAR, "").split(os.pathsep),
            os.environ.get("IPSEC_LAB_FLAVORS") or str(cache_dir() / "flavors"), *map(str, runs)]


def init_script(boot: Path, bundle: str | None = None) -> str:
    """The guest's PID 1: this python, started by the kernel itself (no shell) and without
    the site machinery (``-S``: 0.1 s of a guest's start; the guest needs only the standard
    library and this package, whose directory it is told), importing the standard library
    from the host's bundle where there is one (lab.kernel.imports)."""
    package_root = Path(__file__).resolve().parents[2]
    # PID 1 reads the bundle with its memory locked like the program's python: without the
    # lock, the bundle's 10 MB cost PID 1 more in page faults than its imports from files
    fast = (f"from lab.kernel import locked\nlocked.lock_future_mappings()\n"
            f"locked.use_bundle({bundle!r})\n") if bundle else ""
    body = (f"import sys\nsys.path.insert(0, {str(package_root)!r})\n{fast}"
            f"from lab.kernel.guest import main\nmain({str(boot)!r})\n")
    if any(c.isspace() for c in sys.executable) or len(sys.executable) > 200:  # no shebang can say it
        return (f"#!/bin/sh\nexec {shlex.quote(sys.executable)} -S -c {shlex.quote(body)}\n")
    return f"#!{sys.executable} -S\n{body}"


#: what PID 1 writes to its log when the program has ended (a wait status)
PROGRAM_EXITED = re.compile(r"^guest: program exited with status (\d+)$", re.M)


def spawn(kernel: UmlKernel, state: Path, init: Path, mem: str, tag: str,
          time_travel: bool = False) -> tuple[subprocess.Popen[bytes], int, int]:
    """Start the kernel prepared in ``state``: the process, the pipe into its serial line
    and the pipe out of it."""
    to_guest_r, to_guest_w = os.pipe()
    from_guest_r, from_guest_w = os.pipe()
    with open(state / "console.log", "ab") as console:
        uml = subprocess.Popen(
            [*boot_argv(kernel, state, init, mem, time_travel)], stdin=to_guest_r, stdout=from_guest_w,
            stderr=console, pass_fds=(console.fileno(),),
            env=dict(os.environ, TMPDIR="/dev/shm", **{TAG_VAR: tag}),
            # started by root: as an unprivileged user, the host read-only (lab.kernel.confine)
            preexec_fn=confine.preexec(state, lambda: os.dup2(console.fileno(), 3)),
            start_new_session=True)
    os.close(to_guest_r)
    os.close(from_guest_w)
    (state / "pid").write_text(str(uml.pid))
    return uml, to_guest_w, from_guest_r


def wait_ready(from_guest: int) -> bool:
    """Read up to the guest's greeting: False if the line ends first, OSError if more follows."""
    seen = b""
    while READY not in seen:
        chunk = os.read(from_guest, 4096)
        if not chunk:
            return False
        seen += chunk
    if seen.split(READY, 1)[1]:
        raise OSError("guest spoke before the relay was ready")
    return True


def guest_env(kernel: UmlKernel, tag: str) -> dict[str, str]:
    """The environment a program in a guest of ``kernel`` gets: ours, told it is in UML."""
    env = {k: v for k, v in os.environ.items() if k not in ("TMPDIR", KERNEL_VAR)}
    env.update({IN_UML_VAR: kernel.release, TAG_VAR: tag})
    if confine.applies():
        env[HOST_UID_VAR] = str(confine.target()[0])
    return env


def boot_program(program: list[str], *, kernel: UmlKernel, tag: str, mem: str = "768M",
                 time_travel: bool = False, alone: bool = False) -> int:
    """Run ``program`` in a fresh UML kernel, relaying our stdin/stdout over its serial line.

    UML misses bytes that wait in its serial pipe before the guest opens the line,
    so nothing is forwarded until the guest says it is ready. Returns UML's status; with
    ``alone`` (a program a person reads, not an xdist worker) its stderr comes on our stdout
    and the program's own exit code is returned (1 if it never reported one)."""
    state, init = prepare_state(kernel, program, tag, time_travel=time_travel, stderr_out=alone)
    uml, to_guest_w, from_guest_r = spawn(kernel, state, init, mem, tag, time_travel)
    stopped_by: list[int] = []

    def stop(signum: int, _frame: object) -> None:
        stopped_by.append(signum)
        uml.kill()

    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, stop)
    try:
        if wait_ready(from_guest_r):  # the guest's greeting, then framed traffic
            # a program alone reads nothing from us: its stdin never ends (the end of
            # ours would close the line, and its output with it)
            silent = os.pipe() if alone else None
            host_relay(silent[0] if silent else sys.stdin.fileno(), sys.stdout.fileno(),
                       to_guest_w, from_guest_r)
    except OSError:
        uml.kill()
    finally:
        status = uml.wait()
        log = state / "guest.log"
        text = log.read_text() if log.is_file() else ""
        crashed = "Traceback" in text or "Error" in text
        if crashed:
            tail = " | ".join(text.strip().splitlines()[-3:])
            sys.stderr.write(f"ipsec-lab: the UML guest failed ({log}): {tail}\n")
        if not crashed and not os.environ.get("IPSEC_LAB_KEEP_STATE"):  # keep crash evidence
            shutil.rmtree(state, ignore_errors=True)
    if alone:
        exited = PROGRAM_EXITED.search(text)
        if not exited and stopped_by:
            sys.stderr.write(f"ipsec-lab: {signal.Signals(stopped_by[0]).name}: the guest kernel"
                             " was stopped, and everything in it with it\n")
            return 128 + stopped_by[0]
        code = os.waitstatus_to_exitcode(int(exited.group(1))) if exited else 1
        return 128 - code if code < 0 else code  # killed by a signal: as a shell says it
    return status


def worker_python(tag: str, kernel: UmlKernel | None = None, time_travel: bool = False) -> str:
    """The execnet "python" that starts an xdist worker inside its own UML kernel:
    the kernel chosen by the controller, binary and modules both, booted with
    time-travel if asked."""
    chosen = f" --kernel {kernel.binary} --modules {kernel.modules}" if kernel else ""
    travel = " --time-travel" if time_travel else ""
    return f"{shlex.quote(sys.executable)} -m lab.kernel.uml --tag {tag}{chosen}{travel}"


def main(argv: list[str]) -> None:
    """Entry of ``python -m lab.kernel.uml --tag TAG [--kernel BINARY --modules DIR]
    [--time-travel] [python args...]`` (execnet's popen gateway)."""
    opts: dict[str, str] = {}
    while argv[:1] and argv[0] in ("--tag", "--kernel", "--modules", "--time-travel"):
        if argv[0] == "--time-travel":
            opts["time-travel"], argv = "1", argv[1:]
            continue
        opts[argv[0][2:]], argv = argv[1], argv[2:]
    tag = opts.get("tag", "")
    if "kernel" in opts and "modules" in opts:
        kernel = UmlKernel(Path(opts["kernel"]), Path(opts["modules"]))
    else:
        kernel = find_kernel(opts.get("kernel"))
    # the guest's python populates its memory by mapping, not by page fault (lab.kernel.locked)
    sys.exit(boot_program(locked.command(sys.executable, argv), kernel=kernel, tag=tag,
                          mem=os.environ.get(MEM_VAR, "768M"), time_travel="time-travel" in opts))


if __name__ == "__main__":
    main(sys.argv[1:])
