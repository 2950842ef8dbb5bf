"""The rules across a scenario's fields (the topology's subnets, the path, lifecycle
margins, [negotiated]...): the base class of Scenario, so that the model (lab.scenario.model)
reads on its own and this module needs no import of it. Each error is one line naming the
field, the bad value and what is allowed."""

from __future__ import annotations

import ipaddress

from lab import blocked
from lab.errors import ScenarioError
from lab.expected import Stated
from lab.origin import Origin
from lab.scenario.allowed import (
    ACTORS,
    AUTHS,
    DPD_ACTIONS,
    DPD_RANGE,
    ENCAPSULATIONS,
    ESP_LENGTH_RANGE,
    EXPECTS,
    FAULTS,
    FRAGMENTATIONS,
    FUZZ_RANGE,
    IKE_VERSIONS,
    LIFECYCLES,
    LIFETIME_RANGE,
    MARGIN_RANGE,
    MODES,
    PING_SIZE_RANGE,
    PINGS_RANGE,
    REKEY_BY,
    SIDES,
    VANISH,
)
from lab.scenario.checks import check_choice, check_int, check_name, check_proposal, check_psk, show
from lab.scenario.peer import Peer, as_list, one_or_list
from lab.topology.path import MTU_RANGE, PathSpec
from lab.topology.table import TOPOLOGIES
from lab.values import parse_subnet


