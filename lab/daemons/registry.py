"""The one table of daemons: each driver class by its name, and whether a scenario can run
here (its flavors' trees and binaries, what each daemon and the kernel can do).

The daemons that exist are lab.flavors.IMPLEMENTATIONS (the names a flavor may start
with, below this layer); DAEMONS is a driver for each of those names (no more, no fewer),
and the lab refuses to import when a name has no driver or a driver no name there."""

from __future__ import annotations

from lab.daemons.base import Daemon
from lab.daemons.libreswan.driver import Libreswan
from lab.daemons.racoon.driver import Racoon
from lab.daemons.strongswan.driver import StrongSwan
from lab.flavors import IMPLEMENTATIONS, parse_flavor, tree_missing
from lab.scenario import SIDES, Scenario


def registry(drivers: tuple[type[Daemon], ...], names: tuple[str, ...]) -> dict[str, type[Daemon]]:
    """{name: driver}, in the drivers' order; a TypeError when the drivers' names and
    ``names`` are not the same set, one driver a name."""
    by_name = {cls.name: cls for cls in drivers}
    if sorted(by_name) != sorted(names) or len(by_name) != len(drivers):
        raise TypeError(f"daemon drivers {sorted(by_name)} and lab.flavors.IMPLEMENTATIONS"
                        f" {list(names)} differ: each implementation needs one driver")
    return by_name


DAEMONS: dict[str, type[Daemon]] = registry((Libreswan, Racoon, StrongSwan), IMPLEMENTATIONS)


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
