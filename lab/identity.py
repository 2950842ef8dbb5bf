"""Peer identities: what each side says it is in IKE, in the neutral spelling.

A side's ``id`` is its address by default, or an FQDN (``@moon.example``), a user FQDN
(``carol@example.org``) or a distinguished name for certificates
(``C=CH, O=Lab, CN=moon.example``). Each driver spells an ``Identity`` its own way; the
alphabet is strict so that no identity can end a line, a quoted string or a statement
in any daemon's file.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from lab.errors import ScenarioError
from lab.values import unprintable

KINDS = ("address", "fqdn", "user_fqdn", "dn")
ALLOWED = ("an IP address, @fqdn such as '@moon.example', a user FQDN such as"
           " 'carol@example.org', or a DN such as 'C=CH, O=Lab, CN=moon.example'")
LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
LOCAL_PART = re.compile(r"[A-Za-z0-9._+-]{1,64}")
#: DN attributes the lab writes (the OpenSSL/strongSwan/Libreswan short names)
DN_ATTRIBUTES = ("C", "ST", "L", "O", "OU", "CN")
#: a DN value: no comma, quote, backslash, '=', '/', ';' or '#' (no escaping is ever needed)
DN_VALUE = re.compile(r"[A-Za-z0-9][A-Za-z0-9 .@_+:-]{0,63}")


@dataclass(frozen=True)
class Identity:
    """``kind`` is one of KINDS; ``value`` is the address, the domain name (without '@'),
    the user FQDN, or the DN as a tuple of (attribute, value) written ``C=CH, O=Lab, ...``."""

    kind: str
    value: str

    @property
    def text(self) -> str:
        """As a scenario writes it."""
        return f"@{self.value}" if self.kind == "fqdn" else self.value

    def rdns(self) -> list[tuple[str, str]]:
        """A DN's (attribute, value) pairs in order."""
        return [(a.strip(), v.strip()) for a, v in
                (part.split("=", 1) for part in self.value.split(","))]

    def __str__(self) -> str:
        return self.text


def _domain(name: str) -> bool:
    labels = name.split(".")
    return len(name) <= 253 and len(labels) >= 2 and all(LABEL.fullmatch(x) for x in labels)


def parse_identity(value: object, where: str) -> Identity:
    """An identity from the scenario's text; errors are one line naming ``where``."""
    if not isinstance(value, str) or not value:
        raise ScenarioError(f"{where}: {value!r} is not an identity (allowed: {ALLOWED})")
    bad = unprintable(value) or ("%" if "%" in value else None)
    if bad is not None:
        what = "has a %scope or '%'" if bad == "%" else f"holds {bad!r}, which is not printable"
        raise ScenarioError(f"{where}: {_show(value)} {what} (allowed: {ALLOWED})")
    text = value.strip()
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        ip = None
    if ip is not None:
        return Identity("address", str(ip))
    if text.startswith("@"):
        if not _domain(text[1:]):
            raise ScenarioError(f"{where}: {value!r} is not an FQDN after '@' (allowed: {ALLOWED})")
        return Identity("fqdn", text[1:])
    if "=" in text:
        return Identity("dn", _dn(text, value, where))
    if "@" in text:
        local, _, domain = text.partition("@")
        if not LOCAL_PART.fullmatch(local) or not _domain(domain):
            raise ScenarioError(f"{where}: {value!r} is not a user FQDN such as"
                                f" 'carol@example.org' (allowed: {ALLOWED})")
        return Identity("user_fqdn", text)
    hint = f"; for an FQDN write '@{text}'" if _domain(text) else ""
    raise ScenarioError(f"{where}: {value!r} is not an identity{hint} (allowed: {ALLOWED})")


def _show(value: str) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _dn(text: str, value: str, where: str) -> str:
    parts = []
    for rdn in text.split(","):
        attr, sep, val = rdn.partition("=")
        attr, val = attr.strip(), val.strip()
        if not sep or attr not in DN_ATTRIBUTES:
            raise ScenarioError(f"{where}: {value!r}: {rdn.strip()!r} is not ATTRIBUTE=value with"
                                f" an attribute of {', '.join(DN_ATTRIBUTES)} (allowed: {ALLOWED})")
        if not DN_VALUE.fullmatch(val) or (attr == "C" and not re.fullmatch(r"[A-Z]{2}", val)):
            what = "two capital letters" if attr == "C" else \
                "1-64 letters, digits, space and . @ _ + : - (no comma, quote or backslash)"
            raise ScenarioError(f"{where}: {value!r}: {attr}={val!r} is not allowed"
                                f" ({attr} takes {what})")
        parts.append(f"{attr}={val}")
    if not any(p.startswith("CN=") for p in parts):
        raise ScenarioError(f"{where}: {value!r} has no CN (allowed: {ALLOWED})")
    return ", ".join(parts)