class ScenarioRules:
    """Scenario's checks; its methods read the scenario's fields (Scenario calls _check())."""

    def _check(self) -> None:
        """Every field, and the rules across fields: each error one line naming the field."""
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
        self._check_lifecycle()
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
        self._check_topology()
        self._check_path()
        if not isinstance(self.must_not_pass, tuple) or not all(
                isinstance(p, blocked.Probe) for p in self.must_not_pass):
            raise ScenarioError(f"must_not_pass: {show(self.must_not_pass)} is not a tuple of"
                                " Probe (allowed: blocked.parse_probes([...], ...))")
        blocked.check(self)
        if self.origin is not None and not isinstance(self.origin, Origin):
            raise ScenarioError(f"origin: {show(self.origin)} is not an Origin (allowed:"
                                " parse_origin({...}))")
        self._check_stated()

    def _check_lifecycle(self) -> None:
        check_choice("lifecycle", self.lifecycle, LIFECYCLES)
        check_choice("actor", self.actor, ACTORS)
        check_choice("rekey_by", self.rekey_by, REKEY_BY)
        check_choice("dpd_action", self.dpd_action, DPD_ACTIONS)
        check_choice("vanish", self.vanish, VANISH)
        if self.vanish != "stop" and self.lifecycle != "dpd":
            raise ScenarioError(f"vanish: {show(self.vanish)} is only for lifecycle 'dpd' (allowed"
                                f" with lifecycle {show(self.lifecycle)}: 'stop')")
        if self.rekey_margin is not None:
            check_int("rekey_margin", self.rekey_margin, *MARGIN_RANGE, " seconds")
        if self.rekey_fuzz is not None:
            check_int("rekey_fuzz", self.rekey_fuzz, *FUZZ_RANGE, " percent")
        for key in ("dpd_delay", "dpd_timeout"):
            if getattr(self, key) is not None:
                check_int(key, getattr(self, key), *DPD_RANGE, " seconds")
        if self.dpd_timeout is not None and self.dpd_delay is None:
            raise ScenarioError(f"dpd_timeout: {show(self.dpd_timeout)} without dpd_delay (allowed:"
                                " dpd_delay alone, or both)")
        for side in SIDES:
            margin, fuzz = self.margin_of(side), self.fuzz_of(side) or 0
            if margin is None:
                continue
            for key in ("child_lifetime", "ike_lifetime"):
                life = getattr(self, f"{key}_of")(side)
                if margin * (100 + fuzz) >= life * 100:
                    where = "rekey_margin" if self.rekey_margin is not None else key
                    raise ScenarioError(f"{where}: a rekey margin of {margin} s with {fuzz} % fuzz"
                                        f" does not fit {side}'s {key} of {life} s (allowed: margin"
                                        " x (1 + fuzz) shorter than every lifetime)")
        if self.lifecycle == "dpd" and self.dpd is None:
            raise ScenarioError("dpd_delay: missing (allowed: seconds between checks; lifecycle"
                                " 'dpd' needs DPD)")


    def _check_stated(self) -> None:
        if not isinstance(self.negotiated, Stated):
            raise ScenarioError(f"negotiated: {show(self.negotiated)} is not a table (allowed: a"
                                " [negotiated] table with ike, esp and/or esn)")
        self.negotiated.check()
        if not self.negotiated.empty and self.expect != "established":
            raise ScenarioError(f"negotiated: stated with expect {show(self.expect)} (allowed: only"
                                " with expect 'established': nothing is negotiated otherwise)")


    def _subnet(self, side: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
        text = self.peer(side).subnet
        what = f"{side}.subnet: {show(text)}"
        net = parse_subnet(f"{side}.subnet", text)
        if net.num_addresses < 4:
            raise ScenarioError(f"{what} is too small (allowed: /30 or larger for IPv4, /126 or"
                                " larger for IPv6: the gateway and the host need an address each)")
        return net


    def _check_router(self) -> None:
        nets = {side: ipaddress.ip_network(f"{self.peer(side).address}/{self.peer(side).prefixlen}",
                                           strict=False) for side in SIDES}
        if nets["left"] == nets["right"]:
            raise ScenarioError(f"right.address: {show(self.right.address)} is on left's network"
                                f" {nets['left']} (allowed: topology {self.topology} routes between two"
                                " networks)")
        for side, net in nets.items():
            if net.num_addresses < 256 or self.peer(side).ip == net.network_address + 254:
                raise ScenarioError(f"{side}.address: {show(self.peer(side).address)} leaves no router"
                                    f" address in {net} (allowed: /24 or larger, the 254th address"
                                    " free)")


    def _check_topology(self) -> None:
        """The topology exists, and the peers' subnets are what it needs."""
        check_choice("topology", self.topology, tuple(TOPOLOGIES))
        layout = TOPOLOGIES[self.topology]
        if layout.has_router:
            self._check_router()
        sides = layout.subnet_sides
        for side in SIDES:
            if side not in sides and self.peer(side).subnet is not None:
                allowed = f"no subnet on {side} in {self.topology}" if sides else "no subnet"
                raise ScenarioError(f"{side}.subnet: {show(self.peer(side).subnet)} is not allowed"
                                    f" in topology {self.topology} (allowed: {allowed}; subnets need"
                                    " topology net-to-net, or host-to-net on the right)")
        if not sides:
            return
        for side in sides:
            if self.peer(side).subnet is None:
                raise ScenarioError(f"{side}.subnet: missing (allowed: a network such as"
                                    f" '10.1.0.0/24'; topology {self.topology} needs one on"
                                    f" {' and '.join(sides)})")
        for side in SIDES:
            if self.mode_of(side) != "tunnel":
                where = f"{side}.mode" if self.peer(side).mode else "mode"
                raise ScenarioError(f"{where}: {show(self.mode_of(side))} is not allowed in topology"
                                    f" {self.topology} (allowed: tunnel)")
        nets = {side: self._subnet(side) for side in sides}
        if len(nets) == 1:
            (side, net), = nets.items()
            if net.version != self.outer_family:
                raise ScenarioError(f"{side}.subnet: {show(self.peer(side).subnet)} is IPv{net.version}"
                                    f" but the addresses are IPv{self.outer_family} (allowed: the same"
                                    f" family in topology {self.topology})")
        else:
            left, right = nets["left"], nets["right"]
            if left.version != right.version:
                raise ScenarioError(f"right.subnet: {show(self.right.subnet)} is IPv{right.version} but"
                                    f" left.subnet is IPv{left.version} (allowed: the same family)")
            if left.overlaps(right):  # type: ignore[arg-type]
                raise ScenarioError(f"right.subnet: {show(self.right.subnet)} overlaps left.subnet"
                                    f" {show(self.left.subnet)} (allowed: separate networks)")
        for side in SIDES:
            for net_side, net in nets.items():
                if self.peer(side).ip in net:
                    raise ScenarioError(f"{side}.address: {show(self.peer(side).address)} is inside"
                                        f" {net_side}.subnet {str(net)!r} (allowed: an address"
                                        " outside the subnets)")


    def _check_path(self) -> None:
        """The path's conditions need the router of topology routed; NAT is IPv4, tunnel mode."""
        if not isinstance(self.path, PathSpec):
            raise ScenarioError(f"path: {show(self.path)} is not a path (allowed: a [path] table)")
        self.path.check("path")
        if self.path.plain:
            return
        if not TOPOLOGIES[self.topology].has_router:
            raise ScenarioError(f"path: {self.path.describe()} needs a router between the peers"
                                f" (allowed: topology routed, not {self.topology})")
        low, high = MTU_RANGE[self.outer_family]
        if self.path.mtu and not low <= self.path.mtu <= high:
            raise ScenarioError(f"path.mtu: {self.path.mtu} is not allowed for IPv{self.outer_family}"
                                f" (allowed: {low}..{high} bytes, or 0 for 1500)")
        if self.path.nat:
            if self.outer_family != 4:
                raise ScenarioError("path.nat: true needs IPv4 between the peers (allowed: NAT"
                                    " with IPv4 addresses; the router's NAT is IPv4's act_nat)")
            for side in SIDES:
                if self.mode_of(side) != "tunnel":
                    where = f"{side}.mode" if self.peer(side).mode else "mode"
                    raise ScenarioError(f"{where}: {show(self.mode_of(side))} is not allowed behind"
                                        " NAT (allowed: tunnel)")
