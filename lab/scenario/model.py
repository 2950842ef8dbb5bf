"""The scenario: two peers and what they should negotiate, with each side's view of it
(its proposals, mode, lifetimes, identity); the checks are its base class's
(lab.scenario.rules)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field, replace
from typing import Any

from lab import blocked
from lab.algorithms import Proposal, Proposals, parse_proposal
from lab.expected import Stated
from lab.identity import Identity
from lab.origin import Origin
from lab.scenario.allowed import SHORT_LIFETIME, other_side
from lab.scenario.peer import Peer, as_list
from lab.scenario.rules import ScenarioRules
from lab.topology.path import PathSpec
from lab.topology.table import address, family_name


@dataclass(frozen=True)
class Scenario(ScenarioRules):
    name: str
    left: Peer
    right: Peer
    ike_version: int = 2
    mode: str = "transport"
    psk: str = "verysecret"
    #: a proposal or a tuple of them in order of preference; () means the daemons' defaults
    ike: Proposal | Proposals = field(default_factory=lambda: Proposal("aes128", "sha1", "modp2048"))
    esp: Proposal | Proposals = field(default_factory=lambda: Proposal("aes128", "sha1"))
    #: Optional different ESP proposal for the responder (to make it refuse).
    responder_esp: Proposal | None = None
    ike_lifetime: int = 3600
    child_lifetime: int = 1800
    initiator: str = "left"
    pings: int = 3
    #: the echo requests' data bytes (ping -s; None: the lab's 15), and the length every ESP
    #: packet of them must have on the wire (lab.wire.esplength; None: not checked)
    ping_size: int | None = None
    esp_length: int | None = None
    fault: str = "none"
    expect: str = "established"
    topology: str = "host-to-host"
    auth: str = "psk"
    #: what the path between the peers does (the router of topology routed applies it)
    path: PathSpec = field(default_factory=PathSpec)
    fragmentation: str = "default"
    encapsulation: str = "auto"
    #: after the first SA (lab.lifecycle): the event, who acts, and what starts a rekey
    lifecycle: str = "none"
    actor: str = "initiator"
    rekey_by: str = "command"
    #: rekey margin in seconds and its fuzz in percent (None: the daemons' defaults, or a
    #: fifth of a lifetime shorter than SHORT_LIFETIME with no fuzz)
    rekey_margin: int | None = None
    rekey_fuzz: int | None = None
    #: dead peer detection: seconds between checks, and seconds without an answer until the
    #: peer counts as dead and its SAs are cleared (None: no DPD; timeout default 3 x delay)
    dpd_delay: int | None = None
    dpd_timeout: int | None = None
    dpd_action: str = "clear"
    vanish: str = "stop"
    #: any IKE message a daemon sends again (seen on the wire) fails the cell's verdict
    fail_on_retransmit: bool = False
    #: probes that must get no reply and leave nothing in clear (lab.blocked)
    must_not_pass: tuple[blocked.Probe, ...] = ()
    #: the upstream case this scenario translates (metadata: it reaches no daemon)
    origin: Origin | None = None
    #: what the negotiation must end with, whatever the proposals ([negotiated], lab.expected)
    negotiated: Stated = field(default_factory=Stated)

    def __post_init__(self) -> None:
        self._check()

    @property
    def outer_family(self) -> int:
        return self.left.ip.version

    @property
    def inner_family(self) -> int:
        """The family of the protected traffic: the subnets' where there are subnets."""
        if self.left.subnet is None:
            return self.outer_family
        return ipaddress.ip_network(self.left.subnet).version

    @property
    def family(self) -> str:
        """ipv6, ipv4, 4in6 (IPv4 inside IPv6 ESP) or 6in4."""
        return family_name(self.outer_family, self.inner_family)

    @property
    def responder(self) -> str:
        return other_side(self.initiator)

    def other(self, side: str) -> str:
        """The side across the connection from ``side``."""
        return other_side(side)

    def peer(self, side: str) -> Peer:
        return self.left if side == "left" else self.right

    def address_seen(self, side: str, by: str) -> str:
        """The address ``by`` sees ``side``'s packets come from: behind the NAT, the
        initiator's are the router's on the responder's network."""
        if self.path.nat and side == self.initiator and by != side:
            return address(self, "router", by)[0]
        return self.peer(side).address

    def psk_of(self, side: str) -> str:
        own = self.peer(side).psk
        return self.psk if own is None else own

    def esp_list(self, side: str) -> Proposals:
        """The ESP proposals ``side`` is configured with, best first (its own, else the
        scenario's); () means the daemon's defaults."""
        own = self.peer(side).esp
        if own is not None:
            return as_list(own)
        if side == self.responder and self.responder_esp is not None:
            return (self.responder_esp,)
        return as_list(self.esp)

    def ike_list(self, side: str) -> Proposals:
        own = self.peer(side).ike
        return as_list(self.ike if own is None else own)

    def esp_of(self, side: str) -> Proposal | None:
        """``side``'s first ESP preference (None: the daemon's defaults)."""
        return next(iter(self.esp_list(side)), None)

    def ike_of(self, side: str) -> Proposal | None:
        """``side``'s first IKE preference (None: the daemon's defaults)."""
        return next(iter(self.ike_list(side)), None)

    def identity(self, side: str) -> Identity:
        """``side``'s IKE identity (its address unless it sets ``id``)."""
        return self.peer(side).identity

    def mode_of(self, side: str) -> str:
        return self.peer(side).mode or self.mode

    def ike_version_of(self, side: str) -> int:
        return self.peer(side).ike_version or self.ike_version

    def child_lifetime_of(self, side: str) -> int:
        own = self.peer(side).child_lifetime
        return self.child_lifetime if own is None else own

    def ike_lifetime_of(self, side: str) -> int:
        own = self.peer(side).ike_lifetime
        return self.ike_lifetime if own is None else own

    def margin_of(self, side: str) -> int | None:
        """Seconds before the end of a lifetime that ``side`` rekeys: the scenario's margin,
        else a fifth of a short lifetime (the shorter of the two), else None (the daemon's
        default)."""
        if self.rekey_margin is not None:
            return self.rekey_margin
        shortest = min(self.child_lifetime_of(side), self.ike_lifetime_of(side))
        return max(1, shortest // 5) if shortest < SHORT_LIFETIME else None

    def fuzz_of(self, side: str) -> int | None:
        """The margin's random part in percent (0 where the lab chose the margin)."""
        if self.rekey_fuzz is not None:
            return self.rekey_fuzz
        return 0 if self.margin_of(side) is not None else None

    @property
    def dpd(self) -> tuple[int, int] | None:
        """(delay, timeout) in seconds, or None without DPD."""
        if self.dpd_delay is None:
            return None
        return self.dpd_delay, self.dpd_timeout if self.dpd_timeout is not None \
            else 3 * self.dpd_delay

    @property
    def actor_side(self) -> str:
        """The side that acts in the lifecycle event."""
        return self.initiator if self.actor == "initiator" else self.responder

    def with_(self, **changes: Any) -> Scenario:
        return replace(self, **changes)

    @property
    def conn_name(self) -> str:
        return "lab"


def seed_scenario(ike_version: int = 1, mode: str = "transport", ike: str = "aes128-sha1-modp1024",
                  esp: str = "aes128-sha1", flavor: str = "libreswan") -> Scenario:
    """The source text's Openswan connection: authby=secret, esp=aes128-sha1,
    ike=aes128-sha-modp1024, between 2001:db8:1:1::1 and 2001:db8:2:2::2."""
    return Scenario(
        name=f"seed-ikev{ike_version}-{mode}-{ike}",
        left=Peer("2001:db8:1:1::1", flavor),
        right=Peer("2001:db8:2:2::2", flavor),
        ike_version=ike_version,
        mode=mode,
        ike=parse_proposal(ike, "ike", needs_dh=True),
        esp=parse_proposal(esp, "esp", needs_dh=False),
    )
