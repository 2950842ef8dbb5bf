"""Continuous traffic, in-process: echo requests every few milliseconds for the whole life
of a lifecycle cell, each one's fate recorded with its time.

One thread sends an ICMP or ICMPv6 echo request every ``interval`` seconds and reads the
replies as they come; a request without a reply within ``timeout`` is a loss. Times are
the guest's monotonic clock (under UML time-travel it jumps with the guest's idle time,
and so do the deadlines). The stream lives in one network namespace and sends from the
initiator's traffic end to the responder's, as `lab.wire.traffic.ping` does.
"""

from __future__ import annotations

import ipaddress
import os
import select
import socket
import struct
import threading
import time
from dataclasses import dataclass, field

from lab.topology.netns import socket_in
from lab.wire.traffic import ECHO, echo_request

#: seconds between two echo requests, and how long one may wait for its reply
INTERVAL, TIMEOUT = 0.02, 1.0
PAYLOAD = b"ipsec-lab stream "


@dataclass(frozen=True)
class Loss:
    """One echo request that got no reply in time: its sequence number and when it left
    (seconds of guest-monotonic time)."""

    seq: int
    sent: float

    def __str__(self) -> str:
        return f"echo seq {self.seq} sent at {self.sent:.3f}"


@dataclass
class StreamResult:
    ident: int
    family: int
    src: str | None
    dst: str
    started: float = 0.0
    stopped: float = 0.0
    sent: dict[int, float] = field(default_factory=dict)  # seq -> when it left
    answered: dict[int, float] = field(default_factory=dict)  # seq -> when its reply came
    errors: list[tuple[float, str]] = field(default_factory=list)  # sendto() refused
    #: held by the stream's thread while it changes ``sent`` and ``answered``, and by the
    #: readers below while they copy them: a cell reads the stream while it runs
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def record_sent(self, seq: int, at: float) -> None:
        """Request ``seq`` left at ``at``; a wrapped sequence number starts afresh."""
        with self.lock:
            self.answered.pop(seq, None)
            self.sent[seq] = at

    def record_answer(self, seq: int, at: float) -> None:
        """The reply to ``seq`` came at ``at`` (only the first, only to a request sent)."""
        with self.lock:
            if seq in self.sent and seq not in self.answered:
                self.answered[seq] = at

    def _copies(self) -> tuple[dict[int, float], dict[int, float]]:
        with self.lock:
            return dict(self.sent), dict(self.answered)

    def losses(self, until: float | None = None) -> list[Loss]:
        """Requests without a reply that left before ``until`` (default: all of them but
        those still within their timeout when the stream stopped)."""
        end = self.stopped - TIMEOUT if until is None else until
        sent, answered = self._copies()
        return [Loss(seq, at) for seq, at in sorted(sent.items(), key=lambda kv: kv[1])
                if seq not in answered and at <= end]

    def in_flight(self, at: float) -> float:
        """When the oldest request still on its way at ``at`` left: one without a reply by
        then, sent within the longest round trip answered so far (an event at ``at`` takes
        its reply with it); ``at`` when there is none."""
        sent, answered = self._copies()
        rtt = max((answered[seq] - sent[seq] for seq in answered
                   if seq in sent and answered[seq] <= at), default=0.0)
        waiting = [t for seq, t in sent.items()
                   if at - rtt <= t <= at and not (seq in answered and answered[seq] <= at)]
        return min(waiting, default=at)

    def between(self, start: float, end: float) -> tuple[int, int]:
        """(requests sent, of them answered) in [start, end)."""
        sent, answered = self._copies()
        inside = [seq for seq, at in sent.items() if start <= at < end]
        return len(inside), sum(seq in answered for seq in inside)

    def first_answer_after(self, t: float) -> float | None:
        """When the first request sent at or after ``t`` that was answered left."""
        sent, answered = self._copies()
        times = [sent[seq] for seq in answered if seq in sent and sent[seq] >= t]
        return min(times) if times else None

    def __str__(self) -> str:
        lost = self.losses()
        return (f"echo stream {self.src or ''} > {self.dst} id=0x{self.ident:04x}:"
                f" {len(self.sent)} sent over {self.stopped - self.started:.1f} s,"
                f" {len(self.answered)} answered, {len(lost)} lost")


class EchoStream:
    """Echo requests from ``netns`` to ``dst`` every ``interval`` s until stop()."""

    def __init__(self, netns: str, dst: str, src: str | None = None, interval: float = INTERVAL,
                 ident: int | None = None) -> None:
        family = ipaddress.ip_address(dst).version
        self.interval = interval
        self.result = StreamResult(ident=(os.getpid() + 1) & 0xFFFF if ident is None else ident,
                                   family=family, src=src, dst=dst)
        af, proto = ((socket.AF_INET6, socket.IPPROTO_ICMPV6) if family == 6
                     else (socket.AF_INET, socket.IPPROTO_ICMP))
        self._sock = socket_in(netns, af, socket.SOCK_RAW, proto)
        if src:
            self._sock.bind((src, 0))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="echo stream", daemon=True)

    def start(self) -> EchoStream:
        self.result.started = time.monotonic()
        self._thread.start()
        return self

    def _receive(self) -> None:
        data = self._sock.recv(2048)
        if self.result.family == 4:  # raw IPv4 sockets receive the IP header too
            data = data[(data[0] & 0x0F) * 4:]
        if len(data) < 8:
            return
        kind, _code, _sum, ident, seq = struct.unpack_from("!BBHHH", data)
        if kind == ECHO[self.result.family][1] and ident == self.result.ident:
            self.result.record_answer(seq, time.monotonic())

    def _loop(self) -> None:
        r, seq = self.result, 0
        next_at = time.monotonic()
        while not self._stop.is_set():
            now = time.monotonic()
            if now >= next_at:
                seq = seq % 0xFFFF + 1
                try:
                    self._sock.sendto(echo_request(r.family, r.ident, seq, PAYLOAD),
                                      (r.dst, 0))
                except OSError as exc:  # e.g. EAGAIN while an SA is being acquired
                    r.errors.append((now, f"seq {seq}: {exc.strerror or exc}"))
                r.record_sent(seq, now)
                next_at += self.interval
                if next_at < now:  # the thread was starved: no burst to catch up
                    next_at = now + self.interval
            if select.select([self._sock], [], [], max(0.0, next_at - time.monotonic()))[0]:
                self._receive()
        end = time.monotonic() + TIMEOUT  # the last requests' replies
        while (left := end - time.monotonic()) > 0 and len(r.answered) < len(r.sent):
            if select.select([self._sock], [], [], left)[0]:
                self._receive()

    def stop(self) -> StreamResult:
        if self._thread.is_alive():
            self._stop.set()
            self._thread.join(TIMEOUT + 5)
        self.result.stopped = time.monotonic()
        self._sock.close()
        return self.result
