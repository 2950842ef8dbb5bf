"""Time travel for the tests that wait: which workers boot our own UML with ``time-travel``.

Tests marked ``time_travel`` (lifecycle cells: lifetimes, DPD, restarts) spend their time
waiting; in a guest booted with ``time-travel`` its clock skips idle time, so an hour of
lifetime passes in a second. Every other test keeps Debian's UML and real time.

The xdist controller does not collect, so it guesses from the test files' text whether a
marked test may run (``files_asking``) and only then adds time-travel workers (``plan``).
The workers decide exactly, from the markers: a time-travel worker keeps only marked
tests, the others only unmarked ones (``split``), and ``SplitScheduling`` gives each group
of workers its own collection. A time-travel guest must never wait on the host: while it
does, its clock races ahead by days and it spins at 100% CPU. So its workers get all
their tests at once and their shutdown with them, and a group with nothing to do is shut
down as soon as collection ends.
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from lab.errors import MissingError, UsageError
from lab.kernel.choice import TIME_TRAVEL_CHOICES as OPTION_CHOICES
from lab.kernel.uml import UmlKernel, find_own_kernel
from lab.scenario import Scenario

MARKER = "time_travel"
#: the controller's word to its workers, in xdist's workerinput
WORKERINPUT_KEY = "lab_time_travel"
#: the python of a time-travel worker's gateway says so (lab.kernel.uml.worker_python)
WORKER_FLAG = "--time-travel"
_ASKS = re.compile(r"\bmark\.time_travel\b|[\"']time_travel[\"']")
#: a file whose marked tests cannot run in real time (required, or a bare mark)
_REQUIRES = re.compile(r"\bmark\.time_travel\b(?!\(required=False\))|[\"']time_travel[\"']")


@dataclass(frozen=True)
class Plan:
    plain: int  # workers on Debian's UML, real time
    travel: int  # workers on our own UML with time-travel
    missing: str | None = None  # why marked tests get no time travel in this run
    kernel: UmlKernel | None = None  # ours, when travel > 0


def named_files(args: Iterable[str], python_files: Sequence[str],
               norecurse: Sequence[str]) -> Iterator[Path]:
    """The test files the command-line arguments name (files, directories, node ids)."""
    for arg in args:
        path = Path(arg.split("::", 1)[0])
        if path.is_file():
            yield path
        elif path.is_dir():
            for top, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not any(fnmatch.fnmatch(d, pat) for pat in norecurse))
                for name in sorted(files):
                    if any(fnmatch.fnmatch(name, pat) for pat in python_files):
                        yield Path(top) / name


def files_asking(files: Iterable[Path], requiring: bool = False) -> tuple[int, int]:
    """How many of ``files`` mark tests ``time_travel`` (by their text), and how many do
    not; with ``requiring``, only a mark that is not ``required=False`` counts."""
    asking = others = 0
    pattern = _REQUIRES if requiring else _ASKS
    for path in files:
        try:
            text = path.read_text(errors="replace")
        except OSError:
            continue
        if pattern.search(text):
            asking += 1
        else:
            others += 1
    return asking, others


def plan(workers: int, asking: int, others: int, option: str, own: UmlKernel | MissingError,
         requiring: int | None = None) -> Plan:
    """How many workers of each kind: none with time-travel unless a test file asks for it;
    if only such files are named and each of them (``requiring`` of the ``asking``; None:
    all) has tests that need time travel (lifecycle cells: the marked ones wait in guest
    time, the others mostly wait in real time), -n of each kind; else one time-travel
    worker joins the plain ones (the matrix: its few drop1 cells). A group that gets no
    test leaves at once."""
    if option not in OPTION_CHOICES:
        raise UsageError(f"--lab-time-travel: {option!r} is not allowed (allowed: "
                         f"{', '.join(OPTION_CHOICES)})")
    if option == "off":
        return Plan(workers, 0, "--lab-time-travel=off")
    if isinstance(own, MissingError):
        if option == "on":
            raise UsageError(f"--lab-time-travel=on: {own}")
        return Plan(workers, 0, str(own))
    if asking == 0:
        return Plan(workers, 0, "no test file named on the command line marks time_travel,"
                    " so no time-travel worker was booted")
    if others == 0 and (requiring is None or requiring == asking):
        return Plan(workers, workers, None, own)
    return Plan(workers, 1, None, own)


def plan_for(config: pytest.Config, workers: int) -> Plan:
    """The plan for this command line. Where only node ids are named (reproducing cells),
    a file counts as asking only if its marks are not all ``required=False``: such a
    test runs in real time as well, and one node id then runs alone in its guest."""
    option = config.option.lab_time_travel
    files = list(named_files(config.args, config.getini("python_files"),
                             config.getini("norecursedirs")))
    asking, others = files_asking(files) if option != "off" else (0, 0)
    requiring = files_asking(files, requiring=True)[0] if option != "off" else 0
    if config.args and all("::" in arg for arg in config.args):
        asking, others = requiring, others + asking - requiring
    try:
        own: UmlKernel | MissingError = find_own_kernel()
    except MissingError as exc:
        own = exc
    return plan(workers, asking, others, option, own, requiring)


#: lifecycle events kept in real time: a restarted pluto 4.10 once brought no new SAs
#: within 15 s of guest time (strongSwan 6.1 the responder; 1 of 3 runs under time travel,
#: 0 of many in real time)
REAL_TIME_LIFECYCLES = ("none", "restart")


def waits_on_timers(scenario: Scenario) -> bool:
    """Whether a cell spends its time waiting on timers, so that it belongs on a
    time-travel worker (marked ``time_travel(required=False)`` by its test module): a
    lifecycle cell (a lifetime, DPD, the traffic windows before the event and after its
    effect, lab.lifecycle.acts.SETTLE), but for REAL_TIME_LIFECYCLES, and a path that
    drops IKE packets (the sender's retransmission timer: 0.5 s for pluto, 4 s for
    charon, 10 s for racoon)."""
    return scenario.lifecycle not in REAL_TIME_LIFECYCLES or bool(scenario.path.drop_ike)


def is_marked(item: pytest.Item) -> bool:
    return item.get_closest_marker(MARKER) is not None


def required(item: pytest.Item) -> bool:
    mark = item.get_closest_marker(MARKER)
    return bool(mark and mark.kwargs.get("required", mark.args[0] if mark.args else False))


def split(items: list[pytest.Item], travel: bool,
          routed: bool) -> tuple[list[pytest.Item], list[pytest.Item]]:
    """(kept, dropped) on one worker: a time-travel worker keeps the marked tests, a plain
    one the others when the run has time-travel workers, else everything."""
    if not travel and not routed:
        return list(items), []
    kept = [item for item in items if is_marked(item) == travel]
    dropped = [item for item in items if is_marked(item) != travel]
    return kept, dropped


class AllAtOnceScheduling:
    """Mixed into xdist's LoadScheduling: every test at once, then shutdown, so that a
    time-travel worker never waits on the controller for its next test."""

    def schedule(self) -> None:
        if self.collection is not None:  # a worker replaced a crashed one: hand it the rest
            for node in self.nodes:
                self.check_schedule(node)
            return
        if not self._check_nodes_have_same_collection():
            self.log("**Different tests collected, aborting run**")
            return
        self.collection = list(next(iter(self.node2collection.values())))
        self.pending[:] = range(len(self.collection))
        nodes = self.nodes
        share = -(-len(self.pending) // len(nodes))
        for node in nodes:
            self._send_tests(node, share)
            node.shutdown()

    def check_schedule(self, node: Any, duration: float = 0) -> None:
        if node.shutting_down:
            return
        self._send_tests(node, len(self.pending))
        node.shutdown()


def is_travel_node(node: Any) -> bool:
    return WORKER_FLAG in (getattr(node.gateway.spec, "python", None) or "").split()


class SplitScheduling:
    """xdist's scheduler interface over two groups of workers, each with its own collection:
    the plain workers (load scheduling, as without time travel) and the time-travel ones."""

    def __init__(self, config: pytest.Config, log: Any, plain: int, travel: int,
                 on_scheduled: Any = None) -> None:
        from xdist.scheduler import LoadScheduling

        class Travel(AllAtOnceScheduling, LoadScheduling):
            pass

        self.groups: dict[bool, Any] = {False: LoadScheduling(config, log), True: Travel(config, log)}
        self.groups[False].numnodes = plain
        self.groups[True].numnodes = travel
        self.log = log
        self.on_scheduled = on_scheduled
        self.announced = False

    def _group(self, node: Any) -> Any:
        return self.groups[is_travel_node(node)]

    @property
    def nodes(self) -> list[Any]:
        return [node for group in self.groups.values() for node in group.nodes]

    @property
    def collection_is_completed(self) -> bool:
        """True once one group has all its collections: xdist then calls schedule(), which
        starts that group without waiting for the other (a time-travel worker that waits
        spins, and the plain workers need not wait for the slower time-travel boot)."""
        return any(group.collection_is_completed for group in self.groups.values())

    @property
    def tests_finished(self) -> bool:
        return all(group.tests_finished for group in self.groups.values())

    @property
    def has_pending(self) -> bool:
        return any(group.has_pending for group in self.groups.values())

    def add_node(self, node: Any) -> None:
        self._group(node).add_node(node)

    def add_node_collection(self, node: Any, collection: Sequence[str]) -> None:
        self._group(node).add_node_collection(node, collection)

    def mark_test_complete(self, node: Any, item_index: int, duration: float = 0) -> None:
        self._group(node).mark_test_complete(node, item_index, duration)

    def mark_test_pending(self, item: str) -> None:
        raise NotImplementedError

    def remove_pending_tests_from_node(self, node: Any, indices: Sequence[int]) -> None:
        raise NotImplementedError

    def remove_node(self, node: Any) -> str | None:
        return self._group(node).remove_node(node)

    def schedule(self) -> None:
        """Start each group whose collections are all in (again: a replaced worker joins)."""
        for group in self.groups.values():
            if not group.collection_is_completed:
                continue
            group.schedule()
            if group.collection == []:  # nothing for this group: its workers go at once
                for node in group.nodes:
                    if not node.shutting_down:
                        node.shutdown()
        if not self.announced and all(group.collection is not None for group in self.groups.values()):
            self.announced = True
            if self.on_scheduled is not None:
                self.on_scheduled({travel: len(group.collection) for travel, group in self.groups.items()})


class Routing:
    """The controller's side, registered by lab.plugin when cells run in UML workers."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.session: pytest.Session | None = None
        self.counts: dict[bool, int] = {}

    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput[WORKERINPUT_KEY] = {"travel": self.plan.travel, "missing": self.plan.missing}

    @pytest.hookimpl(tryfirst=True)
    def pytest_xdist_make_scheduler(self, config: pytest.Config, log: Any) -> Any:
        if not self.plan.travel:
            return None
        def scheduled(counts: dict[bool, int]) -> None:
            self.counts = counts
            if self.session is not None:  # xdist counted only the last worker's collection
                self.session.testscollected = sum(counts.values())

        return SplitScheduling(config, log, self.plan.plain, self.plan.travel, scheduled)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.counts:
            terminalreporter.write_line(f"ipsec-lab time travel: {self.counts[True]} tests ran on the"
                                        f" time-travel worker(s), {self.counts[False]} on the others")

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        self.session = session

    def pytest_testnodedown(self, node: Any, error: object) -> None:
        """A time-travel worker that is done goes at once: xdist keeps a finished worker's
        gateway until the whole run ends, and a guest that waits spins at 100% CPU."""
        if is_travel_node(node):
            node.ensure_teardown()


def worker_split(config: pytest.Config, items: list[pytest.Item], travel: bool) -> None:
    """On an xdist worker: keep only this worker's kind of tests (pytest_collection_modifyitems)."""
    word = getattr(config, "workerinput", {}).get(WORKERINPUT_KEY) or {}
    kept, dropped = split(items, travel, routed=bool(word.get("travel")))
    if dropped:
        items[:] = kept
        config.hook.pytest_deselected(items=dropped)


def skip_reason(config: pytest.Config, item: pytest.Item, travel: bool, uml: bool) -> str | None:
    """Why a ``time_travel(required=True)`` test cannot run here, or None."""
    if travel or not required(item):
        return None
    word = getattr(config, "workerinput", {}).get(WORKERINPUT_KEY) or {}
    if word.get("missing"):
        return str(word["missing"])
    if not uml:
        return ("needs our own UML with time-travel, and the cells here run on the host kernel"
                " (try --lab-kernel=uml)")
    return "needs a UML booted with time-travel, and this worker was not"
