"""ipsec-lab setup: its steps from the options, the scripts it ships, and the progress it
shows (step n of m, the time, a line while a silent step works, the closing table).
The runner is tried with small scripts of its own: nothing here builds a kernel or a tree."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lab.errors import UsageError
from lab.provision.plan import SCRIPTS, Plan, Step, plan, wanted
from lab.provision.progress import Runner, clock, table, took

CLI = [sys.executable, "-m", "lab"]


def titles(p: Plan) -> list[str]:
    return [s.title for s in p.steps]


def test_the_default_builds_the_kernels_and_the_default_matrix() -> None:
    assert titles(plan()) == [
        "Debian's UML kernel", "our own UML kernel", "tree libreswan@bookworm", "tree libreswan@sid",
        "tree strongswan@bookworm", "tree strongswan@sid", "racoon@0.8.2 from source",
        "racoon@0.9.1 from source"]


def test_flavors_as_ci_setup_took_them() -> None:
    p = plan("libreswan@sid,strongswan@sid", own_uml=False)
    assert [(s.script, s.args) for s in p.steps] == [
        ("install-uml.sh", ()), ("build-flavors.sh", ("libreswan@sid",)),
        ("build-flavors.sh", ("strongswan@sid",))]
    assert titles(plan("none", own_uml=False)) == ["Debian's UML kernel"]


def test_a_variant_shares_its_release_and_own_builds_need_nothing() -> None:
    trees, builds, notes = wanted("racoon@0.9.1,racoon@privsep-0.9.1,libreswan,strongswan@/opt/x,"
                                   "libreswan@sid,libreswan@sid")
    assert (trees, builds) == (["libreswan@sid"], ["racoon@0.9.1"])
    assert notes == ["libreswan: the machine's own programs, nothing to build",
                     "strongswan@/opt/x: your own build, nothing to build"]


@pytest.mark.parametrize(("flavors", "words"), [
    ("openswan@sid", "--flavors: unknown daemon 'openswan'"),
    ("libreswan@jessie", "--flavors: unknown suite 'jessie'"),
    ("libreswan@sid,,", "--flavors: an empty name"),
])
def test_a_bad_flavor_is_one_line(flavors: str, words: str) -> None:
    with pytest.raises(UsageError, match=words) as exc:
        plan(flavors)
    assert "\n" not in str(exc.value)


def test_the_scripts_ship_in_the_package_and_parse() -> None:
    for step in plan().steps:
        script = SCRIPTS / step.script
        assert script.is_file(), script
        assert subprocess.run(["bash", "-n", str(script)]).returncode == 0


def test_a_script_line_loses_its_own_name_in_the_table() -> None:
    step = Step("tree x", "build-flavors.sh", ("strongswan@sid",))
    assert step.plain("strongswan@sid: /c/flavors/strongswan-sid exists, kept") == \
        "/c/flavors/strongswan-sid exists, kept"
    assert Step("k", "install-uml.sh").plain("install-uml: 7.2.7 from sid") == "7.2.7 from sid"
    assert step.plain("something else") == "something else"


def test_times_as_a_person_reads_them() -> None:
    assert [clock(s) for s in (7.9, 65, 3723)] == ["0:07", "1:05", "1:02:03"]
    assert [took(s) for s in (0.25, 33.4, 553)] == ["0.2 s", "33 s", "9 min 13 s"]


def script(tmp_path: Path, name: str, body: str) -> Step:
    path = tmp_path / name
    path.write_text(f"set -e\n{body}\n")
    return Step(name.removesuffix(".sh"), str(path))


def test_progress_steps_heartbeat_and_table(tmp_path: Path) -> None:
    steps = Plan((script(tmp_path, "one.sh", "echo 'one: [1/2] fetching'; sleep 0.6; echo 'one: built it'"),
                  script(tmp_path, "two.sh", "echo 'two: there'")))
    out = io.StringIO()
    done = Runner(out, os.environ, heartbeat=0.25).run(steps)
    text = out.getvalue()
    assert [d.status for d in done] == ["ok", "ok"]
    assert "[1/2] one (one.sh)\n  [1/2 0:00] one: [1/2] fetching\n" in text
    assert "still at work on one (last: one: [1/2] fetching)" in text  # the silent 0.6 s
    assert "[2/2] two (two.sh)\n  [2/2 0:00] two: there\n" in text
    assert "setup: done in " in text
    rows = text.split("setup: done in ")[1].splitlines()[1:]
    assert rows[0].split() == ["step", "time", "result"]
    assert rows[1].split()[0] == "one" and rows[1].endswith("built it")
    assert rows[2].split()[0] == "two" and rows[2].endswith("there")
    assert rows[3].split()[0] == "total"
    assert done[0].seconds >= 0.6


def test_a_failed_step_stops_the_rest(tmp_path: Path) -> None:
    steps = Plan((script(tmp_path, "bad.sh", "echo 'bad: mmdebstrap failed' >&2; exit 3"),
                  script(tmp_path, "after.sh", "echo never")))
    out = io.StringIO()
    done = Runner(out, os.environ).run(steps)
    assert [d.status for d in done] == ["FAILED (exit 3)", "not run"]
    text = out.getvalue()
    assert "  [1/2 0:00] bad: mmdebstrap failed\n" in text and "never" not in text
    assert "setup: FAILED in " in text
    assert any(r.split()[0] == "bad" and r.endswith("FAILED (exit 3): mmdebstrap failed")
               for r in text.splitlines())
    assert table(done, 1.0)[-1].split() == ["total", "1.0", "s"]


def test_dry_run_says_the_steps_and_builds_nothing(tmp_path: Path) -> None:
    env = {**os.environ, "IPSEC_LAB_CACHE": str(tmp_path / "cache")}
    env.pop("IPSEC_LAB_FLAVORS", None)
    res = subprocess.run([*CLI, "setup", "--dry-run", "--flavors=libreswan@sid,strongswan@sid"],
                         capture_output=True, text=True, env=env)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0] == f"setup: would run 4 steps into {tmp_path / 'cache'}:"
    assert lines[3].startswith("[3/4] tree libreswan@sid: bash ")
    assert lines[3].endswith("/lab/provision/scripts/build-flavors.sh libreswan@sid")
    assert not (tmp_path / "cache").exists()


def test_a_bad_option_is_refused_before_anything_runs(tmp_path: Path) -> None:
    env = {**os.environ, "IPSEC_LAB_CACHE": str(tmp_path)}
    res = subprocess.run([*CLI, "setup", "--flavors=libreswan@wheezy"], capture_output=True,
                         text=True, env=env)
    assert res.returncode == 2 and res.stdout == ""
    assert res.stderr.strip().startswith("ipsec-lab setup: --flavors: unknown suite 'wheezy'")
    assert list(tmp_path.iterdir()) == []
