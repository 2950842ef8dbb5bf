"""What topology/ reads of a scenario, stated here as protocols that the scenario side
fills (lab.scenario's Scenario and Peer do, by their fields and methods), so that
topology/ never imports the scenario: the arrow points from the scenario down to here.

- ``Site``: one peer's place on the networks (its address, prefix length, subnet);
- ``Sites``: the named topology and each side's site (table.py resolves address rules
  against it: ``address(sites, rule, side)``);
- ``Plan``: what building a topology and its path needs besides (build.py, impair.py).
"""

from __future__ import annotations

from typing import Protocol

from lab.topology.path import PathSpec


class Site(Protocol):
    """One peer's place: its address on the link between the peers, and its subnet."""

    @property
    def address(self) -> str: ...

    @property
    def prefixlen(self) -> int: ...

    @property
    def subnet(self) -> str | None: ...


class Sites(Protocol):
    """A topology's name and each side's site."""

    @property
    def topology(self) -> str: ...

    def peer(self, side: str, /) -> Site: ...


class Plan(Sites, Protocol):
    """What build.py and impair.py read: the sites, who initiates, the path, the fault."""

    @property
    def initiator(self) -> str: ...

    @property
    def responder(self) -> str: ...

    @property
    def outer_family(self) -> int: ...

    @property
    def path(self) -> PathSpec: ...

    @property
    def fault(self) -> str: ...

    def other(self, side: str, /) -> str: ...

    def address_seen(self, side: str, by: str) -> str: ...
