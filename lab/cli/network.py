"""`ipsec-lab run` and `render` of a scenario with nodes and connections (lab.peers):
the host checks what it can (flavors, drivers), the kernel that holds the SAs runs the
cell (lab.cli.agent: its phases as every cell's, lab.cell.sequence), the summary
ends in PASS or FAIL."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

from lab import options
from lab.cli import keeper
from lab.daemons.base import PeerContext
from lab.errors import LabError, UsageError
from lab.flavors import parse_flavor, tree_missing
from lab.kernel import confine
from lab.kernel.choice import KernelChoice, choose
from lab.peers import Network, load_network, network_to_dict
from lab.remote.agent import cannot_run, print_summary
from lab.remote.drivers import driver
from lab.topology.hub import host_of

#: the two-peer options that a file with nodes cannot take
TWO_PEER_OPTIONS = ("left", "right", "ike", "mode", "ike_proposal", "esp", "psk", "auth", "path")


def _load(args: argparse.Namespace) -> Network:
    given = [k for k in TWO_PEER_OPTIONS if getattr(args, k, None)]
    if given:
        raise UsageError(f"--{given[0].replace('_', '-')}: not for a scenario with nodes"
                         f" ({args.scenario}); set it in the file")
    rundir = getattr(args, "lab_rundir", None)
    options.check_rundir(rundir, "--rundir")
    # the run directories are what a confined guest may write (lab.kernel.confine)
    confine.allow_writes(Path(rundir or ".lab-runs").resolve())
    return load_network(args.scenario)


def _runnable(args: argparse.Namespace, tag: str) -> tuple[Network, KernelChoice]:
    """The scenario, once the host has found nothing that stops it running here, and the
    kernel that will hold its SAs (said on a line of its own)."""
    n = _load(args)
    reason = cannot_run(n, tag, kernel=False)
    if reason:
        raise UsageError(f"this cell cannot run here: {reason}")
    choice = choose(args.lab_kernel, args.lab_uml)
    print(f"kernel: {choice.describe()}", flush=True)
    return n, choice


def run(args: argparse.Namespace, tag: str, request: dict[str, Any]) -> int:
    n, choice = _runnable(args, tag)
    print(f"{n.topology}: {n.role(n.gateway)} {n.gateway.name} ({n.gateway.flavor}),"
          f" {n.role(n.clients[0])}s " + ", ".join(f"{c.name} ({c.flavor})" for c in n.clients),
          flush=True)
    gw = keeper.gateway(choice, tag)
    try:
        for msg in keeper.call(gw, {**request, "op": "network", "network": network_to_dict(n)}):
            if msg[0] == "event":
                print(f"  {msg[1]}", flush=True)
            elif msg[0] == "error":
                raise LabError(msg[1])
            else:
                return print_summary(msg[1])
    finally:
        gw.exit()
    return 1


def render(args: argparse.Namespace, tag: str) -> int:
    """Print every node's files (no program runs; versions read as "unknown")."""
    n = _load(args)
    for node in n.nodes:
        flavor = parse_flavor(node.flavor, f"nodes.{node.name}.flavor")
        missing = tree_missing(flavor)
        if missing:
            raise UsageError(f"nodes.{node.name}.flavor: {missing}")
        role = n.role(node)
        with tempfile.TemporaryDirectory(prefix="ipl-render-") as cache:
            ctx = PeerContext(node.name, f"ipl-render-{node.name}",
                              Path(f"/tmp/ipl-render/{node.name}"), flavor, tag, Path(cache))
            for rel, text in driver(n, node, ctx).render().items():
                print(f"==> {node.name} ({flavor.name}, {role}): {rel} <==\n{text}")
    return 0


def prepare_up(args: argparse.Namespace, tag: str, request: dict[str, Any]
               ) -> tuple[KernelChoice, dict[str, Any], dict[str, Any], Any, tuple[str, ...]]:
    """What `ipsec-lab up` needs of a scenario with nodes: the kernel, the request, the
    scenario as the lab's state keeps it, the summary, the nodes' names."""
    n, choice = _runnable(args, tag)
    saved = network_to_dict(n)
    names = tuple(node.name for node in n.nodes)
    return choice, {**request, "op": "network", "network": saved}, saved, print_summary, names


def describe(saved: dict[str, Any]) -> str:
    """A lab of a scenario with nodes, in one line (ipsec-lab list)."""
    nodes = saved.get("nodes", {})
    return f"{saved.get('topology')} IKEv{saved.get('ike_version')}: " + ", ".join(
        f"{name} {node.get('flavor')}" for name, node in nodes.items())


def node_names(saved: dict[str, Any]) -> tuple[str, ...]:
    """Every node of a lab of a scenario with nodes, by the names `exec` and `shell` take:
    the nodes, the router, the host behind the gateway (and behind each spoke of a hub)."""
    spokes = [c.get("client", "") for c in saved.get("connections", [])] \
        if saved.get("topology") == "hub" else []
    return (*saved.get("nodes", {}), "router", "host", *(host_of(s) for s in spokes))
