"""Warm daemons: one worker's cells share namespaces and running daemons.

A cell run whole (``lab.run``) on a plain path, without a lifecycle event, takes the
namespaces the worker's last such cell used when its topology and addresses are the
same, and each side's daemon when its flavor and global settings (lab.daemons.*_warm
``globals``) are the same: the cell writes its files into the daemon's directory and
loads them through the daemon's control interface. Afterwards (the cell's own teardown
check done) each daemon deletes and unloads what the cell loaded, and must then hold
no IKE SA and no connection, and both kernels no SA and no policy; otherwise every
daemon stops, the namespaces go and the cell fails. A failed cell stops everything
too, and so does a cell whose topology or a side's globals differ (that side only).
A daemon with no warm way (racoon: see COLD) starts and stops with each cell inside
the kept namespaces, which are flushed after it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from lab import run as runner
from lab import xfrm
from lab.daemons.base import Daemon, PeerContext
from lab.daemons.libreswan.warm import LibreswanWarm
from lab.daemons.registry import daemon_class
from lab.daemons.strongswan.warm import StrongswanWarm
from lab.daemons.warm_base import WarmOps
from lab.errors import DeadlineError, LabError
from lab.flavors import parse_flavor, require
from lab.scenario import SIDES, Scenario
from lab.topology.build import Topology
from lab.topology.table import address, network
from lab.wire.capture import Capture

if TYPE_CHECKING:  # the cell drives the pool; the pool never imports the cell
    from lab.cell import Cell

#: implementations that are kept warm, and how
OPS: dict[str, WarmOps] = {"libreswan": LibreswanWarm(), "strongswan": StrongswanWarm()}
#: implementations that start and stop with every cell, and why
COLD = {"racoon": "racoon's policies are setkey's (a file per cell), and its reload (SIGHUP)"
                  " re-reads everything at once; not made warm yet"}
#: the directions of the kernel's policy database; the rest (3, 4) are policies of a socket
#: (a daemon's IKE socket bypasses IPsec), which go with the socket
SPD_DIRS = ("in", "out", "fwd")
#: how long the daemons and kernels may take to let go of a cell's state
RELEASE_DEADLINE = 3.0


def cold_reason(scenario: Scenario) -> str | None:
    """Why a cell of ``scenario`` runs with fresh namespaces and daemons, or None."""
    if scenario.lifecycle != "none":
        return f"lifecycle {scenario.lifecycle}: a fresh start"
    if not scenario.path.plain:
        return f"path {scenario.path.describe()}: the router's conditions are the cell's"
    if scenario.fault != "none":
        return f"fault {scenario.fault}"
    return None


def topology_key(s: Scenario) -> tuple[object, ...]:
    """What the namespaces are made of: the layout, every address and route."""
    topo = Topology(s, "key")
    ends = tuple((end.node, end.iface, address(s, end.address, end.side))
                 for link in topo.layout.links for end in (link.a, link.b))
    routes = tuple((r.node, r.iface, str(network(s, *r.to)),
                    address(s, *r.via)[0] if r.via else None) for r in topo.layout.routes)
    return (s.topology, ends, routes)


@dataclass
class Slot:
    """One side's daemon directory and the daemon running there (if any)."""

    dir: Path
    ctx: PeerContext | None = None
    daemon: Daemon | None = None
    #: (flavor, globals) of the running daemon; None where it is not kept
    key: tuple[str, str] | None = None
    written: list[Path] = field(default_factory=list)
    #: the files of the cell the daemon serves, and of the one before, by path relative
    #: to its directory
    files: dict[str, str] = field(default_factory=dict)
    before: dict[str, str] = field(default_factory=dict)

    def alive(self) -> bool:
        d = self.daemon
        return d is not None and d.proc is not None and d.proc.poll() is None


