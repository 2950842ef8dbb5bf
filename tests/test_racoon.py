"""The racoon driver without racoon: rendering against the source text, parsers on fixtures,
and the capability answers. No kernel, no namespace, no racoon binary needed."""

from __future__ import annotations

import re
import shutil
import stat
import sys
import time
from pathlib import Path
from typing import ClassVar

import pytest

from lab.algorithms import parse_proposal
from lab.daemons.base import PeerContext
from lab.daemons.racoon import driver as racoon_mod
from lab.daemons.racoon import traits as racoon_traits
from lab.daemons.racoon.driver import Racoon
from lab.daemons.racoon.parse import IpsecSA, IsakmpSA, parse_racoon_log, parse_setkey_dump
from lab.daemons.registry import DAEMONS
from lab.errors import DaemonError
from lab.flavors import Flavor
from lab.scenario import Peer, Scenario

FIXTURES = Path(__file__).parent / "fixtures"
LEFT, RIGHT = "2001:db8:1:1::1", "2001:db8:2:2::2"
UNITS = {"sec": 1, "secs": 1, "second": 1, "seconds": 1, "min": 60, "mins": 60, "minute": 60,
         "minutes": 60, "hour": 3600, "hours": 3600}


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


def howto_scenario(mode: str = "transport", **changes: object) -> Scenario:
    """The source text's racoon pair: IKEv1 main mode, 3des-md5-modp1024, esp 3des-md5,
    lifetimes 24 hour / 1 hour."""
    fields: dict[str, object] = {
        "name": f"howto-racoon-{mode}", "left": Peer(LEFT, "racoon"), "right": Peer(RIGHT, "racoon"),
        "ike_version": 1, "mode": mode, "ike_lifetime": 86400, "child_lifetime": 3600,
        "ike": parse_proposal("3des-md5-modp1024", "ike", needs_dh=True),
        "esp": parse_proposal("3des-md5", "esp", needs_dh=False)}
    return Scenario(**{**fields, **changes})  # type: ignore[arg-type]


def daemon(tmp_path: Path, scenario: Scenario, side: str = "left") -> Racoon:
    ctx = PeerContext(side=side, netns=f"ipl-test-{side}", dir=tmp_path / side,
                      flavor=Flavor("racoon"), tag="ipl-unit", cache=tmp_path)
    return Racoon(scenario, ctx)


# -- statement-level comparison ------------------------------------------------
def statements(text: str) -> list[str]:
    """racoon.conf / setkey text as statements: comments gone, whitespace normalised,
    each ending in ';', '{' or '}'."""
    text = re.sub(r"#.*", "", text)
    found = (" ".join(m.group(0).split()) for m in re.finditer(r"[^;{}]*[;{}]", text))
    return [s for s in found if s]


def _seconds(statement: str) -> str:
    m = re.fullmatch(r"lifetime time (\d+) (\w+);", statement)
    return f"lifetime time {int(m[1]) * UNITS[m[2]]} sec;" if m else statement


def racoon_conf_core(text: str) -> list[str]:
    """What must equal the text: no `path` statements, no adminsock, no `log` level (where
    and how much racoon writes), listen port and lifetime units normalised."""
    out = []
    for s in statements(text):
        if s.startswith(("path ", "adminsock ", "log ")):
            continue
        out.append(_seconds(re.sub(r" \[500\];$", ";", s)))
    return out


def is_nd_bypass(statement: str) -> bool:
    return re.search(r"\bicmp6 13[56],0\b", statement) is not None


def swap_direction(statement: str) -> str:
    return re.sub(r"-P (in|out) ", lambda m: "-P out " if m[1] == "in" else "-P in ", statement)


def psk_entries(text: str) -> list[tuple[str, str]]:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    return [tuple(ln.split(None, 1)) for ln in lines]  # type: ignore[misc]


# -- rendering against the source text ------------------------------------------
def test_racoon_conf_matches_the_text_statement_by_statement(tmp_path: Path) -> None:
    rendered = daemon(tmp_path, howto_scenario()).render()["racoon.conf"]
    assert racoon_conf_core(rendered) == racoon_conf_core(fixture("howto-racoon.conf"))


