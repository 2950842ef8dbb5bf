"""The matrix as a page (ci/out/matrix.html), for ci/report.py.

A section per group of cells (a test module: matrix, path, lifecycle, files, ...). Where the
cells are pairs of flavors, a grid per IKE version and mode: initiator rows, responder
columns, and in each place one mark per cell that says in words what it is (the proposal
set first, then what differs from host-to-host, IPv6, PSK and a plain path; a lifecycle
cell's event). A mark's colour and sign say its result: failures, XPASSes and intermittent
cells are loud and listed again at the top with their artifacts and the command that runs
them again, known incompatibilities are purple, skips are grey and quiet. Hovering a mark
shows its reason, its time and its ``reproduce:`` line; clicking it pins them in a panel,
with the link to its artifacts. A flavor none of whose cells in a grid ran for one reason,
or that has no cells in it at all (racoon in IKEv2), is left out of that grid and named
once above the group's grids.
"""

from __future__ import annotations

import html
import os
from collections import Counter, defaultdict
from pathlib import Path

from report_read import LIFECYCLE_MODE, STATUSES, Result, ordered_groups, roles

from lab.errors import UsageError
from lab.matrix import speaks

#: sign and word of each status
LOOK = {"xpass": ("!", "XPASS: the known incompatibility is gone"), "failed": ("✗", "failed"),
        "intermittent": ("~", "intermittent"), "known": ("≠", "known incompatibility"),
        "passed": ("✓", "passed"), "skipped": ("\u2013", "skipped")}
LOUD = ("xpass", "failed", "intermittent")

STYLE = """
body{font:14px/1.4 system-ui,'DejaVu Sans',sans-serif;margin:1.2em 1.5em;color:#222}
h1{font-size:1.5em;margin:0 0 .3em} h2{font-size:1.25em;margin:1.6em 0 .3em;
  border-bottom:2px solid #ddd} h3{font-size:1em;margin:1em 0 .3em}
table{border-collapse:collapse} th,td{border:1px solid #d4d4d4;padding:3px 4px;
  vertical-align:top} th{background:#f4f4f4;font-weight:600;text-align:left;white-space:nowrap}
td div{height:20px;white-space:nowrap} td.flow{max-width:40em}
.m{display:inline-block;margin:1px;padding:0 5px;border-radius:3px;font-size:12px;
  line-height:18px;white-space:nowrap;text-decoration:none;border:1px solid transparent}
.m i{font-style:normal;font-size:11px}
.passed{background:#e6f4e7;color:#1b5e20;border-color:#a5d6a7}
.failed{background:#c62828;color:#fff;font-weight:700}
.xpass{background:#e65100;color:#fff;font-weight:700;outline:2px solid #c62828}
.intermittent{background:#ffca28;color:#000;font-weight:700;border-color:#c62828}
.known{background:#6a1b9a;color:#fff}
.skipped{color:#999;border:1px dashed #ccc;background:#fff}
a.art{font-size:12px;margin:0 6px 0 3px}
.head .m{font-size:14px;line-height:24px;padding:0 8px}
.banner{padding:6px 10px;border-radius:4px;font-weight:700;margin:.4em 0}
.banner.bad{background:#fde0e0;border:2px solid #c62828}
.banner.good{background:#e6f4e7;border:2px solid #2e7d32}
.look li{margin:.3em 0} code{background:#f4f4f4;padding:0 3px;font-size:12px}
.note{color:#555;background:#fafafa;border-left:3px solid #bbb;padding:4px 8px;margin:.4em 0}
.count{font-weight:400;font-size:.8em;color:#555}
.detail{display:none}
.detail:target{display:block;position:fixed;right:1em;bottom:1em;width:42em;max-width:90%;
  max-height:60%;overflow:auto;background:#fff;border:2px solid #333;border-radius:6px;
  padding:8px 12px;box-shadow:0 4px 16px rgba(0,0,0,.3)}
.detail pre{white-space:pre-wrap;font-size:12px;background:#f8f8f8;padding:4px}
.detail .x{float:right;text-decoration:none;font-size:18px}
"""


