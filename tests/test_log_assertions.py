"""Log assertions: per side, patterns that must and must not appear in the daemon's log,
checked at load time (one line for a bad one) and by the verdict (naming side, pattern, file)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from lab.cell import Cell
from lab.errors import ScenarioError
from lab.logcheck import judge_log
from lab.scenario import Scenario, load_scenario, scenario_from_dict, scenario_to_toml

LEFT, RIGHT = "2001:db8:1:1::1", "2001:db8:2:2::2"
LOG = """Dec  5 18:00:01 10[IKE] <lab|1> IKE_SA lab[1] established between ...
Dec  5 18:00:01 10[IKE] <lab|1> CHILD_SA lab{1} established with SPIs c1a2b3c4_i 0badf00d_o
Dec  5 18:00:02 12[IKE] <lab|1> retransmit 1 of request with message ID 2
"""


def scenario(**left: object) -> Scenario:
    return scenario_from_dict({"name": "t", "left": {"address": LEFT, **left},
                               "right": {"address": RIGHT}}, "t.toml")


def test_the_patterns_are_read_per_side() -> None:
    s = scenario(log_must=[r"CHILD_SA lab\{\d+\} established"], log_must_not=["retransmit"])
    assert s.left.log_must == (r"CHILD_SA lab\{\d+\} established",)
    assert s.left.log_must_not == ("retransmit",)
    assert s.right.log_must == s.right.log_must_not == ()


@pytest.mark.parametrize(("value", "words"), [
    (["ok", "CHILD_SA (lab"], "t.toml: left.log_must[1]: 'CHILD_SA (lab' is not a regular expression:"
                              " missing ), unterminated subpattern at position 9 (allowed: a list"),
    ("established", "t.toml: left.log_must: 'established' is not a list (allowed: a list"),
    ([""], "t.toml: left.log_must[0]: '' is not a pattern of 1 to 400 characters"),
    ([5], "t.toml: left.log_must[0]: 5 is not a pattern"),
])
def test_a_bad_pattern_is_one_line_at_load_time(value: object, words: str) -> None:
    with pytest.raises(ScenarioError) as exc:
        scenario(log_must=value)
    assert "\n" not in str(exc.value) and str(exc.value).startswith(words), str(exc.value)


def test_a_scenario_with_patterns_round_trips(tmp_path: Path) -> None:
    s = scenario(log_must=[r"a\{1\}"], log_must_not=['"quoted" #'])
    path = tmp_path / "s.toml"
    path.write_text(scenario_to_toml(s))
    back = load_scenario(path)
    assert (back.left.log_must, back.left.log_must_not) == (s.left.log_must, s.left.log_must_not)


def test_the_verdict_names_side_pattern_and_log_file() -> None:
    found = judge_log("left (strongswan)", "/runs/left/charon.log", LOG, (r"CHILD_SA lab\{\d+\} established",
                                                       "IKE_SA lab\\[2\\] established"),
                      ("retransmit", "deleting"))
    assert found == [
        "log: left (strongswan): no line matches log_must 'IKE_SA lab\\\\[2\\\\] established'"
        " in /runs/left/charon.log",
        "log: left (strongswan): log_must_not 'retransmit' matches line 3 of /runs/left/charon.log:"
        " 'Dec  5 18:00:02 12[IKE] <lab|1> retransmit 1 of request with message ID 2'",
    ]


def test_the_cell_checks_each_sides_daemon_log(tmp_path: Path) -> None:
    log = tmp_path / "charon.log"
    log.write_text(LOG)
    daemon = SimpleNamespace(name="strongswan", log_path=log, log_text=log.read_text)
    quiet = SimpleNamespace(name="libreswan", log_path=tmp_path / "pluto.log", log_text=lambda: "")
    s = scenario(log_must=["IKE_SA lab\\[1\\] established"], log_must_not=["retransmit"])
    fake = SimpleNamespace(scenario=s, daemons={"left": daemon, "right": quiet})
    found = Cell.log_findings(fake)  # type: ignore[arg-type]
    assert found == ["log: left (strongswan): log_must_not 'retransmit' matches line 3 of"
                     " left/charon.log of the run directory:"
                     " 'Dec  5 18:00:02 12[IKE] <lab|1> retransmit 1 of request with message ID 2'"]
