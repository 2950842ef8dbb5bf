"""The pytest plugin: options, the kernel choice, the `lab` fixture, artifacts on failure.

On a kernel without ESP every test runs inside User-Mode Linux: the plugin turns
the run into a pytest-xdist run whose workers are started by ``python -m lab.kernel.uml``,
one UML kernel per worker. Output, exit status, -k, -x and --junitxml stay those
of the pytest process the user started.
"""

from __future__ import annotations

import getpass
import itertools
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import pytest

from lab import options, owner, timetravel
from lab.artifacts import RunDir, run_dir_name
from lab.daemons.registry import DAEMONS
from lab.errors import LabError
from lab.flavors import Flavor, flavors_dir, parse_flavor, tree_missing
from lab.kernel import confine, locked, warm
from lab.kernel.choice import KernelChoice, choose, in_uml, time_travel
from lab.kernel.uml import KEEP_VAR, KERNEL_VAR, MEM_VAR, boot_program, check_cwd, worker_python
from lab.matrix import MatrixSelection, lifecycle_cells
from lab.outcome import ESTABLISHED, Outcome
from lab.pathreport import PROPERTY as PATH_PROPERTY
from lab.pathreport import PathReport
from lab.repeat import FIXTURE as REPEAT_FIXTURE
from lab.repeat import RepeatReport, parse_repeat, run_ids
from lab.run import TAG_VAR
from lab.scenario import SIDES, Scenario
from lab.state import private_dir
from lab.topology.netns import lab_namespaces
from lab.wire import packets
from lab.wire.verdict import Verdict

if TYPE_CHECKING:  # the cell (pyroute2 and all) is imported by the worker that runs one
    from lab.cell import Cell
    from lab.warm import WarmPool

KERNEL = pytest.StashKey[KernelChoice]()
#: the lab's header lines, handed to the guest that runs a node id alone
HEADER_VAR = "IPSEC_LAB_HEADER"
REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()
NO_KERNEL = pytest.StashKey[str]()
#: the run's workers are confined UML kernels (lab.kernel.confine)
CONFINED = pytest.StashKey[bool]()


def pytest_addoption(parser: pytest.Parser) -> None:
    options.add_to_pytest(parser.getgroup("ipsec-lab", "ipsec-lab: the IKE interop lab"))


def _session_tag() -> str:
    tag = os.environ.get(TAG_VAR)
    if not tag:
        tag = f"ipl-{os.getpid()}-{int(time.time())}"
        os.environ[TAG_VAR] = tag  # workers and every process the lab starts inherit it
    owner.claim()  # and the run's owner beside it: `ipsec-lab clean` spares a live run
    return tag


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "lab: an end-to-end cell with real daemons and a real kernel")
    config.addinivalue_line("markers", "known_incompatibility(id, xpass): a strict xfail cell of "
                            "scenarios/known-incompatibilities.toml (lab.known)")
    config.addinivalue_line("markers", "time_travel(required=False): a lifecycle cell whose guest "
                            "time should skip idle waits (a UML booted with time-travel); with "
                            "required=True it skips where no such kernel is built")
    _session_tag()
    try:  # options are checked once, up front, with a one-line answer
        opt = config.option
        selection = MatrixSelection.from_pytest(opt)
        if opt.lab_lifecycle:  # (the default set is the matrix's own: 0.1 s to build, unchecked here)
            lifecycle_cells(selection, opt.lab_lifecycle)
        repeats = parse_repeat(opt.lab_repeat)
        options.check_rundir(opt.lab_rundir, "--lab-rundir")
    except LabError as exc:
        raise pytest.UsageError(str(exc)) from None
    if repeats > 1 and not hasattr(config, "workerinput"):
        config.pluginmanager.register(RepeatReport(repeats), "ipsec-lab-repeat")
    if not hasattr(config, "workerinput"):
        config.pluginmanager.register(PathReport(), "ipsec-lab-path")
    if hasattr(config, "workerinput") or in_uml():
        if in_uml():  # scapy takes a second or two to import: do it while no cell runs yet
            threading.Thread(target=packets.scapy, name="import scapy", daemon=True).start()
        return
    if config.option.collectonly or config.option.help or config.option.version:
        return
    try:
        choice = choose(config.option.lab_kernel, config.option.lab_uml)
        if choice.kind == "uml":
            check_cwd()
    except LabError as exc:
        raise pytest.UsageError(str(exc)) from None
    config.stash[KERNEL] = choice
    if config.option.lab_time_travel == "on" and choice.kind != "uml":
        raise pytest.UsageError(f"--lab-time-travel=on: the cells run on the host kernel here ({choice.why});"
                                " time travel is a UML boot option (allowed: --lab-kernel=uml)")
    if config.option.lab_keep_up:
        config.pluginmanager.register(KeepUp(), "ipsec-lab-keep-up")
    if choice.kind == "uml":
        _route_to_uml(config, choice)


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


