"""The neutral scenario description: what two peers should negotiate.

A scenario says nothing about any daemon's syntax. It is built in Python
(``Scenario(...)``) or read from TOML (``load_scenario(path)``); every
validation error is one line naming the field, the bad value and what is
allowed.
"""

from __future__ import annotations

import ipaddress
import string
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import tomli_w

from lab import blocked
from lab.algorithms import Proposal, Proposals, parse_proposal, parse_proposals, show_proposals
from lab.errors import ScenarioError, UsageError
from lab.expected import Stated, parse_stated, stated_to_dict
from lab.flavors import parse_flavor
from lab.identity import Identity, parse_identity
from lab.logcheck import KEYS as LOG_KEYS
from lab.logcheck import check_patterns
from lab.native import Native, check_native, native_to_dict, parse_native
from lab.origin import Origin, parse_origin
from lab.topology.path import MTU_RANGE, PathSpec, path_from_dict, path_to_dict
from lab.topology.table import TOPOLOGIES, address, family_name
from lab.values import anycast, check_printable, parse_ip, parse_subnet

MODES = ("transport", "tunnel")
IKE_VERSIONS = (1, 2)
SIDES = ("left", "right")
#: Ways a cell can be broken on purpose, to prove the lab reports the cause.
FAULTS = ("none", "nd-deadlock")
#: how the peers authenticate: a pre-shared key, or certificates the lab makes per run
AUTHS = ("psk", "rsa", "ecdsa")
#: lifetimes in seconds; below SHORT_LIFETIME the daemons' default rekey margins (Libreswan's
#: 540 s, strongSwan's 10 %) do not fit, so the scenario's margin (or a fifth of the lifetime)
#: is written into every config
LIFETIME_RANGE = (4, 86400)
SHORT_LIFETIME = 1200
#: seconds before the end of a lifetime that a rekey starts, and its random part (percent
#: of the margin, as Libreswan's rekeyfuzz; strongSwan's rand_time is that many seconds)
MARGIN_RANGE, FUZZ_RANGE = (1, 86399), (0, 200)
DPD_RANGE = (1, 3600)
#: what a side does once DPD finds the peer dead: drop the SAs, or negotiate them again
DPD_ACTIONS = ("clear", "restart")
#: What happens after the first SA (lab.lifecycle): the matrix axis --lab-lifecycle
LIFECYCLES = ("none", "rekey-child", "rekey-ike", "restart", "dpd", "delete", "simultaneous",
              "responder-initiates")
#: who acts (rekeys, is killed, vanishes), and what starts a rekey
ACTORS = ("initiator", "responder")
REKEY_BY = ("command", "lifetime")
#: how the actor of a dpd cell vanishes: its daemon stops (SIGSTOP), or its link goes down
VANISH = ("stop", "link")
PINGS_RANGE = (1, 100)
#: the echo's data bytes (ping -s), and an ESP packet's length on the wire (lab.wire.esplength)
PING_SIZE_RANGE = (16, 1400)
ESP_LENGTH_RANGE = (16, 1500)
#: How a cell is expected to end: established, or one class of failure. Each driver maps
#: its daemon's words to these classes (its ``outcome_words`` table); ``mode-mismatch`` is a
#: daemon refusing over the mode, ``other-mode`` SAs up in both kernels in a mode a side is
#: not configured for (read from the kernels, lab.outcome.established).
EXPECTS = ("established", "no-proposal-chosen", "authentication-failed", "ts-unacceptable",
           "mode-mismatch", "other-mode", "version-mismatch", "timeout")
#: IKE fragmentation (RFC 7383, and IKEv1's): each daemon's own default, or set on or off
FRAGMENTATIONS = ("default", "on", "off")
#: UDP encapsulation of ESP (RFC 3948): where a NAT is detected, or always (forced)
ENCAPSULATIONS = ("auto", "force")


#: what a scenario name may hold: it reaches only comments and headers of the rendered files,
#: but no line break, quote or control character may ever reach them
NAME_CHARS = string.ascii_letters + string.digits + " _.+-@>=:,/~"
NAME_MAX = 200
#: a PSK is any printable text (UTF-8 on the wire), up to this many bytes; each driver
#: encodes it for its own file (hex of the UTF-8 bytes), so quotes, '#', '%', backslash
#: or a leading 0x/0s arrive byte for byte
PSK_MAX_BYTES = 255
PREFIXLEN_RANGE = (1, 128)
#: Linux's limits on a path and on one of its components (a flavor's tree)
PATH_MAX, NAME_MAX_BYTES = 4095, 255