def mark(r: Result, n: int, text: str | None = None) -> str:
    """One cell as a mark: its sign and words (or ``text``), its reason, time and command on
    hover; a click pins them (the panel ``#c{n}``)."""
    sign, word = LOOK[r.status]
    head, _, tail = r.proposals.partition(" ")
    label = f"{sign} " + (html.escape(text) if text is not None else f"<b>{html.escape(head)}</b>"
                          + (f" <i>{html.escape(tail)}</i>" if tail else ""))
    if r.runs > 1:
        label += f" <small>{r.failures}/{r.runs} failed</small>" if r.failures else \
            f" <small>\u00d7{r.runs}</small>"
    tip = "\n".join(filter(None, (f"{word} in {took(r)}: {r.where}", r.reason[:600], r.note,
                                  f"reproduce: {r.reproduce}" if r.reproduce else "",
                                  "(click to pin)")))
    return (f"<a class='m {r.status}' href='#c{n}' title='{html.escape(tip, quote=True)}'>"
            f"{label}</a>")


def took(r: Result) -> str:
    return f"{r.seconds:.1f} s" + (f" on average over {r.runs} runs" if r.runs > 1 else "")


def artifacts_link(r: Result, out_dir: Path) -> str:
    if not r.artifacts:
        return ""
    href = html.escape(os.path.relpath(r.artifacts, out_dir), quote=True)
    return f"<a class=art href='{href}'>artifacts</a>"


def panel(r: Result, n: int, out_dir: Path) -> str:
    """The pinned detail of one mark: shown while the page's address ends in ``#c{n}``."""
    sign, word = LOOK[r.status]
    art = artifacts_link(r, out_dir)
    return (f"<div class=detail id=c{n}><a class=x href='#_' title=close>\u00d7</a>"
            f"<p><span class='m {r.status}'>{sign} {html.escape(word)}</span> in {took(r)}"
            f" &nbsp;<b>{html.escape(r.where)}</b></p>"
            + (f"<pre>{html.escape(r.reason)}</pre>" if r.reason else "")
            + (f"<p>{html.escape(r.note)}</p>" if r.note else "")
            + (f"<p>reproduce: <code>{html.escape(r.reproduce)}</code></p>" if r.reproduce else "")
            + (f"<p>{art} <code>{html.escape(r.artifacts or '')}</code></p>" if art else "")
            + "</div>")


def counts_marks(counts: Counter[str]) -> str:
    def word(s: str) -> str:
        return "known incompatibilities" if s == "known" and counts[s] > 1 else LOOK[s][1]
    return " ".join(f"<span class='m {s}'>{LOOK[s][0]} {counts[s]} {word(s)}</span>"
                    for s in STATUSES if counts[s])


def side_free(reason: str) -> str:
    """A skip reason without the side it names (``right: ``): the same for both orders."""
    for side in ("left: ", "right: "):
        if reason.startswith(side):
            return reason[len(side):]
    return reason


def absent_reason(flavor: str, version: int) -> str:
    """Why a flavor has no cells in a grid, where that is because its daemon cannot take part
    (else nothing: a group may pick its pairs)."""
    impl = flavor.partition("@")[0]
    try:
        if version and not speaks(flavor, version):
            return f"{impl} does not speak IKEv{version}: no such cells are generated"
    except UsageError:
        pass
    return ""


