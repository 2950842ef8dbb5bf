"""The import graph of lab/: imports point only downward in the layer table, and no
modules import each other in a circle (type-only and in-function imports count too)."""

from __future__ import annotations

import ast
from pathlib import Path

LAB = Path(__file__).parents[1] / "lab"

#: bottom up: a module may import its own layer's and the ones below, never one above.
#: A module is in the layer of the longest name here that it is or is inside of ("lab" is
#: the package's own __init__ only: a new module of lab/ must be placed here).
LAYERS: tuple[tuple[str, ...], ...] = (
    # the ground: errors, processes, owners, per-user state, value parsing, phase timers
    ("lab", "lab.errors", "lab.run", "lab.owner", "lab.state", "lab.values", "lab.repeat",
     "lab.pathreport", "lab.timed"),
    # the machine: kernels, namespaces and links, XFRM; no scenario in sight
    ("lab.kernel", "lab.topology", "lab.xfrm", "lab.xfrm_monitor"),
    # words the model is made of: algorithms, identities, native lines (each daemon's rules
    # for them beside its driver, as plain data), where daemons come from (each daemon's
    # provision beside its driver, as plain data)
    ("lab.algorithms", "lab.identity", "lab.native", "lab.origin", "lab.expected",
     "lab.logcheck", "lab.offers", "lab.status", "lab.certs", "lab.flavors", "lab.probes",
     "lab.native_rules", "lab.daemons.libreswan.native", "lab.daemons.racoon.native",
     "lab.daemons.strongswan.native", "lab.provision_rules", "lab.daemons.libreswan.provision",
     "lab.daemons.racoon.provision", "lab.daemons.strongswan.provision"),
    # the scenario model
    ("lab.scenario", "lab.blocked"),
    ("lab.peers",),
    # scenario -> configs and daemons; what a negotiation should and did give
    ("lab.daemons", "lab.outcome", "lab.sa_words", "lab.proposals", "lab.negotiated",
     "lab.known", "lab.matrix"),
    # a cell run: traffic, capture and the verdict, the lifecycle, road warriors; lab.cell:
    # the two-peer cell in parts (state, core, negotiation, verdict, collect) and the
    # phase sequence of every cell (sequence)
    ("lab.wire", "lab.teardown", "lab.artifacts", "lab.cell", "lab.lifecycle", "lab.remote",
     "lab.warm", "lab.warmcheck"),
    # the ways in: pytest (lab.plugin: its hooks, uml, cells, report), the command line, setup
    ("lab.plugin", "lab.options", "lab.timetravel", "lab.remote.fixture", "lab.cli",
     "lab.provision", "lab.__main__"),
)

#: circles that stand in files being reorganised elsewhere; remove each once it is gone
KNOWN_CIRCLES: set[frozenset[str]] = set()


def modules() -> dict[str, Path]:
    found = {}
    for path in LAB.rglob("*.py"):
        parts = path.relative_to(LAB.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The lab modules ``name`` imports anywhere in its text. ``from P import M`` is an
    import of P.M where that is a module (P's __init__ runs first, but it is not what the
    importer asks for); ``from . import`` is not used in lab/."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names if alias.name in known)
        elif isinstance(node, ast.ImportFrom) and node.module in known:
            subs = {f"{node.module}.{a.name}" for a in node.names} & known.keys()
            if len(subs) < len(node.names):
                out.add(node.module)
            out.update(subs)
    return out - {name}


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports(name, path, known) for name, path in known.items()}


def layer(name: str) -> int:
    best, rank = "", -1
    for i, names in enumerate(LAYERS):
        for prefix in names:
            inside = name.startswith(prefix + ".") and prefix != "lab"
            if (name == prefix or inside) and len(prefix) > len(best):
                best, rank = prefix, i
    assert rank >= 0, f"{name} is in no layer: add it to LAYERS in {__file__}"
    return rank


def circles(edges: dict[str, set[str]]) -> list[frozenset[str]]:
    """The strongly connected components of more than one module (Tarjan's)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = {stack.pop()}
            while v not in component:
                component.add(stack.pop())
            if len(component) > 1:
                found.append(frozenset(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_every_import_points_down_the_layers() -> None:
    upward = [f"{name} (layer {layer(name)}) imports {target} (layer {layer(target)})"
              for name, targets in sorted(graph().items()) for target in sorted(targets)
              if layer(target) > layer(name)]
    assert not upward, "\n".join(upward)


def test_a_package_starts_nothing_above_its_modules() -> None:
    """Importing a module runs its packages' __init__ first: lab.daemons.racoon.native (the
    native-line rules the scenario reads) must not start the drivers above it."""
    edges = graph()
    upward = [f"{pkg} (run before {name}, layer {layer(name)}) imports {target}"
              for name in sorted(edges) for pkg in _packages(name) if pkg in edges
              for target in sorted(edges[pkg]) if layer(target) > layer(name)]
    assert not upward, "\n".join(upward)


def _packages(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(2, len(parts))]


def test_no_import_circles() -> None:
    found = set(circles(graph()))
    new = [sorted(c) for c in found - KNOWN_CIRCLES]
    assert not new, f"import circles: {new}"
    gone = [sorted(c) for c in KNOWN_CIRCLES - found]
    assert not gone, f"no longer circles, remove them from KNOWN_CIRCLES: {gone}"


def test_topology_knows_no_scenario() -> None:
    """topology/ reads a scenario through the protocols of lab.topology.spec."""
    edges = graph()
    back = {(name, t) for name in edges if name.startswith("lab.topology")
            for t in edges[name] if t.split(".")[:2] == ["lab", "scenario"]}
    assert not back


def test_the_checker_sees_a_circle_and_an_upward_import() -> None:
    edges = {"lab.topology.table": {"lab.scenario"}, "lab.scenario": {"lab.topology.table"}}
    assert circles(edges) == [frozenset(edges)]
    assert layer("lab.scenario") > layer("lab.topology.table")
