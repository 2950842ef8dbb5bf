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

from lab.algorithms import Proposal, Proposals
from lab.errors import ScenarioError
from lab.identity import parse_identity
from lab.origin import Origin
from lab.peers.checks import (
    check_addresses,
    check_certs,
    check_connections,
    check_hub,
)
from lab.scenario import (
    AUTHS,
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
NETWORK_TOPOLOGIES = ("road-warrior", "hub")
#: a node's name: it names the node's namespace (ipl-ID-NAME) and its directory
NODE_NAME = re.compile(r"[a-z][a-z0-9]{0,7}")
#: names the lab's own nodes take (the router between the networks, the host behind the gateway)
RESERVED = ("router", "host")
#: the router's address on every network: the 254th (as topology routed)
ROUTER_OFFSET = 254

#: documented keys (docs/gen_reference.py): top level, per node, per connection
TOP_KEYS: dict[str, str] = {
    "name": "the scenario's name; default: the file's name",
    "topology": "`road-warrior` (a gateway with a subnet and a host behind it, clients on"
                " networks of their own, a router between them) or `hub` (a hub and two or"
                " more spokes, each a gateway with a subnet and a host behind it; spoke-to-spoke"
                " traffic goes through the hub)",
    "ike_version": "the connections' IKE version unless one sets its own: 1 or 2 (default 2)",
    "ike": "the connections' IKE proposals unless one sets its own",
    "esp": "the connections' ESP proposals unless one sets its own",
    "psk": "the PSK of connections that set none (default `verysecret`)",
    "auth": "how every node authenticates: `psk` (default), `rsa` or `ecdsa` (certificates:"
            " the lab makes one CA and a certificate per node with its `id` as subjectAltName;"
            " a road-warrior gateway then has one connection for every client whose"
            " certificate the CA signed, tells them apart by the certificate's identity, and"
            " so takes every connection with the same IKE version and proposals; a hub has a"
            " connection per spoke, as with PSKs)",
    "pool": "the gateway's pool of virtual IPs, a network (default `10.3.0.0/28`): its"
            " addresses from the first to the one before the last are handed out",
    "pings": "echo requests each client sends to the host behind the gateway (default 3)",
    "nodes": "a table per node: `[nodes.NAME]`",
    "connections": "a list of tables: `[[connections]]`, one per client",
    "origin": "the upstream case the scenario translates, as in a two-peer scenario"
              " (`[origin]`, metadata: reaches no daemon; scenarios/upstream/)",
}
NODE_KEYS: dict[str, str] = {
    "flavor": "the daemon flavor the node runs (as `left.flavor`)",
    "address": "the node's address on its own network (IPv4 or IPv6, as `left.address`);"
               " every node on a network of its own, the router at its 254th address",
    "prefixlen": "the prefix length of that network (default 24 for IPv4, 64 for IPv6)",
    "subnet": "the node's subnet, with a host behind it: required on the gateway, not"
              " allowed on a client (road-warrior); required on the hub and every spoke (hub)",
    "id": "the node's IKE identity (default: its address); the gateway tells clients apart"
          " by it",
    "nat": "`true`: the client is behind a NAT (IPv4, one client at most): the router sends"
           " its packets on from the router's own address on the gateway's network (default"
           " `false`)",
}
CONN_KEYS: dict[str, str] = {
    "client": "the client end (in a hub: the spoke, which initiates): a node's name",
    "gateway": "the gateway end (in a hub: the hub): a node's name (one per scenario)",
    "psk": "this connection's own PSK (default: the scenario's)",
    "ike_version": "this connection's IKE version (default: the scenario's)",
    "ike": "this connection's IKE proposals (default: the scenario's)",
    "esp": "this connection's ESP proposals (default: the scenario's)",
    "cert": "`untrusted`: the client's certificate is signed by a CA the gateway does not"
            " trust, and the gateway must refuse it: the cell passes only if this client"
            " gets no SA and its daemon reports the authentication failure (road-warrior,"
            " `auth` rsa or ecdsa; at least one other client must be admitted)",
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

    def peer(self, subnet: bool = False) -> Peer:
        """The node as one end of a two-peer scenario (``subnet``: with its subnet)."""
        return Peer(self.address, self.flavor, self.plen, id=self.id,
                    subnet=self.subnet if subnet else None)

    def lan(self, offset: int) -> str:
        """An address on the node's subnet: the node's own is the first, its host's the
        second."""
        return str(ipaddress.ip_network(self.subnet or "").network_address + offset)

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
    #: "untrusted": the client's certificate is signed by a CA the gateway does not trust
    cert: str | None = None

    @property
    def refused(self) -> bool:
        """Whether the gateway must refuse this client (its certificate is untrusted)."""
        return self.cert is not None

    @property
    def name(self) -> str:
        """The connection's name in the gateway's config (one per client or spoke)."""
        return f"rw-{self.client}"

    def named(self, topology: str) -> str:
        """The connection's name in the gateway's config in ``topology``."""
        return f"hub-{self.client}" if topology == "hub" else self.name


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
    auth: str = "psk"
    #: the upstream case this scenario translates (metadata only: lab.origin)
    origin: Origin | None = None
    #: derived: node name -> node
    by_name: dict[str, Node] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        check_name("name", self.name)
        check_choice("topology", self.topology, NETWORK_TOPOLOGIES)
        check_choice("ike_version", self.ike_version, IKE_VERSIONS)
        check_psk("psk", self.psk)
        check_int("pings", self.pings, *PINGS_RANGE)
        check_choice("auth", self.auth, AUTHS)
        if self.origin is not None and not isinstance(self.origin, Origin):
            raise ScenarioError(f"origin: {show(self.origin)} is not an Origin (allowed:"
                                " parse_origin({...}))")
        for node in self.nodes:
            node.check()
            if node.name in self.by_name:
                raise ScenarioError(f"nodes.{node.name}: named twice")
            self.by_name[node.name] = node
        check_connections(self)
        if self.topology == "hub":
            check_hub(self)
        else:
            check_addresses(self)
        check_certs(self)

    # -- roles ----------------------------------------------------------------------
    @property
    def gateway(self) -> Node:
        return self.by_name[self.connections[0].gateway]

    @property
    def clients(self) -> tuple[Node, ...]:
        return tuple(self.by_name[c.client] for c in self.connections)

    @property
    def admitted(self) -> tuple[Node, ...]:
        """The clients the gateway must accept (those of no ``cert = "untrusted"``)."""
        return tuple(self.by_name[c.client] for c in self.connections if not c.refused)

    @property
    def refused(self) -> tuple[Node, ...]:
        """The clients the gateway must refuse."""
        return tuple(self.by_name[c.client] for c in self.connections if c.refused)

    @property
    def shared(self) -> bool:
        """Whether a road-warrior gateway has one connection for every client (with
        certificates: anyone the CA certified, told apart by the certificate's identity)
        rather than one per client (a PSK each)."""
        return self.auth != "psk" and self.topology == "road-warrior"

    def role(self, node: Node) -> str:
        """What a node plays: gateway or client (road-warrior), hub or spoke (hub)."""
        hub = self.topology == "hub"
        if node is self.gateway:
            return "hub" if hub else "gateway"
        return "spoke" if hub else "client"

    @property
    def wide(self) -> str:
        """What a hub's connections protect on the hub's side, and a spoke's on the far
        side: every address of the subnets' family (one selector pair per connection, the
        form every daemon takes in one Child SA; the hub forwards between its tunnels)."""
        return "0.0.0.0/0" if ipaddress.ip_network(self.gateway.subnet or "").version == 4 \
            else "::/0"

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
        hub = self.topology == "hub"  # a spoke and the hub: net-to-net through a router
        return Scenario(
            name=f"{self.name}: {conn.client} to {conn.gateway}", left=client.peer(hub),
            right=gateway.peer(hub), ike_version=self.ike_version_of(conn), mode="tunnel",
            psk=conn.psk or self.psk, auth=self.auth, topology="net-to-net-routed" if hub else "routed",
            pings=self.pings,
            ike=self.ike if conn.ike is None else conn.ike,
            esp=self.esp if conn.esp is None else conn.esp)
