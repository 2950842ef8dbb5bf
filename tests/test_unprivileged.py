"""Runs without root: the UML kernel is found and told to workers whole, and a normal
user gets a private state directory of their own (another user's is refused)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab.kernel import uml
from lab.kernel.uml import CACHE_VAR, KERNEL_VAR, SYSTEM_MODULES, SYSTEM_UML, find_kernel, worker_python

ROOT = Path(__file__).resolve().parents[1]
NOBODY = 65534


@pytest.fixture
def debian_uml() -> None:
    if not (SYSTEM_UML.is_file() and SYSTEM_MODULES.is_dir()):
        pytest.skip(f"requires Debian's user-mode-linux ({SYSTEM_UML}, {SYSTEM_MODULES})")


def test_fallback_to_debians_uml_finds_its_modules(debian_uml: None, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CACHE_VAR, str(tmp_path / "empty-cache"))
    monkeypatch.delenv(KERNEL_VAR, raising=False)
    found = find_kernel()
    assert found.binary == SYSTEM_UML and found.modules.parent == SYSTEM_MODULES
    # what the workers are told: the binary alone must be enough, and they get both
    assert find_kernel(str(SYSTEM_UML)) == found
    spec = worker_python("ipl-t", found)
    assert f"--kernel {SYSTEM_UML} --modules {found.modules}" in spec


def test_an_empty_home_still_finds_the_users_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CACHE_VAR, raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", "")
    assert uml.cache_dir().is_absolute() and uml.cache_dir().name == "ipsec-lab"


def _as_nobody(code: str, tmp: Path) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent", "TMPDIR": str(tmp),
           "PYTHONPATH": str(ROOT)}

    def drop() -> None:
        os.setgid(NOBODY)
        os.setuid(NOBODY)

    return subprocess.run(["/usr/bin/python3", "-c", code], env=env, preexec_fn=drop,
                          capture_output=True, text=True, check=False, timeout=60)


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    """A sticky, world-writable directory like /tmp (pytest's tmp_path is root's own)."""
    path = Path(tempfile.mkdtemp(prefix="ipl-test-tmp-", dir="/tmp"))
    path.chmod(0o1777)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_a_normal_user_gets_a_private_state_dir_and_refuses_anothers(shared_tmp: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to become another user")
    tmp_path = shared_tmp
    code = ("from lab.state import state_root; from lab.kernel.choice import unprivileged_reason;"
            " print(state_root()); print(unprivileged_reason())")
    proc = _as_nobody(code, tmp_path)
    assert proc.returncode == 0, proc.stderr
    root = tmp_path / f"ipsec-lab-{NOBODY}"
    assert proc.stdout.splitlines()[0] == str(root)
    assert root.stat().st_uid == NOBODY and root.stat().st_mode & 0o777 == 0o700
    assert proc.stdout.splitlines()[1].startswith(f"unprivileged mode, uid {NOBODY}: UML kernels")
    root.rmdir()
    root.mkdir(mode=0o700)  # root's now: a trap laid for nobody
    proc = _as_nobody(code, tmp_path)
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert f"{root} belongs to uid 0, not to uid {NOBODY}: refusing to use it" in last

