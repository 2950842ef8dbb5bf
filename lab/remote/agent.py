"""A road-warrior cell behind the command line: `ipsec-lab run --scenario FILE` of a
network scenario. ``cannot_run`` is asked on both sides (the host: trees and binaries;
the guest: what the daemons and the kernel can do); ``up`` runs in the kernel that holds
the SAs (lab.cli.agent hands it the request) and streams the phases as they start."""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path
from typing import Any

from lab import owner
from lab.artifacts import RunDir
from lab.daemons.registry import daemon_class
from lab.errors import LabError
from lab.flavors import parse_flavor, tree_missing
from lab.peers import Network, network_from_dict
from lab.remote import cannot_serve


def cannot_run(n: Network, tag: str, kernel: bool = True) -> str | None:
    """Why the network cannot run here, or None: a node's flavor is missing, its daemon
    has no driver for its role, or (``kernel``) cannot do what its connection asks."""
    for node in n.nodes:
        flavor = parse_flavor(node.flavor, f"nodes.{node.name}.flavor")
        role = n.role(node)
        cls = daemon_class(flavor.impl)
        conns = n.connections if node is n.gateway else (n.connection(node.name),)
        reason = next((why for c in conns if (why := cannot_serve(
            flavor.impl, role, n.ike_version_of(c)))), None)
        reason = reason or tree_missing(flavor) or cls.missing(flavor)
        if reason is None and kernel:
            for conn in conns:
                end = "right" if node is n.gateway else "left"
                reason = reason or cls.unsupported(n.pair(conn), end, flavor, tag)
        if reason:
            return f"{node.name}: {reason}"
    return None


def up(channel: Any, request: dict[str, Any]) -> None:
    from lab.remote.hub import cell_class  # (the cell needs the guest's kernel)

    network = network_from_dict(request["network"], "scenario")
    reason = cannot_run(network, request["tag"])
    if reason:
        channel.send(("error", f"this cell cannot run here: {reason}"))
        return
    cache = Path(tempfile.mkdtemp(prefix=owner.current().name_prefix() + "cli-"))
    cell = cell_class(network)(network, tag=request["tag"], ident=request["ident"],
                               cache=cache)
    real = cell.phase

    def announced(name: str):  # type: ignore[no-untyped-def]
        with contextlib.suppress(OSError):
            channel.send(("event", f"{name} ..."))
        return real(name)

    cell.phase = announced  # type: ignore[method-assign]
    rundir = RunDir(Path(request["rundir"])).fresh()
    error = None
    keep = bool(request.get("keep"))
    try:
        cell.up()
        cell.negotiate()
        cell.traffic()
        cell.judge()
        if not keep:  # a lab that stays up keeps its SAs
            cell.delete()
    except (LabError, AssertionError, OSError) as exc:
        error = f"{type(exc).__name__}: {exc}"
    result = {
        "sas": {name: [str(sa) for sa in held] for name, held in cell.sas.items()},
        "connections": [line for r in cell.results for line in r.lines()],
        "lines": cell.lines, "problems": cell.problems, "error": error,
        "timings": dict(cell.timings), "rundir": str(rundir.path),
        "vips": {c: v for c, v in cell.vips.items()},
    }
    try:
        cell.collect(rundir)
    except (LabError, OSError) as exc:
        result["problems"].append(f"artifacts: {exc}")
    if keep:  # lab.cli.agent's exec, status and down find it there
        channel.gateway._ipsec_lab_cell = cell
    else:
        cell.down()
    channel.send(("done", result))


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
