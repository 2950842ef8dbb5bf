"""One module per daemon, one interface (lab.daemons.base.Daemon) for all."""

from __future__ import annotations

from lab.daemons.base import Daemon
from lab.daemons.libreswan import Libreswan
from lab.daemons.racoon import Racoon
from lab.daemons.strongswan import StrongSwan

DAEMONS: dict[str, type[Daemon]] = {cls.name: cls for cls in (Libreswan, Racoon, StrongSwan)}


def daemon_class(impl: str) -> type[Daemon]:
    return DAEMONS[impl]
