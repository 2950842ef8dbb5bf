"""What `ipsec-lab run` and `up` print: the scenario's settings beyond the usual, and the
result (SAs, wire, verdict, timings), judged against the known incompatibilities as the
pytest cells are."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lab.known import Incompatibility, judge_run, run_version
from lab.known import load as load_known
from lab.native import risky as risky_native
from lab.native import summary as native_summary
from lab.scenario.allowed import SIDES
from lab.scenario.model import Scenario

#: the known incompatibilities `run` applies as the pytest cells do
#: the findings (scenarios/known-incompatibilities.toml links to it; it ships in the wheel)
KNOWN_FILE = Path(__file__).resolve().parents[1] / "known-incompatibilities.toml"


def failures(result: dict[str, Any]) -> list[str]:
    """What failed in an agent's result: its error, else the verdict's problems."""
    return [result["error"]] if result["error"] else list(result["problems"])


def print_summary(result: dict[str, Any], known: Incompatibility | None = None) -> int:
    """The result as `run` and `up` print it; the exit status (lab.known.judge_run)."""
    for side, sas in result["sas"].items():
        print(f"SAs in {side}:")
        for sa in sas:
            print(f"  {sa}")
    print("on the wire:")
    for line in result["wire"]:
        print(f"  {line}")
    if result.get("outcome"):
        print(f"outcome: {result['outcome']}")
    if result["ping"]:
        print(result["ping"])
    if result.get("negotiated"):
        print("negotiated:")
        for line in result["negotiated"]:
            print(f"  {line}")
    for line in result["verdict"]:
        print(f"verdict: {line}")
    if result["decryption"]:
        print(f"decryption: {result['decryption']}")
    for line in result.get("probes", []):
        print(f"must not pass: {line}")
    for problem in result["problems"]:
        print(f"PROBLEM: {problem}")
    if result["error"]:
        print(f"FAILED: {result['error']}")
    for line in result.get("path", []):
        print(line)
    times = ", ".join(f"{k} {v:.2f} s" for k, v in result["timings"].items())
    print(f"timings: {times}")
    print(f"artifacts: {result['rundir']}")
    end = judge_run(known, failures(result))
    print(end.line)
    return end.status


def known_entry(s: Scenario) -> Incompatibility | None:
    """The first entry of scenarios/known-incompatibilities.toml the scenario matches, as
    the pytest cells apply it (none when the file is not beside the package)."""
    if not KNOWN_FILE.is_file():
        return None
    return load_known(KNOWN_FILE, f"scenarios/{KNOWN_FILE.name}").matching(s, run_version)


def print_settings(s: Scenario) -> None:
    """What the scenario adds to the usual: identities, certificates, native lines."""
    ids = [f"{side} {s.identity(side)}" for side in SIDES if s.peer(side).id is not None]
    if ids or s.auth != "psk":
        print(f"auth: {s.auth}; ids: {', '.join(ids) or 'the addresses'}")
    for side in SIDES:
        for line in native_summary(s.peer(side).native, side):
            print(f"native: {line}")
        for line in risky_native(s.peer(side).native, side):
            print(f"warning: {line}: runs a command or opens a file as root in the guest, on"
                  " the host's file system (read-only to a lab started as root; docs/scenarios.md:"
                  " native settings)")
