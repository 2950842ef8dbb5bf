"""A scenario with nodes and connections as plain data and as a TOML file: read back
exactly as written, every error one line naming the file and the field."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from lab.algorithms import Proposals, parse_proposals, show_proposals
from lab.errors import ScenarioError
from lab.origin import parse_origin
from lab.peers.model import CONN_KEYS, NODE_KEYS, TOP_KEYS, Connection, Network, Node
from lab.scenario import Scenario, as_list, load_scenario, show


def is_network(data: dict[str, Any]) -> bool:
    """Whether plain scenario data names nodes (a network) rather than left and right."""
    return isinstance(data, dict) and ("nodes" in data or "connections" in data)


def _unknown(where: str, raw: dict[str, Any], allowed: dict[str, str]) -> None:
    bad = sorted(set(raw) - set(allowed))
    if bad:
        raise ScenarioError(f"{where}: unknown field {bad[0]!r} (allowed: "
                            f"{', '.join(sorted(allowed))})")


def network_from_dict(data: dict[str, Any], source: str = "scenario") -> Network:
    """A Network from plain data (as read from TOML), naming ``source`` in errors."""
    try:
        return _from_dict(data, source)
    except ScenarioError as exc:
        raise ScenarioError(f"{source}: {exc}") from None


def _proposals(raw: dict[str, Any], key: str, where: str) -> dict[str, Proposals]:
    if key not in raw:
        return {}
    return {key: parse_proposals(raw[key], f"{where}{key}", needs_dh=key == "ike")}


def _from_dict(data: dict[str, Any], source: str) -> Network:
    _unknown(source, data, TOP_KEYS)
    raw_nodes = data.get("nodes")
    if not isinstance(raw_nodes, dict) or not raw_nodes:
        raise ScenarioError(f"nodes: {show(raw_nodes)} (allowed: a table per node, [nodes.NAME])")
    nodes = []
    for name, raw in raw_nodes.items():
        if not isinstance(raw, dict) or "address" not in raw or "flavor" not in raw:
            raise ScenarioError(f"nodes.{name}: a table with at least 'address' and 'flavor' is"
                                f" required (found: {show(raw)})")
        _unknown(f"nodes.{name}", raw, NODE_KEYS)
        nodes.append(Node(name=name, **raw))
    raw_conns = data.get("connections")
    if not isinstance(raw_conns, list) or not all(isinstance(c, dict) for c in raw_conns):
        raise ScenarioError(f"connections: {show(raw_conns)} (allowed: [[connections]] tables)")
    conns = []
    for i, raw in enumerate(raw_conns):
        where = f"connections[{i}]"
        _unknown(where, raw, CONN_KEYS)
        if "client" not in raw or "gateway" not in raw:
            raise ScenarioError(f"{where}: 'client' and 'gateway' are required")
        plain = {k: v for k, v in raw.items() if k not in ("ike", "esp")}
        conns.append(Connection(**plain, **_proposals(raw, "ike", f"{where}."),
                                **_proposals(raw, "esp", f"{where}.")))
    top = {k: data[k] for k in ("name", "topology", "ike_version", "psk", "pool", "pings", "auth")
           if k in data}
    top.setdefault("name", Path(source).stem)
    if "origin" in data:
        top["origin"] = parse_origin(data["origin"], "origin")
    return Network(nodes=tuple(nodes), connections=tuple(conns), **top,
                   **_proposals(data, "ike", ""), **_proposals(data, "esp", ""))


def network_to_dict(n: Network) -> dict[str, Any]:
    """Plain data that network_from_dict() reads back."""
    nodes: dict[str, Any] = {}
    for node in n.nodes:
        entry: dict[str, Any] = {"flavor": node.flavor, "address": node.address}
        for key in ("prefixlen", "subnet", "id"):
            if getattr(node, key) is not None:
                entry[key] = getattr(node, key)
        if node.nat:
            entry["nat"] = True
        nodes[node.name] = entry
    conns = []
    for c in n.connections:
        entry = {"client": c.client, "gateway": c.gateway}
        for key in ("psk", "ike_version", "cert"):
            if getattr(c, key) is not None:
                entry[key] = getattr(c, key)
        for key in ("ike", "esp"):
            if getattr(c, key) is not None:
                entry[key] = show_proposals(as_list(getattr(c, key)))
        conns.append(entry)
    data = {"name": n.name, "topology": n.topology, "ike_version": n.ike_version,
            "ike": show_proposals(n.ike), "esp": show_proposals(n.esp), "psk": n.psk,
            "pool": n.pool, "pings": n.pings, "auth": n.auth, "nodes": nodes, "connections": conns}
    if n.origin is not None:
        data["origin"] = n.origin.to_dict()
    return data


def read_file(path: str | Path) -> dict[str, Any] | None:
    """A scenario file's data when it is a network scenario, else None (the two-peer
    loader, lab.scenario.load_scenario, reads it and says what is wrong with it)."""
    try:
        data = tomllib.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    return data if is_network(data) else None


def load_network(path: str | Path) -> Network:
    data = read_file(path)
    if data is None:
        raise ScenarioError(f"{path}: not a scenario with [nodes.NAME] and [[connections]]")
    return network_from_dict(data, str(path))


def load_case(path: str | Path) -> Scenario | Network:
    """A scenario file of either form: a network (``[nodes.NAME]``, ``[[connections]]``)
    or two peers (``[left]``, ``[right]``; lab.scenario.load_scenario)."""
    return load_network(path) if read_file(path) is not None else load_scenario(path)
