#!/usr/bin/env python3
"""The matrix as a page and a summary, from JUnit XML.

    .venv/bin/python ci/report.py ci/out/scenarios.xml [--html ci/out/matrix.html] [--md ci/out/summary.md]

One grid per IKE version and mode: initiator rows, responder columns; each cell
holds one mark per proposal set, coloured pass / fail / skip, with the reason as
its tooltip and a link to the artifacts where a failed cell left them.
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

from lab.matrix import CELL_ID, flavor_from_id

ID = re.compile(r"test_interop\[(?P<id>.+)\]")


@dataclass(frozen=True)
class Result:
    initiator: str
    responder: str
    version: int
    mode: str
    proposals: str
    status: str  # passed, failed, skipped
    reason: str
    artifacts: str | None
    seconds: float


def read(paths: list[Path]) -> list[Result]:
    results = []
    for path in paths:
        for case in ET.parse(path).getroot().iter("testcase"):
            outer = ID.fullmatch(case.get("name", ""))
            m = CELL_ID.fullmatch(outer["id"]) if outer else None
            if not m:
                continue
            status, reason = "passed", ""
            for kind in ("failure", "error", "skipped"):
                node = case.find(kind)
                if node is not None:
                    status = "skipped" if kind == "skipped" else "failed"
                    reason = node.get("message") or (node.text or "")
                    break
            props = {p.get("name"): p.get("value") for p in case.iter("property")}
            results.append(Result(flavor_from_id(m["i"]), flavor_from_id(m["r"]), int(m["v"]),
                                  m["m"], " ".join(w for w in (m["p"], m["t"], m["f"], m["a"]) if w),
                                  status,
                                  reason.strip(), props.get("artifacts"),
                                  float(case.get("time") or 0)))
    return results


STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.4em} h2{font-size:1.1em;margin-top:1.6em}
table{border-collapse:collapse} th,td{border:1px solid #ccc;padding:4px 6px;text-align:center}
th{background:#f3f3f3;font-weight:600} th.row{text-align:right}
a.m,span.m{display:inline-block;min-width:1.6em;margin:1px;padding:2px 4px;border-radius:3px;
  font-size:.75em;text-decoration:none;color:#fff}
.passed{background:#2e7d32}.failed{background:#c62828}.skipped{background:#9e9e9e}
.legend span{margin-right:1em}
"""


def page(results: list[Result], out_dir: Path) -> str:
    flavors = sorted({r.initiator for r in results} | {r.responder for r in results})
    proposals = sorted({r.proposals for r in results})
    counts = Counter(r.status for r in results)
    parts = [f"<!doctype html><meta charset=utf-8><title>ipsec-lab interop matrix</title>"
             f"<style>{STYLE}</style><h1>ipsec-lab interop matrix</h1>"
             f"<p>{counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped. "
             f"Rows: initiator; columns: responder; marks: "
             + ", ".join(f"<b>{i + 1}</b> {html.escape(p)}" for i, p in enumerate(proposals))
             + "</p><p class=legend><span class='m passed'>pass</span> <span class='m failed'>fail"
               "</span> <span class='m skipped'>skip</span> (hover a mark for its reason)</p>"]
    grid: dict[tuple[int, str], dict[tuple[str, str], list[Result]]] = defaultdict(lambda: defaultdict(list))
    for r in results:
        grid[(r.version, r.mode)][(r.initiator, r.responder)].append(r)
    for (version, mode) in sorted(grid):
        parts.append(f"<h2>IKEv{version}, {mode} mode</h2><table><tr><th>initiator \\ responder</th>"
                     + "".join(f"<th>{html.escape(f)}</th>" for f in flavors) + "</tr>")
        for i in flavors:
            parts.append(f"<tr><th class=row>{html.escape(i)}</th>")
            for r_ in flavors:
                marks = []
                for res in sorted(grid[(version, mode)][(i, r_)], key=lambda x: proposals.index(x.proposals)):
                    label = str(proposals.index(res.proposals) + 1)
                    tip = html.escape(f"{res.proposals}: {res.status}"
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
    return "".join(parts) + "\n"


def summary(results: list[Result]) -> str:
    per_pair: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for r in results:
        per_pair[(r.initiator, r.responder)][r.status] += 1
    total = Counter(r.status for r in results)
    lines = ["## ipsec-lab interop matrix", "",
             f"{total['passed']} passed, {total['failed']} failed, {total['skipped']} skipped", "",
             "| initiator | responder | passed | failed | skipped |", "| --- | --- | ---: | ---: | ---: |"]
    lines += [f"| {i} | {r} | {c['passed']} | {c['failed']} | {c['skipped']} |"
              for (i, r), c in sorted(per_pair.items())]
    reasons = Counter(r.reason for r in results if r.status == "skipped")
    if reasons:
        lines += ["", "Skip reasons:", ""] + [f"- {n} x {why}" for why, n in reasons.most_common()]
    failed = [r for r in results if r.status == "failed"]
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
