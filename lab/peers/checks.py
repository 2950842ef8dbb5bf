"""The checks of a scenario with nodes and connections (lab.peers.model) that span its
nodes: the connections' ends, and the addresses and subnets each topology needs. Every
error one line naming the field."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from lab.errors import ScenarioError
from lab.scenario import IKE_VERSIONS, check_choice, check_psk, show
from lab.values import parse_subnet

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class NodeView(Protocol):
    """What the checks read of a node (lab.peers.model.Node)."""

    @property
    def name(self) -> str: ...
    @property
    def address(self) -> str: ...
    @property
    def subnet(self) -> str | None: ...
    @property
    def nat(self) -> bool: ...
    @property
    def ip_version(self) -> int: ...
    @property
    def network(self) -> IPNetwork: ...


class ConnectionView(Protocol):
    """What the checks read of a connection (lab.peers.model.Connection)."""

    @property
    def client(self) -> str: ...
    @property
    def gateway(self) -> str: ...
    @property
    def psk(self) -> str | None: ...
    @property
    def ike_version(self) -> int | None: ...


class Network(Protocol):
    """What the checks read of a network (lab.peers.model.Network fills it; the model
    imports the checks, never the other way round)."""

    @property
    def topology(self) -> str: ...
    @property
    def pool(self) -> str | None: ...
    @property
    def nodes(self) -> Sequence[NodeView]: ...
    @property
    def connections(self) -> Sequence[ConnectionView]: ...
    @property
    def by_name(self) -> Mapping[str, NodeView]: ...
    @property
    def gateway(self) -> NodeView: ...
    @property
    def family(self) -> int: ...

#: clients of one gateway: at least one, at most this many (one link on the router each)
CLIENTS_RANGE = (1, 8)
#: the values of a connection's ``cert``: the client's certificate from a CA the gateway
#: does not trust
CERTS = ("untrusted",)
#: spokes of one hub: at least two (spoke-to-spoke traffic goes through the hub)
SPOKES_MIN = 2


def check_connections(n: Network) -> None:
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


def check_addresses(n: Network) -> None:
    gw = n.gateway
    if gw.subnet is None:
        raise ScenarioError(f"nodes.{gw.name}.subnet: missing (allowed: a network such as"
                            " '10.1.0.0/24'; the gateway has the host behind it)")
    subnet = parse_subnet(f"nodes.{gw.name}.subnet", gw.subnet)
    if n.pool is None:
        check_no_pool(n, subnet)
        pool = None
    else:
        pool = check_pool(n, n.pool, subnet)
    nets: dict[Any, str] = {}
    for node in n.nodes:
        check_node(n, node, nets, [("the pool", pool), ("the gateway's subnet", subnet)])
    if sum(node.nat for node in n.nodes) > 1:
        raise ScenarioError("nodes: more than one client with nat = true (allowed: one; the"
                            " router's one address on the gateway's network stands for it)")


def check_no_pool(n: Network, subnet: IPNetwork) -> None:
    """Without a pool each client sends from its own address: the gateway's subnet of
    that family, no client behind the NAT (its address would be the router's there)."""
    gw = n.gateway
    if subnet.version != n.family:
        raise ScenarioError(f"nodes.{gw.name}.subnet: {show(gw.subnet)} is IPv{subnet.version}"
                            f" but the addresses are IPv{n.family} (allowed: the same family"
                            " without a pool; or set pool, of the subnet's family)")
    for node in n.nodes:
        if node.nat:
            raise ScenarioError(f"nodes.{node.name}.nat: true is not allowed without a pool"
                                " (allowed: false; or set pool, and the client gets a virtual"
                                " IP)")


def check_pool(n: Network, raw: str, subnet: IPNetwork) -> IPNetwork:
    pool = parse_subnet("pool", raw)
    if pool.version != subnet.version:
        raise ScenarioError(f"pool: {show(n.pool)} is IPv{pool.version} but the gateway's subnet"
                            f" is IPv{subnet.version} (allowed: the same family)")
    if pool.num_addresses < 4 or pool.overlaps(subnet):  # type: ignore[arg-type]
        raise ScenarioError(f"pool: {show(n.pool)} is too small or overlaps the gateway's subnet"
                            " (allowed: /30 or larger, a network of its own)")
    if len(n.connections) > pool.num_addresses - 2:
        raise ScenarioError(f"pool: {show(n.pool)} holds fewer addresses than there are clients")
    return pool


def check_node(n: Network, node: NodeView, nets: dict[Any, str],
               apart: list[tuple[str, IPNetwork | None]]) -> None:
    """One node of a road warrior: the family, no client subnet, a network of its own,
    apart from the pool and the gateway's subnet; NAT only on an IPv4 client."""
    gw = n.gateway
    where = f"nodes.{node.name}"
    if node.ip_version != n.family:
        raise ScenarioError(f"{where}.address: {show(node.address)} is IPv{node.ip_version}"
                            f" but the gateway's is IPv{n.family} (allowed: one family)")
    if node is not gw and node.subnet is not None:
        source = "its address comes from the pool" if n.pool is not None \
            else "it sends from its own address"
        raise ScenarioError(f"{where}.subnet: {show(node.subnet)} is not allowed (allowed:"
                            f" a client has no subnet; {source})")
    if node.network in nets:
        raise ScenarioError(f"{where}.address: {show(node.address)} is on"
                            f" {nets[node.network]}'s network {node.network} (allowed: a"
                            " network of its own per node)")
    nets[node.network] = node.name
    for other, net in apart:
        if net is not None and node.network.overlaps(net):  # type: ignore[arg-type]
            raise ScenarioError(f"{where}.address: {show(node.address)} is on a network"
                                f" that overlaps {other} (allowed: separate networks)")
    if node.nat and (node is gw or n.family != 4):
        raise ScenarioError(f"{where}.nat: true is not allowed here (allowed: on a client,"
                            " with IPv4 addresses: the router's NAT is IPv4's act_nat)")


def check_hub(n: Network) -> None:
    """Every node on a network of its own with a subnet of its own, one family."""
    if n.pool is not None:
        raise ScenarioError(f"pool: {show(n.pool)} is not used in topology hub (allowed: no"
                            " pool; each spoke protects its own subnet)")
    if len(n.connections) < SPOKES_MIN:
        raise ScenarioError(f"connections: {len(n.connections)} (allowed: {SPOKES_MIN} or more"
                            " spokes in topology hub)")
    nets: dict[Any, str] = {}
    subnets: dict[Any, str] = {}
    for node in n.nodes:
        where = f"nodes.{node.name}"
        if node.ip_version != n.family:
            raise ScenarioError(f"{where}.address: {show(node.address)} is IPv{node.ip_version}"
                                f" but the hub's is IPv{n.family} (allowed: one family)")
        if node.nat:
            raise ScenarioError(f"{where}.nat: true is not allowed in topology hub (allowed:"
                                " false)")
        if node.subnet is None:
            raise ScenarioError(f"{where}.subnet: missing (allowed: a network such as"
                                " '10.2.0.0/24'; in topology hub every node has a host behind it)")
        sub = parse_subnet(f"{where}.subnet", node.subnet)
        for net, other in [*nets.items(), *subnets.items()]:
            if sub.overlaps(net) or node.network.overlaps(net):
                raise ScenarioError(f"{where}: its network or subnet overlaps {other}'s"
                                    " (allowed: separate networks)")
        if sub.num_addresses < 4 or ipaddress.ip_address(node.address) in sub:
            raise ScenarioError(f"{where}.subnet: {show(node.subnet)} (allowed: /30 or larger,"
                                " not holding the node's address)")
        nets[node.network], subnets[sub] = node.name, node.name
    versions = {ipaddress.ip_network(node.subnet or "").version for node in n.nodes}
    if len(versions) > 1:
        raise ScenarioError("nodes: the subnets are of two families (allowed: one)")


def check_certs(n: Network) -> None:
    """Certificates: a client's ``cert`` only with them, in a road warrior, and some
    client admitted; a gateway with one connection for every client (Network.shared)
    negotiates the same everywhere."""
    for i, conn in enumerate(n.connections):
        where = f"connections[{i}]"
        if conn.cert is not None:
            check_choice(f"{where}.cert", conn.cert, CERTS)
            if n.auth == "psk" or n.topology != "road-warrior":
                raise ScenarioError(f"{where}.cert: {show(conn.cert)} is not allowed here"
                                    " (allowed: in topology road-warrior with auth = 'rsa' or"
                                    " 'ecdsa')")
        if n.auth != "psk" and conn.psk is not None:
            raise ScenarioError(f"{where}.psk: not used with auth = {n.auth!r} (allowed: no"
                                " psk; the certificates authenticate)")
        if n.shared:
            first = n.connections[0]
            for key in ("ike_version", "ike", "esp"):
                if getattr(conn, key) != getattr(first, key):
                    raise ScenarioError(f"{where}.{key}: differs from connections[0]'s (allowed:"
                                        f" with auth = {n.auth!r} the gateway has one connection"
                                        " for every client: the same for all)")
    if not any(not c.refused for c in n.connections):
        raise ScenarioError("connections: every client has cert = 'untrusted' (allowed: at"
                            " least one client the gateway admits)")
