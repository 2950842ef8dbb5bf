"""Lifecycle cells (lab.lifecycle): what happens after the first SA. Each event's
variants, the default set (without --lab-lifecycle), and the scenario a cell runs."""

from __future__ import annotations

import re
from dataclasses import dataclass

from lab.algorithms import parse_proposal
from lab.matrix.axes import DEFAULT_FAMILY, PROPOSAL_SETS
from lab.matrix.capable import lifecycle_can, speaks
from lab.matrix.ids import alternatives, cell_id
from lab.matrix.selection import MatrixSelection, split_list
from lab.scenario.allowed import other_side
from lab.scenario.model import Scenario
from lab.scenario.peer import Peer
from lab.topology.table import FAMILIES

#: each lifecycle event's variants: (id suffix, who acts, what starts a rekey)
LIFECYCLE_VARIANTS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "rekey-child": (("command-initiator", "initiator", "command"),
                    ("command-responder", "responder", "command"),
                    ("lifetime-initiator", "initiator", "lifetime"),
                    ("lifetime-responder", "responder", "lifetime")),
    "rekey-ike": (("command-initiator", "initiator", "command"),
                  ("command-responder", "responder", "command"),
                  ("lifetime-initiator", "initiator", "lifetime"),
                  ("lifetime-responder", "responder", "lifetime")),
    "restart": (("initiator", "initiator", "command"), ("responder", "responder", "command")),
    # the actor's daemon stops (SIGSTOP), or ("link-") the actor's link goes down
    "dpd": (("initiator", "initiator", "command"), ("responder", "responder", "command"),
            ("link-initiator", "initiator", "command"), ("link-responder", "responder", "command")),
    "delete": (("", "initiator", "command"),),
    "simultaneous": (("", "initiator", "command"),),
    "responder-initiates": (("", "responder", "command"),),
}
LIFECYCLE_EVENTS = tuple(LIFECYCLE_VARIANTS)
#: what `LifecycleCell.id` makes of a lifecycle cell, for ci/report.py
LIFECYCLE_ID = re.compile(
    rf"(?P<i>\w+)-(?P<r>\w+)-ikev(?P<v>\d)-(?P<e>{alternatives(LIFECYCLE_EVENTS)})"
    r"(?:-(?P<x>[\w-]+))?")
#: real-time lifetimes of the rekey-by-lifetime cells: the acting side's, the other side's
#: (longer, so that the acting side rekeys first), and the margin (no fuzz)
SHORT_LIFE, LONG_LIFE, SHORT_MARGIN = 12, 40, 4
#: DPD of the dpd cells: seconds between checks, seconds until the peer counts as dead
DPD_DELAY, DPD_TIMEOUT = 2, 6
#: the default lifecycle set (without --lab-lifecycle): (initiator, responder, IKE version,
#: event, variant); Libreswan and strongSwan of both releases, each order once
DEFAULT_LIFECYCLE_PAIRS = (("libreswan@bookworm", "strongswan@sid"),
                           ("strongswan@bookworm", "libreswan@sid"))
DEFAULT_LIFECYCLE_VARIANTS = (("rekey-child", "command-initiator"),
                              ("rekey-child", "lifetime-responder"),
                              ("rekey-ike", "command-responder"), ("restart", "initiator"),
                              ("dpd", "responder"), ("dpd", "link-initiator"), ("delete", ""),
                              ("simultaneous", ""),
                              ("responder-initiates", ""))

#: racoon (IKEv1 only), each release against another daemon, each order once: DPD either
#: way, a phase-2 rekey by either side's lifetime, delete
DEFAULT_RACOON_PAIRS = (("racoon@0.8.2", "libreswan@bookworm"),
                        ("strongswan@bookworm", "racoon@0.8.2"),
                        ("racoon@0.9.1", "strongswan@bookworm"), ("libreswan@sid", "racoon@0.9.1"))
DEFAULT_RACOON_VARIANTS = (("dpd", "initiator"), ("dpd", "responder"),
                           ("rekey-child", "lifetime-initiator"),
                           ("rekey-child", "lifetime-responder"), ("delete", ""))
#: the default set: (IKE version, pairs, (event, variant) of each pair)
DEFAULT_LIFECYCLE = ((2, DEFAULT_LIFECYCLE_PAIRS, DEFAULT_LIFECYCLE_VARIANTS),
                     (1, DEFAULT_RACOON_PAIRS, DEFAULT_RACOON_VARIANTS))