@pytest.hookimpl(trylast=True)  # after the test's own parameters: the run is the id's last part
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """--lab-repeat=N: every test that runs cells becomes N items (-rep1ofN ... -repNofN)."""
    n = parse_repeat(metafunc.config.option.lab_repeat)
    if n > 1 and "lab" in metafunc.fixturenames:
        metafunc.fixturenames.append(REPEAT_FIXTURE)
        metafunc.parametrize(REPEAT_FIXTURE, range(1, n + 1), ids=run_ids(n), indirect=True)


@pytest.fixture
def lab_repeat(request: pytest.FixtureRequest) -> int:
    """Which run of the cell this is (1 without --lab-repeat)."""
    return int(getattr(request, "param", 1))


def _route_to_uml(config: pytest.Config, choice: KernelChoice) -> None:
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
    workers = uml_workers(config.option.numprocesses, choice, _named_ids(config))
    # Tests marked time_travel get workers of their own, booted from our kernel with
    # time-travel (lab.timetravel), if any file named may hold such a test.
    try:
        plan = timetravel.plan_for(config, workers)
    except LabError as exc:
        raise pytest.UsageError(str(exc)) from None
    if alone_in_guest(config, plan):
        _run_alone_in_guest(config, choice)
    config.pluginmanager.register(timetravel.Routing(plan), "ipsec-lab-time-travel")
    config.option.numprocesses = plan.plain + plan.travel
    if config.option.dist == "no":
        config.option.dist = "load"
    tag = os.environ[TAG_VAR]
    config.option.tx = ([f"popen//python={worker_python(tag, choice.uml)}"] * plan.plain
                        + [f"popen//python={worker_python(tag, plan.kernel, time_travel=True)}"]
                        * plan.travel)


@pytest.hookimpl(tryfirst=True)  # before xdist starts the workers (its hook is trylast)
def pytest_sessionstart(session: pytest.Session) -> None:
    """A confined worker's tmp_path is under the controller's basetemp: the worker may
    write there (xdist makes it basetemp/WORKER)."""
    factory = getattr(session.config, "_tmp_path_factory", None)
    if session.config.stash.get(CONFINED, False) and factory is not None:
        confine.allow_writes(factory.getbasetemp())


def alone_in_guest(config: pytest.Config, plan: timetravel.Plan) -> bool:
    """Whether this run is one node id (a person reproducing a cell) that the guest's own
    pytest can run without xdist: no -n, no time-travel worker, nothing that needs the
    controller (--lab-keep-up keeps the lab up from here). Without execnet's bootstrap,
    xdist and the controller's round trips, a cold cell takes 0.6 s less (4.1-4.5 s against
    4.9-5.1 s, measured side by side)."""
    opt = config.option
    # only a pytest command line: a pytest.main() inside another program must come back
    command_line = tuple(config.invocation_params.args) == tuple(sys.argv[1:])
    return (command_line and _named_ids(config) == 1 and opt.numprocesses is None
            and plan.travel == 0 and not opt.lab_keep_up and not opt.collectonly
            and opt.dist in ("no", None))


def _run_alone_in_guest(config: pytest.Config, choice: KernelChoice) -> NoReturn:
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
        os.environ[HEADER_VAR] = "\n".join(pytest_report_header(config)).replace(
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


def _named_ids(config: pytest.Config) -> int:
    """How many tests the command line names one by one (``file::test[id]``), or a large
    number when it names files, directories or nothing (the count is known only later)."""
    args = config.args
    if args and all("::" in arg for arg in args):
        return len(args)
    return 1 << 16


def _versions() -> list[str]:
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


def pytest_report_header(config: pytest.Config) -> list[str]:
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
            "ipsec-lab daemons: " + "; ".join(_versions())]


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On an xdist worker of a run with time-travel workers: only this worker's kind of test."""
    if hasattr(config, "workerinput"):
        timetravel.worker_split(config, items, time_travel())


