"""A two-peer cell's state: what its phases (lab.cell.core) fill in and its checks
(lab.cell.verdict), its artifacts (lab.cell.collect) and the warm pool (lab.warm) read."""

from __future__ import annotations

import contextlib
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from lab import xfrm
from lab.daemons.base import Daemon
from lab.lifecycle.record import Record
from lab.negotiated import Negotiated, Side
from lab.outcome import Outcome
from lab.scenario import SIDES, Scenario
from lab.timed import PhaseTimer
from lab.topology.build import Topology
from lab.wire import blocked, nat, retransmit
from lab.wire.capture import Capture
from lab.wire.decrypt import Decryption
from lab.wire.traffic import PingResult
from lab.wire.verdict import Verdict


class Pool(Protocol):
    """Kept namespaces and daemons (lab.warm.WarmPool) that bring a cell up instead."""

    def up(self, cell: CellState) -> None: ...


@dataclass
class CellState(PhaseTimer):
    """What a two-peer cell holds from its bring-up to its teardown."""

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

    # -- phases (their timer: lab.timed.PhaseTimer) -----------------------------
    def held(self) -> dict[str, list[xfrm.SA]]:
        """Both kernels' SAs, the NAT's public address read as the initiator's own (and
        ``kernel_sas`` as they are)."""
        self.kernel_sas = {side: xfrm.dump(self.topology.netns(side)) for side in SIDES}
        return {side: nat.mapped(held, self.inside) for side, held in self.kernel_sas.items()}

    @property
    def expect(self) -> str:
        """How the negotiation must end (the phase sequence, lab.cell.sequence, asks)."""
        return self.scenario.expect

    @property
    def lifecycle(self) -> str:
        """The scenario's lifecycle event, or "none"."""
        return self.scenario.lifecycle

    def sides(self) -> dict[str, Side]:
        """Each peer as findings name it: its side, daemon and version, address."""
        out = {}
        for side, daemon in self.daemons.items():
            version = daemon.version(daemon.ctx.flavor, self.tag)
            out[side] = Side(side, f"{daemon.name} {version}", daemon.peer.address,
                             dict(daemon.icv_bits))
        return out
