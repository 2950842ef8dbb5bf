"""What the matrix asks of each flavor's daemon, and which flavors it pairs by default.
The answers are the daemons' own data (`Daemon.ike_versions`, `Daemon.never`,
`Daemon.lifecycle_unsupported`): no daemon is named in code here, only in the tables."""

from __future__ import annotations

from lab.daemons.base import Daemon
from lab.daemons.registry import daemon_class
from lab.flavors import parse_flavor
from lab.scenario.model import Scenario

#: the flavors of the default run
DEFAULT_FLAVORS = ("libreswan@bookworm", "libreswan@sid", "strongswan@bookworm",
                   "strongswan@sid", "racoon@0.8.2", "racoon@0.9.1")
#: variants of a flavor (another configuration of the same build) the default matrix pairs
#: with every default flavor, both orders, host-to-host IPv6, VARIANT_PROPOSALS
VARIANT_FLAVORS = ("racoon@privsep-0.9.1",)


def daemon_of(flavor: str) -> type[Daemon]:
    """The class of the flavor's daemon."""
    return daemon_class(parse_flavor(flavor, "flavor").impl)


def speaks(flavor: str, version: int) -> bool:
    """Whether the flavor's daemon speaks this IKE version at all: cells that no build of
    the daemon could run (IKEv2 with racoon) are not generated."""
    return version in daemon_of(flavor).ike_versions


def never(flavor: str, scenario: Scenario, side: str) -> str | None:
    """Why no build of the flavor's daemon could play ``side`` (`Daemon.never`), or None."""
    return daemon_of(flavor).never(scenario, side)


def lifecycle_can(flavor: str, scenario: Scenario, side: str) -> bool:
    """Whether the flavor's daemon can take part in the scenario's lifecycle event at all,
    whatever its build (`Daemon.lifecycle_unsupported`)."""
    return daemon_of(flavor).lifecycle_unsupported(
        scenario, side, parse_flavor(flavor, "flavor")) is None


def same_daemon(a: str, b: str) -> bool:
    """Whether two flavors are builds of one daemon (not an interop pair)."""
    return parse_flavor(a, "").impl == parse_flavor(b, "").impl
