"""A rekey by a lifetime so short that the next rekey begins before the peer has deleted
what the last one replaced (strongSwan's net2net-rekey: Child SA life 10 s, rekey 5 s
before its end), run with real daemons: judged as a chain (lab.lifecycle.prove.
rekeyed_pair), it passes, with the new pair carrying the stream and the new SAs proving
their algorithms and PFS group. The old one-pair check failed it every time ("after the
rekey: left's kernel holds 3 ESP SA(s), expected one pair")."""

from __future__ import annotations

import pytest

from lab.algorithms import parse_proposal
from lab.lifecycle.events import run_lifecycle
from lab.scenario import Peer, Scenario

pytestmark = pytest.mark.lab


def net2net_rekey(left: str, right: str, right_life: int | None) -> Scenario:
    return Scenario(
        "net2net-rekey", Peer("192.168.0.1", left, subnet="10.1.0.0/16"),
        Peer("192.168.0.2", right, subnet="10.2.0.0/16", child_lifetime=right_life),
        ike_version=2, mode="tunnel", topology="net-to-net",
        ike=parse_proposal("aes128-sha256-modp3072", "ike", needs_dh=True),
        esp=parse_proposal("aes128-sha256-modp3072", "esp", needs_dh=False),
        child_lifetime=10, ike_lifetime=3600, rekey_margin=5, lifecycle="rekey-child",
        rekey_by="lifetime")


@pytest.mark.time_travel(required=False)
@pytest.mark.parametrize(("left", "right", "right_life"), [
    ("strongswan@bookworm", "strongswan@bookworm", None),  # both sides rekey every 5 s
    ("libreswan@sid", "strongswan@bookworm", 40),  # Libreswan rekeys; charon keeps its old SA
], ids=["strongswan-pair", "libreswan-strongswan"])
def test_a_chain_of_short_rekeys_passes(lab, left: str, right: str, right_life: int | None) -> None:
    cell = lab.start(net2net_rekey(left, right, right_life))
    cell.negotiate()  # the first SAs (lab.cell.sequence negotiates them before the event)
    verdict = run_lifecycle(cell)
    print("\n".join(verdict.lines()))
    assert not verdict.problems, "\n".join(verdict.problems)
    assert any("replaced SAs still held" in n for n in verdict.notes), verdict.notes
    assert cell.record is not None and cell.record.result is not None
    assert "PFS group: modp3072" in "\n".join(verdict.notes)


def test_a_lifecycle_cell_proves_the_rekeyed_child_sas_pfs_group(lab) -> None:
    """Configured with PFS modp3072, the cell claims ecp256: the first Child SA (IKEv2: no
    PFS of its own) passes, the rekeyed one fails naming both groups; the identities and
    algorithms are proved after the rekey too (the listing)."""
    configured = net2net_rekey("strongswan@bookworm", "libreswan@sid", None).with_(
        child_lifetime=1800, rekey_margin=None, rekey_by="command")
    cell = lab.start(configured)
    cell.scenario = configured.with_(esp=parse_proposal("aes128-sha256-ecp256", "esp", needs_dh=False))
    cell.negotiate()
    verdict = run_lifecycle(cell)
    text = "\n".join(verdict.problems)
    print(text)
    assert not any(p.startswith("the first SAs") for p in verdict.problems), text
    assert "after the rekey: pfs: left (strongswan 5.9.8) configured ecp256; VICI list-sas" \
        " reports PFS group modp3072" in text, text
    assert "after the rekey: pfs: right (libreswan 5.2) configured ecp256; pluto.log reports" \
        " PFS group modp3072" in text, text
    listing = "\n".join(verdict.notes)
    assert "after the rekey, negotiated:" in listing and "identities: local 192.168.0.1," \
        " peer 192.168.0.2" in listing, listing
