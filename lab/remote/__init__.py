"""Scenarios of more than two peers: road-warrior gateways and their clients, hubs and
their spokes, each daemon its own way.

Each supported daemon has a module here with its drivers, ``Gateway``, ``Client`` and
``Hub``, subclasses of its two-peer driver (lab.daemons) that render the role's files and
read what only a gateway is asked (its IKE SAs, one per peer). A spoke needs none: it is
the two-peer driver of its connection's initiating end (lab.remote.hub). `ROLES` is the
registry; `cannot_serve` says why a daemon has no driver for a role.
"""

from __future__ import annotations

from lab.remote import libreswan, racoon, strongswan
from lab.remote.base import RoleDriver

#: daemon implementation -> role -> driver class
ROLES: dict[str, dict[str, type[RoleDriver]]] = {
    "strongswan": {"gateway": strongswan.Gateway, "client": strongswan.Client,
                   "hub": strongswan.Hub},
    "libreswan": {"gateway": libreswan.Gateway, "client": libreswan.Client,
                  "hub": libreswan.Hub},
    "racoon": {"gateway": racoon.Gateway, "hub": racoon.Hub},
}
#: why a daemon has no road-warrior driver yet
NO_DRIVER: dict[str, str] = {
    "racoon": "racoon: no road-warrior client driver yet (its mode_cfg client hands the"
              " address to a script; the lab would install the address and policies itself)",
}


def role_class(impl: str, role: str) -> type[RoleDriver] | None:
    return ROLES.get(impl, {}).get(role)


def cannot_serve(impl: str, role: str, ike_version: int | None = None,
                 auth: str = "psk") -> str | None:
    """Why ``impl`` cannot play ``role`` (in that IKE version, with that authentication),
    or None. A spoke is the two-peer driver (its own `unsupported` says the rest)."""
    if role == "spoke":
        return None
    cls = role_class(impl, role)
    if cls is None:
        return (NO_DRIVER.get(impl) if role == "client" else None) or f"{impl}: no {role} driver"
    if ike_version is not None and ike_version not in cls.remote_access:
        return (f"{impl}: the road-warrior {role} driver speaks IKEv"
                + "/".join(map(str, cls.remote_access)) + f" only, not IKEv{ike_version}"
                " (IKEv1 mode config: not built yet)")
    if auth not in cls.auths:
        return f"{impl}: the {role} driver authenticates with {'/'.join(cls.auths)} only, not" \
               f" {auth} ({cls.no_certs})"
    return None
