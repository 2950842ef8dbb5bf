"""The cells of a run, read from pytest's JUnit XML, for ci/report.py.

Every test case becomes a `Result` in a group named after its test module
(``scenarios/test_matrix.py`` is "matrix", ``test_road_warrior.py`` "road warrior"; a matrix
cell with a path, drop1 or nat, is in "path"). Its id says what it is in words: a matrix
cell's proposal set and whatever differs from host-to-host, IPv6, PSK and a plain path; a
lifecycle cell's event and variant; any other id that starts with a pair of flavors, the rest
of it; any other, the id itself. The runs of one cell (--lab-repeat) combine into one result.
"""

from __future__ import annotations

import re
import shlex
import xml.etree.ElementTree as ET
from collections import defaultdict
from dataclasses import dataclass, replace
from pathlib import Path

from lab.flavors import IMPLEMENTATIONS
from lab.matrix import CELL_ID, LIFECYCLE_ID, flavor_from_id

#: the "mode" of a lifecycle result: its grids are of their own
LIFECYCLE_MODE = "lifecycle"
#: statuses, worst first: how the runs of one cell combine
STATUSES = ("xpass", "failed", "intermittent", "known", "passed", "skipped")
#: a test name and its parameters; a repeated run's suffix (--lab-repeat) is not the cell's
NAME = re.compile(r"(?P<test>[^\[]+)(?:\[(?P<id>.*?)(?:-rep\d+of\d+)?\])?")
IKE = re.compile(r"ikev(?P<v>\d)")
#: a cell of more than two peers (lab.remote.matrix): the gateway or hub, its clients or
#: spokes joined by ``+``, the IKE version, the topology
NETWORK_ID = re.compile(r"(?P<g>[a-z0-9_]+)-(?P<c>[a-z0-9_]+(?:\+[a-z0-9_]+)+)-ikev(?P<v>\d)"
                        r"-(?P<t>road-warrior|hub)(?:-(?P<x>.+))?")
#: what the rows and the columns of a group's grid are, where they are not the two peers
ROLES = {"roadwarrior": ("gateway", "clients"), "hub": ("hub", "spokes")}


def roles(group: str) -> tuple[str, str]:
    """(rows, columns) of a group's grids, in words."""
    return ROLES.get(group, ("initiator", "responder"))
#: groups in this order first, then the others by name
FIRST_GROUPS = ("matrix", "path", "lifecycle", "files", "upstream", "road warrior")


@dataclass(frozen=True)
class Result:
    """One cell. ``proposals`` is what the cell is, in words (a matrix cell's proposal set
    and its other axes, a lifecycle cell's event); ``initiator`` and ``responder`` are empty
    for a test that is not about a pair, ``version`` 0 where the id names no IKE version."""

    initiator: str
    responder: str
    version: int
    mode: str
    proposals: str
    status: str  # one of STATUSES
    reason: str
    artifacts: str | None
    seconds: float
    runs: int = 1
    failures: int = 0
    group: str = "matrix"
    test: str = ""
    reproduce: str = ""
    note: str = ""  # what the run measured besides (the path's retransmissions)

    @property
    def pair(self) -> str:
        return f"{self.initiator} → {self.responder}" if self.initiator else ""

    @property
    def where(self) -> str:
        """The cell in a line: pair, IKE version and mode, then its words."""
        ike = f"IKEv{self.version}" if self.version else ""
        mode = self.mode if self.mode not in ("", LIFECYCLE_MODE) else ""
        return " · ".join(w for w in (self.pair, " ".join(filter(None, (ike, mode))),
                                      self.proposals) if w)


def _module_at(parts: list[str]) -> int:
    """Which part of a JUnit classname is the test module (the rest are classes)."""
    return next((i for i, p in enumerate(parts) if p.startswith("test")), len(parts) - 1)


def group_of(classname: str) -> str:
    """The group: the test module's name without ``test_``, in words."""
    parts = classname.split(".")
    module = parts[_module_at(parts)]
    return module.removeprefix("test_").replace("_", " ") or module


def reproduce_of(classname: str, name: str) -> str:
    """The command that runs the test again, from its JUnit names (when the run did not
    record it)."""
    if not classname:
        return ""
    parts = classname.split(".")
    at = _module_at(parts)
    nodeid = "::".join(["/".join(parts[: at + 1]) + ".py", *parts[at + 1:], name])
    return f"pytest {shlex.quote(nodeid)}"


def _words(test: str) -> str:
    return test.removeprefix("test_").replace("_", " ")


def _flavor(word: str) -> str | None:
    return flavor_from_id(word) if word.partition("_")[0] in IMPLEMENTATIONS else None


