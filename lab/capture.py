"""Capture on the wire, in-process: AF_PACKET sockets in the peers' namespaces.

What is on the wire is what the peers transmit, so each peer's socket keeps only
its outgoing frames. (An incoming tunnel-mode ESP packet is decapsulated and
delivered on the same interface again; a receive-side capture would show the
inner packet as if it had crossed the wire in clear text.) Frames are written as
a classic pcap; the verdict parses them itself (lab.packets), scapy is needed
only to decrypt.
"""

from __future__ import annotations

import select
import socket
import struct
import threading
import time
from pathlib import Path

from lab.netns import socket_in

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4


class Capture:
    """Every frame the given namespaces send on ``iface``."""

    def __init__(self, namespaces: list[str], iface: str) -> None:
        self.frames: list[tuple[float, bytes]] = []
        self._stop = threading.Event()
        self._socks = []
        for netns in namespaces:
            sock = socket_in(netns, socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
            sock.bind((iface, ETH_P_ALL))
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
            self._socks.append(sock)
        self._thread = threading.Thread(target=self._loop, name="capture", daemon=True)

    def start(self) -> Capture:
        self._thread.start()
        return self

    def _loop(self) -> None:
        while True:
            ready = select.select(self._socks, [], [], 0.05)[0]
            for sock in ready:
                raw, addr = sock.recvfrom(65535)
                if addr[2] == PACKET_OUTGOING:
                    self.frames.append((time.time(), raw))
            if not ready and self._stop.is_set():
                return

    def stop(self) -> list[tuple[float, bytes]]:
        """Stop after draining what the sockets already hold."""
        if self._thread.is_alive():
            self._stop.set()
            self._thread.join(5)
        for sock in self._socks:
            sock.close()
        self.frames.sort(key=lambda f: f[0])
        return self.frames

    def write_pcap(self, path: Path) -> Path:
        write_pcap(path, self.frames)
        return path


def write_pcap(path: Path, frames: list[tuple[float, bytes]]) -> None:
    """A classic pcap file (link type Ethernet, microsecond timestamps)."""
    with open(path, "wb") as f:
        f.write(struct.pack("=IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for ts, raw in frames:
            sec = int(ts)
            f.write(struct.pack("=IIII", sec, int((ts - sec) * 1e6), len(raw), len(raw)))
            f.write(raw)


def read_pcap(path: Path) -> list[tuple[float, bytes]]:
    data = Path(path).read_bytes()
    frames, off = [], 24
    while off + 16 <= len(data):
        sec, usec, incl, _ = struct.unpack_from("=IIII", data, off)
        frames.append((sec + usec / 1e6, data[off + 16:off + 16 + incl]))
        off += 16 + incl
    return frames
