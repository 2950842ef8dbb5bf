"""What a daemon says it negotiated, in the scenario's neutral vocabulary.

Each driver reads its daemon's own account (pluto's log, strongSwan's VICI
``list-sas``, racoon's log) into these records; lab.negotiated compares them with
the scenario and with the SAs the kernels hold. ``None`` always means "the daemon
does not say", never "none was negotiated" (that is the string ``"none"``).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from lab.offers import Offered


@dataclass(frozen=True)
class IkeStatus:
    """The IKE SA (IKEv1: the ISAKMP SA)."""

    version: int | None = None
    cipher: str | None = None  # neutral: aes128, aes128gcm16, 3des, ...
    integrity: str | None = None  # "none" for an AEAD cipher
    prf: str | None = None
    dh: str | None = None
    local_id: str | None = None
    remote_id: str | None = None


@dataclass(frozen=True)
class ChildStatus:
    """One Child SA (IKEv1: an IPsec SA pair)."""

    spi_in: int | None = None
    spi_out: int | None = None
    mode: str | None = None
    cipher: str | None = None
    integrity: str | None = None
    pfs: str | None = None  # the PFS group, "none", or None when the daemon does not say


@dataclass
class DaemonStatus:
    """A daemon's own account of its SAs, and where it was read."""

    source: str
    ike: IkeStatus | None = None
    children: list[ChildStatus] = field(default_factory=list)
    #: what this daemon does not report at all (named in the listing, never checked)
    unreported: tuple[str, ...] = ()
    #: why the status could not be read (the check then names it)
    error: str | None = None
    #: what the daemon says the connection offers, by kind ('ike', 'esp'), where it says
    #: (lab.offers): how the verdict works out what 'default' proposals must negotiate
    offers: dict[str, tuple[Offered, ...]] = field(default_factory=dict)


def neutral(table: dict[str, str], word: str | None) -> str | None:
    """A daemon's algorithm word in the neutral vocabulary; an unknown word is kept
    as it is (lower case), so that a comparison fails naming it."""
    if word is None:
        return None
    return table.get(word, table.get(word.upper(), word.lower()))


def same_id(a: str | None, b: str | None) -> bool:
    """Identities compare as addresses where both are addresses."""
    if a is None or b is None:
        return a == b
    try:
        return ipaddress.ip_address(a) == ipaddress.ip_address(b)
    except ValueError:
        return a == b