def test_racoon_conf_keeps_two_instances_apart(tmp_path: Path) -> None:
    left = daemon(tmp_path, howto_scenario(), "left")
    right = daemon(tmp_path, howto_scenario(), "right")
    for d in (left, right):
        text = d.render()["racoon.conf"]
        home = d.ctx.home
        assert f'path pre_shared_key "{home}/psk.txt";' in text
        assert f'path pidfile "{home}/racoon.pid";' in text
        assert f'adminsock "{home}/racoon.sock";' in text
        assert f"isakmp {d.peer.address} [500];" in text
        assert f"remote {d.other.address}" in text
    assert left.ctx.home != right.ctx.home


def test_right_racoon_conf_mirrors_the_left(tmp_path: Path) -> None:
    right = statements(daemon(tmp_path, howto_scenario(), "right").render()["racoon.conf"])
    assert f"remote {LEFT} {{" in right
    sainfos = [s for s in right if s.startswith("sainfo")]
    assert sainfos == [f"sainfo address {RIGHT} any address {LEFT} any {{",
                       f"sainfo address {LEFT} any address {RIGHT} any {{"]


def test_psk_matches_the_text(tmp_path: Path) -> None:
    rendered = daemon(tmp_path, howto_scenario()).render()["psk.txt"]
    # the text's key is literal; ours is the same bytes as 0x and hex (any PSK arrives unchanged)
    assert psk_entries(fixture("howto-psk.txt")) == [(RIGHT, "verysecret")]
    assert psk_entries(rendered) == [(RIGHT, "0x" + b"verysecret".hex())]


def test_psk_is_written_private(tmp_path: Path) -> None:
    d = daemon(tmp_path, howto_scenario())
    written = {p.name: p for p in d.write()}
    assert set(written) == {"racoon.conf", "psk.txt", "setkey.conf"}
    assert stat.S_IMODE(written["psk.txt"].stat().st_mode) == 0o600


@pytest.mark.parametrize("mode", ["transport", "tunnel"])
def test_setkey_matches_the_text_for_the_left_peer(tmp_path: Path, mode: str) -> None:
    rendered = statements(daemon(tmp_path, howto_scenario(mode)).render()["setkey.conf"])
    assert [s for s in rendered if not is_nd_bypass(s)] == \
        statements(fixture(f"howto-setkey-{mode}.sh"))


@pytest.mark.parametrize("mode", ["transport", "tunnel"])
def test_setkey_for_the_right_peer_swaps_in_and_out(tmp_path: Path, mode: str) -> None:
    """The text: "For the other peer, you have to replace 'in' with 'out'"."""
    rendered = statements(daemon(tmp_path, howto_scenario(mode), "right").render()["setkey.conf"])
    expected = [swap_direction(s) for s in statements(fixture(f"howto-setkey-{mode}.sh"))]
    assert [s for s in rendered if not is_nd_bypass(s)] == expected


def test_pfs_group_only_when_esp_has_dh(tmp_path: Path) -> None:
    plain = statements(daemon(tmp_path, howto_scenario()).render()["racoon.conf"])
    assert not [s for s in plain if s.startswith("pfs_group")]
    pfs = howto_scenario(esp=parse_proposal("aes128-sha1-modp2048", "esp", needs_dh=False))
    text = statements(daemon(tmp_path, pfs).render()["racoon.conf"])
    assert text.count("pfs_group 14;") == 2
    assert text.count("encryption_algorithm aes 128;") == 2
    assert text.count("authentication_algorithm hmac_sha1;") == 2


def test_lifetimes_in_seconds_when_not_whole_minutes(tmp_path: Path) -> None:
    s = howto_scenario().with_(ike_lifetime=3601, child_lifetime=90)
    text = statements(daemon(tmp_path, s).render()["racoon.conf"])
    assert "lifetime time 3601 sec;" in text
    assert text.count("lifetime time 90 sec;") == 2


# -- the neighbour-discovery bypass and the nd-deadlock fault -------------------------
def test_default_spd_bypasses_neighbour_discovery_and_says_why(tmp_path: Path) -> None:
    text = daemon(tmp_path, howto_scenario()).render()["setkey.conf"]
    bypass = [s for s in statements(text) if is_nd_bypass(s)]
    assert sorted(bypass) == sorted(
        f"spdadd ::/0 ::/0 icmp6 {t},0 -P {d} prio def +100 none;"
        for t in (135, 136) for d in ("in", "out"))
    comments = " ".join(ln for ln in text.splitlines() if ln.startswith("#")).lower()
    assert "neighbour discovery" in comments and "ike" in comments
    assert "never" in comments and "reaches the peer" in comments
    # the bypasses come before the require policies they must override
    last_bypass = max(i for i, s in enumerate(statements(text)) if is_nd_bypass(s))
    first_require = min(i for i, s in enumerate(statements(text)) if "require" in s)
    assert last_bypass < first_require


