"""One peer of a scenario (its address, flavor and own settings), and the proposal
helpers both it and the scenario use."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from lab.algorithms import Proposal, Proposals
from lab.errors import ScenarioError
from lab.identity import Identity, parse_identity
from lab.logcheck import KEYS as LOG_KEYS
from lab.logcheck import check_patterns
from lab.native import Native, check_native
from lab.scenario.allowed import IKE_VERSIONS, LIFETIME_RANGE, MODES, PREFIXLEN_RANGE
from lab.scenario.checks import (
    check_address,
    check_choice,
    check_flavor,
    check_int,
    check_proposal,
    check_psk,
    show,
)
from lab.values import anycast, parse_subnet


@dataclass(frozen=True)
class Peer:
    """One end: its address on the link and the daemon flavor it runs."""

    address: str
    flavor: str = "libreswan"
    prefixlen: int = None  # type: ignore[assignment]  # None: 64 for IPv6, 24 for IPv4
    psk: str | None = None  # overrides Scenario.psk for this side only (to break things)
    #: per-side settings: None means the scenario's own (a side may differ, to break things)
    mode: str | None = None
    ike_version: int | None = None
    #: a proposal or a tuple of them in order of preference; () means the daemon's defaults
    ike: Proposal | Proposals | None = None
    esp: Proposal | Proposals | None = None
    #: the network behind this peer (net-to-net), e.g. "10.1.0.0/24"
    subnet: str | None = None
    #: the IKE identity (lab.identity): None means the address
    id: str | None = None
    #: the escape hatch: lines of the daemon's own syntax at named places (lab.native)
    native: Native = ()
    #: this side's own lifetimes in seconds (None: the scenario's), e.g. longer on the side
    #: that should not start a rekey by lifetime
    ike_lifetime: int | None = None
    child_lifetime: int | None = None
    #: lines that must, and must not, appear in this side's daemon log (lab.logcheck)
    log_must: tuple[str, ...] = ()
    log_must_not: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.prefixlen is None:
            v4 = isinstance(self.address, str) and "." in self.address and ":" not in self.address
            object.__setattr__(self, "prefixlen", 24 if v4 else 64)

    @property
    def ip(self) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
        return ipaddress.ip_address(self.address)

    @property
    def identity(self) -> Identity:
        return parse_identity(self.address if self.id is None else self.id, "id")

    def check(self, side: str) -> None:
        """Every field, each error one line naming ``side.field``."""
        for key in ("ike", "esp"):
            object.__setattr__(self, key, one_or_list(getattr(self, key)))
        ip = check_address(f"{side}.address", self.address)
        check_flavor(f"{side}.flavor", self.flavor)
        check_int(f"{side}.prefixlen", self.prefixlen, PREFIXLEN_RANGE[0],
                  min(PREFIXLEN_RANGE[1], ip.max_prefixlen), f" for IPv{ip.version}")
        kind = anycast(ip, self.prefixlen)
        if kind is not None:
            raise ScenarioError(f"{side}.address: {show(self.address)} is {kind} of its"
                                f" /{self.prefixlen} (allowed: a unicast address a host can own)")
        if self.subnet is not None:
            parse_subnet(f"{side}.subnet", self.subnet)
        if self.psk is not None:
            check_psk(f"{side}.psk", self.psk)
        if self.mode is not None:
            check_choice(f"{side}.mode", self.mode, MODES)
        if self.ike_version is not None:
            check_choice(f"{side}.ike_version", self.ike_version, IKE_VERSIONS)
        check_proposal(f"{side}.ike", self.ike, optional=True)
        check_proposal(f"{side}.esp", self.esp, optional=True)
        if self.ike is not None and any(p.dh is None for p in as_list(self.ike)):
            raise ScenarioError(f"{side}.ike: IKE needs a DH group, e.g. 'aes128-sha1-modp2048'")
        if self.id is not None:
            parse_identity(self.id, f"{side}.id")
        check_native(self.native, f"{side}.native")
        for key in LOG_KEYS:
            object.__setattr__(self, key, check_patterns(f"{side}.{key}", getattr(self, key)))
        for key in ("ike_lifetime", "child_lifetime"):
            if getattr(self, key) is not None:
                check_int(f"{side}.{key}", getattr(self, key), *LIFETIME_RANGE, " seconds")


def as_list(value: Proposal | Proposals) -> Proposals:
    return (value,) if isinstance(value, Proposal) else value


def one_or_list(value: Any) -> Any:
    """A list of one proposal is that proposal (so ``scenario.ike`` stays a Proposal
    wherever the scenario names just one)."""
    return value[0] if isinstance(value, tuple) and len(value) == 1 else value
