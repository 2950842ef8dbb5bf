"""strongSwan's files rendered from the scenario, and its capability answers (pure: no charon,
no swanctl, no namespace; flavor trees are small fakes under tmp_path)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from lab.algorithms import parse_proposal
from lab.daemons.base import PeerContext
from lab.daemons.registry import DAEMONS
from lab.daemons.strongswan import flavor as sw
from lab.daemons.strongswan import vici
from lab.daemons.strongswan.conf import conf_text
from lab.daemons.strongswan.driver import StrongSwan
from lab.errors import DaemonError
from lab.flavors import Flavor
from lab.outcome import match
from lab.scenario import Peer, Scenario, seed_scenario

LEFT, RIGHT = "2001:db8:1:1::1", "2001:db8:2:2::2"


@pytest.fixture(autouse=True)
def _fresh_caches() -> None:
    sw.installed_version.cache_clear()
    sw.speaks_ikev1.cache_clear()


def tree(tmp_path: Path, plugins: tuple[str, ...] = (), libcharon: bytes | None = None,
         dpkg: str | None = None) -> Flavor:
    """A fake flavor tree: plugin files, a libcharon, a dpkg status, as asked."""
    root = tmp_path / "tree"
    (root / "usr/lib/ipsec/plugins").mkdir(parents=True, exist_ok=True)
    for name in plugins:
        (root / f"usr/lib/ipsec/plugins/libstrongswan-{name}.so").write_bytes(b"")
    if libcharon is not None:
        (root / "usr/lib/ipsec/libcharon.so.0").write_bytes(libcharon)
    if dpkg is not None:
        (root / "var/lib/dpkg").mkdir(parents=True, exist_ok=True)
        (root / "var/lib/dpkg/status").write_text(dpkg)
    return Flavor("strongswan", "bookworm", root)


def daemon(tmp_path: Path, scenario: Scenario, side: str = "left",
           flavor: Flavor | None = None) -> StrongSwan:
    flavor = flavor or Flavor("strongswan", "bookworm", tmp_path / "no-tree")
    ctx = PeerContext(side, f"ipl-x-{side[0]}", tmp_path / side, flavor, "t", tmp_path)
    return StrongSwan(scenario, ctx)


def parse_conf(text: str) -> dict[str, Any]:
    """strongswan.conf / swanctl.conf as nested dicts (enough syntax for what we render)."""
    stack: list[dict[str, Any]] = [{}]
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.endswith("{"):
            section: dict[str, Any] = {}
            stack[-1][line[:-1].strip()] = section
            stack.append(section)
        elif line == "}":
            stack.pop()
        else:
            key, _, value = line.partition("=")
            stack[-1][key.strip()] = value.strip()
    assert len(stack) == 1, "unbalanced braces"
    return stack[0]


def swanctl(tmp_path: Path, scenario: Scenario, side: str = "left") -> dict[str, Any]:
    return parse_conf(daemon(tmp_path, scenario, side).render()["swanctl.conf"])


def seed(**changes: object) -> Scenario:
    return seed_scenario().with_(**changes)


# -- swanctl.conf ---------------------------------------------------------------------
def test_seed_connection(tmp_path: Path) -> None:
    """The text's connection: IKEv1, PSK between the two addresses, aes128-sha1, modp1024."""
    conf = swanctl(tmp_path, seed())
    conn = conf["connections"]["lab"]
    assert conn["version"] == "1"
    assert (conn["local_addrs"], conn["remote_addrs"]) == (LEFT, RIGHT)
    assert conn["proposals"] == "aes128-sha1-modp1024"
    assert conn["local"] == {"auth": "psk", "id": LEFT}
    assert conn["remote"] == {"auth": "psk", "id": RIGHT}
    child = conn["children"]["lab"]
    assert child["mode"] == "transport"
    assert child["esp_proposals"] == "aes128-sha1"
    assert child["start_action"] == "none"
    assert conf["secrets"]["ike-lab"] == {"secret": "0x" + b"verysecret".hex(), "id-1": LEFT, "id-2": RIGHT}


