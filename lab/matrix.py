"""The interop matrix: initiator flavor x responder flavor x IKE version x mode x
proposal set, and the topology and address family. Every combination is generated;
the ones a pair cannot do are skipped with the reason, never dropped. Combinations
no lab can build are not cells: net-to-net runs in tunnel mode only, and mixed
families (4in6, 6in4) need the subnets of net-to-net.

By default the matrix is the whole host-to-host IPv6 grid plus `EXTRA_AXES` (IPv4,
net-to-net in every family) for the proposal sets in `EXTRA_PROPOSALS`, all with PSK,
plus certificate cells (`EXTRA_AUTH`: rsa and ecdsa in IKEv2, rsa in IKEv1, tunnel mode,
the `AUTH_PROPOSALS` set); naming topologies, families or authentications on the command
line gives their whole grid instead."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from lab.algorithms import parse_proposal
from lab.daemons.registry import daemon_class
from lab.errors import UsageError
from lab.flavors import parse_flavor, sources_of
from lab.peers import NETWORK_TOPOLOGIES
from lab.scenario.allowed import AUTHS, MODES, other_side
from lab.scenario.model import Scenario
from lab.scenario.peer import Peer
from lab.topology.path import PathSpec
from lab.topology.table import FAMILIES, TOPOLOGIES

DEFAULT_FLAVORS = ("libreswan@bookworm", "libreswan@sid", "strongswan@bookworm",
                   "strongswan@sid", "racoon@0.8.2", "racoon@0.9.1")


def speaks(flavor: str, version: int) -> bool:
    """Whether the flavor's daemon speaks this IKE version at all: cells that no build of
    the daemon could run (IKEv2 with racoon) are not generated."""
    return version in daemon_class(parse_flavor(flavor, "flavor").impl).ike_versions


def never(flavor: str, scenario: Scenario, side: str) -> str | None:
    """Why no build of the flavor's daemon could play ``side`` (`Daemon.never`), or None."""
    return daemon_class(parse_flavor(flavor, "flavor").impl).never(scenario, side)


def flavor_id(flavor: str) -> str:
    """A flavor as a test-id word that pytest's -k accepts: ``libreswan@sid`` ->
    ``libreswan_sid``, ``racoon`` -> ``racoon_system``, ``strongswan@/opt/my-build`` ->
    ``strongswan_opt_my_build``. Letters, digits and ``_`` only, never ``-``: in ids
    ``-`` separates the parts."""
    impl, _, source = flavor.partition("@")
    words = re.findall(r"[A-Za-z0-9]+", source or "system")
    return "_".join([impl, *words])


def flavor_from_id(word: str) -> str:
    """The flavor name back from `flavor_id` (a path comes back as its words)."""
    impl, _, source = word.partition("_")
    named = next((f"{impl}@{s}" for s in sources_of(impl) if flavor_id(f"{impl}@{s}") == word),
                 None)
    if named:
        return named
    return impl if source in ("", "system") else f"{impl}@{source}"


def pair_id(initiator: str, responder: str) -> str:
    """``libreswan_sid-strongswan_bookworm``: initiator first."""
    return f"{flavor_id(initiator)}-{flavor_id(responder)}"


def cell_id(initiator: str, responder: str, *rest: str) -> str:
    """A whole test id: the pair, then the other parts, all joined by ``-``; e.g.
    ``libreswan_sid-strongswan_bookworm-ikev2-tunnel-aes128gcm16``. Any flavor or pair
    can then be picked with ``pytest -k libreswan_sid`` or ``-k 'libreswan_sid-racoon'``."""
    return "-".join([pair_id(initiator, responder), *rest])


DEFAULT_TOPOLOGY, DEFAULT_FAMILY = "host-to-host", "ipv6"
#: (topology, family) pairs the default matrix adds to the host-to-host IPv6 grid ...
EXTRA_AXES = (("host-to-host", "ipv4"), ("net-to-net", "ipv6"), ("net-to-net", "ipv4"),
              ("net-to-net", "4in6"), ("net-to-net", "6in4"))
