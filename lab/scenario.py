"""The neutral scenario description: what two peers should negotiate.

A scenario says nothing about any daemon's syntax. It is built in Python
(``Scenario(...)``) or read from TOML (``load_scenario(path)``); every
validation error is one line naming the field, the bad value and what is
allowed.
"""

from __future__ import annotations

import ipaddress
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from lab.algorithms import Proposal, parse_proposal
from lab.errors import ScenarioError

MODES = ("transport", "tunnel")
IKE_VERSIONS = (1, 2)
SIDES = ("left", "right")
#: Ways a cell can be broken on purpose, to prove the lab reports the cause.
FAULTS = ("none", "nd-deadlock")
#: How a cell is expected to end: established, or one class of failure. Each driver maps
#: its daemon's words to these classes (its ``outcome_words`` table).
EXPECTS = ("established", "no-proposal-chosen", "authentication-failed", "ts-unacceptable",
           "mode-mismatch", "version-mismatch", "timeout")


@dataclass(frozen=True)
class Peer:
    """One end: its address on the link and the daemon flavor it runs."""

    address: str
    flavor: str = "libreswan"
    prefixlen: int = 64
    psk: str | None = None  # overrides Scenario.psk for this side only (to break things)
    #: per-side settings: None means the scenario's own (a side may differ, to break things)
    mode: str | None = None
    ike: Proposal | None = None
    esp: Proposal | None = None

    @property
    def ip(self) -> ipaddress.IPv6Address:
        return ipaddress.IPv6Address(self.address)


@dataclass(frozen=True)
class Scenario:
    name: str
    left: Peer
    right: Peer
    ike_version: int = 2
    mode: str = "transport"
    psk: str = "verysecret"
    ike: Proposal = field(default_factory=lambda: Proposal("aes128", "sha1", "modp2048"))
    esp: Proposal = field(default_factory=lambda: Proposal("aes128", "sha1"))
    #: Optional different ESP proposal for the responder (to make it refuse).
    responder_esp: Proposal | None = None
    ike_lifetime: int = 3600
    child_lifetime: int = 1800
    initiator: str = "left"
    pings: int = 3
    fault: str = "none"
    expect: str = "established"

    def __post_init__(self) -> None:
        if self.ike_version not in IKE_VERSIONS:
            raise ScenarioError(
                f"ike_version: {self.ike_version!r} is not allowed (allowed: 1, 2)")
        if self.mode not in MODES:
            raise ScenarioError(f"mode: {self.mode!r} is not allowed (allowed: {', '.join(MODES)})")
        if self.initiator not in SIDES:
            raise ScenarioError(f"initiator: {self.initiator!r} is not allowed (allowed: left, right)")
        if self.expect not in EXPECTS:
            raise ScenarioError(f"expect: {self.expect!r} is not allowed (allowed: {', '.join(EXPECTS)})")
        if self.fault not in FAULTS:
            raise ScenarioError(f"fault: {self.fault!r} is not allowed (allowed: {', '.join(FAULTS)})")
        for what, seconds in (("ike_lifetime", self.ike_lifetime),
                              ("child_lifetime", self.child_lifetime)):
            if not isinstance(seconds, int) or not 60 <= seconds <= 86400:
                raise ScenarioError(f"{what}: {seconds!r} is not allowed (allowed: 60..86400 seconds)")
        if not isinstance(self.pings, int) or not 1 <= self.pings <= 100:
            raise ScenarioError(f"pings: {self.pings!r} is not allowed (allowed: 1..100)")
        if self.ike.dh is None:
            raise ScenarioError("ike: IKE needs a DH group, e.g. 'aes128-sha1-modp2048'")
        for side in SIDES:
            peer = getattr(self, side)
            if peer.mode is not None and peer.mode not in MODES:
                raise ScenarioError(f"{side}.mode: {peer.mode!r} is not allowed"
                                    f" (allowed: {', '.join(MODES)})")
            if peer.ike is not None and peer.ike.dh is None:
                raise ScenarioError(f"{side}.ike: IKE needs a DH group, e.g. 'aes128-sha1-modp2048'")
            try:
                ip = ipaddress.ip_address(peer.address)
            except ValueError:
                raise ScenarioError(
                    f"{side}.address: {peer.address!r} is not an IP address") from None
            if ip.version != 6:
                raise ScenarioError(f"{side}.address: {peer.address!r} is not IPv6 (the lab is IPv6)")
        if self.left.ip == self.right.ip:
            raise ScenarioError("right.address: equals left.address")

    @property
    def responder(self) -> str:
        return "right" if self.initiator == "left" else "left"

    def peer(self, side: str) -> Peer:
        return self.left if side == "left" else self.right

    def psk_of(self, side: str) -> str:
        return self.peer(side).psk or self.psk

    def esp_of(self, side: str) -> Proposal:
        """The ESP proposal ``side`` is configured with (its own, else the scenario's)."""
        own = self.peer(side).esp
        if own is not None:
            return own
        if side == self.responder and self.responder_esp is not None:
            return self.responder_esp
        return self.esp

    def ike_of(self, side: str) -> Proposal:
        return self.peer(side).ike or self.ike

    def mode_of(self, side: str) -> str:
        return self.peer(side).mode or self.mode

    def with_(self, **changes: Any) -> Scenario:
        return replace(self, **changes)

    @property
    def conn_name(self) -> str:
        return "lab"


