"""A run directory stays where the user asked: the guest sees the host's, even under /tmp."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab import options
from lab.errors import UsageError
from lab.kernel import confine, uml


def test_a_run_directory_under_tmp_is_the_hosts_in_the_guest(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`ipsec-lab run --rundir /tmp/x`: the guest binds /tmp/x back over its own /tmp."""
    monkeypatch.delenv(confine.WRITABLE_VAR, raising=False)
    wanted = tmp_path / "x" / "runs"
    confine.allow_writes(wanted)
    kept = uml.guest_keeps((), tmp_path / "bundle")
    assert str(wanted) in kept
    assert wanted.is_dir()  # the guest binds only what exists when it boots


@pytest.mark.parametrize("where", ["/run/ipl-x", "/dev/shm/x", "/proc/x", "/sys/x"])
def test_a_run_directory_the_guest_covers_is_refused(where: str) -> None:
    with pytest.raises(UsageError, match=r"--rundir: .* is under /\w+, which a UML guest mounts afresh"):
        options.check_rundir(where, "--rundir")


def test_a_run_directory_elsewhere_is_fine(tmp_path: Path) -> None:
    options.check_rundir(str(tmp_path / "runs"), "--rundir")
    options.check_rundir("/running-not-run", "--rundir")


def test_the_guest_keeps_this_python_and_package_under_tmp(tmp_path: Path) -> None:
    """A venv made under /tmp beside the project (ci/package-check.sh's) must not vanish
    under the guest's tmpfs: its python and the installed package are kept."""
    import sys

    import lab

    kept = uml.guest_keeps((), tmp_path / "bundle")
    assert sys.prefix in kept
    assert str(Path(lab.__file__).resolve().parents[1]) in kept
