"""Time travel: tests marked time_travel run on our own UML booted with time-travel, the
others on Debian's UML in real time; the plan, the split and the scheduler as units."""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from lab import timetravel
from lab.cli.main import asks_time_travel, main
from lab.errors import MissingError, UsageError
from lab.kernel import uml
from lab.kernel.choice import in_uml, time_travel
from lab.scenario import seed_scenario

KERNEL = uml.UmlKernel(Path("/k/linux"), Path("/k/modules/6.12.117"))


def host_seconds(stamp: Path) -> float:
    """The host's clock, read through the file system: a write sets the file's mtime on
    the host (hostfs), whatever the guest's clock says."""
    stamp.write_text("x")
    return stamp.stat().st_mtime


# -- the real thing: one marked test, one not, in one run -------------------------------
@pytest.mark.time_travel
def test_a_marked_test_gets_time_travel_and_an_hour_passes_in_seconds(
        request: pytest.FixtureRequest, tmp_path: Path) -> None:
    if not time_travel():
        if request.config.option.lab_time_travel == "off":
            pytest.skip("--lab-time-travel=off")
        if not in_uml():
            pytest.skip("the tests run on the host kernel here; time travel needs UML")
        try:
            uml.find_own_kernel()
        except MissingError as exc:
            pytest.skip(str(exc))
        pytest.fail("our own UML is built, yet this marked test ran on a worker without time-travel")
    stamp = tmp_path / "stamp"
    host, guest = host_seconds(stamp), time.monotonic()
    time.sleep(3600)
    host, guest = host_seconds(stamp) - host, time.monotonic() - guest
    assert guest >= 3600
    assert host < 60, f"an hour of guest time took {host:.1f} s of wall time"


def test_an_unmarked_test_keeps_real_time(tmp_path: Path) -> None:
    assert not time_travel()
    stamp = tmp_path / "stamp"
    host, guest = host_seconds(stamp), time.monotonic()
    time.sleep(0.5)
    host, guest = host_seconds(stamp) - host, time.monotonic() - guest
    assert abs(host - guest) < 0.3


# -- the plan ----------------------------------------------------------------------------
MISSING = MissingError("needs our own UML with time-travel: run ipsec-lab setup; not found at /x")


@pytest.mark.parametrize(("workers", "asking", "others", "option", "own", "expect"), [
    (2, 0, 5, "auto", KERNEL, (2, 0)),   # nothing marked: as without time travel
    (2, 1, 5, "auto", KERNEL, (2, 1)),   # some marked among others: one more worker
    (2, 1, 0, "auto", KERNEL, (2, 2)),   # only files that mark: -n of each kind
    (3, 2, 4, "off", KERNEL, (3, 0)),
    (2, 1, 5, "auto", MISSING, (2, 0)),  # no kernel of ours: real time
])
def test_plan(workers: int, asking: int, others: int, option: str, own: Any,
              expect: tuple[int, int]) -> None:
    plan = timetravel.plan(workers, asking, others, option, own)
    assert (plan.plain, plan.travel) == expect
    assert (plan.kernel is KERNEL) == bool(plan.travel)
    if own is MISSING:
        assert plan.missing == str(MISSING)


@pytest.mark.parametrize(("asking", "requiring", "expect"), [
    (1, 1, (2, 2)),  # the lifecycle file alone: -n of each kind
    (1, 0, (2, 1)),  # the matrix alone (its drop1 cells, required=False): one joins
    (2, 1, (2, 1)),
])
def test_plan_for_files_whose_marks_are_optional(asking: int, requiring: int,
                                                 expect: tuple[int, int]) -> None:
    plan = timetravel.plan(2, asking, 0, "auto", KERNEL, requiring)
    assert (plan.plain, plan.travel) == expect


def test_plan_on_without_our_kernel_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match=r"--lab-time-travel=on: needs our own UML .* run ipsec-lab setup"):
        timetravel.plan(2, 1, 0, "on", MISSING)
    with pytest.raises(UsageError, match="allowed: auto, on, off"):
        timetravel.plan(2, 1, 0, "sometimes", KERNEL)


def test_files_that_mark_are_found_by_their_text(tmp_path: Path) -> None:
    (tmp_path / "test_life.py").write_text("import pytest\npytestmark = pytest.mark.time_travel\n")
    (tmp_path / "test_param.py").write_text("p = pytest.param(1, marks=mark.time_travel(required=True))\n")
    (tmp_path / "test_plain.py").write_text("def test_x():\n    pass\n")
    (tmp_path / "helper.py").write_text("pytest.mark.time_travel\n")  # not a test file
    hidden = tmp_path / ".venv"
    hidden.mkdir()
    (hidden / "test_deep.py").write_text("pytest.mark.time_travel\n")
    files = list(timetravel.named_files([str(tmp_path)], ["test_*.py"], [".*"]))
    assert sorted(p.name for p in files) == ["test_life.py", "test_param.py", "test_plain.py"]
    assert timetravel.files_asking(files) == (2, 1)
    (tmp_path / "test_optional.py").write_text("m = [pytest.mark.time_travel(required=False)]\n")
    files = list(timetravel.named_files([str(tmp_path)], ["test_*.py"], [".*"]))
    assert timetravel.files_asking(files) == (3, 1)
    assert timetravel.files_asking(files, requiring=True) == (2, 2)
    named = timetravel.named_files([f"{tmp_path}/test_plain.py::test_x"], ["test_*.py"], [])
    assert timetravel.files_asking(named) == (0, 1)


