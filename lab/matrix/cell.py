"""One cell of the two-peer matrix (`MatrixCell`): its id, and the scenario it runs."""

from __future__ import annotations

import re
from dataclasses import dataclass

from lab.algorithms import parse_proposal
from lab.matrix.axes import (
    DEFAULT_AUTH,
    DEFAULT_FAMILY,
    DEFAULT_PATH,
    DEFAULT_TOPOLOGY,
    PATHS,
    PROPOSAL_SETS,
)
from lab.matrix.ids import alternatives, cell_id
from lab.scenario.allowed import AUTHS
from lab.scenario.model import Scenario
from lab.scenario.peer import Peer
from lab.topology.table import FAMILIES, TOPOLOGIES

#: What `cell_id` makes of a matrix cell, for readers of test reports (ci/report.py); the
#: topology and the family follow only where they are not host-to-host and ipv6.
CELL_ID = re.compile(
    r"(?P<i>\w+)-(?P<r>\w+)-ikev(?P<v>\d)-(?P<m>transport|tunnel)-(?P<p>.+?)"
    rf"(?:-(?P<t>{alternatives(t for t in TOPOLOGIES if t != DEFAULT_TOPOLOGY)}))?"
    rf"(?:-(?P<f>{alternatives(f for f in FAMILIES if f != DEFAULT_FAMILY)}))?"
    rf"(?:-(?P<a>{alternatives(a for a in AUTHS if a != DEFAULT_AUTH)}))?"
    rf"(?:-(?P<path>{alternatives(PATHS)}))?")


@dataclass(frozen=True)
class MatrixCell:
    initiator: str
    responder: str
    ike_version: int
    mode: str
    proposals: str
    topology: str = DEFAULT_TOPOLOGY
    family: str = DEFAULT_FAMILY
    auth: str = DEFAULT_AUTH
    path: str = DEFAULT_PATH

    @property
    def id(self) -> str:
        extra = [w for w, default in ((self.topology, DEFAULT_TOPOLOGY),
                                      (self.family, DEFAULT_FAMILY),
                                      (self.auth, DEFAULT_AUTH),
                                      (self.path, DEFAULT_PATH)) if w != default]
        return cell_id(self.initiator, self.responder, f"ikev{self.ike_version}", self.mode,
                       self.proposals, *extra)

    def not_generated_reason(self) -> str | None:
        pset = PROPOSAL_SETS[self.proposals]
        if pset.for_version(self.ike_version) is None:
            versions = ", ".join(f"IKEv{v}" for v in pset.ike)
            return f"proposal set {self.proposals} is defined for {versions} only"
        return None

    def scenario(self) -> Scenario:
        pset = PROPOSAL_SETS[self.proposals]
        ike = pset.for_version(self.ike_version) or next(iter(pset.ike.values()))
        plan, sides = FAMILIES[self.family], TOPOLOGIES[self.topology].subnet_sides
        left, right = (Peer(address, flavor, prefixlen, subnet=net if side in sides else None)
                       for (address, prefixlen), flavor, net, side in zip(
                           plan.outer, (self.initiator, self.responder), plan.subnets,
                           ("left", "right"), strict=True))
        case = PATHS.get(self.path)
        return Scenario(
            name=self.id, left=left, right=right, topology=self.topology,
            ike_version=self.ike_version, mode=self.mode, auth=self.auth,
            ike=parse_proposal(ike, f"proposal set {self.proposals}: ike", needs_dh=True),
            esp=parse_proposal(pset.esp, f"proposal set {self.proposals}: esp", needs_dh=False),
            **({"path": case.path, "fragmentation": case.fragmentation,
                "encapsulation": case.encapsulation, "expect": case.expect} if case else {}),
        )
