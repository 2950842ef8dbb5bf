"""--lab-repeat: run ids, the pass ratio per cell, intermittent cells first."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from lab.errors import UsageError
from lab.repeat import RepeatReport, base_id, parse_repeat, run_ids, status_of, tally

CELL = "scenarios/test_matrix.py::test_interop[racoon->strongswan@bookworm-ikev1-transport-3des-md5"


def test_parse_repeat() -> None:
    assert parse_repeat(None) == 1 and parse_repeat("5") == 5
    for bad in ("0", "-1", "x", "1001"):
        with pytest.raises(UsageError, match=rf"--lab-repeat: '{bad}' is not allowed \(allowed: a"
                                             " whole number from 1 to 1000\\)"):
            parse_repeat(bad)


def test_run_ids_and_base_id() -> None:
    assert run_ids(3) == ["rep1of3", "rep2of3", "rep3of3"]
    assert base_id(CELL + "-rep2of5]") == (CELL + "]", 2, 5)
    assert base_id(CELL + "]") == (CELL + "]", 1, 1)


def test_fails_one_time_in_five_is_named_and_listed_first() -> None:
    runs = [(f"{CELL}-rep{i}of5]", "failed" if i == 3 else "passed",
             "NegotiationError: negotiation failed: AUTHENTICATION_FAILED: strongswan (left):"
             " could not decrypt payloads\nmore") for i in range(1, 6)]
    runs += [(f"x[a-rep{i}of5]", "passed", "") for i in range(1, 6)]
    runs += [(f"x[b-rep{i}of5]", "failed", "boom") for i in range(1, 6)]
    cells = tally(runs)
    assert [c.describe() for c in cells] == [
        f"{CELL}]: fails 1 time in 5 (intermittent): NegotiationError: negotiation failed:"
        " AUTHENTICATION_FAILED: strongswan (left): could not decrypt payloads",
        "x[b]: fails 5 of 5: boom",
        "x[a]: passed 5 of 5",
    ]
    assert cells[0].intermittent and not cells[1].intermittent


def _report(when: str, outcome: str, **extra: object) -> SimpleNamespace:
    return SimpleNamespace(when=when, outcome=outcome, failed=outcome == "failed",
                           skipped=outcome == "skipped", passed=outcome == "passed", **extra)


def test_status_of_each_phase() -> None:
    assert status_of(_report("setup", "passed")) is None
    assert status_of(_report("setup", "skipped")) == "skipped"
    assert status_of(_report("call", "passed")) == "passed"
    assert status_of(_report("call", "skipped", wasxfail="known")) == "xfailed"
    assert status_of(_report("teardown", "failed")) == "failed"


def test_a_teardown_failure_overrides_a_passing_call() -> None:
    report = RepeatReport(2)
    node = "t[a-rep1of2]"
    for when, outcome in (("setup", "passed"), ("call", "passed"), ("teardown", "failed")):
        report.pytest_runtest_logreport(_report(when, outcome, nodeid=node,  # type: ignore[arg-type]
                                                longrepr="left a namespace"))
    assert report.results[node] == ("failed", "left a namespace")
