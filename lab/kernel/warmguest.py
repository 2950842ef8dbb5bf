"""The program of a warm guest: a UML guest that stays booted and runs one command at a time.

Run by PID 1 (lab.kernel.guest) through lab.kernel.locked, like any guest program; its
stdin and stdout are the serial line to the host's keeper (lab.kernel.warm). It imports
what a command would import from outside the lab (pytest, scapy, pyroute2's message
classes, cryptography), says it is ready, then reads one JSON request a line:

- ``{"op": "run", "argv": [...], "cwd": ..., "env": {...}}``: python's command line
  (``-m pytest ...``, ``-m lab run ...``) in a forked child, in a mount namespace of its
  own (the flavor views it mounts die with it), with the request's environment and
  directory; its stdout and stderr come back as ``{"t": "out", "data": BASE64}`` lines,
  then ``{"t": "done", "rc": N, "left": [...]}``.
- ``{"op": "interrupt"}`` while a command runs: SIGINT to its process group (pytest
  tears its fixtures down: the cell is taken down, as after Ctrl-C in a cold guest),
  SIGKILL after GRACE seconds.

The lab's modules are imported here too, through pytest's assertion-rewriting hook for
those pytest would rewrite (so a command's pytest finds them as it would have made them);
what is imported here is then frozen out of the garbage collector's sight (a command's
collections would otherwise copy every page it shares with this process: 1 s at exit).
Before and after each command the guest
must be as it was after boot (`leftovers`): no process but this one, no network
namespace, no SA or policy, the same interfaces and mounts. Anything else is said
in the answer and this program ends, which powers the guest off: the next command
gets a fresh guest.
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import gc
import importlib
import json
import os
import select
import signal
import sys
import time
from pathlib import Path
from typing import Any

from lab.kernel.jsonlines import JsonLines

#: what every command imports from outside the lab, imported once here (the measured cost
#: in a cold guest: pytest 0.5 s, the rest about as much); a module that is missing is skipped
PRELOAD = ("pytest", "_pytest.main", "_pytest.python", "_pytest.terminal", "_pytest.fixtures",
           "_pytest.assertion.rewrite", "_pytest.capture", "_pytest.junitxml", "_pytest.pastebin",
           "_pytest.tmpdir", "_pytest.monkeypatch", "_pytest.logging", "_pytest.doctest",
           "_pytest.skipping", "_pytest.unittest", "_pytest.stepwise", "_pytest.cacheprovider",
           "execnet", "pluggy", "tomllib", "argparse",
           "pyroute2.netlink", "pyroute2.netlink.rtnl.ifinfmsg", "pyroute2.netlink.rtnl.addrmsg",
           "pyroute2.netlink.rtnl.rtmsg", "cryptography.hazmat.primitives.asymmetric.rsa",
           "cryptography.x509", "scapy.all", "dataclasses", "ipaddress", "shlex", "subprocess",
           "tempfile", "threading", "json", "hashlib", "hmac", "uuid", "logging", "pty")
GRACE = 15.0
SPARE_AFTER = 0.5  # seconds after a command's answer
CLONE_NEWNS = 0x00020000
MS_REC, MS_PRIVATE = 16384, 1 << 18
MCL_CURRENT, MCL_FUTURE = 1, 2
PF_KTHREAD = 0x00200000


def rewrite_marks() -> set[str]:
    """The modules pytest will rewrite the asserts of, as it marks them: each pytest11 plugin
    module, and the modules of each distribution that gives one (pytest's own reckoning:
    for an editable install of the lab, only lab.plugin)."""
    from importlib.metadata import entry_points

    from _pytest.config import _iter_rewritable_modules

    marks = set()
    for ep in entry_points(group="pytest11"):
        marks.add(ep.value.split(":")[0])
        if ep.dist is not None:
            marks.update(_iter_rewritable_modules([str(f) for f in ep.dist.files or []]))
    return marks


class _HookConfig:
    """What pytest's AssertionRewritingHook asks of its config, with pytest's defaults (the
    project sets neither python_files nor enable_assertion_pass_hook)."""

    def __init__(self) -> None:
        import types

        from _pytest.assertion import rewrite
        from _pytest.stash import Stash

        self.stash = Stash()
        self.stash[rewrite.assertstate_key] = types.SimpleNamespace(trace=lambda *_: None)

    def getini(self, name: str) -> Any:
        return {"python_files": ["test_*.py", "*_test.py"], "enable_assertion_pass_hook": False}[name]

    def issue_config_time_warning(self, *_: Any, **__: Any) -> None:
        pass


def lab_modules() -> list[str]:
    """Every module of the lab a command may import (not the programs of this guest and host)."""
    import pkgutil

    root = Path(__file__).resolve().parents[1]
    skip = {"lab.__main__", "lab.kernel.warmguest", "lab.kernel.warmkeeper"}
    return ["lab", *(m.name for m in pkgutil.walk_packages([str(root)], "lab.") if m.name not in skip)]


def preload(marks: set[str]) -> list[str]:
    """Import PRELOAD and the lab, the marked modules through pytest's rewriting hook, as a
    command's pytest would import them; what cannot be imported is left to the command."""
    from _pytest.assertion.rewrite import AssertionRewritingHook

    for name in [m for m in sys.modules if m.split(".")[0] == "lab"]:
        del sys.modules[name]  # (imported plainly to start this program)
    hook = AssertionRewritingHook(_HookConfig())  # type: ignore[arg-type]
    hook.mark_rewrite(*marks)
    sys.meta_path.insert(0, hook)
    missing = []
    try:
        for name in [*PRELOAD, *lab_modules()]:
            try:
                importlib.import_module(name)
            except Exception:  # an optional speed-up; the command imports it or fails itself
                missing.append(name)
    finally:
        sys.meta_path.remove(hook)
    return missing


