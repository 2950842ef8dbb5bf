"""The road-warrior grid (``--lab-topologies=road-warrior``): every gateway flavor x
every pair of client flavors of different daemons (where only one daemon is chosen, its
flavors pair with each other), in each IKE version; then a certificate cell per gateway
flavor and IKE version (`cert_cells`). The ids read gateway first, then the two clients:
``strongswan_sid-libreswan_bookworm+strongswan_sid-ikev2-road-warrior`` (``-k`` picks a
gateway, a client or a daemon as in the two-peer matrix). The hub grid
(``--lab-topologies=hub``): `hub_cells`. The pytest parameters of either grid:
`grid_params`."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import pytest

from lab.algorithms import parse_proposals
from lab.errors import LabError, NegotiationError, UsageError, VerdictError
from lab.flavors import parse_flavor
from lab.matrix import MatrixSelection, flavor_id, speaks
from lab.peers import Connection, Network, Node
from lab.remote import cannot_serve, role_class

#: what every cell of the grids negotiates
GRID_IKE, GRID_ESP = "aes128-sha1-modp2048", "aes128-sha1"

#: the addresses of the grid's cells (IPv4 outside, the pool and the subnet IPv4 too)
GATEWAY = ("192.0.2.1", "10.1.0.0/24")
CLIENTS = ("198.51.100.2", "203.0.113.2")
#: a certificate cell's third client, whose certificate the gateway's CA did not sign
UNTRUSTED = "198.18.0.2"
POOL = "10.3.0.0/28"
#: what the grid measured between the daemons: (gateway flavor, client flavor, IKE version)
#: -> why such a cell fails (a strict expected failure: a pass says the finding is gone)
KNOWN: dict[tuple[str, str, int], str] = {
    ("libreswan@bookworm", "strongswan@bookworm", 1):
        "charon (5.9.8) cannot parse pluto 4.10's IKEv1 mode config reply to its request"
        " (\"length of CONFIGURATION_ATTRIBUTE_V1 substructure list invalid\", then"
        " PAYLOAD_MALFORMED; 2 of 2 cells, every run); pluto 5.2's reply it parses",
}


#: what the grid measured of a gateway daemon with certificates: (daemon, auth) -> why such
#: a cell's verdict fails (a strict expected failure, as KNOWN)
KNOWN_CERTS: dict[tuple[str, str], str] = {
    ("libreswan", "ecdsa"):
        "pluto (4.10 and 5.2) as a gateway of one conn for every client (right=%any,"
        " rightca=%same, no rightid) logs each ECDSA client as authenticated by its address"
        " (\"authenticated peer certificate '198.51.100.2'\"), not by the @c1.example.org it"
        " sent and its certificate names; with RSA the same conn names the identity sent"
        " (2 of 2 cells, every run)",
}


#: the path cases (lab.matrix.PATHS) a road-warrior cell takes: the second client behind a NAT
RW_PATHS = ("nat",)


def grid_id(gateway: str, members: tuple[str, str], ike_version: int, *words: str) -> str:
    """A grid cell's id: the gateway (or hub), its clients (or spokes) joined by ``+``,
    the IKE version, the topology and what else the cell varies."""
    return "-".join([flavor_id(gateway), "+".join(map(flavor_id, members)),
                     f"ikev{ike_version}", *words])


def known_in(table: dict[tuple[str, str, int], str], gateway: str, members: tuple[str, str],
             ike_version: int) -> str | None:
    """Why a grid cell is known to fail: the first entry of ``table`` (gateway, member,
    IKE version) that it matches, or None."""
    return next((why for (gw, member, v), why in table.items() if gw == gateway
                 and v == ike_version and member in members), None)


def grid_network(name: str, nodes: list[Node], connections: tuple[Connection, ...],
                 ike_version: int, **more: Any) -> Network:
    """A grid cell's network: its nodes and connections, GRID_IKE and GRID_ESP."""
    return Network(name=name, nodes=tuple(nodes), connections=connections,
                   ike_version=ike_version, **more,
                   ike=parse_proposals(GRID_IKE, "ike", needs_dh=True),
                   esp=parse_proposals(GRID_ESP, "esp", needs_dh=False))


