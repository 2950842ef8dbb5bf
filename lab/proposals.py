"""Which proposal a negotiation must end with, when a side offers a list.

The rule: the responder takes, among the proposals both sides have, the one first in the
preferred side's order. Which side's order counts is the responder daemon's own behaviour,
read from its driver (``Daemon.prefers``): the initiator's (the first of the initiator's
list that the responder accepts) or the responder's own. ``expected_proposal`` is what the
verdict (lab.negotiated) compares the negotiated algorithms with.
"""

from __future__ import annotations

from lab.algorithms import Proposal, Proposals
from lab.daemons import daemon_class
from lab.flavors import parse_flavor
from lab.scenario import Scenario

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