def test_nd_deadlock_fault_omits_the_bypass(tmp_path: Path) -> None:
    text = daemon(tmp_path, howto_scenario(fault="nd-deadlock")).render()["setkey.conf"]
    assert not [s for s in statements(text) if is_nd_bypass(s)]
    assert "icmp6" not in re.sub(r"#.*", "", text)
    assert statements(text) == statements(fixture("howto-setkey-transport.sh"))


def test_nd_deadlock_failure_explains_itself(tmp_path: Path) -> None:
    d = daemon(tmp_path, howto_scenario(fault="nd-deadlock"))
    d.ctx.dir.mkdir()
    (d.ctx.dir / "racoon.log").write_text(
        "2024-01-01 00:00:00: INFO: initiate new phase 1 negotiation: "
        f"{LEFT}[500]<=>{RIGHT}[500]\n")
    assert d.failure() is None  # not initiated yet
    d._initiated_at = racoon_mod.time.monotonic()
    assert d.failure() is None  # within the grace period
    d._initiated_at -= racoon_mod.ND_GRACE + 1
    reason = d.failure()
    assert reason is not None
    assert "nd-deadlock" in reason and "Neighbour" in reason and "135/136" in reason
    assert RIGHT in reason


def test_nd_deadlock_explanation_is_added_to_racoon_errors(tmp_path: Path) -> None:
    d = daemon(tmp_path, howto_scenario(fault="nd-deadlock"))
    d.ctx.dir.mkdir()
    (d.ctx.dir / "racoon.log").write_text(
        "2024-01-01 00:00:30: ERROR: phase1 negotiation failed due to time up. 0123:4567\n")
    reason = d.failure()
    assert reason is not None
    assert reason.startswith("racoon (left): ") and "time up" in reason and "nd-deadlock" in reason


def test_failure_names_racoons_own_words(tmp_path: Path) -> None:
    d = daemon(tmp_path, howto_scenario())
    d.ctx.dir.mkdir()
    (d.ctx.dir / "racoon.log").write_text(
        "2024-01-01 00:00:01: INFO: begin Identity Protection mode.\n"
        f"2024-01-01 00:00:01: ERROR: couldn't find the pskey for {RIGHT}.\n")
    assert d.failure() == f"racoon (left): 2024-01-01 00:00:01: ERROR: couldn't find the pskey for {RIGHT}."
    (d.ctx.dir / "racoon.log").write_text(
        "2024-01-01 00:00:01: NOTIFY: couldn't find the proper pskey, try to get one by the peer's"
        " address.\n")
    assert d.failure() is None


def test_unsupported_algorithm_stops_rendering(tmp_path: Path) -> None:
    s = howto_scenario(ike=parse_proposal("aes128-sha1-ecp256", "ike", needs_dh=True))
    with pytest.raises(DaemonError, match="ecp256"):
        daemon(tmp_path, s).render()


# -- parsers ---------------------------------------------------------------------
def test_parse_transport_log() -> None:
    events = parse_racoon_log(fixture("racoon-transport.log"))
    assert [type(e) for e in events] == [IsakmpSA, IpsecSA, IpsecSA]
    phase1 = events[0]
    assert isinstance(phase1, IsakmpSA)
    assert (phase1.local, phase1.remote) == (LEFT, RIGHT)
    assert phase1.cookies == "51819f546416f01e:1a164b8532aa23c3"
    assert phase1.time == "2024-03-05 10:12:02"
    assert events[1:] == [
        IpsecSA("2024-03-05 10:12:03", "esp", "transport", RIGHT, LEFT, 0x0B5E2F71),
        IpsecSA("2024-03-05 10:12:03", "esp", "transport", LEFT, RIGHT, 0xC6F1A0D2)]


def test_parse_tunnel_log_without_ports_and_wrapped() -> None:
    events = parse_racoon_log(fixture("racoon-tunnel.log"))
    phase1 = [e for e in events if isinstance(e, IsakmpSA)]
    assert [(e.local, e.remote) for e in phase1] == [("2001:db8:20::2", "2001:db8:10::1")]
    assert [(e.mode, e.src, e.dst, e.spi) for e in events if isinstance(e, IpsecSA)] == [
        ("tunnel", "2001:db8:10::1", "2001:db8:20::2", 61457633),
        ("tunnel", "2001:db8:20::2", "2001:db8:10::1", 4030823228)]