# -- the split on each worker ------------------------------------------------------------
@dataclass
class Item:
    name: str
    marks: dict[str, Any] = field(default_factory=dict)

    def get_closest_marker(self, name: str) -> Any:
        return self.marks.get(name)


def test_each_worker_keeps_its_kind() -> None:
    marked = Item("m", {"time_travel": pytest.mark.time_travel(required=True).mark})
    plain = Item("p")
    items: list[Any] = [marked, plain]
    assert timetravel.split(items, travel=True, routed=True) == ([marked], [plain])
    assert timetravel.split(items, travel=False, routed=True) == ([plain], [marked])
    assert timetravel.split(items, travel=False, routed=False) == ([marked, plain], [])
    assert timetravel.required(marked) and not timetravel.required(plain)  # type: ignore[arg-type]


# -- the scheduler ------------------------------------------------------------------------
class Node:
    def __init__(self, name: str, travel: bool) -> None:
        python = uml.worker_python("t", KERNEL, time_travel=travel)
        self.gateway = SimpleNamespace(id=name, spec=SimpleNamespace(python=python))
        self.sent: list[int] = []
        self.shutting_down = False

    def send_runtest_some(self, indices: list[int]) -> None:
        self.sent += indices

    def shutdown(self) -> None:
        assert not self.shutting_down
        self.shutting_down = True


def scheduler(plain: int, travel: int) -> timetravel.SplitScheduling:
    config = SimpleNamespace(getvalue=lambda name: ["popen"], getoption=lambda name: None)
    return timetravel.SplitScheduling(config, None, plain, travel)  # type: ignore[arg-type]


def test_marked_tests_go_to_the_time_travel_worker_all_at_once() -> None:
    sched = scheduler(2, 1)
    gw0, gw1, tt = Node("gw0", False), Node("gw1", False), Node("gw2", True)
    plain_ids = [f"t.py::p{i}" for i in range(20)]
    for node in (gw0, tt, gw1):
        sched.add_node(node)
    sched.add_node_collection(gw0, plain_ids)
    assert not sched.collection_is_completed
    sched.add_node_collection(tt, ["t.py::m0", "t.py::m1", "t.py::m2"])
    assert sched.collection_is_completed  # the time-travel group starts without waiting
    sched.schedule()
    assert tt.sent == [0, 1, 2] and tt.shutting_down  # never waits on the controller
    assert not gw0.sent and not sched.tests_finished
    sched.add_node_collection(gw1, plain_ids)
    sched.schedule()
    assert gw0.sent and gw1.sent and not gw0.shutting_down  # plain: load scheduling as before
    assert not sched.tests_finished
    for i in (0, 1, 2):
        sched.mark_test_complete(tt, i)
    assert sched.has_pending


def test_a_group_with_nothing_to_do_goes_at_once() -> None:
    sched = scheduler(1, 1)
    plain, tt = Node("gw0", False), Node("gw1", True)
    for node, ids in ((plain, ["t.py::p"]), (tt, [])):
        sched.add_node(node)
        sched.add_node_collection(node, ids)
    sched.schedule()
    assert tt.shutting_down and tt.sent == []
    assert plain.sent == [0] and plain.shutting_down


