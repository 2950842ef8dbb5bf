"""The interop matrix: initiator flavor x responder flavor x IKE version x mode x
proposal set, and the topology and address family. Every combination is generated;
the ones a pair cannot do are skipped with the reason, never dropped. Combinations
no lab can build are not cells: net-to-net runs in tunnel mode only, and mixed
families (4in6, 6in4) need the subnets of net-to-net.

By default the matrix is the whole host-to-host IPv6 grid plus `EXTRA_AXES` (IPv4,
net-to-net in every family) for the proposal sets in `EXTRA_PROPOSALS`, all with PSK,
plus certificate cells (`EXTRA_AUTH`: rsa and ecdsa in IKEv2, rsa in IKEv1, tunnel mode,
the `AUTH_PROPOSALS` set); naming topologies, families or authentications on the command
line gives their whole grid instead.

The parts: ids (test ids), capable (what each flavor's daemon can; the default flavors),
axes (proposal sets, path cases, the default run's share of each axis), cell (a two-peer
cell), selection (the --lab-* options and the cells they make), lifecycle (lifecycle
cells). Everything is importable from here."""

from __future__ import annotations

from lab.matrix.axes import (
    AUTH_MODES,
    AUTH_PROPOSALS,
    DEFAULT_AUTH,
    DEFAULT_FAMILY,
    DEFAULT_PATH,
    DEFAULT_TOPOLOGY,
    EXTRA_AUTH,
    EXTRA_AXES,
    EXTRA_PATHS,
    EXTRA_PROPOSALS,
    PATH_IKE,
    PATH_MODES,
    PATH_PROPOSALS,
    PATHS,
    PROPOSAL_SETS,
    VARIANT_PROPOSALS,
    PathCase,
    ProposalSet,
    buildable,
    path_version,
)
from lab.matrix.capable import DEFAULT_FLAVORS, VARIANT_FLAVORS, never, speaks
from lab.matrix.cell import CELL_ID, MatrixCell
from lab.matrix.ids import cell_id, flavor_from_id, flavor_id, pair_id
from lab.matrix.lifecycle import (
    DEFAULT_LIFECYCLE_PAIRS,
    DEFAULT_LIFECYCLE_VARIANTS,
    DEFAULT_RACOON_PAIRS,
    DEFAULT_RACOON_VARIANTS,
    DPD_DELAY,
    DPD_TIMEOUT,
    LIFECYCLE_EVENTS,
    LIFECYCLE_ID,
    LIFECYCLE_VARIANTS,
    LONG_LIFE,
    SHORT_LIFE,
    SHORT_MARGIN,
    LifecycleCell,
    lifecycle_cells,
)
from lab.matrix.selection import MatrixSelection, split_list

__all__ = [
    "AUTH_MODES", "AUTH_PROPOSALS", "CELL_ID", "DEFAULT_AUTH", "DEFAULT_FAMILY",
    "DEFAULT_FLAVORS", "DEFAULT_LIFECYCLE_PAIRS", "DEFAULT_LIFECYCLE_VARIANTS", "DEFAULT_PATH",
    "DEFAULT_RACOON_PAIRS", "DEFAULT_RACOON_VARIANTS", "DEFAULT_TOPOLOGY", "DPD_DELAY",
    "DPD_TIMEOUT", "EXTRA_AUTH", "EXTRA_AXES", "EXTRA_PATHS", "EXTRA_PROPOSALS",
    "LIFECYCLE_EVENTS", "LIFECYCLE_ID", "LIFECYCLE_VARIANTS", "LONG_LIFE", "PATHS", "PATH_IKE",
    "PATH_MODES", "PATH_PROPOSALS", "PROPOSAL_SETS", "SHORT_LIFE", "SHORT_MARGIN",
    "VARIANT_FLAVORS", "VARIANT_PROPOSALS", "LifecycleCell", "MatrixCell", "MatrixSelection",
    "PathCase", "ProposalSet", "buildable", "cell_id", "flavor_from_id", "flavor_id",
    "lifecycle_cells", "never", "pair_id", "path_version", "speaks", "split_list",
]