@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize("mode", ["transport", "tunnel"])
def test_version_and_mode(tmp_path: Path, version: int, mode: str) -> None:
    scenario = seed(ike_version=version, mode=mode,
                    ike=parse_proposal("aes128-sha1-modp2048", "ike", needs_dh=True))
    conn = swanctl(tmp_path, scenario)["connections"]["lab"]
    assert conn["version"] == str(version)
    assert conn["proposals"] == "aes128-sha1-modp2048"
    assert conn["children"]["lab"]["mode"] == mode


def test_right_side_mirrors_addresses(tmp_path: Path) -> None:
    conf = swanctl(tmp_path, seed(), side="right")
    conn = conf["connections"]["lab"]
    assert (conn["local_addrs"], conn["remote_addrs"]) == (RIGHT, LEFT)
    assert conn["local"]["id"] == RIGHT
    assert conf["secrets"]["ike-lab"]["id-1"] == RIGHT


@pytest.mark.parametrize(("esp", "expected"), [
    ("aes128-sha1", "aes128-sha1"),
    ("aes128-sha1-modp2048", "aes128-sha1-modp2048"),
    ("aes256-sha256", "aes256-sha256"),
    ("aes256-sha256-ecp256", "aes256-sha256-ecp256"),
    ("3des-md5", "3des-md5"),
    ("aes256gcm16", "aes256gcm16"),
    ("chacha20poly1305-curve25519", "chacha20poly1305-curve25519"),
])
def test_esp_pfs_only_with_a_group(tmp_path: Path, esp: str, expected: str) -> None:
    scenario = seed(esp=parse_proposal(esp, "esp", needs_dh=False))
    assert swanctl(tmp_path, scenario)["connections"]["lab"]["children"]["lab"]["esp_proposals"] \
        == expected


@pytest.mark.parametrize(("ike", "expected"), [
    ("aes256-sha256-modp2048", "aes256-sha256-modp2048"),
    ("3des-md5-modp1536", "3des-md5-modp1536"),
    ("aes128gcm16-sha384-ecp384", "aes128gcm16-prfsha384-ecp384"),
    ("aes128gcm16-modp2048", "aes128gcm16-prfsha256-modp2048"),
])
def test_ike_spelling(tmp_path: Path, ike: str, expected: str) -> None:
    scenario = seed(ike_version=2, ike=parse_proposal(ike, "ike", needs_dh=True))
    assert swanctl(tmp_path, scenario)["connections"]["lab"]["proposals"] == expected


def test_responder_esp_and_own_psk(tmp_path: Path) -> None:
    scenario = seed(responder_esp=parse_proposal("aes256-sha512", "esp", needs_dh=False),
                    right=Peer(RIGHT, "strongswan", psk='not "this" one'))
    left, right = swanctl(tmp_path, scenario, "left"), swanctl(tmp_path, scenario, "right")
    assert left["connections"]["lab"]["children"]["lab"]["esp_proposals"] == "aes128-sha1"
    assert right["connections"]["lab"]["children"]["lab"]["esp_proposals"] == "aes256-sha512"
    assert right["secrets"]["ike-lab"]["secret"] == "0x" + b'not "this" one'.hex()


def test_lifetimes(tmp_path: Path) -> None:
    conn = swanctl(tmp_path, seed(ike_lifetime=3600, child_lifetime=1800))["connections"]["lab"]
    assert (conn["rekey_time"], conn["over_time"]) == ("3240s", "360s")
    assert (conn["children"]["lab"]["rekey_time"], conn["children"]["lab"]["life_time"]) \
        == ("1620s", "1800s")


# -- strongswan.conf ---------------------------------------------------------------------
def test_strongswan_conf_in_a_tree(tmp_path: Path) -> None:
    """Chrooted: the peer directory is the tree's /run; only installed plugins are loaded."""
    flavor = tree(tmp_path, plugins=("openssl", "random", "nonce", "vici", "kernel-netlink",
                                     "socket-default", "pem", "ldap"))
    conf = parse_conf(daemon(tmp_path, seed(), flavor=flavor).render()["strongswan.conf"])
    charon = conf["charon"]
    assert charon["load_modular"] == "no"
    assert charon["load"] == "random nonce openssl pem kernel-netlink socket-default vici"
    assert conf["charon-systemd"]["load"] == charon["load"]
    assert charon["plugins"]["vici"]["socket"] == "unix:///run/charon.vici"
    assert conf["swanctl"]["socket"] == "unix:///run/charon.vici"
    assert charon["filelog"]["lab"]["path"] == "/run/charon.log"
    assert conf["swanctl"]["load"] == "pem pkcs1 pkcs8 x509 pubkey random openssl"


