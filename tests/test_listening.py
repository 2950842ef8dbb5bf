"""Before anything is initiated both daemons listen for IKE: read from /proc/PID/net."""

from __future__ import annotations

from pathlib import Path

from lab.daemons.base import udp_bound

HEADER = "  sl  local_address                         remote_address                        st\n"


def _proc(tmp_path: Path, udp: list[str], udp6: list[str]) -> Path:
    net = tmp_path / "42" / "net"
    net.mkdir(parents=True)
    (net / "udp").write_text(HEADER + "".join(f"   0: {a} 00000000:0000 07\n" for a in udp))
    (net / "udp6").write_text(HEADER + "".join(
        f"   0: {a} 00000000000000000000000000000000:0000 07\n" for a in udp6))
    return tmp_path


def test_pluto_bound_to_its_ipv6_address(tmp_path: Path) -> None:
    # 2001:db8:2:2::2 port 500, as the kernel prints it on x86 (words in host order)
    proc = _proc(tmp_path, [], ["B80D0120020002000000000002000000:01F4"])
    assert udp_bound(42, "2001:db8:2:2::2", proc=proc)
    assert not udp_bound(42, "2001:db8:1:1::1", proc=proc)
    assert not udp_bound(42, "2001:db8:2:2::2", port=4500, proc=proc)


def test_a_wildcard_socket_counts_and_another_port_does_not(tmp_path: Path) -> None:
    proc = _proc(tmp_path, ["00000000:01F4"], ["00000000000000000000000000000000:1194"])
    assert udp_bound(42, "192.0.2.1", proc=proc)
    assert not udp_bound(42, "2001:db8:2:2::2", proc=proc)


def test_ipv4_bound_to_its_address(tmp_path: Path) -> None:
    proc = _proc(tmp_path, ["010200C0:01F4"], [])  # 192.0.2.1:500
    assert udp_bound(42, "192.0.2.1", proc=proc)
    assert not udp_bound(42, "192.0.2.2", proc=proc)


def test_no_such_process_is_not_listening(tmp_path: Path) -> None:
    assert not udp_bound(7, "192.0.2.1", proc=tmp_path)


def test_a_daemon_that_never_listens_fails_the_wait_naming_it(tmp_path: Path) -> None:
    """Broken on purpose with a real process and the real /proc: a 'daemon' (sleep) that
    never binds port 500 ends the wait with the daemon, the address and the port."""
    import subprocess
    import types

    import pytest

    from lab.daemons.base import Daemon
    from lab.errors import DaemonError

    proc = subprocess.Popen(["sleep", "30"])
    try:
        fake = types.SimpleNamespace(name="libreswan", side="right", proc=proc, stopped=False,
                                     peer=types.SimpleNamespace(address="2001:db8:2:2::2"))
        fake.crashed = lambda: None
        fake.wait_ready = types.MethodType(Daemon.wait_ready, fake)
        with pytest.raises(DaemonError, match=r"libreswan \(right\) listening for IKE on "
                           r"2001:db8:2:2::2 port 500: not reached within 0.3 s"):
            Daemon.wait_listening(fake, deadline=0.3)  # type: ignore[arg-type]
    finally:
        proc.kill()
        proc.wait()


def test_the_real_proc_table_sees_a_bound_socket_and_its_end() -> None:
    import os
    import socket

    # the wildcard address: a UML guest's own loopback is down, ::1 cannot be bound there
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
        s.bind(("::", 0))
        port = s.getsockname()[1]
        assert udp_bound(os.getpid(), "2001:db8:2:2::2", port=port)
    assert not udp_bound(os.getpid(), "2001:db8:2:2::2", port=port)