#: ... for these proposal sets only (the axes test addressing, not algorithms)
EXTRA_PROPOSALS = ("aes128-sha1",)
DEFAULT_AUTH = "psk"
#: (auth, IKE version) certificate cells the default matrix adds, host-to-host IPv6 ...
EXTRA_AUTH = (("rsa", 2), ("ecdsa", 2), ("rsa", 1))
#: ... in this mode and for these proposal sets only (they test authentication)
AUTH_MODES = ("tunnel",)
AUTH_PROPOSALS = ("aes256-sha256",)
#: variants of a flavor (another configuration of the same build) the default matrix pairs
#: with every default flavor, both orders, host-to-host IPv6, VARIANT_PROPOSALS
VARIANT_FLAVORS = ("racoon@privsep-0.9.1",)
VARIANT_PROPOSALS = ("aes128-sha1",)



@dataclass(frozen=True)
class PathCase:
    """A named condition of the path between the peers (topology routed); some need a
    family, mode or authentication of their own (NAT: IPv4 tunnel; MTU: certificates)."""

    name: str
    summary: str
    path: PathSpec = field(default_factory=PathSpec)
    family: str = DEFAULT_FAMILY
    modes: tuple[str, ...] = MODES
    auth: str | None = None  # None: the cell's own
    fragmentation: str = "default"
    encapsulation: str = "auto"
    expect: str = "established"


#: the path axis (--lab-paths): name -> case
PATHS: dict[str, PathCase] = {c.name: c for c in (
    PathCase("loss20", "20% of the packets lost, each direction", PathSpec(loss=20)),
    PathCase("delay100", "100 ms +- 50 ms delay, 25% reordered, each direction",
             PathSpec(delay=100, jitter=50, reorder=25)),
    PathCase("dup10", "10% of the packets duplicated", PathSpec(duplicate=10)),
    PathCase("rate256", "256 kbit/s each direction", PathSpec(rate=256)),
    PathCase("drop1", "the initiator's first IKE packet dropped", PathSpec(drop_ike=1)),
    PathCase("drop1resp", "the responder's first IKE packet dropped",
             PathSpec(drop_ike=1, drop_from="responder")),
    PathCase("mtu1280", "link MTU 1280, certificates, IKE fragmentation on",
             PathSpec(mtu=1280), auth="rsa", fragmentation="on"),
    PathCase("mtu1280nofrag", "link MTU 1280, certificates, IKE fragmentation off",
             PathSpec(mtu=1280), auth="rsa", fragmentation="off"),
    PathCase("mtu1280fragdrop", "link MTU 1280, certificates, IKE fragmentation off, the router"
             " drops IP fragments: IKE_AUTH cannot arrive", PathSpec(mtu=1280, drop_fragments=True),
             auth="rsa", fragmentation="off", expect="timeout"),
    PathCase("nat", "the initiator behind a NAT (IPv4): ESP in UDP 4500",
             PathSpec(nat=True), family="ipv4", modes=("tunnel",)),
    PathCase("encap", "ESP in UDP forced without NAT (IPv4)", family="ipv4",
             encapsulation="force"),
)}
DEFAULT_PATH = "none"
#: the path cells of the default matrix: these paths, IKEv2 tunnel mode, PATH_PROPOSALS,
#: between flavors of different implementations (the interop question)
EXTRA_PATHS = ("drop1", "nat")
PATH_PROPOSALS = ("aes128-sha1",)
PATH_MODES = ("tunnel",)
PATH_IKE = (2,)


def path_version(initiator: str, responder: str) -> int | None:
    """The IKE version of a pair's default path cells: the newest of PATH_IKE both daemons
    speak, else the newest they share (IKEv1 with racoon)."""
    shared = [v for v in (2, 1) if speaks(initiator, v) and speaks(responder, v)]
    return next((v for v in shared if v in PATH_IKE), shared[0] if shared else None)


#: What `cell_id` makes of a matrix cell, for readers of test reports (ci/report.py); the
#: topology and the family follow only where they are not host-to-host and ipv6.
def _alternatives(names: object) -> str:
    """A regex alternation, the longest first (net-to-net-routed before net-to-net)."""
    return "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))  # type: ignore[call-overload]


