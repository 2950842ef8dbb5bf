"""ipsec-lab doctor: with an empty cache it names every missing part and the command that
fixes it, and exits 1; what is optional does not change the exit status."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from lab.cli import doctor
from lab.cli.doctor import Finding, has_amx, report
from lab.matrix import DEFAULT_FLAVORS

CLI = [sys.executable, "-m", "lab"]


def run_doctor(cache: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "IPSEC_LAB_CACHE": str(cache)}
    for var in ("IPSEC_LAB_FLAVORS", "IPSEC_LAB_UML", "IPSEC_LAB_IN_UML"):
        env.pop(var, None)
    return subprocess.run([*CLI, "doctor"], capture_output=True, text=True, env=env, timeout=120)


def test_an_empty_cache_names_each_missing_part_and_its_fix(tmp_path: Path) -> None:
    res = run_doctor(tmp_path)
    assert res.returncode == 1, res.stdout + res.stderr
    out = res.stdout
    assert out.startswith(f"cache:   {tmp_path}\n")
    for name in DEFAULT_FLAVORS:
        assert f"flavor:  {name:<20} MISSING: " in out
        assert f"  ipsec-lab setup --flavors={name} " in out  # the fix, on its own line
    assert "travel:  missing (optional): needs our own UML with time-travel" in out
    assert "  ipsec-lab setup --no-flavors " in out
    assert "(or all of the lab's builds at once: ipsec-lab setup)" in out
    last = out.splitlines()[-1]
    assert last.startswith("doctor: ") and "missing that the default run needs: " in last
    assert all(f"flavor {name}" in last for name in DEFAULT_FLAVORS)
    assert "travel" not in last  # optional: said above, not counted
    assert not {"uml", "uml-own", "flavors"} & {p.name for p in tmp_path.iterdir()}  # builds nothing


def test_the_machines_own_daemons_are_optional() -> None:
    lines, status = report([Finding("kernel", "", "User-Mode Linux 7.2", True),
                            Finding("flavor", "strongswan", "swanctl not found on PATH", False,
                                    "apt-get install strongswan", needed=False),
                            Finding("travel", "", "no uml-own", False, "ipsec-lab setup", needed=False),
                            Finding("tool", "mmdebstrap", "optional", False, "ipsec-lab setup",
                                    needed=False)])
    assert status == 0
    assert lines[1] == "flavor:  strongswan           missing (optional): swanctl not found on PATH"
    assert lines[4:7] == ["to fix:", f"  {'apt-get install strongswan':<52} # flavor strongswan",
                          f"  {'ipsec-lab setup':<52} # travel, tool mmdebstrap"]
    assert lines[-1].startswith("doctor: everything the default run needs is here")


def test_a_missing_tool_is_needed_only_for_what_is_still_to_build(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(doctor, "_have", lambda tool: tool not in ("mmdebstrap", "tc"))
    found = {f.name: f for f in doctor.tools({"uml"})}
    assert set(found) == {"mmdebstrap", "tc"}
    assert found["tc"].needed and found["tc"].fix == "apt-get install iproute2"
    assert not found["mmdebstrap"].needed  # every tree is built already
    assert doctor.tools({"trees"})[0].needed
    assert found["mmdebstrap"].line() == ("tool:    mmdebstrap           missing (optional): builds"
                                          " the flavor trees (package mmdebstrap)")


def test_what_setup_still_has_to_build() -> None:
    found = [Finding("travel", "", "x", False, "ipsec-lab setup --no-flavors", needed=False),
             Finding("flavor", "racoon@0.9.1", "x", False, "ipsec-lab setup --flavors=racoon@0.9.1"),
             Finding("flavor", "strongswan", "x", False, "apt-get install strongswan", needed=False),
             Finding("flavor", "libreswan@sid", "ok", True)]
    assert doctor.to_build(found) == {"uml", "racoon"}


def test_amx_is_read_from_the_flags_line() -> None:
    assert has_amx("processor: 0\nflags\t\t: fpu sse amx_bf16 amx_tile avx\n")
    assert not has_amx("flags\t\t: fpu sse avx\nbugs: amx_tile\n")


def test_not_root_matters_only_when_setup_has_something_to_build(monkeypatch: pytest.MonkeyPatch,
                                                                 tmp_path: Path) -> None:
    monkeypatch.setattr(doctor.os, "geteuid", lambda: 1001)
    monkeypatch.setenv("IPSEC_LAB_CACHE", str(tmp_path / "cache"))
    built, to_build = doctor.access(set()), doctor.access({"trees"})
    assert built[0].line().startswith("access:  missing (optional): uid 1001, not root: runs work")
    assert to_build[0].needed and to_build[0].fix == "sudo ipsec-lab setup"