def test_strongswan_conf_on_the_host(tmp_path: Path) -> None:
    """Host binaries: the paths are the peer directory itself; all plugins are named."""
    d = daemon(tmp_path, seed(), flavor=Flavor("strongswan"))
    conf = parse_conf(d.render()["strongswan.conf"])
    assert conf["charon"]["plugins"]["vici"]["socket"] == f"unix://{tmp_path}/left/charon.vici"
    assert conf["charon"]["load"].split() == list(sw.CHARON_PLUGINS)
    assert d.env == {"STRONGSWAN_CONF": f"{tmp_path}/left/strongswan.conf",
                     "SWANCTL_DIR": f"{tmp_path}/left"}


def test_conf_text_nesting() -> None:
    text = conf_text({"a": {"b": "1", "c": {"d": "2"}}, "e": "3"})
    assert text == "a {\n    b = 1\n    c {\n        d = 2\n    }\n}\ne = 3\n"


# -- capabilities, version ---------------------------------------------------------------
def test_registered() -> None:
    assert DAEMONS["strongswan"] is StrongSwan


def test_ikev1_needs_a_charon_built_with_it(tmp_path: Path) -> None:
    v1 = seed()
    with_v1 = tree(tmp_path / "a", plugins=("openssl",), libcharon=b"\0%H " + sw.IKEV1_MARKER + b"\0")
    without = tree(tmp_path / "b", plugins=("openssl",), libcharon=b"\0IKE version %d not supported\0")
    assert StrongSwan.unsupported(v1, "left", with_v1, "t") is None
    assert "without IKEv1" in (StrongSwan.unsupported(v1, "left", without, "t") or "")
    assert StrongSwan.unsupported(v1.with_(ike_version=2), "left", without, "t") is None


def test_no_aead_ike_in_ikev1(tmp_path: Path) -> None:
    scenario = seed(ike=parse_proposal("aes128gcm16-modp2048", "ike", needs_dh=True))
    assert "AEAD" in (StrongSwan.unsupported(scenario, "left", tree(tmp_path), "t") or "")
    assert StrongSwan.unsupported(scenario.with_(ike_version=2), "left",
                                  tree(tmp_path, plugins=("openssl",)), "t") is None


def test_missing_provider_plugin(tmp_path: Path) -> None:
    flavor = tree(tmp_path, plugins=("aes", "sha1", "gmp"),
                  dpkg="Package: libstrongswan\nStatus: install ok installed\nVersion: 5.9.8-5\n")
    scenario = seed(ike_version=2, ike=parse_proposal("aes128-sha1-modp2048", "ike", needs_dh=True))
    assert StrongSwan.unsupported(scenario, "left", flavor, "t") is None
    reason = StrongSwan.unsupported(
        scenario.with_(esp=parse_proposal("aes128-sha256", "esp", needs_dh=False)), "left", flavor, "t")
    assert reason is not None and "sha256" in reason and "5.9.8" in reason


def test_version_from_dpkg_status(tmp_path: Path) -> None:
    status = ("Package: bash\nStatus: install ok installed\nVersion: 5.2.15-2\n\n"
              "Package: libstrongswan\nStatus: install ok installed\nPriority: optional\n"
              "Version: 1:6.1.0-2+b1\n\n")
    assert StrongSwan.version(tree(tmp_path, dpkg=status), "t") == "6.1.0"


def test_missing_charon(tmp_path: Path) -> None:
    flavor = tree(tmp_path)
    (flavor.host_path("/usr/sbin")).mkdir(parents=True)
    (flavor.host_path("/usr/sbin/swanctl")).write_text("#!/bin/sh\n")
    flavor.host_path("/usr/sbin/swanctl").chmod(0o755)
    assert "no charon" in (StrongSwan.missing(flavor) or "")
    (flavor.host_path("/usr/sbin/charon-systemd")).write_text("#!/bin/sh\n")
    flavor.host_path("/usr/sbin/charon-systemd").chmod(0o755)
    assert StrongSwan.missing(flavor) is None


