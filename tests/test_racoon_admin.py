"""racoon's admin protocol: the readiness probe sends one valid command and reads the answer.

racoon is not installed on the machines this is written on; the fake below follows
racoon's side of the protocol: it reads exactly one 8-byte header and checks it, as
racoon's admin handler does (a shorter one is its "invalid header length" error).
"""

from __future__ import annotations

import socket
import struct
import threading
from pathlib import Path

import pytest

from lab.daemons.racoon import admin


def _fake_racoon(path: Path, seen: list[bytes], reply_errno: int = 0,
                 data: bytes = b"") -> threading.Thread:
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(1)

    def serve() -> None:
        conn, _ = server.accept()
        with conn, server:
            conn.settimeout(2)
            header = b""
            while len(header) < 8:
                chunk = conn.recv(8 - len(header))
                if not chunk:
                    break
                header += chunk
            seen.append(header)
            if len(header) != 8:
                return  # racoon: "invalid header length of admin command"
            _length, cmd, _errno, proto = struct.unpack("=HHhH", header)
            conn.sendall(struct.pack("=HHhH", 8 + len(data), cmd, reply_errno, proto) + data)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return thread


@pytest.fixture
def sock(tmp_path: Path) -> Path:
    return tmp_path / "racoon.sock"


def test_probe_sends_show_sa_isakmp_and_reads_the_answer(sock: Path) -> None:
    seen: list[bytes] = []
    thread = _fake_racoon(sock, seen, data=b"x" * 300)
    assert admin.answers(sock)
    thread.join(2)
    assert seen == [struct.pack("=HHhH", 8, 0x0101, 0, 0x01FF)]


def test_an_error_answer_is_not_ready(sock: Path) -> None:
    _fake_racoon(sock, [], reply_errno=-1)
    assert not admin.answers(sock)


def test_no_socket_or_a_silent_one_is_not_ready(tmp_path: Path, sock: Path) -> None:
    assert not admin.answers(tmp_path / "nothing.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(sock))
    server.listen(1)
    with server:
        assert not admin.answers(sock, timeout=0.3)


def test_reply_header_checks() -> None:
    with pytest.raises(ValueError, match="4-byte header"):
        admin.parse_header(b"\0" * 4)
    with pytest.raises(ValueError, match="shorter than its header"):
        admin.parse_header(struct.pack("=HHhH", 3, 0x0101, 0, 0))
    assert admin.parse_header(struct.pack("=HHhH", 20, 0x0101, 0, 0x01FF)) == (20, 0x0101, 0)


def test_cli_asks_pfkey_of_the_chosen_kernel_not_of_the_host(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """On a host without PF_KEY, `ipsec-lab run --left racoon` must not refuse before it
    has chosen UML: the host-side check leaves PF_KEY to the kernel that holds the SAs."""
    from lab.cli import main as cli
    from lab.daemons.racoon import traits
    from lab.daemons.registry import cannot_run
    from lab.scenario import seed_scenario

    for exe in ("racoon", "setkey"):
        (tmp_path / exe).write_text("#!/bin/sh\nexit 0\n")
        (tmp_path / exe).chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    monkeypatch.setattr(traits, "PFKEY_PROC", tmp_path / "no-pfkey")
    s = seed_scenario(ike_version=1, ike="aes128-sha1-modp2048", flavor="racoon")
    assert cli._cannot_run(s) is None
    assert "the running kernel has no PF_KEY" in (cannot_run(s, "t") or "")
