"""What a road-warrior driver adds to a daemon's two-peer driver: the network and the
node it plays, and (for a gateway) the IKE SAs it holds, per client."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar

from lab.certs import Credentials, credentials
from lab.daemons.base import Daemon, PeerContext
from lab.peers import Connection, Network, Node
from lab.status import DaemonStatus


@dataclass(frozen=True)
class Session:
    """One IKE SA a gateway holds: its connection, the peer's address and identity as the
    daemon reports them, and how many Child SAs it has."""

    conn: str
    remote: str
    remote_id: str
    children: int


class RoleDriver(Daemon, interface=True):
    """A daemon driver in a role of a network scenario. Built with the pair scenario of
    the node's (first) connection; ``ctx.side`` is the node's name."""

    role: ClassVar[str] = ""
    #: the IKE versions the driver does remote access in (IKEv2: the configuration payload;
    #: IKEv1: mode config after Aggressive Mode, which names the client before the PSK is
    #: needed: Main Mode would have to pick the PSK by the client's address)
    remote_access: ClassVar[tuple[int, ...]] = (1, 2)
    #: how the driver's node can authenticate (lab.scenario.AUTHS), and why not otherwise
    auths: ClassVar[tuple[str, ...]] = ("psk", "rsa", "ecdsa")
    no_certs: ClassVar[str] = "not built"

    def __init__(self, network: Network, node: Node, ctx: PeerContext) -> None:
        conn = network.connection(node.name) if self.role == "client" else network.connections[0]
        super().__init__(network.pair(conn), ctx)
        self.network, self.node = network, node
        #: the two-peer scenario's ends: this node's and the other's (for a gateway: the
        #: first client's); the base reads these
        mine, theirs = ("left", "right") if self.role == "client" else ("right", "left")
        self.end, self.far = mine, theirs
        self.peer, self.other = self.scenario.peer(mine), self.scenario.peer(theirs)

    def credentials(self) -> Credentials:
        """The node's certificate (its identity as subjectAltName), key and the CA, with
        keys cached per node name; a client of ``cert = "untrusted"`` has its certificate
        from a CA of its own, which the gateway does not trust (it trusts the lab's CA,
        which signed the gateway's)."""
        if self._credentials is None:
            s, node = self.scenario, self.node
            made = credentials(self.ctx.cache, s.auth, node.name, s.identity(self.end),
                               node.address)
            if self.role == "client" and self.network.connection(node.name).refused:
                own = credentials(self.ctx.cache / "untrusted", s.auth, node.name,
                                  s.identity(self.end), node.address, issuer="untrusted")
                made = replace(own, ca_pem=made.ca_pem)
            self._credentials = made
        return self._credentials

    def status_of(self, conn: Connection) -> DaemonStatus | None:
        """The daemon's own account of one connection's SAs: a client's is its status();
        a gateway says it per connection where its daemon can (None: it cannot)."""
        return self.status() if self.role == "client" else None

    def sessions(self) -> list[Session]:
        """The IKE SAs the daemon holds (a gateway's question)."""
        raise NotImplementedError(f"{self.name}: no sessions() for a {self.role}")

    def vip_family(self) -> str:
        """The any-address of the pool's family (what a client asks the gateway for)."""
        return "0.0.0.0" if ":" not in (self.network.pool or "") else "::"