@dataclass(frozen=True)
class RoadWarriorCell:
    gateway: str
    clients: tuple[str, str]
    ike_version: int = 2
    #: the second client behind a NAT (--lab-paths=nat)
    nat: bool = False
    #: psk (a PSK per client), or certificates (rsa, ecdsa): one gateway connection for
    #: every certified client, and a third client with an untrusted certificate refused
    auth: str = "psk"

    @property
    def id(self) -> str:
        return grid_id(self.gateway, self.clients, self.ike_version, "road-warrior",
                       *(["nat"] if self.nat else []), *([self.auth] if self.auth != "psk" else []))

    def known(self) -> str | None:
        """Why this cell is known to fail (KNOWN, KNOWN_CERTS), or None."""
        return KNOWN_CERTS.get((_impl(self.gateway), self.auth)) or known_in(
            KNOWN, self.gateway, self.clients, self.ike_version)

    def known_error(self) -> type[LabError]:
        """What a known failure raises: a negotiation that fails, or (certificates) a
        verdict that finds what was negotiated wrong."""
        return VerdictError if (_impl(self.gateway), self.auth) in KNOWN_CERTS \
            else NegotiationError

    def network(self) -> Network:
        """Gateway ``gw`` with subnet and host; clients ``c1`` and ``c2`` (identities
        @c1.example.org, ...), a PSK each; with certificates, a certificate each and a
        third client ``c3`` (the first client's flavor) whose certificate is untrusted."""
        certs = self.auth != "psk"
        nodes = [Node("gw", self.gateway, GATEWAY[0], subnet=GATEWAY[1], id="@gw.example.org")]
        nodes += [Node(f"c{i}", flavor, address, id=f"@c{i}.example.org", nat=self.nat and i == 2)
                  for i, (flavor, address) in enumerate(zip(self.clients, CLIENTS, strict=True), 1)]
        conns = [Connection(f"c{i}", "gw", psk=None if certs else f"secret of client {i}")
                 for i in range(1, len(self.clients) + 1)]
        if certs:
            nodes.append(Node("c3", self.clients[0], UNTRUSTED, id="@c3.example.org"))
            conns.append(Connection("c3", "gw", cert="untrusted"))
        return grid_network(self.id, nodes, tuple(conns), self.ike_version, pool=POOL,
                            auth=self.auth)


def _impl(flavor: str) -> str:
    return parse_flavor(flavor, "flavor").impl


def road_warrior_cells(selection: MatrixSelection) -> list[RoadWarriorCell]:
    """The grid over the selection's flavors and IKE versions; with --lab-paths=nat, the
    same grid with the second client behind a NAT instead."""
    paths = selection.paths or ()
    other = [p for p in paths if p not in RW_PATHS]
    if other:
        raise UsageError(f"--lab-paths: {other[0]!r} is not for topology road-warrior"
                         f" (allowed there: {', '.join(RW_PATHS)})")
    gateways = [f for f in selection.flavors if role_class(_impl(f), "gateway")]
    clients = [f for f in selection.flavors if role_class(_impl(f), "client")]
    pairs = [(a, b) for a, b in itertools.combinations(clients, 2) if _impl(a) != _impl(b)]
    if not pairs:  # one daemon chosen: its flavors with each other, or one flavor twice
        pairs = list(itertools.combinations(clients, 2)) or [(c, c) for c in clients]
    psk = selection.auths is None or "psk" in selection.auths
    cells = [RoadWarriorCell(g, pair, v, "nat" in paths) for v in selection.ike_versions
             for g in gateways for pair in pairs if psk
             and not any(cannot_serve(_impl(f), role, v) for f, role in (
                 (g, "gateway"), (pair[0], "client"), (pair[1], "client")))]
    return cells + ([] if "nat" in paths else cert_cells(selection, gateways, pairs))


#: the certificate cells the default road-warrior grid adds (a few: one per gateway
#: flavor and IKE version, the first client pair that can, a third client refused)
CERT_AUTHS = ("rsa",)
#: what the grid measured of a refused client: (gateway, refused client, IKE version), each
#: a flavor or a daemon -> why that client never hears the refusal (it names no failure:
#: the (r) check fails). The certificate cells put another client first (the refused
#: client has the first client's flavor)
DEAF: dict[tuple[str, str, int], str] = {
    ("racoon", "libreswan", 1):
        "racoon answers a certificate it does not verify (\"the peer's certificate is not"
        " verified\") with a message pluto 5.2 cannot parse (\"...-byte length of ISAKMP Hash"
        " Payload is larger than can fit\", \"malformed payload in packet\"): pluto"
        " retransmits and names no failure",
    ("strongswan@bookworm", "libreswan@bookworm", 1):
        "charon 5.9.8 answers the certificate of an unknown issuer with an encrypted"
        " N(AUTH_FAILED); pluto 4.10 cannot parse it (\"24175-byte length of ISAKMP Hash"
        " Payload is larger than can fit\", \"malformed payload in packet\") and retransmits",
    ("libreswan@sid", "libreswan@bookworm", 1):
        "pluto 5.2 answers the certificate of an unknown issuer with an encrypted"
        " INVALID_ID_INFORMATION; pluto 4.10 cannot parse it (\"...-byte length of ISAKMP"
        " Hash Payload is larger than can fit\") and retransmits",
}


