"""A cell of more than two peers behind the command line (`ipsec-lab run --scenario FILE`
of a network scenario): ``cannot_run`` is asked on both sides (the host: trees and
binaries; the guest: what the daemons and the kernel can do); lab.cli.agent runs the cell
in the kernel that holds the SAs, ``result`` is what it answers and ``print_summary``
what the host prints of it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lab.daemons.registry import daemon_class
from lab.flavors import parse_flavor, tree_missing
from lab.peers import Network
from lab.remote import cannot_serve

if TYPE_CHECKING:  # (the cell needs the guest's kernel)
    from lab.remote.cell import NetworkCell


def cannot_run(n: Network, tag: str, kernel: bool = True) -> str | None:
    """Why the network cannot run here, or None: a node's flavor is missing, its daemon
    has no driver for its role, or (``kernel``) cannot do what its connection asks."""
    for node in n.nodes:
        flavor = parse_flavor(node.flavor, f"nodes.{node.name}.flavor")
        role = n.role(node)
        cls = daemon_class(flavor.impl)
        conns = n.connections if node is n.gateway else (n.connection(node.name),)
        reason = next((why for c in conns if (why := cannot_serve(
            flavor.impl, role, n.ike_version_of(c), n.auth))), None)
        reason = reason or tree_missing(flavor) or cls.missing(flavor)
        if reason is None and kernel:
            for conn in conns:
                end = "right" if node is n.gateway else "left"
                reason = reason or cls.unsupported(n.pair(conn), end, flavor, tag)
        if reason:
            return f"{node.name}: {reason}"
    return None


def result(cell: NetworkCell) -> dict[str, Any]:
    """What `ipsec-lab run` prints of a network cell (print_summary), as lab.cli.agent
    answers it."""
    return {
        "sas": {name: [str(sa) for sa in held] for name, held in cell.sas.items()},
        "connections": [line for r in cell.results for line in r.lines()],
        "lines": cell.lines, "problems": cell.problems,
        "timings": dict(cell.timings),
        "vips": {c: v for c, v in cell.vips.items()},
    }


def print_summary(result: dict[str, Any]) -> int:
    """The result as `ipsec-lab run` prints it; 0 on PASS."""
    for node, sas in result["sas"].items():
        print(f"SAs in {node}:")
        for sa in sas:
            print(f"  {sa}")
    for line in result["connections"] + result["lines"]:
        print(f"verdict: {line}")
    for problem in result["problems"]:
        print(f"PROBLEM: {problem}")
    if result["error"]:
        print(f"FAILED: {result['error']}")
    print("timings: " + ", ".join(f"{k} {v:.2f} s" for k, v in result["timings"].items()))
    print(f"artifacts: {result['rundir']}")
    ok = not result["error"] and not result["problems"]
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1
