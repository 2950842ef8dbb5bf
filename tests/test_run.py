"""How the runner starts a process in a namespace: through nsenter after a vfork where it
can, with a preexec (a fork of the lab) only where a fresh view of a tree is needed."""

from __future__ import annotations

import os

import pytest

from lab import run as runner

ENV = runner.lab_env("t")


def test_netns_only_goes_through_nsenter() -> None:
    argv, preexec = runner._entering(["true"], "ipl-x-l", None, None, ENV)
    assert preexec is None
    assert argv[0].endswith("/nsenter")
    assert argv[1:] == [f"--net={runner.NETNS_DIR}/ipl-x-l", "--", "true"]


def test_joining_a_running_process_takes_its_mounts_root_and_directory() -> None:
    argv, preexec = runner._entering(["/bin/true"], "n", os.getpid(), None, ENV)
    pid = os.getpid()
    assert preexec is None
    assert argv[1:] == [f"--net={runner.NETNS_DIR}/n", f"--mount=/proc/{pid}/ns/mnt",
                        f"--root=/proc/{pid}/root", f"--wd=/proc/{pid}/root", "--", "/bin/true"]


def test_a_preexec_of_the_callers_own_still_forks() -> None:
    def fresh_view() -> None:
        pass

    argv, preexec = runner._entering(["true"], "n", None, fresh_view, ENV)
    assert argv == ["true"] and preexec is not None


def test_nothing_to_enter_is_a_plain_spawn() -> None:
    assert runner._entering(["true"], None, None, None, ENV) == (["true"], None)


@pytest.mark.parametrize("program", ["/no/such/program", "no-such-program-ipl"])
def test_a_missing_program_is_file_not_found_as_without_nsenter(program: str) -> None:
    with pytest.raises(FileNotFoundError):
        runner._entering([program], "n", None, None, ENV)


def test_a_program_missing_from_the_joined_root_is_file_not_found() -> None:
    with pytest.raises(FileNotFoundError):
        runner._entering(["/no/such/program"], "n", os.getpid(), None, ENV)


def test_without_nsenter_the_preexec_does_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner, "_nsenter", lambda: None)
    argv, preexec = runner._entering(["true"], "n", 1, None, ENV)
    assert argv == ["true"] and preexec is not None
