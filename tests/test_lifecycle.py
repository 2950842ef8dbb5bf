"""The lifecycle parts that need no kernel: scenario fields, what each driver renders for
them, the XFRM event parser, the SPI-following wire verdict, the timeline, the grid."""

from __future__ import annotations

import os
import socket
import struct
import subprocess
import time
from pathlib import Path

import pytest

from lab.algorithms import parse_proposal
from lab.daemons.base import PeerContext
from lab.daemons.libreswan import probe
from lab.daemons.libreswan.driver import Libreswan
from lab.daemons.libreswan.words import REKEY_OPTIONS
from lab.daemons.racoon.driver import Racoon
from lab.daemons.strongswan.driver import StrongSwan
from lab.errors import ScenarioError, UsageError
from lab.flavors import Flavor
from lab.lifecycle import timeline
from lab.lifecycle.judge import judge_wire
from lab.matrix import (
    DEFAULT_LIFECYCLE_VARIANTS,
    DEFAULT_RACOON_PAIRS,
    DEFAULT_RACOON_VARIANTS,
    MatrixSelection,
    lifecycle_cells,
)
from lab.scenario import Peer, Scenario, scenario_from_dict, scenario_to_dict
from lab.wire.packets import Packet
from lab.wire.stream import StreamResult
from lab.xfrm import SA_INFO, _rta
from lab.xfrm_monitor import XFRM_MSG_DELSA, XFRM_MSG_EXPIRE, XFRMA_SA, SaLife, parse_event

A, B = "2001:db8:1:1::1", "2001:db8:2:2::2"


def scenario(**changes: object) -> Scenario:
    fields: dict[str, object] = {"name": "life", "left": Peer(A, "libreswan"),
                                 "right": Peer(B, "strongswan")}
    return Scenario(**{**fields, **changes})  # type: ignore[arg-type]


# -- scenario fields ----------------------------------------------------------------


def test_short_lifetimes_get_a_margin_that_fits() -> None:
    s = scenario(child_lifetime=10, ike_lifetime=30)
    assert (s.margin_of("left"), s.fuzz_of("left")) == (2, 0)
    assert scenario().margin_of("left") is None  # long lifetimes: the daemons' defaults
    s = scenario(right=Peer(B, "strongswan", child_lifetime=40), child_lifetime=12,
                 rekey_margin=4)
    assert (s.child_lifetime_of("left"), s.child_lifetime_of("right")) == (12, 40)


@pytest.mark.parametrize(("changes", "words"), [
    ({"child_lifetime": 3}, "child_lifetime: 3 is not allowed (allowed: 4..86400 seconds)"),
    ({"child_lifetime": 10, "rekey_margin": 8, "rekey_fuzz": 50},
     "rekey_margin: a rekey margin of 8 s with 50 % fuzz does not fit left's child_lifetime"),
    ({"dpd_timeout": 5}, "dpd_timeout: 5 without dpd_delay"),
    ({"lifecycle": "reboot"}, "lifecycle: 'reboot' is not allowed (allowed: none, rekey-child"),
    ({"lifecycle": "dpd"}, "dpd_delay: missing"),
    ({"actor": "both"}, "actor: 'both' is not allowed (allowed: initiator, responder)"),
    ({"rekey_fuzz": 300}, "rekey_fuzz: 300 is not allowed (allowed: 0..200 percent)"),
    ({"vanish": "crash"}, "vanish: 'crash' is not allowed (allowed: stop, link)"),
    ({"vanish": "link", "lifecycle": "restart"}, "vanish: 'link' is only for lifecycle 'dpd'"),
])
def test_bad_lifecycle_fields(changes: dict[str, object], words: str) -> None:
    with pytest.raises(ScenarioError) as info:
        scenario(**changes)
    assert words in str(info.value)


def test_lifecycle_fields_round_trip() -> None:
    s = scenario(lifecycle="dpd", actor="responder", dpd_delay=2, dpd_timeout=6,
                 child_lifetime=12, rekey_margin=3, rekey_fuzz=10, vanish="link",
                 left=Peer(A, "libreswan", child_lifetime=30))
    assert scenario_from_dict(scenario_to_dict(s)) == s
    assert s.dpd == (2, 6) and scenario(dpd_delay=3).dpd == (3, 9)


# -- what the drivers render ----------------------------------------------------------


def _ctx(tmp_path: Path, side: str, flavor: Flavor) -> PeerContext:
    return PeerContext(side, f"ipl-x-{side[0]}", tmp_path / side, flavor, "t", tmp_path)