def _is(flavor: str, key: str) -> bool:
    """Whether a table's key (a flavor or a daemon) names the flavor."""
    return key in (flavor, _impl(flavor))


def deaf(gateway: str, refused: str, v: int) -> str | None:
    """Why a client of flavor ``refused`` never hears the gateway's refusal (DEAF), or None."""
    return next((why for (g, r, ver), why in DEAF.items()
                 if ver == v and _is(gateway, g) and _is(refused, r)), None)


#: flavors without IKEv1 (Debian builds strongSwan 6.x without it): the certificate cells
#: in IKEv1 leave them out (a cell with them would skip, saying so)
NO_IKEV1 = ("strongswan@sid",)


def silent(flavor: str, v: int) -> bool:
    """Whether the flavor lacks IKE version ``v`` as built (NO_IKEV1)."""
    return v == 1 and flavor in NO_IKEV1


def cert_pairs(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The client pairs a certificate cell may take, in order: those of the PSK grid, then
    each the other way round (the first client's flavor is the refused one's), then two
    flavors of one daemon."""
    flavors = list(dict.fromkeys(f for p in pairs for f in p))
    same = [(a, b) for a, b in itertools.permutations(flavors, 2) if _impl(a) == _impl(b)]
    return list(dict.fromkeys([*pairs, *((b, a) for a, b in pairs), *same]))


def cert_cell(gateway: str, pairs: list[tuple[str, str]], v: int,
              auth: str) -> RoadWarriorCell | None:
    """The first cell of the gateway in IKE version ``v`` whose clients can (drivers,
    NO_IKEV1), are known to pass with it (KNOWN) and whose refused client hears the
    refusal (DEAF); None when no pair fits."""
    for pair in cert_pairs(pairs):
        if any(cannot_serve(_impl(f), role, v, auth) for f, role in (
                (gateway, "gateway"), (pair[0], "client"), (pair[1], "client"))):
            continue
        if any(silent(f, v) for f in (gateway, *pair)) or deaf(gateway, pair[0], v):
            continue
        if known_in(KNOWN, gateway, pair, v) is None:
            return RoadWarriorCell(gateway, pair, v, auth=auth)
    return None


def cert_cells(selection: MatrixSelection, gateways: list[str],
               pairs: list[tuple[str, str]]) -> list[RoadWarriorCell]:
    """Per certificate authentication (the default: CERT_AUTHS; else those --lab-auth
    names), IKE version and gateway flavor, one cell (`cert_cell`)."""
    auths = CERT_AUTHS if selection.auths is None else \
        tuple(a for a in selection.auths if a != "psk")
    cells = [cert_cell(g, pairs, v, auth) for auth in auths
             for v in sorted(selection.ike_versions, reverse=True) for g in gateways]
    return [c for c in cells if c is not None]


#: the hub grid's addresses: the hub's, then each spoke's (IPv4, subnets IPv4 too)
HUB = ("192.0.2.1", "10.1.0.0/24")
SPOKES = (("198.51.100.2", "10.2.0.0/24"), ("203.0.113.2", "10.4.0.0/24"))
#: what the hub grid measured between the daemons (as KNOWN): (hub, spoke, IKE version)
HUB_KNOWN: dict[tuple[str, str, int], str] = {}


@dataclass(frozen=True)
class HubCellSpec:
    """A hub flavor and two spoke flavors, in one IKE version (ids read hub, spokes), a PSK
    per spoke or (``auth``) a certificate per node."""

    hub: str
    spokes: tuple[str, str]
    ike_version: int = 2
    auth: str = "psk"

    @property
    def id(self) -> str:
        return grid_id(self.hub, self.spokes, self.ike_version, "hub",
                       *([self.auth] if self.auth != "psk" else []))

    def known(self) -> str | None:
        """Why this cell is known to fail (HUB_KNOWN), or None."""
        return known_in(HUB_KNOWN, self.hub, self.spokes, self.ike_version)

    def known_error(self) -> type[LabError]:
        """What a known failure raises: the negotiation fails."""
        return NegotiationError

    def network(self) -> Network:
        """Hub ``hub``, spokes ``s1`` and ``s2``, each with a subnet; a PSK per spoke, the
        identities the addresses (IKEv1 Main Mode finds the PSK by them); with
        certificates, each node's identity (@hub.example.org, @s1.example.org, ...) its
        certificate's."""
        certs = self.auth != "psk"

        def ident(name: str) -> str | None:
            return f"@{name}.example.org" if certs else None

        nodes = [Node("hub", self.hub, HUB[0], subnet=HUB[1], id=ident("hub"))]
        nodes += [Node(f"s{i}", flavor, address, subnet=subnet, id=ident(f"s{i}"))
                  for i, (flavor, (address, subnet))
                  in enumerate(zip(self.spokes, SPOKES, strict=True), 1)]
        conns = tuple(Connection(f"s{i}", "hub", psk=None if certs else f"secret of spoke {i}")
                      for i in (1, 2))
        return grid_network(self.id, nodes, conns, self.ike_version, topology="hub",
                            auth=self.auth)


def spoke_pairs(flavors: list[str]) -> list[tuple[str, str]]:
    """Every flavor as the first spoke once, the second the next flavor (in order, round
    the list) of another daemon (none: the next flavor); each pair once."""
    pairs: dict[frozenset[str], tuple[str, str]] = {}
    for i, first in enumerate(flavors):
        later = flavors[i + 1:] + flavors[:i + 1]
        second = next((f for f in later if _impl(f) != _impl(first)), later[0])
        pairs.setdefault(frozenset((first, second)), (first, second))
    return list(pairs.values())


def hub_cells(selection: MatrixSelection) -> list[HubCellSpec]:
    """Every hub flavor x spoke pairs (spoke_pairs: every flavor a spoke, beside one of
    another daemon), in each IKE version both the hub's and the spokes' drivers speak;
    then the certificate cells (`hub_cert_cells`)."""
    if selection.paths:
        raise UsageError(f"--lab-paths: {selection.paths[0]!r} is not for topology hub"
                         " (allowed there: none)")
    cells = []
    psk = selection.auths is None or "psk" in selection.auths
    for v in selection.ike_versions if psk else ():
        spokes = [f for f in selection.flavors if speaks(f, v)]
        hubs = [f for f in selection.flavors if role_class(_impl(f), "hub")
                and not cannot_serve(_impl(f), "hub", v)]
        cells += [HubCellSpec(h, pair, v) for h in hubs for pair in spoke_pairs(spokes)]
    return cells + hub_cert_cells(selection)


def hub_cert_cells(selection: MatrixSelection) -> list[HubCellSpec]:
    """Per certificate authentication (CERT_AUTHS, or those --lab-auth names) and hub
    daemon whose hub driver takes it: one cell in the newest IKE version of the selection
    it speaks, its first flavor as the hub, the first spoke pair of flavors that speak
    that version (NO_IKEV1) and are not known to fail with it (HUB_KNOWN)."""
    auths = CERT_AUTHS if selection.auths is None else \
        tuple(a for a in selection.auths if a != "psk")
    cells: dict[tuple[str, str], HubCellSpec] = {}
    for auth in auths:
        for v in sorted(selection.ike_versions, reverse=True):
            spokes = [f for f in selection.flavors if speaks(f, v) and not silent(f, v)]
            for hub in selection.flavors:
                if (auth, _impl(hub)) in cells or not role_class(_impl(hub), "hub") or \
                        cannot_serve(_impl(hub), "hub", v, auth) or silent(hub, v):
                    continue
                fit = [p for p in spoke_pairs(spokes) if not known_in(HUB_KNOWN, hub, p, v)]
                if fit:
                    cells[auth, _impl(hub)] = HubCellSpec(hub, fit[0], v, auth)
    return list(cells.values())


class GridCell(Protocol):
    """A cell of a grid: its id, its network, why it is known to fail."""

    @property
    def id(self) -> str: ...

    def known(self) -> str | None: ...

    def known_error(self) -> type[LabError]: ...

    def network(self) -> Network: ...


#: each topology of more than two peers: its grid over a selection
GRIDS: dict[str, Callable[[MatrixSelection], Sequence[GridCell]]] = {
    "road-warrior": road_warrior_cells, "hub": hub_cells}


def not_named(topology: str) -> str:
    """Why a run has no cell of a grid."""
    return (f"{topology} cells run by default, or when --lab-topologies names {topology} (this"
            " run's --lab-topologies, --lab-families or --lab-paths leave them out)")


def grid_params(opt: Any, topology: str) -> list[Any]:
    """The pytest parameters of a topology's grid under the run's --lab-* options
    (pytest's ``config.option``): a cell each, id its id, a strict expected failure where
    it is known to fail; where the options leave the grid out, one skipped parameter
    named as the topology. A bad option: pytest.UsageError."""
    try:
        selection = MatrixSelection.from_pytest(opt)
        if topology not in selection.networks:
            return [pytest.param(None, id=topology,
                                 marks=pytest.mark.skip(reason=not_named(topology)))]
        cells = GRIDS[topology](selection)
    except LabError as exc:
        raise pytest.UsageError(str(exc)) from None
    return [pytest.param(cell, id=cell.id, marks=[
        pytest.mark.xfail(strict=True, raises=cell.known_error(), reason=why)] if why else [])
        for cell in cells for why in [cell.known()]]