def test_parse_setkey_transport_dump() -> None:
    sas = parse_setkey_dump(fixture("setkey-D-transport.txt"))
    assert [(sa.src, sa.dst, sa.spi, sa.mode, sa.proto) for sa in sas] == [
        (LEFT, RIGHT, 0xC6F1A0D2, "transport", "esp"),
        (RIGHT, LEFT, 0x0B5E2F71, "transport", "esp")]
    out = sas[0]
    assert out.enc == ("cbc(aes)", "f755cb1119760a3682f3de02ceafb2cd")
    assert out.auth == ("hmac(sha1)", "aa849753e010be09a620ad7f5e931b4a1b92407c", 96)
    assert out.aead is None and out.reqid == 0 and not out.encap
    assert (out.bytes, out.packets) == (416, 4)
    assert sas[1].enc == ("cbc(aes)", "980e82c6eac2feb35c9ae6adc4d6eb13")


def test_parse_setkey_tunnel_dump() -> None:
    sas = parse_setkey_dump(fixture("setkey-D-tunnel.txt"))
    assert [(sa.src, sa.dst, sa.spi, sa.mode, sa.reqid) for sa in sas] == [
        ("2001:db8:10::1", "2001:db8:20::2", 0x03A9C4E1, "tunnel", 16385),
        ("2001:db8:20::2", "2001:db8:10::1", 0xF0417B3C, "tunnel", 16385)]
    assert sas[1].enc == ("cbc(des3_ede)", "9b7ebf4864409a1bd797e166d0ba6fc5a1af15510e669f01")
    assert sas[1].auth == ("hmac(md5)", "7b015d6b6beb5b482524184fac75d071", 96)
    assert len(bytes.fromhex(sas[0].enc[1])) == 24  # type: ignore[index]


def test_log_and_dump_agree_on_spis() -> None:
    for log, dump in (("racoon-transport.log", "setkey-D-transport.txt"),
                      ("racoon-tunnel.log", "setkey-D-tunnel.txt")):
        logged = {(e.src, e.dst, e.spi, e.mode) for e in parse_racoon_log(fixture(log))
                  if isinstance(e, IpsecSA)}
        dumped = {(sa.src, sa.dst, sa.spi, sa.mode) for sa in parse_setkey_dump(fixture(dump))}
        assert logged == dumped, log


def test_parse_empty_setkey_dump() -> None:
    assert parse_setkey_dump("No SAD entries.\n") == []
    assert parse_racoon_log("") == []


# -- capabilities ----------------------------------------------------------------
def _no_system_racoon() -> bool:
    return not any(shutil.which(exe, path="/usr/sbin:/sbin") for exe in ("racoon", "setkey"))


needs_clean_sbin = pytest.mark.skipif(not _no_system_racoon(),
                                      reason="racoon or setkey is installed in /usr/sbin or /sbin")


def _fake_exe(directory: Path, name: str) -> None:
    path = directory / name
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(0o755)


@needs_clean_sbin
@pytest.mark.parametrize(("present", "absent"), [
    ((), ("racoon", "setkey")), (("setkey",), ("racoon",)), (("racoon",), ("setkey",)),
    (("racoon", "setkey"), ())])
def test_missing_names_exactly_what_is_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               present: tuple[str, ...],
                                               absent: tuple[str, ...]) -> None:
    for name in present:
        _fake_exe(tmp_path, name)
    monkeypatch.setenv("PATH", str(tmp_path))
    reason = Racoon.missing(Flavor("racoon"))
    if not absent:
        assert reason is None
        return
    assert reason is not None
    head, _, _ = reason.removeprefix("racoon: ").partition(" not found")
    assert set(head.split(" and ")) == set(absent)
    assert "on PATH" in reason


def test_missing_in_a_flavor_tree_names_the_tree(tmp_path: Path) -> None:
    flavor = Flavor("racoon", "/x", tmp_path)
    reason = Racoon.missing(flavor)
    assert reason is not None and str(tmp_path) in reason and "racoon and setkey" in reason


def test_unsupported_ikev2(tmp_path: Path) -> None:
    s = howto_scenario().with_(ike_version=2)
    reason = Racoon.unsupported(s, "left", Flavor("racoon"), "ipl-unit")
    assert reason is not None and "racoon speaks IKEv1 only" in reason


