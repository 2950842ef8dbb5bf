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