def describe(group: str, test: str, ident: str) -> tuple[str, str, str, int, str, str]:
    """(group, initiator, responder, IKE version, mode, words) of one test id."""
    if (m := CELL_ID.fullmatch(ident)) and _flavor(m["i"]) and _flavor(m["r"]):
        words = " ".join(w for w in (m["p"], m["t"], m["f"], m["a"], m["path"]) if w)
        return ("path" if m["path"] else group, flavor_from_id(m["i"]), flavor_from_id(m["r"]),
                int(m["v"]), m["m"], words)
    if (nm := NETWORK_ID.fullmatch(ident)) and _flavor(nm["g"]):
        ends = [flavor_from_id(c) if _flavor(c) else c for c in nm["c"].split("+")]
        return (group, flavor_from_id(nm["g"]), " + ".join(ends), int(nm["v"]), "",
                " ".join(w for w in (nm["t"], nm["x"]) if w))
    if (lm := LIFECYCLE_ID.fullmatch(ident)) and _flavor(lm["i"]) and _flavor(lm["r"]):
        words = " ".join(w for w in (lm["e"], lm["x"]) if w)
        return (group, flavor_from_id(lm["i"]), flavor_from_id(lm["r"]), int(lm["v"]),
                LIFECYCLE_MODE, words)
    first, _, rest = ident.partition("-")
    second, _, rest = rest.partition("-")
    if ident and _flavor(first) and _flavor(second):
        words = [w for w in rest.split("-") if w]
        # the IKE version the id ends (or starts) with is the grid's; two at its end are
        # the two ends' (``...-ikev1-ikev2``), and name no grid
        versions: list[int] = []
        while len(versions) < 2 and words and (v := IKE.fullmatch(words[-1])):
            versions.insert(0, int(v["v"]))
            words.pop()
        if not versions and words and (v := IKE.fullmatch(words[0])):
            versions.append(int(v["v"]))
            words.pop(0)
        version = versions[0] if len(versions) == 1 else 0
        return (group, flavor_from_id(first), flavor_from_id(second), version, "",
                "-".join(words) or _words(test))
    return group, "", "", 0, "", ident or _words(test)


def _status(case: ET.Element) -> tuple[str, str]:
    for kind in ("failure", "error", "skipped"):
        node = case.find(kind)
        if node is None:
            continue
        reason = (node.get("message") or node.text or "").strip()
        if kind == "skipped":
            return ("known" if node.get("type") == "pytest.xfail" else "skipped"), reason
        return ("xpass" if reason.startswith("XPASS") else "failed"), reason
    return "passed", ""


def result_of(case: ET.Element) -> Result:
    classname, name = case.get("classname", ""), case.get("name", "")
    m = NAME.fullmatch(name)
    test, ident = (m["test"], m["id"] or "") if m else (name, "")
    group = group_of(classname) if classname else ("matrix" if test == "test_interop"
                                                   else _words(test))
    group, initiator, responder, version, mode, words = describe(group, test, ident)
    status, reason = _status(case)
    props = {p.get("name"): p.get("value") or "" for p in case.iter("property")}
    if mode == LIFECYCLE_MODE and status == "passed":
        figures = props.get("lifecycle", "").splitlines()[1:4]
        reason = "; ".join(figures)
    elif status == "passed":
        reason = props.get("outcome", "").splitlines()[0] if props.get("outcome") else ""
    return Result(initiator, responder, version, mode, words, status, reason,
                  props.get("artifacts") or None, float(case.get("time") or 0),
                  failures=int(status in ("failed", "xpass")), group=group, test=test,
                  reproduce=props.get("reproduce") or reproduce_of(classname, name),
                  note=props.get("path", ""))


def read(paths: list[Path]) -> list[Result]:
    return combine([result_of(case) for path in paths
                    for case in ET.parse(path).getroot().iter("testcase")])


def combine(results: list[Result]) -> list[Result]:
    """The runs of one cell (--lab-repeat) as one result: the worst run's, counted; a cell
    that failed some runs and passed others is intermittent."""
    runs: dict[tuple[str, ...], list[Result]] = defaultdict(list)
    for r in results:
        runs[(r.group, r.test, r.initiator, r.responder, str(r.version), r.mode,
              r.proposals)].append(r)
    out = []
    for group in runs.values():
        worst = min(group, key=lambda r: STATUSES.index(r.status))
        n, failures = len(group), sum(r.failures for r in group)
        status, reason = worst.status, worst.reason
        if 0 < failures < n and any(r.status in ("passed", "known") for r in group):
            status = "intermittent"
            times = "time" if failures == 1 else "times"
            reason = f"fails {failures} {times} in {n}: {worst.reason}"
        elif n > 1:
            reason = f"{worst.status} {n} of {n}" + (f": {worst.reason}" if worst.reason else "")
        artifacts = next((r.artifacts for r in group if r.failures and r.artifacts),
                         worst.artifacts)
        out.append(replace(worst, status=status, reason=reason, artifacts=artifacts,
                           seconds=sum(r.seconds for r in group) / n, runs=n,
                           failures=failures))
    return out


def ordered_groups(results: list[Result]) -> list[str]:
    names = {r.group for r in results}
    return [g for g in FIRST_GROUPS if g in names] + sorted(names - set(FIRST_GROUPS))