class WarmPool:
    """One worker's kept namespaces and daemons (lab.plugin's session owns it)."""

    def __init__(self, tag: str, cache: Path, ident: str) -> None:
        self.tag, self.cache, self.ident = tag, cache, ident
        self.root = Path(tempfile.mkdtemp(prefix=f"ipl-{ident}-"))
        self.slots = {side: Slot(self.root / side) for side in SIDES}
        self.topology: Topology | None = None
        self.topology_key: tuple[object, ...] | None = None
        self.generation = 0
        #: what the kernels held before any daemon ran (the release check's baseline)
        self.baseline: dict[str, set[xfrm.Policy]] = {}
        #: per cell: which sides were warm (for the benchmark and the tests)
        self.reused: dict[str, bool] = {}
        #: a cell holds the pool until its release (a second cell of the same test, while
        #: the first is still up, runs cold)
        self.busy = False

    # -- a cell comes ---------------------------------------------------------
    def up(self, cell: Cell) -> None:
        """What Cell.up does, with the kept namespaces and daemons where they fit."""
        s = cell.scenario
        assert not self.busy, "a warm pool serves one cell at a time"
        self.busy = True
        cell._stack.callback(self.release, cell)  # first in, so last out
        with cell.phase("configs"):
            key = topology_key(s)
            if key != self.topology_key:
                self.drop()
            if self.topology is None:  # named now, made below
                self.topology, self.topology_key = Topology(s, self._ident(), self.tag), key
            fresh = {}
            for side in SIDES:
                fresh[side] = self._daemon(cell, side)
        with cell.phase("topology"):
            assert self.topology is not None
            if not self.topology.ns["left"].created:
                self._build()
            cell.topology = self.topology
            cell.capture = Capture(self.topology.capture_points()).start()
            cell._stack.callback(cell.capture.stop)
        with cell.phase("daemon start"):
            with cell.phase("start: launch"):
                for side in SIDES:
                    if fresh[side]:
                        cell.daemons[side].launch()
            with cell.phase("start: ready"):
                for side in SIDES:
                    if fresh[side]:
                        cell.daemons[side].wait_started()
            with cell.phase("start: load"):
                for side in SIDES:
                    daemon = cell.daemons[side]
                    ops = OPS.get(daemon.name)
                    if ops is not None and not fresh[side]:
                        ops.load(daemon, self.slots[side].before)
                    else:
                        daemon.load()
                for side in SIDES:
                    cell.daemons[side].wait_listening()
            cell.baseline = {side: set(xfrm.dump_policies(self.topology.netns(side)))
                             for side in SIDES}
            for side in SIDES:  # a daemon's own policies (pluto's ICMPv6 neighbour-discovery
                if fresh[side]:  # bypass, once it listens) stay as long as it runs
                    self.baseline[side] = cell.baseline[side]

    def _daemon(self, cell: Cell, side: str) -> bool:
        """The cell's daemon object for ``side``, on the running daemon where its globals
        match (then its files are written over the last cell's): whether it must start."""
        s = cell.scenario
        slot = self.slots[side]
        flavor = parse_flavor(s.peer(side).flavor, f"{side}.flavor")
        require(flavor)
        ctx = slot.ctx
        if ctx is None or ctx.flavor != flavor:
            assert self.topology is not None
            ctx = PeerContext(side=side, netns=self.topology.netns(side), dir=slot.dir,
                              flavor=flavor, tag=self.tag, cache=self.cache)
        daemon = daemon_class(flavor.impl)(s, ctx)
        ops = OPS.get(flavor.impl)
        key = (flavor.name, ops.globals(daemon)) if ops is not None else None
        reuse = key is not None and key == slot.key and slot.alive() and ctx is slot.ctx
        if reuse:
            assert ops is not None and slot.daemon is not None
            ops.adopt(daemon, slot.daemon)
            daemon.log_offset = daemon.log_path.stat().st_size
        else:  # a fresh start: its own context (its process list starts empty)
            self._stop(slot)
            shutil.rmtree(slot.dir, ignore_errors=True)
            slot.dir.mkdir()
            assert self.topology is not None
            slot.ctx = ctx = PeerContext(side=side, netns=self.topology.netns(side), dir=slot.dir,
                                         flavor=flavor, tag=self.tag, cache=self.cache)
            daemon = daemon_class(flavor.impl)(s, ctx)
        slot.daemon, slot.key = daemon, key
        slot.before = slot.files if reuse else {}
        slot.written = daemon.write()
        slot.files = {str(p.relative_to(slot.dir)): p.read_text() for p in slot.written}
        cell.daemons[side] = daemon
        self.reused[side] = reuse
        return not reuse

    def _ident(self) -> str:
        return f"{self.ident}-w{self.generation}"

    def _build(self) -> None:
        assert self.topology is not None
        try:
            self.topology.up()
        except BaseException:
            self.drop()
            raise
        self.baseline = {side: set(xfrm.dump_policies(self.topology.netns(side))) for side in SIDES}

    # -- a cell goes ----------------------------------------------------------
    def release(self, cell: Cell) -> None:
        """After the cell: unload and check (a cell that passed), or stop everything."""
        try:
            if not cell.passed or self.topology is None:
                self.drop()
                return
            try:
                with cell.phase("release"):
                    self._unload(cell)
            except LabError:
                self.drop()
                raise
        finally:
            self.busy = False

    def _unload(self, cell: Cell) -> None:
        assert self.topology is not None
        for side, slot in self.slots.items():
            for path in slot.written:  # the next cell writes its own (certificates too)
                path.unlink(missing_ok=True)
            slot.written = []
            if slot.daemon is None:
                continue
            ops = OPS.get(slot.daemon.name)
            if ops is None or not slot.alive():
                self._stop(slot)
            else:
                with cell.phase("release: unload"):
                    ops.unload(slot.daemon, side in cell.deleted)
        state: dict[str, list[str]] = {}

        def empty() -> bool:
            assert self.topology is not None
            state.clear()
            state.update(held_after(self.topology, self.slots, self.baseline))
            return not state

        with contextlib.suppress(DeadlineError), cell.phase("release: check"):
            runner.wait_until(empty, deadline=RELEASE_DEADLINE, interval=0.02,
                              what="warm daemons empty")
        if state:
            words = "; ".join(f"{side} still holds {', '.join(held[:4])}"
                              for side, held in state.items())
            raise LabError(f"warm daemons: after the cell, {words}: restarted, and this cell fails")

    def _stop(self, slot: Slot) -> None:
        """Stop the slot's daemon (a cold one's kernel state is flushed: the namespaces stay)."""
        if slot.daemon is not None:
            slot.daemon.stop()
            if self.topology is not None and slot.ctx is not None:
                with contextlib.suppress(OSError):
                    xfrm.flush(slot.ctx.netns)
        slot.daemon, slot.key = None, None

    def drop(self) -> None:
        """Stop every daemon and remove the namespaces: the next cell starts cold."""
        for slot in self.slots.values():
            self._stop(slot)
            slot.ctx = None
        if self.topology is not None:
            topology, self.topology, self.topology_key = self.topology, None, None
            self.generation += 1
            topology.down()

    def close(self) -> None:
        try:
            self.drop()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


