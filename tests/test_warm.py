"""The pure parts of warm daemons: which cells stay cold, what the namespaces are keyed
on, and how two runs' results are compared (lab.warm, lab.warmcheck)."""

from __future__ import annotations

from dataclasses import replace

from lab.scenario import seed_scenario
from lab.topology.path import PathSpec
from lab.warm import cold_reason, topology_key
from lab.warmcheck import differences, normalized


def test_a_plain_cell_may_be_warm_and_lifecycle_path_and_fault_cells_stay_cold() -> None:
    s = seed_scenario()
    assert cold_reason(s) is None
    assert "lifecycle" in (cold_reason(s.with_(lifecycle="delete")) or "")
    assert "fault" in (cold_reason(s.with_(fault="nd-deadlock")) or "")
    assert "path" in (cold_reason(s.with_(topology="routed", path=PathSpec(loss=20))) or "")


def test_the_namespaces_are_kept_for_the_same_topology_and_addresses_only() -> None:
    s = seed_scenario()
    assert topology_key(s) == topology_key(s.with_(mode="tunnel", psk="other"))
    assert topology_key(s) != topology_key(s.with_(left=replace(s.left, address="2001:db8:1:1::7")))
    assert topology_key(s) != topology_key(s.with_(topology="routed"))


def test_spis_are_named_by_first_appearance_and_noise_is_replaced() -> None:
    a = normalized(["out spi 0xc50d477e in spi 0x2b146a31", "peer in 0xc50d477e",
                    "#12: established in 0.53 s in /tmp/ipl-1.2-3-x7/left"])
    b = normalized(["out spi 0x11111111 in spi 0x22222222", "peer in 0x11111111",
                    "#3: established in 0.02 s in /tmp/ipl-9.9-1-q1/left"])
    assert a == b == ["out spi s1 in spi s2", "peer in s1", "#N: established in T s in /tmp/DIR/left"]
    # a pairing that differs is a difference
    assert normalized(["0xaaaaaaaa 0xbbbbbbbb", "0xaaaaaaaa"]) != normalized(["0x1 0xcccccccc", "0xdddddddd"])


def test_differences_name_each_result_that_differs() -> None:
    warm = {"outcome": ("established", True), "packets": (6, 6)}
    cold = {"outcome": ("established", True), "packets": (4, 6), "error": ["VerdictError", "x"]}
    assert differences(warm, cold, ("warm", "cold")) == [
        "packets: warm (6, 6), cold (4, 6)", "error: warm None, cold ['VerdictError', 'x']"]
    assert differences(warm, dict(warm), ("warm", "cold")) == []