CELL_ID = re.compile(
    r"(?P<i>\w+)-(?P<r>\w+)-ikev(?P<v>\d)-(?P<m>transport|tunnel)-(?P<p>.+?)"
    rf"(?:-(?P<t>{_alternatives(t for t in TOPOLOGIES if t != DEFAULT_TOPOLOGY)}))?"
    rf"(?:-(?P<f>{_alternatives(f for f in FAMILIES if f != DEFAULT_FAMILY)}))?"
    rf"(?:-(?P<a>{_alternatives(a for a in AUTHS if a != DEFAULT_AUTH)}))?"
    rf"(?:-(?P<path>{_alternatives(PATHS)}))?")


def buildable(topology: str, family: str, mode: str) -> bool:
    """Whether the lab can build this combination at all (not: whether a pair can)."""
    if TOPOLOGIES[topology].subnet_sides:
        return mode == "tunnel" and (TOPOLOGIES[topology].subnets or not FAMILIES[family].mixed)
    return not FAMILIES[family].mixed  # without subnets there is no inner family


@dataclass(frozen=True)
class ProposalSet:
    name: str
    ike: dict[int, str]  # IKE version -> IKE proposal
    esp: str

    def for_version(self, version: int) -> str | None:
        return self.ike.get(version)


PROPOSAL_SETS: dict[str, ProposalSet] = {p.name: p for p in (
    ProposalSet("aes128-sha1", {1: "aes128-sha1-modp2048", 2: "aes128-sha1-modp2048"},
                "aes128-sha1"),
    ProposalSet("aes256-sha256", {1: "aes256-sha256-modp2048", 2: "aes256-sha256-modp2048"},
                "aes256-sha256"),
    # IKEv1 has no AEAD for IKE itself: its IKE SA uses CBC, the Child SA GCM.
    ProposalSet("aes128gcm16", {1: "aes128-sha256-modp2048", 2: "aes128gcm16-sha256-modp2048"},
                "aes128gcm16"),
    ProposalSet("3des-md5", {1: "3des-md5-modp2048"}, "3des-md5"),
)}


@dataclass(frozen=True)
class MatrixCell:
    initiator: str
    responder: str
    ike_version: int
    mode: str
    proposals: str
    topology: str = DEFAULT_TOPOLOGY
    family: str = DEFAULT_FAMILY
    auth: str = DEFAULT_AUTH
    path: str = DEFAULT_PATH

    @property
    def id(self) -> str:
        extra = [w for w, default in ((self.topology, DEFAULT_TOPOLOGY),
                                      (self.family, DEFAULT_FAMILY),
                                      (self.auth, DEFAULT_AUTH),
                                      (self.path, DEFAULT_PATH)) if w != default]
        return cell_id(self.initiator, self.responder, f"ikev{self.ike_version}", self.mode,
                       self.proposals, *extra)

    def not_generated_reason(self) -> str | None:
        pset = PROPOSAL_SETS[self.proposals]
        if pset.for_version(self.ike_version) is None:
            versions = ", ".join(f"IKEv{v}" for v in pset.ike)
            return f"proposal set {self.proposals} is defined for {versions} only"
        return None

    def scenario(self) -> Scenario:
        pset = PROPOSAL_SETS[self.proposals]
        ike = pset.for_version(self.ike_version) or next(iter(pset.ike.values()))
        plan, sides = FAMILIES[self.family], TOPOLOGIES[self.topology].subnet_sides
        left, right = (Peer(address, flavor, prefixlen, subnet=net if side in sides else None)
                       for (address, prefixlen), flavor, net, side in zip(
                           plan.outer, (self.initiator, self.responder), plan.subnets,
                           ("left", "right"), strict=True))
        case = PATHS.get(self.path)
        return Scenario(
            name=self.id, left=left, right=right, topology=self.topology,
            ike_version=self.ike_version, mode=self.mode, auth=self.auth,
            ike=parse_proposal(ike, f"proposal set {self.proposals}: ike", needs_dh=True),
            esp=parse_proposal(pset.esp, f"proposal set {self.proposals}: esp", needs_dh=False),
            **({"path": case.path, "fragmentation": case.fragmentation,
                "encapsulation": case.encapsulation, "expect": case.expect} if case else {}),
        )