@dataclass(frozen=True)
class LifecycleCell:
    initiator: str
    responder: str
    ike_version: int
    event: str
    variant: str = ""
    #: lifetimes in seconds for the rekey-by-lifetime cells of a time-travel kernel
    #: (None: SHORT_LIFE, which runs in real time)
    long_life: int | None = None

    @property
    def actor(self) -> str:
        return next(a for v, a, _ in LIFECYCLE_VARIANTS[self.event] if v == self.variant)

    @property
    def rekey_by(self) -> str:
        return next(b for v, _, b in LIFECYCLE_VARIANTS[self.event] if v == self.variant)

    @property
    def id(self) -> str:
        words = [f"ikev{self.ike_version}", self.event] + ([self.variant] if self.variant else [])
        if self.long_life:
            words.append(f"{self.long_life}s")
        return cell_id(self.initiator, self.responder, *words)

    def daemons_can(self) -> bool:
        """Whether both daemons can take part in the event at all, whatever their build
        (the default set has no cell that must skip)."""
        s = self.scenario()
        return all(lifecycle_can(f, s, side)
                   for side, f in (("left", self.initiator), ("right", self.responder)))

    def scenario(self) -> Scenario:
        """Host-to-host IPv6, transport mode, aes128-sha1 with modp2048 (what every daemon
        speaks, racoon included), the event's lifetimes and DPD."""
        pset = PROPOSAL_SETS["aes128-sha1"]
        plan = FAMILIES[DEFAULT_FAMILY]
        extra: dict[str, object] = {}
        peers = {"left": {}, "right": {}}  # type: dict[str, dict[str, int]]
        if self.rekey_by == "lifetime":
            short = self.long_life or SHORT_LIFE
            key = "child_lifetime" if self.event == "rekey-child" else "ike_lifetime"
            actor_side = "left" if self.actor == "initiator" else "right"
            peers[actor_side][key] = short
            peers[other_side(actor_side)][key] = short * LONG_LIFE // SHORT_LIFE
            margin = short // 3
            extra.update(rekey_margin=margin, rekey_fuzz=0)
            if key == "ike_lifetime":  # the Child SA outlives the cell
                extra["child_lifetime"] = 4 * short
            else:
                extra["ike_lifetime"] = 4 * short
        if self.event == "dpd":
            extra.update(dpd_delay=DPD_DELAY, dpd_timeout=DPD_TIMEOUT,
                         vanish="link" if self.variant.startswith("link-") else "stop")
        if self.event == "restart":  # a restarted responder: the initiator's DPD brings it back
            extra.update(dpd_delay=DPD_DELAY, dpd_timeout=DPD_TIMEOUT, dpd_action="restart")
        left, right = (Peer(address, flavor, prefixlen, **peers[side])
                       for (address, prefixlen), flavor, side in zip(
                           plan.outer, (self.initiator, self.responder), ("left", "right"),
                           strict=True))
        return Scenario(
            name=self.id, left=left, right=right, ike_version=self.ike_version,
            mode="transport", lifecycle=self.event, actor=self.actor, rekey_by=self.rekey_by,
            ike=parse_proposal(pset.ike[self.ike_version], "lifecycle ike", needs_dh=True),
            esp=parse_proposal(pset.esp, "lifecycle esp", needs_dh=False), **extra)  # type: ignore[arg-type]


def lifecycle_cells(selection: MatrixSelection, events: str | None,
                    prefix: str = "--lab-") -> list[LifecycleCell]:
    """``--lab-lifecycle=LIST``: the whole grid of those events (every variant) over the
    selection's pairs and IKE versions; without it, the small default set."""
    chosen = split_list(events, f"{prefix}lifecycle", LIFECYCLE_EVENTS, ())
    pairs = selection.all_pairs()
    if not chosen:
        cells = [LifecycleCell(i, r, version, e, v)
                 for version, pair_set, variants in DEFAULT_LIFECYCLE
                 for i, r in pair_set if (i, r) in pairs or not selection.pairs
                 for e, v in variants]
        return [c for c in cells if c.daemons_can()]
    return [LifecycleCell(i, r, ike, e, v) for i, r in pairs for ike in selection.ike_versions
            if speaks(i, ike) and speaks(r, ike)
            for e in chosen for v, _, _ in LIFECYCLE_VARIANTS[e]]
