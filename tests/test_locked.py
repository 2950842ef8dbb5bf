"""A guest's python populates its memory when it maps it (lab.kernel.locked); a lone node
id is run by the guest's own pytest (lab.plugin.alone_in_guest)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from lab.kernel import locked
from lab.kernel.choice import in_uml
from lab.kernel.locked import command
from lab.plugin import alone_in_guest


def test_python_options_stay_in_front_of_the_module() -> None:
    me = str(Path(locked.__file__).resolve())
    assert command("py", ["-u", "-c", "import sys"]) == ["py", "-u", me, "-c", "import sys"]
    assert command("py", ["-u", "-B", "-X", "importtime", "-m", "mod", "a"]) == [
        "py", "-u", "-B", "-X", "importtime", me, "-m", "mod", "a"]
    assert command("py", ["script.py", "-u"]) == ["py", me, "script.py", "-u"]


WHAT = "import sys; print(sys.argv[1:], __name__, sys.path[0], 'lab' in sys.modules)"


@pytest.mark.parametrize("how", [["-c", WHAT, "a", "b"],
                                 ["-m", "json.tool", "--help"], ["SCRIPT", "a", "b"]])
def test_runs_what_python_would(how: list[str], tmp_path: Path) -> None:
    script = tmp_path / "s.py"
    script.write_text(WHAT + "\n")
    argv = [str(script) if word == "SCRIPT" else word for word in how]
    plain = subprocess.run([sys.executable, *argv], capture_output=True, text=True)
    wrapped = subprocess.run(command(sys.executable, argv), capture_output=True, text=True)
    assert (wrapped.returncode, wrapped.stdout) == (plain.returncode, plain.stdout), wrapped.stderr


def test_refuses_what_it_does_not_know() -> None:
    out = subprocess.run(command(sys.executable, ["-i"]), capture_output=True, text=True)
    assert out.returncode == 1 and "expected -c CODE, -m MODULE or SCRIPT" in out.stderr


@pytest.mark.lab
def test_a_guest_worker_runs_locked() -> None:
    """This test's own worker: started in UML through lab.kernel.locked, its memory locked."""
    if not in_uml():
        pytest.skip("the lock is for python inside a UML guest; here the host kernel runs the cells")
    locked_kb = next(int(line.split()[1]) for line in Path("/proc/self/status").read_text().splitlines()
                     if line.startswith("VmLck:"))
    assert locked_kb > 10_000, f"VmLck {locked_kb} kB: the worker's memory is not locked"
    child = subprocess.run(["grep", "VmLck", "/proc/self/status"], capture_output=True, text=True)
    assert child.stdout.split()[1] == "0", "the lock must not reach the programs the worker starts"


def _config(args: list[str], **option: object) -> SimpleNamespace:
    defaults = {"numprocesses": None, "lab_keep_up": False, "collectonly": False, "dist": "no"}
    return SimpleNamespace(args=args, option=SimpleNamespace(**{**defaults, **option}),
                           invocation_params=SimpleNamespace(args=tuple(args)))


@pytest.mark.parametrize(("args", "option", "travel", "alone"), [
    (["scenarios/test_seed.py::test_seed[x]"], {}, 0, True),
    (["scenarios/test_seed.py::test_seed[x]"], {"numprocesses": 1}, 0, False),  # -n 1: workers
    (["scenarios/test_seed.py::test_seed[x]", "scenarios/test_seed.py::test_seed[y]"], {}, 0, False),
    (["scenarios/test_seed.py"], {}, 0, False),
    (["scenarios/test_lifecycle.py::test_lifecycle[x]"], {}, 1, False),  # a time-travel worker
    (["scenarios/test_seed.py::test_seed[x]"], {"lab_keep_up": True}, 0, False),
])
def test_one_node_id_runs_alone_in_its_guest(args: list[str], option: dict[str, object], travel: int,
                                             alone: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    plan = SimpleNamespace(travel=travel)
    monkeypatch.setattr(sys, "argv", ["pytest", *args])
    assert alone_in_guest(_config(args, **option), plan) is alone  # type: ignore[arg-type]
    monkeypatch.setattr(sys, "argv", ["my-tool", "--its-own-option"])  # pytest.main() inside it
    assert alone_in_guest(_config(args, **option), plan) is False  # type: ignore[arg-type]
