"""The matrix as a markdown summary (ci/out/summary.md, a CI job's summary), for
ci/report.py: the counts, the failures (with their artifacts and the command that runs them
again) and the intermittent cells, the counts per group, a table per pair for each group of
pair cells, the racoon releases side by side, then the skip reasons and the known
incompatibilities."""

from __future__ import annotations

import html
import re
import statistics
from collections import Counter, defaultdict

from report_read import LIFECYCLE_MODE, Result, ordered_groups, roles

#: flavors of one daemon compared side by side: the releases of racoon (a variant counts as
#: its own column)
RELEASES = re.compile(r"^racoon@(?P<release>[\w.-]+)$")
WORDS = {"passed": "passed", "failed": "failed", "skipped": "skipped",
         "known": "known incompatibilities (xfail)", "xpass": "XPASS (incompatibility gone)",
         "intermittent": "intermittent"}


def counts_line(counts: Counter[str]) -> str:
    return ", ".join(f"{counts[k]} {w}" for k, w in WORDS.items()
                     if counts[k] or k in ("passed", "failed", "skipped"))


def pair_table(results: list[Result]) -> list[str]:
    per_pair: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for r in results:
        per_pair[(r.initiator, r.responder)][r.status] += 1
    rows, cols = roles(results[0].group) if results else roles("")
    lines = [f"| {rows} | {cols} | passed | failed | known | skipped |",
             "| --- | --- | ---: | ---: | ---: | ---: |"]
    return lines + [f"| {i} | {r} | {c['passed']} | {c['failed'] + c['xpass'] + c['intermittent']} |"
                    f" {c['known']} | {c['skipped']} |" for (i, r), c in sorted(per_pair.items())]


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
        what = r.proposals if r.group in ("matrix", "path") else f"{r.group}: {r.proposals}"
        by_cell[(i, r_, r.version, r.mode, what)][release] = r.status
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


def where(r: Result) -> str:
    return f"{r.group}: {r.where}"


def timing(results: list[Result], wall: float | None) -> list[str]:
    """What the run took: its wall time, and what a passing cell took (setup to teardown,
    JUnit's time of each test), per group below."""
    passed = [r.seconds for r in results if r.status == "passed" and r.runs == 1]
    if not passed:
        return []
    cells = f"{len(passed)} passing cells, median {statistics.median(passed):.2f} s each"
    if wall is None:
        return ["", f"time: {cells}"]
    return ["", f"time: {wall:.0f} s of wall time ({wall / 60:.1f} min), {wall / len(passed):.2f} s"
                f" of it per passing cell; {cells}"]


def _median_passed(results: list[Result]) -> str:
    took = [r.seconds for r in results if r.status == "passed" and r.runs == 1]
    return f"{statistics.median(took):.2f}" if took else "-"


def summary(results: list[Result], wall: float | None = None) -> str:
    total = Counter(r.status for r in results)
    lines = ["## ipsec-lab interop matrix", "", counts_line(total), *timing(results, wall), "",
             "| group | passed | failed | known | skipped | median s (passed) |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    groups = ordered_groups(results)
    for g in groups:
        rs = [r for r in results if r.group == g]
        c = Counter(r.status for r in rs)
        lines.append(f"| {g} | {c['passed']} | {c['failed'] + c['xpass'] + c['intermittent']} |"
                     f" {c['known']} | {c['skipped']} | {_median_passed(rs)} |")
    for g in groups:
        pairs = [r for r in results if r.group == g and r.initiator]
        if pairs:
            title = "lifecycle cells" if all(r.mode == LIFECYCLE_MODE for r in pairs) else g
            lines += ["", f"### {title}", "", counts_line(Counter(r.status for r in pairs)), "",
                      *pair_table(pairs)]
    lines[4:4] = needs_a_look(results)
    lines += releases_side_by_side(results)
    reasons = Counter(r.reason for r in results if r.status == "skipped")
    if reasons:
        lines += ["", "Skip reasons:", ""] + [f"- {n} x {why}" for why, n in reasons.most_common()]
    known = Counter(r.reason.split(";")[0] for r in results if r.status == "known")
    if known:
        lines += ["", "Known incompatibilities (strict xfail):", ""] + [
            f"- {n} x {why}" for why, n in known.most_common()]
    return "\n".join(lines) + "\n"


def needs_a_look(results: list[Result]) -> list[str]:
    """The failures and the intermittent cells, first thing after the counts."""
    lines = []
    failed = [r for r in results if r.status in ("failed", "xpass")]
    if failed:
        lines += ["Failures:", ""] + [
            f"- {where(r)}: {r.reason.splitlines()[0] if r.reason else ''}"
            f" ({r.artifacts or 'no artifacts'}); reproduce: `{r.reproduce}`" for r in failed]
        lines.append("")
    flaky = [r for r in results if r.status == "intermittent"]
    if flaky:
        lines += ["Intermittent:", ""] + [
            f"- {where(r)}: {r.reason.splitlines()[0]}" for r in flaky]
        lines.append("")
    return lines