def split_list(text: str | None, option: str, allowed: tuple[str, ...] | None,
               default: tuple[str, ...]) -> tuple[str, ...]:
    if not text:
        return default
    items = tuple(x.strip() for x in text.split(",") if x.strip())
    if not items:
        raise UsageError(f"{option}: {text!r} names nothing (allowed: a comma-separated list"
                         + (f" of {', '.join(allowed)})" if allowed else ")"))
    for item in items:
        if allowed is not None and item not in allowed:
            raise UsageError(f"{option}: {item!r} is not allowed (allowed: {', '.join(allowed)})")
    return items


@dataclass(frozen=True)
class MatrixSelection:
    flavors: tuple[str, ...] = DEFAULT_FLAVORS
    ike_versions: tuple[int, ...] = (1, 2)
    modes: tuple[str, ...] = MODES
    proposals: tuple[str, ...] = tuple(PROPOSAL_SETS)
    pairs: tuple[tuple[str, str], ...] = ()  # empty: every pair of flavors
    #: the (topology, family) pairs of the whole grid; None: host-to-host IPv6, plus
    #: EXTRA_AXES for EXTRA_PROPOSALS
    axes: tuple[tuple[str, str], ...] | None = None
    #: authentications over the whole grid; None: PSK, plus EXTRA_AUTH
    auths: tuple[str, ...] | None = None
    #: path cases (PATHS) over the whole grid, and nothing else; None: EXTRA_PATHS
    paths: tuple[str, ...] | None = None
    #: topologies of more than two peers (lab.peers; their cells: lab.remote.matrix); the
    #: default run (no --lab-topologies, no --lab-families) has every one of them
    networks: tuple[str, ...] = ()

    @classmethod
    def from_options(cls, flavors: str | None, ike: str | None, modes: str | None,
                     proposals: str | None, pairs: str | None = None,
                     prefix: str = "--lab-", topologies: str | None = None,
                     families: str | None = None, auth: str | None = None,
                     paths: str | None = None) -> MatrixSelection:
        chosen = split_list(flavors, f"{prefix}flavors", None, DEFAULT_FLAVORS)
        for name in chosen:
            parse_flavor(name, f"{prefix}flavors")  # raises with the allowed values
        versions = split_list(ike, f"{prefix}ike", ("1", "2", "v1", "v2", "ikev1", "ikev2"),
                              ("1", "2"))
        chosen_pairs = []
        for pair in split_list(pairs, f"{prefix}pairs", None, ()):
            initiator, sep, responder = pair.partition("->")
            if not sep:
                raise UsageError(f"{prefix}pairs: {pair!r} is not INITIATOR->RESPONDER")
            for name in (initiator, responder):
                parse_flavor(name, f"{prefix}pairs")
            chosen_pairs.append((initiator, responder))
        if chosen_pairs and not flavors:
            chosen = tuple(dict.fromkeys(f for pair in chosen_pairs for f in pair))
        # the default run has every topology of more than two peers; a run of --lab-paths
        # has those named (the hub takes no path)
        axes, networks = None, (NETWORK_TOPOLOGIES if not paths else ())
        if topologies or families:
            tops = split_list(topologies, f"{prefix}topologies",
                              tuple(TOPOLOGIES) + NETWORK_TOPOLOGIES, (DEFAULT_TOPOLOGY,))
            networks = tuple(t for t in tops if t in NETWORK_TOPOLOGIES)
            fams = split_list(families, f"{prefix}families", tuple(FAMILIES), (DEFAULT_FAMILY,))
            axes = tuple((t, f) for t in tops for f in fams if t not in networks)
        return cls(chosen, tuple(sorted({int(v[-1]) for v in versions})),
                   split_list(modes, f"{prefix}modes", MODES, MODES),
                   split_list(proposals, f"{prefix}proposals", tuple(PROPOSAL_SETS),
                              tuple(PROPOSAL_SETS)), tuple(chosen_pairs), axes,
                   split_list(auth, f"{prefix}auth", AUTHS, ()) or None,
                   split_list(paths, f"{prefix}paths", tuple(PATHS), ()) or None, networks)

    @classmethod
    def from_pytest(cls, opt: Any) -> MatrixSelection:
        """The selection the run's --lab-* options make (pytest's ``config.option``)."""
        return cls.from_options(opt.lab_flavors, opt.lab_ike, opt.lab_modes, opt.lab_proposals,
                                opt.lab_pairs, topologies=opt.lab_topologies,
                                families=opt.lab_families, auth=opt.lab_auth,
                                paths=opt.lab_paths)

    def path_cell(self, case: PathCase, i: str, r: str, v: int, m: str, p: str,
                  a: str, topology: str = "routed") -> MatrixCell:
        return MatrixCell(i, r, v, m, p, topology, case.family, case.auth or a, case.name)

    def router_topologies(self) -> tuple[str, ...]:
        """The topologies named (--lab-topologies) that have a router between the peers;
        routed when none is named (none when only topologies of more than two peers are:
        their cells take the path themselves, lab.remote.matrix)."""
        named = tuple(dict.fromkeys(t for t, _ in self.axes or ()))
        only_networks = self.axes is not None and not named and bool(self.networks)
        return tuple(t for t in named if TOPOLOGIES[t].has_router) or (
            () if only_networks else ("routed",))

    def path_cells(self, pairs: tuple[tuple[str, str], ...]) -> list[MatrixCell]:
        """--lab-paths: the named cases over the whole grid (and each topology with a router
        that --lab-topologies names); else EXTRA_PATHS, IKEv2 tunnel, PATH_PROPOSALS,
        between different implementations."""
        if self.paths is not None:
            return [self.path_cell(PATHS[n], i, r, v, m, p, a, t) for n in self.paths
                    for t in self.router_topologies()
                    for i, r in pairs for v in self.ike_versions for m in self.modes
                    if m in PATHS[n].modes and buildable(t, PATHS[n].family, m)
                    for p in self.proposals for a in self.auths or (DEFAULT_AUTH,)]
        return [self.path_cell(PATHS[n], i, r, v, m, p, DEFAULT_AUTH) for n in EXTRA_PATHS
                for i, r in pairs if parse_flavor(i, "").impl != parse_flavor(r, "").impl
                for v in self.ike_versions if v == path_version(i, r)
                for m in self.modes if m in PATH_MODES and m in PATHS[n].modes
                for p in self.proposals if p in PATH_PROPOSALS]

    def cells(self) -> list[MatrixCell]:
        pairs = self.pairs or tuple((i, r) for i in self.flavors for r in self.flavors)
        if self.paths is not None:
            return self.runnable(self.path_cells(pairs))
        if self.axes is not None:
            blocks = [(self.axes, self.proposals)]
        else:
            blocks = [(((DEFAULT_TOPOLOGY, DEFAULT_FAMILY),), self.proposals),
                      (EXTRA_AXES, tuple(p for p in self.proposals if p in EXTRA_PROPOSALS))]
        cells = [MatrixCell(i, r, v, m, p, t, f, a) for axes, proposals in blocks
                 for t, f in axes for i, r in pairs for v in self.ike_versions
                 for m in self.modes if buildable(t, f, m) for p in proposals
                 for a in self.auths or (DEFAULT_AUTH,)]
        if self.auths is None and self.axes is None:
            cells += [MatrixCell(i, r, v, m, p, DEFAULT_TOPOLOGY, DEFAULT_FAMILY, a)
                      for a, v in EXTRA_AUTH if v in self.ike_versions for i, r in pairs
                      for m in self.modes if m in AUTH_MODES
                      for p in self.proposals if p in AUTH_PROPOSALS]
        if self.axes is None and self.auths is None:
            cells += self.path_cells(pairs)
            cells += self.variant_cells()
        return self.runnable(cells)

    def variant_cells(self) -> list[MatrixCell]:
        """The default matrix's cells of VARIANT_FLAVORS (not when flavors or pairs are
        chosen: naming a variant in --lab-flavors gives its whole grid)."""
        if self.pairs or self.flavors != DEFAULT_FLAVORS:
            return []
        pairs = [(v, f) for v in VARIANT_FLAVORS for f in (*self.flavors, v)]
        pairs += [(f, v) for v in VARIANT_FLAVORS for f in self.flavors]
        return [MatrixCell(i, r, v, m, p) for i, r in pairs for v in self.ike_versions
                for m in self.modes for p in self.proposals if p in VARIANT_PROPOSALS]

    @staticmethod
    def runnable(cells: list[MatrixCell]) -> list[MatrixCell]:
        """Only the cells both daemons could run with some build (`never`)."""
        out = []
        for cell in cells:
            if cell.not_generated_reason():  # e.g. 3des-md5 has no IKEv2 proposal
                continue
            s = cell.scenario()
            if not never(cell.initiator, s, "left") and not never(cell.responder, s, "right"):
                out.append(cell)
        return out


