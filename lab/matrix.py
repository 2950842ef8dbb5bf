"""The interop matrix: initiator flavor x responder flavor x IKE version x mode x
proposal set. Every combination is generated; the ones a pair cannot do are
skipped with the reason, never dropped."""

from __future__ import annotations

import re
from dataclasses import dataclass

from lab.algorithms import parse_proposal
from lab.errors import UsageError
from lab.flavors import parse_flavor
from lab.scenario import MODES, Peer, Scenario

DEFAULT_FLAVORS = ("libreswan@bookworm", "libreswan@sid", "strongswan@bookworm",
                   "strongswan@sid", "racoon")


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
    return impl if source in ("", "system") else f"{impl}@{source}"


def pair_id(initiator: str, responder: str) -> str:
    """``libreswan_sid-strongswan_bookworm``: initiator first."""
    return f"{flavor_id(initiator)}-{flavor_id(responder)}"


def cell_id(initiator: str, responder: str, *rest: str) -> str:
    """A whole test id: the pair, then the other parts, all joined by ``-``; e.g.
    ``libreswan_sid-strongswan_bookworm-ikev2-tunnel-aes128gcm16``. Any flavor or pair
    can then be picked with ``pytest -k libreswan_sid`` or ``-k 'libreswan_sid-racoon'``."""
    return "-".join([pair_id(initiator, responder), *rest])


#: What `cell_id` makes of a matrix cell, for readers of test reports (ci/report.py).
CELL_ID = re.compile(r"(?P<i>\w+)-(?P<r>\w+)-ikev(?P<v>\d)-(?P<m>transport|tunnel)-(?P<p>.+)")


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

    @property
    def id(self) -> str:
        return cell_id(self.initiator, self.responder, f"ikev{self.ike_version}", self.mode,
                       self.proposals)

    def not_generated_reason(self) -> str | None:
        pset = PROPOSAL_SETS[self.proposals]
        if pset.for_version(self.ike_version) is None:
            versions = ", ".join(f"IKEv{v}" for v in pset.ike)
            return f"proposal set {self.proposals} is defined for {versions} only"
        return None

    def scenario(self) -> Scenario:
        pset = PROPOSAL_SETS[self.proposals]
        ike = pset.for_version(self.ike_version) or next(iter(pset.ike.values()))
        return Scenario(
            name=self.id,
            left=Peer("2001:db8:1:1::1", self.initiator),
            right=Peer("2001:db8:2:2::2", self.responder),
            ike_version=self.ike_version, mode=self.mode,
            ike=parse_proposal(ike, f"proposal set {self.proposals}: ike", needs_dh=True),
            esp=parse_proposal(pset.esp, f"proposal set {self.proposals}: esp", needs_dh=False),
        )


def split_list(text: str | None, option: str, allowed: tuple[str, ...] | None,
               default: tuple[str, ...]) -> tuple[str, ...]:
    if not text:
        return default
    items = tuple(x.strip() for x in text.split(",") if x.strip())
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

    @classmethod
    def from_options(cls, flavors: str | None, ike: str | None, modes: str | None,
                     proposals: str | None, pairs: str | None = None,
                     prefix: str = "--lab-") -> MatrixSelection:
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
        return cls(chosen, tuple(sorted({int(v[-1]) for v in versions})),
                   split_list(modes, f"{prefix}modes", MODES, MODES),
                   split_list(proposals, f"{prefix}proposals", tuple(PROPOSAL_SETS),
                              tuple(PROPOSAL_SETS)), tuple(chosen_pairs))

    def cells(self) -> list[MatrixCell]:
        pairs = self.pairs or tuple((i, r) for i in self.flavors for r in self.flavors)
        return [MatrixCell(i, r, v, m, p) for i, r in pairs
                for v in self.ike_versions for m in self.modes for p in self.proposals]
