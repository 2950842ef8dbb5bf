"""What the path between the peers does to their packets: the scenario's ``[path]`` table.

Pure data and validation. The router of the ``routed`` topology applies it
(lab.topology.impair): the kernel's netem qdisc on both of its links (loss, delay and
jitter, reordering, duplication, rate: each direction on its own), a link MTU on every
link, nftables rules that drop the first N IKE packets of one side (deterministic
retransmissions), and a one-to-one NAT of the initiator (IPv4; ESP in UDP, RFC 3948).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from lab.errors import ScenarioError

#: link MTU limits: the smallest an IPv4 host must accept (RFC 791), IPv6's minimum (RFC 8200)
MTU_RANGE = {4: (576, 9000), 6: (1280, 9000)}
DELAY_MAX_MS = 10_000
RATE_RANGE_KBIT = (8, 10_000_000)
DROP_IKE_MAX = 10
DROP_FROM = ("initiator", "responder")
#: the rate's token bucket: bytes in one burst (above any IKE message's packet), and how long
#: a packet may wait in its queue (microseconds)
TBF_BURST, TBF_LATENCY_US = 8000, 1_000_000


def _show(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else repr(value)


def _percent(where: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 100:
        raise ScenarioError(f"{where}: {_show(value)} is not allowed (allowed: 0..100 percent)")
    return float(value)


def _int(where: str, value: Any, low: int, high: int, unit: str, zero: bool = True) -> int:
    ok = not isinstance(value, bool) and isinstance(value, int) and (
        low <= value <= high or (zero and value == 0))
    if not ok:
        allowed = f"{low}..{high}{unit}" + (", or 0 for none" if zero and low > 0 else "")
        raise ScenarioError(f"{where}: {_show(value)} is not allowed (allowed: {allowed})")
    return value


@dataclass(frozen=True)
class PathSpec:
    """The path's conditions; the defaults leave it untouched."""

    loss: float = 0.0  # percent of the packets dropped, each direction
    delay: int = 0  # ms, each direction
    jitter: int = 0  # ms, +- around delay (netem reorders what jitter overtakes)
    reorder: float = 0.0  # percent of the packets sent at once, ahead of the delayed ones
    duplicate: float = 0.0  # percent of the packets sent twice
    rate: int = 0  # kbit/s, each direction; 0: the link's own
    mtu: int = 0  # the MTU of every link; 0: 1500
    drop_ike: int = 0  # drop the first N IKE packets that ``drop_from`` sends
    drop_from: str = "initiator"
    nat: bool = False  # one-to-one NAT of the initiator on the router (IPv4)
    #: the router drops IP fragments (as many middleboxes do): IKE messages larger than the
    #: MTU then arrive only with IKE fragmentation
    drop_fragments: bool = False

    def check(self, where: str = "path") -> None:
        for name in ("loss", "reorder", "duplicate"):
            object.__setattr__(self, name, _percent(f"{where}.{name}", getattr(self, name)))
        _int(f"{where}.delay", self.delay, 0, DELAY_MAX_MS, " ms")
        _int(f"{where}.jitter", self.jitter, 0, DELAY_MAX_MS, " ms")
        if self.jitter > self.delay:
            raise ScenarioError(f"{where}.jitter: {self.jitter} is more than delay {self.delay}"
                                " (allowed: 0..delay ms)")
        if self.reorder and not self.delay:
            raise ScenarioError(f"{where}.reorder: {_show(self.reorder)} needs a delay to"
                                " overtake (allowed: reorder with delay > 0)")
        _int(f"{where}.rate", self.rate, *RATE_RANGE_KBIT, " kbit/s")
        _int(f"{where}.mtu", self.mtu, MTU_RANGE[4][0], MTU_RANGE[4][1], " bytes")
        _int(f"{where}.drop_ike", self.drop_ike, 0, DROP_IKE_MAX, " packets")
        if self.drop_from not in DROP_FROM:
            raise ScenarioError(f"{where}.drop_from: {_show(self.drop_from)} is not allowed"
                                f" (allowed: {', '.join(DROP_FROM)})")
        if self.drop_ike and self.netem:
            raise ScenarioError(f"{where}.drop_ike: {self.drop_ike} with {self.describe()}"
                                " is not supported (allowed: drop_ike alone, or netem"
                                " settings without it)")
        for name in ("nat", "drop_fragments"):
            if not isinstance(getattr(self, name), bool):
                raise ScenarioError(f"{where}.{name}: {_show(getattr(self, name))} is not"
                                    " allowed (allowed: true, false)")

    @property
    def netem(self) -> bool:
        """Whether the router needs a netem qdisc."""
        return bool(self.loss or self.delay or self.reorder or self.duplicate or self.rate)

    @property
    def lossy(self) -> bool:
        """Whether packets of the traffic may be lost on the way."""
        return bool(self.loss)

    @property
    def plain(self) -> bool:
        return self == PathSpec()

    def netem_options(self) -> dict[str, Any]:
        """pyroute2's netem keywords (times in microseconds)."""
        opts: dict[str, Any] = {"delay": self.delay * 1000, "jitter": self.jitter * 1000,
                                "loss": self.loss, "duplicate": self.duplicate,
                                "limit": 10_000}
        if self.reorder:
            opts["prob_reorder"] = self.reorder
        return opts

    def tbf_options(self) -> dict[str, Any]:
        """pyroute2's tbf keywords for ``rate`` (a child of the netem: pyroute2's own netem
        rate is refused by the kernel, ERANGE): a burst of a few full-size packets, a queue
        of up to a second."""
        return {"rate": f"{self.rate}kbit", "burst": TBF_BURST, "latency": TBF_LATENCY_US}

    def describe(self) -> str:
        """``loss 20%, delay 100+-50 ms``: what is not default, for ids and reports."""
        parts = []
        if self.loss:
            parts.append(f"loss {self.loss:g}%")
        if self.delay:
            parts.append(f"delay {self.delay}" + (f"+-{self.jitter}" if self.jitter else "")
                         + " ms")
        if self.reorder:
            parts.append(f"reorder {self.reorder:g}%")
        if self.duplicate:
            parts.append(f"duplicate {self.duplicate:g}%")
        if self.rate:
            parts.append(f"rate {self.rate} kbit/s")
        if self.mtu:
            parts.append(f"mtu {self.mtu}")
        if self.drop_ike:
            parts.append(f"the {self.drop_from}'s first {self.drop_ike} IKE packet(s) dropped")
        if self.drop_fragments:
            parts.append("IP fragments dropped")
        if self.nat:
            parts.append("the initiator behind a one-to-one NAT (IPv4)")
        return ", ".join(parts) or "untouched"


PATH_KEYS = tuple(f.name for f in fields(PathSpec))


def path_from_dict(data: Any, where: str) -> PathSpec:
    if not isinstance(data, dict):
        raise ScenarioError(f"{where}: {_show(data)} is not a table (allowed: a [path] table"
                            f" with {', '.join(PATH_KEYS)})")
    unknown = sorted(set(data) - set(PATH_KEYS))
    if unknown:
        raise ScenarioError(f"{where}.{unknown[0]}: unknown field (allowed:"
                            f" {', '.join(PATH_KEYS)})")
    return PathSpec(**data)


def path_to_dict(spec: PathSpec) -> dict[str, Any]:
    """The fields that differ from the defaults (what a [path] table needs)."""
    default = PathSpec()
    return {name: getattr(spec, name) for name in PATH_KEYS
            if getattr(spec, name) != getattr(default, name)}
