"""Ownership: `clean` takes only what belongs to a run whose owner is gone.

The process tests run where the lab runs its tests (inside a UML guest on a host
without ESP), so `clean --all` there cannot reach anybody else's run.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab.cli.cleanup import clean, tagged_processes
from lab.errors import UsageError
from lab.kernel.choice import in_uml
from lab.owner import OWNER_VAR, Owner, start_time
from lab.run import TAG_VAR
from lab.state import IN_UML_VAR, STATE_VAR, check_lab_name, my_uids, private_dir, state_root


def _gone_owner() -> Owner:
    proc = subprocess.Popen(["sleep", "0"])
    owner = Owner(proc.pid, start_time(proc.pid) or 1)
    proc.wait()
    return owner


def test_owner_is_pid_and_start_time() -> None:
    me = Owner.me()
    assert me.alive() and Owner.parse(str(me)) == me
    assert not Owner(me.pid, me.start + 1).alive(), "a reused PID must not count as the owner"
    assert not _gone_owner().alive()
    assert Owner.in_name(f"ipl-{me}-3-l") == me and Owner.in_name(f"uml-{me}-x1") == me
    assert Owner.in_name("ipl-probe-12") is None and Owner.parse("12") is None


@pytest.mark.parametrize("bad", ["../../x", "a/b", "..", ".hidden", "", "x" * 33, "a b", "a\nb",
                                 "-x", 7])
def test_bad_lab_names_are_refused(bad: object) -> None:
    with pytest.raises(UsageError, match=r"--name: .* is not a lab name \(allowed: "):
        check_lab_name(bad)


def test_good_lab_names() -> None:
    for name in ("lab", "failed", "my-lab_2", "A1"):
        assert check_lab_name(name) == name


def test_state_dir_is_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(IN_UML_VAR, raising=False)  # in a guest it is always the guest's /run
    monkeypatch.setenv(STATE_VAR, str(tmp_path / "state"))
    root = state_root()
    assert root == tmp_path / "state" and (root.stat().st_mode & 0o777) == 0o700


def test_state_dir_of_another_user_or_open_mode_is_refused(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    with pytest.raises(UsageError, match=r"has mode 0755, not 0700: refusing"):
        private_dir(shared)
    link = tmp_path / "link"
    link.symlink_to(tmp_path)
    with pytest.raises(UsageError, match="is not a directory"):
        private_dir(link)
    # in a confined guest (lab.kernel.confine) 65534 is the host uid its own files show
    if os.geteuid() == 0 and 65534 not in my_uids():
        theirs = tmp_path / "theirs"
        theirs.mkdir(mode=0o700)
        os.chown(theirs, 65534, 65534)
        with pytest.raises(UsageError, match="belongs to uid 65534, not to uid 0: refusing"):
            private_dir(theirs)


def _wait_until_tagged(pid: int, deadline: float = 5.0) -> None:
    """Until clean can see the child as a tagged sleep. Popen returns once exec has closed
    its error pipe; the task's name and then its environment (the tag, the owner) come a
    little later, and in a loaded guest clean once looked inside that window."""
    end = time.monotonic() + deadline
    while not any(p.pid == pid and p.comm == "sleep" for p in tagged_processes()) \
            and time.monotonic() < end:
        time.sleep(0.01)


@pytest.fixture
def two_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, object]]:
    """A live run (its owner a sleeping process) and a dead one, each with a tagged
    process, a work directory and a UML state directory."""
    monkeypatch.delenv(IN_UML_VAR, raising=False)
    monkeypatch.setenv(STATE_VAR, str(tmp_path / "state"))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    live_owner_proc = subprocess.Popen(["sleep", "300"])
    live = Owner(live_owner_proc.pid, start_time(live_owner_proc.pid) or 0)
    dead = _gone_owner()
    procs, dirs = {}, {}
    for name, owner in (("live", live), ("dead", dead)):
        env = {"PATH": os.environ["PATH"], TAG_VAR: f"ipl-test-{name}", OWNER_VAR: str(owner)}
        procs[name] = subprocess.Popen(["sleep", "300"], env=env)
        _wait_until_tagged(procs[name].pid)
        work = tmp_path / f"{owner.name_prefix()}1-x"
        kernel = state_root() / f"{owner.name_prefix('uml')}abc"
        for d in (work, kernel):
            d.mkdir()
        dirs[name] = [work, kernel]
    yield {"procs": procs, "dirs": dirs, "owner": live_owner_proc}
    for proc in [*procs.values(), live_owner_proc]:
        proc.kill()
        proc.wait()


def test_clean_spares_a_live_owner_and_takes_a_dead_ones(two_runs: dict) -> None:
    procs, dirs = two_runs["procs"], two_runs["dirs"]
    out = clean(dry_run=True)
    assert f"would kill process {procs['dead'].pid} (sleep)" in out, (out, tagged_processes())
    assert not any(str(procs["live"].pid) in line and "kill" in line for line in out), \
        f"clean would kill a process of a run still going on: {out}"
    out = clean()
    assert procs["dead"].wait(5) == -9
    assert procs["live"].poll() is None, "clean killed a process of a run still going on"
    assert not any(d.exists() for d in dirs["dead"])
    assert all(d.exists() for d in dirs["live"])
    assert any(line.startswith("left alone: ") and "clean --all" in line for line in out), out


@pytest.fixture
def guest() -> None:
    if not in_uml():
        pytest.skip("clean --all kills every lab process on the machine: only inside a UML guest")


def test_clean_all_takes_live_runs_too_and_says_so(guest: None, two_runs: dict) -> None:
    procs, dirs = two_runs["procs"], two_runs["dirs"]
    out = clean(everything=True)
    assert out[0].startswith("clean --all: taking every lab process")
    assert procs["live"].wait(5) == -9 and procs["dead"].wait(5) == -9
    assert not any(d.exists() for d in dirs["live"] + dirs["dead"])


def test_cli_refuses_a_path_as_lab_name(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep").write_text("x")
    for cmd in (["down", "--name", f"../../../{victim}"], ["up", "--name", "../x"],
                ["exec", "left", "--name", "../x", "--", "true"]):
        proc = subprocess.run([sys.executable, "-m", "lab", *cmd], capture_output=True, text=True,
                              check=False, env=dict(os.environ, **{STATE_VAR: str(tmp_path / "s")}))
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.count("\n") == 1 and "is not a lab name" in proc.stderr, proc.stderr
    assert (victim / "keep").exists()


@pytest.mark.lab
def test_clean_takes_a_half_made_namespace() -> None:
    """A run killed between making /run/netns/NAME and bind-mounting its namespace on it
    leaves a plain file; clean removes it like a whole one (it once stayed: umount said EINVAL)."""
    from lab.topology.netns import NETNS_DIR, lab_namespaces
    name = f"ipl-{_gone_owner()}-1-l"
    NETNS_DIR.mkdir(parents=True, exist_ok=True)
    (NETNS_DIR / name).touch()
    try:
        out = clean()
        assert f"removed namespace {name}" in out and not any("could not" in x for x in out), out
        assert name not in lab_namespaces()
    finally:
        (NETNS_DIR / name).unlink(missing_ok=True)
