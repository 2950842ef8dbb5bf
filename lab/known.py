"""Known incompatibilities: matrix cells that fail for a reason outside the lab, as data.

Each entry of the TOML file (scenarios/known-incompatibilities.toml) names the flavors on
either end (``one`` and ``other``, either order; an implementation name, a flavor name, or
a glob such as ``libreswan@*``; optionally version prefixes), the settings that make it
fail (ESP integrity, cipher, IKE versions, modes; for a lifecycle cell the events, who
acts and what starts a rekey), what goes wrong, a reference and the workaround. A
matching cell becomes a strict expected failure: it must fail with words the entry names
(``fails_with``; a lifecycle cell: every one of its findings), and a pass (XPASS) fails
loudly: the incompatibility is gone and the entry must go or narrow.
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
import re
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from lab.algorithms import CIPHERS, INTEGRITY
from lab.daemons.registry import DAEMONS
from lab.errors import LabError, ScenarioError
from lab.flavors import parse_flavor, tree_missing
from lab.run import TAG_VAR
from lab.scenario.allowed import ACTORS, IKE_VERSIONS, LIFECYCLES, MODES, REKEY_BY, SIDES
from lab.scenario.model import Scenario

#: a flavor name -> its daemon's version ("unknown" when it cannot be asked)
VersionOf = Callable[[str], str]

_ENTRY_KEYS = {"id", "what", "reference", "workaround", "fails_with", "one", "other",
               "esp_integrity", "esp_cipher", "ike_versions", "modes", "lifecycles", "actors",
               "rekey_by", "acting", "intermittent"}
_SIDE_KEYS = {"flavors", "versions"}


class KnownFailure(AssertionError):
    """A cell failed the way a known incompatibility says it does."""


@dataclass(frozen=True)
class Ends:
    """One end of an incompatibility: flavor globs and, optionally, version prefixes."""

    flavors: tuple[str, ...]
    versions: tuple[str, ...] = ()

    def matches(self, flavor: str, version_of: VersionOf | None) -> bool:
        impl = flavor.partition("@")[0]
        if not any(fnmatch.fnmatchcase(flavor, g) or g == impl for g in self.flavors):
            return False
        if not self.versions or version_of is None:
            return True
        version = version_of(flavor)
        # a daemon that cannot say its version is assumed affected: better a strict xfail
        # that turns into a loud XPASS than a failure nobody explains
        return version == "unknown" or any(version.startswith(v) for v in self.versions)


@dataclass(frozen=True)
class Incompatibility:
    id: str
    what: str
    reference: str
    one: Ends
    other: Ends
    fails_with: tuple[str, ...]
    workaround: str = ""
    esp_integrity: tuple[str, ...] = ()
    esp_cipher: tuple[str, ...] = ()
    ike_versions: tuple[int, ...] = ()
    modes: tuple[str, ...] = ()
    #: lifecycle cells only (scenarios/test_lifecycle.py): the events, the acting sides and
    #: what starts a rekey; empty: any (an entry without lifecycles matches first SAs too)
    lifecycles: tuple[str, ...] = ()
    actors: tuple[str, ...] = ()
    rekey_by: tuple[str, ...] = ()
    #: lifecycle cells only: which end's daemon acts in the event ("one", "other"; "": either)
    acting: str = ""
    #: measured to fail in some runs only: a non-strict expected failure (a pass is no news),
    #: still only when every finding has the entry's words
    intermittent: bool = False
    source: str = ""

    def matches(self, scenario: Scenario, version_of: VersionOf | None = None) -> bool:
        """Whether the scenario's two ends and settings are those of this entry."""
        for side in SIDES:
            esp = scenario.esp_of(side)  # the first preference: None leaves it to the daemon
            if self.esp_integrity and (esp is None or esp.integrity not in self.esp_integrity):
                return False
            if self.esp_cipher and (esp is None or esp.cipher not in self.esp_cipher):
                return False
            if self.ike_versions and scenario.ike_version_of(side) not in self.ike_versions:
                return False
            if self.modes and scenario.mode_of(side) not in self.modes:
                return False
        if self.lifecycles and scenario.lifecycle not in self.lifecycles:
            return False
        if self.actors and scenario.actor not in self.actors:
            return False
        if self.rekey_by and scenario.rekey_by not in self.rekey_by:
            return False
        left, right = scenario.left.flavor, scenario.right.flavor
        acting_left = scenario.actor_side == "left"
        for a, b, a_is in ((self.one, self.other, "one"), (self.other, self.one, "other")):
            if not (a.matches(left, version_of) and b.matches(right, version_of)):
                continue
            # a is the left end: it acts when the left side does
            if not self.acting or (self.acting == a_is) == acting_left:
                return True
        return False

    @property
    def reason(self) -> str:
        """The xfail reason: what, reference, workaround, and what an XPASS means."""
        kind = "intermittent known incompatibility" if self.intermittent else \
            "known incompatibility"
        parts = [f"{kind} {self.id} ({self.source}): {self.what}",
                 f"reference: {self.reference}"]
        if self.workaround:
            parts.append(f"workaround: {self.workaround}")
        return "; ".join(parts)

    def xpass_message(self) -> str:
        return (f"XPASS: known incompatibility {self.id} is GONE: this cell passed although"
                f" {self.source} says it fails ({self.what}); remove or narrow the entry")

    def explains(self, failure: str) -> bool:
        """Whether a cell's failure message is the one this entry describes."""
        return any(re.search(p, failure) for p in self.fails_with)

    def explains_all(self, problems: list[str]) -> bool:
        """Whether there are findings and this entry explains every one of them (a cell
        with several findings, e.g. a lifecycle cell's, is known only if none is new)."""
        return bool(problems) and all(self.explains(p) for p in problems)


