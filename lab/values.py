"""One check per kind of value a scenario carries into a daemon's file: text, an IP
address, a subnet. Identities (lab.identity), names, PSKs (lab.scenario) and native lines
(lab.native) build on these. Each error is one line naming the field and what is allowed.

Nothing that could end a line, a quoted string or a statement gets through: no control
character, no Unicode line or paragraph separator (U+2028, U+2029), no NEL (U+0085), no
NUL, and no IPv6 ``%scope`` (Python's ``ipaddress`` lets a scope hold almost any text).
"""

from __future__ import annotations

import ipaddress
import re

from lab.errors import ScenarioError

IP = ipaddress.IPv4Address | ipaddress.IPv6Address
NET = ipaddress.IPv4Network | ipaddress.IPv6Network
#: an address written plainly: hex digits, ':' and '.', nothing else (no %scope, no blank)
ADDRESS_CHARS = re.compile(r"[0-9A-Fa-f:.]{2,45}")
#: a subnet written ADDRESS/PREFIXLEN with a decimal prefix length (no netmask, no hostmask)
SUBNET_TEXT = re.compile(r"([0-9A-Fa-f:.]{2,45})/([0-9]{1,3})")
SUBNET_ALLOWED = ("e.g. '10.1.0.0/24' or '2001:db8:11::/64': ADDRESS/PREFIXLEN with a"
                  " decimal prefix length, no host bits, no netmask")


def unprintable(text: str) -> str | None:
    """The first character that is not printable (controls, separators, NUL, U+FEFF...)."""
    return next((c for c in text if not c.isprintable()), None)


def check_printable(where: str, text: str, allowed: str) -> str:
    bad = unprintable(text)
    if bad is not None:
        raise ScenarioError(f"{where}: {_show(text)} holds {bad!r}, which is not printable"
                            f" (allowed: {allowed})")
    return text


def parse_ip(where: str, text: str, allowed: str) -> IP:
    """An IP address in plain notation: no %scope, no blank, no control character."""
    if not ADDRESS_CHARS.fullmatch(text):
        what = "is a scoped address" if "%" in text else "is not an IP address"
        raise ScenarioError(f"{where}: {_show(text)} {what} (allowed: {allowed})")
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        raise ScenarioError(f"{where}: {_show(text)} is not an IP address"
                            f" (allowed: {allowed})") from None


def anycast(ip: IP, prefixlen: int) -> str | None:
    """What makes ``ip`` unusable as a host's own address on a /prefixlen link, or None:
    IPv6's subnet-router anycast and RFC 2526's reserved anycast addresses, IPv4's network
    and broadcast addresses."""
    net = ipaddress.ip_network(f"{ip}/{prefixlen}", strict=False)
    if net.num_addresses <= 2:
        return None
    if ip == net.network_address:
        return "the subnet-router anycast address" if ip.version == 6 else "the network address"
    if ip.version == 4 and ip == net.broadcast_address:
        return "the broadcast address"
    if ip.version == 6 and prefixlen <= 64 and int(ip) & 0xFFFFFFFFFFFFFFFF >= 0xFDFFFFFFFFFFFF80:
        return "a reserved subnet anycast address (RFC 2526)"
    return None


def parse_subnet(where: str, value: object) -> NET:
    """A network behind a peer: ADDRESS/PREFIXLEN, no host bits, no netmask or hostmask,
    no scope, not loopback, multicast or link-local."""
    if not isinstance(value, str):
        raise ScenarioError(f"{where}: {_show(value)} is not a string (allowed: a network such as"
                            " '10.1.0.0/24' or '2001:db8:11::/64')")
    text = value
    m = SUBNET_TEXT.fullmatch(text)
    if m is None:
        what = "has a %scope" if "%" in text else "is not a network"
        raise ScenarioError(f"{where}: {_show(value)} {what} (allowed: {SUBNET_ALLOWED})")
    try:
        net = ipaddress.ip_network(text)
    except ValueError as exc:
        why = "is not a network" + (": it has host bits set" if "host bits" in str(exc) else "")
        raise ScenarioError(f"{where}: {_show(text)} {why} (allowed: {SUBNET_ALLOWED})") from None
    for attr, kind in (("is_loopback", "a loopback network"), ("is_multicast", "a multicast network"),
                       ("is_link_local", "a link-local network"),
                       ("is_unspecified", "the unspecified address")):
        if getattr(net, attr):
            raise ScenarioError(f"{where}: {_show(text)} is {kind} (allowed: {SUBNET_ALLOWED},"
                                " routable between the peers)")
    return net


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
