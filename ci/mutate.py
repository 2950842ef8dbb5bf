#!/usr/bin/env python3
"""Mutation testing of the verdict: mutmut over the modules ``[tool.mutmut]`` names in
pyproject.toml, against the fast pure tests listed there; prints the score per module and
every survivor that ``[tool.ipsec-lab.equivalent-mutants]`` does not explain.

    .venv/bin/python ci/mutate.py                 # run (results are cached in mutants/)
    .venv/bin/python ci/mutate.py --report        # only print the last run's results
    .venv/bin/python ci/mutate.py 'lab.wire.verdict.*'   # only these mutants

Exit status 1 when the score is below ``--min`` (percent of non-equivalent mutants killed).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import tomllib
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KILLED = {1, 3, 37}  # mutmut's exit codes that mean a test failed (or pytest errored)
#: mutmut's codes for a mutant whose tests never ended (an endless loop), stopped by its
#: timeout: the tests did not pass, so the mutant is caught
TIMED_OUT = {-24, 24, 36, 152, 255}
KILLED |= TIMED_OUT


def equivalents(root: Path) -> dict[str, str]:
    """Mutant name -> why it behaves as the original (one line each, in pyproject.toml)."""
    data = tomllib.loads((root / "pyproject.toml").read_text())
    return data.get("tool", {}).get("ipsec-lab", {}).get("equivalent-mutants", {})


def results(root: Path) -> dict[str, int | None]:
    """Every mutant of the last run -> mutmut's exit code for it (None: not run)."""
    out: dict[str, int | None] = {}
    for meta in sorted((root / "mutants").rglob("*.py.meta")):
        out.update(json.loads(meta.read_text()).get("exit_code_by_key", {}))
    return out


def module_of(mutant: str) -> str:
    """``lab.wire.verdict.x_judge__mutmut_3`` -> ``lab.wire.verdict``."""
    return mutant.split(".x")[0] if ".x_" in mutant or ".xǁ" in mutant else mutant


def changed_lines(mutant: str) -> str:
    """The mutated line(s) of a survivor, as mutmut's diff gives them."""
    from mutmut.mutation.diff_apply import get_diff_for_mutant

    diff = get_diff_for_mutant(mutant).splitlines()
    minus = [d[1:].strip() for d in diff if d.startswith("-") and not d.startswith("---")]
    plus = [d[1:].strip() for d in diff if d.startswith("+") and not d.startswith("+++")]
    return f"{' / '.join(minus)}  ->  {' / '.join(plus)}"


def score(codes: dict[str, int | None], equivalent: dict[str, str]) -> tuple[int, int, list[str]]:
    """(killed, counted, survivors) over the mutants that are not explained as equivalent."""
    counted = {m: c for m, c in codes.items() if m not in equivalent}
    survivors = sorted(m for m, c in counted.items() if c not in KILLED)
    return len(counted) - len(survivors), len(counted), survivors


def report(root: Path, minimum: float) -> int:
    codes, equivalent = results(root), equivalents(root)
    per: dict[str, Counter[str]] = defaultdict(Counter)
    for m, c in codes.items():
        kind = "equivalent" if m in equivalent else "killed" if c in KILLED else "survived"
        per[module_of(m)][kind] += 1
    print(f"{'module':32} killed / counted  equivalent")
    for module, n in sorted(per.items()):
        total = n["killed"] + n["survived"]
        print(f"{module:32} {n['killed']:5} / {total:<5} {100 * n['killed'] / max(total, 1):5.1f}%"
              f"  {n['equivalent']}")
    killed, counted, survivors = score(codes, equivalent)
    stale = sorted(set(equivalent) - set(codes))
    os.chdir(root)  # mutmut finds its mutants and configuration from the current directory
    for m in survivors:
        print(f"survived {m}: {changed_lines(m)}" if codes[m] == 0 else f"{m}: exit {codes[m]}")
    for m in stale:
        print(f"stale equivalent-mutants entry (no such mutant now): {m}")
    percent = 100 * killed / max(counted, 1)
    print(f"score: {killed} of {counted} killed ({percent:.1f}%), {len(equivalent) - len(stale)}"
          f" equivalent, {len(survivors)} survived")
    return 0 if percent >= minimum else 1


def run(root: Path, names: list[str]) -> None:
    mutmut = Path(sys.executable).with_name("mutmut")
    # mutmut maps tests to code again only for new test files, not for edited ones: a stale
    # map would leave mutants that the edited tests now kill counted as survivors
    (root / "mutants" / "mutmut-stats.json").unlink(missing_ok=True)
    subprocess.run(["nice", "-n", "19", str(mutmut), "run", *names], cwd=root, check=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="mutant names or globs (default: all)")
    parser.add_argument("--report", action="store_true", help="print the last run's results only")
    parser.add_argument("--min", type=float, default=90.0, help="least score in percent")
    args = parser.parse_args()
    if not args.report:
        start = time.monotonic()
        run(ROOT, args.names)
        print(f"mutation run: {time.monotonic() - start:.0f} s")
    return report(ROOT, args.min)


if __name__ == "__main__":
    sys.exit(main())
