"""racoon's and setkey's words, field by field: every field of `setkey -D`'s SAs (AEAD,
ESP in UDP, AH, IPcomp, names the lab has no kernel name for, counters absent), the
pairing of phase 2 SAs in racoon's log, and racoon 0.9's status JSON for one peer."""

from __future__ import annotations

import json

from lab.daemons.racoon.parse import (
    IpsecSA,
    parse_racoon_log,
    parse_setkey_dump,
    partners,
    phase2s,
    racoon_status,
)
from lab.daemons.racoon.status import racoon_json_status, same_address
from lab.status import ChildStatus, DaemonStatus, IkeStatus
from lab.xfrm import SA

L, R, X = "2001:db8:1:1::1", "2001:db8:2:2::2", "2001:db8:9::9"
KEY = "00112233 44556677 8899aabb ccddeeff"

DUMP = f"""\
{L}[4500] {R}[4500]
\tesp mode=tunnel spi=258(0x00000102) reqid=7(0x00000007)
\tE: aes-gcm-16  {KEY} 01020304
\tcurrent: 96(bytes)\thard: 0(bytes)\tsoft: 0(bytes)
\tallocated: 3\thard: 0\tsoft: 0

{R} {L}[4500]
\tah mode=transport spi=259(0x00000103)
\tA: hmac-sha256  {KEY} {KEY}
{R} {L}
\tipcomp mode=transport spi=260(0x00000104) reqid=0(0x00000000)
\tC: deflate
{R} {L}
\tesp mode=transport spi=261(0x00000105) reqid=1(0x00000001)
\tE: Serpent-CBC  {KEY}
\tA: hmac-whirlpool  {KEY}
{L} {R}
\tsadb_seq=9 pid=1 refcnt=0
{R} {L}
\tBEET mode=transport spi=262(0x00000106)
\tE: null
"""


def test_every_field_of_setkey_dumps_sas() -> None:
    k = KEY.replace(" ", "")
    assert parse_setkey_dump(DUMP) == [
        SA(L, R, 258, "esp", "tunnel", 7, aead=("rfc4106(gcm(aes))", k + "01020304", 128),
           encap=True, packets=3, bytes=96),
        SA(R, L, 259, "ah", "transport", 0, auth=("hmac(sha256)", k + k, 96), encap=True),
        SA(R, L, 260, "comp", "transport", 0),
        SA(R, L, 261, "esp", "transport", 1, enc=("serpent-cbc", k), auth=("hmac-whirlpool", k, 0)),
        SA(R, L, 262, "beet", "transport", 0, enc=("ecb(cipher_null)", "")),
    ]


def test_an_indented_line_is_never_an_address_line() -> None:
    dump = f"{L} {R}\n\tesp mode=transport spi=1(0x1)\n 0011 2233\n\tE: aes-cbc  {KEY}\n"
    assert [(sa.src, sa.dst, sa.enc) for sa in parse_setkey_dump(dump)] == [
        (L, R, ("cbc(aes)", KEY.replace(" ", "")))]


def line(proto: str, src: str, dst: str, spi: int, when: str = "2024-06-11 08:40:17") -> str:
    return (f"{when}: INFO: IPsec-SA established: {proto}/Transport {src}[500]->{dst}[500]"
            f" spi={spi}(0x{spi:x})\n")


def pairs(text: str, me: str = L) -> list[tuple[int, int]]:
    return [(i.spi, o.spi) for i, o in phase2s(text, me)]


def test_phase2_sas_pair_only_between_the_same_ends_protocol_and_another_spi() -> None:
    text = (line("ESP", X, L, 99)  # a lone line first: each skip is of one line only
            + line("ESP", R, L, 1) + line("ESP", X, L, 2)  # another peer's SA: no pair
            + line("AH", L, X, 3)  # another protocol than the SA before: no pair
            + line("AH", X, L, 3)  # the same SPI as the SA before: no pair
            + line("ESP", R, L, 5) + line("ESP", L, R, 6)  # each SA's own direction
            + line("ESP", L, R, 7) + line("ESP", R, L, 8)  # the outbound first
            + line("ESP", R, L, 9) + line("ESP", R, L, 10)  # both lines in one direction
            + line("ESP", L, R, 11))  # a lone last line
    assert pairs(text) == [(5, 6), (8, 7), (9, 10)]
    assert partners(text, L) == {5: 6, 6: 5, 8: 7, 7: 8, 9: 10, 10: 9}
    assert pairs(text, R) == [(6, 5), (7, 8), (9, 10)]


