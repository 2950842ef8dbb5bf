"""More than two peers: a scenario as nodes and the connections between them.

A two-peer scenario (lab.scenario) is the shorthand ``left``/``right``; a *network*
scenario names its nodes (``[nodes.NAME]``: flavor, address, subnet, identity) and its
connections (``[[connections]]``: a client end and a gateway end, each connection with
its own PSK, proposals and IKE version). Each connection is also a two-peer `Scenario`
(``pair()``: the client left, the gateway right), so what the lab knows about two peers
(proposal spelling, identities, the kernels' agreement) is reused per connection.

Pure: nothing here touches a kernel or a daemon. Errors are one line naming the field.
The file form (TOML) is lab.peers.files.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any

from lab.algorithms import Proposal, Proposals
from lab.errors import ScenarioError
from lab.identity import parse_identity
from lab.scenario import (
    IKE_VERSIONS,
    PINGS_RANGE,
    Peer,
    Scenario,
    check_address,
    check_choice,
    check_flavor,
    check_int,
    check_name,
    check_psk,
    show,
)
from lab.values import parse_subnet

#: topologies with more than two peers (the two-peer ones are lab.topology.table's)
NETWORK_TOPOLOGIES = ("road-warrior",)
#: a node's name: it names the node's namespace (ipl-ID-NAME) and its directory
NODE_NAME = re.compile(r"[a-z][a-z0-9]{0,7}")
#: names the lab's own nodes take (the router between the networks, the host behind the gateway)
RESERVED = ("router", "host")
#: clients of one gateway: at least one, at most this many (one link on the router each)
CLIENTS_RANGE = (1, 8)
#: the router's address on every network: the 254th (as topology routed)
ROUTER_OFFSET = 254

#: documented keys (docs/gen_reference.py): top level, per node, per connection
TOP_KEYS: dict[str, str] = {
    "name": "the scenario's name; default: the file's name",
    "topology": "`road-warrior` (a gateway with a subnet and a host behind it, clients on"
                " networks of their own, a router between them)",
    "ike_version": "the connections' IKE version unless one sets its own: 1 or 2 (default 2)",
    "ike": "the connections' IKE proposals unless one sets its own",
    "esp": "the connections' ESP proposals unless one sets its own",
    "psk": "the PSK of connections that set none (default `verysecret`)",
    "pool": "the gateway's pool of virtual IPs, a network (default `10.3.0.0/28`): its"
            " addresses from the first to the one before the last are handed out",
    "pings": "echo requests each client sends to the host behind the gateway (default 3)",
    "nodes": "a table per node: `[nodes.NAME]`",
    "connections": "a list of tables: `[[connections]]`, one per client",
}
NODE_KEYS: dict[str, str] = {
    "flavor": "the daemon flavor the node runs (as `left.flavor`)",
    "address": "the node's address on its own network (IPv4 or IPv6, as `left.address`);"
               " every node on a network of its own, the router at its 254th address",
    "prefixlen": "the prefix length of that network (default 24 for IPv4, 64 for IPv6)",
    "subnet": "the gateway's subnet, with the host behind it (required on the gateway, not"
              " allowed on a client)",
    "id": "the node's IKE identity (default: its address); the gateway tells clients apart"
          " by it",
    "nat": "`true`: the client is behind a NAT (IPv4, one client at most): the router sends"
           " its packets on from the router's own address on the gateway's network (default"
           " `false`)",
}
CONN_KEYS: dict[str, str] = {
    "client": "the client end: a node's name",
    "gateway": "the gateway end: a node's name (one gateway per road-warrior scenario)",
    "psk": "this connection's own PSK (default: the scenario's)",
    "ike_version": "this connection's IKE version (default: the scenario's)",
    "ike": "this connection's IKE proposals (default: the scenario's)",
    "esp": "this connection's ESP proposals (default: the scenario's)",
}


@dataclass(frozen=True)
class Node:
    """One machine with an IKE daemon: a gateway or a client."""

    name: str
    flavor: str
    address: str
    prefixlen: int | None = None
    subnet: str | None = None
    id: str | None = None
    #: behind a NAT: the router's address on the gateway's network stands for it there
    nat: bool = False

    @property
    def plen(self) -> int:
        if self.prefixlen is not None:
            return self.prefixlen
        return 24 if ipaddress.ip_address(self.address).version == 4 else 64

    @property
    def ip_version(self) -> int:
        return ipaddress.ip_address(self.address).version

    @property
    def network(self) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
        return ipaddress.ip_network(f"{self.address}/{self.plen}", strict=False)

    @property
    def router(self) -> str:
        """The router's address on this node's network."""
        return str(self.network.network_address + ROUTER_OFFSET)

    def peer(self) -> Peer:
        """The node as one end of a two-peer scenario."""
        return Peer(self.address, self.flavor, self.plen, id=self.id)

    def check(self) -> None:
        where = f"nodes.{self.name}"
        if not NODE_NAME.fullmatch(self.name) or self.name in RESERVED:
            raise ScenarioError(f"nodes: {show(self.name)} is not a node name (allowed: a"
                                " lower-case letter, then up to 7 letters or digits; not "
                                + ", ".join(RESERVED) + ")")
        check_flavor(f"{where}.flavor", self.flavor)
        ip = check_address(f"{where}.address", self.address)
        if self.prefixlen is not None:
            check_int(f"{where}.prefixlen", self.prefixlen, 8, min(ip.max_prefixlen - 2, 120))
        net = self.network
        if net.num_addresses < 256 or ip == net.network_address + ROUTER_OFFSET:
            raise ScenarioError(f"{where}.address: {show(self.address)} leaves no router address"
                                f" in {net} (allowed: /24 or larger, the 254th address free)")
        if self.subnet is not None:
            parse_subnet(f"{where}.subnet", self.subnet)
        if self.id is not None:
            parse_identity(self.id, f"{where}.id")
        check_choice(f"{where}.nat", self.nat, (False, True))


@dataclass(frozen=True)
class Connection:
    """A client end and a gateway end, with what they negotiate (None: the scenario's)."""

    client: str
    gateway: str
    psk: str | None = None
    ike_version: int | None = None
    ike: Proposals | None = None
    esp: Proposals | None = None

    @property
    def name(self) -> str:
        """The connection's name in the gateway's config (one per client)."""
        return f"rw-{self.client}"


@dataclass(frozen=True)
class Network:
    """A scenario of more than two peers."""

    name: str
    nodes: tuple[Node, ...]
    connections: tuple[Connection, ...]
    topology: str = "road-warrior"
    ike_version: int = 2
    ike: Proposals = (Proposal("aes128", "sha1", "modp2048"),)
    esp: Proposals = (Proposal("aes128", "sha1"),)
    psk: str = "verysecret"
    pool: str = "10.3.0.0/28"
    pings: int = 3
    #: derived: node name -> node
    by_name: dict[str, Node] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        check_name("name", self.name)
        check_choice("topology", self.topology, NETWORK_TOPOLOGIES)
        check_choice("ike_version", self.ike_version, IKE_VERSIONS)
        check_psk("psk", self.psk)
        check_int("pings", self.pings, *PINGS_RANGE)
        for node in self.nodes:
            node.check()
            if node.name in self.by_name:
                raise ScenarioError(f"nodes.{node.name}: named twice")
            self.by_name[node.name] = node
        _check_connections(self)
        _check_addresses(self)

    # -- roles ----------------------------------------------------------------------
    @property
    def gateway(self) -> Node:
        return self.by_name[self.connections[0].gateway]

    @property
    def clients(self) -> tuple[Node, ...]:
        return tuple(self.by_name[c.client] for c in self.connections)

    def connection(self, client: str) -> Connection:
        return next(c for c in self.connections if c.client == client)

    @property
    def family(self) -> int:
        """The outer addresses' family."""
        return ipaddress.ip_address(self.gateway.address).version

    @property
    def host(self) -> str:
        """The host behind the gateway: the second address of its subnet."""
        return str(ipaddress.ip_network(self.gateway.subnet or "").network_address + 2)

    @property
    def gateway_lan(self) -> str:
        """The gateway's address on its subnet: the first."""
        return str(ipaddress.ip_network(self.gateway.subnet or "").network_address + 1)

    def seen(self, node: Node) -> str:
        """The address the gateway knows ``node`` by: behind the NAT, the router's on the
        gateway's network."""
        return self.gateway.router if node.nat else node.address

    def pool_range(self) -> tuple[str, str]:
        """The first and the last address the pool hands out."""
        net = ipaddress.ip_network(self.pool)
        return str(net.network_address + 1), str(net.broadcast_address - 1)

    # -- each connection as two peers ---------------------------------------------
    def ike_version_of(self, conn: Connection) -> int:
        return conn.ike_version or self.ike_version

    def pair(self, conn: Connection) -> Scenario:
        """The connection as a two-peer scenario: the client left (the initiator), the
        gateway right, on networks joined by a router (topology routed)."""
        client, gateway = self.by_name[conn.client], self.by_name[conn.gateway]
        return Scenario(
            name=f"{self.name}: {conn.client} to {conn.gateway}", left=client.peer(),
            right=gateway.peer(), ike_version=self.ike_version_of(conn), mode="tunnel",
            psk=conn.psk or self.psk, topology="routed", pings=self.pings,
            ike=self.ike if conn.ike is None else conn.ike,
            esp=self.esp if conn.esp is None else conn.esp)


def _check_connections(n: Network) -> None:
    if not isinstance(n.connections, tuple) or not n.connections:
        raise ScenarioError("connections: none (allowed: one [[connections]] table per client)")
    low, high = CLIENTS_RANGE
    if not low <= len(n.connections) <= high:
        raise ScenarioError(f"connections: {len(n.connections)} (allowed: {low}..{high})")
    gateways = {c.gateway for c in n.connections}
    seen: set[str] = set()
    for i, conn in enumerate(n.connections):
        where = f"connections[{i}]"
        for end in ("client", "gateway"):
            name = getattr(conn, end)
            if name not in n.by_name:
                raise ScenarioError(f"{where}.{end}: {show(name)} is not a node (allowed: "
                                    + ", ".join(n.by_name) + ")")
        if conn.client in gateways:
            raise ScenarioError(f"{where}.client: {show(conn.client)} is a gateway (allowed:"
                                " a node that no connection has as its gateway)")
        if conn.client in seen:
            raise ScenarioError(f"{where}.client: {show(conn.client)} has a connection already"
                                " (allowed: one connection per client)")
        seen.add(conn.client)
        if conn.psk is not None:
            check_psk(f"{where}.psk", conn.psk)
        if conn.ike_version is not None:
            check_choice(f"{where}.ike_version", conn.ike_version, IKE_VERSIONS)
    if len(gateways) != 1:
        raise ScenarioError(f"connections: gateways {sorted(gateways)} (allowed: one gateway in"
                            f" topology {n.topology})")
    unused = [name for name in n.by_name if name not in seen | gateways]
    if unused:
        raise ScenarioError(f"nodes.{unused[0]}: in no connection (allowed: every node a"
                            " client or the gateway)")


def _check_addresses(n: Network) -> None:
    gw = n.gateway
    if gw.subnet is None:
        raise ScenarioError(f"nodes.{gw.name}.subnet: missing (allowed: a network such as"
                            " '10.1.0.0/24'; the gateway has the host behind it)")
    subnet = parse_subnet(f"nodes.{gw.name}.subnet", gw.subnet)
    pool = parse_subnet("pool", n.pool)
    if pool.version != subnet.version:
        raise ScenarioError(f"pool: {show(n.pool)} is IPv{pool.version} but the gateway's subnet"
                            f" is IPv{subnet.version} (allowed: the same family)")
    if pool.num_addresses < 4 or pool.overlaps(subnet):  # type: ignore[arg-type]
        raise ScenarioError(f"pool: {show(n.pool)} is too small or overlaps the gateway's subnet"
                            " (allowed: /30 or larger, a network of its own)")
    if len(n.connections) > pool.num_addresses - 2:
        raise ScenarioError(f"pool: {show(n.pool)} holds fewer addresses than there are clients")
    nets: dict[Any, str] = {}
    for node in n.nodes:
        where = f"nodes.{node.name}"
        if node.ip_version != n.family:
            raise ScenarioError(f"{where}.address: {show(node.address)} is IPv{node.ip_version}"
                                f" but the gateway's is IPv{n.family} (allowed: one family)")
        if node is not gw and node.subnet is not None:
            raise ScenarioError(f"{where}.subnet: {show(node.subnet)} is not allowed (allowed:"
                                " a client has no subnet; its address comes from the pool)")
        if node.network in nets:
            raise ScenarioError(f"{where}.address: {show(node.address)} is on"
                                f" {nets[node.network]}'s network {node.network} (allowed: a"
                                " network of its own per node)")
        nets[node.network] = node.name
        if node.nat and (node is gw or n.family != 4):
            raise ScenarioError(f"{where}.nat: true is not allowed here (allowed: on a client,"
                                " with IPv4 addresses: the router's NAT is IPv4's act_nat)")
    if sum(node.nat for node in n.nodes) > 1:
        raise ScenarioError("nodes: more than one client with nat = true (allowed: one; the"
                            " router's one address on the gateway's network stands for it)")
        for other, net in (("the pool", pool), ("the gateway's subnet", subnet)):
            if node.network.overlaps(net):  # type: ignore[arg-type]
                raise ScenarioError(f"{where}.address: {show(node.address)} is on a network"
                                    f" that overlaps {other} (allowed: separate networks)")
