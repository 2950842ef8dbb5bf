"""The verdict on synthetic frames: it must fail for each thing it claims to check."""

from __future__ import annotations

import ipaddress
import struct
from pathlib import Path

import pytest

from lab.errors import VerdictError
from lab.scenario import seed_scenario
from lab.wire.capture import read_pcap, write_pcap
from lab.wire.packets import parse_all
from lab.wire.traffic import PingResult
from lab.wire.verdict import judge
from lab.xfrm import SA

L, R = "2001:db8:1:1::1", "2001:db8:2:2::2"
OUT, BACK = 0xA98B7710, 0xA51E1F22


def frame(src: str, dst: str, next_header: int, body: bytes) -> bytes:
    ip = struct.pack("!IHBB", 6 << 28, len(body), next_header, 64)
    ip += ipaddress.IPv6Address(src).packed + ipaddress.IPv6Address(dst).packed
    return b"\x02" * 6 + b"\x04" * 6 + b"\x86\xdd" + ip + body


def esp(src: str, dst: str, spi: int, seq: int) -> tuple[float, bytes]:
    return (float(seq), frame(src, dst, 50, struct.pack("!II", spi, seq) + bytes(48)))


def ike(src: str, dst: str) -> tuple[float, bytes]:
    return (0.0, frame(src, dst, 17, struct.pack("!HHHH", 500, 500, 8, 0) + bytes(28)))


def echo(src: str, dst: str, kind: int = 128) -> tuple[float, bytes]:
    return (0.0, frame(src, dst, 58, struct.pack("!BBHHH", kind, 0, 0, 1, 1)))


SAS = {side: [SA(L, R, OUT, "esp", "transport", 1), SA(R, L, BACK, "esp", "transport", 1)]
       for side in ("left", "right")}


def good_frames(n: int = 3) -> list[tuple[float, bytes]]:
    frames = [ike(L, R), ike(R, L), echo(L, R, 135), echo(R, L, 136)]
    for i in range(1, n + 1):
        frames += [esp(L, R, OUT, i), esp(R, L, BACK, i)]
    return frames


def ping(n: int = 3) -> PingResult:
    return PingResult(1, list(range(1, n + 1)), list(range(1, n + 1)))


def verdict_of(frames: list[tuple[float, bytes]], sas: dict = SAS, p: PingResult | None = None):
    return judge(seed_scenario(), parse_all(frames), sas, p or ping())


def test_good_capture_passes() -> None:
    v = verdict_of(good_frames())
    v.check()
    assert v.esp_packets == 6
    assert "negotiated {0xa98b7710}" in v.summary()[0]


def test_cleartext_echo_fails() -> None:
    with pytest.raises(VerdictError, match=r"\(a\) 1 packet\(s\) between the peers in clear text"):
        verdict_of([*good_frames(), echo(L, R)]).check()


def test_foreign_spi_fails_with_expected_and_seen() -> None:
    frames = good_frames()
    frames[-1] = esp(R, L, 0xDEADBEEF, 3)
    with pytest.raises(VerdictError) as exc:
        verdict_of(frames).check()
    assert "SPIs expected {0xa51e1f22}, seen {0xa51e1f22, 0xdeadbeef}" in str(exc.value)


def test_sequence_gap_fails() -> None:
    frames = [f for f in good_frames() if f != esp(L, R, OUT, 2)]
    with pytest.raises(VerdictError, match=r"\(c\).*\[1, 3\]"):
        verdict_of(frames).check()


def test_packet_count_must_match_pings() -> None:
    with pytest.raises(VerdictError, match=r"\(d\) 6 ESP packets on the wire, expected 8"):
        verdict_of(good_frames(), p=ping(4)).check()


def test_kernels_that_disagree_fail() -> None:
    sas = {"left": SAS["left"], "right": [SA(L, R, 0x1, "esp", "transport", 1), SAS["right"][1]]}
    with pytest.raises(VerdictError, match="kernels disagree"):
        verdict_of(good_frames(), sas=sas).check()


def test_pcap_round_trip(tmp_path: Path) -> None:
    frames = good_frames()
    write_pcap(tmp_path / "c.pcap", frames)
    assert read_pcap(tmp_path / "c.pcap") == frames
    assert parse_all(frames)[4].line() == f"{L} > {R}: ESP(spi=0xa98b7710,seq=0x1)"


# -- each check alone, with its exact words -------------------------------------------------
def test_one_esp_packet_too_many_or_too_few_fails() -> None:
    assert verdict_of([*good_frames(), esp(L, R, OUT, 4)]).problems == [
        "(d) 7 ESP packets on the wire, expected 6 (3 echo requests + 3 replies)"]
    assert verdict_of(good_frames()[:-1]).problems == [
        "(d) 5 ESP packets on the wire, expected 6 (3 echo requests + 3 replies)"]


def test_a_kernel_holding_an_extra_spi_for_a_direction_fails() -> None:
    """The intersection of the kernels' SPIs is what the wire carries; a kernel with one more
    for that direction is a disagreement of its own."""
    sas = {"left": SAS["left"], "right": [*SAS["right"], SA(L, R, 0x1, "esp", "transport", 1)]}
    assert verdict_of(good_frames(), sas=sas).problems == [
        f"(b) {L} -> {R}: the kernels disagree or hold no ESP SA:"
        " {'left': '{0xa98b7710}', 'right': '{0x00000001, 0xa98b7710}'}"]


