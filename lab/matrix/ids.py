"""Test ids of the matrix's cells: a flavor as a word pytest's ``-k`` accepts, a pair, a
whole cell id; and the regex alternation the id patterns (`CELL_ID`, `LIFECYCLE_ID`) are
made of."""

from __future__ import annotations

import re
from collections.abc import Iterable

from lab.flavors import sources_of


def flavor_id(flavor: str) -> str:
    """A flavor as a test-id word that pytest's -k accepts: ``libreswan@sid`` ->
    ``libreswan_sid``, ``racoon`` -> ``racoon_system``, ``strongswan@/opt/my-build`` ->
    ``strongswan_opt_my_build``. Letters, digits and ``_`` only, never ``-``: in ids
    ``-`` separates the parts."""
    impl, _, source = flavor.partition("@")
    words = re.findall(r"[A-Za-z0-9]+", source or "system")
    return "_".join([impl, *words])


def flavor_from_id(word: str) -> str:
    """The flavor name back from `flavor_id` (a path comes back as its words)."""
    impl, _, source = word.partition("_")
    named = next((f"{impl}@{s}" for s in sources_of(impl) if flavor_id(f"{impl}@{s}") == word),
                 None)
    if named:
        return named
    return impl if source in ("", "system") else f"{impl}@{source}"


def pair_id(initiator: str, responder: str) -> str:
    """``libreswan_sid-strongswan_bookworm``: initiator first."""
    return f"{flavor_id(initiator)}-{flavor_id(responder)}"


def cell_id(initiator: str, responder: str, *rest: str) -> str:
    """A whole test id: the pair, then the other parts, all joined by ``-``; e.g.
    ``libreswan_sid-strongswan_bookworm-ikev2-tunnel-aes128gcm16``. Any flavor or pair
    can then be picked with ``pytest -k libreswan_sid`` or ``-k 'libreswan_sid-racoon'``."""
    return "-".join([pair_id(initiator, responder), *rest])


def alternatives(names: Iterable[str]) -> str:
    """A regex alternation, the longest first (net-to-net-routed before net-to-net)."""
    return "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
