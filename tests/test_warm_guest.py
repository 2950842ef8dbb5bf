"""Issue 22, item 3: warm guests (lab.kernel.warm, warmkeeper, warmguest).

The protocol between client, keeper and guest program, the staleness check, the owner
checks and the clean-state check are tested here without a kernel. The real runs through
a warm guest need the host (a UML guest cannot boot another): they run with
``pytest tests/test_warm_guest.py -p no:xdist`` and skip inside a guest.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from lab.kernel import warm, warmguest
from lab.kernel.choice import in_uml
from lab.kernel.jsonlines import JsonLines
from lab.kernel.warmkeeper import Keeper
from lab.owner import Owner, start_time
from lab.state import IN_UML_VAR, STATE_VAR

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv(IN_UML_VAR, raising=False)
    monkeypatch.setenv(STATE_VAR, str(tmp_path / "state"))
    return tmp_path / "state"


@pytest.mark.parametrize(("value", "tty", "expected"), [
    ("on", False, True), ("off", True, False), ("auto", True, True), ("auto", False, False),
    ("", True, True), ("maybe", True, False)])
def test_wanted(monkeypatch: pytest.MonkeyPatch, value: str, tty: bool, expected: bool) -> None:
    monkeypatch.setenv(warm.WARM_VAR, value)
    assert warm.wanted(interactive=tty) is expected


def test_idle_minutes(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv(warm.IDLE_VAR, "2.5")
    assert warm.idle_seconds() == 150
    monkeypatch.setenv(warm.IDLE_VAR, "soon")
    assert warm.idle_seconds() == warm.DEFAULT_IDLE_MIN * 60
    assert f"{warm.IDLE_VAR}=soon" in capsys.readouterr().err


def test_fingerprint_follows_the_sources(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    source = tmp_path / "pkg" / "mod.py"
    source.write_text("x = 1\n")
    before = warm.fingerprint(tmp_path / "pkg")
    (tmp_path / "pkg" / "__pycache__").mkdir()
    (tmp_path / "pkg" / "__pycache__" / "mod.cpython-311.pyc").write_bytes(b"compiled")
    assert warm.fingerprint(tmp_path / "pkg") == before  # compiled files are no change
    source.write_text("x = 22\n")
    assert warm.fingerprint(tmp_path / "pkg") != before
    changed = warm.fingerprint(tmp_path / "pkg")
    os.utime(source, ns=(1, 1))
    assert warm.fingerprint(tmp_path / "pkg") != changed
    tree = tmp_path / "flavors" / "libreswan-sid"
    tree.mkdir(parents=True)
    with_tree = warm.fingerprint(tmp_path / "pkg", [tree])
    os.utime(tree, ns=(2, 2))  # rebuilt
    assert warm.fingerprint(tmp_path / "pkg", [tree]) != with_tree


def test_a_stale_guest_is_restarted(state: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    said: list[str] = []
    started: list[str] = []
    monkeypatch.setattr(warm, "fingerprint", lambda *a: "new")
    monkeypatch.setattr(warm, "keeper_info", lambda where: {"fingerprint": "old", "ready": True, "pid": 1})
    monkeypatch.setattr(warm, "stop", lambda where, why="": said.append(why) or True)
    monkeypatch.setattr(warm, "_start", lambda where, kernel, mem, fresh, need: started.append(fresh) or
                        {"fingerprint": fresh, "ready": True})
    kernel = warm.UmlKernel(Path("/nonexistent/linux"), Path("/nonexistent/modules/7.2"))
    where, info = warm.ready_keeper(kernel, "768M")
    assert said == ["the lab's files, this python's packages, the kernel or a flavor tree changed"
                    " since it started"]
    assert started == ["new"] and info["fingerprint"] == "new"
    assert where.parent == state / "warm" and (where.stat().st_mode & 0o777) == 0o700


def test_a_fresh_guest_is_reused(state: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(warm, "fingerprint", lambda *a: "same")
    monkeypatch.setattr(warm, "needs", lambda: {"keep": ["/a"], "writable": []})
    monkeypatch.setattr(warm, "keeper_info", lambda where: {"fingerprint": "same", "ready": True, "pid": 1,
                                                            "keep": ["/a", "/b"], "writable": []})
    monkeypatch.setattr(warm, "_start", lambda *a: pytest.fail("started a second guest"))
    kernel = warm.UmlKernel(Path("/nonexistent/linux"), Path("/nonexistent/modules/7.2"))
    assert warm.ready_keeper(kernel, "768M")[1]["fingerprint"] == "same"


def test_a_guest_without_a_needed_directory_is_booted_again_with_both(
        state: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    said: list[str] = []
    started: list[dict[str, list[str]]] = []
    monkeypatch.setattr(warm, "fingerprint", lambda *a: "same")
    monkeypatch.setattr(warm, "needs", lambda: {"keep": ["/b"], "writable": ["/w2"]})
    monkeypatch.setattr(warm, "keeper_info", lambda where: {"fingerprint": "same", "ready": True, "pid": 1,
                                                            "keep": ["/a"], "writable": ["/w1"]})
    monkeypatch.setattr(warm, "stop", lambda where, why="": said.append(why) or True)
    monkeypatch.setattr(warm, "_start", lambda where, kernel, mem, fresh, need: started.append(need) or
                        {"ready": True})
    kernel = warm.UmlKernel(Path("/nonexistent/linux"), Path("/nonexistent/modules/7.2"))
    warm.ready_keeper(kernel, "768M")
    assert said == ["this command needs host directories the warm guest was not booted with"]
    assert started == [{"keep": ["/a", "/b"], "writable": ["/w1", "/w2"]}]


def test_another_boot_is_another_guest(monkeypatch: pytest.MonkeyPatch) -> None:
    kernel = warm.UmlKernel(Path("/k/linux"), Path("/k/modules/7.2"))
    one = warm.key_name(warm.boot_key(kernel, "768M"))
    assert warm.key_name(warm.boot_key(kernel, "1G")) != one
    monkeypatch.setenv(warm.OPTS_VAR, "seccomp=off")
    assert warm.key_name(warm.boot_key(kernel, "768M")) != one


def _listening(path: Path) -> socket.socket:
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(1)
    return server


def test_the_client_talks_only_to_the_recorded_keeper(tmp_path: Path) -> None:
    server = _listening(tmp_path / "ctl")
    try:
        conn = warm.connect(tmp_path, {"owner": str(Owner.me())})  # this process is the "keeper"
        pid, uid, _ = warm.peer_credentials(conn)
        assert (pid, uid) == (os.getpid(), os.geteuid())
        conn.close()
        impostor = Owner(os.getpid() + 100000, 1)
        with pytest.raises(OSError, match=f"not by the keeper \\(PID {impostor.pid}"):
            warm.connect(tmp_path, {"owner": str(impostor)})
    finally:
        server.close()


def test_a_dead_keeper_is_no_keeper(tmp_path: Path) -> None:
    (tmp_path / "keeper.json").write_text(json.dumps({"owner": "999999999.1", "pid": 999999999}))
    assert warm.keeper_info(tmp_path) is None
    me = Owner.me()
    (tmp_path / "keeper.json").write_text(json.dumps({"owner": str(me), "pid": me.pid, "ready": True}))
    assert warm.keeper_info(tmp_path)["pid"] == me.pid


def test_no_keeper_means_a_cold_boot(state: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(warm, "_start", lambda *a: None)  # it said why on stderr
    kernel = warm.UmlKernel(Path("/nonexistent/linux"), Path("/nonexistent/modules/7.2"))
    assert warm.run(["-c", "pass"], kernel=kernel, tag="t", mem="768M") is None


def test_clean_stops_warm_guests(state: Path) -> None:
    from lab.cli.cleanup import clean

    # the "keeper": not our child, so that it is gone (not a zombie of ours) once stopped
    pid = int(subprocess.run(["sh", "-c", "sleep 300 >/dev/null 2>&1 & echo $!"], capture_output=True,
                             text=True, check=True).stdout)
    try:
        where = warm.warm_root() / "0123456789abcdef"
        where.mkdir(mode=0o700)
        me = Owner(pid, start_time(pid))
        (where / "keeper.json").write_text(json.dumps({"owner": str(me), "pid": pid}))
        assert f"would stop warm guest 0123456789abcdef (keeper PID {pid})" in clean(dry_run=True)
        assert me.alive()
        assert f"stopped warm guest 0123456789abcdef (keeper PID {pid})" in clean()
        assert not me.alive()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, 9)


class FakeGuest:
    """The guest program's side of the keeper's pipes: answers each run with ``script``."""

    def __init__(self, script: list[dict[str, Any]], wait_for_interrupt: bool = False) -> None:
        self.req_r, self.req_w = os.pipe()
        self.ans_r, self.ans_w = os.pipe()
        self.script = script
        self.wait = wait_for_interrupt
        self.seen: list[dict[str, Any]] = []
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self) -> None:
        requests = JsonLines(self.req_r)
        while not requests.ended:
            for msg in requests.poll(timeout=None):
                self.seen.append(msg)
                if msg["op"] == "run" and self.wait:
                    continue
                for answer in self.script:
                    os.write(self.ans_w, (json.dumps(answer) + "\n").encode())

    def keeper(self) -> Keeper:
        keeper = Keeper.__new__(Keeper)
        keeper.requests, keeper.answers_r = self.req_w, self.ans_r
        keeper.answers = JsonLines(self.ans_r)
        keeper.uml = type("Alive", (), {"poll": lambda self: None})()
        keeper.server = None
        return keeper


def _serve(keeper: Keeper) -> tuple[socket.socket, list[bool]]:
    client, server = socket.socketpair()
    kept: list[bool] = []
    thread = threading.Thread(target=lambda: kept.append(keeper.serve_one(server)), daemon=True)
    thread.start()
    return client, kept


def test_a_command_through_keeper_and_guest(capfd: pytest.CaptureFixture[str]) -> None:
    import base64

    guest = FakeGuest([{"t": "out", "data": base64.b64encode(b"1 passed\n").decode()},
                       {"t": "done", "rc": 0, "left": []}])
    client, _ = _serve(guest.keeper())
    warm.send(client, {"op": "run", "argv": ["-m", "pytest"], "cwd": "/", "env": {}})
    assert warm.relay(client) == 0
    assert capfd.readouterr().out == "1 passed\n"
    assert guest.seen[0]["argv"] == ["-m", "pytest"]


def test_a_guest_left_unclean_fails_loudly_and_stops(capfd: pytest.CaptureFixture[str]) -> None:
    guest = FakeGuest([{"t": "done", "rc": 0, "left": ["process 42 (sleep, S)", "xfrm state: src ..."]}])
    keeper = guest.keeper()
    client, kept = _serve(keeper)
    warm.send(client, {"op": "run", "argv": [], "cwd": "/", "env": {}})
    assert warm.relay(client) == 1
    err = capfd.readouterr().err
    assert "warm guest NOT CLEAN after the command, so it is stopped: process 42 (sleep, S)" in err
    client.close()
    for _ in range(100):
        if kept:
            break
        threading.Event().wait(0.02)
    assert kept == [False]  # the keeper stops that guest


def test_a_client_that_hangs_up_interrupts_its_command() -> None:
    guest = FakeGuest([{"t": "done", "rc": 2, "left": []}], wait_for_interrupt=True)
    client, kept = _serve(guest.keeper())
    warm.send(client, {"op": "run", "argv": [], "cwd": "/", "env": {}})
    client.shutdown(socket.SHUT_WR)  # Ctrl-C twice: the client is gone
    for _ in range(200):
        if kept:
            break
        threading.Event().wait(0.02)
    assert [m["op"] for m in guest.seen] == ["run", "interrupt"]
    assert kept == [True]


def test_a_second_client_is_told_busy(tmp_path: Path) -> None:
    guest = FakeGuest([{"t": "done", "rc": 0, "left": []}], wait_for_interrupt=True)
    keeper = guest.keeper()
    keeper.server = _listening(tmp_path / "ctl")
    client, _ = _serve(keeper)
    warm.send(client, {"op": "run", "argv": [], "cwd": "/", "env": {}})
    other = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    other.connect(str(tmp_path / "ctl"))
    with contextlib.suppress(OSError):  # the keeper may have answered and hung up already
        warm.send(other, {"op": "run", "argv": [], "cwd": "/", "env": {}})
    assert warm.relay(other) is None  # the caller boots cold
    warm.send(client, {"op": "interrupt"})
    assert warm.relay(client) == 0
    assert [m["op"] for m in guest.seen] == ["run", "interrupt"]


def test_the_keeper_answers_only_its_own_uid(monkeypatch: pytest.MonkeyPatch) -> None:
    guest = FakeGuest([{"t": "done", "rc": 0, "left": []}])
    monkeypatch.setattr("lab.kernel.warmkeeper.peer_credentials", lambda conn: (1, os.geteuid() + 1, 1))
    client, _ = _serve(guest.keeper())
    with contextlib.suppress(OSError):  # refused: the keeper may have hung up already
        warm.send(client, {"op": "run", "argv": [], "cwd": "/", "env": {}})
        assert list(warm.lines(client)) == []
    assert guest.seen == []  # nothing run
    assert guest.seen == []


def test_leftovers_names_what_is_new(monkeypatch: pytest.MonkeyPatch) -> None:
    base = {"netns": [], "links": ["lo"], "mounts": ["/ / rw"]}
    now = {"netns": ["ipl-1.2-3-left"], "links": ["lo", "veth0"], "mounts": ["/ / rw", "/run/x /run/x rw"]}
    monkeypatch.setattr(warmguest, "snapshot", lambda: now)
    monkeypatch.setattr(warmguest, "_processes", lambda spare: ["process 7 (pluto, S)"])
    monkeypatch.setattr(warmguest, "_xfrm", lambda: ["SA x"])
    assert warmguest.leftovers(base) == ["process 7 (pluto, S)", "network namespace ipl-1.2-3-left",
                                         "interface veth0", "mount /run/x", "SA x"]
    monkeypatch.setattr(warmguest, "snapshot", lambda: base)
    monkeypatch.setattr(warmguest, "_processes", lambda spare: [])
    monkeypatch.setattr(warmguest, "_xfrm", list)
    assert warmguest.leftovers(base) == []


def test_pytest_plugins_are_marked_as_pytest_marks_them() -> None:
    marks = warmguest.rewrite_marks()
    assert "lab.plugin" in marks and "xdist.plugin" in marks


# -- real runs: the host boots a warm guest ------------------------------------------------
host_only = pytest.mark.skipif(in_uml(), reason="boots a UML guest: run on the host with"
                               " pytest tests/test_warm_guest.py -p no:xdist")


@pytest.fixture
def warm_kernel(state: Path) -> Any:
    from lab.errors import MissingError
    from lab.kernel.uml import find_kernel

    try:
        kernel = find_kernel()
    except MissingError as exc:
        pytest.skip(str(exc))
    yield kernel
    warm.stop_all()


@host_only
def test_real_warm_guest(warm_kernel: Any, capfd: pytest.CaptureFixture[str]) -> None:
    tag = f"ipl-test-warm-{os.getpid()}"
    code = "import os; print('hello from', os.environ['IPSEC_LAB_IN_UML'])"
    assert warm.run(["-c", code], kernel=warm_kernel, tag=tag, mem="768M") == 0
    assert f"hello from {warm_kernel.release}" in capfd.readouterr().out
    (where,) = list((warm.warm_root()).iterdir())
    first = warm.keeper_info(where)
    assert first is not None
    assert warm.run(["-c", "raise SystemExit(3)"], kernel=warm_kernel, tag=tag, mem="768M") == 3
    assert warm.keeper_info(where)["pid"] == first["pid"]  # the same guest, still clean
    # a command that leaves a process, a namespace and an SA behind: loud, and that guest is gone
    leave = ("import subprocess as s; s.Popen(['sleep', '60'], start_new_session=True);"
             " s.run(['ip', 'netns', 'add', 'left-behind'], check=True);"
             " s.run('ip xfrm state add src 10.9.0.1 dst 10.9.0.2 proto esp spi 0x1234 mode transport"
             " enc cbc(aes) 0x00112233445566778899aabbccddeeff'.split(), check=True)")
    assert warm.run(["-c", leave], kernel=warm_kernel, tag=tag, mem="768M") == 1
    err = capfd.readouterr().err
    assert "warm guest NOT CLEAN after the command" in err
    assert "(sleep, S)" in err and "network namespace left-behind" in err and "SA " in err
    for _ in range(200):
        if warm.keeper_info(where) is None:
            break
        threading.Event().wait(0.05)
    assert warm.keeper_info(where) is None
    assert warm.stop_all() == []


@host_only
def test_a_node_id_warm_and_cold_alike(warm_kernel: Any, state: Path) -> None:
    node = "scenarios/test_seed.py::test_seed[ikev2-tunnel-aes128-sha1-modp2048]"
    outcome = {}
    for mode in ("off", "on", "on"):
        env = dict(os.environ, **{warm.WARM_VAR: mode, STATE_VAR: str(state)})
        done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider", node],
                              cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        outcome[mode] = [re.sub(r"0x[0-9a-f]+", "SPI", ln) for ln in done.stdout.splitlines()
                         if ln.startswith(("PASSED", "expected"))]
    assert outcome["on"] == outcome["off"] and outcome["on"]
    assert len(warm.stop_all()) == 1


@host_only
def test_an_idle_warm_guest_stops_by_itself(warm_kernel: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(warm.IDLE_VAR, "0.05")  # 3 s
    assert warm.run(["-c", "pass"], kernel=warm_kernel, tag="ipl-test-idle", mem="768M") == 0
    (where,) = list(warm.warm_root().iterdir())
    assert warm.keeper_info(where) is not None
    for _ in range(300):
        if warm.keeper_info(where) is None:
            break
        threading.Event().wait(0.05)
    assert warm.keeper_info(where) is None
    assert "keeper: idle, stopping" in (where / "keeper.log").read_text()


@host_only
def test_ctrl_c_ends_the_command_in_the_guest_cleanly(warm_kernel: Any, state: Path) -> None:
    """The client's SIGINT reaches the command, which tears down what it made; the guest
    stays, clean, for the next command."""
    command = ("import subprocess as s, time\n"
               "s.run(['ip', 'netns', 'add', 'half-run'], check=True)\n"
               "print('up', flush=True)\n"
               "try:\n    time.sleep(60)\n"
               "finally:\n    s.run(['ip', 'netns', 'del', 'half-run'], check=True)\n")
    client = ("import sys\nfrom lab.kernel import warm\nfrom lab.kernel.uml import find_kernel\n"
              f"sys.exit(warm.run(['-c', {command!r}], kernel=find_kernel(), tag='ipl-test-int',"
              " mem='768M'))")
    env = dict(os.environ, **{STATE_VAR: str(state)})
    proc = subprocess.Popen([sys.executable, "-c", client], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline() == "up\n"
    proc.send_signal(2)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1 and "KeyboardInterrupt" in out, (out, err)
    assert "NOT CLEAN" not in err
    (where,) = list(warm.warm_root().iterdir())
    before = warm.keeper_info(where)
    assert before is not None
    code = "import os; print(os.listdir('/run/netns') if os.path.isdir('/run/netns') else [])"
    assert warm.run(["-c", code], kernel=warm_kernel, tag="ipl-test-int", mem="768M") == 0
    assert warm.keeper_info(where)["pid"] == before["pid"]