_TOP_KEYS = {"name", "left", "right", "ike_version", "mode", "psk", "ike", "esp",
             "responder_esp", "ike_lifetime", "child_lifetime", "initiator", "pings", "fault",
             "expect"}
_PEER_KEYS = {"address", "flavor", "prefixlen", "psk", "mode", "ike", "esp"}


def scenario_from_dict(data: dict[str, Any], source: str = "scenario") -> Scenario:
    """Build a Scenario from plain data (as read from TOML), naming ``source`` in errors."""
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise ScenarioError(f"{source}: unknown field {sorted(unknown)[0]!r}"
                            f" (allowed: {', '.join(sorted(_TOP_KEYS))})")
    kwargs: dict[str, Any] = {}
    for side in SIDES:
        raw = data.get(side)
        if not isinstance(raw, dict) or "address" not in raw:
            raise ScenarioError(f"{source}: {side}: a table with at least 'address' is required")
        bad = set(raw) - _PEER_KEYS
        if bad:
            raise ScenarioError(f"{source}: {side}.{sorted(bad)[0]}: unknown field"
                                f" (allowed: {', '.join(sorted(_PEER_KEYS))})")
        peer = dict(raw)
        for key in ("ike", "esp"):
            if key in peer:
                peer[key] = parse_proposal(peer[key], f"{source}: {side}.{key}", needs_dh=key == "ike")
        kwargs[side] = Peer(**peer)
    for key in ("ike", "esp", "responder_esp"):
        if key in data:
            kwargs[key] = parse_proposal(data[key], f"{source}: {key}", needs_dh=key == "ike")
    for key in _TOP_KEYS - {"left", "right", "ike", "esp", "responder_esp"}:
        if key in data:
            kwargs[key] = data[key]
    kwargs.setdefault("name", Path(source).stem)
    try:
        return Scenario(**kwargs)
    except ScenarioError as exc:
        raise ScenarioError(f"{source}: {exc}") from None


def scenario_to_dict(s: Scenario) -> dict[str, Any]:
    """Plain data that scenario_from_dict() reads back (and that TOML can hold)."""
    data: dict[str, Any] = {
        "name": s.name, "ike_version": s.ike_version, "mode": s.mode, "psk": s.psk,
        "ike": str(s.ike), "esp": str(s.esp), "ike_lifetime": s.ike_lifetime,
        "child_lifetime": s.child_lifetime, "initiator": s.initiator, "pings": s.pings,
        "fault": s.fault, "expect": s.expect}
    if s.responder_esp is not None:
        data["responder_esp"] = str(s.responder_esp)
    for side in SIDES:
        peer = s.peer(side)
        data[side] = {"address": peer.address, "flavor": peer.flavor, "prefixlen": peer.prefixlen}
        if peer.psk is not None:
            data[side]["psk"] = peer.psk
        for key in ("mode", "ike", "esp"):
            if getattr(peer, key) is not None:
                data[side][key] = str(getattr(peer, key))
    return data


def scenario_to_toml(s: Scenario) -> str:
    def value(v: Any) -> str:
        return str(v) if isinstance(v, int) else '"' + str(v).replace('"', '\\"') + '"'

    data = scenario_to_dict(s)
    lines = [f"{k} = {value(v)}" for k, v in data.items() if not isinstance(v, dict)]
    for side in SIDES:
        lines += ["", f"[{side}]"] + [f"{k} = {value(v)}" for k, v in data[side].items()]
    return "\n".join(lines) + "\n"


def load_scenario(path: str | Path) -> Scenario:
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ScenarioError(f"{path}: no such scenario file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{path}: not valid TOML: {exc}") from None
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