# -- lifecycle cells (lab.lifecycle): what happens after the first SA ------------------------

#: each lifecycle event's variants: (id suffix, who acts, what starts a rekey)
LIFECYCLE_VARIANTS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "rekey-child": (("command-initiator", "initiator", "command"),
                    ("command-responder", "responder", "command"),
                    ("lifetime-initiator", "initiator", "lifetime"),
                    ("lifetime-responder", "responder", "lifetime")),
    "rekey-ike": (("command-initiator", "initiator", "command"),
                  ("command-responder", "responder", "command"),
                  ("lifetime-initiator", "initiator", "lifetime"),
                  ("lifetime-responder", "responder", "lifetime")),
    "restart": (("initiator", "initiator", "command"), ("responder", "responder", "command")),
    # the actor's daemon stops (SIGSTOP), or ("link-") the actor's link goes down
    "dpd": (("initiator", "initiator", "command"), ("responder", "responder", "command"),
            ("link-initiator", "initiator", "command"), ("link-responder", "responder", "command")),
    "delete": (("", "initiator", "command"),),
    "simultaneous": (("", "initiator", "command"),),
    "responder-initiates": (("", "responder", "command"),),
}
LIFECYCLE_EVENTS = tuple(LIFECYCLE_VARIANTS)
#: what `LifecycleCell.id` makes of a lifecycle cell, for ci/report.py
LIFECYCLE_ID = re.compile(
    rf"(?P<i>\w+)-(?P<r>\w+)-ikev(?P<v>\d)-(?P<e>{_alternatives(LIFECYCLE_EVENTS)})"
    r"(?:-(?P<x>[\w-]+))?")
