"""Traffic that must not pass: probes a scenario states, each of which must get no echo
reply and must leave nothing in clear on the link between the peers (lab.wire.blocked
sends them and judges them).

```toml
[[must_not_pass]]
from = "left-host"          # a node (left, right, left-host, right-host) or an address one holds
to = "2001:db8:22::99"      # an address, or a node
unreachable = true          # optional: an ICMP destination unreachable must come back
```

The addresses are resolved against the scenario's topology here (pure); a probe whose
``from`` no node holds, or whose two ends are of different families, is a one-line error.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lab.errors import ScenarioError
from lab.topology.table import TOPOLOGIES, address

if TYPE_CHECKING:
    from lab.scenario import Scenario

KEYS = ("from", "to", "unreachable")
PROBES_MAX = 8
#: the nodes a probe may start from or go to (a router is the path's, not a peer's)
NODES = ("left", "right", "left-host", "right-host")
ALLOWED = ("a list of tables [[must_not_pass]] with from (a node: left, right, left-host,"
           " right-host, or an address one of them holds), to (an address or a node) and"
           " optionally unreachable = true")


@dataclass(frozen=True)
class Probe:
    """One probe as written: ``src`` and ``dst`` are a node or an address."""

    src: str
    dst: str
    #: an ICMP destination unreachable must come back (the far side's answer, protected)
    unreachable: bool = False

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"from": self.src, "to": self.dst}
        if self.unreachable:
            data["unreachable"] = True
        return data


@dataclass(frozen=True)
class Resolved:
    """A probe resolved against the topology: the node it starts in, its source address
    (None: the kernel's choice), its destination address."""

    index: int
    probe: Probe
    node: str
    src: str | None
    dst: str
    #: the addresses the node holds (an error from one of them never left the node)
    own: tuple[str, ...] = ()

    @property
    def side(self) -> str:
        """The side the probe starts on (the gateway's side for a host behind it)."""
        return self.node.removesuffix("-host")

    def describe(self) -> str:
        return (f"must_not_pass[{self.index}] from {self.node}"
                f" ({self.src or 'its own address'}) to {self.dst}")


def parse_probes(value: Any, where: str) -> tuple[Probe, ...]:
    if not isinstance(value, list) or not 1 <= len(value) <= PROBES_MAX:
        raise ScenarioError(f"{where}: {value!r} is not allowed (allowed: {ALLOWED}; 1 to"
                            f" {PROBES_MAX} probes)")
    probes = []
    for i, entry in enumerate(value):
        at = f"{where}[{i}]"
        if not isinstance(entry, dict):
            raise ScenarioError(f"{at}: {entry!r} is not a table (allowed: {ALLOWED})")
        unknown = sorted(set(entry) - set(KEYS))
        if unknown:
            raise ScenarioError(f"{at}.{unknown[0]}: unknown field (allowed: {', '.join(KEYS)})")
        for key in ("from", "to"):
            if not isinstance(entry.get(key), str) or not entry[key]:
                raise ScenarioError(f"{at}.{key}: {entry.get(key)!r} is not allowed (allowed:"
                                    " a node name or an address)")
        unreachable = entry.get("unreachable", False)
        if not isinstance(unreachable, bool):
            raise ScenarioError(f"{at}.unreachable: {unreachable!r} is not allowed (allowed:"
                                " true or false)")
        probes.append(Probe(entry["from"], entry["to"], unreachable))
    return tuple(probes)


def _held(s: Scenario) -> dict[str, list[str]]:
    """Each node of the scenario's topology and the addresses it holds."""
    nodes = [n for n in TOPOLOGIES[s.topology].nodes if n in NODES]
    held: dict[str, list[str]] = {}
    for node in nodes:
        side = node.removesuffix("-host")
        if node.endswith("-host"):
            held[node] = [address(s, "host", side)[0]]
        else:
            held[node] = [s.peer(side).address]
            if side in TOPOLOGIES[s.topology].subnet_sides:
                held[node].append(address(s, "gateway", side)[0])
    return held


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def resolve(s: Scenario, probes: tuple[Probe, ...]) -> list[Resolved]:
    """Each probe's node and addresses; one line naming the probe for what does not fit."""
    held = _held(s)
    out = []
    for i, probe in enumerate(probes):
        at = f"must_not_pass[{i}]"
        if probe.src in held:
            node, src = probe.src, held[probe.src][0] if probe.src.endswith("-host") else None
        else:
            ip = _ip(probe.src)
            node = next((n for n, addrs in held.items() if ip is not None
                         and any(ipaddress.ip_address(a) == ip for a in addrs)), "")
            if not node:
                choices = ", ".join(f"{n} ({' '.join(a)})" for n, a in held.items())
                raise ScenarioError(f"{at}.from: {probe.src!r} is no node of topology"
                                    f" {s.topology} and no address one holds (allowed:"
                                    f" {choices})")
            src = str(ip)
        if probe.dst in held:
            dst = held[probe.dst][0]
        else:
            ip = _ip(probe.dst)
            if ip is None or ip.is_multicast or ip.is_unspecified or ip.is_loopback:
                raise ScenarioError(f"{at}.to: {probe.dst!r} is not allowed (allowed: a"
                                    f" unicast address, or a node: {', '.join(held)})")
            dst = str(ip)
        family = ipaddress.ip_address(dst).version
        mine = [a for a in held[node] if ipaddress.ip_address(a).version == family]
        if (src is not None and ipaddress.ip_address(src).version != family) or not mine:
            raise ScenarioError(f"{at}: from {probe.src!r} to {probe.dst!r} mixes IPv4 and IPv6"
                                " (allowed: both ends of one family)")
        out.append(Resolved(i, probe, node, src, dst, tuple(held[node])))
    return out


def check(s: Scenario) -> None:
    """Probes need a cell that establishes and has no lifecycle event (they run after the
    first SA's traffic), and must resolve."""
    if not s.must_not_pass:
        return
    if s.expect != "established" or s.lifecycle != "none":
        raise ScenarioError("must_not_pass: probes run after the first SA's traffic (allowed:"
                            " with expect 'established' and lifecycle 'none')")
    resolve(s, s.must_not_pass)