@pytest.mark.parametrize(("version", "ike", "wanted", "absent"), [
    ("4.10", 2, {"dpddelay=2s", "dpdtimeout=6s", "retransmit-timeout=6s", "dpdaction=clear"}, set()),
    ("5.2", 2, {"dpddelay=2s", "retransmit-timeout=6s", "dpdaction=clear"}, {"dpdtimeout=6s"}),
    ("5.2", 1, {"dpddelay=2s", "dpdtimeout=6s", "dpdaction=clear"}, {"retransmit-timeout=6s"}),
])
def test_libreswan_dpd_and_margins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, version: str,
                                   ike: int, wanted: set[str], absent: set[str]) -> None:
    monkeypatch.setattr(probe, "pluto_version", lambda flavor, tag: version)
    s = scenario(ike_version=ike, dpd_delay=2, dpd_timeout=6, child_lifetime=12, rekey_margin=4)
    text = Libreswan(s, _ctx(tmp_path, "left", Flavor("libreswan"))).render()["ipsec.conf"]
    lines = {line.strip() for line in text.splitlines()}
    assert wanted | {"salifetime=12s", "rekeymargin=4s", "rekeyfuzz=0%"} <= lines
    assert not absent & lines


def test_libreswan_rekey_option_by_version() -> None:
    assert REKEY_OPTIONS[4]["child"] == "--rekey-ipsec"
    assert REKEY_OPTIONS[5]["child"] == "--rekey-child"


def test_strongswan_timing_and_dpd(tmp_path: Path) -> None:
    s = scenario(child_lifetime=12, ike_lifetime=40, rekey_margin=4, rekey_fuzz=50, dpd_delay=2,
                 dpd_timeout=6)
    d = StrongSwan(s, _ctx(tmp_path, "right", Flavor("strongswan", "bookworm", tmp_path / "t")))
    conf, charon = d.swanctl_conf(), d.strongswan_conf()
    for line in ("rekey_time = 8s", "life_time = 12s", "rand_time = 2s", "dpd_action = clear",
                 "dpd_delay = 2s", "rekey_time = 36s", "over_time = 4s"):
        assert line in conf
    assert "dpd_timeout" not in conf  # IKEv2: the retransmissions decide
    assert "retransmit_tries = 5" in charon and "retransmit_timeout = 1" in charon


def test_racoon_dpd(tmp_path: Path) -> None:
    s = scenario(left=Peer(A, "racoon"), right=Peer(B, "racoon"), ike_version=1, dpd_delay=2,
                 dpd_timeout=6, ike=parse_proposal("aes128-sha1-modp2048", "ike", needs_dh=True))
    ctx = PeerContext("left", "ipl-x-l", tmp_path / "left", Flavor("racoon"), "t", tmp_path)
    conf = Racoon(s, ctx).render()["racoon.conf"]
    assert "\tdpd_delay 2;" in conf and "\tdpd_retry 2;" in conf and "\tdpd_maxfail 3;" in conf


def test_pluto_cannot_rekey_ikev1_on_command() -> None:
    s = scenario(ike_version=1, lifecycle="rekey-child")
    assert "cannot force rekey of IKEv1" in (
        Libreswan.lifecycle_unsupported(s, "left", Flavor("libreswan")) or "")
    assert Libreswan.lifecycle_unsupported(s.with_(ike_version=2), "left",
                                           Flavor("libreswan")) is None
    assert Libreswan.lifecycle_unsupported(s.with_(actor="responder"), "left",
                                           Flavor("libreswan")) is None


def test_racoon_cannot_rekey_on_command() -> None:
    s = scenario(left=Peer(A, "racoon"), right=Peer(B, "racoon"), ike_version=1,
                 lifecycle="rekey-child", rekey_by="command")
    assert "no command to rekey the Child SA" in (
        Racoon.lifecycle_unsupported(s, "left", Flavor("racoon")) or "")
    assert Racoon.lifecycle_unsupported(s.with_(rekey_by="lifetime"), "left",
                                        Flavor("racoon")) is None
    assert "does not rekey an ISAKMP SA" in (Racoon.lifecycle_unsupported(
        s.with_(lifecycle="rekey-ike"), "right", Flavor("racoon")) or "")


# -- XFRM events ------------------------------------------------------------------------