@pytest.mark.parametrize(("ike", "esp", "named"), [
    ("aes128gcm16-sha256-modp2048", "aes128-sha1", "aes128gcm16"),
    ("aes128-sha1-ecp256", "aes128-sha1", "ecp256"),
    ("aes128-sha1-curve25519", "aes128-sha1", "curve25519"),
    ("aes128-sha1-modp2048", "chacha20poly1305", "chacha20poly1305"),
    ("aes128-sha1-modp2048", "aes128-sha1-ecp384", "ecp384")])
def test_unsupported_algorithm_is_named(ike: str, esp: str, named: str) -> None:
    s = howto_scenario(ike=parse_proposal(ike, "ike", needs_dh=True),
                       esp=parse_proposal(esp, "esp", needs_dh=False))
    reason = Racoon.unsupported(s, "left", Flavor("racoon"), "ipl-unit")
    assert reason is not None and named in reason


def test_unsupported_without_pfkey(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(racoon_traits, "PFKEY_PROC", tmp_path / "pfkey")
    reason = Racoon.unsupported(howto_scenario(), "left", Flavor("racoon"), "ipl-unit")
    assert reason is not None and "PF_KEY" in reason
    (tmp_path / "pfkey").write_text("")
    assert Racoon.unsupported(howto_scenario(), "left", Flavor("racoon"), "ipl-unit") is None


def test_registered_and_described() -> None:
    assert DAEMONS["racoon"] is Racoon
    assert Racoon.ike_versions == (1,)
    assert Racoon.log_name == "racoon.log"
    assert Racoon.binaries() == ("racoon", "setkey")


def test_status_commands(tmp_path: Path) -> None:
    assert daemon(tmp_path, howto_scenario()).status_commands() == [["setkey", "-D"], ["setkey", "-DP"]]


# -- running, with stand-ins for racoon, setkey and racoonctl -------------------------
FAKE_RACOON = """\
import re, socket, sys, time
conf, log = sys.argv[sys.argv.index("-f") + 1], sys.argv[sys.argv.index("-l") + 1]
text = open(conf).read()
with open(log, "a") as out:
    if "{refuse}" == "yes":
        out.write(f'2024-01-01 00:00:00: ERROR: {{conf}}:7: "bogus" syntax error\\n')
        out.write("2024-01-01 00:00:00: ERROR: fatal parse failure (1 errors)\\n")
        sys.exit(1)
    out.write("2024-01-01 00:00:00: INFO: 2001:db8:1:1::1[500] used as isakmp port (fd=5)\\n")
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(re.search(r'adminsock "([^"]+)"', text).group(1))
s.listen(1)
time.sleep(30)
"""

RECORD_CALLS = "import sys\nopen(sys.argv[0] + '.calls', 'a').write(' '.join(sys.argv[1:]) + '\\n')\n"


class FakeSocket:
    """Stands in for the datagram socket opened in the peer's namespace."""

    sent: ClassVar[list[tuple[str | None, bytes, tuple[str, int]]]] = []

    def __init__(self, netns: str | None) -> None:
        self.netns = netns

    def __enter__(self) -> FakeSocket:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def sendto(self, data: bytes, address: tuple[str, int]) -> int:
        self.sent.append((self.netns, data, address))
        return len(data)


def _script(directory: Path, name: str, body: str) -> None:
    path = directory / name
    path.write_text(f"#!{sys.executable}\n{body}")
    path.chmod(0o755)


def _stand_ins(bin_dir: Path, *, refuse: str = "no", setkey_exit: int = 0) -> None:
    bin_dir.mkdir()
    _script(bin_dir, "racoon", FAKE_RACOON.format(refuse=refuse))
    _script(bin_dir, "setkey", f"{RECORD_CALLS}print('line 5: Syntax error at [prio]') if {setkey_exit}"
            f" else None\nsys.exit({setkey_exit})\n")
    _script(bin_dir, "racoonctl", RECORD_CALLS)


def _started(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **stand_in: object) -> Racoon:
    _stand_ins(tmp_path / "bin", **stand_in)  # type: ignore[arg-type]
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:/usr/bin:/bin")
    d = daemon(tmp_path, howto_scenario())
    d.ctx.netns = ""  # no namespace: the stand-ins run beside the test
    d.ctx.dir.mkdir()
    d.write()
    return d


def test_start_loads_the_spd_then_waits_for_racoon(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    d = _started(tmp_path, monkeypatch)
    try:
        d.start()
        d.load()
        assert (tmp_path / "bin" / "setkey.calls").read_text() == f"-f {d.ctx.home}/setkey.conf\n"
        FakeSocket.sent.clear()
        monkeypatch.setattr(racoon_mod, "socket_in", lambda netns, *a: FakeSocket(netns))
        d.initiate()
        time.sleep(0.2)
        assert FakeSocket.sent == []  # phase 2 is asked for only once phase 1 is up
        with d.log_path.open("a") as log:
            log.write(f"2026-12-05 17:00:00: INFO: ISAKMP-SA established {LEFT}[500]-{RIGHT}[500]"
                      " spi:0011223344556677:8899aabbccddeeff\n")
        end = time.monotonic() + 3
        while not FakeSocket.sent and time.monotonic() < end:
            time.sleep(0.01)
        assert [(ns, addr) for ns, _, addr in FakeSocket.sent] == [("", (RIGHT, racoon_mod.TRIGGER_PORT))]
        assert (tmp_path / "bin" / "racoonctl.calls").read_text() == \
            f"-s {d.ctx.home}/racoon.sock establish-sa isakmp inet6 {LEFT} {RIGHT}\n"
        assert d.failure() is None
    finally:
        d.stop()


def test_a_refused_config_surfaces_racoons_words(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    d = _started(tmp_path, monkeypatch, refuse="yes")
    try:
        with pytest.raises(DaemonError, match=r"racoon \(left\) exited with status 1.*fatal parse failure"):
            d.start()
    finally:
        d.stop()


def test_a_refused_spd_surfaces_setkeys_words(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    d = _started(tmp_path, monkeypatch, setkey_exit=1)
    with pytest.raises(DaemonError, match=r"setkey refused .*setkey.conf: line 5: Syntax error at \[prio\]"):
        d.start()
    assert d.proc is None  # racoon is not started on a refused SPD


def test_sha256_96_is_racoons_hmac_sha256(tmp_path: Path) -> None:
    """PF_KEY cuts hmac(sha256) to 96 bits anyway: racoon spells both the same."""
    s = howto_scenario(esp=parse_proposal("aes256-sha256_96", "esp", needs_dh=False))
    text = daemon(tmp_path, s).render()["racoon.conf"]
    assert "authentication_algorithm hmac_sha256;" in statements(text)


def test_phase2_pairs_and_purges_from_a_recorded_0_8_2_log() -> None:
    """racoon 0.8.2 prints a phase 2's own direction on both SA lines, the inbound SA first;
    after pluto's Delete it purged only the outbound SA of the first phase 2."""
    from lab.daemons.racoon.parse import partners, phase2s, purged_spis, racoon_status
    text = fixture("racoon-0.8.2-initiator-rekeyed-by-pluto.log")
    pairs = [(i.spi, o.spi) for i, o in phase2s(text, LEFT)]
    assert pairs == [(0x4EF5485, 0xD96B6F02), (0xED44A91, 0xD1DDFA4E), (0xA4F4EE4, 0xF425CE7B),
                     (0x4C3A8AD, 0x13F9474B)]
    assert partners(text, LEFT)[0x4EF5485] == 0xD96B6F02
    assert purged_spis(text) == {0xD96B6F02}
    child = racoon_status(text, LEFT).children[-1]
    assert (child.spi_in, child.spi_out, child.mode) == (0x4C3A8AD, 0x13F9474B, "transport")


def test_privsep_variant_renders_its_block_and_paths(tmp_path: Path) -> None:
    """racoon@privsep-0.9.1: the same build as 0.9.1, with racoon.conf's privsep block; privsep
    wants a certificate and a script path even with a PSK."""
    from lab.flavors import parse_flavor
    flavor = parse_flavor("racoon@privsep-0.9.1")
    assert flavor.prefix == parse_flavor("racoon@0.9.1").prefix
    ctx = PeerContext(side="left", netns="ipl-test-left", dir=tmp_path / "left", flavor=flavor,
                      tag="ipl-unit", cache=tmp_path)
    files = Racoon(howto_scenario(), ctx).render()
    found = statements(files["racoon.conf"])
    home = ctx.home
    assert found[found.index("privsep {"):found.index("privsep {") + 5] == [
        "privsep {", 'user "nobody";', 'group "nogroup";', f'chroot "{home}/privsep-root";', "}"]
    assert f'path certificate "{home}/certs";' in found and f'path script "{home}/scripts";' in found
    assert {"privsep-root/README", "scripts/README", "certs/README"} <= set(files)
    plain = Racoon(howto_scenario(), PeerContext("left", "n", tmp_path / "p", Flavor("racoon"),
                                                 "t", tmp_path)).render()["racoon.conf"]
    assert "privsep\n{" not in plain and "path script" not in plain


def test_privsep_is_proven_from_the_unprivileged_process(tmp_path: Path) -> None:
    from lab.daemons.racoon.process import privsep_wrong
    chroot = tmp_path / "privsep-root"
    chroot.mkdir()
    proc = tmp_path / "proc"
    (proc / "110").mkdir(parents=True)
    log = "2026-12-05 17:14:12: INFO: racoon unprivileged process running with PID 110\n"

    def child(uid: str, root: Path) -> None:
        (proc / "110" / "status").write_text(f"Name:\tracoon\nUid:\t{uid}\t{uid}\t{uid}\t{uid}\n")
        link = proc / "110" / "root"
        link.unlink(missing_ok=True)
        link.symlink_to(root)

    child("65534", chroot)
    assert privsep_wrong(log, chroot, proc) is None
    child("0", chroot)
    assert privsep_wrong(log, chroot, proc) == "process 110 runs as root"
    child("65534", Path("/"))
    assert privsep_wrong(log, chroot, proc) == f"process 110 has its root at /, not {chroot}"
    assert privsep_wrong("no such line", chroot, proc) == "racoon's log names no unprivileged process"
    assert privsep_wrong(log.replace("110", "111"), chroot, proc) == \
        "its unprivileged process 111 is gone"


def test_racoon_0_8_states_what_it_accepted_in_its_debug_log(tmp_path: Path) -> None:
    """Recorded: racoon 0.8.2 initiating to pluto 5.2 with ike aes256-sha256-modp2048 and
    esp aes256-sha1-modp2048 (PFS), `log debug`."""
    from lab.daemons.racoon.status import racoon_debug_status
    from lab.status import ChildStatus, IkeStatus
    text = fixture("racoon-0.8.2-debug-initiator-aes256-sha256-pfs.log")
    st = racoon_debug_status(text, LEFT)
    assert st.source == "racoon.log (debug)" and st.unreported == ("local identity",)
    assert st.ike == IkeStatus(1, "aes256", "sha256", "sha256", "modp2048", None, RIGHT)
    assert st.children == [ChildStatus(0x0BFDDCB0, 0x22716809, "transport", "aes256", "sha1",
                                       "modp2048")]
    # without PFS the compared attributes have no group; without debug lines, the info ones
    no_pfs = text.replace("type=Group Description, flag=0x8000, lorv=14", "type=Nothing")
    assert racoon_debug_status(no_pfs, LEFT).children[0].pfs == "none"
    info = "\n".join(ln for ln in text.splitlines() if ": DEBUG: " not in ln and ln[:1] != " ")
    assert racoon_debug_status(info, LEFT).source == "racoon.log"
    # the outcome words never read the debug narration
    ctx = PeerContext("left", "n", tmp_path, Flavor("racoon"), "t", tmp_path)
    d = Racoon(howto_scenario(), ctx)
    (tmp_path / "racoon.log").write_text(text)
    assert d.outcome_lines() and not any("DEBUG" in ln for ln in d.outcome_lines())
    assert "log debug;" in statements(d.render()["racoon.conf"])


def test_racoon_0_8_as_responder_names_the_peers_id_on_the_next_line() -> None:
    """Recorded: racoon 0.8.2 answering pluto 5.2 (IKEv1 tunnel aes128-sha1): its "peer's ID"
    line ends there, the dump follows on the next."""
    from lab.daemons.racoon.status import racoon_debug_status
    from lab.status import IkeStatus
    st = racoon_debug_status(fixture("racoon-0.8.2-debug-responder-tunnel-aes128-sha1.log"), RIGHT)
    assert st.ike == IkeStatus(1, "aes128", "sha1", "sha1", "modp2048", None, LEFT)
    assert [(c.mode, c.cipher, c.integrity, c.pfs) for c in st.children] == [
        ("tunnel", "aes128", "sha1", "none")]


@pytest.mark.parametrize(("dump", "identity"), [
    ("05000000 20010db8 00020002 00000000 00000002", "2001:db8:2:2::2"),  # IPV6_ADDR
    ("01000000 c0000201", "192.0.2.1"),  # IPV4_ADDR
    ("02000000 6d6f6f6e 2e657861 6d706c65", "moon.example"),  # FQDN
    ("03000000 6361726f 6c406578 616d706c 65", "carol@example"),  # USER_FQDN
    ("04000000 c0000201", None),  # an IPv4 subnet: not an identity the lab sets
    ("01000000 c00002", None),  # too short for its kind
    ("05000000", None),  # no data at all
])
def test_racoons_peer_id_dump_is_read_by_kind(dump: str, identity: str | None) -> None:
    from lab.daemons.racoon.status import racoon_debug_status
    ts = "2026-12-05 17:55:39"
    text = (f"{ts}: INFO: ISAKMP-SA established {RIGHT}[500]-{LEFT}[500] spi:00:11\n"
            f"{ts}: DEBUG:   enctype = 3DES-CBC\n{ts}: DEBUG:   encklen = 0\n"
            f"{ts}: DEBUG:   hashtype = MD5\n{ts}: DEBUG:   dh_group = 1536-bit MODP group\n"
            f"{ts}: DEBUG: an acceptable proposal found.\n"
            f"{ts}: [{LEFT}] DEBUG: peer's ID\n{ts}: DEBUG: \n{dump}\n")
    ike = racoon_debug_status(text, RIGHT).ike
    assert ike is not None and (ike.cipher, ike.integrity, ike.dh) == ("3des", "md5", "modp1536")
    assert ike.remote_id == identity
    # the same dump on the "peer's ID" line itself, after racoon's second time stamp
    same_line = text.replace(f"peer's ID\n{ts}: DEBUG: \n{dump}", f"peer's ID:{ts}: DEBUG: \n{dump}")
    assert racoon_debug_status(same_line, RIGHT).ike.remote_id == identity  # type: ignore[union-attr]


def test_racoons_debug_status_takes_the_last_of_each() -> None:
    """After a rekey the log holds several accepted proposals and matched bundles: the last
    phase-1 proposal, the last bundle, and the PFS group of that bundle's own proposal."""
    from lab.daemons.racoon.status import racoon_debug_status
    ts = "2026-12-05 18:00:00"

    def debug(*texts: str) -> str:
        return "".join(f"{ts}: DEBUG: {t}\n" for t in texts)

    def info(text: str) -> str:
        return f"{ts}: INFO: {text}\n"

    def phase1(cipher: str, bits: str, hash_: str, group: str) -> str:
        return debug(f"  enctype = {cipher}", f"  encklen = {bits}", f"  hashtype = {hash_}",
                     "  authmethod = pre-shared key", f"  dh_group = {group}",
                     "an acceptable proposal found.")

    def bundle(group: str | None, trns: str) -> str:
        attrs = ["prop#=1 prot-id=ESP spi-size=4 #trns=1 trns#=1 trns-id=AES",
                 "type=Encryption Mode, flag=0x8000, lorv=Tunnel"]
        attrs += [f"type=Group Description, flag=0x8000, lorv={group}"] if group else []
        return debug(*attrs, "peer's single bundle:",
                     " (proto_id=ESP spisize=4 spi=00000001 spi_p=00000000 encmode=Tunnel reqid=0:0)",
                     f"  {trns}", "my single bundle:", "matched")

    sa = (f"IPsec-SA established: ESP/Tunnel {LEFT}[500]->{RIGHT}[500] spi=5(0x5)",
          f"IPsec-SA established: ESP/Tunnel {LEFT}[500]->{RIGHT}[500] spi=6(0x6)")
    text = (info(f"ISAKMP-SA established {LEFT}[500]-{RIGHT}[500] spi:00:11")
            + phase1("AES-CBC", "128", "SHA", "1024-bit MODP group")
            + bundle("14", "(trns_id=3DES encklen=0 authtype=hmac-md5)")
            + info(sa[0]) + info(sa[1])
            + phase1("AES-CBC", "256", "SHA256", "2048-bit MODP group")
            + debug("prop#=1, prot-id=ISAKMP, spi-size=0, #trns=1")
            + bundle(None, "(trns_id=AES encklen=192 authtype=hmac-sha256)")
            + info(sa[0].replace("spi=5(0x5)", "spi=7(0x7)"))
            + info(sa[1].replace("spi=6(0x6)", "spi=8(0x8)")))
    st = racoon_debug_status(text, LEFT)
    assert st.ike is not None and (st.ike.cipher, st.ike.integrity, st.ike.dh) == (
        "aes256", "sha256", "modp2048")
    child = st.children[-1]
    assert (child.spi_in, child.spi_out, child.cipher, child.integrity, child.pfs) == (
        7, 8, "aes192", "sha256", "none")
    # no ISAKMP-SA in the info lines: racoon has no IKE SA to report, whatever it accepted
    assert racoon_debug_status(text.split("\n", 1)[1], LEFT).ike is None