def unrewritten(marks: set[str]) -> list[str]:
    """Modules pytest would rewrite that were imported here without the hook (by another
    module): the command imports them afresh."""
    from _pytest.assertion.rewrite import AssertionRewritingHook

    return [name for name, mod in sys.modules.items()
            if any(name == m or name.startswith(m + ".") for m in marks)
            and not isinstance(getattr(mod, "__loader__", None), AssertionRewritingHook)]


def _processes(spare: int = 0) -> list[str]:
    """Every process but PID 1, this one, its spare child, orphans that ended, kernel threads."""
    found = []
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) in (1, me, spare):
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        name, rest = stat.split(" (", 1)[1].rsplit(") ", 1)
        fields = rest.split()
        if int(fields[6]) & PF_KTHREAD or int(fields[1]) == 2 or fields[0] == "Z":
            continue  # kernel threads; an orphan that ended, which PID 1 reaps
        found.append(f"process {entry} ({name}, {fields[0]})")
    return found


def _xfrm() -> list[str]:
    """The SAs and policies of this guest's own network namespace (netlink, no process)."""
    from lab.xfrm import XfrmSocket

    try:
        with XfrmSocket(None) as xfrm:
            return [f"SA {sa}" for sa in xfrm.states()] + [f"policy {p}" for p in xfrm.policies()]
    except OSError as exc:
        return [f"xfrm: cannot list ({exc})"]


def snapshot() -> dict[str, Any]:
    """What the guest holds that a command could leave behind (beside processes and SAs)."""
    netns = Path("/run/netns")
    return {"netns": sorted(os.listdir(netns)) if netns.is_dir() else [],
            "links": sorted(os.listdir("/sys/class/net")),
            "mounts": [line.split(" ", 4)[4] for line in
                       Path("/proc/self/mountinfo").read_text().splitlines()]}


def leftovers(baseline: dict[str, Any], spare: int = 0) -> list[str]:
    """How the guest differs from right after boot: one line per thing left."""
    now = snapshot()
    found = _processes(spare)
    found += [f"network namespace {n}" for n in now["netns"] if n not in baseline["netns"]]
    found += [f"interface {n}" for n in now["links"] if n not in baseline["links"]]
    found += [f"mount {m.split(' ')[0]}" for m in now["mounts"] if m not in baseline["mounts"]]
    return found + _xfrm()


def _send(msg: dict[str, Any]) -> None:
    data = (json.dumps(msg) + "\n").encode()
    view = memoryview(data)
    while view:
        view = view[os.write(1, view):]


def _child(request: dict[str, Any], out: int, stdin: int, fresh: list[str]) -> None:
    """In the forked child: become the command (never returns)."""
    try:
        os.setsid()
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.unshare(CLONE_NEWNS) != 0 or libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None) != 0:
            raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNS)")
        os.dup2(stdin, 0)
        os.dup2(out, 1)
        os.dup2(out, 2)
        os.chdir(request["cwd"])
        from lab import owner
        from lab.kernel import locked

        for name in fresh:
            sys.modules.pop(name, None)
        os.environ.clear()
        os.environ.update(request["env"])
        os.environ[owner.OWNER_VAR] = str(owner.Owner.me())  # this command owns what it starts
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        locked.lock_future_mappings()  # not inherited through fork
        locked.leave(list(request["argv"]))
    except BaseException as exc:  # the command's own error is on its stderr
        os.write(2, f"ipsec-lab warm guest: {type(exc).__name__}: {exc}\n".encode())
    os._exit(1)


