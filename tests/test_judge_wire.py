"""The lifecycle wire judge's exact words and edges: times on the guest's wall clock
shifted to the cell's origin, the listing of each direction's SPIs, clear-text echoes
(tunnel inner addresses too), SPIs held too late or gone too early, a reserved SPI or
sequence number on the wire, the boundaries of each slack and window, and many losses."""

from __future__ import annotations

from lab.lifecycle.judge import SILENT_GRACE, SLACK, Wire, describe_loss, esp_runs, judge_wire
from lab.wire.packets import Packet
from lab.wire.stream import Loss, StreamResult
from lab.xfrm_monitor import SaLife

A, B = "2001:db8:1:1::1", "2001:db8:2:2::2"
C, D = "10.1.0.1", "10.2.0.1"  # a tunnel's inner addresses
ORIGIN, WALL = 100.0, 1000.0  # the cell's origin (monotonic), wall minus monotonic


def esp(t: float, src: str, dst: str, spi: int, seq: int, wall: float = WALL + ORIGIN) -> Packet:
    return Packet(ts=wall + t, src=src, dst=dst, proto=50, spi=spi, seq=seq)


def ping(t: float, src: str, dst: str, wall: float = WALL + ORIGIN) -> Packet:
    v6 = ":" in src
    return Packet(ts=wall + t, src=src, dst=dst, proto=58 if v6 else 1, icmp_type=128 if v6 else 8)


def held(*spis: int, added: float = -1.0, deleted: float | None = None,
         origin: float = ORIGIN) -> dict[int, SaLife]:
    return {spi: SaLife(None, origin + added, None if deleted is None else origin + deleted)  # type: ignore[arg-type]
            for spi in spis}


def stream(sent: dict[int, float], answered: set[int], origin: float = ORIGIN) -> StreamResult:
    s = StreamResult(ident=1, family=6, src=A, dst=B, started=origin, stopped=origin + 100)
    s.sent = {seq: origin + t for seq, t in sent.items()}
    s.answered = {seq: origin + t + 0.01 for seq, t in sent.items() if seq in answered}
    return s


def small_wire() -> list[Packet]:
    return [ping(0.0, "fe80::1", "fe80::2"), esp(0.0, A, B, 1, 1), esp(0.05, B, A, 2, 1),
            esp(0.1, A, B, 1, 2), esp(0.15, B, A, 2, 2), esp(0.2, A, B, 1, 3),
            esp(0.3, A, "2001:db8:9::9", 7, 1)]


def test_the_wire_per_direction_in_the_cells_time() -> None:
    sas = held(1, 2)
    wire, problems = judge_wire(small_wire(), (A, B), {"left": sas, "right": sas},
                                stream({1: 0.0, 2: 0.1}, {1, 2}), [(0.0, 5.0)], ORIGIN, WALL)
    assert problems == []
    assert wire.lines() == [f"{A} -> {B}: spi 0x00000001: 3 packets, seq 1..3, 0.000..0.200 s",
                            f"{B} -> {A}: spi 0x00000002: 2 packets, seq 1..2, 0.050..0.150 s"]
    assert wire.spis(A, "2001:db8:9::9") == [] and wire.last_before(A, C, 1.0) is None
    # without a wall offset the capture's times are the monotonic clock's
    plain = esp_runs([esp(0.5, A, B, 1, 1, wall=ORIGIN)], (A, B), ORIGIN)
    assert plain.lines() == [f"{A} -> {B}: spi 0x00000001: 1 packets, seq 1..1, 0.500..0.500 s",
                             f"{B} -> {A}: nothing"]


def test_a_reserved_spi_or_sequence_number_on_the_wire_is_named() -> None:
    sas = held(1, 2)
    packets = [esp(0.0, A, B, 0, 1), esp(0.1, A, B, 1, 0), esp(0.2, B, A, 2, 1)]
    _, problems = judge_wire(packets, (A, B), {"left": sas}, stream({1: 0.0}, {1}),
                             [(0.0, 5.0)], ORIGIN, WALL)
    assert problems == [
        f"(b) {A} -> {B} spi 0x00000000 on the wire at 0.000 s: left's kernel never held it",
        f"(c) {A} -> {B} spi 0x00000001: sequence number 0 where 1 was due (seq [0]...),"
        " expected 1, 2, 3, ..."]


def test_clear_text_echoes_between_the_peers_or_their_inner_addresses() -> None:
    sas = held(1, 2)
    packets = [*small_wire(), ping(0.5, A, B), ping(0.6, B, A), ping(7.0, A, B)]
    _, problems = judge_wire(packets, (A, B), {"left": sas}, stream({}, set()), [(0.0, 5.0)],
                             ORIGIN, WALL)
    assert problems == [f"(a) 2 echo packet(s) in clear text, first at 0.500 s: {A} > {B}:"
                        " ICMP6 type 128"]
    inner = [ping(7.0, C, D), ping(0.7, C, D), ping(0.8, C, "10.9.9.9")]
    _, problems = judge_wire(small_wire() + inner, (A, B), {"left": sas}, stream({}, set()),
                             [(0.0, 5.0)], ORIGIN, WALL, inner={C, D})
    assert problems == [f"(a) 1 echo packet(s) in clear text, first at 0.700 s: {C} > {D}:"
                        " ICMP type 8"]


def test_an_spi_held_too_late_or_gone_too_early_names_both_times() -> None:
    late = {**held(1, added=0.7), **held(2)}
    gone = {**held(1, deleted=-0.5), **held(2, deleted=4.0)}
    _, problems = judge_wire(small_wire(), (A, B), {"left": late, "right": gone},
                             stream({}, set()), [(0.0, 5.0)], ORIGIN, WALL)
    assert problems == [
        f"(b) {A} -> {B} spi 0x00000001 on the wire 0.000..0.200 s but left's kernel held it"
        " 0.700..- s",
        f"(b) {A} -> {B} spi 0x00000001 on the wire 0.000..0.200 s but right's kernel held it"
        " -1.000..-0.500 s"]


