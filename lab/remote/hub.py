"""One hub cell, end to end: the road-warrior cell's phases (lab.remote.cell) over
topology hub (lab.topology.hub): every spoke initiates its connection to the hub; the
host behind the first spoke pings the host behind the second (through both tunnels: the
hub forwards between them), then the hub's own host; the verdict per connection and the
hub's (lab.remote.hubcheck); the first spoke deletes (the others stay up and reach the
hub's host), then the others; every kernel clean."""

from __future__ import annotations

import ipaddress

from lab import xfrm
from lab.errors import DeadlineError
from lab.negotiated import Side
from lab.peers import Network, Node
from lab.remote import deletes, hubcheck
from lab.remote.cell import NetworkCell
from lab.remote.state import Stage
from lab.run import wait_until
from lab.topology.hub import Hub, host_of
from lab.topology.roadwarrior import Lan, Site
from lab.wire.capture import Capture
from lab.wire.traffic import ping


def hub_topology(n: Network, ident: str, tag: str) -> Hub:
    def site(node: Node) -> Site:
        return Site(node.name, node.address, node.plen, node.router)

    def lan(node: Node) -> Lan:
        return Lan(node.lan(1), node.lan(2), ipaddress.ip_network(node.subnet or "").prefixlen)

    return Hub(ident, site(n.gateway), tuple(site(c) for c in n.clients), lan(n.gateway),
               {c.name: lan(c) for c in n.clients}, tag)


class HubCell(NetworkCell):
    """A hub and its spokes (``clients`` are the spokes, ``gateway`` the hub)."""

    topology: Hub

    @staticmethod
    def layout(n: Network, ident: str, tag: str) -> Hub:  # type: ignore[override]
        return hub_topology(n, ident, tag)

    def _client_up(self, spoke: str) -> bool:
        """Both kernels hold keyed ESP SAs both ways between the spoke and the hub, and an
        outbound policy through the other."""
        n = self.network
        mine, hub = n.by_name[spoke].address, n.gateway.address
        for node, far in ((spoke, hub), (self.gateway, mine)):
            pairs = {(sa.src, sa.dst) for sa in self.sas[node] if sa.proto == "esp"
                     and xfrm.keyed(sa)}
            if not {(mine, hub), (hub, mine)} <= pairs:
                return False
            if not any(p.dir == "out" and p.ipsec and p.tmpl_dst == far
                       for p in xfrm.dump_policies(self.topology.netns(node))):
                return False
        return True

    def stage(self, name: str, spoke: str, dst: str) -> Stage:
        """The host behind ``spoke`` pings ``dst``; every link captured meanwhile."""
        links = {c: self.topology.capture_points(c) for c in self.clients}
        links[self.gateway] = self.topology.gateway_points()
        caps = {link: Capture(points).start() for link, points in links.items()}
        for link, cap in caps.items():
            self._stack.callback(cap.stop)
            self.captures[f"{link}-{name}"] = cap
        try:
            result = ping(self.topology.netns(host_of(spoke)), dst, self.network.pings)
        finally:
            for cap in caps.values():
                cap.stop()
        return Stage(name, result, {link: cap.packets for link, cap in caps.items()})

    def traffic(self, clients: list[str] | None = None) -> None:
        """The first spoke's host pings the second spoke's host, then the hub's host."""
        first, second = self.network.clients[0], self.network.clients[1]
        with self.phase("traffic"):
            self.stages = [self.stage("spokes", first.name, second.lan(2)),
                           self.stage("hub", first.name, self.network.host)]
            self.pings = {s.name: s.ping for s in self.stages}

    def sides(self) -> dict[str, Side]:
        return {name: Side(name, f"{d.name} {d.version(d.ctx.flavor, self.tag)}",
                           self.network.by_name[name].address, dict(d.icv_bits))
                for name, d in self.daemons.items()}

    def judge(self) -> list[str]:
        """The verdict per connection and the hub's (lab.remote.hubcheck)."""
        with self.phase("verdict"):
            self.sas = {name: self._dump(name) for name in self.daemons}
            hubcheck.connections(self)
            hubcheck.hub(self)
        return self.problems

    def delete(self) -> list[str]:
        """The first spoke deletes: its SAs leave the hub's kernel, the other spokes' stay
        and their hosts still reach the hub's host; then the others delete; then no kernel
        may hold an SA or a policy of the cell."""
        n = self.network
        first, rest = n.clients[0], n.clients[1:]
        problems: list[str] = []
        with self.phase("delete"):
            self.daemons[first.name].delete()
            known = self.daemons[self.gateway].known_leftover

            def gone() -> bool:
                return not any(first.address in (sa.src, sa.dst) and not known(sa)
                               for sa in xfrm.dump(self.topology.netns(self.gateway)))

            try:
                wait_until(gone, deadline=self.delete_deadline, interval=0.02,
                           what=f"the hub's SAs with {first.name} gone")
            except DeadlineError as exc:
                problems.append(f"(x) {exc}")
            for spoke in rest:
                again = ping(self.topology.netns(host_of(spoke.name)), n.host, n.pings)
                if again.lost or not self.still_up(spoke.name):
                    problems.append(f"(x) after {first.name} deleted its connection, the host"
                                    f" behind {spoke.name}: {again}")
                self.lines.append(f"after {first.name} deleted: {spoke.name}'s host: {again}")
            for spoke in rest:
                self.daemons[spoke.name].delete()
            problems += deletes.left_behind(self)
        self.problems += problems
        return problems


def cell_class(n: Network) -> type[NetworkCell]:
    """The cell of the network's topology."""
    return HubCell if n.topology == "hub" else NetworkCell
