"""The PSK arrives byte for byte: a key that looks like encoded data to one daemon
(``0s...`` is base64 to strongSwan, ``0x...`` hex to all three) and holds every character
that needs quoting (``"``, ``#``, ``%``, backslash) authenticates between Libreswan and
strongSwan in both orders; racoon pairs use IKEv1 (skipped, saying so, where racoon is
missing).

Each driver writes the PSK as ``0x`` and the hex of its UTF-8 bytes. Two control cells
prove that this decodes to the very bytes of the text, not merely to the same thing on
both ends: one side gets the PSK the old way, as a literal quoted string, the other the
hex form; they authenticate only if the hex decodes to exactly the text's bytes.
"""

from __future__ import annotations

import pytest

from lab.daemons.libreswan import render as libreswan_render
from lab.daemons.strongswan import render as strongswan
from lab.matrix import pair_id
from lab.scenario import Peer, Scenario, seed_scenario

#: the key of the verdict issue: '0s' + base64-looking text, a quote, '#', '%', backslash
PSK = '0sFpZ"#%\\x'
#: a key both daemons can also take as a literal quoted string (no quote, no backslash, no
#: leading 0x/0s), with bytes outside ASCII
PLAIN = "plain text, #1 % ünïcode"

LIBRESWANS = ("libreswan@bookworm", "libreswan@sid")
STRONGSWANS = ("strongswan@bookworm", "strongswan@sid")
PAIRS = [(a, b) for a in LIBRESWANS for b in STRONGSWANS] + \
        [(b, a) for a in LIBRESWANS for b in STRONGSWANS]
RACOONS = ("racoon@0.8.2", "racoon@0.9.1")
RACOON_PAIRS = [pair for r in RACOONS for other in ("libreswan@sid", "strongswan@bookworm")
                for pair in ((r, other), (other, r))]


def _id(pair: tuple[str, str]) -> str:
    """Test ids `-k` can select, as the matrix's: `libreswan_sid-strongswan_bookworm`."""
    return pair_id(*pair)


def scenario(initiator: str, responder: str, psk: str, ike_version: int = 2) -> Scenario:
    return seed_scenario(ike_version=ike_version, ike="aes128-sha1-modp2048").with_(
        name=f"psk-{initiator}->{responder}", psk=psk,
        left=Peer("2001:db8:1:1::1", initiator), right=Peer("2001:db8:2:2::2", responder))


@pytest.mark.lab
@pytest.mark.parametrize("pair", PAIRS, ids=[_id(p) for p in PAIRS])
def test_psk_byte_for_byte(lab, pair: tuple[str, str]) -> None:
    s = scenario(*pair, PSK)
    verdict = lab.run(s)
    assert verdict.esp_packets == 2 * s.pings


@pytest.mark.lab
@pytest.mark.parametrize("pair", RACOON_PAIRS, ids=[_id(p) for p in RACOON_PAIRS])
def test_psk_byte_for_byte_racoon(lab, pair: tuple[str, str]) -> None:
    s = scenario(*pair, PSK, ike_version=1)
    verdict = lab.run(s)
    assert verdict.esp_packets == 2 * s.pings


def _literal(psk: str, daemon: str, max_bytes: int) -> str:
    """The PSK as literal text, the way the drivers wrote it before they wrote hex: a quoted
    string in ipsec.secrets; in swanctl.conf the driver quotes a value that needs it."""
    assert '"' not in psk and "\\" not in psk and not psk.startswith(("0x", "0s"))
    return f'"{psk}"' if daemon == "libreswan" else psk


@pytest.mark.lab
@pytest.mark.parametrize("literal", ["strongswan", "libreswan"])
def test_hex_decodes_to_the_text_bytes(lab, literal: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """libreswan@sid -> strongswan@sid with one side's PSK written literally: it can only
    authenticate if the other side's 0x form decodes to exactly the UTF-8 bytes of PLAIN."""
    monkeypatch.setattr(strongswan if literal == "strongswan" else libreswan_render, "psk_hex", _literal)
    s = scenario("libreswan@sid", "strongswan@sid", PLAIN)
    verdict = lab.run(s)
    assert verdict.esp_packets == 2 * s.pings
