"""The one table of daemons: each driver class by its name, and whether a scenario can run
here (its flavors' trees and binaries, what each daemon and the kernel can do)."""

from __future__ import annotations

from lab.daemons.base import Daemon
from lab.daemons.libreswan.driver import Libreswan
from lab.daemons.racoon.driver import Racoon
from lab.daemons.strongswan import StrongSwan
from lab.flavors import parse_flavor, tree_missing
from lab.scenario import SIDES, Scenario

DAEMONS: dict[str, type[Daemon]] = {cls.name: cls for cls in (Libreswan, Racoon, StrongSwan)}


def daemon_class(impl: str) -> type[Daemon]:
    return DAEMONS[impl]


def cannot_run(scenario: Scenario, tag: str, kernel: bool = True) -> str | None:
    """Why ``scenario`` cannot run here, or None: a flavor's tree or binaries are missing,
    or (``kernel``) its daemon or the running kernel cannot do what it asks. Ask with
    ``kernel`` only in the kernel that will hold the SAs (inside UML where the lab uses
    it): PF_KEY, for one, is a question about that kernel, not about the host's."""
    for side in SIDES:
        flavor = parse_flavor(scenario.peer(side).flavor, f"{side} flavor")
        cls = DAEMONS[flavor.impl]
        reason = tree_missing(flavor) or cls.missing(flavor)
        if reason is None and kernel:
            reason = cls.unsupported(scenario, side, flavor, tag)
        if reason:
            return f"{side}: {reason}"
    return None