def pytest_runtest_setup(item: pytest.Item) -> None:
    choice = item.config.stash.get(KERNEL, None)
    uml = in_uml() or (choice is not None and choice.kind == "uml")
    reason = timetravel.skip_reason(item.config, item, time_travel(), uml)
    if reason:
        pytest.skip(reason)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]
                              ) -> Iterator[None]:  # type: ignore[misc]
    report = yield
    item.stash.setdefault(REPORTS, {})[report.when] = report
    known = item.get_closest_marker("known_incompatibility")
    if known and report.when == "call" and report.failed and \
            str(report.longrepr).startswith("[XPASS(strict)]"):
        report.longrepr = known.kwargs["xpass"]  # loud: the incompatibility is gone
    fixture = getattr(item, "_lab_fixture", None)
    if fixture is not None and report.when == "call":
        seen = [f"expected {cell.scenario.expect}, seen {cell.outcome}"
                for cell, _ in fixture.cells if cell.outcome is not None]
        if seen:  # shown for failures, and for passes with -rP
            report.sections.append(("ipsec-lab outcome", "\n".join(seen)))
            for props in (report.user_properties, item.user_properties):  # JUnit: the item's
                props.append(("outcome", "\n".join(seen)))
    paths = [cell.path_summary() for cell, _ in (fixture.cells if fixture else [])
             if not cell.scenario.path.plain or cell.scenario.encapsulation != "auto"]
    if paths and report.when == "call":
        for props in (report.user_properties, item.user_properties):
            props.append((PATH_PROPERTY, " | ".join(paths)))
    if fixture is not None and report.failed and fixture.cells:
        report.sections.append(("ipsec-lab", fixture.describe_artifacts()))
    return report


class KeepUp:
    """--lab-keep-up, on the controller: after the run, bring the first failed cell's
    scenario up again as a lab that stays up, for `ipsec-lab shell` and `exec`."""

    def __init__(self) -> None:
        self.failed: list[tuple[str, str]] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        cell = dict(report.user_properties).get("failed_cell")
        if report.when == "teardown" and cell:
            self.failed.append((report.nodeid, str(cell)))

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.failed:
            return
        nodeid, rundir = self.failed[0]
        tr = terminalreporter
        tr.section("ipsec-lab: keeping a failed cell up")
        tr.write_line(f"{nodeid}: ipsec-lab up --scenario {rundir}/scenario.toml --name failed")
        proc = subprocess.run([sys.executable, "-m", "lab", "up", "--scenario",
                               f"{rundir}/scenario.toml", "--name", "failed"],
                              capture_output=True, text=True, check=False)
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-3:]
        for line in tail:
            tr.write_line(line)
        tr.write_line("get inside: ipsec-lab shell left --name failed; "
                      "when done: ipsec-lab down --name failed")