@dataclass
class KnownIncompatibilities:
    entries: list[Incompatibility] = field(default_factory=list)

    def matching(self, scenario: Scenario, version_of: VersionOf | None = None
                 ) -> Incompatibility | None:
        """The first entry that matches (a narrow entry goes before a broad one)."""
        return next((e for e in self.entries if e.matches(scenario, version_of)), None)


def _strings(value: Any, where: str, allowed: tuple[str, ...] | None = None) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ScenarioError(f"{where}: {value!r} is not a string or a list of strings")
    for v in value:
        if allowed is not None and v not in allowed:
            raise ScenarioError(f"{where}: {v!r} is not allowed (allowed: {', '.join(allowed)})")
    return tuple(value)


def _ends(raw: Any, where: str) -> Ends:
    if not isinstance(raw, dict) or "flavors" not in raw:
        raise ScenarioError(f"{where}: a table with 'flavors' is required")
    bad = set(raw) - _SIDE_KEYS
    if bad:
        raise ScenarioError(f"{where}.{sorted(bad)[0]}: unknown field"
                            f" (allowed: {', '.join(sorted(_SIDE_KEYS))})")
    return Ends(_strings(raw["flavors"], f"{where}.flavors"),
                _strings(raw.get("versions", []), f"{where}.versions"))


def parse(data: dict[str, Any], source: str) -> KnownIncompatibilities:
    """Entries from the TOML data; every error is one line naming the file and field."""
    raw_entries = data.get("incompatibility", [])
    if set(data) - {"incompatibility"} or not isinstance(raw_entries, list):
        raise ScenarioError(f"{source}: expected [[incompatibility]] tables only")
    entries, seen = [], set()
    for n, raw in enumerate(raw_entries, 1):
        where = f"{source}: incompatibility #{n}"
        bad = set(raw) - _ENTRY_KEYS
        if bad:
            raise ScenarioError(f"{where}: unknown field {sorted(bad)[0]!r}"
                                f" (allowed: {', '.join(sorted(_ENTRY_KEYS))})")
        for key in ("id", "what", "reference", "one", "other", "fails_with"):
            if key not in raw:
                raise ScenarioError(f"{where}: field {key!r} is required")
        if raw["id"] in seen:
            raise ScenarioError(f"{where}: id {raw['id']!r} is used twice")
        seen.add(raw["id"])
        if not isinstance(raw.get("intermittent", False), bool):
            raise ScenarioError(f"{where}: intermittent: {raw['intermittent']!r} is not allowed"
                                " (allowed: true, false)")
        versions = raw.get("ike_versions", [])
        if not isinstance(versions, list) or any(v not in IKE_VERSIONS for v in versions):
            raise ScenarioError(f"{where}: ike_versions: {versions!r} is not allowed"
                                " (allowed: a list of 1, 2)")
        for pattern in _strings(raw["fails_with"], f"{where}: fails_with"):
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ScenarioError(f"{where}: fails_with: {pattern!r} is no regular"
                                    f" expression ({exc})") from None
        entries.append(Incompatibility(
            id=raw["id"], what=raw["what"], reference=raw["reference"],
            workaround=raw.get("workaround", ""),
            one=_ends(raw["one"], f"{where}: one"), other=_ends(raw["other"], f"{where}: other"),
            fails_with=_strings(raw["fails_with"], f"{where}: fails_with"),
            esp_integrity=_strings(raw.get("esp_integrity", []), f"{where}: esp_integrity",
                                   INTEGRITY),
            esp_cipher=_strings(raw.get("esp_cipher", []), f"{where}: esp_cipher",
                                tuple(CIPHERS)),
            ike_versions=tuple(versions),
            modes=_strings(raw.get("modes", []), f"{where}: modes", MODES),
            lifecycles=_strings(raw.get("lifecycles", []), f"{where}: lifecycles",
                                tuple(e for e in LIFECYCLES if e != "none")),
            actors=_strings(raw.get("actors", []), f"{where}: actors", ACTORS),
            rekey_by=_strings(raw.get("rekey_by", []), f"{where}: rekey_by", REKEY_BY),
            acting=_strings(raw.get("acting", []), f"{where}: acting", ("one", "other"))[0]
            if raw.get("acting") else "",
            intermittent=raw.get("intermittent", False),
            source=source))
    return KnownIncompatibilities(entries)