def _sa_info(spi: int) -> bytes:
    a, b = (socket.inet_pton(socket.AF_INET6, x) for x in (A, B))
    return SA_INFO.pack(b, a, 0, 0, 0, 0, socket.AF_INET6, 128, 128, 0, 0, 0,
                         b, spi.to_bytes(4, "big"), 50, a, *([0] * 8), 0, 0, 0, 0, 0, 0, 0,
                         0, 1, socket.AF_INET6, 0, 32, 0)


def test_parse_delete_and_expire() -> None:
    usersa_id = struct.pack("=16s4sHB1x", socket.inet_pton(socket.AF_INET6, B),
                            (0x1234).to_bytes(4, "big"), socket.AF_INET6, 50)
    event = parse_event("left", 1.0, XFRM_MSG_DELSA, usersa_id + _rta(XFRMA_SA, _sa_info(0x1234)))
    assert event is not None and event.kind == "sa-del" and event.sa and event.sa.spi == 0x1234
    soft = parse_event("right", 2.0, XFRM_MSG_EXPIRE, _sa_info(0x99) + bytes(8))
    hard = parse_event("right", 2.0, XFRM_MSG_EXPIRE, _sa_info(0x99) + b"\x01" + bytes(7))
    assert (soft and soft.kind, hard and hard.kind) == ("sa-expire-soft", "sa-expire-hard")


# -- the wire over time --------------------------------------------------------------------


def esp(t: float, src: str, dst: str, spi: int, seq: int) -> Packet:
    return Packet(ts=t, src=src, dst=dst, proto=50, spi=spi, seq=seq)


def rekeyed_wire(lose: int | None = None, late_old: bool = False) -> tuple[list[Packet], StreamResult]:
    """Echoes every 0.1 s from 0 to 4 s; the SAs 1 (A->B) and 2 (B->A) until 2 s, then 3 and 4."""
    packets, stream = [], StreamResult(ident=1, family=6, src=A, dst=B, started=0.0, stopped=6.0)
    seqs: dict[int, int] = {}
    for i in range(40):
        t = i / 10
        out, back = (1, 2) if t < 2 else (3, 4)
        stream.sent[i + 1] = t
        seqs[out] = seqs.get(out, 0) + 1
        packets.append(esp(t, A, B, out, seqs[out]))
        if i + 1 == lose:
            continue
        seqs[back] = seqs.get(back, 0) + 1
        packets.append(esp(t + 0.01, B, A, back, seqs[back]))
        stream.answered[i + 1] = t + 0.01
    if late_old:
        seqs[1] += 1
        packets.append(esp(3.5, A, B, 1, seqs[1]))
    return packets, stream


def test_a_running_stream_can_be_read_while_it_records() -> None:
    """A cell reads the stream while its thread records requests and replies (CI once failed
    with 'dictionary changed size during iteration' in first_answer_after)."""
    import threading

    stream = StreamResult(ident=1, family=6, src=A, dst=B)
    done = threading.Event()

    def record() -> None:  # as the stream's thread does, wrapping after 3000 requests
        n = 0
        while not done.is_set():
            n += 1
            seq = n % 3000 + 1
            stream.record_sent(seq, float(n))
            stream.record_answer(seq, n + 0.5)

    writer = threading.Thread(target=record)
    writer.start()
    try:
        for read in (lambda: stream.first_answer_after(10.0), lambda: stream.losses(until=5.0),
                     lambda: stream.between(0.0, 5.0)):
            end = time.monotonic() + 0.3
            while time.monotonic() < end:
                read()
    finally:
        done.set()
        writer.join()


def lives() -> dict[str, dict[int, SaLife]]:
    old = {spi: SaLife(None, -1.0, 2.5) for spi in (1, 2)}  # type: ignore[arg-type]
    new = {spi: SaLife(None, 1.9) for spi in (3, 4)}  # type: ignore[arg-type]
    return {"left": {**old, **new}, "right": {**old, **new}}


def test_a_clean_rekey_passes() -> None:
    packets, stream = rekeyed_wire()
    wire, problems = judge_wire(packets, (A, B), lives(), stream, [(0.0, 5.0)], origin=0.0)
    assert problems == []
    assert wire.spis(A, B) == [1, 3] and wire.spis(B, A) == [2, 4]


