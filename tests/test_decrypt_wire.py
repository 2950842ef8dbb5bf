"""Decryption over every shape of wire the lab captures: IPv4 and IPv6, transport and
tunnel, ESP and ESP in UDP (NAT traversal); the exact problem texts; the lossy path's
replies; the stream sample's choice; and Wireshark's esp_sa file line by line."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from scapy.layers.inet import ICMP, IP, UDP
from scapy.layers.inet6 import ICMPv6EchoReply, ICMPv6EchoRequest, IPv6
from scapy.layers.ipsec import ESP, SecurityAssociation
from scapy.layers.l2 import Ether
from scapy.packet import Packet as ScapyPacket
from scapy.packet import Raw

from lab.wire.decrypt import (
    Decryption,
    decrypt,
    decrypt_sample,
    esp_sa_file,
    inner_echo,
    unsupported,
    write_esp_sa,
)
from lab.wire.packets import Packet, parse
from lab.wire.traffic import PingResult
from lab.xfrm import SA

L6, R6 = "2001:db8:1:1::1", "2001:db8:2:2::2"
L4, R4 = "192.0.2.1", "198.51.100.2"
GW6, GW4 = "2001:db8:9::9", "203.0.113.9"  # the other end of a tunnel's outer header
KEY, AKEY = "00112233445566778899aabbccddeeff", "0123456789abcdef0123456789abcdef01234567"
ETHER = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")


def pair(a: str, b: str, mode: str = "transport") -> list[SA]:
    return [SA(a, b, 0x1001, "esp", mode, 1, enc=("cbc(aes)", KEY), auth=("hmac(sha1)", AKEY, 96)),
            SA(b, a, 0x2002, "esp", mode, 1, enc=("cbc(aes)", KEY[::-1]),
               auth=("hmac(sha1)", AKEY[::-1], 96))]


def echo(src: str, dst: str, request: bool, ident: int, seq: int) -> ScapyPacket:
    if ":" in src:
        icmp = ICMPv6EchoRequest(id=ident, seq=seq) if request else ICMPv6EchoReply(id=ident, seq=seq)
        return IPv6(src=src, dst=dst) / icmp
    return IP(src=src, dst=dst) / ICMP(type=8 if request else 0, id=ident, seq=seq)


def frame(sa: SA, inner: ScapyPacket, seq: int, *, outer: tuple[str, str] | None = None,
          natt: bool = False) -> bytes:
    """``inner`` encrypted on ``sa`` (tunnel mode where ``outer`` names the outer header's
    ends), as a captured Ethernet frame; ``natt``: in UDP on port 4500."""
    assert sa.enc is not None and sa.auth is not None
    header = None if outer is None else (IPv6 if ":" in outer[0] else IP)(src=outer[0], dst=outer[1])
    engine = SecurityAssociation(ESP, spi=sa.spi, crypt_algo="AES-CBC",
                                 crypt_key=bytes.fromhex(sa.enc[1]), auth_algo="HMAC-SHA1-96",
                                 auth_key=bytes.fromhex(sa.auth[1]), tunnel_header=header)
    packet = engine.encrypt(inner, seq_num=seq)
    if natt:
        ip = IPv6 if ":" in packet.src else IP
        packet = ip(src=packet.src, dst=packet.dst) / UDP(sport=4500, dport=4500) / Raw(
            bytes(packet[ESP]))
    return bytes(ETHER / packet)


def packets(frames: list[bytes]) -> list[Packet]:
    found = [parse(float(i), f) for i, f in enumerate(frames)]
    assert all(p is not None for p in found)
    return found  # type: ignore[return-value]


def exchange(a: str, b: str, sas: list[SA], seqs: tuple[int, ...] = (1, 2), ident: int = 7,
             outer: tuple[str, str] | None = None, natt: bool = False) -> list[Packet]:
    frames = []
    for seq in seqs:
        frames.append(frame(sas[0], echo(a, b, True, ident, seq), seq, outer=outer, natt=natt))
        back = None if outer is None else (outer[1], outer[0])
        frames.append(frame(sas[1], echo(b, a, False, ident, seq), seq, outer=back, natt=natt))
    return packets(frames)


# -- every shape of wire -----------------------------------------------------------------------

@pytest.mark.parametrize("natt", [False, True])
@pytest.mark.parametrize(("a", "b", "outer"), [
    (L6, R6, None), (L4, R4, None),
    (L6, R6, (L6, GW6)), (L4, R4, (L4, GW4)),
    (L4, R4, (L6, GW6)),  # IPv4 inside IPv6
])
def test_each_family_mode_and_encapsulation_decrypts_to_the_pings(
        a: str, b: str, outer: tuple[str, str] | None, natt: bool) -> None:
    family = 6 if ":" in a else 4
    request, reply = (128, 129) if family == 6 else (8, 0)
    wire = exchange(a, b, pair(a, b), outer=outer, natt=natt)
    result = decrypt(wire, pair(a, b), PingResult(7, [1, 2], [1, 2], family=family, src=a, dst=b))
    assert result.problems == []
    there, back = (a, b) if outer is None else outer, (b, a) if outer is None else outer[::-1]
    assert result.inner == {there: [(request, 7, 1), (request, 7, 2)],
                            back: [(reply, 7, 1), (reply, 7, 2)]}
    assert result.summary() == "decrypted 4 ESP packets, all echo as sent"


def test_the_inner_packet_must_be_of_the_pings_family() -> None:
    v4 = exchange(L4, R4, pair(L4, R4), seqs=(1,), outer=(L6, GW6))
    result = decrypt(v4, pair(L4, R4), PingResult(7, [1], [1], family=6))
    assert result.problems[:2] == ["spi 0x00001001 seq 1: inner packet is not ICMPv6",
                                   "spi 0x00002002 seq 1: inner packet is not ICMPv6"]
    v6 = exchange(L6, R6, pair(L6, R6), seqs=(1,), outer=(L4, GW4))
    result = decrypt(v6, pair(L6, R6), PingResult(7, [1], [1], family=4))
    assert result.problems[:2] == ["spi 0x00001001 seq 1: inner packet is not ICMP",
                                   "spi 0x00002002 seq 1: inner packet is not ICMP"]
    assert result.summary() == "decrypted 0 ESP packets; 4 problem(s)"


def test_each_echo_must_carry_the_pings_ends() -> None:
    wire = exchange(L4, R4, pair(L4, R4), seqs=(1,))
    result = decrypt(wire, pair(L4, R4), PingResult(7, [1], [1], family=4, src=L4, dst=GW4))
    assert result.problems == [
        f"spi 0x00001001 seq 1: inner packet {L4} > {R4}, expected {L4} > {GW4} (the ping's ends)",
        f"spi 0x00002002 seq 1: inner packet {R4} > {L4}, expected {GW4} > {L4} (the ping's ends)"]
    # a ping that does not know its source (the kernel chose it) checks no ends
    assert decrypt(wire, pair(L4, R4), PingResult(7, [1], [1], family=4, dst=GW4)).problems == []
    assert decrypt(wire, pair(L4, R4), PingResult(7, [1], [1], family=4, src=GW4)).problems == []


def test_packets_other_than_esp_are_passed_over() -> None:
    plain = packets([bytes(ETHER / echo(L6, R6, True, 7, 9))])
    wire = plain + exchange(L6, R6, pair(L6, R6))
    result = decrypt(wire, pair(L6, R6), PingResult(7, [1, 2], [1, 2]))
    assert result.problems == [] and len(result.inner[(L6, R6)]) == 2


@pytest.mark.parametrize(("sa", "why"), [
    (SA(L6, R6, 1, "esp", "tunnel", 1, aead=("rfc4106(gcm(aes))", KEY + "01020304", 128)), None),
    (SA(L6, R6, 1, "esp", "tunnel", 1, aead=("rfc4309(ccm(aes))", KEY + "010203", 128)),
     "no decryption for rfc4309(ccm(aes))"),
    (SA(L6, R6, 1, "esp", "tunnel", 1, auth=("hmac(sha1)", AKEY, 96)),
     "no decryption for a missing cipher"),
    (SA(L6, R6, 1, "esp", "tunnel", 1, enc=("cbc(twofish)", KEY), auth=("hmac(sha1)", AKEY, 96)),
     "no decryption for cbc(twofish)"),
    (SA(L6, R6, 1, "esp", "tunnel", 1, enc=("cbc(aes)", KEY)),
     "no integrity check for a missing integrity"),
    (SA(L6, R6, 1, "esp", "tunnel", 1, enc=("cbc(aes)", KEY), auth=("hmac(sha1)", AKEY, 128)),
     "no integrity check for hmac(sha1)"),
    (pair(L6, R6)[0], None),
])
def test_unsupported_names_what_is_missing(sa: SA, why: str | None) -> None:
    assert unsupported(sa) == why


def test_an_sa_without_decryption_is_a_problem_per_packet() -> None:
    twofish = [SA(s.src, s.dst, s.spi, "esp", "transport", 1, enc=("cbc(twofish)", KEY),
                  auth=s.auth) for s in pair(L6, R6)]
    result = decrypt(exchange(L6, R6, pair(L6, R6), seqs=(1,)), twofish, PingResult(7, [1], [1]))
    assert result.problems == ["spi 0x00001001: no decryption for cbc(twofish)",
                               "spi 0x00002002: no decryption for cbc(twofish)",
                               "decrypted echo requests [], sent [1] (id 0x0007)",
                               "decrypted echo replies [], answered [1]"]


def test_inner_echo_of_packets_that_are_not_an_echo() -> None:
    ipv6 = bytes(IPv6(src=L6, dst=R6) / ICMPv6EchoRequest(id=7, seq=1))
    assert inner_echo(ipv6) == (6, L6, R6, 128, 7, 1)
    assert inner_echo(bytes(IP(src=L4, dst=R4) / ICMP(type=0, id=7, seq=3))) == (4, L4, R4, 0, 7, 3)
    not_ip = bytes(6) + bytes([58]) + bytes(41)  # version 0, a 58 where IPv6's next header is
    assert inner_echo(not_ip) is None
    assert inner_echo(bytes(IPv6(src=L6, dst=R6, nh=6) / Raw(bytes(20)))) is None  # TCP
    assert inner_echo(ipv6[:44]) is None  # an ICMPv6 header cut short


# -- the replies on a lossy path ----------------------------------------------------------------

@pytest.mark.parametrize(("replied", "problem"), [
    ((1, 2, 3), None),  # reply 2 was sent and lost on the way back: the ping never saw it
    ((1, 3), None),
    ((1, 2, 2, 3), "[1, 2, 2, 3]"),  # a reply decrypted twice
    ((1,), "[1]"),  # reply 3 was answered, and is not in the capture
    ((1, 3, 4), "[1, 3, 4]"),  # a reply to a request never sent
])
def test_a_lossy_paths_replies_are_a_superset_of_the_answered(replied: tuple[int, ...],
                                                              problem: str | None) -> None:
    sas = pair(L6, R6)
    frames = [frame(sas[0], echo(L6, R6, True, 7, s), s) for s in (1, 2, 3)]
    frames += [frame(sas[1], echo(R6, L6, False, 7, s), i) for i, s in enumerate(replied, 1)]
    ping = PingResult(7, [1, 2, 3], [1, 3])
    result = decrypt(packets(frames), sas, ping, lossy=True)
    assert result.problems == ([] if problem is None else [
        f"decrypted echo replies {problem}, answered [1, 3] (lossy path: a superset of the"
        " answered, within the sent)"])
    if replied != (1, 3):  # without loss every reply must be one answered
        assert decrypt(packets(frames), sas, ping).problems == [
            f"decrypted echo replies {list(replied)}, answered [1, 3]"]


# -- the stream sample ----------------------------------------------------------------------------

@pytest.mark.parametrize(("n", "per_spi", "chosen"), [
    (3, 2, [1, 2, 3]), (4, 2, [1, 2, 3, 4]), (5, 2, [1, 2, 4, 5]),
    (7, None, [1, 2, 3, 5, 6, 7]), (6, None, [1, 2, 3, 4, 5, 6]),
])
def test_the_sample_is_each_spis_first_and_last_packets(n: int, per_spi: int | None,
                                                        chosen: list[int]) -> None:
    wire = exchange(L6, R6, pair(L6, R6), seqs=tuple(range(1, n + 1)))
    args = {} if per_spi is None else {"per_spi": per_spi}
    result = decrypt_sample(wire, pair(L6, R6), 6, 7, (L6, R6), set(range(1, n + 1)), **args)
    assert result.problems == []
    assert result.inner == {(L6, R6): [(128, 7, s) for s in chosen],
                            (R6, L6): [(129, 7, s) for s in chosen]}


def test_a_sample_names_every_packet_that_is_not_the_streams() -> None:
    wire = exchange(L6, R6, pair(L6, R6), seqs=(1, 2))
    result = decrypt_sample(wire, pair(L6, R6)[:1], 6, 7, (L6, GW6), {1, 2})
    stream = f"not an echo of the stream ({L6} <> {GW6} id 0x0007)"
    assert result.problems == [
        f"spi 0x00001001 seq 1: inner packet {L6} > {R6} type 128 id 0x0007 seq 1, {stream}",
        f"spi 0x00001001 seq 2: inner packet {L6} > {R6} type 128 id 0x0007 seq 2, {stream}",
        "no key for spi 0x00002002", "no key for spi 0x00002002"]
    assert result.inner == {}


# -- GCM with a short ICV, encrypted here without scapy ----------------------------------------

def gcm_frame(sa: SA, inner: ScapyPacket, seq: int) -> bytes:
    """RFC 4106 by hand: nonce = salt | IV, AAD = SPI | sequence number, the tag cut to the
    SA's ICV length; transport mode, ICMPv6 inside, padded to 4 bytes."""
    assert sa.aead is not None
    key, salt, iv = bytes.fromhex(sa.aead[1][:-8]), bytes.fromhex(sa.aead[1][-8:]), bytes(range(8))
    payload = bytes(inner.payload)
    pad = (-(len(payload) + 2)) % 4
    plain = payload + bytes(range(1, pad + 1)) + bytes([pad, 58])
    header = struct.pack("!LL", sa.spi, seq)
    cipher = Cipher(algorithms.AES(key), modes.GCM(salt + iv)).encryptor()
    cipher.authenticate_additional_data(header)
    body = cipher.update(plain) + cipher.finalize()
    esp = header + iv + body + cipher.tag[:sa.aead[2] // 8]
    return bytes(ETHER / IPv6(src=inner.src, dst=inner.dst, nh=50) / Raw(esp))


@pytest.mark.parametrize("icv", [64, 96, 128])
def test_gcm_of_each_icv_length_decrypts_what_another_implementation_encrypted(icv: int) -> None:
    key = KEY + "01020304"
    sas = [SA(L6, R6, 0x7007, "esp", "transport", 1, aead=("rfc4106(gcm(aes))", key, icv)),
           SA(R6, L6, 0x8008, "esp", "transport", 1, aead=("rfc4106(gcm(aes))", key[::-1], icv))]
    frames = [gcm_frame(sas[0], echo(L6, R6, True, 3, 1), 1),
              gcm_frame(sas[1], echo(R6, L6, False, 3, 1), 1)]
    result = decrypt(packets(frames), sas, PingResult(3, [1], [1]))
    assert result.problems == []
    assert result.inner == {(L6, R6): [(128, 3, 1)], (R6, L6): [(129, 3, 1)]}


def test_chacha20_poly1305_decrypts() -> None:
    key = KEY * 2 + "01020304"
    sas = [SA(L6, R6, 0x9009, "esp", "transport", 1,
              aead=("rfc7539esp(chacha20,poly1305)", key, 128)),
           SA(R6, L6, 0xA00A, "esp", "transport", 1,
              aead=("rfc7539esp(chacha20,poly1305)", key[::-1], 128))]
    frames = []
    for sa, inner in ((sas[0], echo(L6, R6, True, 4, 1)), (sas[1], echo(R6, L6, False, 4, 1))):
        assert sa.aead is not None
        engine = SecurityAssociation(ESP, spi=sa.spi, crypt_algo="CHACHA20-POLY1305",
                                     crypt_key=bytes.fromhex(sa.aead[1]), crypt_icv_size=16)
        frames.append(bytes(ETHER / engine.encrypt(inner, seq_num=1)))
    result = decrypt(packets(frames), sas, PingResult(4, [1], [1]))
    assert result.problems == []
    assert result.inner == {(L6, R6): [(128, 4, 1)], (R6, L6): [(129, 4, 1)]}


# -- Wireshark's esp_sa ---------------------------------------------------------------------------

def test_esp_sa_file_line_by_line(tmp_path: Path) -> None:
    cbc = pair(L6, R6)
    gcm = SA(L4, R4, 0x30, "esp", "tunnel", 1, aead=("rfc4106(gcm(aes))", KEY + "01020304", 64))
    chacha = SA(R4, L4, 0x40, "esp", "tunnel", 1,
                aead=("rfc7539esp(chacha20,poly1305)", KEY * 2 + "01020304", 128))
    skipped = [SA("10.0.0.1", R4, 0x1, "esp", "tunnel", 1, enc=("cbc(twofish)", KEY),
                  auth=("hmac(sha1)", AKEY, 96)),
               SA("10.0.0.2", R4, 0x2, "esp", "tunnel", 1, enc=("cbc(aes)", KEY)),
               SA("10.0.0.3", R4, 0x3, "esp", "tunnel", 1, aead=("rfc4309(ccm(aes))", KEY, 128)),
               SA("10.0.0.4", R4, 0x4, "ah", "tunnel", 1, auth=("hmac(sha1)", AKEY, 96))]
    text = esp_sa_file([*skipped, cbc[1], gcm, cbc[0], chacha, gcm])
    assert text.split("\n") == [
        "# Wireshark esp_sa, written by ipsec-lab",
        f'"IPv4","{L4}","{R4}","0x00000030","AES-GCM with 8 octet ICV [RFC4106]",'
        f'"0x{KEY}01020304","NULL",""',
        f'"IPv4","{R4}","{L4}","0x00000040","ChaCha20 with Poly1305 [RFC7634]",'
        f'"0x{KEY * 2}01020304","NULL",""',
        f'"IPv6","{L6}","{R6}","0x00001001","AES-CBC [RFC3602]","0x{KEY}",'
        f'"HMAC-SHA-1-96 [RFC2404]","0x{AKEY}"',
        f'"IPv6","{R6}","{L6}","0x00002002","AES-CBC [RFC3602]","0x{KEY[::-1]}",'
        f'"HMAC-SHA-1-96 [RFC2404]","0x{AKEY[::-1]}"',
        ""]
    write_esp_sa(tmp_path / "esp_sa", [gcm])
    assert (tmp_path / "esp_sa").read_text() == esp_sa_file([gcm])
    assert esp_sa_file([]) == "# Wireshark esp_sa, written by ipsec-lab\n\n"


def test_summary_counts_packets_and_problems() -> None:
    assert Decryption().summary() == "decrypted 0 ESP packets, all echo as sent"
    done = Decryption({(L6, R6): [(128, 7, 1)], (R6, L6): [(129, 7, 1), (129, 7, 2)]}, ["x", "y"])
    assert done.summary() == "decrypted 3 ESP packets; 2 problem(s)"
