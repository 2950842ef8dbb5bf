"""One road-warrior cell, end to end: the network scenario -> each node's configs ->
namespaces -> daemons -> every client's SAs -> virtual IPs -> each client's traffic to the
host behind the gateway -> the verdict per connection and the gateway's -> one client
deletes (the others stay up and their traffic flows) -> all delete -> every kernel clean.

The phases have the names lab.cell's have (the CLI announces them as they start), and
run in the order lab.cell.sequence gives every cell."""

from __future__ import annotations

import contextlib
import ipaddress
import shutil
import tempfile
import time
from pathlib import Path

from lab import xfrm
from lab.artifacts import RunDir
from lab.daemons.base import PeerContext
from lab.errors import DaemonError, NegotiationError, VerdictError
from lab.flavors import parse_flavor, require
from lab.negotiated import Side
from lab.outcome import ESTABLISHED, most_specific
from lab.peers import Network, Node
from lab.remote import deletes, judge
from lab.remote.base import RoleDriver
from lab.remote.drivers import driver
from lab.remote.verdict import (
    ConnectionVerdict,
    client_vip,
)
from lab.timed import PhaseTimer
from lab.topology.roadwarrior import Lan, RoadWarrior, Site
from lab.wire import nat
from lab.wire.capture import Capture
from lab.wire.traffic import PingResult, ping


def topology_of(n: Network, ident: str, tag: str) -> RoadWarrior:
    def site(node: Node) -> Site:
        return Site(node.name, node.address, node.plen, node.router)

    plen = ipaddress.ip_network(n.gateway.subnet or "").prefixlen
    behind = next(((c.address, n.seen(c)) for c in n.clients if c.nat), None)
    return RoadWarrior(ident, site(n.gateway), tuple(site(c) for c in n.clients),
                       Lan(n.gateway_lan, n.host, plen), behind, tag)