def test_tree_symlinks_stay_inside(tmp_path: Path) -> None:
    """An absolute link in a tree (/lib -> /usr/lib) resolves inside the tree."""
    flavor = tree(tmp_path, plugins=("openssl",))
    (flavor.host_path("/")).joinpath("lib").symlink_to("/usr/lib")
    assert flavor.host_path("/lib/ipsec/plugins") == flavor.root / "usr/lib/ipsec/plugins"  # type: ignore[operator]
    assert sw.plugins_of(Flavor("strongswan", "x", flavor.root)) == frozenset({"openssl"})


# -- load(): swanctl's words -----------------------------------------------------------------
def fake_tool(d: StrongSwan, monkeypatch: pytest.MonkeyPatch, code: int, out: str) -> None:
    def tool(argv: list[str], **_: object) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(argv, code, out, "")

    monkeypatch.setattr(d, "tool", tool)


def test_load_accepts_noise(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    d = daemon(tmp_path, seed())
    fake_tool(d, monkeypatch, 0, "plugin 'ldap': failed to load - not found\n"
              "opening directory '/run/x509' failed: No such file or directory\n"
              "loaded ike secret 'ike-lab'\nloaded connection 'lab'\n"
              "successfully loaded 1 connections, 0 unloaded\n")
    d.load()


def test_load_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    d = daemon(tmp_path, seed())
    fake_tool(d, monkeypatch, 1, "invalid value for: proposals, config discarded\n"
              "loading connection 'lab' failed: parsing proposals failed\n")
    with pytest.raises(DaemonError, match="invalid value for: proposals"):
        d.load()


# -- the VICI client's wire format ---------------------------------------------------------
def test_vici_packet_and_values() -> None:
    packet = vici.vici_packet("initiate", {"child": "lab"})
    assert packet == (b"\0\0\0\x16" b"\0\x08initiate" b"\x03\x05child\0\x03lab")
    message = (b"\x03\x06daemon\0\x0echaron-systemd" b"\x01\x03sub" b"\x03\x01x\0\x01y" b"\x02"
               b"\x04\x01l" b"\x05\0\x01z" b"\x06" b"\x03\x07version\0\x055.9.8")
    assert vici.vici_values(message) == {"daemon": "charon-systemd", "version": "5.9.8"}


def test_outcome_words_name_what_charon_logs() -> None:
    for line, cls in (("received AUTHENTICATION_FAILED notify error", "authentication-failed"),
                      ("tried 1 shared key for '%any' - '2001:db8:1:1::1', but MAC mismatched",
                       "authentication-failed"),
                      ("no acceptable proposal found", "no-proposal-chosen"),
                      ("could not decrypt payloads", "authentication-failed"),
                      ("IKE version 1 not supported", "version-mismatch")):
        words = match(line, StrongSwan.outcome_words)
        assert words is not None and words.cls == cls, line


def test_sha256_96_and_per_side_ike_version(tmp_path: Path) -> None:
    s = Scenario("x", Peer("2001:db8:1:1::1", "strongswan"),
                 Peer("2001:db8:2:2::2", "strongswan", ike_version=1),
                 esp=parse_proposal("aes256-sha256_96", "esp", needs_dh=False))
    left = parse_conf(daemon(tmp_path, s).swanctl_conf())["connections"]["lab"]
    right = parse_conf(daemon(tmp_path, s, "right").swanctl_conf())["connections"]["lab"]
    assert left["children"]["lab"]["esp_proposals"] == "aes256-sha256_96"
    assert (left["version"], right["version"]) == ("2", "1")


def test_private_sha256_96_is_accepted_only_where_asked_for(tmp_path: Path) -> None:
    """sha256_96 is a private-use ID: charon takes it from a peer it does not know to be
    strongSwan only with accept_private_algs (two strongSwans failed NO_PROPOSAL_CHOSEN)."""
    plain = parse_conf(daemon(tmp_path, seed()).render()["strongswan.conf"])
    assert "accept_private_algs" not in plain["charon"]
    truncated = seed(esp=parse_proposal("aes128-sha256_96", "esp", needs_dh=False))
    conf = parse_conf(daemon(tmp_path, truncated).render()["strongswan.conf"])
    assert conf["charon"]["accept_private_algs"] == "yes"
