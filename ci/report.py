#!/usr/bin/env python3
"""The matrix as a page and a summary, from JUnit XML.

    .venv/bin/python ci/report.py ci/out/scenarios.xml [--html ci/out/matrix.html] [--md ci/out/summary.md]

One grid per IKE version and mode: initiator rows, responder columns; each cell
holds one mark per proposal set (the lifecycle cells of scenarios/test_lifecycle.py: a grid
per IKE version of their own, one mark per event and variant, the measured figures in the
tooltip), coloured pass / fail / skip / known incompatibility
(a strict xfail of scenarios/known-incompatibilities.toml; one that passed, an XPASS,
is a failure of its own colour), with the reason as its tooltip and a link to the
artifacts where a failed cell left them. With --lab-repeat the runs of a cell make one
mark: a cell that failed some runs but not all is marked intermittent ("fails 1 time in 5").
"""

from __future__ import annotations

import argparse
import html
import os
import re
import sys
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from lab.matrix import CELL_ID, LIFECYCLE_ID, flavor_from_id

ID = re.compile(r"test_interop\[(?P<id>.+?)(?:-rep\d+of\d+)?\]")
LIFECYCLE = re.compile(r"test_lifecycle\[(?P<id>.+?)(?:-rep\d+of\d+)?\]")
#: the "mode" of a lifecycle result: its grid is one of its own
LIFECYCLE_MODE = "lifecycle"
#: statuses, worst first: how the runs of one cell combine
STATUSES = ("xpass", "failed", "intermittent", "known", "passed", "skipped")


@dataclass(frozen=True)
class Result:
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


def read(paths: list[Path]) -> list[Result]:
    results = []
    for path in paths:
        for case in ET.parse(path).getroot().iter("testcase"):
            name = case.get("name", "")
            outer, life = ID.fullmatch(name), LIFECYCLE.fullmatch(name)
            m = CELL_ID.fullmatch(outer["id"]) if outer else None
            lm = LIFECYCLE_ID.fullmatch(life["id"]) if life else None
            if not m and not lm:
                continue
            status, reason = "passed", ""
            for kind in ("failure", "error", "skipped"):
                node = case.find(kind)
                if node is not None:
                    status = "skipped" if kind == "skipped" else "failed"
                    reason = node.get("message") or (node.text or "")
                    if kind == "skipped" and node.get("type") == "pytest.xfail":
                        status = "known"
                    elif status == "failed" and reason.startswith("XPASS"):
                        status = "xpass"
                    break
            props = {p.get("name"): p.get("value") for p in case.iter("property")}
            if lm:
                figures = (props.get("lifecycle") or "").splitlines()[1:4]
                what = " ".join(w for w in (lm["e"], lm["x"]) if w)
                reason = "; ".join([reason.strip(), *figures]) if status == "passed" else reason
                head = (lm["i"], lm["r"], int(lm["v"]), LIFECYCLE_MODE, what)
            else:
                assert m is not None
                head = (m["i"], m["r"], int(m["v"]), m["m"],
                        " ".join(w for w in (m["p"], m["t"], m["f"], m["a"], m["path"]) if w))
            results.append(Result(flavor_from_id(head[0]), flavor_from_id(head[1]), head[2],
                                  head[3], head[4], status,
                                  reason.strip(), props.get("artifacts"),
                                  float(case.get("time") or 0),
                                  failures=int(status in ("failed", "xpass"))))
    return combine(results)


def combine(results: list[Result]) -> list[Result]:
    """The runs of one cell (--lab-repeat) as one result: the worst run's, counted; a cell
    that failed some runs and passed others is intermittent."""
    runs: dict[tuple[str, str, int, str, str], list[Result]] = defaultdict(list)
    for r in results:
        runs[(r.initiator, r.responder, r.version, r.mode, r.proposals)].append(r)
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
        artifacts = next((r.artifacts for r in group if r.failures and r.artifacts), worst.artifacts)
        out.append(Result(worst.initiator, worst.responder, worst.version, worst.mode,
                          worst.proposals, status, reason, artifacts,
                          sum(r.seconds for r in group) / n, n, failures))
    return out


STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.4em} h2{font-size:1.1em;margin-top:1.6em}
table{border-collapse:collapse} th,td{border:1px solid #ccc;padding:4px 6px;text-align:center}
th{background:#f3f3f3;font-weight:600} th.row{text-align:right}
a.m,span.m{display:inline-block;min-width:1.6em;margin:1px;padding:2px 4px;border-radius:3px;
  font-size:.75em;text-decoration:none;color:#fff}
.passed{background:#2e7d32}.failed{background:#c62828}.skipped{background:#9e9e9e}
.known{background:#6a1b9a}.xpass{background:#ff6f00;outline:2px solid #c62828}
.intermittent{background:repeating-linear-gradient(45deg,#2e7d32 0 4px,#c62828 4px 8px)}
.legend span{margin-right:1em}
"""


def page(results: list[Result], out_dir: Path) -> str:
    flavors = sorted({r.initiator for r in results} | {r.responder for r in results})
    proposals = sorted({r.proposals for r in results if r.mode != LIFECYCLE_MODE})
    events = sorted({r.proposals for r in results if r.mode == LIFECYCLE_MODE})
    counts = Counter(r.status for r in results)
    legend = ", ".join(f"<b>{i + 1}</b> {html.escape(p)}" for i, p in enumerate(proposals))
    if events:
        legend += ("; in the lifecycle grids: " if proposals else "") + ", ".join(
            f"<b>{i + 1}</b> {html.escape(e)}" for i, e in enumerate(events))
    parts = [f"<!doctype html><meta charset=utf-8><title>ipsec-lab interop matrix</title>"
             f"<style>{STYLE}</style><h1>ipsec-lab interop matrix</h1>"
             f"<p>{counts_line(counts)}. "
             f"Rows: initiator; columns: responder; marks: " + legend
             + "</p><p class=legend><span class='m passed'>pass</span> <span class='m failed'>fail"
               "</span> <span class='m skipped'>skip</span> <span class='m known'>known"
               " incompatibility</span> <span class='m xpass'>XPASS: incompatibility gone</span>"
               " <span class='m intermittent'>intermittent</span>"
               " (hover a mark for its reason)</p>"]
    grid: dict[tuple[int, str], dict[tuple[str, str], list[Result]]] = defaultdict(lambda: defaultdict(list))
    for r in results:
        grid[(r.version, r.mode)][(r.initiator, r.responder)].append(r)
    for (version, mode) in sorted(grid, key=lambda k: (k[1] == LIFECYCLE_MODE, k)):
        labels = events if mode == LIFECYCLE_MODE else proposals
        title = "lifecycle events" if mode == LIFECYCLE_MODE else f"{mode} mode"
        parts.append(f"<h2>IKEv{version}, {title}</h2><table><tr><th>initiator \\ responder</th>"
                     + "".join(f"<th>{html.escape(f)}</th>" for f in flavors) + "</tr>")
        for i in flavors:
            parts.append(f"<tr><th class=row>{html.escape(i)}</th>")
            for r_ in flavors:
                marks = []
                for res in sorted(grid[(version, mode)][(i, r_)], key=lambda x: labels.index(x.proposals)):
                    label = str(labels.index(res.proposals) + 1)
                    runs = f" x{res.runs}" if res.runs > 1 else ""
                    tip = html.escape(f"{res.proposals}: {res.status}{runs}"
                                      + (f" ({res.seconds:.1f} s)" if res.status == "passed" else "")
                                      + (f": {res.reason}" if res.reason else ""), quote=True)
                    if res.artifacts:
                        href = html.escape(os.path.relpath(res.artifacts, out_dir), quote=True)
                        marks.append(f"<a class='m {res.status}' href='{href}' title='{tip}'>{label}</a>")
                    else:
                        marks.append(f"<span class='m {res.status}' title='{tip}'>{label}</span>")
                parts.append(f"<td>{''.join(marks)}</td>")
            parts.append("</tr>")
        parts.append("</table>")
    parts.append(releases_html(results))
    return "".join(parts) + "\n"


def counts_line(counts: Counter[str]) -> str:
    words = {"passed": "passed", "failed": "failed", "skipped": "skipped",
             "known": "known incompatibilities (xfail)", "xpass": "XPASS (incompatibility gone)",
             "intermittent": "intermittent"}
    return ", ".join(f"{counts[k]} {w}" for k, w in words.items()
                     if counts[k] or k in ("passed", "failed", "skipped"))


def pair_table(results: list[Result]) -> list[str]:
    per_pair: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for r in results:
        per_pair[(r.initiator, r.responder)][r.status] += 1
    lines = ["| initiator | responder | passed | failed | known | skipped |",
             "| --- | --- | ---: | ---: | ---: | ---: |"]
    return lines + [f"| {i} | {r} | {c['passed']} | {c['failed'] + c['xpass'] + c['intermittent']} |"
                    f" {c['known']} | {c['skipped']} |" for (i, r), c in sorted(per_pair.items())]


#: flavors of one daemon compared side by side: the releases of racoon (a variant counts as
#: its own column)
RELEASES = re.compile(r"^racoon@(?P<release>[\w.-]+)$")


def releases_compared(results: list[Result]) -> tuple[list[str], int, list[list[str]]]:
    """The cells the racoon releases share (the same peer, IKE version, mode, set): the
    release names, how many cells have the same result for every release, and one row
    (initiator, responder, IKE, mode, cell, then each release's result) where they differ."""
    by_cell: dict[tuple[str, str, int, str, str], dict[str, str]] = defaultdict(dict)
    for r in results:
        ends = [RELEASES.match(f) for f in (r.initiator, r.responder)]
        if sum(m is not None for m in ends) != 1:
            continue  # no racoon, or racoon at both ends
        release = next(m["release"] for m in ends if m)
        i, r_ = ("racoon" if m else f for m, f in zip(ends, (r.initiator, r.responder),
                                                      strict=True))
        by_cell[(i, r_, r.version, r.mode, r.proposals)][release] = r.status
    names = sorted({rel for cell in by_cell.values() for rel in cell})
    shared = {k: v for k, v in by_cell.items() if len(v) > 1}
    differ = {k: v for k, v in shared.items() if len(set(v.values())) > 1}
    rows = [[i, r, str(v), m, p, *(got.get(n, "-") for n in names)]
            for (i, r, v, m, p), got in sorted(differ.items())]
    return names, len(shared) - len(differ), rows


def releases_side_by_side(results: list[Result]) -> list[str]:
    """The comparison of `releases_compared` as Markdown."""
    names, same, rows = releases_compared(results)
    if len(names) < 2:
        return []
    lines = ["", "### racoon releases side by side", "",
             f"{same} cells with the same result for every release"
             + ("; where they differ:" if rows else "."), ""]
    if rows:
        head = ["initiator", "responder", "IKE", "mode", "cell", *names]
        lines += ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def releases_html(results: list[Result]) -> str:
    """The comparison of `releases_compared` as a table of the page."""
    names, same, rows = releases_compared(results)
    if len(names) < 2:
        return ""
    head = ["initiator", "responder", "IKE", "mode", "cell", *names]
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row[:5])
                   + "".join(f"<td><span class='m {html.escape(c)}'>{html.escape(c)}</span></td>"
                             for c in row[5:]) + "</tr>" for row in rows)
    return (f"<h2>racoon releases side by side</h2><p>{same} cells with the same result for"
            f" every release{'; where they differ:' if rows else '.'}</p>"
            + (f"<table><tr>{''.join(f'<th>{h}</th>' for h in head)}</tr>{body}</table>"
               if rows else ""))


def summary(results: list[Result]) -> str:
    total = Counter(r.status for r in results)
    lines = ["## ipsec-lab interop matrix", "", counts_line(total), ""]
    matrix = [r for r in results if r.mode != LIFECYCLE_MODE]
    lifecycle = [r for r in results if r.mode == LIFECYCLE_MODE]
    if matrix:
        lines += pair_table(matrix)
    if lifecycle:
        lines += ["", "### lifecycle cells", "", counts_line(Counter(r.status for r in lifecycle)),
                  "", *pair_table(lifecycle)]
    lines += releases_side_by_side(results)
    reasons = Counter(r.reason for r in results if r.status == "skipped")
    if reasons:
        lines += ["", "Skip reasons:", ""] + [f"- {n} x {why}" for why, n in reasons.most_common()]
    known = Counter(r.reason.split(";")[0] for r in results if r.status == "known")
    if known:
        lines += ["", "Known incompatibilities (strict xfail):", ""] + [
            f"- {n} x {why}" for why, n in known.most_common()]
    flaky = [r for r in results if r.status == "intermittent"]
    if flaky:
        lines += ["", "Intermittent:", ""] + [
            f"- {r.initiator}->{r.responder} IKEv{r.version} {r.mode} {r.proposals}: "
            f"{r.reason.splitlines()[0]}" for r in flaky]
    failed = [r for r in results if r.status in ("failed", "xpass")]
    if failed:
        lines += ["", "Failures:", ""] + [
            f"- {r.initiator}->{r.responder} IKEv{r.version} {r.mode} {r.proposals}: "
            f"{r.reason.splitlines()[0] if r.reason else ''} ({r.artifacts or 'no artifacts'})"
            for r in failed]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("junit", nargs="+", type=Path)
    parser.add_argument("--html", type=Path, default=Path("ci/out/matrix.html"))
    parser.add_argument("--md", type=Path, default=Path("ci/out/summary.md"))
    args = parser.parse_args()
    results = read(args.junit)
    if not results:
        print("report: no matrix cells in " + ", ".join(map(str, args.junit)), file=sys.stderr)
        return 1
    args.html.parent.mkdir(parents=True, exist_ok=True)
    args.html.write_text(page(results, args.html.parent.resolve()))
    args.md.write_text(summary(results))
    print(summary(results), end="")
    print(f"report: {args.html}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