def test_a_loss_names_its_time_and_spis() -> None:
    packets, stream = rekeyed_wire(lose=25)
    _, problems = judge_wire(packets, (A, B), lives(), stream, [(0.0, 5.0)], origin=0.0)
    assert len(problems) == 1
    assert problems[0].startswith("(d) 1 echo request(s) lost: echo seq 25 sent at 2.400 s")
    assert f"{A} -> {B} spi 0x00000003; {B} -> {A} spi 0x00000004" in problems[0]
    assert "kernels held: left {0x00000001, 0x00000002, 0x00000003, 0x00000004}" in problems[0]
    # outside the judged windows a loss is expected (a restart, a vanished peer)
    assert judge_wire(packets, (A, B), lives(), stream, [(0.0, 2.3)], origin=0.0)[1] == []


def test_an_old_spi_that_does_not_fall_silent_fails() -> None:
    packets, stream = rekeyed_wire(late_old=True)
    _, problems = judge_wire(packets, (A, B), lives(), stream, [(0.0, 5.0)], origin=0.0)
    assert any(p.startswith(f"(e) {A} -> {B} spi 0x00000001 still carried packets until 3.500 s")
               for p in problems)
    assert any(p.startswith(f"(b) {A} -> {B} spi 0x00000001 on the wire 0.000..3.500 s but left's"
                            " kernel held it -1.000..2.500 s") for p in problems)


def test_sequence_numbers_and_unknown_spis() -> None:
    packets, stream = rekeyed_wire()
    packets[10] = esp(packets[10].ts, A, B, 1, 99)
    packets.append(esp(4.5, A, B, 7, 1))
    _, problems = judge_wire(packets, (A, B), lives(), stream, [(0.0, 5.0)], origin=0.0)
    assert any(p.startswith(f"(c) {A} -> {B} spi 0x00000001: sequence number 99 where 6 was due")
               for p in problems)
    assert f"(b) {A} -> {B} spi 0x00000007 on the wire at 4.500 s: left's kernel never held it" \
        in problems


# -- the timeline ---------------------------------------------------------------------------


def test_log_times_of_each_daemon() -> None:
    pluto = timeline.log_time('Nov 27 10:12:28.123456: "lab" #1: sent IKE_SA_INIT', 2026)
    charon = timeline.log_time("Nov  7 10:12:28.123 05[IKE] <lab|1> initiating", 2026)
    racoon = timeline.log_time("2026-11-27 10:12:28: INFO: IPsec-SA established", 2026)
    assert pluto and charon and racoon
    assert pluto[1] == '"lab" #1: sent IKE_SA_INIT' and charon[1].startswith("05[IKE]")
    assert racoon[0] - int(racoon[0]) == 0 and abs(pluto[0] - racoon[0] - 0.123456) < 1e-6
    assert timeline.log_time("no time here", 2026) is None


def test_losses_in_a_row_are_one_entry() -> None:
    from lab.wire.stream import Loss

    losses = [Loss(5, 1.00), Loss(6, 1.02), Loss(7, 1.04), Loss(90, 3.0)]
    entries = timeline.loss_entries(losses, origin=0.5, interval=0.02)
    assert [e.text for e in entries] == ["lost 3 echoes, seq 5..7, sent 0.500..0.540 s",
                                         "lost: echo seq 90 sent at 2.500 s"]


# -- the grid -------------------------------------------------------------------------------


def test_default_set_and_full_grid() -> None:
    selection = MatrixSelection()
    default = lifecycle_cells(selection, None)
    # racoon as the responder cannot rekey first by its own shorter lifetime (strict)
    racoon_responds = sum(r.startswith("racoon") for _, r in DEFAULT_RACOON_PAIRS)
    assert len(default) == 2 * len(DEFAULT_LIFECYCLE_VARIANTS) + 4 * len(DEFAULT_RACOON_VARIANTS) \
        - racoon_responds
    assert not [c for c in default if c.responder.startswith("racoon")
                and c.variant == "lifetime-responder"]
    with_racoon = [c for c in default if "racoon" in c.id]
    assert {c.ike_version for c in with_racoon} == {1}
    assert {f for c in with_racoon for f in (c.initiator, c.responder)} >= {"racoon@0.8.2",
                                                                            "racoon@0.9.1"}
    assert default[0].id == "libreswan_bookworm-strongswan_sid-ikev2-rekey-child-command-initiator"
    grid = lifecycle_cells(MatrixSelection.from_options("libreswan@sid,strongswan@sid", "2", None,
                                                        None), "dpd,restart")
    assert len(grid) == 4 * (4 + 2)  # 4 pairs x (dpd: stop and link, each side; restart)
    assert {c.scenario().lifecycle for c in grid} == {"dpd", "restart"}
    assert {(c.variant, c.scenario().vanish) for c in grid if c.event == "dpd"} == {
        ("initiator", "stop"), ("responder", "stop"), ("link-initiator", "link"),
        ("link-responder", "link")}
    with pytest.raises(UsageError, match="--lab-lifecycle: 'reboot' is not allowed"):
        lifecycle_cells(selection, "reboot")


