"""The pytest plugin (pyproject's pytest11 entry point): its hooks and fixtures.

Options and their checks, the kernel choice (on a kernel without ESP every test runs
inside User-Mode Linux, one kernel per pytest-xdist worker: lab.plugin.uml), the `lab`
fixture and its session (lab.plugin.cells), what the reports carry (lab.plugin.report).
Output, exit status, -k, -x and --junitxml stay those of the pytest process the user
started.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab import options, owner, timetravel
from lab.errors import LabError
from lab.kernel import confine
from lab.kernel.choice import choose, in_uml, time_travel
from lab.kernel.uml import check_cwd
from lab.matrix import MatrixSelection, lifecycle_cells
from lab.pathreport import PathReport
from lab.plugin.cells import REPORTS, Lab, LabSession
from lab.plugin.report import KeepUp, annotate
from lab.plugin.uml import (
    CONFINED,
    KERNEL,
    NO_KERNEL,
    alone_in_guest,
    header_lines,
    route_to_uml,
    uml_workers,
)
from lab.repeat import FIXTURE as REPEAT_FIXTURE
from lab.repeat import RepeatReport, parse_repeat, run_ids
from lab.run import TAG_VAR
from lab.wire import packets

#: what other modules and tests import from here
__all__ = ["NO_KERNEL", "REPORTS", "Lab", "LabSession", "alone_in_guest", "uml_workers"]


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
        route_to_uml(config, choice)


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


@pytest.hookimpl(tryfirst=True)  # before xdist starts the workers (its hook is trylast)
def pytest_sessionstart(session: pytest.Session) -> None:
    """A confined worker's tmp_path is under the controller's basetemp: the worker may
    write there (xdist makes it basetemp/WORKER)."""
    factory = getattr(session.config, "_tmp_path_factory", None)
    if session.config.stash.get(CONFINED, False) and factory is not None:
        confine.allow_writes(factory.getbasetemp())


def pytest_report_header(config: pytest.Config) -> list[str]:
    return header_lines(config)


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
    annotate(item, report)
    return report


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
