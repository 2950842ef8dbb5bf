"""A little VICI client (strongSwan's control protocol): readiness and initiation
without forking swanctl on UML's one CPU."""

from __future__ import annotations

import socket
import struct

VICI_CMD_REQUEST, VICI_CMD_RESPONSE = 0, 1
VICI_SECTION_START, VICI_SECTION_END, VICI_KEY_VALUE = 1, 2, 3
VICI_LIST_START, VICI_LIST_ITEM, VICI_LIST_END = 4, 5, 6


def vici_packet(command: str, items: dict[str, str]) -> bytes:
    body = bytes([VICI_CMD_REQUEST, len(command)]) + command.encode()
    for key, value in items.items():
        raw = value.encode()
        body += bytes([VICI_KEY_VALUE, len(key)]) + key.encode() + struct.pack("!H", len(raw)) + raw
    return struct.pack("!I", len(body)) + body


def vici_values(message: bytes) -> dict[str, str]:
    """The top-level key/value pairs of a VICI message (what sections and lists hold is skipped)."""
    values: dict[str, str] = {}
    i, depth = 0, 0
    while i < len(message):
        kind = message[i]
        i += 1
        if kind in (VICI_SECTION_START, VICI_LIST_START, VICI_KEY_VALUE):
            name = message[i + 1:i + 1 + message[i]].decode(errors="replace")
            i += 1 + message[i]
            if kind != VICI_KEY_VALUE:
                depth += 1
                continue
            (size,) = struct.unpack_from("!H", message, i)
            if depth == 0:
                values[name] = message[i + 2:i + 2 + size].decode(errors="replace")
            i += 2 + size
        elif kind == VICI_LIST_ITEM:
            (size,) = struct.unpack_from("!H", message, i)
            i += 2 + size
        elif kind in (VICI_SECTION_END, VICI_LIST_END):
            depth -= 1
        else:
            break
    return values


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("VICI socket closed")
        data += chunk
    return data


def vici_response(sock: socket.socket) -> dict[str, str]:
    (size,) = struct.unpack("!I", _recv_exact(sock, 4))
    packet = _recv_exact(sock, size)
    if packet[0] != VICI_CMD_RESPONSE:
        raise ConnectionError(f"VICI answered with packet type {packet[0]}")
    return vici_values(packet[1:])