def test_lifetime_cells_make_the_actor_rekey_first() -> None:
    cell = next(c for c in lifecycle_cells(MatrixSelection(), None)
                if c.rekey_by == "lifetime")
    s = cell.scenario()
    actor, other = s.actor_side, s.responder if s.actor_side == s.initiator else s.initiator
    assert s.child_lifetime_of(actor) < s.child_lifetime_of(other)
    assert s.margin_of(actor) is not None and s.fuzz_of(actor) == 0


# -- the echo stream, in a namespace of the host's kernel (no ESP needed) -----------------


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root: makes a network namespace")
def test_stream_counts_answers_and_losses() -> None:
    from lab.topology.netns import NetNS
    from lab.wire.stream import EchoStream

    with NetNS(f"ipl-test-stream-{os.getpid()}") as ns:
        subprocess.run(["ip", "-n", ns.name, "link", "set", "lo", "up"], check=True)
        stream = EchoStream(ns.name, "::1", interval=0.01).start()
        time.sleep(0.5)
        result = stream.stop()
        assert len(result.sent) >= 20 and result.losses() == []
        assert result.between(result.started, result.stopped) == (len(result.sent),) * 2
        lost = EchoStream(ns.name, "2001:db8::99", interval=0.01)  # nobody answers there
        subprocess.run(["ip", "-n", ns.name, "route", "add", "2001:db8::/64", "dev", "lo"],
                       check=True)
        lost.start()
        time.sleep(0.3)
        gone = lost.stop()
        assert gone.answered == {} and len(gone.losses()) == len(gone.sent) > 0


def test_an_acquire_placeholder_is_not_a_held_sa() -> None:
    """After a restart a packet can meet the policy before the new SAs are in: the kernel's
    SPI 0 placeholder was counted as a third ESP SA (Libreswan IKEv1 restart cells)."""
    from lab.lifecycle.events import peer_esp
    from lab.xfrm import SA

    sas = [SA(A, B, 0xA54ED62C, "esp", "transport", 1, enc=("cbc(aes)", "00")),
           SA(B, A, 0x6D83AEA2, "esp", "transport", 1, enc=("cbc(aes)", "00")),
           SA(A, B, 0, "esp", "transport", 1),
           SA(A, "2001:db8::9", 0x99, "esp", "transport", 1)]
    assert [sa.spi for sa in peer_esp(sas, (A, B))] == [0xA54ED62C, 0x6D83AEA2]


def test_sequence_numbers_that_rise_with_a_gap_fail() -> None:
    packets, stream = rekeyed_wire()
    packets = [esp(p.ts, p.src, p.dst, p.spi, p.seq + 1) if p.spi == 1 and (p.seq or 0) >= 6
               else p for p in packets]  # type: ignore[arg-type]
    _, problems = judge_wire(packets, (A, B), lives(), stream, [(0.0, 5.0)], origin=0.0)
    assert problems == [f"(c) {A} -> {B} spi 0x00000001: sequence number 7 where 6 was due"
                        " (seq [1, 2, 3]...), expected 1, 2, 3, ..."]


def test_a_request_on_its_way_when_the_event_comes_is_the_events() -> None:
    """in_flight: the window of expected losses opens at the oldest request still waiting
    for its reply at the event, if it left within the longest round trip seen; an older
    request without a reply stays a loss outside the window."""
    stream = StreamResult(ident=1, family=6, src=A, dst=B)
    for seq, (sent, answer) in enumerate([(1.00, 1.005), (1.02, 1.027), (1.04, None),
                                          (1.06, 1.064), (1.080, None), (1.083, None)]):
        stream.record_sent(seq, sent)
        if answer is not None:
            stream.record_answer(seq, answer)
    assert stream.in_flight(1.084) == 1.080  # 1.083 too; 1.04 lost long before: not excused
    assert stream.in_flight(1.066) == 1.066  # nothing on its way
    assert stream.in_flight(1.024) == 1.02  # its reply came only after the event
    assert stream.in_flight(1.0255) == 1.0255  # left longer ago than any round trip so far