def test_a_wrapped_log_line_is_joined_back() -> None:
    text = ("2024-06-11 08:40:17: INFO: IPsec-SA established:\n"
            f"   ESP/Tunnel {L}[500]->{R}[500] spi=5(0x5)\n\n  \n")
    assert parse_racoon_log(text) == [IpsecSA("2024-06-11 08:40:17", "esp", "tunnel", L, R, 5)]
    assert parse_racoon_log(f"INFO: IPsec-SA established: ESP/Tunnel {L}->{R} spi=5(0x5)") == [
        IpsecSA("", "esp", "tunnel", L, R, 5)]
    # a first line that continues what the log lost before it has no time of its own
    assert parse_racoon_log(f"  2024-06-11 08:40:17: IPsec-SA established: ESP/Tunnel {L}->{R}"
                            " spi=5(0x5)") == [IpsecSA("", "esp", "tunnel", L, R, 5)]


def test_racoons_log_status_names_its_own_source() -> None:
    text = line("ESP", R, L, 5) + line("ESP", L, R, 6)
    assert racoon_status(text, L) == DaemonStatus(
        source="racoon.log", children=[ChildStatus(spi_in=5, spi_out=6, mode="transport")],
        unreported=("IKE algorithms", "identities", "ESP algorithms", "PFS group"))
    assert racoon_status(line("AH", R, L, 5) + line("AH", L, R, 6), L).children == []


# -- racoon 0.9's status JSON ----------------------------------------------------------------

LOG = (f"2024-06-11 08:40:16: INFO: ISAKMP-SA established {L}[500]-{R}[500] spi:1a:2b\n"
       + line("ESP", R, L, 5) + line("ESP", L, R, 6)
       + line("ESP", R, L, 7) + line("ESP", L, R, 8))


def status(phase1: list[dict[str, object]] | None = None,
           phase2: list[dict[str, object]] | None = None) -> str:
    doc: dict[str, object] = {}
    if phase1 is not None:
        doc["phase1"] = phase1
    if phase2 is not None:
        doc["phase2"] = phase2
    return json.dumps(doc)


def one(remote: str, cipher: str, state: str = "established") -> dict[str, object]:
    return {"state": state, "local_id": L, "remote_id": remote,
            "proposal": {"encryption_algorithm": cipher, "hash_algorithm": "SHA",
                         "dh_group": 14}}


def test_the_phase_1_of_this_peer_that_is_established() -> None:
    text = status([one(R, "AES-CBC"), one(X, "3DES-CBC"), one(R, "DES-CBC", "dying"),
                   {"state": "established", "remote_id": "@peer.example", "proposal": None}])
    st = racoon_json_status(text, LOG, L, R)
    assert st.ike == IkeStatus(1, None, None, None, "none", None, "@peer.example")
    st = racoon_json_status(status([one(R, "AES-CBC"), one(X, "3DES-CBC")]), LOG, L, R)
    assert st.ike == IkeStatus(1, "aes", "sha1", "sha1", "modp2048", L, R)
    assert st.children == [ChildStatus(7, 8, "transport")]  # no phase 2 in the status
    assert st.source == "racoonctl status" and st.unreported == ("AES key lengths",)
    # without a phase 1 in the status, the log's word that phase 1 is up stands
    assert racoon_json_status(status(), LOG, L, R).ike == IkeStatus(version=1)
    assert racoon_json_status(status(), "", L, R).ike is None


def test_the_last_established_esp_phase_2_gives_the_newest_child_its_algorithms() -> None:
    twos = [{"state": "established", "protocol": "ESP",
             "proposal": {"encryption_algorithm": "AES-CBC", "authentication_algorithm":
                          "hmac-sha256", "pfs_group": 15}},
            {"state": "established", "protocol": "AH", "proposal": {"pfs_group": 2}},
            {"state": "larval", "protocol": "ESP", "proposal": {"pfs_group": 5}}]
    st = racoon_json_status(status([], twos), LOG + line("ESP", X, L, 9) + line("ESP", L, X, 10),
                            L, R)
    assert st.children == [ChildStatus(9, 10, "transport", "aes", "sha256", "modp3072")]
    no_pfs = [{"state": "established", "protocol": "ESP", "proposal": {}}]
    assert racoon_json_status(status([], no_pfs), LOG, L, R).children == [
        ChildStatus(7, 8, "transport", None, None, "none")]
    # a phase 2 in the status but none in the log: nothing to give the algorithms to
    assert racoon_json_status(status([], twos), "", L, R).children == []


def test_same_address_compares_addresses_only() -> None:
    assert same_address("2001:db8:1:1:0:0:0:1", L) is True
    assert same_address(R, L) is False
    assert same_address("@moon.example", L) is None
    assert same_address(None, L) is None
