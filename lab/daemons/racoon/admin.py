"""racoon's admin socket (``adminsock``), the way racoonctl speaks to it.

A request is one header in host byte order, four 16-bit fields: the total length
(header and data), the command, an error number (0 in a request) and the protocol the
command is about; racoon answers with a header of the same shape, the error number
set, and ``length - 8`` bytes of data. The readiness probe asks ``show-sa isakmp``
(racoonctl's `show-sa isakmp`): it changes nothing, and racoon answers it at once.
A client that connects and sends nothing makes racoon log "invalid header length of
admin command"; this one never does.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass
from pathlib import Path

HEADER = struct.Struct("=HHhH")  # ac_len, ac_cmd, ac_errno, ac_proto
SHOW_SA = 0x0101
PROTO_ISAKMP = 0x01FF
#: ipsec-tools 0.9's `racoonctl status -v -f json`: the command, and JSON as its "protocol"
STATUS_VERBOSE = 0x0104
FORMAT_JSON = 1


@dataclass(frozen=True)
class Reply:
    length: int
    command: int
    errno: int
    data: bytes


def request(command: int, proto: int = 0, data: bytes = b"") -> bytes:
    return HEADER.pack(HEADER.size + len(data), command, 0, proto) + data


def parse_header(raw: bytes) -> tuple[int, int, int]:
    """(total length, command, error number) of a reply header."""
    if len(raw) != HEADER.size:
        raise ValueError(f"racoon admin reply: {len(raw)}-byte header, expected {HEADER.size}")
    length, command, errno, _proto = HEADER.unpack(raw)
    if length < HEADER.size:
        raise ValueError(f"racoon admin reply: length {length} is shorter than its header")
    return length, command, errno


def _read(conn: socket.socket, size: int) -> bytes:
    buf = b""
    while len(buf) < size:
        chunk = conn.recv(size - len(buf))
        if not chunk:
            raise ConnectionError(f"racoon admin socket closed after {len(buf)} of {size} bytes")
        buf += chunk
    return buf


def call(path: Path, command: int, proto: int = 0, timeout: float = 2.0) -> Reply:
    """Send one command over the admin socket at ``path`` and read the whole reply."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(timeout)
        conn.connect(str(path))
        conn.sendall(request(command, proto))
        length, cmd, errno = parse_header(_read(conn, HEADER.size))
        data = _read(conn, length - HEADER.size)
    return Reply(length, cmd, errno, data)


def status_json(path: Path, timeout: float = 2.0) -> str:
    """racoon 0.9's own account of its phase 1 and phase 2 SAs, as JSON text (what
    `racoonctl status -v -f json` prints); OSError or ValueError where it does not answer."""
    reply = call(path, STATUS_VERBOSE, FORMAT_JSON, timeout)
    if reply.errno != 0 or reply.command != STATUS_VERBOSE:
        raise ValueError(f"racoon admin status: error {reply.errno} (command {reply.command:#x})")
    return reply.data.rstrip(b"\0").decode(errors="replace")


def answers(path: Path, timeout: float = 2.0) -> bool:
    """True if racoon answers `show-sa isakmp` on ``path`` (its readiness test)."""
    try:
        reply = call(path, SHOW_SA, PROTO_ISAKMP, timeout)
    except (OSError, ValueError):
        return False
    return reply.command == SHOW_SA and reply.errno == 0
