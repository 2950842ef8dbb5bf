"""The command line as a user runs it.

The end-to-end ones run where the lab runs its cells (inside UML when the host
has no ESP), with real daemons: a scripted tmux session (up, shell, ip xfrm
state, exit, down), and kill -9 of a running pytest followed by `ipsec-lab clean`.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lab.cli.keeper import labs_dir
from lab.cli.main import main
from lab.owner import OWNER_VAR
from lab.run import TAG_VAR
from lab.topology.netns import lab_namespaces

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "lab"]


def test_render_prints_both_peers(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["render", "--left", "libreswan", "--right", "libreswan", "--ike", "v1",
                 "--mode", "tunnel"]) == 0
    out = capsys.readouterr().out
    assert "==> left (libreswan): ipsec.conf <==" in out and "type=tunnel" in out
    assert "==> right (libreswan): ipsec.secrets <==" in out


@pytest.mark.parametrize(("argv", "words"), [
    (["run", "--left", "openswan"], "unknown daemon 'openswan'"),
    (["render", "--esp", "aes129-sha1"], "unknown cipher 'aes129'"),
    (["render", "--right", "libreswan@jessie"], "unknown suite 'jessie'"),
    (["exec", "middle", "--", "true"], "unknown peer 'middle' (allowed: left, right"),
    (["down", "--name", "no-such-lab"], "no lab named 'no-such-lab' is up"),
])
def test_bad_arguments_get_one_line(capsys: pytest.CaptureFixture[str], argv: list[str],
                                    words: str) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert words in err and "\n" not in err


@pytest.mark.parametrize("cmd", ["setup", "doctor", "render", "run", "up", "list", "exec", "shell",
                                 "down", "clean"])
def test_every_subcommand_has_help(cmd: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main([cmd, "--help"])
    assert exc.value.code == 0
    assert len(capsys.readouterr().out.splitlines()) > 3


def _tmux(*args: str) -> str:
    return subprocess.run(["tmux", "-L", "ipl-test", *args], capture_output=True, text=True,
                          check=True).stdout


def _screen_until(text: str, deadline: float = 60) -> str:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        screen = _tmux("capture-pane", "-p", "-t", "t", "-S", "-200")
        if text in screen:
            return screen
        time.sleep(0.2)
    logs = "".join(p.read_text()[-1500:] for p in labs_dir().glob("*/keeper.log"))
    ps = subprocess.run(["ps", "-eo", "pid,ppid,stat,args"], capture_output=True, text=True).stdout
    raise AssertionError(f"{text!r} never showed; screen:\n{screen}\nkeeper logs:\n{logs}\n{ps}")


def _back_at_host_prompt(deadline: float = 20) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        lines = [ln for ln in _tmux("capture-pane", "-p", "-t", "t").splitlines() if ln.strip()]
        if lines and not lines[-1].startswith("[right") and lines[-1].rstrip().endswith("#"):
            return
        time.sleep(0.1)
    raise AssertionError("the shell client did not return to the host prompt")


@pytest.mark.lab
def test_tmux_session_up_shell_down() -> None:
    if not shutil.which("tmux"):
        pytest.skip("requires tmux (apt-get install tmux)")
    lab = f"{CLI[0]} -m lab"
    _tmux("new-session", "-d", "-s", "t", "-x", "160", "-y", "50", "-c", str(ROOT))
    try:
        # Markers are computed by the shell, so the typed command never matches them.
        _tmux("send-keys", "-t", "t", f"{lab} up --name tmux --mode tunnel; echo up-$((40+2))-rc=$?",
              "Enter")
        assert "up-42-rc=0" in _screen_until("up-42-rc=", 120)
        _tmux("send-keys", "-t", "t", f"{lab} shell right --name tmux", "Enter")
        _screen_until("[right libreswan]")
        _tmux("send-keys", "-t", "t", "ip xfrm state; echo state-$((20+22))", "Enter")
        screen = _screen_until("state-42")
        assert "proto esp spi 0x" in screen and "mode tunnel" in screen
        _tmux("send-keys", "-t", "t", "exit", "Enter")
        _back_at_host_prompt()  # keys typed before the shell client returns go to the peer
        _tmux("send-keys", "-t", "t", f"{lab} down --name tmux; echo down-$((40+2))-rc=$?", "Enter")
        assert "down-42-rc=0" in _screen_until("down-42-rc=", 60)
    finally:
        _tmux("kill-server")
    assert main(["list"]) == 0
    assert not [ns for ns in lab_namespaces() if "cli" in ns]


@pytest.mark.lab
def test_kill9_of_pytest_then_clean(tmp_path: Path) -> None:
    """SIGKILL a running pytest with a cell up; `ipsec-lab clean` removes what it left and
    nothing else: a decoy process named pluto and a decoy namespace stay."""
    decoy_bin = tmp_path / "pluto"
    shutil.copy("/bin/sleep", decoy_bin)
    decoy = subprocess.Popen([str(decoy_bin), "300"], env={"PATH": "/usr/bin:/bin"})
    subprocess.run(["ip", "netns", "add", "decoy-ipsec-lab"], check=True)
    env = {k: v for k, v in os.environ.items() if k not in (TAG_VAR, OWNER_VAR)}
    env[TAG_VAR] = "ipl-kill9-test"  # the victim is the owner of its own run
    # the victim holds its cell up (namespaces, daemons, SAs) until it is killed: killed
    # after a fixed pause, a run of the seed file can be between two cells
    (tmp_path / "test_hold.py").write_text(HOLD_TEST)
    victim = subprocess.Popen([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
                               str(tmp_path / "test_hold.py"), f"--lab-rundir={tmp_path / 'runs'}"],
                              cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        end = time.monotonic() + 120
        while not (tmp_path / "holding").exists() and victim.poll() is None and time.monotonic() < end:
            time.sleep(0.1)
        assert lab_namespaces() and (tmp_path / "holding").exists(), "the victim never built a lab"
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        out = subprocess.run([*CLI, "clean"], cwd=ROOT, capture_output=True, text=True, check=True)
        assert "namespace ipl-" in out.stdout or "killed process" in out.stdout, out.stdout
        assert lab_namespaces() == []
        again = subprocess.run([*CLI, "clean", "--dry-run"], cwd=ROOT, capture_output=True,
                               text=True, check=True)
        assert "nothing to clean" in again.stdout, again.stdout
        assert decoy.poll() is None, "clean touched a process that is not the lab's"
        assert "decoy-ipsec-lab" in os.listdir("/run/netns")
    finally:
        decoy.kill()
        subprocess.run(["ip", "netns", "del", "decoy-ipsec-lab"], check=False)


def test_broken_flavor_is_one_line_naming_what_is_missing(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """A directory without the daemon's binaries: a one-line error, not a traceback."""
    (tmp_path / "usr" / "sbin").mkdir(parents=True)
    assert main(["run", "--left", f"libreswan@{tmp_path}", "--right", "libreswan"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err
    assert f"left: libreswan@{tmp_path}: /usr/libexec/ipsec/pluto not found in {tmp_path}" in err
    assert main(["run", "--left", "strongswan@/nonexistent/tree"]) == 2
    assert "no tree at /nonexistent/tree" in capsys.readouterr().err


HOLD_TEST = '''
import time
from pathlib import Path

from lab.scenario import seed_scenario


def test_hold(lab):
    here = Path(__file__).parent
    lab.run(seed_scenario(ike_version=2, ike="aes128-sha1-modp2048"))
    (here / "holding").write_text("yes")
    end = time.monotonic() + 120
    while not (here / "release").exists() and time.monotonic() < end:
        time.sleep(0.1)
'''


def _own_run_env() -> dict[str, str]:
    """The environment of a run started by hand: no tag, no owner of the outer run."""
    return {k: v for k, v in os.environ.items() if k not in (TAG_VAR, OWNER_VAR)
            and not k.startswith("PYTEST_")}


def _owner_of(proc: subprocess.Popen) -> str:
    from lab.owner import start_time
    return f"ipl-{proc.pid}.{start_time(proc.pid)}-"


@pytest.mark.lab
def test_clean_spares_the_other_checkouts_run_and_lab_clean_all_takes_them(tmp_path: Path) -> None:
    """Checkout B runs pytest (a cell held up) and has a lab up; checkout A's pytest is
    killed. `clean` in A removes A's leftovers only; `clean --all` takes B's too."""
    other = tmp_path / "checkout-b"
    other.mkdir()
    (other / "test_hold.py").write_text(HOLD_TEST)
    env = _own_run_env()
    run_b = subprocess.Popen([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
                              "test_hold.py", f"--lab-rundir={other / 'runs'}"], cwd=other, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    victim = None
    try:
        up = subprocess.run([*CLI, "up", "--name", "checkout-b", "--rundir", str(other / "runs")],
                            cwd=other, env=env, capture_output=True, text=True, timeout=180)
        # The lab must be up; its verdict is not this test's business (with two cells in
        # one kernel at once, the up's capture has been seen empty now and then).
        assert "lab 'checkout-b' is up" in up.stdout, up.stdout + up.stderr
        end = time.monotonic() + 120
        while not (other / "holding").exists() and run_b.poll() is None and time.monotonic() < end:
            time.sleep(0.1)
        if not (other / "holding").exists():
            run_b.kill()
            raise AssertionError(f"checkout B's cell never came up: {run_b.communicate()[0][-3000:]}")
        b_namespaces = [ns for ns in lab_namespaces() if ns.startswith(_owner_of(run_b))]
        assert len(b_namespaces) == 2, lab_namespaces()
        # A's pytest holds its cell up too, and is killed there: a cell of the seed file,
        # killed after a fixed pause, was seen between two cells once cells got faster
        mine = tmp_path / "checkout-a"
        mine.mkdir()
        (mine / "test_hold.py").write_text(HOLD_TEST)
        victim = subprocess.Popen([*CLI[:1], "-m", "pytest", "-p", "no:cacheprovider", "-q",
                                   str(mine / "test_hold.py"), f"--lab-rundir={mine / 'runs'}"],
                                  cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        a_prefix = _owner_of(victim)
        end = time.monotonic() + 120
        while not (mine / "holding").exists() and victim.poll() is None and time.monotonic() < end:
            time.sleep(0.1)
        victim.kill()
        victim.wait()
        assert (mine / "holding").exists(), "checkout A's cell never came up"
        assert any(n.startswith(a_prefix) for n in lab_namespaces()), "A left nothing to clean"

        out = subprocess.run([*CLI, "clean"], cwd=ROOT, env=env, capture_output=True, text=True,
                             check=True).stdout
        assert f"removed namespace {a_prefix}" in out, out
        assert "left alone: " in out and str(run_b.pid) in out, out
        assert not any(n.startswith(a_prefix) for n in lab_namespaces())
        assert run_b.poll() is None, "clean in A killed B's pytest"
        assert all(ns in lab_namespaces() for ns in b_namespaces), "clean in A took B's cell"
        listed = subprocess.run([*CLI, "list"], env=env, capture_output=True, text=True).stdout
        assert "checkout-b: up" in listed, listed
        state = subprocess.run([*CLI, "exec", "right", "--name", "checkout-b", "--", "ip", "xfrm",
                                "state"], env=env, capture_output=True, text=True, timeout=60)
        assert state.returncode == 0 and "proto esp" in state.stdout, state.stdout + state.stderr

        out = subprocess.run([*CLI, "clean", "--all"], cwd=ROOT, env=env, capture_output=True,
                             text=True, check=True).stdout
        assert out.startswith("clean --all: taking every lab process"), out
        assert run_b.wait(10) == -signal.SIGKILL, "clean --all left B's pytest running"
        assert lab_namespaces() == []
        listed = subprocess.run([*CLI, "list"], env=env, capture_output=True, text=True).stdout
        assert "checkout-b" not in listed, listed
    finally:
        (other / "release").write_text("")
        for proc in (run_b, victim):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
        subprocess.run([*CLI, "down", "--name", "checkout-b"], env=env, capture_output=True,
                       check=False)


PIDS_IN_THIS_NETNS = ('for p in /proc/[0-9]*; do'
                      ' [ "$(readlink $p/ns/net)" = "$(readlink /proc/self/ns/net)" ]'
                      ' && [ "$(cat $p/comm)" = pluto ] && echo "${p#/proc/}"; done; true')


@pytest.mark.lab
def test_a_dead_daemon_shows_in_list_exec_and_down(tmp_path: Path) -> None:
    """Kill pluto in an `up` lab with `exec ... kill` (kill is not in the flavor tree: the
    host's runs in the peer's namespace): list must not say up, down says what it found."""
    env = dict(_own_run_env())
    name = "dead-daemon"

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=180,
                              check=False)

    up = cli("up", "--name", name, "--right", "libreswan@bookworm", "--rundir", str(tmp_path))
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        assert f"{name}: up, " in cli("list").stdout
        pids = cli("exec", "right", "--name", name, "--", "sh", "-c", PIDS_IN_THIS_NETNS)
        assert pids.returncode == 0 and pids.stdout.split(), pids.stdout + pids.stderr
        pluto = pids.stdout.split()[0]
        killed = cli("exec", "right", "--name", name, "--", "kill", "-9", pluto)
        assert killed.returncode == 0, killed.stderr
        assert "kill: not in the libreswan@bookworm tree; running the host's" in killed.stderr
        listed = cli("list").stdout
        assert f"{name}: DAEMON GONE: libreswan (right) exited with status -9" in listed, listed
        ps = cli("exec", "right", "--name", name, "--", "ps", "-e")
        assert ps.returncode == 0 and "note: libreswan (right) exited" in ps.stderr, ps.stderr
        down = cli("down", "--name", name)
        assert down.returncode == 0, down.stderr
        assert "found before down: libreswan (right) exited with status -9" in down.stdout, down.stdout
    finally:
        cli("down", "--name", name)


def test_tmp_itself_as_the_working_directory_is_refused_in_one_line(monkeypatch, tmp_path) -> None:
    """A guest binds the host's directories under /tmp over a /tmp of its own: /tmp itself
    as the working directory left the guest without a writable /tmp ("No usable temporary
    directory found", a traceback from the guest's boot). The CLI and the plugin ask
    check_cwd before they boot one (on the host: a guest never boots another)."""
    from lab.errors import UsageError
    from lab.kernel.uml import check_cwd
    if Path("/tmp").resolve() != Path("/tmp") or not Path("/tmp").is_dir():
        pytest.skip("/tmp is not a plain directory here")
    monkeypatch.chdir("/tmp")
    with pytest.raises(UsageError) as exc:
        check_cwd()
    assert str(exc.value) == ("the working directory is /tmp itself, which a UML guest cannot"
                              " share (it binds the host's directories under /tmp over a /tmp"
                              " of its own): run from a directory under /tmp, or anywhere else")
    monkeypatch.chdir(tmp_path)
    check_cwd()  # a directory under it, or anywhere else: fine
