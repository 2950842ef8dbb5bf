"""`ipsec-lab run` applies scenarios/known-incompatibilities.toml as the pytest cells do:
a failure an entry explains is KNOWN with its id (exit 3), a strict entry's pass fails."""

from __future__ import annotations

from pathlib import Path

from lab.cli.summary import KNOWN_FILE, known_entry, print_summary
from lab.known import KNOWN_EXIT, judge_run, load, parse
from lab.matrix import LifecycleCell

FILE = Path(__file__).parent.parent / "scenarios" / "known-incompatibilities.toml"
KILLED = LifecycleCell("strongswan@bookworm", "libreswan@sid", 2, "restart", "initiator")
#: the findings of that cell, measured 2026-12-05 (strongSwan 5.9.8 -> Libreswan 5.2)
FINDINGS = ["restart: stale SAs of the killed daemon's connection left: left {0x30791334,"
            " 0xc5a4ffd5}; right {}",
            "after the restart: left's kernel holds 4 ESP SA(s), expected one pair: ..."]


def _entry(intermittent: bool = False):  # type: ignore[no-untyped-def]
    raw = {"id": "x-y", "what": "w", "reference": "r", "fails_with": ["^boom"],
           "intermittent": intermittent, "one": {"flavors": ["*"]}, "other": {"flavors": ["*"]}}
    return parse({"incompatibility": [raw]}, "k.toml").entries[0]


def test_run_reads_the_file_the_pytest_cells_read() -> None:
    # scenarios/ links to the package's file (a copy where mutmut copies the tree)
    assert KNOWN_FILE.parent.name == "lab" and FILE.read_text() == KNOWN_FILE.read_text()


def test_strongswan_killed_with_sigkill_is_an_entry_of_the_file() -> None:
    entry = load(FILE).matching(KILLED.scenario())
    assert entry is not None and entry.id == "strongswan-sigkill-leaves-sas"
    assert entry.explains_all(FINDINGS)
    assert known_entry(KILLED.scenario()).id == entry.id  # type: ignore[union-attr]
    # the other end acting (pluto killed) is not that entry
    assert known_entry(LifecycleCell("libreswan@bookworm", "strongswan@sid", 2, "restart",
                                     "initiator").scenario()) is None


def test_a_failure_the_entry_explains_is_known_with_its_id() -> None:
    end = judge_run(_entry(), ["boom: it broke"])
    assert end.status == KNOWN_EXIT == 3
    assert end.line.startswith("KNOWN: known incompatibility x-y (k.toml): w")


def test_a_new_finding_beside_a_known_one_fails() -> None:
    end = judge_run(_entry(), ["boom", "something else"])
    assert end.status == 1 and "not as known incompatibility x-y says" in end.line


def test_a_strict_entrys_pass_fails_loudly_an_intermittent_ones_passes() -> None:
    assert judge_run(_entry(), []).status == 1
    assert "x-y is GONE" in judge_run(_entry(), []).line
    assert judge_run(_entry(intermittent=True), []) == judge_run(None, []).__class__(
        "PASS (intermittent known incompatibility x-y did not show)", 0)


def test_without_an_entry_pass_is_0_and_fail_is_1() -> None:
    assert judge_run(None, []) == judge_run(None, []).__class__("PASS", 0)
    assert judge_run(None, ["x"]) == judge_run(None, []).__class__("FAIL", 1)


def test_the_summary_ends_with_known_and_returns_its_status(capsys) -> None:  # type: ignore[no-untyped-def]
    result = {"sas": {}, "wire": [], "ping": "", "verdict": [], "decryption": "", "error": None,
              "problems": FINDINGS, "timings": {}, "rundir": "/r"}
    status = print_summary(result, known_entry(KILLED.scenario()))
    out = capsys.readouterr().out.splitlines()
    assert status == 3
    assert out[-1].startswith("KNOWN: known incompatibility strongswan-sigkill-leaves-sas")
