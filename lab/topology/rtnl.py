"""rtnetlink sockets (pyroute2's IPRoute) opened inside a lab namespace.

pyroute2's package ``__init__`` imports all of pyroute2 (NDB, IPDB, conntrack, nl80211,
wireguard, plan9 ...) whatever one asks for: 0.7-0.8 s of a UML worker's first cell. The lab
needs IPRoute and NetlinkError, whose modules need only the package's path; so while they
are imported, ``pyroute2`` is a bare package (its spec, no ``__init__`` run). The bare one is
dropped afterwards, and a later ``import pyroute2`` anywhere gets the whole library, with
the same submodules: measured in a UML guest, 0.39-0.48 s against 0.68-0.77 s.
"""

from __future__ import annotations

import importlib.util
import sys

from lab.topology.netns import entered


def _import_lean() -> tuple[type, type]:
    if "pyroute2" in sys.modules:  # already whole (or someone else's): use it as it is
        from pyroute2.iproute.linux import IPRoute
        from pyroute2.netlink.exceptions import NetlinkError
        return IPRoute, NetlinkError
    spec = importlib.util.find_spec("pyroute2")
    if spec is None:
        raise ModuleNotFoundError("pyroute2 is not installed (pip install pyroute2)", name="pyroute2")
    sys.modules["pyroute2"] = importlib.util.module_from_spec(spec)
    try:
        from pyroute2.iproute.linux import IPRoute
        from pyroute2.netlink.exceptions import NetlinkError
    finally:
        del sys.modules["pyroute2"]
    return IPRoute, NetlinkError


IPRoute, NetlinkError = _import_lean()


def iproute_in(netns: str) -> IPRoute:
    """An rtnetlink socket opened inside ``netns`` (no helper process, unlike IPRoute(netns=))."""
    with entered(netns):
        return IPRoute()