class Grids:
    """The grids of one group of pair cells, and what they leave out."""

    def __init__(self, results: list[Result], ids: dict[int, int], out_dir: Path) -> None:
        self.ids, self.out_dir = ids, out_dir
        self.rows, self.cols = roles(results[0].group) if results else roles("")
        self.flavors = sorted({r.initiator for r in results} | {r.responder for r in results})
        self.tables: dict[tuple[int, str], list[Result]] = defaultdict(list)
        for r in results:
            self.tables[(r.version, r.mode)].append(r)
        #: (reason, flavors) -> the titles of the grids they are left out of, and how many
        #: of their cells were skipped there
        self.left_out: dict[tuple[str, tuple[str, ...]], list[tuple[str, int]]] = \
            defaultdict(list)

    @staticmethod
    def title(version: int, mode: str) -> str:
        what = {"": "", LIFECYCLE_MODE: "lifecycle events"}.get(mode, f"{mode} mode")
        return ", ".join(w for w in (f"IKEv{version}" if version else "", what) if w)

    def html(self) -> str:
        keys = sorted(self.tables, key=lambda k: (k[0], k[1]))
        grids = [self.grid(k) for k in keys]
        return self.notes() + "".join(grids)

    def hidden(self, results: list[Result], key: tuple[int, str]) -> set[str]:
        """The flavors this grid leaves out, each noted with its reason: those whose daemon
        cannot take part at all (racoon in IKEv2), and those all of whose cells were skipped
        for one reason (a flavor built without IKEv1)."""
        present = {r.initiator for r in results} | {r.responder for r in results}
        why: dict[str, list[str]] = defaultdict(list)
        for f in self.flavors:
            mine = [r for r in results if f in (r.initiator, r.responder)]
            reasons = {side_free(r.reason) for r in mine}
            if f not in present:
                reason = absent_reason(f, key[0])
                if reason:
                    why[reason].append(f)
            elif all(r.status == "skipped" for r in mine) and len(reasons) == 1:
                why[f"every cell skipped: {reasons.pop()}"].append(f)
        for reason, flavors in why.items():
            n = sum(r.initiator in flavors or r.responder in flavors for r in results)
            self.left_out[(reason, tuple(flavors))].append((self.title(*key), n))
        return {f for flavors in why.values() for f in flavors}

    def notes(self) -> str:
        """What the grids leave out, said once for all of them."""
        lines = []
        for (reason, flavors), where in self.left_out.items():
            skipped = sum(n for _, n in where)
            lines.append(f"<b>{html.escape(', '.join(flavors))}</b> not drawn in "
                         f"{html.escape(', '.join(t for t, _ in where))}: {html.escape(reason)}"
                         + (f" ({skipped} cells)" if skipped else ""))
        return "".join(f"<p class=note>{line}</p>" for line in lines)

    def grid(self, key: tuple[int, str]) -> str:
        """One grid: a mark per cell, each kind of cell on its own line in every place (so
        that a row reads across); a sparse grid is a list of pairs instead."""
        results = self.tables[key]
        gone = self.hidden(results, key)
        shown = [r for r in results if r.initiator not in gone and r.responder not in gone]
        if not shown:
            return ""
        rows = sorted({r.initiator for r in shown})
        cols = sorted({r.responder for r in shown})
        order = sorted({r.proposals for r in shown})
        at: dict[tuple[str, str], list[Result]] = defaultdict(list)
        for r in sorted(shown, key=lambda r: order.index(r.proposals)):
            at[(r.initiator, r.responder)].append(r)
        name = self.title(*key) or ("other cells" if len(self.tables) > 1 else "")
        title = f"<h3>{name}</h3>" if name else ""
        if len(at) <= len(rows) * len(cols) / 2:
            body = "".join(f"<tr><th>{html.escape(i)} → {html.escape(r)}</th>"
                           f"<td class=flow>{self.cell(rs)}</td></tr>"
                           for (i, r), rs in sorted(at.items()))
            return (f"{title}<table><tr><th>{self.rows} → {self.cols}</th><th>cells</th></tr>"
                    f"{body}</table>")
        head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
        body = "".join(
            f"<tr><th>{html.escape(i)}</th>"
            + "".join(f"<td>{self.cell(at[(i, c)], order)}</td>" for c in cols) + "</tr>"
            for i in rows)
        return (f"{title}<table><tr><th>{self.cols} →<br>{self.rows} ↓</th>{head}</tr>{body}"
                "</table>")

    def cell(self, results: list[Result], order: list[str] | None = None) -> str:
        """The marks of one place; with ``order``, one line per kind of cell, a gap where
        this pair has none of that kind."""
        marks = {r.proposals: mark(r, self.ids[id(r)]) + (
            artifacts_link(r, self.out_dir) if r.status in LOUD else "") for r in results}
        if order is None:
            return "".join(marks.values())
        last = max((order.index(w) for w in marks), default=-1)
        return "".join(f"<div>{marks.get(w, '')}</div>" for w in order[: last + 1])