def show(value: Any) -> str:
    """A value as the user wrote it, on one line: TOML's true/false, strings quoted."""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def check_str(where: str, value: Any, allowed: str) -> str:
    if not isinstance(value, str):
        raise ScenarioError(f"{where}: {show(value)} is not a string (allowed: {allowed})")
    return value


def check_int(where: str, value: Any, low: int, high: int, unit: str = "") -> int:
    """An integer in low..high; true/false are not numbers here (bool is an int in Python)."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ScenarioError(f"{where}: {show(value)} is not allowed (allowed: {low}..{high}{unit})")
    return value


def check_choice(where: str, value: Any, choices: tuple[Any, ...]) -> None:
    same_type = all(type(value) is type(c) for c in choices)  # True == 1, 1.0 == 1: not here
    if not same_type or value not in choices:
        raise ScenarioError(f"{where}: {show(value)} is not allowed"
                            f" (allowed: {', '.join(str(c) for c in choices)})")


def check_name(where: str, value: Any) -> str:
    allowed = f"1 to {NAME_MAX} of letters, digits, space and {NAME_CHARS[62:].strip()}"
    text = check_str(where, value, allowed)
    bad = next((c for c in text if c not in NAME_CHARS), None)
    if not text or len(text) > NAME_MAX or bad is not None:
        what = f"holds {bad!r}" if bad is not None else "has the wrong length"
        raise ScenarioError(f"{where}: {show(text)} {what} (allowed: {allowed})")
    return text


def check_psk(where: str, value: Any) -> str:
    allowed = f"printable text of 1 to {PSK_MAX_BYTES} bytes in UTF-8"
    text = check_str(where, value, allowed)
    check_printable(where, text, allowed)
    if not 1 <= len(text.encode()) <= PSK_MAX_BYTES:
        raise ScenarioError(f"{where}: {show(text)} is {len(text.encode())} bytes long"
                            f" (allowed: {allowed})")
    return text


def check_address(where: str, value: Any) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """A unicast address a peer can own on a link: IPv6 global or unique-local without
    scope, or IPv4 unicast."""
    allowed = ("a unicast IPv6 address such as 2001:db8:1:1::1 (without %scope)"
               " or IPv4 address such as 192.0.2.1")
    text = check_str(where, value, allowed)
    ip = parse_ip(where, text, allowed)
    kinds = (("is_multicast", "a multicast address"),
             ("is_unspecified", "the unspecified address"), ("is_loopback", "the loopback address"),
             ("is_link_local", "a link-local address"), ("ipv4_mapped", "an IPv4-mapped address"),
             ("is_site_local", "a site-local address"), ("is_reserved", "a reserved address"))
    for attr, kind in kinds:
        if getattr(ip, attr, None):  # (IPv4 addresses have no scope_id, ipv4_mapped, ...)
            raise ScenarioError(f"{where}: {show(text)} is {kind} (allowed: {allowed})")
    return ip


def check_flavor(where: str, value: Any) -> str:
    allowed = "libreswan, strongswan or racoon, each as NAME, NAME@SUITE or NAME@/path"
    text = check_printable(where, check_str(where, value, allowed), allowed)
    try:
        flavor = parse_flavor(text, where)
    except UsageError as exc:
        raise ScenarioError(str(exc)) from None
    if flavor.root is not None and (len(str(flavor.root).encode()) > PATH_MAX or any(
            len(part.encode()) > NAME_MAX_BYTES for part in flavor.root.parts)):
        raise ScenarioError(f"{where}: {show(text)} is too long a path (allowed: at most"
                            f" {PATH_MAX} bytes, {NAME_MAX_BYTES} per component)")
    return text


def check_proposal(where: str, value: Any, optional: bool = False) -> None:
    """A Proposal, or a tuple of them in order of preference (empty: the daemon's defaults)."""
    if (value is None and optional) or isinstance(value, Proposal):
        return
    if isinstance(value, tuple) and all(isinstance(p, Proposal) for p in value):
        return
    raise ScenarioError(f"{where}: {show(value)} is not a proposal (allowed: a Proposal, e.g."
                        f" parse_proposal('aes128-sha1-modp2048', ...))")


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


@dataclass(frozen=True)
class Scenario:
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
        check_name("name", self.name)
        check_choice("ike_version", self.ike_version, IKE_VERSIONS)
        check_choice("mode", self.mode, MODES)
        check_psk("psk", self.psk)
        check_choice("initiator", self.initiator, SIDES)
        check_choice("expect", self.expect, EXPECTS)
        check_choice("fault", self.fault, FAULTS)
        check_choice("auth", self.auth, AUTHS)
        check_choice("fragmentation", self.fragmentation, FRAGMENTATIONS)
        check_choice("encapsulation", self.encapsulation, ENCAPSULATIONS)
        check_int("ike_lifetime", self.ike_lifetime, *LIFETIME_RANGE, " seconds")
        check_int("child_lifetime", self.child_lifetime, *LIFETIME_RANGE, " seconds")
        check_int("pings", self.pings, *PINGS_RANGE)
        if self.ping_size is not None:
            check_int("ping_size", self.ping_size, *PING_SIZE_RANGE, " bytes")
        if self.esp_length is not None:
            check_int("esp_length", self.esp_length, *ESP_LENGTH_RANGE, " bytes")
        check_choice("fail_on_retransmit", self.fail_on_retransmit, (False, True))
        _check_lifecycle(self)
        for key in ("ike", "esp"):
            object.__setattr__(self, key, one_or_list(getattr(self, key)))
        check_proposal("ike", self.ike)
        check_proposal("esp", self.esp)
        check_proposal("responder_esp", self.responder_esp, optional=True)
        if any(p.dh is None for p in as_list(self.ike)):
            raise ScenarioError("ike: IKE needs a DH group, e.g. 'aes128-sha1-modp2048'")
        for side in SIDES:
            peer = getattr(self, side)
            if not isinstance(peer, Peer):
                raise ScenarioError(f"{side}: {show(peer)} is not a Peer (allowed: a table with"
                                    " address, flavor, ...)")
            peer.check(side)
        if self.left.ip.version != self.right.ip.version:
            raise ScenarioError(f"right.address: {show(self.right.address)} is"
                                f" IPv{self.right.ip.version} but left.address is"
                                f" IPv{self.left.ip.version} (allowed: the same family on both"
                                " sides)")
        if self.left.ip == self.right.ip:
            raise ScenarioError(f"right.address: {show(self.right.address)} equals left.address"
                                " (allowed: two different addresses)")
        _check_topology(self)
        _check_path(self)
        if not isinstance(self.must_not_pass, tuple) or not all(
                isinstance(p, blocked.Probe) for p in self.must_not_pass):
            raise ScenarioError(f"must_not_pass: {show(self.must_not_pass)} is not a tuple of"
                                " Probe (allowed: blocked.parse_probes([...], ...))")
        blocked.check(self)
        if self.origin is not None and not isinstance(self.origin, Origin):
            raise ScenarioError(f"origin: {show(self.origin)} is not an Origin (allowed:"
                                " parse_origin({...}))")
        _check_stated(self)

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
        return "right" if self.initiator == "left" else "left"

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


def _check_lifecycle(s: Scenario) -> None:
    check_choice("lifecycle", s.lifecycle, LIFECYCLES)
    check_choice("actor", s.actor, ACTORS)
    check_choice("rekey_by", s.rekey_by, REKEY_BY)
    check_choice("dpd_action", s.dpd_action, DPD_ACTIONS)
    check_choice("vanish", s.vanish, VANISH)
    if s.vanish != "stop" and s.lifecycle != "dpd":
        raise ScenarioError(f"vanish: {show(s.vanish)} is only for lifecycle 'dpd' (allowed"
                            f" with lifecycle {show(s.lifecycle)}: 'stop')")
    if s.rekey_margin is not None:
        check_int("rekey_margin", s.rekey_margin, *MARGIN_RANGE, " seconds")
    if s.rekey_fuzz is not None:
        check_int("rekey_fuzz", s.rekey_fuzz, *FUZZ_RANGE, " percent")
    for key in ("dpd_delay", "dpd_timeout"):
        if getattr(s, key) is not None:
            check_int(key, getattr(s, key), *DPD_RANGE, " seconds")
    if s.dpd_timeout is not None and s.dpd_delay is None:
        raise ScenarioError(f"dpd_timeout: {show(s.dpd_timeout)} without dpd_delay (allowed:"
                            " dpd_delay alone, or both)")
    for side in SIDES:
        margin, fuzz = s.margin_of(side), s.fuzz_of(side) or 0
        if margin is None:
            continue
        for key in ("child_lifetime", "ike_lifetime"):
            life = getattr(s, f"{key}_of")(side)
            if margin * (100 + fuzz) >= life * 100:
                where = "rekey_margin" if s.rekey_margin is not None else key
                raise ScenarioError(f"{where}: a rekey margin of {margin} s with {fuzz} % fuzz"
                                    f" does not fit {side}'s {key} of {life} s (allowed: margin"
                                    " x (1 + fuzz) shorter than every lifetime)")
    if s.lifecycle == "dpd" and s.dpd is None:
        raise ScenarioError("dpd_delay: missing (allowed: seconds between checks; lifecycle"
                            " 'dpd' needs DPD)")


def _check_stated(s: Scenario) -> None:
    if not isinstance(s.negotiated, Stated):
        raise ScenarioError(f"negotiated: {show(s.negotiated)} is not a table (allowed: a"
                            " [negotiated] table with ike, esp and/or esn)")
    s.negotiated.check()
    if not s.negotiated.empty and s.expect != "established":
        raise ScenarioError(f"negotiated: stated with expect {show(s.expect)} (allowed: only"
                            " with expect 'established': nothing is negotiated otherwise)")


def _subnet(s: Scenario, side: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    text = s.peer(side).subnet
    what = f"{side}.subnet: {show(text)}"
    net = parse_subnet(f"{side}.subnet", text)
    if net.num_addresses < 4:
        raise ScenarioError(f"{what} is too small (allowed: /30 or larger for IPv4, /126 or"
                            " larger for IPv6: the gateway and the host need an address each)")
    return net


def _check_router(s: Scenario) -> None:
    nets = {side: ipaddress.ip_network(f"{s.peer(side).address}/{s.peer(side).prefixlen}",
                                       strict=False) for side in SIDES}
    if nets["left"] == nets["right"]:
        raise ScenarioError(f"right.address: {show(s.right.address)} is on left's network"
                            f" {nets['left']} (allowed: topology {s.topology} routes between two"
                            " networks)")
    for side, net in nets.items():
        if net.num_addresses < 256 or s.peer(side).ip == net.network_address + 254:
            raise ScenarioError(f"{side}.address: {show(s.peer(side).address)} leaves no router"
                                f" address in {net} (allowed: /24 or larger, the 254th address"
                                " free)")


def _check_topology(s: Scenario) -> None:
    """The topology exists, and the peers' subnets are what it needs."""
    check_choice("topology", s.topology, tuple(TOPOLOGIES))
    layout = TOPOLOGIES[s.topology]
    if layout.has_router:
        _check_router(s)
    sides = layout.subnet_sides
    for side in SIDES:
        if side not in sides and s.peer(side).subnet is not None:
            allowed = f"no subnet on {side} in {s.topology}" if sides else "no subnet"
            raise ScenarioError(f"{side}.subnet: {show(s.peer(side).subnet)} is not allowed"
                                f" in topology {s.topology} (allowed: {allowed}; subnets need"
                                " topology net-to-net, or host-to-net on the right)")
    if not sides:
        return
    for side in sides:
        if s.peer(side).subnet is None:
            raise ScenarioError(f"{side}.subnet: missing (allowed: a network such as"
                                f" '10.1.0.0/24'; topology {s.topology} needs one on"
                                f" {' and '.join(sides)})")
    for side in SIDES:
        if s.mode_of(side) != "tunnel":
            where = f"{side}.mode" if s.peer(side).mode else "mode"
            raise ScenarioError(f"{where}: {show(s.mode_of(side))} is not allowed in topology"
                                f" {s.topology} (allowed: tunnel)")
    nets = {side: _subnet(s, side) for side in sides}
    if len(nets) == 1:
        (side, net), = nets.items()
        if net.version != s.outer_family:
            raise ScenarioError(f"{side}.subnet: {show(s.peer(side).subnet)} is IPv{net.version}"
                                f" but the addresses are IPv{s.outer_family} (allowed: the same"
                                f" family in topology {s.topology})")
    else:
        left, right = nets["left"], nets["right"]
        if left.version != right.version:
            raise ScenarioError(f"right.subnet: {show(s.right.subnet)} is IPv{right.version} but"
                                f" left.subnet is IPv{left.version} (allowed: the same family)")
        if left.overlaps(right):  # type: ignore[arg-type]
            raise ScenarioError(f"right.subnet: {show(s.right.subnet)} overlaps left.subnet"
                                f" {show(s.left.subnet)} (allowed: separate networks)")
    for side in SIDES:
        for net_side, net in nets.items():
            if s.peer(side).ip in net:
                raise ScenarioError(f"{side}.address: {show(s.peer(side).address)} is inside"
                                    f" {net_side}.subnet {str(net)!r} (allowed: an address"
                                    " outside the subnets)")


def _check_path(s: Scenario) -> None:
    """The path's conditions need the router of topology routed; NAT is IPv4, tunnel mode."""
    if not isinstance(s.path, PathSpec):
        raise ScenarioError(f"path: {show(s.path)} is not a path (allowed: a [path] table)")
    s.path.check("path")
    if s.path.plain:
        return
    if not TOPOLOGIES[s.topology].has_router:
        raise ScenarioError(f"path: {s.path.describe()} needs a router between the peers"
                            f" (allowed: topology routed, not {s.topology})")
    low, high = MTU_RANGE[s.outer_family]
    if s.path.mtu and not low <= s.path.mtu <= high:
        raise ScenarioError(f"path.mtu: {s.path.mtu} is not allowed for IPv{s.outer_family}"
                            f" (allowed: {low}..{high} bytes, or 0 for 1500)")
    if s.path.nat:
        if s.outer_family != 4:
            raise ScenarioError("path.nat: true needs IPv4 between the peers (allowed: NAT"
                                " with IPv4 addresses; the router's NAT is IPv4's act_nat)")
        for side in SIDES:
            if s.mode_of(side) != "tunnel":
                where = f"{side}.mode" if s.peer(side).mode else "mode"
                raise ScenarioError(f"{where}: {show(s.mode_of(side))} is not allowed behind"
                                    " NAT (allowed: tunnel)")


_TOP_KEYS = {"name", "left", "right", "ike_version", "mode", "psk", "ike", "esp",
             "responder_esp", "ike_lifetime", "child_lifetime", "initiator", "pings", "fault",
             "expect", "topology", "auth", "path", "fragmentation", "encapsulation",
             "lifecycle", "actor", "rekey_by", "rekey_margin", "rekey_fuzz", "dpd_delay",
             "dpd_timeout", "dpd_action", "vanish", "fail_on_retransmit", "must_not_pass",
             "ping_size", "esp_length",
             "origin", "negotiated"}
_PEER_KEYS = {"address", "flavor", "prefixlen", "psk", "mode", "ike_version", "ike", "esp",
              "subnet", "id", "native", "ike_lifetime", "child_lifetime", *LOG_KEYS}


def scenario_from_dict(data: dict[str, Any], source: str = "scenario") -> Scenario:
    """Build a Scenario from plain data (as read from TOML), naming ``source`` in errors."""
    if not isinstance(data, dict):
        raise ScenarioError(f"{source}: {show(data)} is not a table of fields")
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise ScenarioError(f"{source}: unknown field {sorted(unknown)[0]!r}"
                            f" (allowed: {', '.join(sorted(_TOP_KEYS))})")
    kwargs: dict[str, Any] = {}
    for side in SIDES:
        raw = data.get(side)
        if not isinstance(raw, dict) or "address" not in raw:
            raise ScenarioError(f"{source}: {side}: a table with at least 'address' is required"
                                f" (found: {show(raw)})")
        bad = set(raw) - _PEER_KEYS
        if bad:
            raise ScenarioError(f"{source}: {side}.{sorted(bad)[0]!r}: unknown field"
                                f" (allowed: {', '.join(sorted(_PEER_KEYS))})")
        peer = dict(raw)
        for key in ("ike", "esp"):
            if key in peer:
                peer[key] = parse_proposals(peer[key], f"{source}: {side}.{key}", needs_dh=key == "ike")
        if "native" in peer:
            peer["native"] = parse_native(peer["native"], f"{source}: {side}.native")
        if "id" in peer:
            parse_identity(peer["id"], f"{source}: {side}.id")
        kwargs[side] = Peer(**peer)
    for key in ("ike", "esp"):
        if key in data:
            kwargs[key] = parse_proposals(data[key], f"{source}: {key}", needs_dh=key == "ike")
    if "responder_esp" in data:
        kwargs["responder_esp"] = parse_proposal(data["responder_esp"], f"{source}: responder_esp",
                                                 needs_dh=False)
    if "path" in data:
        kwargs["path"] = path_from_dict(data["path"], f"{source}: path")
    if "must_not_pass" in data:
        kwargs["must_not_pass"] = blocked.parse_probes(data["must_not_pass"],
                                                       f"{source}: must_not_pass")
    if "origin" in data:
        kwargs["origin"] = parse_origin(data["origin"], f"{source}: origin")
    if "negotiated" in data:
        kwargs["negotiated"] = parse_stated(data["negotiated"], f"{source}: negotiated")
    for key in _TOP_KEYS - {"left", "right", "ike", "esp", "responder_esp", "path",
                            "must_not_pass", "origin", "negotiated"}:
        if key in data:
            kwargs[key] = data[key]
    named = "name" in kwargs
    kwargs.setdefault("name", Path(source).stem)
    try:
        return Scenario(**kwargs)
    except ScenarioError as exc:
        hint = "" if named or not str(exc).startswith("name:") else \
            " (the name comes from the file name; set name = \"...\" in the file)"
        raise ScenarioError(f"{source}: {exc}{hint}") from None


def scenario_to_dict(s: Scenario) -> dict[str, Any]:
    """Plain data that scenario_from_dict() reads back (and that TOML can hold)."""
    data: dict[str, Any] = {
        "name": s.name, "ike_version": s.ike_version, "mode": s.mode, "psk": s.psk,
        "ike": show_proposals(as_list(s.ike)), "esp": show_proposals(as_list(s.esp)),
        "ike_lifetime": s.ike_lifetime,
        "child_lifetime": s.child_lifetime, "initiator": s.initiator, "pings": s.pings,
        "fault": s.fault, "expect": s.expect, "topology": s.topology, "auth": s.auth,
        "fragmentation": s.fragmentation, "encapsulation": s.encapsulation}
    if not s.path.plain:
        data["path"] = path_to_dict(s.path)
    if s.lifecycle != "none":
        data.update(lifecycle=s.lifecycle, actor=s.actor, rekey_by=s.rekey_by)
    for key in ("rekey_margin", "rekey_fuzz", "dpd_delay", "dpd_timeout"):
        if getattr(s, key) is not None:
            data[key] = getattr(s, key)
    if s.dpd_action != "clear":
        data["dpd_action"] = s.dpd_action
    if s.vanish != "stop":
        data["vanish"] = s.vanish
    if s.fail_on_retransmit:
        data["fail_on_retransmit"] = True
    if not s.negotiated.empty:
        data["negotiated"] = stated_to_dict(s.negotiated)
    if s.responder_esp is not None:
        data["responder_esp"] = str(s.responder_esp)
    for key in ("ping_size", "esp_length"):
        if getattr(s, key) is not None:
            data[key] = getattr(s, key)
    if s.must_not_pass:
        data["must_not_pass"] = [p.to_dict() for p in s.must_not_pass]
    if s.origin is not None:
        data["origin"] = s.origin.to_dict()
    for side in SIDES:
        peer = s.peer(side)
        data[side] = {"address": peer.address, "flavor": peer.flavor, "prefixlen": peer.prefixlen}
        for key in ("psk", "subnet", "mode"):
            if getattr(peer, key) is not None:
                data[side][key] = getattr(peer, key)
        for key in ("ike", "esp"):
            if getattr(peer, key) is not None:
                data[side][key] = show_proposals(as_list(getattr(peer, key)))
        if peer.id is not None:
            data[side]["id"] = peer.id
        if peer.native:
            data[side]["native"] = native_to_dict(peer.native)
        if peer.ike_version is not None:
            data[side]["ike_version"] = peer.ike_version
        for key in ("ike_lifetime", "child_lifetime"):
            if getattr(peer, key) is not None:
                data[side][key] = getattr(peer, key)
        for key in LOG_KEYS:
            if getattr(peer, key):
                data[side][key] = list(getattr(peer, key))
    return data


def scenario_to_toml(s: Scenario) -> str:
    """The scenario as TOML (written by tomli-w, so every string round-trips)."""
    return tomli_w.dumps(scenario_to_dict(s))


def load_scenario(path: str | Path) -> Scenario:
    """Read a scenario file; every error is one line naming the file."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ScenarioError(f"{path}: no such scenario file") from None
    except IsADirectoryError:
        raise ScenarioError(f"{path}: is a directory (allowed: a scenario TOML file)") from None
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read the scenario file: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ScenarioError(f"{path}: not a text file (byte {raw[exc.start]:#04x} at offset"
                            f" {exc.start} is not UTF-8; allowed: a scenario TOML file)") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        first = str(exc).splitlines()[0] if str(exc) else "parse error"
        raise ScenarioError(f"{path}: not valid TOML: {first}") from None
    return scenario_from_dict(data, str(path))


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
