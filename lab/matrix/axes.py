"""The matrix's axes besides the flavors: the proposal sets, the path cases, which
(topology, family, mode) combinations a lab can build, and what the default run takes of
each axis (the EXTRA_* and *_PROPOSALS tables)."""

from __future__ import annotations

from dataclasses import dataclass, field

from lab.matrix.capable import speaks
from lab.scenario.allowed import MODES
from lab.topology.path import PathSpec
from lab.topology.table import FAMILIES, TOPOLOGIES

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
#: the proposal sets of the default matrix's VARIANT_FLAVORS cells (lab.matrix.capable)
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
