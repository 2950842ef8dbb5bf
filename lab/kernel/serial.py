"""The byte channel over a UML serial line, with flow control.

UML's serial driver stalls for good once more than about 4 KiB arrive before the
guest reads them (the tty throttles and never resumes). So the host never has
more than WINDOW bytes in flight: the guest acknowledges every byte it has
moved out of the tty. Host to guest: plain bytes. Guest to host: frames of
``kind (1 byte) | length (2 bytes, big-endian) | payload``, where kind ``D``
carries the program's output and ``A`` a 4-byte count of bytes acknowledged.
"""

from __future__ import annotations

import errno
import os
import select
import struct
from collections.abc import Callable

WINDOW = 2048
CHUNK = 1024
READY = b"\0ipsec-lab-guest-ready\n"
_HEAD = struct.Struct(">cH")


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view):]
        except BlockingIOError:
            select.select([], [fd], [])


def frame(kind: bytes, payload: bytes) -> bytes:
    return _HEAD.pack(kind, len(payload)) + payload


def _read(fd: int) -> bytes:
    try:
        return os.read(fd, 65536)
    except BlockingIOError:
        return b"?"  # spurious wake-up; callers treat b"?" as "nothing yet"
    except OSError as exc:
        if exc.errno == errno.EIO:  # a hung-up tty
            return b""
        raise


def host_relay(stdin: int, stdout: int, to_guest: int, from_guest: int) -> None:
    """Relay between our stdin/stdout and the guest until the guest closes the line."""
    credit, buf, stdin_open = WINDOW, b"", True
    while True:
        wanted = [from_guest] + ([stdin] if stdin_open and credit > 0 else [])
        readable, _, _ = select.select(wanted, [], [])
        if from_guest in readable:
            data = _read(from_guest)
            if not data:
                return
            if data != b"?":
                buf += data
            while len(buf) >= _HEAD.size:
                kind, length = _HEAD.unpack_from(buf)
                if len(buf) < _HEAD.size + length:
                    break
                payload, buf = buf[_HEAD.size:_HEAD.size + length], buf[_HEAD.size + length:]
                if kind == b"D":
                    write_all(stdout, payload)
                elif kind == b"A":
                    credit += struct.unpack(">I", payload)[0]
        if stdin in readable and stdin_open and credit > 0:
            data = os.read(stdin, min(credit, CHUNK))
            if not data:
                stdin_open = False
                os.close(to_guest)  # the guest's program reads end of file
                continue
            credit -= len(data)
            write_all(to_guest, data)


def guest_relay(serial: int, to_program: int, from_program: int,
                idle: Callable[[], None], write_fd: int | None = None, poll: float = 0.5) -> None:
    """Relay between the serial line and the program's pipes; ``idle`` runs between waits,
    at least every ``poll`` seconds.

    ``write_fd`` is the line's sending side where it is not ``serial`` itself (tests)."""
    out = serial if write_fd is None else write_fd
    line_open, line_alive, program_open = True, True, True

    def send(kind: bytes, payload: bytes) -> None:
        nonlocal line_alive
        if line_alive:
            try:
                write_all(out, frame(kind, payload))
            except OSError:  # the host hung up: keep draining the program until it ends
                line_alive = False

    while program_open:
        wanted = [from_program] + ([serial] if line_open else [])
        readable, _, _ = select.select(wanted, [], [], poll)
        idle()
        if serial in readable:
            data = _read(serial)
            if not data:
                line_open = False
                os.close(to_program)
            elif data != b"?":
                write_all(to_program, data)
                send(b"A", struct.pack(">I", len(data)))
        if from_program in readable:
            data = _read(from_program)
            if not data:
                program_open = False
            elif data != b"?":
                for i in range(0, len(data), 60000):
                    send(b"D", data[i:i + 60000])
