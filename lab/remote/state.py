"""What the phases after the negotiation read and write of a network cell: the verdict
(judge.py, hubcheck.py) and the deletes (deletes.py) take a cell as these protocols, which
lab.remote.cell's NetworkCell and lab.remote.hub's HubCell fill; so the phases never
import the cell that calls them. A hub cell's traffic stage (`Stage`) is here too."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from lab import xfrm
from lab.negotiated import Side
from lab.peers import Network
from lab.remote.base import RoleDriver
from lab.remote.verdict import ConnectionVerdict
from lab.topology.roadwarrior import RoadWarrior
from lab.wire.capture import Capture
from lab.wire.packets import Packet
from lab.wire.traffic import PingResult


class CellState(Protocol):
    """A road-warrior (or hub) cell as its verdict and delete phases see it: the network,
    the node drivers and the lab by node name; what was captured, pinged and dumped; the
    verdict's results, problems and report lines, which the phases append to."""

    network: Network
    daemons: dict[str, RoleDriver]
    topology: RoadWarrior
    captures: dict[str, Capture]
    pings: dict[str, PingResult]
    vips: dict[str, str | None]
    sas: dict[str, list[xfrm.SA]]
    baseline: dict[str, set[xfrm.Policy]]
    results: list[ConnectionVerdict]
    problems: list[str]
    lines: list[str]
    delete_deadline: float

    @property
    def gateway(self) -> str: ...

    @property
    def clients(self) -> list[str]: ...

    def still_up(self, client: str) -> bool: ...

    def sides(self) -> dict[str, Side]: ...


@dataclass
class Stage:
    """One ping and what each link carried meanwhile (link: a spoke's name, or the hub's)."""

    name: str
    ping: PingResult
    packets: dict[str, list[Packet]] = field(default_factory=dict)


class HubState(CellState, Protocol):
    """A hub cell: its traffic stages (the spokes' hosts, then the hub's host)."""

    stages: list[Stage]
