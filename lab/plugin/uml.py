"""The plugin's kernel side: where the lab's cells run when the host kernel has no ESP.

The run becomes a pytest-xdist run whose workers are started by ``python -m
lab.kernel.uml``, one UML kernel per worker (``route_to_uml``); a lone node id is handed
whole to one guest's own pytest (``alone_in_guest``). Also the lab's lines of pytest's
header (the kernel, the daemons' versions)."""

from __future__ import annotations

import getpass
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import NoReturn

import pytest

from lab import timetravel
from lab.daemons.registry import DAEMONS
from lab.errors import LabError
from lab.flavors import Flavor, flavors_dir, parse_flavor, tree_missing
from lab.kernel import confine, locked, warm
from lab.kernel.choice import KernelChoice, in_uml
from lab.kernel.uml import KEEP_VAR, KERNEL_VAR, MEM_VAR, boot_program, worker_python
from lab.run import TAG_VAR
from lab.state import private_dir

KERNEL = pytest.StashKey[KernelChoice]()
#: the lab's header lines, handed to the guest that runs a node id alone
HEADER_VAR = "IPSEC_LAB_HEADER"
#: why cells cannot run in this session (they skip with it), if they cannot
NO_KERNEL = pytest.StashKey[str]()
#: the run's workers are confined UML kernels (lab.kernel.confine)
CONFINED = pytest.StashKey[bool]()


def uml_workers(numprocesses: int | None, choice: KernelChoice, named: int = 1 << 16) -> int:
    """How many UML workers: -n N, else one per core (at most 4, and at most ``named``,
    the tests named one by one). ``-n 0`` is xdist's "no workers", and without a worker
    there is no UML kernel: a usage error."""
    if numprocesses is None:
        return min(os.cpu_count() or 1, 4, named)
    if numprocesses < 1:
        raise pytest.UsageError(
            f"-n {numprocesses}: no xdist workers, but the cells run in User-Mode Linux, one kernel"
            f" per xdist worker ({choice.why}); use -n 1 or more, or leave -n out"
            " (default: one per core, at most 4)")
    return numprocesses


def route_to_uml(config: pytest.Config, choice: KernelChoice) -> None:
    """Make this an xdist run whose workers each boot their own UML kernel (a lone node id:
    hand the whole command line to one guest, alone_in_guest)."""
    if not config.pluginmanager.hasplugin("xdist"):
        # Pure tests still run here; cells skip with the reason.
        config.stash[NO_KERNEL] = (f"{choice.why}, and User-Mode Linux needs pytest-xdist"
                                   " (run without -p no:xdist)")
        return
    if config.option.usepdb:
        raise pytest.UsageError("--pdb cannot reach into User-Mode Linux; use --lab-keep-artifacts")
    assert choice.uml is not None
    os.environ[KERNEL_VAR] = str(choice.uml.binary)
    # The guest hides the host's /tmp under a tmpfs; pytest's tmp_path lives there.
    pytest_tmp = Path(tempfile.gettempdir()) / f"pytest-of-{getpass.getuser()}"
    try:
        private_dir(pytest_tmp, "pytest temporary directory")
    except LabError as exc:
        raise pytest.UsageError(str(exc)) from None
    keep = [str(pytest_tmp)] + ([str(Path(config.option.basetemp).resolve())]
                                if config.option.basetemp else [])
    os.environ[KEEP_VAR] = os.pathsep.join(keep)
    # what the guests may write on the host, when they are confined (lab.kernel.confine)
    rundir = Path(config.option.lab_rundir or (config.rootpath / ".lab-runs")).resolve()
    confine.allow_writes(rundir)
    config.stash[CONFINED] = confine.applies()
    # One kernel per core unless -n says otherwise (UML is one CPU per instance), and
    # no more kernels than the node ids named on the command line, if only ids were named.
    workers = uml_workers(config.option.numprocesses, choice, named_ids(config))
    # Tests marked time_travel get workers of their own, booted from our kernel with
    # time-travel (lab.timetravel), if any file named may hold such a test.
    try:
        plan = timetravel.plan_for(config, workers)
    except LabError as exc:
        raise pytest.UsageError(str(exc)) from None
    if alone_in_guest(config, plan):
        run_alone_in_guest(config, choice)
    config.pluginmanager.register(timetravel.Routing(plan), "ipsec-lab-time-travel")
    config.option.numprocesses = plan.plain + plan.travel
    if config.option.dist == "no":
        config.option.dist = "load"
    tag = os.environ[TAG_VAR]
    config.option.tx = ([f"popen//python={worker_python(tag, choice.uml)}"] * plan.plain
                        + [f"popen//python={worker_python(tag, plan.kernel, time_travel=True)}"]
                        * plan.travel)