def load(path: str | Path, source: str | None = None) -> KnownIncompatibilities:
    """The file's entries; ``source`` is how messages name it (default: its name)."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ScenarioError(f"{path}: no such file of known incompatibilities") from None
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{path}: not valid TOML: {exc}") from None
    return parse(data, source or path.name)


def load_for_pytest(path: Path) -> KnownIncompatibilities:
    """load() for a scenarios/ test module: a bad file is pytest's one-line usage error."""
    try:
        return load(path, f"scenarios/{path.name}")
    except LabError as exc:
        raise pytest.UsageError(str(exc)) from None


def run_version(flavor_name: str) -> str:
    """daemon_version() with this run's tag (what entries' version ranges are matched on)."""
    return daemon_version(flavor_name, os.environ.get(TAG_VAR, "ipsec-lab"))


def daemon_version(flavor_name: str, tag: str) -> str:
    """The version a flavor's daemon reports, or "unknown" (missing, or it cannot say)."""
    try:
        flavor = parse_flavor(flavor_name)
        cls = DAEMONS.get(flavor.impl)
        if cls is None or tree_missing(flavor) or cls.missing(flavor):
            return "unknown"
        return cls.version(flavor, tag)
    except LabError:
        return "unknown"


@contextlib.contextmanager
def failing_as(known: Incompatibility | None) -> Iterator[None]:
    """Around a cell: a failure that ``known`` explains becomes a KnownFailure (the strict
    xfail's only accepted exception); any other failure stays what it is."""
    if known is None:
        yield
        return
    try:
        yield
    except KnownFailure:
        raise
    except (LabError, AssertionError) as exc:
        if known.explains(str(exc)):
            raise KnownFailure(f"{known.id}: {exc}") from exc
        raise


def xfail_marks(known: Incompatibility | None) -> list[pytest.MarkDecorator]:
    """The marks that make a cell a strict expected failure of ``known`` (none if None);
    an intermittent entry's cell may pass."""
    if known is None:
        return []
    if known.intermittent:
        return [pytest.mark.xfail(strict=False, raises=KnownFailure, reason=known.reason)]
    return [pytest.mark.xfail(strict=True, raises=KnownFailure, reason=known.reason),
            pytest.mark.known_incompatibility(id=known.id, xpass=known.xpass_message())]


#: `ipsec-lab run`'s exit status for a cell that failed as a known incompatibility says
#: (0: pass, 1: fail, 2: refused or the lab's own error)
KNOWN_EXIT = 3


@dataclass(frozen=True)
class RunVerdict:
    """How `ipsec-lab run` ends a cell against the known incompatibilities: the last
    line it prints and its exit status (as pytest's strict xfail, without pytest)."""

    line: str
    status: int


def judge_run(entry: Incompatibility | None, failures: list[str]) -> RunVerdict:
    """A cell with ``failures`` (none: it passed) that ``entry`` (the first matching, or
    None) may explain: KNOWN when the entry explains every one, a loud FAIL when a strict
    entry's cell passed (the incompatibility is gone), else PASS or FAIL."""
    if entry is None:
        return RunVerdict("FAIL", 1) if failures else RunVerdict("PASS", 0)
    if entry.explains_all(failures):
        return RunVerdict(f"KNOWN: {entry.reason}", KNOWN_EXIT)
    if failures:
        return RunVerdict(f"FAIL (not as known incompatibility {entry.id} says: {entry.fails_with})", 1)
    if entry.intermittent:
        return RunVerdict(f"PASS (intermittent known incompatibility {entry.id} did not show)", 0)
    return RunVerdict(f"FAIL: {entry.xpass_message()}", 1)