#: real-time lifetimes of the rekey-by-lifetime cells: the acting side's, the other side's
#: (longer, so that the acting side rekeys first), and the margin (no fuzz)
SHORT_LIFE, LONG_LIFE, SHORT_MARGIN = 12, 40, 4
#: DPD of the dpd cells: seconds between checks, seconds until the peer counts as dead
DPD_DELAY, DPD_TIMEOUT = 2, 6
#: the default lifecycle set (without --lab-lifecycle): (initiator, responder, IKE version,
#: event, variant); Libreswan and strongSwan of both releases, each order once
DEFAULT_LIFECYCLE_PAIRS = (("libreswan@bookworm", "strongswan@sid"),
                           ("strongswan@bookworm", "libreswan@sid"))
DEFAULT_LIFECYCLE_VARIANTS = (("rekey-child", "command-initiator"),
                              ("rekey-child", "lifetime-responder"),
                              ("rekey-ike", "command-responder"), ("restart", "initiator"),
                              ("dpd", "responder"), ("dpd", "link-initiator"), ("delete", ""),
                              ("simultaneous", ""),
                              ("responder-initiates", ""))

#: racoon (IKEv1 only), each release against another daemon, each order once: DPD either
#: way, a phase-2 rekey by either side's lifetime, delete
DEFAULT_RACOON_PAIRS = (("racoon@0.8.2", "libreswan@bookworm"),
                        ("strongswan@bookworm", "racoon@0.8.2"),
                        ("racoon@0.9.1", "strongswan@bookworm"), ("libreswan@sid", "racoon@0.9.1"))
DEFAULT_RACOON_VARIANTS = (("dpd", "initiator"), ("dpd", "responder"),
                           ("rekey-child", "lifetime-initiator"),
                           ("rekey-child", "lifetime-responder"), ("delete", ""))