def alone_in_guest(config: pytest.Config, plan: timetravel.Plan) -> bool:
    """Whether this run is one node id (a person reproducing a cell) that the guest's own
    pytest can run without xdist: no -n, no time-travel worker, nothing that needs the
    controller (--lab-keep-up keeps the lab up from here). Without execnet's bootstrap,
    xdist and the controller's round trips, a cold cell takes 0.6 s less (4.1-4.5 s against
    4.9-5.1 s, measured side by side)."""
    opt = config.option
    # only a pytest command line: a pytest.main() inside another program must come back
    command_line = tuple(config.invocation_params.args) == tuple(sys.argv[1:])
    return (command_line and named_ids(config) == 1 and opt.numprocesses is None
            and plan.travel == 0 and not opt.lab_keep_up and not opt.collectonly
            and opt.dist in ("no", None))


def run_alone_in_guest(config: pytest.Config, choice: KernelChoice) -> NoReturn:
    """Run the same pytest command line inside a fresh UML kernel, its output on ours, and
    leave with its exit code; this process runs no session of its own."""
    assert choice.uml is not None
    capture = config.pluginmanager.getplugin("capturemanager")
    if capture is not None:  # our stdout must be the terminal again, not pytest's capture
        capture.stop_global_capturing()
    args = list(config.invocation_params.args)
    if sys.stdout.isatty() and not any(a.startswith("--color") for a in args):
        args.insert(0, "--color=yes")  # the guest's stdout is a pipe
        os.environ.setdefault("COLUMNS", str(shutil.get_terminal_size().columns))
    use_warm = warm.wanted()
    if config.option.verbose >= 0:  # the guest's pytest prints the header; it cannot ask
        os.environ[HEADER_VAR] = "\n".join(header_lines(config)).replace(
            "one per worker", ("a warm guest" if use_warm else "one") +
            " for this node id, run by its own pytest without xdist", 1)
    if confine.applies():  # the guest's pytest writes its cache and its tmp_path as the kernel's user
        if config.pluginmanager.hasplugin("cacheprovider"):
            confine.allow_writes(config.rootpath / str(config.getini("cache_dir")))
        if not config.option.basetemp:
            # a warm guest may write only what it was booted with: one base for all its runs
            base = (Path(tempfile.gettempdir()) / f"pytest-of-{getpass.getuser()}" / warm.basetemp_name()
                    if use_warm else pytest.TempPathFactory.from_config(config, _ispytest=True).getbasetemp())
            confine.allow_writes(base)
            args.insert(0, f"--basetemp={base / 'guest'}")
    tag, mem = os.environ[TAG_VAR], os.environ.get(MEM_VAR, "768M")
    sys.stdout.flush()
    code = warm.run(["-m", "pytest", *args], kernel=choice.uml, tag=tag, mem=mem) if use_warm else None
    if code is None:
        code = boot_program(locked.command(sys.executable, ["-m", "pytest", *args]), kernel=choice.uml,
                            tag=tag, mem=mem, alone=True)
    sys.stdout.flush()
    os._exit(code)


def named_ids(config: pytest.Config) -> int:
    """How many tests the command line names one by one (``file::test[id]``), or a large
    number when it names files, directories or nothing (the count is known only later)."""
    args = config.args
    if args and all("::" in arg for arg in args):
        return len(args)
    return 1 << 16


def versions() -> list[str]:
    out = []
    tag = os.environ[TAG_VAR]
    flavors = [Flavor(impl) for impl in DAEMONS]
    root = flavors_dir()
    if root.is_dir():
        for tree in sorted(root.iterdir()):
            impl, _, suite = tree.name.partition("-")
            if impl in DAEMONS and suite:
                flavors.append(parse_flavor(f"{impl}@{suite}"))
    for flavor in flavors:
        cls = DAEMONS[flavor.impl]
        missing = tree_missing(flavor) or cls.missing(flavor)
        if missing:
            out.append(f"{flavor.name}: not available ({missing})")
            continue
        try:
            out.append(f"{flavor.name} {cls.version(flavor, tag)}")
        except LabError as exc:
            out.append(f"{flavor.name}: {exc}")
    return out


def header_lines(config: pytest.Config) -> list[str]:
    """The lab's lines of pytest's header: the kernel, time travel, the daemons."""
    choice = config.stash.get(KERNEL, None)
    if choice is None:  # the guest of a node id run alone prints what the host wrote down
        return [ln for ln in os.environ.get(HEADER_VAR, "").split("\n") if ln] if in_uml() else []
    lines = [f"ipsec-lab kernel: {choice.describe()}"]
    routing = config.pluginmanager.get_plugin("ipsec-lab-time-travel")
    if routing is not None and routing.plan.travel:
        lines.append(f"ipsec-lab time travel: {routing.plan.travel} more worker(s), {routing.plan.kernel}"
                     " booted with time-travel, for the tests marked time_travel (their durations"
                     " are guest time)")
    return [*lines,
            "ipsec-lab daemons: " + "; ".join(versions())]