def test_kernels_holding_no_sa_for_a_direction_fail() -> None:
    sas = {side: [SAS[side][1]] for side in ("left", "right")}
    assert verdict_of(good_frames(), sas=sas).problems == [
        f"(b) {L} -> {R}: the kernels disagree or hold no ESP SA: {{'left': '{{}}', 'right': '{{}}'}}",
        f"(b) {L} -> {R}: SPIs expected {{}}, seen {{0xa98b7710}}"]


def test_a_long_run_with_a_gap_is_shown_cut_short() -> None:
    frames = [f for f in good_frames(10) if f != esp(R, L, BACK, 5)]
    assert verdict_of(frames, p=PingResult(1, list(range(1, 11)), [1, 2, 3, 4, 6, 7, 8, 9, 10])
                      ).problems == [
        f"(c) {R} -> {L} spi 0xa51e1f22: sequence numbers [1, 2, 3, 4, 6, 7, 8, 9]..., expected"
        " 1, 2, 3, ...",
        "ping6: no reply to sequence number(s) [5]"]


def test_the_counts_and_the_summary() -> None:
    v = verdict_of([*good_frames(), echo(L, R, 135)])
    assert (v.esp_packets, v.echo_packets, v.problems) == (6, 0, [])
    with_echo = verdict_of([*good_frames(), echo(L, R), echo(R, L, 129)])
    assert (with_echo.esp_packets, with_echo.echo_packets) == (6, 2)
    assert with_echo.problems[0] == (f"(a) 2 packet(s) between the peers in clear text, first:"
                                     f" {parse_all([echo(L, R)])[0].line()}")
    empty = verdict_of([], p=PingResult(1, [], []))
    assert empty.summary() == [f"{L} -> {R}: negotiated {{0xa98b7710}}, seen nothing",
                               f"{R} -> {L}: negotiated {{0xa51e1f22}}, seen nothing"]
    assert verdict_of(good_frames(2), p=ping(2)).summary()[1] == (
        f"{R} -> {L}: negotiated {{0xa51e1f22}}, seen {{'0xa51e1f22': 'seq 1..2'}}")


def test_check_lists_the_problems_then_each_direction() -> None:
    v = verdict_of(good_frames(), p=ping(4))
    with pytest.raises(VerdictError) as exc:
        v.check()
    assert str(exc.value).splitlines() == [*v.problems, "per direction:", *v.summary()]


def test_net_to_net_counts_the_hosts_echoes_in_clear_text() -> None:
    from dataclasses import replace

    s = seed_scenario(mode="tunnel")
    s = s.with_(topology="net-to-net", left=replace(s.left, subnet="2001:db8:a::/64"),
                right=replace(s.right, subnet="2001:db8:b::/64"))
    a, b = "2001:db8:a::2", "2001:db8:b::2"
    frames = [*good_frames(), echo(a, b), echo(b, a, 129), echo(a, b, 135), echo(a, "2001:db8:c::2")]
    v = judge(s, parse_all(frames), SAS, ping())
    assert (v.esp_packets, v.echo_packets) == (6, 2)
    assert v.problems == [f"(a) 3 packet(s) between the peers or the hosts behind them in clear"
                          f" text, first: {parse_all([echo(a, b)])[0].line()}"]
    assert judge(s, parse_all(good_frames()), SAS, ping()).problems == []


def test_only_the_peers_sas_count_for_a_direction() -> None:
    """An SA from the left peer to another address is no SA of the direction left -> right."""
    other = SA(L, "2001:db8:9::9", 0x77, "esp", "transport", 1)
    sas = {side: [*held, other] for side, held in SAS.items()}
    assert verdict_of(good_frames(), sas=sas).problems == []


def test_a_lossy_cell_keeps_its_other_problems() -> None:
    from lab.matrix import MatrixCell

    s = MatrixCell("libreswan@sid", "strongswan@sid", 2, "tunnel", "aes128-sha1", "routed",
                   "ipv6", "psk", "loss20").scenario()
    a, b = s.left.address, s.right.address
    sas = {side: [SA(a, b, OUT, "esp", "tunnel", 1), SA(b, a, BACK, "esp", "tunnel", 1)]
           for side in ("left", "right")}
    frames = [echo(a, b)] + [esp(a, b, OUT, i) for i in (1, 2, 3)] + \
        [esp(b, a, BACK, i) for i in (1, 2, 3)]
    problems = judge(s, parse_all(frames), sas, ping()).problems
    assert problems == [f"(a) 1 packet(s) between the peers in clear text, first:"
                        f" {parse_all([echo(a, b)])[0].line()}"]


def test_findings_are_added_and_listed_with_the_negotiated_parameters() -> None:
    from types import SimpleNamespace

    from lab.negotiated import Problem

    v = verdict_of(good_frames())
    v.add([Problem("esp", "esp: wrong cipher")])
    assert (v.problems, [p.kind for p in v.findings]) == (["esp: wrong cipher"], ["esp"])
    v.negotiated = SimpleNamespace(lines=["left: aes128"])  # type: ignore[assignment]
    with pytest.raises(VerdictError) as exc:
        v.check()
    assert str(exc.value).splitlines() == ["esp: wrong cipher", "per direction:", *v.summary(),
                                           "negotiated:", "left: aes128"]


def test_eight_sequence_numbers_are_shown_whole() -> None:
    frames = [f for f in good_frames(9) if f != esp(R, L, BACK, 5)]
    assert verdict_of(frames, p=PingResult(1, list(range(1, 10)), [1, 2, 3, 4, 6, 7, 8, 9])
                      ).problems[0] == (f"(c) {R} -> {L} spi 0xa51e1f22: sequence numbers"
                                        " [1, 2, 3, 4, 6, 7, 8, 9], expected 1, 2, 3, ...")
