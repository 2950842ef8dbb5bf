"""Which proposal a negotiation must end with, when a side offers a list.

The rule: the responder takes, among the proposals both sides have, the one first in the
preferred side's order. Which side's order counts is the responder daemon's own behaviour,
read from its driver (``Daemon.prefers``): the initiator's (the first of the initiator's
list that the responder accepts) or the responder's own.

``wanted`` is the one place the verdict (lab.negotiated, plain and lifecycle cells
alike) asks what a side's negotiated algorithms are compared with: the scenario's
``[negotiated]`` where it states them, else the proposals; where a side leaves them to its
daemon (``default``), both daemons' own lists (lab.offers, asked of the daemons) and the
responder's rule, else the other side's only proposal, which then forces the result.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from lab.algorithms import Proposal, Proposals
from lab.daemons.registry import daemon_class
from lab.flavors import parse_flavor
from lab.offers import Offered, from_proposal, select
from lab.scenario.model import Scenario
from lab.status import DaemonStatus

KINDS = ("ike", "esp")


def _same(a: str | None, b: str | None) -> bool:
    """A part left open (an AEAD proposal's PRF) matches any."""
    return a is None or b is None or a == b


def accepts(offered: Proposal, configured: Proposal) -> bool:
    """Whether a side configured with ``configured`` takes ``offered``."""
    return all(_same(a, b) if i == 2 else a == b
               for i, (a, b) in enumerate(zip(offered.key(), configured.key(), strict=True)))


def choose(initiator: Proposals, responder: Proposals, prefers: str = "initiator") -> Proposal | None:
    """The proposal both lists share that comes first in the ``prefers`` side's order
    ('initiator' or 'responder'); None when they share none."""
    first, second = (initiator, responder) if prefers == "initiator" else (responder, initiator)
    return next((p for p in first if any(accepts(p, q) for q in second)), None)


def expected_proposal(scenario: Scenario, kind: str = "esp") -> Proposal | None:
    """What the negotiation of ``kind`` ('ike' or 'esp') must end with; None when a side
    leaves it to its daemon's defaults ('default') or the lists share nothing."""
    lists = {side: (scenario.ike_list if kind == "ike" else scenario.esp_list)(side)
             for side in ("left", "right")}
    initiator, responder = lists[scenario.initiator], lists[scenario.responder]
    if not initiator or not responder:
        return None
    impl = parse_flavor(scenario.peer(scenario.responder).flavor).impl
    return choose(initiator, responder, daemon_class(impl).prefers(scenario, scenario.responder))


def expected_for(scenario: Scenario, side: str, kind: str) -> Proposal | None:
    """What ``side``'s negotiated ``kind`` is compared with: its own proposal where both
    sides name exactly one (a mismatch then shows as this side's), else the rule's choice."""
    lists = [(scenario.ike_list if kind == "ike" else scenario.esp_list)(s) for s in ("left", "right")]
    if all(len(one) == 1 for one in lists):
        return (scenario.ike_of if kind == "ike" else scenario.esp_of)(side)
    return expected_proposal(scenario, kind)


#: where a Want comes from: both sides' one proposal, the rule's choice from the lists, the
#: scenario's [negotiated], the daemons' own lists ('default'), the other side's only
#: proposal (the one a 'default' side must take), or nothing to compare with
HOWS = ("configured", "chosen", "stated", "defaults", "forced", "unknown")


@dataclass(frozen=True)
class Want:
    """What one side's negotiated IKE or ESP is compared with, and where that comes from."""

    proposal: Proposal | None
    how: str
    #: extended sequence numbers (ESP): None where not known
    esn: bool | None = None
    #: whether an ESP proposal's group is a claim on the PFS group (not where the daemons'
    #: own lists decided: their PFS is their business unless [negotiated] states it)
    pfs: bool = True
    #: words for findings: where it comes from, or why there is nothing to compare with
    note: str = ""


def _lists(scenario: Scenario, kind: str) -> dict[str, Proposals]:
    return {side: (scenario.ike_list if kind == "ike" else scenario.esp_list)(side)
            for side in ("left", "right")}


def offers_of(scenario: Scenario, kind: str, statuses: Mapping[str, DaemonStatus]
            ) -> dict[str, tuple[Offered, ...] | None]:
    """Each side's offer: the scenario's proposals, or for 'default' the list its daemon
    names (None where it names none)."""
    out: dict[str, tuple[Offered, ...] | None] = {}
    for side, configured in _lists(scenario, kind).items():
        st = statuses.get(side)
        named = st.offers.get(kind) if st is not None and not configured else None
        esn = daemon_class(parse_flavor(scenario.peer(side).flavor).impl).configured_esn
        out[side] = tuple(from_proposal(p, kind, esn) for p in configured) or named or None
    return out


def _who(scenario: Scenario, side: str) -> str:
    return f"{side} ({scenario.peer(side).flavor})"


def from_defaults(scenario: Scenario, kind: str, statuses: Mapping[str, DaemonStatus]) -> Want:
    """What a negotiation where a side uses 'default' must end with (see the module)."""
    lists = _lists(scenario, kind)
    offers = offers_of(scenario, kind, statuses)
    init, resp = scenario.initiator, scenario.responder
    versions = {scenario.ike_version_of(side) for side in ("left", "right")}
    unknown = [side for side in ("left", "right") if offers[side] is None]
    if not unknown and versions == {2}:
        impl = parse_flavor(scenario.peer(resp).flavor).impl
        prefers = daemon_class(impl).prefers(scenario, resp)
        chosen = select(offers[init], offers[resp], kind, prefers)  # type: ignore[arg-type]
        words = (f"worked out from what {_who(scenario, init)} and {_who(scenario, resp)}"
                 f" offer, the {prefers}'s order first")
        if chosen is None:
            return Want(None, "unknown", note=f"nothing: the offers share no proposal ({words})")
        if chosen.proposal is None:
            return Want(None, "unknown", note=f"nothing: the choice's {chosen.missing} has no"
                                              f" name in the lab ({words})")
        return Want(chosen.proposal, "defaults", esn=chosen.esn, pfs=False, note=words)
    forcing = [side for side in ("left", "right") if len(lists[side]) == 1]
    if len(forcing) == 1 and all(not lists[s] for s in ("left", "right") if s not in forcing):
        return Want(lists[forcing[0]][0], "forced", pfs=False,
                    note=f"{_who(scenario, forcing[0])}'s only proposal")
    if versions != {2}:
        why = "IKEv1's default lists are not worked out"
    else:
        why = " and ".join(f"{_who(scenario, s)} names no list of its default proposals"
                           for s in unknown)
    return Want(None, "unknown", note=f"nothing: {why}")


def wanted(scenario: Scenario, side: str, kind: str,
           statuses: Mapping[str, DaemonStatus] | None = None) -> Want:
    """What ``side``'s negotiated ``kind`` ('ike' or 'esp') is compared with (see the
    module); ``statuses`` gives what each daemon says it offers."""
    stated = scenario.negotiated
    esn = stated.esn if kind == "esp" else None
    proposal = getattr(stated, kind)
    if proposal is not None:
        return Want(proposal, "stated", esn=esn, note=f"[negotiated] {kind} = '{proposal}'")
    lists = _lists(scenario, kind)
    if all(lists.values()):
        how = "configured" if all(len(one) == 1 for one in lists.values()) else "chosen"
        note = "" if esn is None else f"[negotiated] esn = {'true' if esn else 'false'}"
        return Want(expected_for(scenario, side, kind), how, esn=esn, note=note)
    found = from_defaults(scenario, kind, statuses or {})
    if esn is not None:
        return Want(found.proposal, found.how, esn, found.pfs, found.note)
    return found