# -- the kernel's command line --------------------------------------------------------------
def test_only_time_travel_workers_boot_with_time_travel(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(uml.OPTS_VAR, "seccomp=on time-travel=inf-cpu")
    plain = uml.boot_argv(KERNEL, Path("/s/uml-x"), Path("/s/init"), "512M")
    travel = uml.boot_argv(KERNEL, Path("/s/uml-x"), Path("/s/init"), "512M", time_travel=True)
    assert "seccomp=on" in plain and not time_travel(" ".join(plain))
    assert [w for w in travel if w.startswith("time-travel")] == ["time-travel"]
    assert timetravel.is_travel_node(Node("gw0", True))
    assert not timetravel.is_travel_node(Node("gw0", False))


def test_our_kernel_missing_says_how_to_build_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(uml.CACHE_VAR, str(tmp_path))
    with pytest.raises(MissingError, match=r"run ipsec-lab setup; not found at .*uml-own/linux"):
        uml.find_own_kernel()
    own = tmp_path / "uml-own"
    (own / "modules" / "6.12.117").mkdir(parents=True)
    (own / "modules" / "6.12.117" / "modules.dep").write_text("")
    (own / "linux").write_text("#!/bin/sh\n")
    (own / "linux").chmod(0o755)
    (own / "config").write_text("# CONFIG_UML_TIME_TRAVEL_SUPPORT is not set\n")
    with pytest.raises(MissingError, match="built without UML_TIME_TRAVEL_SUPPORT"):
        uml.find_own_kernel()
    (own / "config").write_text("CONFIG_UML_TIME_TRAVEL_SUPPORT=y\n")
    assert uml.find_own_kernel().release == "6.12.117"


# -- the command line ------------------------------------------------------------------------
def test_up_refuses_time_travel(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["up", "--time-travel", "on", "--name", "tt-refused"]) == 2
    err = capsys.readouterr().err.strip()
    assert "refused, a lab that stays up must keep real time" in err and "\n" not in err


def test_run_time_travel_on_without_our_kernel(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    if in_uml():
        monkeypatch.delenv(uml.IN_UML_VAR)
    monkeypatch.setenv(uml.CACHE_VAR, str(tmp_path))
    assert main(["run", "--time-travel=on"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--time-travel=on: needs our own UML with time-travel: run ipsec-lab setup" in err
    assert "\n" not in err


def test_doctor_says_whether_our_kernel_is_there(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv(uml.CACHE_VAR, str(tmp_path))
    monkeypatch.delenv("IPSEC_LAB_FLAVORS", raising=False)
    assert main(["doctor"]) == 1  # an empty cache: no trees either (tests/test_doctor.py)
    out = capsys.readouterr().out
    assert "travel:  missing (optional): needs our own UML with time-travel: run ipsec-lab setup" in out


def test_only_a_scenario_with_a_lifecycle_asks_for_time_travel() -> None:
    assert not asks_time_travel(seed_scenario())
    assert not asks_time_travel(SimpleNamespace(lifecycle="none"))  # type: ignore[arg-type]
    assert asks_time_travel(SimpleNamespace(lifecycle="rekey-child"))  # type: ignore[arg-type]


def _fake_kernel(directory: Path, release: str, text: str) -> None:
    (directory / "modules" / release).mkdir(parents=True)
    (directory / "modules" / release / "modules.dep").write_text("")
    binary = directory / ("linux" if directory.name == "uml-own" else "linux.uml")
    binary.write_text(text)
    binary.chmod(0o755)


def test_our_kernel_serves_every_worker_only_with_seccomp_mode(monkeypatch: pytest.MonkeyPatch,
                                                               tmp_path: Path) -> None:
    """Ours boots in 0.2 s but an old build without UML's seccomp mode runs cells 1.7 times
    slower: the workers get it only where it knows seccomp, else Debian's from the cache."""
    monkeypatch.setenv(uml.CACHE_VAR, str(tmp_path))
    monkeypatch.delenv(uml.KERNEL_VAR, raising=False)
    _fake_kernel(tmp_path / "uml", "7.2.7-um", "Debian's")
    _fake_kernel(tmp_path / "uml-own", "6.12.117", "#!/bin/sh\n# ptrace only\n")
    (tmp_path / "uml-own" / "config").write_text("CONFIG_UML_TIME_TRAVEL_SUPPORT=y\n")
    assert uml.find_kernel().release == "7.2.7-um"
    assert uml.find_own_kernel().release == "6.12.117", "time travel still gets it"
    (tmp_path / "uml-own" / "linux").write_bytes(b"\0" + uml.SECCOMP_MODE + b"...\0")
    assert uml.find_kernel().binary == tmp_path / "uml-own" / "linux"
    assert uml.find_kernel(str(tmp_path / "uml" / "linux.uml")).release == "7.2.7-um", \
        "a kernel named by the user is the one used"


@pytest.mark.parametrize("bundle", [False, True])
def test_init_is_this_python_without_site(tmp_path: Path, bundle: bool) -> None:
    """PID 1's script; with a bundle, PID 1 imports from it (lab.kernel.imports)."""
    script = uml.init_script(tmp_path / "boot.json", str(tmp_path / "b.bundle") if bundle else None)
    assert script.startswith(f"#!{sys.executable} -S\n")
    out = subprocess.run([sys.executable, "-S", "-c", script.split("\n", 1)[1].replace(
        "from lab.kernel.guest import main\nmain(", "import lab.kernel.guest\nprint(") +
        "print([type(f).__name__ for f in sys.meta_path][:1])"],
        capture_output=True, text=True, cwd="/")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[:2] == [str(tmp_path / "boot.json"),
                                          "['Bundle']" if bundle else "['type']"]  # (python's own: classes)
