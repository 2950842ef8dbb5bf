"""A scenario's file form: plain data (as read from TOML) to a Scenario and back, and
loading a scenario file; every error is one line naming the file and the field."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import tomli_w

from lab import blocked
from lab.algorithms import parse_proposal, parse_proposals, show_proposals
from lab.errors import ScenarioError
from lab.expected import parse_stated, stated_to_dict
from lab.identity import parse_identity
from lab.logcheck import KEYS as LOG_KEYS
from lab.native import native_to_dict, parse_native
from lab.origin import parse_origin
from lab.scenario.allowed import SIDES
from lab.scenario.checks import show
from lab.scenario.model import Scenario
from lab.scenario.peer import Peer, as_list
from lab.topology.path import path_from_dict, path_to_dict

TOP_KEYS = {"name", "left", "right", "ike_version", "mode", "psk", "ike", "esp",
             "responder_esp", "ike_lifetime", "child_lifetime", "initiator", "pings", "fault",
             "expect", "topology", "auth", "path", "fragmentation", "encapsulation",
             "lifecycle", "actor", "rekey_by", "rekey_margin", "rekey_fuzz", "dpd_delay",
             "dpd_timeout", "dpd_action", "vanish", "fail_on_retransmit", "must_not_pass",
             "ping_size", "esp_length",
             "origin", "negotiated"}
PEER_KEYS = {"address", "flavor", "prefixlen", "psk", "mode", "ike_version", "ike", "esp",
              "subnet", "id", "native", "ike_lifetime", "child_lifetime", *LOG_KEYS}


def scenario_from_dict(data: dict[str, Any], source: str = "scenario") -> Scenario:
    """Build a Scenario from plain data (as read from TOML), naming ``source`` in errors."""
    if not isinstance(data, dict):
        raise ScenarioError(f"{source}: {show(data)} is not a table of fields")
    unknown = set(data) - TOP_KEYS
    if unknown:
        raise ScenarioError(f"{source}: unknown field {sorted(unknown)[0]!r}"
                            f" (allowed: {', '.join(sorted(TOP_KEYS))})")
    kwargs: dict[str, Any] = {}
    for side in SIDES:
        raw = data.get(side)
        if not isinstance(raw, dict) or "address" not in raw:
            raise ScenarioError(f"{source}: {side}: a table with at least 'address' is required"
                                f" (found: {show(raw)})")
        bad = set(raw) - PEER_KEYS
        if bad:
            raise ScenarioError(f"{source}: {side}.{sorted(bad)[0]!r}: unknown field"
                                f" (allowed: {', '.join(sorted(PEER_KEYS))})")
        peer = dict(raw)
        for key in ("ike", "esp"):
            if key in peer:
                peer[key] = parse_proposals(peer[key], f"{source}: {side}.{key}", needs_dh=key == "ike")
        if "native" in peer:
            peer["native"] = parse_native(peer["native"], f"{source}: {side}.native")
        if "id" in peer:
            parse_identity(peer["id"], f"{source}: {side}.id")
        kwargs[side] = Peer(**peer)
    for key in ("ike", "esp"):
        if key in data:
            kwargs[key] = parse_proposals(data[key], f"{source}: {key}", needs_dh=key == "ike")
    if "responder_esp" in data:
        kwargs["responder_esp"] = parse_proposal(data["responder_esp"], f"{source}: responder_esp",
                                                 needs_dh=False)
    if "path" in data:
        kwargs["path"] = path_from_dict(data["path"], f"{source}: path")
    if "must_not_pass" in data:
        kwargs["must_not_pass"] = blocked.parse_probes(data["must_not_pass"],
                                                       f"{source}: must_not_pass")
    if "origin" in data:
        kwargs["origin"] = parse_origin(data["origin"], f"{source}: origin")
    if "negotiated" in data:
        kwargs["negotiated"] = parse_stated(data["negotiated"], f"{source}: negotiated")
    for key in TOP_KEYS - {"left", "right", "ike", "esp", "responder_esp", "path",
                            "must_not_pass", "origin", "negotiated"}:
        if key in data:
            kwargs[key] = data[key]
    named = "name" in kwargs
    kwargs.setdefault("name", Path(source).stem)
    try:
        return Scenario(**kwargs)
    except ScenarioError as exc:
        hint = "" if named or not str(exc).startswith("name:") else \
            " (the name comes from the file name; set name = \"...\" in the file)"
        raise ScenarioError(f"{source}: {exc}{hint}") from None


def scenario_to_dict(s: Scenario) -> dict[str, Any]:
    """Plain data that scenario_from_dict() reads back (and that TOML can hold)."""
    data: dict[str, Any] = {
        "name": s.name, "ike_version": s.ike_version, "mode": s.mode, "psk": s.psk,
        "ike": show_proposals(as_list(s.ike)), "esp": show_proposals(as_list(s.esp)),
        "ike_lifetime": s.ike_lifetime,
        "child_lifetime": s.child_lifetime, "initiator": s.initiator, "pings": s.pings,
        "fault": s.fault, "expect": s.expect, "topology": s.topology, "auth": s.auth,
        "fragmentation": s.fragmentation, "encapsulation": s.encapsulation}
    if not s.path.plain:
        data["path"] = path_to_dict(s.path)
    if s.lifecycle != "none":
        data.update(lifecycle=s.lifecycle, actor=s.actor, rekey_by=s.rekey_by)
    for key in ("rekey_margin", "rekey_fuzz", "dpd_delay", "dpd_timeout"):
        if getattr(s, key) is not None:
            data[key] = getattr(s, key)
    if s.dpd_action != "clear":
        data["dpd_action"] = s.dpd_action
    if s.vanish != "stop":
        data["vanish"] = s.vanish
    if s.fail_on_retransmit:
        data["fail_on_retransmit"] = True
    if not s.negotiated.empty:
        data["negotiated"] = stated_to_dict(s.negotiated)
    if s.responder_esp is not None:
        data["responder_esp"] = str(s.responder_esp)
    for key in ("ping_size", "esp_length"):
        if getattr(s, key) is not None:
            data[key] = getattr(s, key)
    if s.must_not_pass:
        data["must_not_pass"] = [p.to_dict() for p in s.must_not_pass]
    if s.origin is not None:
        data["origin"] = s.origin.to_dict()
    for side in SIDES:
        peer = s.peer(side)
        data[side] = {"address": peer.address, "flavor": peer.flavor, "prefixlen": peer.prefixlen}
        for key in ("psk", "subnet", "mode"):
            if getattr(peer, key) is not None:
                data[side][key] = getattr(peer, key)
        for key in ("ike", "esp"):
            if getattr(peer, key) is not None:
                data[side][key] = show_proposals(as_list(getattr(peer, key)))
        if peer.id is not None:
            data[side]["id"] = peer.id
        if peer.native:
            data[side]["native"] = native_to_dict(peer.native)
        if peer.ike_version is not None:
            data[side]["ike_version"] = peer.ike_version
        for key in ("ike_lifetime", "child_lifetime"):
            if getattr(peer, key) is not None:
                data[side][key] = getattr(peer, key)
        for key in LOG_KEYS:
            if getattr(peer, key):
                data[side][key] = list(getattr(peer, key))
    return data


def scenario_to_toml(s: Scenario) -> str:
    """The scenario as TOML (written by tomli-w, so every string round-trips)."""
    return tomli_w.dumps(scenario_to_dict(s))


def load_scenario(path: str | Path) -> Scenario:
    """Read a scenario file; every error is one line naming the file."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ScenarioError(f"{path}: no such scenario file") from None
    except IsADirectoryError:
        raise ScenarioError(f"{path}: is a directory (allowed: a scenario TOML file)") from None
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read the scenario file: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ScenarioError(f"{path}: not a text file (byte {raw[exc.start]:#04x} at offset"
                            f" {exc.start} is not UTF-8; allowed: a scenario TOML file)") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        first = str(exc).splitlines()[0] if str(exc) else "parse error"
        raise ScenarioError(f"{path}: not valid TOML: {first}") from None
    return scenario_from_dict(data, str(path))
