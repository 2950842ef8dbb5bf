"""What a run selects of the matrix (`MatrixSelection`, read from the --lab-* options
once) and the two-peer cells it makes: every combination of the chosen axes; the ones a
pair cannot do are skipped with the reason, never dropped (`runnable` leaves out only what
no build of a daemon could run)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lab.errors import UsageError
from lab.flavors import parse_flavor
from lab.matrix.axes import (
    AUTH_MODES,
    AUTH_PROPOSALS,
    DEFAULT_AUTH,
    DEFAULT_FAMILY,
    DEFAULT_TOPOLOGY,
    EXTRA_AUTH,
    EXTRA_AXES,
    EXTRA_PATHS,
    EXTRA_PROPOSALS,
    PATH_MODES,
    PATH_PROPOSALS,
    PATHS,
    PROPOSAL_SETS,
    VARIANT_PROPOSALS,
    PathCase,
    buildable,
    path_version,
)
from lab.matrix.capable import DEFAULT_FLAVORS, VARIANT_FLAVORS, never, same_daemon
from lab.matrix.cell import MatrixCell
from lab.peers import NETWORK_TOPOLOGIES
from lab.scenario.allowed import AUTHS, MODES
from lab.topology.table import FAMILIES, TOPOLOGIES


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
                for i, r in pairs if not same_daemon(i, r)
                for v in self.ike_versions if v == path_version(i, r)
                for m in self.modes if m in PATH_MODES and m in PATHS[n].modes
                for p in self.proposals if p in PATH_PROPOSALS]

    def all_pairs(self) -> tuple[tuple[str, str], ...]:
        """The pairs named (--lab-pairs), else every (initiator, responder) of the flavors."""
        return self.pairs or tuple((i, r) for i in self.flavors for r in self.flavors)

    def cells(self) -> list[MatrixCell]:
        pairs = self.all_pairs()
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