@dataclass(frozen=True)
class LifecycleCell:
    initiator: str
    responder: str
    ike_version: int
    event: str
    variant: str = ""
    #: lifetimes in seconds for the rekey-by-lifetime cells of a time-travel kernel
    #: (None: SHORT_LIFE, which runs in real time)
    long_life: int | None = None

    @property
    def actor(self) -> str:
        return next(a for v, a, _ in LIFECYCLE_VARIANTS[self.event] if v == self.variant)

    @property
    def rekey_by(self) -> str:
        return next(b for v, _, b in LIFECYCLE_VARIANTS[self.event] if v == self.variant)

    @property
    def id(self) -> str:
        words = [f"ikev{self.ike_version}", self.event] + ([self.variant] if self.variant else [])
        if self.long_life:
            words.append(f"{self.long_life}s")
        return cell_id(self.initiator, self.responder, *words)

    def daemons_can(self) -> bool:
        """Whether both daemons can take part in the event at all, whatever their build
        (the default set has no cell that must skip)."""
        s = self.scenario()
        return all(daemon_class(parse_flavor(f, "flavor").impl).lifecycle_unsupported(
            s, side, parse_flavor(f, "flavor")) is None
            for side, f in (("left", self.initiator), ("right", self.responder)))

    def scenario(self) -> Scenario:
        """Host-to-host IPv6, transport mode, aes128-sha1 with modp2048 (what every daemon
        speaks, racoon included), the event's lifetimes and DPD."""
        pset = PROPOSAL_SETS["aes128-sha1"]
        plan = FAMILIES[DEFAULT_FAMILY]
        extra: dict[str, object] = {}
        peers = {"left": {}, "right": {}}  # type: dict[str, dict[str, int]]
        if self.rekey_by == "lifetime":
            short = self.long_life or SHORT_LIFE
            key = "child_lifetime" if self.event == "rekey-child" else "ike_lifetime"
            actor_side = "left" if self.actor == "initiator" else "right"
            peers[actor_side][key] = short
            peers[other_side(actor_side)][key] = short * LONG_LIFE // SHORT_LIFE
            margin = short // 3
            extra.update(rekey_margin=margin, rekey_fuzz=0)
            if key == "ike_lifetime":  # the Child SA outlives the cell
                extra["child_lifetime"] = 4 * short
            else:
                extra["ike_lifetime"] = 4 * short
        if self.event == "dpd":
            extra.update(dpd_delay=DPD_DELAY, dpd_timeout=DPD_TIMEOUT,
                         vanish="link" if self.variant.startswith("link-") else "stop")
        if self.event == "restart":  # a restarted responder: the initiator's DPD brings it back
            extra.update(dpd_delay=DPD_DELAY, dpd_timeout=DPD_TIMEOUT, dpd_action="restart")
        left, right = (Peer(address, flavor, prefixlen, **peers[side])
                       for (address, prefixlen), flavor, side in zip(
                           plan.outer, (self.initiator, self.responder), ("left", "right"),
                           strict=True))
        return Scenario(
            name=self.id, left=left, right=right, ike_version=self.ike_version,
            mode="transport", lifecycle=self.event, actor=self.actor, rekey_by=self.rekey_by,
            ike=parse_proposal(pset.ike[self.ike_version], "lifecycle ike", needs_dh=True),
            esp=parse_proposal(pset.esp, "lifecycle esp", needs_dh=False), **extra)  # type: ignore[arg-type]


def lifecycle_cells(selection: MatrixSelection, events: str | None,
                    prefix: str = "--lab-") -> list[LifecycleCell]:
    """``--lab-lifecycle=LIST``: the whole grid of those events (every variant) over the
    selection's pairs and IKE versions; without it, the small default set."""
    chosen = split_list(events, f"{prefix}lifecycle", LIFECYCLE_EVENTS, ())
    pairs = selection.pairs or tuple((i, r) for i in selection.flavors for r in selection.flavors)
    if not chosen:
        cells = [LifecycleCell(i, r, version, e, v)
                 for version, pair_set, variants in ((2, DEFAULT_LIFECYCLE_PAIRS,
                                                      DEFAULT_LIFECYCLE_VARIANTS),
                                                     (1, DEFAULT_RACOON_PAIRS,
                                                      DEFAULT_RACOON_VARIANTS))
                 for i, r in pair_set if (i, r) in pairs or not selection.pairs
                 for e, v in variants]
        return [c for c in cells if c.daemons_can()]
    return [LifecycleCell(i, r, ike, e, v) for i, r in pairs for ike in selection.ike_versions
            if speaks(i, ike) and speaks(r, ike)
            for e in chosen for v, _, _ in LIFECYCLE_VARIANTS[e]]
