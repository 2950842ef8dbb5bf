"""A guest's python populates its memory when it maps it (lab.kernel.locked)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from lab.kernel.choice import in_uml
from lab.kernel.locked import command


def test_python_options_stay_in_front_of_the_module() -> None:
    assert command("py", ["-u", "-c", "import sys"]) == ["py", "-u", "-m", "lab.kernel.locked",
                                                         "-c", "import sys"]
    assert command("py", ["-u", "-B", "-X", "importtime", "-m", "mod", "a"]) == [
        "py", "-u", "-B", "-X", "importtime", "-m", "lab.kernel.locked", "-m", "mod", "a"]
    assert command("py", ["script.py", "-u"]) == ["py", "-m", "lab.kernel.locked", "script.py", "-u"]


@pytest.mark.parametrize("how", [["-c", "import sys; print(sys.argv[1:], __name__)", "a", "b"],
                                 ["-m", "json.tool", "--help"], ["SCRIPT", "a", "b"]])
def test_runs_what_python_would(how: list[str], tmp_path: Path) -> None:
    script = tmp_path / "s.py"
    script.write_text("import sys; print(sys.argv[1:], __name__)\n")
    argv = [str(script) if word == "SCRIPT" else word for word in how]
    plain = subprocess.run([sys.executable, *argv], capture_output=True, text=True)
    locked = subprocess.run(command(sys.executable, argv), capture_output=True, text=True)
    assert (locked.returncode, locked.stdout) == (plain.returncode, plain.stdout), locked.stderr


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