class NetworkCell(PhaseTimer):
    """A road warrior: a gateway and its clients (lab.remote.hub: a hub and its spokes)."""

    #: (lab.cell.sequence asks) a network cell expects its SAs, and has no lifecycle event
    expect = ESTABLISHED
    lifecycle = "none"

    def __init__(self, network: Network, tag: str, ident: str, cache: Path,
                 negotiate_deadline: float = 20.0, delete_deadline: float = 5.0) -> None:
        self.network, self.tag, self.ident, self.cache = network, tag, ident, cache
        self.negotiate_deadline, self.delete_deadline = negotiate_deadline, delete_deadline
        self.topology = self.layout(network, ident, tag)
        #: the NAT's public address -> the client's own (lab.wire.nat); empty without NAT:
        #: the gateway's SAs are read through it, so every check reads the client's address
        self.inside = {network.seen(c): c.address for c in network.clients if c.nat}
        self.timings: dict[str, float] = {}
        self.daemons: dict[str, RoleDriver] = {}
        self.captures: dict[str, Capture] = {}
        self.pings: dict[str, PingResult] = {}
        self.vips: dict[str, str | None] = {}
        self.sas: dict[str, list[xfrm.SA]] = {}
        self.baseline: dict[str, set[xfrm.Policy]] = {}
        self.results: list[ConnectionVerdict] = []
        self.problems: list[str] = []
        self.lines: list[str] = []
        self.workdir = Path(tempfile.gettempdir()) / f"ipl-{ident}"
        self.passed = False  # (set by lab.cell.sequence when every check passed)
        self._stack = contextlib.ExitStack()

    @staticmethod
    def layout(n: Network, ident: str, tag: str) -> RoadWarrior:
        return topology_of(n, ident, tag)

    @property
    def scenario(self) -> Network:
        """(What lab.cli.agent's exec names when a node is unknown: its topology.)"""
        return self.network

    @property
    def gateway(self) -> str:
        return self.network.gateway.name

    @property
    def clients(self) -> list[str]:
        return [c.name for c in self.network.clients]

    @property
    def admitted(self) -> list[str]:
        """The clients the gateway must accept (all but those it must refuse)."""
        return [c.name for c in self.network.admitted]

    @property
    def refused(self) -> list[str]:
        """The clients the gateway must refuse (an untrusted certificate)."""
        return [c.name for c in self.network.refused]

    # -- phases -----------------------------------------------------------------------
    def build(self) -> None:
        """Every node's driver (pure: no namespace needed)."""
        for node in self.network.nodes:
            flavor = parse_flavor(node.flavor, f"nodes.{node.name}.flavor")
            require(flavor)
            ctx = PeerContext(side=node.name, netns=self.topology.netns(node.name),
                              dir=self.workdir / node.name, flavor=flavor, tag=self.tag,
                              cache=self.cache)
            self.daemons[node.name] = driver(self.network, node, ctx)  # type: ignore[assignment]

    def up(self) -> None:
        with self.phase("configs"):
            self.workdir = Path(tempfile.mkdtemp(prefix=f"ipl-{self.ident}-"))
            self._stack.callback(shutil.rmtree, self.workdir, ignore_errors=True)
            self.build()
            for daemon in self.daemons.values():
                daemon.ctx.dir.mkdir(parents=True)
                daemon.write()
        with self.phase("topology"):
            self._stack.callback(self.topology.down)
            self.topology.up()
            for client in self.clients:
                self.captures[client] = Capture(self.topology.capture_points(client)).start()
                self._stack.callback(self.captures[client].stop)
            self.captures[self.gateway] = Capture(self.topology.gateway_points()).start()
            self._stack.callback(self.captures[self.gateway].stop)
        with self.phase("daemon start"):
            for daemon in self.daemons.values():
                self._stack.callback(daemon.stop)
                daemon.launch()
            for daemon in self.daemons.values():
                daemon.wait_started()
            for daemon in self.daemons.values():
                daemon.load()
            for daemon in self.daemons.values():
                daemon.wait_listening()
            self.baseline = {name: set(xfrm.dump_policies(self.topology.netns(name)))
                             for name in self.daemons}

    def _dump(self, name: str) -> list[xfrm.SA]:
        """A node's kernel SAs; the gateway's as the checks read them (through the NAT)."""
        held = xfrm.dump(self.topology.netns(name))
        return nat.mapped(held, self.inside) if name == self.gateway else held

    def _client_up(self, client: str) -> bool:
        """Both kernels hold keyed ESP SAs both ways between the client and the gateway,
        the client sends from a virtual IP to the host through a policy, and the gateway
        to that address through one (racoon's generate_policy, for one, installs the
        gateway's policies a moment after the SAs: measured, a first reply lost)."""
        n = self.network
        addr, gw = n.by_name[client].address, n.gateway.address
        for node in (client, self.gateway):
            pairs = {(sa.src, sa.dst) for sa in self.sas[node] if sa.proto == "esp"
                     and xfrm.keyed(sa)}
            if not {(addr, gw), (gw, addr)} <= pairs:
                return False
        vip = client_vip(xfrm.dump_policies(self.topology.netns(client)), n.host, n.pool)
        return vip is not None and any(
            p.dir == "out" and p.ipsec and p.covers(n.host, vip)
            for p in xfrm.dump_policies(self.topology.netns(self.gateway)))

    def negotiate(self) -> None:
        """Every client initiates; wait until each admitted one's SAs are up and each
        refused one's daemon has said why it has none (`wait_for_clients`)."""
        with self.phase("initiate"):
            for client in self.clients:
                self.daemons[client].initiate()
        with self.phase("ike"):
            wait_for_clients(self)

    def still_up(self, client: str) -> bool:
        """Whether the client's SAs are up now (the verdict's snapshot stays as it was)."""
        seen = self.sas
        self.sas = {n: self._dump(n) for n in self.daemons}
        try:
            return self._client_up(client)
        finally:
            self.sas = seen

    def traffic(self, clients: list[str] | None = None) -> None:
        """Each client's virtual IP on its loopback, then its echoes to the host from it."""
        with self.phase("traffic"):
            for client in clients or self.admitted:
                vip = client_vip(xfrm.dump_policies(self.topology.netns(client)),
                                 self.network.host, self.network.pool)
                self.vips[client] = vip
                if vip is None:
                    continue
                self.topology.add_address(client, vip)
                self.pings[client] = ping(self.topology.netns(client), self.network.host,
                                          self.network.pings, src=vip)

    def sides(self) -> dict[str, Side]:
        return {name: Side(name, f"{d.name} {d.version(d.ctx.flavor, self.tag)}",
                           d.node.address, dict(d.icv_bits)) for name, d in self.daemons.items()}

    def judge(self) -> list[str]:
        """The verdict per connection, the virtual IPs, the gateway's IKE SAs
        (lab.remote.judge)."""
        with self.phase("verdict"):
            self.sas = {name: self._dump(name) for name in self.daemons}
            judge.connections(self)
            judge.refusals(self)
            judge.gateway(self)
        return self.problems

    def delete(self) -> list[str]:
        """The first client deletes its connection: its SAs go from the gateway's kernel,
        the other clients' stay and their echoes still cross; then the others delete; then
        no kernel may hold an SA or a policy of the cell (lab.remote.deletes)."""
        with self.phase("delete"):
            try:
                problems = deletes.one_then_the_rest(self)
            except DaemonError as exc:
                problems = [f"teardown: {exc}"]
            else:
                problems += deletes.left_behind(self)
        self.problems += problems
        return problems

    def check(self) -> None:
        """Raise VerdictError with every finding (after the delete)."""
        if self.problems:
            raise VerdictError("\n".join(self.problems))

    # -- afterwards -------------------------------------------------------------------
    def collect(self, rundir: RunDir, failed: bool = True) -> None:
        """The artifacts (lab.remote.cell.collect; the same whether the cell failed)."""
        collect(self, rundir)

    def down(self) -> None:
        with self.phase("teardown"):
            self._stack.close()


