"""One cell, end to end: scenario -> configs -> namespaces -> daemons -> SAs ->
traffic and capture -> verdict -> artifacts. The pytest fixtures and the command
line both drive this class; each phase is timed for the benchmark."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from lab import run as runner
from lab import teardown, xfrm
from lab.artifacts import RunDir
from lab.daemons.base import Daemon, PeerContext
from lab.daemons.registry import daemon_class
from lab.errors import DaemonError, DeadlineError, LabError, NegotiationError, VerdictError
from lab.flavors import parse_flavor, require
from lab.lifecycle.record import DaemonLog, Record
from lab.logcheck import MISSING, judge_log
from lab.negotiated import Negotiated, Problem, Side
from lab.negotiated import check as check_negotiated
from lab.outcome import ESTABLISHED, OTHER_MODE, Outcome, established, most_specific
from lab.scenario import SIDES, Scenario, other_side
from lab.topology import impair
from lab.topology.build import Topology
from lab.wire import blocked, esplength, nat, pathcheck, retransmit, selectors
from lab.wire.capture import Capture
from lab.wire.decrypt import Decryption, decrypt, write_esp_sa
from lab.wire.traffic import PingResult, ping
from lab.wire.verdict import Verdict, judge
from lab.xfrm_monitor import XfrmMonitor

#: seconds a log_must line that is not there yet is waited for
LOG_GRACE = 3.0


class Pool(Protocol):
    """Kept namespaces and daemons (lab.warm.WarmPool) that bring a cell up instead."""

    def up(self, cell: Cell) -> None: ...


@dataclass
class Cell:
    scenario: Scenario
    tag: str
    ident: str
    cache: Path
    negotiate_deadline: float = 20.0
    delete_deadline: float = 5.0
    timings: dict[str, float] = field(default_factory=dict)
    #: the negotiation's deadline where the path loses or delays packets: charon retransmits
    #: after 4, 11.2, 24.2, 47.5 and 89.5 s (measured: one loss20 cell took 51.6 s), so
    #: its 6th try fits
    path_deadline: float = 120.0
    #: where the cell's namespaces and daemons come from when they are kept (lab.warm)
    warm: Pool | None = None
    #: set by whoever ran the cell before down(): a kept daemon serves the next cell only
    #: after a cell that passed
    passed: bool = False

    def __post_init__(self) -> None:
        self.topology = Topology(self.scenario, self.ident, self.tag)
        if self.scenario.path.netem or self.scenario.path.drop_ike:
            self.negotiate_deadline = max(self.negotiate_deadline, self.path_deadline)
        #: the NAT's public address -> the initiator's own (lab.wire.nat); empty without NAT
        self.inside = nat.inside(self.scenario)
        #: seconds from the initiate command to both kernels holding the SAs
        self.established_in: float | None = None
        self.ike_counts: dict[str, retransmit.IkeCount] = {}
        self.workdir = Path(tempfile.gettempdir()) / f"ipl-{self.ident}"
        self.daemons: dict[str, Daemon] = {}
        self.capture: Capture | None = None
        self.ping: PingResult | None = None
        self.sas: dict[str, list[xfrm.SA]] = {}  # as the checks read them (through the NAT)
        self.kernel_sas: dict[str, list[xfrm.SA]] = {}  # as the kernels hold them
        self.verdict: Verdict | None = None
        self.decryption: Decryption | None = None
        self.negotiated: Negotiated | None = None
        self.baseline: dict[str, set[xfrm.Policy]] = {}
        self.outcome: Outcome | None = None
        #: a lifecycle cell's XFRM events, echo stream and actions (lab.lifecycle)
        self.record: Record | None = None
        #: the sides whose daemons deleted the connection (the teardown check)
        self.deleted: tuple[str, ...] = ()
        #: the must_not_pass probes' results (lab.wire.blocked)
        self.probes: list[blocked.ProbeResult] = []
        self._stack = contextlib.ExitStack()

    # -- phases ---------------------------------------------------------------
    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        started = time.monotonic()
        try:
            yield
        finally:
            self.timings[name] = self.timings.get(name, 0.0) + time.monotonic() - started

    def build(self) -> None:
        """Render every peer's files (pure, no namespace needed)."""
        for side in SIDES:
            flavor = parse_flavor(self.scenario.peer(side).flavor, f"{side}.flavor")
            require(flavor)
            ctx = PeerContext(side=side, netns=self.topology.netns(side),
                              dir=self.workdir / side, flavor=flavor, tag=self.tag,
                              cache=self.cache)
            self.daemons[side] = daemon_class(flavor.impl)(self.scenario, ctx)

    def up(self) -> None:
        """Namespaces, link, capture, daemons started and loaded."""
        if self.warm is not None:
            self.warm.up(self)
            return
        with self.phase("configs"):
            # A fresh 0700 directory with an unguessable name (its prefix names the owner).
            self.workdir = Path(tempfile.mkdtemp(prefix=f"ipl-{self.ident}-"))
            self._stack.callback(shutil.rmtree, self.workdir, ignore_errors=True)
            self.build()
            for daemon in self.daemons.values():
                daemon.ctx.dir.mkdir()
                daemon.write()
        with self.phase("topology"):
            self._stack.callback(self.topology.down)
            self.topology.up()
            self.capture = Capture(self.topology.capture_points()).start()
            self._stack.callback(self.capture.stop)
            if self.scenario.lifecycle != "none":  # every SA the daemons will install
                monitor = XfrmMonitor({side: self.topology.netns(side) for side in SIDES})
                self.record = Record(monitor.start())
                self._stack.callback(monitor.stop)
        with self.phase("daemon start"):
            with self.phase("start: launch"):
                for side in SIDES:  # both launched first: one waits while the other starts
                    self._stack.callback(self.daemons[side].stop)
                    self.daemons[side].launch()
            with self.phase("start: ready"):
                for side in SIDES:
                    self.daemons[side].wait_started()
            with self.phase("start: load"):
                for side in SIDES:
                    self.daemons[side].load()
                for side in SIDES:  # nothing is initiated before both listen for IKE
                    self.daemons[side].wait_listening()
            # what the kernels hold before the negotiation is not the cell's (teardown check)
            self.baseline = {side: set(xfrm.dump_policies(self.topology.netns(side)))
                             for side in SIDES}

    def held(self) -> dict[str, list[xfrm.SA]]:
        """Both kernels' SAs, the NAT's public address read as the initiator's own (and
        ``kernel_sas`` as they are)."""
        self.kernel_sas = {side: xfrm.dump(self.topology.netns(side)) for side in SIDES}
        return {side: nat.mapped(held, self.inside) for side, held in self.kernel_sas.items()}

    def _established(self) -> bool:
        """Both kernels hold keyed ESP SAs both ways, and each sends its traffic (its own,
        or its subnet's) to the other through an IPsec policy (some daemons install the
        policy after the SAs). Not yet keyed: the kernel's acquire placeholder (SPI 0) and
        an SPI reserved for a negotiation (SADB_GETSPI, no algorithm yet); racoon sends its
        last Quick Mode message before it installs its SAs, so for a moment its kernel holds
        only those while the peer's holds the real ones."""
        self.sas = self.held()
        for side in SIDES:
            pairs = {(sa.src, sa.dst) for sa in self.sas[side] if sa.proto == "esp" and xfrm.keyed(sa)}
            across = other_side(side)
            me, other = self.scenario.peer(side).address, self.scenario.peer(across).address
            if not {(me, other), (other, me)} <= pairs:
                return False
            src, dst = self.topology.traffic_end(side)[1], self.topology.traffic_end(across)[1]
            if not any(p.dir == "out" and p.ipsec and p.covers(src, dst)
                       for p in xfrm.dump_policies(self.topology.netns(side))):
                return False
        return True

    def _ended(self) -> Outcome | None:
        """The daemons' final word (a crash, or the most specific failure class), or None."""
        return most_specific(daemon.ended() for daemon in self.daemons.values())

    def _watch(self) -> Outcome:
        """Poll until both kernels hold the SAs, a daemon's words are final, or the deadline."""
        end = time.monotonic() + self.negotiate_deadline
        while True:
            if self._established():
                return established(self.scenario, self.sas)
            ended = self._ended()
            if ended:
                return ended
            if time.monotonic() >= end:
                words = " / ".join(f"{side}: {d.last_words(2)}" for side, d in self.daemons.items())
                return Outcome("timeout", f"no SAs within {self.negotiate_deadline:g} s;"
                                          f" last log lines: {words}")
            time.sleep(0.01)

    def negotiate(self, sides: tuple[str, ...] | None = None) -> Outcome:
        """Initiate and watch until the negotiation ends; raise NegotiationError when its
        outcome is not the scenario's ``expect`` (a failure names its class). ``sides``:
        who initiates (default the scenario's initiator; two sides start at the same
        instant, each in its own thread)."""
        started = time.monotonic()
        with self.phase("initiate"):
            sides = sides or (self.scenario.initiator,)
            if self.record is not None:
                self.record.act(",".join(sides), "initiate")
            if len(sides) == 1:
                self.daemons[sides[0]].initiate()
            else:
                errors: list[BaseException] = []

                def initiate(side: str) -> None:
                    try:
                        self.daemons[side].initiate()
                    except BaseException as exc:  # raised below, in the cell's thread
                        errors.append(exc)

                threads = [threading.Thread(target=initiate, args=(side,)) for side in sides]
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join()
                if errors:
                    raise errors[0]
        with self.phase("ike"):
            self.outcome = self._watch()
        if self.outcome.cls == ESTABLISHED:
            self.established_in = time.monotonic() - started
        expect = self.scenario.expect
        problem = self.outcome.against(expect)
        # SAs whose mode is not a side's configured one, in a cell that expects them
        # established: the verdict's negotiated check reports that with all its findings
        if problem and not (expect == ESTABLISHED and self.outcome.cls == OTHER_MODE):
            raise NegotiationError(f"negotiation {self.scenario.name}: {problem}")
        return self.outcome

    def end_as_expected(self) -> Outcome:
        """A cell whose expected failure came: SAs it made all the same (a mode mismatch)
        must go with the initiator's delete like any other's (the teardown check)."""
        assert self.outcome is not None
        problems = [str(p) for p in self.delete()] if self.outcome.sas else []
        # (a failed negotiation's half SAs are not the teardown check's business)
        problems += self.log_findings()
        if problems:
            raise VerdictError("\n".join(problems))
        return self.outcome

    def traffic(self) -> PingResult:
        netns, source = self.topology.traffic_end(self.scenario.initiator)
        target = self.topology.traffic_end(self.scenario.responder)[1]
        with self.phase("traffic"):
            # a lossy path loses echoes: ping until as many replies came (or 10 times as many sent)
            need = self.scenario.pings if self.scenario.path.lossy else None
            self.ping = ping(netns, target, self.scenario.pings, src=source, need=need,
                             payload=esplength.payload(self.scenario.ping_size), drops_in=[
                                 self.topology.netns(s) for s in SIDES if self.scenario.path.plain])
        return self.ping

    def judge(self) -> Verdict:
        with self.phase("dissect"):  # stop() dissects what the capture holds (scapy)
            assert self.capture is not None and self.ping is not None
            self.capture.stop()
            packets = nat.mapped(self.capture.packets, self.inside)
            self.count_ike(packets)
        with self.phase("verdict"):
            self.sas = self.held()
            self.verdict = judge(self.scenario, packets, self.sas, self.ping)
            self.verdict.problems += pathcheck.check(self.scenario, packets, self.ike_counts,
                                                     self.ping)
            pair = {self.scenario.left.address, self.scenario.right.address}
            self.verdict.problems += esplength.findings(packets, pair, self.scenario.esp_length)
            if self.scenario.fail_on_retransmit:
                self.verdict.problems += retransmit.findings(
                    self.ike_counts, {side: f"{side} ({d.name})" for side, d in self.daemons.items()})
        with self.phase("decrypt"):
            self.decryption = decrypt(packets, [sa for held in self.sas.values() for sa in held],
                                      self.ping, lossy=self.scenario.path.lossy)
            self.verdict.problems += [f"(e) {p}" for p in self.decryption.problems]
        with self.phase("negotiated"):
            statuses = {side: daemon.status() for side, daemon in self.daemons.items()}
            self.negotiated = check_negotiated(self.scenario, self.sas, statuses, self.sides())
            self.verdict.negotiated = self.negotiated
            self.verdict.add(self.negotiated.problems)
            held = {side: xfrm.dump_policies(self.topology.netns(side)) for side in SIDES}
            self.verdict.problems += selectors.findings(self.scenario, held)
        with self.phase("logs"):
            self.verdict.problems += self.log_findings()
        with self.phase("must not pass"):  # its own capture: the pings' counts stay theirs
            self.probes = blocked.run(self.scenario, self.topology)
            self.verdict.problems += blocked.findings(self.probes)
        return self.verdict

    def log_findings(self) -> list[str]:
        """Each side's log_must / log_must_not patterns against its daemon's log, named as
        the run directory holds it (SIDE/LOG: the cell's own directory is gone by then).
        A log_must line not there yet is waited for up to LOG_GRACE seconds: the peer's
        last message (an AUTHENTICATION_FAILED notify) may still be on its way."""
        end = time.monotonic() + LOG_GRACE
        while True:
            found = []
            for side, daemon in self.daemons.items():
                peer = self.scenario.peer(side)
                if peer.log_must or peer.log_must_not:
                    found += judge_log(f"{side} ({daemon.name})", f"{side}/{daemon.log_path.name}"
                                       " of the run directory", daemon.log_text(),
                                       peer.log_must, peer.log_must_not)
            if not any(MISSING in f for f in found) or time.monotonic() >= end:
                return found
            time.sleep(0.1)

    def path_report(self) -> list[str]:
        """The path, each daemon's IKE retransmissions, the time to establish."""
        if not self.ike_counts:
            self.count_ike()
        s = self.scenario
        lines = [f"path: {s.path.describe()}" + (f"; fragmentation {s.fragmentation}"
                                                  if s.fragmentation != "default" else "")
                 + (f"; encapsulation {s.encapsulation}" if s.encapsulation != "auto" else "")]
        for side, n in self.ike_counts.items():
            daemon = self.daemons.get(side)
            who = f"{side} ({daemon.name} {daemon.version(daemon.ctx.flavor, self.tag)})" \
                if daemon else side
            lines.append(f"{who}: {n.messages} IKE packets sent, {n.retransmissions}"
                         " of them again (retransmissions)")
        if self.established_in is not None:
            lines.append(f"established in {self.established_in:.2f} s")
        return lines

    def count_ike(self, packets: list | None = None) -> None:  # type: ignore[type-arg]
        """Each side's IKE messages and retransmissions, from the capture (stopped here
        when the cell ended before its verdict)."""
        if packets is None:
            if self.capture is None:
                return
            self.capture.stop()
            packets = nat.mapped(self.capture.packets, self.inside)
        self.ike_counts = retransmit.count(
            packets, {side: self.scenario.peer(side).address for side in SIDES})

    def path_summary(self) -> str:
        """One line: each daemon's retransmissions, the time to establish."""
        if not self.ike_counts:
            self.count_ike()
        parts = []
        for side, n in self.ike_counts.items():
            daemon = self.daemons.get(side)
            name = f"{daemon.ctx.flavor.name}" if daemon else side
            parts.append(f"{side} {name} {n.retransmissions} retransmitted of {n.messages}")
        took = f"established in {self.established_in:.2f} s" if self.established_in is not None \
            else "not established"
        return "; ".join([*parts, took])

    def sides(self) -> dict[str, Side]:
        """Each peer as findings name it: its side, daemon and version, address."""
        out = {}
        for side, daemon in self.daemons.items():
            version = daemon.version(daemon.ctx.flavor, self.tag)
            out[side] = Side(side, f"{daemon.name} {version}", daemon.peer.address,
                             dict(daemon.icv_bits))
        return out

    def _cell_state(self) -> dict[str, tuple[list[str], list[str]]]:
        return {side: teardown.left_behind(xfrm.dump(self.topology.netns(side)),
                                           xfrm.dump_policies(self.topology.netns(side)),
                                           self.baseline.get(side, set()),
                                           self.daemons[side].known_leftover)
                for side in SIDES}

    def delete(self, order: tuple[str, ...] = ()) -> list[Problem]:
        """The teardown check: the initiator deletes the connection its daemon's own
        way; then neither kernel may hold an SA or a policy of the cell. ``order``: where
        both sides initiated, the sides that delete, in this order (a daemon that
        initiated a connection may bring it back when only its peer deletes it)."""
        with self.phase("delete"):
            # The teardown check runs on a clean path: pluto sends its Delete once, so on a
            # lossy path the responder would keep its SAs by chance (the NAT stays)
            impair.heal(self.topology)
            sides = self.sides()
            initiator = self.scenario.initiator
            order = order or (initiator,)
            late: list[str] = []
            try:
                self.daemons[order[0]].delete()
                self.deleted = order[:1]
                for side in order[1:]:  # the peer may be deleting the same SAs: the kernels
                    try:                # say whether anything is left
                        self.daemons[side].delete()
                    except DaemonError as exc:
                        late.append(f"the second delete, by {sides[side]}, failed: {exc}")
            except DaemonError as exc:
                problems = [Problem("teardown", f"teardown: {exc}")]
            else:
                state: dict[str, tuple[list[str], list[str]]] = {}

                def clean() -> bool:
                    state.update(self._cell_state())
                    # a known leftover (a note) never goes: wait only for the rest
                    return not any(items for items, _ in state.values())

                with contextlib.suppress(DeadlineError):
                    runner.wait_until(clean, deadline=self.delete_deadline, interval=0.01,
                                      what="both kernels clean after the delete")
                held = {side: items for side, (items, _) in state.items()}
                problems = teardown.check(sides[initiator], held, sides)
                notes = late + [f"after the delete, {sides[side]} kept {note}"
                                for side, (_, side_notes) in state.items() for note in side_notes]
                if self.negotiated is not None:
                    self.negotiated.lines += notes
                if self.record is not None:
                    for note in notes:
                        self.record.act("", note)
            if self.verdict is not None:
                self.verdict.add(problems)
            return problems

    def run(self) -> Verdict | Outcome:
        """All phases; raises on the first that fails. Call down() afterwards. A scenario
        that expects a failure ends with its outcome."""
        self.up()
        self.negotiate()
        if self.scenario.expect != ESTABLISHED:
            return self.end_as_expected()
        self.traffic()
        verdict = self.judge()
        self.delete()
        verdict.check()
        return verdict

    # -- afterwards -----------------------------------------------------------
    def collect(self, rundir: RunDir, failed: bool, extra: Callable[[RunDir], None] | None = None,
                ) -> None:
        """Write the artifacts (before down(): the dumps need the namespaces)."""
        rundir.scenario(self.scenario)
        for side, daemon in self.daemons.items():
            rundir.copy_tree(daemon.ctx.dir, side)
            if daemon.log_offset:  # a kept daemon's log: this cell's part only
                rundir.write(f"{side}/{daemon.log_name}", daemon.log_text())
        self.write_capture(rundir)
        lines = [f"# behind the NAT, {public} is {own}: the checks read it so"
                 for public, own in self.inside.items()]
        for side in SIDES:  # as the verdict saw them (the teardown check deletes them)
            try:
                held = self.kernel_sas.get(side) or xfrm.dump(self.topology.netns(side))
            except OSError as exc:
                held, lines = [], [*lines, f"{side}: {exc}"]
            lines += [f"{side}: {sa}" for sa in held]
        rundir.write("sa.txt", "\n".join(lines) + "\n")
        if self.negotiated is not None:
            rundir.write("negotiated.txt", "\n".join(self.negotiated.lines) + "\n")
        for side, held in self.sas.items():  # the kernels' own messages, for replays in tests
            rundir.write(f"xfrm-sa-{side}.hex", "".join(f"{sa.raw.hex()}\n" for sa in held))
        if failed and self.topology.ns["left"].created:
            self._dump_kernel_state(rundir)
        if self.probes:
            rundir.write("must-not-pass.txt", "".join(f"{r.line()}\n" for r in self.probes))
        if self.outcome is not None:
            rundir.write("outcome.txt", f"expected: {self.scenario.expect}\nseen: {self.outcome}\n")
        rundir.write("timings.txt", "".join(f"{k}: {v:.3f} s\n" for k, v in self.timings.items()))
        rundir.write("path.txt", "\n".join(self.path_report()) + "\n")
        if not self.scenario.path.plain and "router" in self.topology.ns:
            self._dump_router(rundir)
        if self.record is not None:
            rundir.write("timeline.txt", self.record.timeline(
                [DaemonLog(side, d.name, d.log_path) for side, d in self.daemons.items()]))
        if extra:
            extra(rundir)

    def write_capture(self, rundir: RunDir) -> None:
        """capture.pcap, and esp_sa beside it so that Wireshark opens it decrypted."""
        if self.capture is not None:
            self.capture.stop()
            self.capture.write_pcap(rundir.path / "capture.pcap")
            write_esp_sa(rundir.path / "esp_sa", [sa for side in SIDES for sa in self._held_safe(side)])

    def _held_safe(self, side: str) -> list[xfrm.SA]:
        """The SAs as the kernel held them for the verdict, else as it holds them now."""
        if self.kernel_sas.get(side):
            return self.kernel_sas[side]
        try:
            return xfrm.dump(self.topology.netns(side))
        except OSError:
            return []

    def _dump_router(self, rundir: RunDir) -> None:
        """The router's qdiscs and filters with their counters (what the path dropped)."""
        lines = []
        for argv in (["tc", "-s", "qdisc", "show"], ["tc", "-s", "filter", "show", "dev", "e0"],
                     ["tc", "-s", "filter", "show", "dev", "e1"]):
            out = runner.run(argv, tag=self.tag, netns=self.topology.netns("router"), check=False)
            lines.append(f"$ {' '.join(argv)}\n{out.stdout}{out.stderr}")
        rundir.write("router-tc.txt", "\n".join(lines))

    def _dump_kernel_state(self, rundir: RunDir) -> None:
        for side in SIDES:
            ns = self.topology.netns(side)
            for what in ("state", "policy"):
                out = runner.run(["ip", "xfrm", what], tag=self.tag, netns=ns, check=False)
                rundir.write(f"xfrm-{what}-{side}.txt", out.stdout + out.stderr)
            daemon = self.daemons.get(side)
            if daemon and daemon.proc and daemon.proc.poll() is None:
                # the kernel's XFRM error counters in the peer's namespace (why a packet that
                # met a policy went nowhere: no state, a larval one, a bad ICV, ...)
                with contextlib.suppress(OSError):
                    rundir.write(f"xfrm-stat-{side}.txt",
                                 Path(f"/proc/{daemon.proc.pid}/net/xfrm_stat").read_text())
                for argv in daemon.status_commands():
                    try:
                        out = daemon.tool(argv, check=False, timeout=10)
                        text = out.stdout + out.stderr
                    except LabError as exc:
                        text = str(exc)
                    rundir.write(f"status-{side}-{os.path.basename(argv[0])}-"
                                 f"{argv[-1].lstrip('-')}.txt", text)

    def down(self) -> None:
        """Stop daemons, remove namespaces and the work directory (last in, first out)."""
        with self.phase("teardown"):
            self._stack.close()

    def __enter__(self) -> Cell:
        return self

    def __exit__(self, *exc: object) -> None:
        self.down()