class Lab:
    """The `lab` fixture: runs cells for one test and cleans up after it."""

    def __init__(self, request: pytest.FixtureRequest, session: LabSession) -> None:
        self.request = request
        self.config = request.config
        self.session = session
        self.cells: list[tuple[Cell, RunDir]] = []
        worker = os.environ.get("PYTEST_XDIST_WORKER", "")
        self.worker = worker
        base = self.config.option.lab_rundir or (self.config.rootpath / ".lab-runs")
        self.base = Path(base)
        self.tag = os.environ[TAG_VAR]

    def skip_unless_possible(self, scenario: Scenario) -> None:
        no_kernel = self.config.stash.get(NO_KERNEL, None)
        if no_kernel:
            pytest.skip(no_kernel)
        for side in SIDES:
            flavor = parse_flavor(scenario.peer(side).flavor, f"{side}.flavor")
            cls = DAEMONS.get(flavor.impl)
            if cls is None:
                pytest.skip(f"{flavor.name}: no driver for {flavor.impl} in this lab")
            reason = tree_missing(flavor) or cls.missing(flavor) or \
                cls.unsupported(scenario, side, flavor, self.tag)
            if reason:
                pytest.skip(f"{side}: {reason}")

    def start(self, scenario: Scenario, warm: bool = False) -> Cell:
        """Skip if the cell cannot run here; else bring it up (namespaces, daemons loaded;
        ``warm``: the worker's kept ones where they fit, lab.warm)."""
        self.skip_unless_possible(scenario)
        n = len(self.cells)
        ident = f"{owner.current()}-{os.getpid()}-{next(self.session.cells)}"
        name = run_dir_name(self.request.node.nodeid, self.worker) + (f"-{n + 1}" if n else "")
        from lab.cell import Cell  # (imported here: the controller outside UML needs none)

        cell = Cell(scenario, tag=self.tag, ident=ident, cache=self.session.cache,
                    warm=self.session.warm_for(scenario) if warm else None)
        self.cells.append((cell, RunDir(self.base / name)))
        cell.up()
        return cell

    def run(self, scenario: Scenario) -> Verdict | Outcome:
        """One whole cell: up, negotiate (raises unless it ends as the scenario's ``expect``
        says); a cell that expects a failure ends there with its outcome; else ping6,
        capture, verdict, the initiator deletes the connection and both kernels must be
        clean (raises if anything fails)."""
        cell = self.start(scenario, warm=True)
        cell.negotiate()
        if scenario.expect != ESTABLISHED:
            outcome = cell.end_as_expected()
            cell.passed = True  # (kept daemons serve the next cell only after a cell that passed)
            return outcome
        cell.traffic()
        verdict = cell.judge()
        cell.delete()
        verdict.check()
        cell.passed = True
        return verdict

    def reproduce(self) -> str:
        nodeid = self.request.node.nodeid
        return f"pytest {shlex.quote(nodeid)} --lab-keep-artifacts"

    def describe_artifacts(self) -> str:
        dirs = ", ".join(str(rundir.path) for _, rundir in self.cells)
        return f"artifacts: {dirs}\nreproduce: {self.reproduce()}"

    def finish(self, failed: bool) -> None:
        keep = failed or self.config.option.lab_keep_artifacts
        errors = []
        for cell, rundir in reversed(self.cells):
            if not failed:  # health check: a daemon that died during a passing test is a failure
                errors += [f"during the test, {why}" for d in cell.daemons.values()
                           if (why := d.crashed())]
            try:
                if keep:
                    rundir.fresh()
                    cell.collect(rundir, failed)
                    rundir.write("reproduce.sh", f"#!/bin/sh\n{self.reproduce()}\n")
                    self.request.node.user_properties.append(("artifacts", str(rundir.path)))
                    if failed:
                        self.request.node.user_properties.append(("failed_cell", str(rundir.path)))
                elif self.config.option.lab_pcap:
                    rundir.fresh()
                    cell.write_capture(rundir)
                else:
                    rundir.remove()
            finally:
                try:
                    cell.passed = cell.passed and not failed and not errors
                    cell.down()
                except (OSError, LabError) as exc:
                    errors.append(f"teardown of {cell.ident}: {exc}")
        left = [ns for ns in lab_namespaces()
                if any(ns.startswith(f"ipl-{cell.ident}-") for cell, _ in self.cells)]
        if left:
            errors.append(f"namespaces left behind: {', '.join(left)}")
        if errors:
            raise LabError("; ".join(errors))


@dataclass
class LabSession:
    """What the cells of one worker share: a scratch directory, a cell counter, and the
    kept namespaces and daemons (lab.warm; None with --lab-warm=off)."""

    cache: Path
    cells: itertools.count = field(default_factory=lambda: itertools.count(1))
    warm: WarmPool | None = None

    def warm_for(self, scenario: Scenario) -> WarmPool | None:
        from lab.warm import cold_reason

        if self.warm is None or self.warm.busy or cold_reason(scenario) is not None:
            return None  # (busy: a test's second cell while its first is still up)
        return self.warm


@pytest.fixture(scope="session")
def lab_session(request: pytest.FixtureRequest) -> Iterator[LabSession]:
    path = Path(tempfile.mkdtemp(prefix=owner.current().name_prefix() + "cache-"))
    session = LabSession(path)
    if request.config.option.lab_warm == "on" and request.config.stash.get(NO_KERNEL, None) is None:
        from lab.warm import WarmPool, pool_ident

        session.warm = WarmPool(os.environ[TAG_VAR], path, pool_ident(str(owner.current())))
    try:
        yield session
    finally:
        if session.warm is not None:
            session.warm.close()
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def lab(request: pytest.FixtureRequest, lab_session: LabSession) -> Iterator[Lab]:
    """Run cells: ``lab.run(scenario)`` or ``cell = lab.start(scenario)``."""
    fixture = Lab(request, lab_session)
    request.node._lab_fixture = fixture
    request.node.user_properties.append(("reproduce", fixture.reproduce()))
    yield fixture
    reports = request.node.stash.get(REPORTS, {})
    failed = any(r.failed for r in reports.values())
    fixture.finish(failed)
