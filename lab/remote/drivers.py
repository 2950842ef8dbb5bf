"""Every node's driver in a scenario of more than two peers, by the role it plays
(lab.peers.Network.role): a gateway, a client or a hub has its daemon's role driver
(lab.remote.ROLES); a spoke is its daemon's two-peer driver (lab.daemons) of its
connection's left end, the initiator, protecting its subnet to everything the hub
reaches (Network.wide) where the pair scenario says the hub's subnet."""

from __future__ import annotations

from dataclasses import replace

from lab.daemons.base import Daemon, PeerContext
from lab.daemons.registry import daemon_class
from lab.errors import LabError
from lab.peers import Network, Node
from lab.remote import cannot_serve, role_class


def spoke(n: Network, node: Node, ctx: PeerContext) -> Daemon:
    """A spoke's two-peer driver: side left, in a directory of its own one level down
    (the driver's tree view goes beside its directory, named by the side)."""
    ctx = replace(ctx, side="left", dir=ctx.dir / node.name)
    daemon = daemon_class(ctx.flavor.impl)(n.pair(n.connection(node.name)), ctx)
    daemon.other = replace(daemon.other, subnet=n.wide)
    return daemon


def driver(n: Network, node: Node, ctx: PeerContext) -> Daemon:
    """The node's driver; LabError when its daemon has none for its role."""
    role = n.role(node)
    if role == "spoke":
        return spoke(n, node, ctx)
    cls = role_class(ctx.flavor.impl, role)
    if cls is None:
        raise LabError(f"nodes.{node.name}: {cannot_serve(ctx.flavor.impl, role)}")
    return cls(n, node, ctx)