def held_after(topology: Topology, slots: dict[str, Slot],
               baseline: dict[str, set[xfrm.Policy]]) -> dict[str, list[str]]:
    """What either side still holds of a cell, by side: the kernels first (in-process), then,
    only where they are clean, the daemons (a process each, for pluto)."""
    state = {}
    for side in SIDES:
        netns = topology.netns(side)
        sas = xfrm.dump(netns)
        # a failed negotiation's half SAs (an SPI reserved for it, an acquire placeholder:
        # never keyed) are no teardown check's business; a fresh namespace would not have
        # them (pluto 4.10 leaves IKEv1's reserved SPI)
        xfrm.delete(netns, [sa for sa in sas if not xfrm.keyed(sa)])
        held = [f"SA {sa}" for sa in sas if xfrm.keyed(sa)]
        held += [f"policy {p}" for p in xfrm.dump_policies(netns)
                 if p not in baseline.get(side, set()) and p.dir in SPD_DIRS]
        if held:
            state[side] = held
    for side, slot in slots.items():
        if not state and slot.daemon is not None:
            held = OPS[slot.daemon.name].leftovers(slot.daemon)
            if held:
                state[side] = held
    return state


def pool_ident(owner: str) -> str:
    """The pool's part of its namespaces' and directory's names (the owner's prefix first)."""
    return f"{owner}-{os.getpid()}-warm"
