"""charon's VICI list-sas and pluto's log, word by word: every field of the IKE SA and
each Child SA, names the tables do not know, what a missing word means (AEAD: no
integrity; IKEv1: no PFS; IKEv2: nothing said), and the source each status names."""

from __future__ import annotations

from lab.daemons.libreswan.pluto_log import parse_pluto_log
from lab.daemons.strongswan.status import parse_list_sas
from lab.daemons.strongswan.vici import Message
from lab.status import ChildStatus, DaemonStatus, IkeStatus

L, R = "2001:db8:1:1::1", "2001:db8:2:2::2"

IKE: Message = {
    "version": "1", "encr-alg": "CHACHA20_POLY1305", "prf-alg": "PRF_HMAC_SHA2_256",
    "dh-group": "CURVE_25519", "local-id": L, "remote-id": R,
    "child-sas": {
        "lab-1": {"spi-in": "c1c2c3c4", "spi-out": "0000abcd", "mode": "TUNNEL",
                  "encr-alg": "AES_CBC", "encr-keysize": "256", "integ-alg": "HMAC_SHA2_256_128",
                  "dh-group": "MODP_2048"},
        "lab-2": {"encr-alg": "SERPENT_CBC", "encr-keysize": "128", "integ-alg": "HMAC_WHIRL"},
        "lab-3": {"encr-alg": "CAMELLIA_CBC", "mode": ""},
        "lab-4": {"encr-alg": "CHACHA20_POLY1305", "encr-keysize": "256"},
        "lab-5": {},
        "lab-6": "not a Child SA",
    },
}


def test_every_field_of_an_ikev1_sa_and_its_children() -> None:
    events: list[Message] = [{"other": IKE}, {"lab": "not an IKE SA"}, {"lab": IKE}]
    assert parse_list_sas(events, "lab") == DaemonStatus(
        source="VICI list-sas",
        ike=IkeStatus(1, "chacha20poly1305", "none", "sha256", "curve25519", L, R),
        children=[
            ChildStatus(0xC1C2C3C4, 0xABCD, "tunnel", "aes256", "sha256", "modp2048"),
            ChildStatus(None, None, None, "serpent_cbc_128", "hmac_whirl", "none"),
            ChildStatus(None, None, None, "camellia_cbc", None, "none"),
            ChildStatus(None, None, None, "chacha20poly1305", "none", "none"),
            ChildStatus(None, None, None, None, None, "none")])


def test_ikev2_says_nothing_of_pfs_and_odd_values_are_no_words() -> None:
    ike: Message = {"version": "IKEv2", "encr-alg": "AES_GCM_16", "encr-keysize": "128",
                    "remote-id": {"not": "text"}, "child-sas": ["not", "a", "table"]}
    assert parse_list_sas([{"lab": ike}], "lab") == DaemonStatus(
        source="VICI list-sas", ike=IkeStatus(None, "aes128gcm16", "none", None, None, None, None))
    two: Message = {"version": "2", "encr-alg": "AES_CBC", "encr-keysize": "128",
                    "child-sas": {"c": {"encr-alg": "AES_CBC", "encr-keysize": "128"}}}
    status = parse_list_sas([{"lab": two}], "lab")
    assert status.ike == IkeStatus(2, "aes128")
    assert status.children == [ChildStatus(cipher="aes128")]
    assert parse_list_sas([], "lab") == DaemonStatus(
        source="VICI list-sas", error="no IKE SA of connection 'lab' listed")


# -- pluto's log -------------------------------------------------------------------------------

def child(n: int, xfrm: str, mode: str = "tunnel") -> str:
    return (f'Nov 27 07:27:22.1: "lab" #{n}: IPsec SA established {mode} mode'
            f" {{ESP=>0x{n:08x} <0x{n + 100:08x} xfrm={xfrm} DPD=passive}}")


def quick(pfs: str) -> str:
    return ('Nov 27 07:27:22.1: "lab" #2: initiating Quick Mode IKEv1+PSK {using isakmp#1'
            f" msgid:b6f312c7 proposal=AES_CBC_128-HMAC_SHA1_96 pfsgroup={pfs}}}")


def test_pluto_children_with_their_pfs_from_quick_mode_or_their_xfrm() -> None:
    log = "\n".join([
        'Nov 27 07:27:21.1: "lab" #1: ISAKMP SA established {auth=PRESHARED_KEY'
        " cipher=AES_CBC_256 integ=HMAC_SHA2_256 group=MODP3072}",
        quick("MODP1536"), child(2, "AES_CBC_128-HMAC_SHA1_96"),
        child(3, "AES_CBC_256-HMAC_SHA2_256_128-MODP2048", "transport"),
        quick("DH19"), child(4, "AES_GCM_16_128"),
        quick("no-pfs"), child(5, "CAMELLIA_CBC_128-HMAC_SHA1_96"),
    ])
    assert parse_pluto_log(log, 1) == DaemonStatus(
        source="pluto.log",
        ike=IkeStatus(1, "aes256", "sha256", "sha256", "modp3072", None, None),
        children=[ChildStatus(102, 2, "tunnel", "aes128", "sha1", "modp1536"),
                  ChildStatus(103, 3, "transport", "aes256", "sha256", "modp2048"),
                  ChildStatus(104, 4, "tunnel", "aes128gcm16", None, "ecp256"),
                  ChildStatus(105, 5, "tunnel", "camellia_cbc_128", "sha1", "none")],
        unreported=("local identity",))


def test_pluto_ike_sa_from_its_peer_id_or_its_algorithms_alone() -> None:
    peer = 'Nov 27 07:27:21.1: "lab" #1: Peer ID is ID_IPV6_ADDR: \'2001:db8:2:2::2\''
    assert parse_pluto_log(peer, 1).ike == IkeStatus(1, remote_id=R)
    ikev2 = ('Nov 27 07:27:21.1: "lab" #1: sent IKE_AUTH request {cipher=AES_CBC_128'
             " integ=HMAC_SHA1_96 group=MODP2048}")
    assert parse_pluto_log(ikev2, 2).ike == IkeStatus(2, "aes128", "sha1", None, "modp2048")
    assert parse_pluto_log("", 2) == DaemonStatus(source="pluto.log", unreported=("local identity",))
