"""Issue 21: owners are proven, not claimed; a lab's name is taken atomically; its state
file is whole or absent, and a broken one is one line. Nothing here boots a kernel."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab.cli import keeper
from lab.cli.cleanup import clean
from lab.cli.main import main
from lab.errors import UsageError
from lab.owner import OWNER_VAR, Owner, start_time
from lab.run import TAG_VAR
from lab.state import IN_UML_VAR, STATE_VAR, write_atomic


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv(IN_UML_VAR, raising=False)
    monkeypatch.setenv(STATE_VAR, str(tmp_path / "state"))
    return tmp_path / "state"


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    procs: list[subprocess.Popen[bytes]] = []

    def start(**kw: object) -> subprocess.Popen[bytes]:
        procs.append(subprocess.Popen(["sleep", "300"], **kw))  # type: ignore[call-overload]
        return procs[-1]

    yield start  # type: ignore[misc]
    for proc in procs:
        proc.kill()
        proc.wait()


@pytest.mark.skipif(os.geteuid() != 0, reason="requires root (to start another user's process)")
def test_clean_all_kills_no_owner_that_a_process_only_claims(state: Path, sleeper) -> None:
    victim = sleeper(env={"PATH": os.environ["PATH"]})  # not a lab process: no tag
    claim = {"PATH": os.environ["PATH"], TAG_VAR: "ipl-test-claim",
             OWNER_VAR: str(Owner(victim.pid, start_time(victim.pid) or 0))}
    theirs = sleeper(env=claim, user=65534, group=65534)  # another user's tagged process
    mine = sleeper(env=claim)  # this user's, claiming the victim as its owner
    deadline = 50
    while deadline and b"ipl-test-claim" not in Path(f"/proc/{mine.pid}/environ").read_bytes():
        deadline -= 1
    out = clean(dry_run=True, everything=True)
    assert not any(f"process {victim.pid} " in line for line in out), [x for x in out if str(victim.pid) in x]
    assert not any(f"process {theirs.pid} " in line for line in out), out


def test_a_name_is_taken_once(state: Path) -> None:
    lab = keeper.lab_state("wt21-race")
    keeper.take(lab)
    assert lab.owner() == Owner.me()
    with pytest.raises(UsageError) as exc:
        keeper.take(keeper.lab_state("wt21-race"))
    assert "\n" not in str(exc.value) and "--name: a lab named 'wt21-race' is up" in str(exc.value)


def test_a_dead_owners_name_is_taken_over(state: Path) -> None:
    lab = keeper.lab_state("wt21-dead")
    lab.dir.mkdir(mode=0o700)
    proc = subprocess.Popen(["true"])
    dead = Owner(proc.pid, start_time(proc.pid) or 1)
    proc.wait()
    lab.owner_file.write_text(f"{dead}\n")
    keeper.take(lab)
    assert lab.owner() == Owner.me()


def test_state_is_written_whole(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    write_atomic(path, json.dumps({"a": 1}))
    write_atomic(path, json.dumps({"b": 2}))
    assert json.loads(path.read_text()) == {"b": 2} and os.listdir(tmp_path) == ["state.json"]


def _broken_lab(name: str, text: str) -> keeper.LabState:
    lab = keeper.lab_state(name)
    lab.dir.mkdir(mode=0o700)
    lab.claim()  # a keeper that lives (this process)
    lab.file.write_text(text)
    return lab


@pytest.mark.parametrize("text", ['{"name": "x", "keeper": 1', '{"name": "x"}', "[]", ""])
def test_list_with_a_broken_state_file_is_one_line(state: Path, text: str,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    _broken_lab("wt21-broken", text)
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and out.startswith("wt21-broken: BROKEN: "), out


def test_exec_and_down_when_the_keeper_lives_but_its_socket_is_gone(
        state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    info = {"name": "wt21-nosock", "keeper": os.getpid(), "owner": str(Owner.me()), "tag": "t",
            "kernel": "k", "scenario": {}, "created": "now"}
    lab = _broken_lab("wt21-nosock", json.dumps(info))
    for argv in (["exec", "left", "--name", "wt21-nosock", "--", "true"],
                 ["down", "--name", "wt21-nosock"]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "does not answer on" in err and str(lab.ctl) in err, err
