"""Seeing through the NAT: behind it, the responder's kernel and the wire on its side
know the initiator by the router's address. Mapped back to the initiator's own
address, every check of a cell without NAT applies unchanged (the same SA in both
kernels, the SPIs per direction, the decrypted echoes)."""

from __future__ import annotations

from dataclasses import replace
from typing import TypeVar

from lab.scenario.model import Scenario
from lab.wire.packets import Packet
from lab.xfrm import SA

T = TypeVar("T", SA, Packet)


def inside(s: Scenario) -> dict[str, str]:
    """{address the responder sees: the initiator's own}; empty without NAT."""
    seen = s.address_seen(s.initiator, by=s.responder)
    own = s.peer(s.initiator).address
    return {seen: own} if seen != own else {}


def mapped(items: list[T], names: dict[str, str]) -> list[T]:
    """SAs or packets with the NAT's public address replaced by the inside one."""
    if not names:
        return items
    return [replace(x, src=names.get(x.src, x.src), dst=names.get(x.dst, x.dst))  # type: ignore[type-var]
            if x.src in names or x.dst in names else x for x in items]