def test_the_slacks_are_inclusive_at_their_edges() -> None:
    first, last = 1.0, 2.0
    packets = [esp(first, A, B, 1, 1, wall=0.0), esp(last, A, B, 1, 2, wall=0.0),
               esp(last + SILENT_GRACE, A, B, 1, 3, wall=0.0), esp(last, A, B, 3, 1, wall=0.0)]
    edge = {1: SaLife(None, first + SLACK, last + SILENT_GRACE - SLACK),  # type: ignore[arg-type]
            3: SaLife(None, 0.0)}  # type: ignore[arg-type]
    _, problems = judge_wire(packets, (A, B), {"left": edge}, stream({}, set(), 0.0),
                             [(0.0, 5.0)], 0.0)
    assert problems == []
    # a hair beyond each edge is a problem
    beyond = {1: SaLife(None, first + SLACK + 0.001, last + SILENT_GRACE - SLACK - 0.001),  # type: ignore[arg-type]
              3: SaLife(None, 0.0)}  # type: ignore[arg-type]
    late = [*packets, esp(last + SILENT_GRACE + 0.001, A, B, 1, 4, wall=0.0)]
    _, problems = judge_wire(late, (A, B), {"left": beyond}, stream({}, set(), 0.0),
                             [(0.0, 5.0)], 0.0)
    assert [p[:3] for p in problems] == ["(b)", "(e)"]
    # gone exactly when the last packet was: within the slack, not a problem
    _, problems = judge_wire(packets[:2], (A, B), {"left": {1: SaLife(None, 0.0, last)}},  # type: ignore[arg-type]
                             stream({}, set(), 0.0), [(0.0, 5.0)], 0.0)
    assert problems == []


def test_what_the_kernels_held_at_a_loss_counts_each_slack_edge() -> None:
    t = 2.0
    sas = {10: SaLife(None, t + SLACK), 11: SaLife(None, t),  # type: ignore[arg-type]
           12: SaLife(None, t - 5, t - SLACK), 13: SaLife(None, t - 5, t - 1),  # type: ignore[arg-type]
           14: SaLife(None, t + 1)}  # type: ignore[arg-type]
    wire = esp_runs([esp(1.0, A, B, 10, 1, wall=0.0), esp(t, A, B, 11, 1, wall=0.0)], (A, B), 0.0)
    text = describe_loss(Loss(5, t), wire, (A, B), {"left": sas, "right": {}}, 0.0)
    assert text == (f"echo seq 5 sent at 2.000 s got no reply; ESP then: {A} -> {B} spi"
                    f" 0x0000000b; {B} -> {A} no ESP yet; kernels held: left {{0x0000000a,"
                    " 0x0000000b, 0x0000000c}, right {}")
    # the cell's origin is taken off the loss's time; a later SPI is not 'last before'
    shifted = describe_loss(Loss(5, ORIGIN + 1.5), wire, (A, B), {}, ORIGIN)
    assert shifted.startswith(f"echo seq 5 sent at 1.500 s got no reply; ESP then: {A} -> {B}"
                              " spi 0x0000000a;")


def test_losses_are_counted_within_the_windows_edges_and_at_most_five_shown() -> None:
    sas = held(1, 2)
    sent = {seq: seq / 8 for seq in range(1, 9)}  # exact in binary: no rounding at the edges
    for lost, windows, count, more in (
            ({1, 2, 3, 4, 5}, [(0.125, 5.0)], 5, ""),
            ({1, 2, 3, 4, 5, 6}, [(0.125, 5.0)], 6, " (and 1 more)"),
            ({1, 2, 3, 4, 5, 6, 7, 8}, [(0.125, 5.0)], 8, " (and 3 more)"),
            ({1, 8}, [(0.25, 1.0)], 0, "")):  # the window ends where loss 8 was sent
        s = stream(sent, set(sent) - lost)
        _, problems = judge_wire(small_wire(), (A, B), {"left": sas}, s, windows, ORIGIN, WALL)
        if not count:
            assert problems == []
            continue
        (problem,) = problems
        assert problem.startswith(f"(d) {count} echo request(s) lost{more}: echo seq 1 sent at"
                                  " 0.125 s got no reply")
        assert len(problem.split(" | ")) == min(count, 5)
        assert "got no reply; ESP then" in problem and " | echo seq 2 sent at 0.250 s" in problem
    s = stream(sent, set(sent) - {2})
    edge = judge_wire(small_wire(), (A, B), {"left": sas}, s, [(0.25, 0.375)], ORIGIN, WALL)[1]
    assert edge and edge[0].startswith("(d) 1 echo request(s) lost: echo seq 2 sent at 0.250 s")


def test_two_spis_first_seen_at_once_the_first_is_last_before() -> None:
    wire = esp_runs([esp(1.0, A, B, 5, 1, wall=0.0), esp(1.0, A, B, 6, 1, wall=0.0)], (A, B), 0.0)
    assert wire.last_before(A, B, 1.0) == (5, 1.0)
    assert wire.last_before(A, B, 0.9) is None
    assert isinstance(wire, Wire) and wire.spis(A, B) == [5, 6]
    assert wire.lines()[0] == (f"{A} -> {B}: spi 0x00000005: 1 packets, seq 1..1, 1.000..1.000 s;"
                               " spi 0x00000006: 1 packets, seq 1..1, 1.000..1.000 s")
