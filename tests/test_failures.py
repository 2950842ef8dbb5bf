"""Broken cells fail with their cause in the message, and leave nothing behind.

These run real daemons in a real kernel (inside UML where the host has no ESP)."""

from __future__ import annotations

import os

import pytest

from lab.algorithms import parse_proposal
from lab.errors import DaemonError
from lab.scenario import Peer, seed_scenario
from lab.topology.netns import lab_namespaces

pytestmark = pytest.mark.lab

BASE = seed_scenario(ike="aes128-sha1-modp2048")


def _pids(name: str) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/comm") as f:
                    if f.read().strip() == name:
                        pids.append(int(entry))
            except OSError:
                continue
    return pids


@pytest.mark.parametrize("ike_version", [1, 2], ids=["ikev1", "ikev2"])
def test_wrong_psk_names_authentication(lab, ike_version: int) -> None:
    scenario = BASE.with_(ike_version=ike_version,
                          right=Peer("2001:db8:2:2::2", "libreswan", psk="not-the-secret"))
    with pytest.raises(DaemonError) as exc:
        lab.run(scenario)
    text = str(exc.value)
    assert "libreswan" in text
    assert any(w in text for w in ("AUTHENTICATION_FAILED", "authentication", "INVALID_HASH",
                                   "Can't authenticate", "possible authentication failure")), text


@pytest.mark.parametrize("ike_version", [1, 2], ids=["ikev1", "ikev2"])
def test_esp_proposal_refused(lab, ike_version: int) -> None:
    scenario = BASE.with_(ike_version=ike_version,
                          responder_esp=parse_proposal("aes256-sha256", "esp", needs_dh=False))
    with pytest.raises(DaemonError) as exc:
        lab.run(scenario)
    text = str(exc.value)
    assert any(w in text for w in ("NO_PROPOSAL_CHOSEN", "no acceptable", "failed to match")), text


def test_nothing_left_after_a_failed_cell(lab) -> None:
    scenario = BASE.with_(right=Peer("2001:db8:2:2::2", "libreswan", psk="wrong"))
    before = set(_pids("pluto"))
    with pytest.raises(DaemonError):
        lab.run(scenario)
    cell, _ = lab.cells[-1]
    cell.down()
    assert not [ns for ns in lab_namespaces() if ns.startswith(f"ipl-{cell.ident}-")]
    assert set(_pids("pluto")) <= before
    assert not cell.workdir.exists()


@pytest.mark.parametrize("where", ["conn", "config setup"])
def test_a_config_libreswan_refuses_names_the_file_and_its_words(
        lab, monkeypatch: pytest.MonkeyPatch, where: str) -> None:
    """pluto starts without `addconn --checkconfig` first; when it or the load fails,
    the lab asks addconn then, so the error is still the config's own."""
    from lab.daemons.libreswan.driver import Libreswan

    real = Libreswan.render

    def broken(self: Libreswan) -> dict[str, str]:
        files = real(self)
        anchor = "\tauto=add\n" if where == "conn" else "\tplutodebug=none\n"
        files["ipsec.conf"] = files["ipsec.conf"].replace(anchor, anchor + "\tno-such-option=yes\n")
        return files

    monkeypatch.setattr(Libreswan, "render", broken)
    with pytest.raises(DaemonError) as exc:
        lab.run(BASE)
    text = str(exc.value)
    assert "ipsec.conf" in text and "no-such-option" in text, text
    lab.cells[-1][0].down()  # pluto exited as it should: not a crash for the health check
