"""What a cell produced, in a form two runs of the same cell can be compared in: the
outcome, the verdict's counts and findings, the negotiated parameters, or the error,
with what differs from run to run by nature (SPIs, state numbers, directories,
durations) replaced by placeholders. scenarios/test_warm.py compares a cell run on
kept daemons (lab.warm) with the same cell run on fresh ones."""

from __future__ import annotations

import re
from typing import Protocol

from lab.negotiated import Negotiated
from lab.outcome import Outcome
from lab.wire.verdict import Verdict

SPI = re.compile(r"\b0x[0-9a-f]{8}\b")
#: run-to-run noise: a state or SA number, a work directory, a duration, a counter in brackets
NOISE = ((re.compile(r"#\d+"), "#N"), (re.compile(r"/tmp/ipl-[^\s/]+"), "/tmp/DIR"),
         (re.compile(r"\b\d+\.\d+ ?s\b"), "T s"), (re.compile(r"\[\d+\]"), "[N]"))


class Ran(Protocol):
    outcome: Outcome | None
    verdict: Verdict | None
    negotiated: Negotiated | None


def normalized(lines: list[str]) -> list[str]:
    """The lines with each SPI named by its order of first appearance (s1, s2, ...: the
    pairing of SPIs between the sides stays visible) and the noise replaced."""
    names: dict[str, str] = {}

    def spi(m: re.Match[str]) -> str:
        return names.setdefault(m.group(0), f"s{len(names) + 1}")

    out = []
    for line in lines:
        line = SPI.sub(spi, line)
        for pattern, placeholder in NOISE:
            line = pattern.sub(placeholder, line)
        out.append(line)
    return out


def results(cell: Ran, error: BaseException | None) -> dict[str, object]:
    """The cell's results as the verdict produces them, comparable between runs."""
    out: dict[str, object] = {}
    if cell.outcome is not None:
        out["outcome"] = (cell.outcome.cls, cell.outcome.sas)
    if cell.verdict is not None:
        v = cell.verdict
        out["packets"] = (v.esp_packets, v.echo_packets)
        out["problems"] = normalized(v.problems)
        out["findings"] = normalized([f"{p.kind}: {p}" for p in v.findings])
    if cell.negotiated is not None:
        out["negotiated"] = normalized(cell.negotiated.lines)
        out["negotiated problems"] = normalized([str(p) for p in cell.negotiated.problems])
    if error is not None:
        first = str(error).strip().splitlines()[:1]
        out["error"] = [type(error).__name__, *normalized(first)]
    return out


def differences(a: dict[str, object], b: dict[str, object], names: tuple[str, str]) -> list[str]:
    """One line per result that differs between ``a`` and ``b`` (named ``names``)."""
    return [f"{key}: {names[0]} {a.get(key)!r}, {names[1]} {b.get(key)!r}"
            for key in dict.fromkeys([*a, *b]) if a.get(key) != b.get(key)]