def wait_for_clients(cell: NetworkCell) -> None:
    """Until every admitted client's SAs are up and every refused client's daemon has
    said why it has none (lab.remote.judge.refusals judges what it said). Where a client
    must be refused, the gateway's and that client's words of failure end no wait: they
    are what the cell expects. NegotiationError when an admitted client is not up."""
    quiet = {*cell.refused, cell.gateway} if cell.refused else set()
    end = time.monotonic() + cell.negotiate_deadline
    while True:
        cell.sas = {n: cell._dump(n) for n in cell.daemons}
        waiting = [c for c in cell.admitted if not cell._client_up(c)]
        undecided = [c for c in cell.refused if cell.daemons[c].ended() is None]
        if not waiting and not undecided:
            return
        ended = most_specific(d.ended() for n, d in cell.daemons.items() if n not in quiet)
        if ended is not None or time.monotonic() >= end:
            if not waiting:
                return  # a refused client's silence is the verdict's finding
            words = " / ".join(f"{n}: {d.last_words(2)}" for n, d in cell.daemons.items())
            why = ended or f"no SAs within {cell.negotiate_deadline:g} s"
            raise NegotiationError(f"negotiation {cell.network.name}: clients"
                                   f" {', '.join(waiting)} not up: {why}; last log"
                                   f" lines: {words}")
        time.sleep(0.02)


def collect(cell: NetworkCell, rundir: RunDir) -> None:
    """A cell's artifacts: the scenario, each node's files and logs, a pcap per capture,
    the SAs, the verdict's lines and findings, the timings."""
    import tomli_w

    from lab.peers import network_to_dict

    rundir.write("scenario.toml", tomli_w.dumps(network_to_dict(cell.network)))
    for name, daemon in cell.daemons.items():
        rundir.copy_tree(daemon.ctx.dir, name)
    for name, capture in cell.captures.items():
        capture.stop()
        capture.write_pcap(rundir.path / f"capture-{name}.pcap")
    lines = [f"{name}: {sa}" for name, held in cell.sas.items() for sa in held]
    rundir.write("sa.txt", "\n".join(lines) + "\n")
    rundir.write("verdict.txt", "\n".join([*cell.lines, *cell.problems]) + "\n")
    rundir.write("timings.txt", "".join(f"{k}: {v:.3f} s\n" for k, v in cell.timings.items()))
