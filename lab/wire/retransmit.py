"""IKE retransmissions, counted on the wire: a side that sends the same IKE message
(the same bytes to the same peer) again has retransmitted it. The capture holds what
each peer sends, before the path loses anything, so a message the router dropped
counts as sent."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from lab.wire.packets import Packet


@dataclass(frozen=True)
class IkeCount:
    messages: int  # distinct IKE packets sent (an IKE fragment is one)
    retransmissions: int  # copies sent again


def count(packets: list[Packet], addresses: dict[str, str]) -> dict[str, IkeCount]:
    """Per side (``addresses``: side -> its address): the IKE messages it sent, and how
    many times it sent one again."""
    out = {}
    for side, address in addresses.items():
        sent = Counter((p.dst, p.ike) for p in packets
                       if p.kind == "ike" and p.src == address and p.ike)
        out[side] = IkeCount(len(sent), sum(n - 1 for n in sent.values()))
    return out


def first_esp_after_ike(packets: list[Packet]) -> float | None:
    """Seconds from the first IKE packet to the first ESP packet (None: not both seen)."""
    ike = [p.ts for p in packets if p.kind == "ike"]
    esp = [p.ts for p in packets if p.kind == "esp"]
    return esp[0] - ike[0] if ike and esp else None


def findings(counts: dict[str, IkeCount], who: dict[str, str]) -> list[str]:
    """For a scenario with ``fail_on_retransmit``: one finding per side that sent an IKE
    message again (``who``: side -> how messages name it)."""
    return [f"retransmit: {who.get(side, side)} sent {n.retransmissions} of its {n.messages} IKE"
            " packets again (fail_on_retransmit = true)" for side, n in counts.items()
            if n.retransmissions]
