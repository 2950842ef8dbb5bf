"""Libreswan's files rendered from the scenario (pure: no pluto is started)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.algorithms import parse_proposal
from lab.daemons.base import PeerContext
from lab.daemons.libreswan import probe
from lab.daemons.libreswan.driver import Libreswan
from lab.flavors import Flavor
from lab.scenario import Peer, seed_scenario


@pytest.fixture(autouse=True)
def _version(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(probe, "pluto_version", lambda flavor, tag: "4.10")


def render(tmp_path: Path, side: str = "left", **changes: object) -> dict[str, str]:
    scenario = seed_scenario().with_(**changes)
    ctx = PeerContext(side, "ipl-x-l", tmp_path / side, Flavor("libreswan"), "t", tmp_path)
    return Libreswan(scenario, ctx).render()


def conn_lines(text: str) -> set[str]:
    return {line.strip() for line in text.splitlines() if line.startswith("\t")}


def test_seed_statements(tmp_path: Path) -> None:
    """The text's conn, in today's syntax: aes128-sha1, modp1024, transport, PSK."""
    files = render(tmp_path)
    lines = conn_lines(files["ipsec.conf"])
    assert {"left=2001:db8:1:1::1", "right=2001:db8:2:2::2", "authby=secret",
            "esp=aes128-sha1", "ike=aes128-sha1;modp1024", "type=transport", "auto=add",
            "ikev2=no", "ikev1-policy=accept"} <= lines
    secrets = [ln for ln in files["ipsec.secrets"].splitlines() if not ln.startswith("#")]
    # the PSK as hex of its UTF-8 bytes: b"verysecret"
    assert secrets == ["2001:db8:1:1::1 2001:db8:2:2::2 : PSK 0x76657279736563726574"]


def test_right_side_swaps_addresses(tmp_path: Path) -> None:
    files = render(tmp_path, side="right", mode="tunnel", ike_version=2)
    lines = conn_lines(files["ipsec.conf"])
    assert {"left=2001:db8:2:2::2", "right=2001:db8:1:1::1", "type=tunnel", "ikev2=yes"} <= lines
    assert "ikev1-policy=accept" not in lines


def test_libreswan5_uses_keyexchange(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(probe, "pluto_version", lambda flavor, tag: "5.2")
    assert "keyexchange=ikev1" in conn_lines(render(tmp_path)["ipsec.conf"])


def test_pfs_follows_the_esp_dh_group(tmp_path: Path) -> None:
    assert "pfs=no" in conn_lines(render(tmp_path)["ipsec.conf"])
    files = render(tmp_path, esp=parse_proposal("aes256-sha256-modp2048", "esp", needs_dh=False))
    assert {"pfs=yes", "esp=aes256-sha2_256;modp2048"} <= conn_lines(files["ipsec.conf"])


def test_aead_and_per_side_psk(tmp_path: Path) -> None:
    files = render(tmp_path, esp=parse_proposal("aes128gcm16", "esp", needs_dh=False),
                   left=Peer("2001:db8:1:1::1", psk="other"))
    assert "esp=aes_gcm128" in conn_lines(files["ipsec.conf"])
    assert f"PSK 0x{b'other'.hex()}" in files["ipsec.secrets"]


def test_sha256_96_asks_for_the_truncation_bug(tmp_path: Path) -> None:
    """ESP integrity sha256_96 (for PF_KEY peers): sha2_256 with sha2-truncbug=yes."""
    lines = conn_lines(render(tmp_path, esp=parse_proposal("aes256-sha256_96", "esp",
                                                           needs_dh=False))["ipsec.conf"])
    assert {"esp=aes256-sha2_256", "sha2-truncbug=yes"} <= lines
    assert "sha2-truncbug=yes" not in conn_lines(render(tmp_path / "b")["ipsec.conf"])


def test_per_side_ike_version(tmp_path: Path) -> None:
    s = seed_scenario().with_(right=Peer("2001:db8:2:2::2", "libreswan", ike_version=2))
    ctx = PeerContext("right", "ipl-x-r", tmp_path / "right", Flavor("libreswan"), "t", tmp_path)
    text = Libreswan(s, ctx).render()["ipsec.conf"]
    assert "ikev2=yes" in conn_lines(text) and "ikev1-policy=accept" not in text
    left = PeerContext("left", "ipl-x-l", tmp_path / "left", Flavor("libreswan"), "t", tmp_path)
    assert "ikev2=no" in conn_lines(Libreswan(s, left).render()["ipsec.conf"])
