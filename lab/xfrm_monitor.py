"""Kernel SA and policy events over XFRM netlink, in-process: what `ip xfrm monitor` shows,
for every peer namespace at once, each event stamped with the guest's monotonic time.

One thread reads a NETLINK_XFRM socket per namespace, bound to the SA, policy, expire
and acquire multicast groups. The lifecycle verdict reads each kernel's SA history from
it (which SPIs were installed when, and when they went), and the timeline prints it.
"""

from __future__ import annotations

import errno
import os
import select
import socket
import struct
import threading
import time
from dataclasses import dataclass, field, replace

from lab.topology.netns import socket_in
from lab.xfrm import (
    NETLINK_XFRM,
    NLMSG,
    SA,
    SA_INFO,
    XFRM_MSG_NEWPOLICY,
    XFRM_MSG_NEWSA,
    XFRMA_TMPL,
    attributes,
    parse_policy,
    parse_sa,
)

XFRM_MSG_DELSA, XFRM_MSG_DELPOLICY = 0x11, 0x14
XFRM_MSG_ACQUIRE, XFRM_MSG_EXPIRE = 0x17, 0x18
XFRM_MSG_UPDPOLICY, XFRM_MSG_UPDSA, XFRM_MSG_POLEXPIRE = 0x19, 0x1A, 0x1B
XFRM_MSG_FLUSHSA, XFRM_MSG_FLUSHPOLICY = 0x1C, 0x1D
XFRMA_SA, XFRMA_POLICY = 6, 7
#: XFRMNLGRP_ACQUIRE, _EXPIRE, _SA, _POLICY (groups 1..4)
GROUPS = 0b1111
_USERSA_ID = struct.Struct("=16s4sHB1x")
_USERPOLICY_ID_SIZE = 64  # xfrm_selector (56) + index + dir + padding


@dataclass(frozen=True)
class XfrmEvent:
    t: float  # guest-monotonic seconds
    side: str
    kind: str  # sa-add, sa-update, sa-del, sa-expire-soft, sa-expire-hard, policy-add, ...
    text: str
    sa: SA | None = None

    def line(self, origin: float = 0.0) -> str:
        return f"{self.t - origin:10.3f}  {self.side:<5}  kernel  {self.kind}: {self.text}"


def parse_event(side: str, t: float, mtype: int, body: bytes) -> XfrmEvent | None:
    """One netlink notification as an event (None for kinds the lab does not follow)."""
    if mtype in (XFRM_MSG_NEWSA, XFRM_MSG_UPDSA):
        sa = parse_sa(body)
        return XfrmEvent(t, side, "sa-add" if mtype == XFRM_MSG_NEWSA else "sa-update", str(sa), sa)
    if mtype == XFRM_MSG_DELSA:
        attrs = attributes(body[(_USERSA_ID.size + 3) & ~3:])
        if XFRMA_SA in attrs:
            sa = parse_sa(attrs[XFRMA_SA])
            return XfrmEvent(t, side, "sa-del", str(sa), sa)
        _daddr, spi, _family, proto = _USERSA_ID.unpack_from(body)
        return XfrmEvent(t, side, "sa-del", f"proto {proto} spi=0x{spi.hex()}")
    if mtype == XFRM_MSG_EXPIRE:
        sa = parse_sa(body)
        hard = body[SA_INFO.size] if len(body) > SA_INFO.size else 0
        return XfrmEvent(t, side, "sa-expire-hard" if hard else "sa-expire-soft", str(sa), sa)
    if mtype in (XFRM_MSG_NEWPOLICY, XFRM_MSG_UPDPOLICY):
        kind = "policy-add" if mtype == XFRM_MSG_NEWPOLICY else "policy-update"
        return XfrmEvent(t, side, kind, str(parse_policy(body)))
    if mtype == XFRM_MSG_DELPOLICY:
        attrs = attributes(body[_USERPOLICY_ID_SIZE:])
        text = "(by index)"
        if XFRMA_POLICY in attrs:  # the templates are the outer message's attributes
            text = str(replace(parse_policy(attrs[XFRMA_POLICY]), ipsec=XFRMA_TMPL in attrs))
        return XfrmEvent(t, side, "policy-del", text)
    if mtype == XFRM_MSG_POLEXPIRE:
        return XfrmEvent(t, side, "policy-expire", str(parse_policy(body)))
    if mtype == XFRM_MSG_ACQUIRE:
        return XfrmEvent(t, side, "acquire", "the kernel asks for an SA")
    if mtype == XFRM_MSG_FLUSHSA:
        return XfrmEvent(t, side, "sa-flush", "all SAs flushed")
    if mtype == XFRM_MSG_FLUSHPOLICY:
        return XfrmEvent(t, side, "policy-flush", "all policies flushed")
    return None


