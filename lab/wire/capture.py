"""Capture on the wire, in-process: AF_PACKET sockets in the peers' namespaces.

What is on the wire is what the peers transmit, so each peer's socket keeps only
its outgoing frames. (An incoming tunnel-mode ESP packet is decapsulated and
delivered on the same interface again; a receive-side capture would show the
inner packet as if it had crossed the wire in clear text.) scapy writes and reads
the pcap files and dissects the frames (lab.wire.packets) once the capture stops. (Dissecting
in the capture thread while the cell ran was measured: inside UML's one CPU it took
the daemons' time, and a whole cell got 1.2-1.5 s slower; ci/bench.py.)
"""

from __future__ import annotations

import errno
import os
import select
import socket
import threading
import time
from pathlib import Path

from lab.topology.netns import socket_in
from lab.wire.packets import Packet, parse_all

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
#: seconds stop() waits for the capture thread (it only drains the sockets)
STOP_DEADLINE = 10.0


class Capture:
    """Every frame sent on the given (namespace, interface) points."""

    def __init__(self, points: list[tuple[str, str]]) -> None:
        self.frames: list[tuple[float, bytes]] = []
        self.packets: list[Packet] = []
        self._socks = []
        for netns, iface in points:
            sock = socket_in(netns, socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
            sock.bind((iface, ETH_P_ALL))
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
            self._socks.append(sock)
        # stop() writes here: the loop wakes at once instead of at its next timeout
        self._wake_r, self._wake_w = os.pipe()
        self._thread = threading.Thread(target=self._loop, name="capture", daemon=True)

    def start(self) -> Capture:
        self._thread.start()
        return self

    def _receive(self, socks: list[socket.socket]) -> None:
        for sock in socks:
            try:
                raw, addr = sock.recvfrom(65535)
            except OSError as exc:  # its link went down (a dpd cell's peer vanishing): the
                if exc.errno == errno.ENETDOWN:  # socket said so once, and captures on
                    continue
                raise
            if addr[2] == PACKET_OUTGOING:
                self.frames.append((time.time(), raw))

    def _loop(self) -> None:
        while True:
            ready = select.select([*self._socks, self._wake_r], [], [])[0]
            self._receive([s for s in ready if s is not self._wake_r])
            if self._wake_r in ready:
                break
        while ready := select.select(self._socks, [], [], 0)[0]:  # drain what is queued
            self._receive(ready)

    def stop(self) -> list[tuple[float, bytes]]:
        """Stop after draining what the sockets already hold, then dissect every frame."""
        if self._thread.is_alive():
            os.write(self._wake_w, b"x")
            self._thread.join(STOP_DEADLINE)
            if self._thread.is_alive():
                raise OSError(f"capture: the capture thread did not stop in {STOP_DEADLINE:g} s")
        for sock in self._socks:
            sock.close()
        self._socks = []
        if self._wake_w >= 0:  # once: a second close could hit a reused descriptor
            os.close(self._wake_r)
            os.close(self._wake_w)
            self._wake_r = self._wake_w = -1
        if not self.packets:  # once
            self.frames.sort(key=lambda f: f[0])
            self.packets = parse_all(self.frames)
        return self.frames

    def write_pcap(self, path: Path) -> Path:
        write_pcap(path, self.frames)
        return path


def write_pcap(path: Path, frames: list[tuple[float, bytes]]) -> None:
    """A classic pcap file (link type Ethernet, microsecond timestamps)."""
    from scapy.data import DLT_EN10MB
    from scapy.utils import RawPcapWriter

    with RawPcapWriter(str(path), linktype=DLT_EN10MB) as writer:
        writer.write_header(None)  # also when no frame follows: still a pcap file
        for ts, raw in frames:
            writer.write_packet(raw, sec=ts)


def read_pcap(path: Path) -> list[tuple[float, bytes]]:
    from scapy.utils import RawPcapReader

    with RawPcapReader(str(path)) as reader:
        return [(meta.sec + meta.usec / 1e6, raw) for raw, meta in reader]
