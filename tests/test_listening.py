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
