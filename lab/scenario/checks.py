"""One field's value checks: each raises a one-line ScenarioError naming the field, the bad
value (as the user wrote it: show()) and what is allowed."""

from __future__ import annotations

import ipaddress
from typing import Any

from lab.algorithms import Proposal
from lab.errors import ScenarioError, UsageError
from lab.flavors import parse_flavor
from lab.scenario.allowed import NAME_CHARS, NAME_MAX, NAME_MAX_BYTES, PATH_MAX, PSK_MAX_BYTES
from lab.values import check_printable, parse_ip


def show(value: Any) -> str:
    """A value as the user wrote it, on one line: TOML's true/false, strings quoted."""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def check_str(where: str, value: Any, allowed: str) -> str:
    if not isinstance(value, str):
        raise ScenarioError(f"{where}: {show(value)} is not a string (allowed: {allowed})")
    return value


def check_int(where: str, value: Any, low: int, high: int, unit: str = "") -> int:
    """An integer in low..high; true/false are not numbers here (bool is an int in Python)."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ScenarioError(f"{where}: {show(value)} is not allowed (allowed: {low}..{high}{unit})")
    return value


def check_choice(where: str, value: Any, choices: tuple[Any, ...]) -> None:
    same_type = all(type(value) is type(c) for c in choices)  # True == 1, 1.0 == 1: not here
    if not same_type or value not in choices:
        raise ScenarioError(f"{where}: {show(value)} is not allowed"
                            f" (allowed: {', '.join(str(c) for c in choices)})")


def check_name(where: str, value: Any) -> str:
    allowed = f"1 to {NAME_MAX} of letters, digits, space and {NAME_CHARS[62:].strip()}"
    text = check_str(where, value, allowed)
    bad = next((c for c in text if c not in NAME_CHARS), None)
    if not text or len(text) > NAME_MAX or bad is not None:
        what = f"holds {bad!r}" if bad is not None else "has the wrong length"
        raise ScenarioError(f"{where}: {show(text)} {what} (allowed: {allowed})")
    return text


def check_psk(where: str, value: Any) -> str:
    allowed = f"printable text of 1 to {PSK_MAX_BYTES} bytes in UTF-8"
    text = check_str(where, value, allowed)
    check_printable(where, text, allowed)
    if not 1 <= len(text.encode()) <= PSK_MAX_BYTES:
        raise ScenarioError(f"{where}: {show(text)} is {len(text.encode())} bytes long"
                            f" (allowed: {allowed})")
    return text


def check_address(where: str, value: Any) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """A unicast address a peer can own on a link: IPv6 global or unique-local without
    scope, or IPv4 unicast."""
    allowed = ("a unicast IPv6 address such as 2001:db8:1:1::1 (without %scope)"
               " or IPv4 address such as 192.0.2.1")
    text = check_str(where, value, allowed)
    ip = parse_ip(where, text, allowed)
    kinds = (("is_multicast", "a multicast address"),
             ("is_unspecified", "the unspecified address"), ("is_loopback", "the loopback address"),
             ("is_link_local", "a link-local address"), ("ipv4_mapped", "an IPv4-mapped address"),
             ("is_site_local", "a site-local address"), ("is_reserved", "a reserved address"))
    for attr, kind in kinds:
        if getattr(ip, attr, None):  # (IPv4 addresses have no scope_id, ipv4_mapped, ...)
            raise ScenarioError(f"{where}: {show(text)} is {kind} (allowed: {allowed})")
    return ip


def check_flavor(where: str, value: Any) -> str:
    allowed = "libreswan, strongswan or racoon, each as NAME, NAME@SUITE or NAME@/path"
    text = check_printable(where, check_str(where, value, allowed), allowed)
    try:
        flavor = parse_flavor(text, where)
    except UsageError as exc:
        raise ScenarioError(str(exc)) from None
    if flavor.root is not None and (len(str(flavor.root).encode()) > PATH_MAX or any(
            len(part.encode()) > NAME_MAX_BYTES for part in flavor.root.parts)):
        raise ScenarioError(f"{where}: {show(text)} is too long a path (allowed: at most"
                            f" {PATH_MAX} bytes, {NAME_MAX_BYTES} per component)")
    return text


def check_proposal(where: str, value: Any, optional: bool = False) -> None:
    """A Proposal, or a tuple of them in order of preference (empty: the daemon's defaults)."""
    if (value is None and optional) or isinstance(value, Proposal):
        return
    if isinstance(value, tuple) and all(isinstance(p, Proposal) for p in value):
        return
    raise ScenarioError(f"{where}: {show(value)} is not a proposal (allowed: a Proposal, e.g."
                        f" parse_proposal('aes128-sha1-modp2048', ...))")
