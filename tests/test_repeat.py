"""--lab-repeat: run ids, the pass ratio per cell, intermittent cells first."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from lab.errors import UsageError
from lab.matrix import cell_id
from lab.repeat import RepeatReport, base_id, parse_repeat, run_ids, status_of, tally

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ci"))
import report

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


def test_report_marks_intermittent_known_and_xpass_cells(tmp_path: Path) -> None:
    """ci/report.py: the runs of a cell make one mark; 1 failure in 5 is intermittent; a
    strict xfail of a known incompatibility and its XPASS have their own marks."""
    flaky = cell_id("strongswan@bookworm", "racoon", "ikev1", "transport", "3des-md5")
    known = cell_id("racoon", "libreswan@sid", "ikev1", "tunnel", "aes256-sha256")
    gone = cell_id("racoon", "strongswan@bookworm", "ikev1", "tunnel", "aes256-sha256")
    cases = [f'<testcase name="test_interop[{flaky}-rep{i}of5]" time="2">'
             + ('<failure message="NegotiationError: AUTHENTICATION_FAILED: could not decrypt'
                ' payloads"/>' if i == 3 else "") + "</testcase>" for i in range(1, 6)]
    cases.append(f'<testcase name="test_interop[{known}]" time="2"><skipped type="pytest.xfail"'
                 ' message="known incompatibility pfkey-hmac-sha256-96 (x.toml): ..."/></testcase>')
    cases.append(f'<testcase name="test_interop[{gone}]" time="2"><failure message="XPASS: known'
                 ' incompatibility pfkey-hmac-sha256-96 is GONE"/></testcase>')
    xml = tmp_path / "junit.xml"
    xml.write_text("<testsuites><testsuite>" + "".join(cases) + "</testsuite></testsuites>")
    results = {(r.initiator, r.responder): r for r in report.read([xml])}
    r = results[("strongswan@bookworm", "racoon")]
    assert (r.status, r.runs, r.failures) == ("intermittent", 5, 1)
    assert r.reason.startswith("fails 1 time in 5: NegotiationError: AUTHENTICATION_FAILED")
    assert results[("racoon", "libreswan@sid")].status == "known"
    assert results[("racoon", "strongswan@bookworm")].status == "xpass"
    html = report.page(list(results.values()), tmp_path)
    assert "m intermittent" in html and "m known" in html and "m xpass" in html
    md = report.summary(list(results.values()))
    assert "1 intermittent" in md and "1 known incompatibilities (xfail)" in md
    assert "fails 1 time in 5" in md