class Spare:
    """The next command's process, forked while the guest is idle: it populates its memory
    at once (a copy of this program's pages: in UML each page a command would otherwise
    copy on its first write, or map on its first read, is a fault of about 0.1 ms, some
    11 000 of them for one cell) and waits for its request."""

    def __init__(self, fresh: list[str]) -> None:
        self.fresh = fresh
        req_r, self.req_w = os.pipe()
        self.out_r, out_w = os.pipe()
        in_r, self.in_w = os.pipe()  # the command's stdin: never written, never at its end (as cold)
        self.pid = os.fork()
        if self.pid == 0:
            for fd in (self.req_w, self.out_r, self.in_w):
                os.close(fd)
            with contextlib.suppress(Exception):
                ctypes.CDLL(None).mlockall(MCL_CURRENT | MCL_FUTURE)
            data = b""
            while chunk := os.read(req_r, 65536):
                data += chunk
            if not data:  # this program ended: so does its spare
                os._exit(0)
            _child(json.loads(data), out_w, in_r, fresh)
        for fd in (req_r, out_w, in_r):
            os.close(fd)

    def start(self, request: dict[str, Any]) -> None:
        data = json.dumps(request).encode()
        view = memoryview(data)
        while view:
            view = view[os.write(self.req_w, view):]
        os.close(self.req_w)


def _signal(pid: int, sig: int) -> None:
    """To the command's process group (to the command alone before it made the group)."""
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def run(request: dict[str, Any], baseline: dict[str, Any], requests: Any, spare: Spare) -> bool:
    """Run one command in ``spare``; False when the guest is no longer clean (it must stop)."""
    left = leftovers(baseline, spare.pid)
    if left:
        _send({"t": "done", "rc": None, "left": left, "before": True})
        return False
    if os.waitpid(spare.pid, os.WNOHANG)[0] == spare.pid:  # it died waiting (out of memory?)
        spare = Spare(spare.fresh)
    spare.start(request)
    pid, out_r, in_w = spare.pid, spare.out_r, spare.in_w
    deadline = drained_by = None
    status = None
    open_ = True
    while status is None or (open_ and time.monotonic() < drained_by):
        if open_ and select.select([out_r], [], [], 0.05)[0]:
            data = os.read(out_r, 65536)
            if data:
                _send({"t": "out", "data": base64.b64encode(data).decode()})
            else:
                open_ = False
        elif not open_:
            time.sleep(0.02)
        for line in requests.poll():
            if line.get("op") == "interrupt" and deadline is None:
                _signal(pid, signal.SIGINT)
                deadline = time.monotonic() + GRACE
        if deadline is not None and time.monotonic() > deadline and status is None:
            _signal(pid, signal.SIGKILL)
        if status is None:
            done, wstatus = os.waitpid(pid, os.WNOHANG)
            if done == pid:  # what it wrote last is read for up to a second more
                status, drained_by = wstatus, time.monotonic() + 1.0
    os.close(out_r)
    os.close(in_w)
    left = leftovers(baseline)
    _send({"t": "done", "rc": os.waitstatus_to_exitcode(status), "left": left})
    return not left


def main() -> int:
    started = time.monotonic()
    marks = rewrite_marks()
    missing = preload(marks)
    fresh = unrewritten(marks)
    # what is here now lives as long as this program: out of the collector's sight, so that a
    # command's collections do not write to (and so copy) every page it shares with us
    gc.collect()
    gc.freeze()
    baseline = snapshot()
    left = leftovers(baseline)
    _send({"t": "ready", "preload": round(time.monotonic() - started, 3), "missing": missing,
           "fresh": fresh, "left": left})
    if left:
        return 1
    requests = JsonLines(0)  # from stdin, without blocking the command's output
    pending: list[dict[str, Any]] = []
    spare: Spare | None = None
    while not requests.ended or pending:
        if spare is None:  # not before the last answer is on its way: UML has one CPU, and
            # the spare's copy of 120 MB would hold it for 0.3 s
            pending += requests.poll(timeout=SPARE_AFTER)
            spare = Spare(fresh)
        pending += requests.poll(timeout=None) if not pending else []
        if not pending:
            continue
        request = pending.pop(0)
        if request.get("op") != "run":
            continue
        if not run(request, baseline, requests, spare):
            return 1
        spare = None
    return 0


if __name__ == "__main__":
    sys.exit(main())
