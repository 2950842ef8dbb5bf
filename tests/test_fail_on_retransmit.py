"""fail_on_retransmit: any IKE message a daemon sends again fails the cell's verdict."""

from __future__ import annotations

import pytest

from lab.errors import ScenarioError
from lab.scenario import scenario_from_dict, scenario_to_dict
from lab.wire.retransmit import IkeCount, findings

SIDES = {"left": {"address": "2001:db8:1:1::1"}, "right": {"address": "2001:db8:2:2::2"}}


def test_a_retransmission_is_a_finding_naming_the_side() -> None:
    counts = {"left": IkeCount(5, 2), "right": IkeCount(4, 0)}
    assert findings(counts, {"left": "left (libreswan)"}) == [
        "retransmit: left (libreswan) sent 2 of its 5 IKE packets again (fail_on_retransmit = true)"]
    assert findings({"left": IkeCount(3, 0)}, {}) == []


def test_the_key_is_read_checked_and_written_back() -> None:
    s = scenario_from_dict({"name": "t", "fail_on_retransmit": True, **SIDES}, "t.toml")
    assert s.fail_on_retransmit is True
    assert scenario_to_dict(s)["fail_on_retransmit"] is True
    assert "fail_on_retransmit" not in scenario_to_dict(s.with_(fail_on_retransmit=False))
    with pytest.raises(ScenarioError, match=r"t.toml: fail_on_retransmit: 1 is not allowed"
                                            r" \(allowed: False, True\)"):
        scenario_from_dict({"name": "t", "fail_on_retransmit": 1, **SIDES}, "t.toml")