@dataclass
class SaLife:
    """One ESP SA in one kernel: when it came and when it went (None: still there)."""

    sa: SA
    added: float
    deleted: float | None = None


@dataclass
class XfrmMonitor:
    """Every XFRM event of the given {side: namespace}, until stop()."""

    namespaces: dict[str, str]
    events: list[XfrmEvent] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._socks: dict[int, tuple[str, socket.socket]] = {}
        for side, ns in self.namespaces.items():
            sock = socket_in(ns, socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC,
                             NETLINK_XFRM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
            sock.bind((0, GROUPS))
            self._socks[sock.fileno()] = (side, sock)
        self._wake_r, self._wake_w = os.pipe()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="xfrm monitor", daemon=True)

    def start(self) -> XfrmMonitor:
        self._thread.start()
        return self

    def _read(self, side: str, sock: socket.socket) -> None:
        try:
            data = sock.recv(1 << 20)
        except OSError as exc:
            if exc.errno == errno.ENOBUFS:  # the kernel dropped notifications
                self.problems.append(f"{side}: XFRM monitor overrun: some events were lost")
                return
            raise
        t = time.monotonic()
        while len(data) >= NLMSG.size:
            length, mtype, _flags, _seq, _pid = NLMSG.unpack_from(data)
            if length < NLMSG.size:
                break
            try:
                event = parse_event(side, t, mtype, data[NLMSG.size:length])
            except (struct.error, ValueError, IndexError) as exc:
                event = XfrmEvent(t, side, "unparsed", f"message type {mtype:#x}: {exc}")
            if event is not None:
                with self._lock:
                    self.events.append(event)
            data = data[(length + 3) & ~3:]

    def _loop(self) -> None:
        try:
            self._follow()
        except Exception as exc:  # the verdict names it: a monitor that died saw nothing more
            self.problems.append(f"XFRM monitor stopped: {type(exc).__name__}: {exc}")

    def _follow(self) -> None:
        while True:
            ready = select.select([*self._socks, self._wake_r], [], [])[0]
            for fd in ready:
                if fd != self._wake_r:
                    self._read(*self._socks[fd])
            if self._wake_r in ready:
                break
        while ready := select.select(list(self._socks), [], [], 0)[0]:  # what is queued
            for fd in ready:
                self._read(*self._socks[fd])

    def stop(self) -> list[XfrmEvent]:
        if self._thread.is_alive():
            os.write(self._wake_w, b"x")
            self._thread.join(10)
        for _side, sock in self._socks.values():
            sock.close()
        self._socks = {}
        if self._wake_w >= 0:
            os.close(self._wake_r)
            os.close(self._wake_w)
            self._wake_r = self._wake_w = -1
        return self.events

    def snapshot(self) -> list[XfrmEvent]:
        with self._lock:
            return list(self.events)

    def lives(self, side: str) -> dict[int, SaLife]:
        """Each ESP SPI the side's kernel held, with when it came and went."""
        out: dict[int, SaLife] = {}
        for e in self.snapshot():
            if e.side != side or e.sa is None or e.sa.proto != "esp":
                continue
            if e.kind == "sa-add" or (e.kind == "sa-update" and e.sa.spi not in out):
                out[e.sa.spi] = SaLife(e.sa, e.t)
            elif e.kind == "sa-del" and e.sa.spi in out:
                out[e.sa.spi].deleted = e.t
        return out
