"""A little VICI client (strongSwan's control protocol): readiness, initiation, the
SA listing and termination without forking swanctl on UML's one CPU."""

from __future__ import annotations

import socket
import struct

VICI_CMD_REQUEST, VICI_CMD_RESPONSE, VICI_CMD_UNKNOWN = 0, 1, 2
VICI_EVENT_REGISTER, VICI_EVENT_UNREGISTER, VICI_EVENT_CONFIRM = 3, 4, 5
VICI_EVENT_UNKNOWN, VICI_EVENT = 6, 7
VICI_SECTION_START, VICI_SECTION_END, VICI_KEY_VALUE = 1, 2, 3
VICI_LIST_START, VICI_LIST_ITEM, VICI_LIST_END = 4, 5, 6


def vici_packet(command: str, items: dict[str, str]) -> bytes:
    body = bytes([VICI_CMD_REQUEST, len(command)]) + command.encode()
    for key, value in items.items():
        raw = value.encode()
        body += bytes([VICI_KEY_VALUE, len(key)]) + key.encode() + struct.pack("!H", len(raw)) + raw
    return struct.pack("!I", len(body)) + body


#: a decoded VICI message: sections are dicts, lists are lists of strings
Message = dict[str, "str | list[str] | Message"]


def vici_decode(message: bytes) -> Message:
    """A whole VICI message, sections and lists included."""
    root: Message = {}
    stack: list[Message] = [root]
    current_list: list[str] | None = None
    i = 0
    while i < len(message):
        kind = message[i]
        i += 1
        if kind in (VICI_SECTION_START, VICI_LIST_START, VICI_KEY_VALUE):
            name = message[i + 1:i + 1 + message[i]].decode(errors="replace")
            i += 1 + message[i]
            if kind == VICI_SECTION_START:
                section: Message = {}
                stack[-1][name] = section
                stack.append(section)
            elif kind == VICI_LIST_START:
                current_list = []
                stack[-1][name] = current_list
            else:
                (size,) = struct.unpack_from("!H", message, i)
                stack[-1][name] = message[i + 2:i + 2 + size].decode(errors="replace")
                i += 2 + size
        elif kind == VICI_LIST_ITEM:
            (size,) = struct.unpack_from("!H", message, i)
            if current_list is not None:
                current_list.append(message[i + 2:i + 2 + size].decode(errors="replace"))
            i += 2 + size
        elif kind == VICI_LIST_END:
            current_list = None
        elif kind == VICI_SECTION_END and len(stack) > 1:
            stack.pop()
        else:
            raise ValueError(f"VICI message: unexpected element type {kind} at byte {i - 1}")
    return root


def vici_values(message: bytes) -> dict[str, str]:
    """The top-level key/value pairs of a VICI message (sections and lists left out)."""
    return {k: v for k, v in vici_decode(message).items() if isinstance(v, str)}


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


def _named(kind: int, name: str) -> bytes:
    body = bytes([kind, len(name)]) + name.encode()
    return struct.pack("!I", len(body)) + body


def _packet(sock: socket.socket) -> bytes:
    (size,) = struct.unpack("!I", _recv_exact(sock, 4))
    return _recv_exact(sock, size)


def vici_stream(sock: socket.socket, command: str, items: dict[str, str],
                event: str) -> tuple[list[bytes], dict[str, str]]:
    """Send ``command`` with ``event`` registered: the raw messages of the events it
    streams (e.g. list-sas streams one ``list-sa`` event per IKE SA), then its response."""
    sock.sendall(_named(VICI_EVENT_REGISTER, event))
    answer = _packet(sock)
    if answer[0] != VICI_EVENT_CONFIRM:
        raise ConnectionError(f"VICI refused to register event {event!r} (packet type {answer[0]})")
    sock.sendall(vici_packet(command, items))
    events: list[bytes] = []
    while True:
        packet = _packet(sock)
        if packet[0] == VICI_EVENT:
            events.append(packet[2 + packet[1]:])
        elif packet[0] == VICI_CMD_RESPONSE:
            return events, vici_values(packet[1:])
        else:
            raise ConnectionError(f"VICI answered {command!r} with packet type {packet[0]}")