def flat(results: list[Result], ids: dict[int, int], out_dir: Path) -> str:
    """Cells that are not pairs: a row per test function."""
    by_test: dict[str, list[Result]] = defaultdict(list)
    for r in results:
        by_test[r.test].append(r)
    rows = []
    for test, rs in sorted(by_test.items()):
        words = test.removeprefix("test_").replace("_", " ")
        marks = "".join(mark(r, ids[id(r)], LOOK[r.status][1] if r.proposals == words else None)
                        + (artifacts_link(r, out_dir) if r.status in LOUD else "")
                        for r in sorted(rs, key=lambda r: r.proposals))
        rows.append(f"<tr><th>{html.escape(words)}</th><td>{marks}</td></tr>")
    return f"<table>{''.join(rows)}</table>"


def first_line(text: str, most: int = 300) -> str:
    line = (text.splitlines() or [""])[0]
    return line if len(line) <= most else line[: most - 1] + "\u2026"


def nav(results: list[Result]) -> str:
    """Links to the sections, each with its loud cells' count."""
    links = []
    for g in ordered_groups(results):
        loud = Counter(r.status for r in results if r.group == g and r.status in LOUD)
        marks = "".join(f" <span class='m {s}'>{LOOK[s][0]} {n}</span>" for s, n in loud.items())
        links.append(f"<a href='#g-{g.replace(' ', '-')}'>{html.escape(g)}</a>{marks}")
    return "<p>" + " · ".join(links) + "</p>"


def look_list(results: list[Result], ids: dict[int, int], out_dir: Path) -> str:
    """The cells that need a look, at the top: failed, XPASS, intermittent."""
    loud = sorted((r for r in results if r.status in LOUD),
                  key=lambda r: (LOUD.index(r.status), r.group, r.where))
    if not loud:
        return "<p class='banner good'>✓ No cell failed.</p>"
    items = "".join(
        f"<li>{mark(r, ids[id(r)], r.group + ': ' + r.where)} {artifacts_link(r, out_dir)}"
        f"<br>{html.escape(first_line(r.reason))}"
        + (f"<br>reproduce: <code>{html.escape(r.reproduce)}</code>" if r.reproduce else "")
        + "</li>" for r in loud)
    return (f"<p class='banner bad'>✗ {len(loud)} cell{'s' if len(loud) > 1 else ''} need"
            f"{'' if len(loud) > 1 else 's'} a look:</p><ul class=look>{items}</ul>")


def page(results: list[Result], out_dir: Path, extra: str = "") -> str:
    """The whole page; ``extra`` is more HTML for its end (the racoon releases compared)."""
    ids = {id(r): n for n, r in enumerate(results)}
    groups = ordered_groups(results)
    parts = ["<!doctype html><meta charset=utf-8><title>ipsec-lab interop matrix</title>"
             f"<style>{STYLE}</style><h1>ipsec-lab interop matrix</h1>"
             f"<p class=head>{counts_marks(Counter(r.status for r in results))}</p>",
             look_list(results, ids, out_dir),
             "<p>Each mark is one cell and names it: the proposal set, then what differs from"
             " host-to-host, IPv6, PSK and a plain path (a lifecycle cell: its event). Rows are"
             " the initiator, columns the responder (road warriors: the gateway and its clients;"
             " hubs: the hub and its spokes). Hover a mark for its reason, time and"
             " <code>reproduce:</code> line; click it to pin them.</p>", nav(results)]
    for g in groups:
        rs = [r for r in results if r.group == g]
        pairs, others = [r for r in rs if r.initiator], [r for r in rs if not r.initiator]
        parts.append(f"<h2 id='g-{g.replace(' ', '-')}'>{html.escape(g)} <span class=count>"
                     f"{counts_marks(Counter(r.status for r in rs))}</span></h2>")
        if pairs:
            parts.append(Grids(pairs, ids, out_dir).html())
        if others:
            parts.append(flat(others, ids, out_dir))
    parts.append(extra)
    parts += [panel(r, n, out_dir) for n, r in enumerate(results)]
    return "".join(parts) + "\n"
