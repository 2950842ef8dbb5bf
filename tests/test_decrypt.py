"""Decryption of captured ESP with the kernel's keys (scapy), and the esp_sa file."""

from __future__ import annotations

import pytest
from scapy.layers.inet6 import ICMPv6EchoReply, ICMPv6EchoRequest, IPv6
from scapy.layers.ipsec import ESP, SecurityAssociation
from scapy.layers.l2 import Ether

from lab.wire.decrypt import decrypt, esp_sa_file
from lab.wire.packets import parse
from lab.wire.traffic import PingResult
from lab.xfrm import SA

L, R = "2001:db8:1:1::1", "2001:db8:2:2::2"
KEY, AKEY = "00112233445566778899aabbccddeeff", "0123456789abcdef0123456789abcdef01234567"
SAS = [SA(L, R, 0x1001, "esp", "transport", 1, enc=("cbc(aes)", KEY), auth=("hmac(sha1)", AKEY, 96)),
       SA(R, L, 0x2002, "esp", "transport", 1, enc=("cbc(aes)", KEY[::-1]),
          auth=("hmac(sha1)", AKEY[::-1], 96))]


def encrypted(sa: SA, src: str, dst: str, icmp, seq: int) -> bytes:  # type: ignore[no-untyped-def]
    engine = SecurityAssociation(ESP, spi=sa.spi, crypt_algo="AES-CBC",
                                 crypt_key=bytes.fromhex(sa.enc[1]),  # type: ignore[index]
                                 auth_algo="HMAC-SHA1-96",
                                 auth_key=bytes.fromhex(sa.auth[1]))  # type: ignore[index]
    # explicit MACs: without them scapy asks the network for the neighbour (4 s)
    eth = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
    return bytes(eth / engine.encrypt(IPv6(src=src, dst=dst) / icmp, seq_num=seq))


def capture(flip: bool = False) -> list:
    frames = []
    for seq in (1, 2):
        frames.append(encrypted(SAS[0], L, R, ICMPv6EchoRequest(id=7, seq=seq), seq))
        frames.append(encrypted(SAS[1], R, L, ICMPv6EchoReply(id=7, seq=seq), seq))
    if flip:
        frames[2] = frames[2][:-20] + bytes([frames[2][-20] ^ 1]) + frames[2][-19:]
    return [parse(float(i), f) for i, f in enumerate(frames)]


def echo_frames(sas: list[SA], ident: int, engine_for) -> list:  # type: ignore[no-untyped-def]
    """Requests 1 and 2 (sas[0], left to right) and their replies (sas[1]) as captured frames,
    each encrypted by ``engine_for(sa, src, dst)`` (a scapy SecurityAssociation)."""
    frames = []
    for seq in (1, 2):
        for sa, src, dst, icmp in ((sas[0], L, R, ICMPv6EchoRequest(id=ident, seq=seq)),
                                   (sas[1], R, L, ICMPv6EchoReply(id=ident, seq=seq))):
            esp = engine_for(sa, src, dst).encrypt(IPv6(src=src, dst=dst) / icmp, seq_num=seq)
            frames.append(bytes(Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / esp))
    return frames


def test_decrypts_to_the_pings_sent() -> None:
    result = decrypt(capture(), SAS, PingResult(7, [1, 2], [1, 2]))
    assert result.problems == []
    assert result.inner[(L, R)] == [(128, 7, 1), (128, 7, 2)]


def test_a_flipped_byte_fails_the_icv() -> None:
    result = decrypt(capture(flip=True), SAS, PingResult(7, [1, 2], [1, 2]))
    assert any("seq 2" in p for p in result.problems)


def test_inner_packets_must_be_what_was_sent() -> None:
    result = decrypt(capture(), SAS, PingResult(7, [1, 2, 3], [1, 2]))
    assert result.problems == ["decrypted echo requests [1, 2], sent [1, 2, 3] (id 0x0007)"]


@pytest.mark.parametrize("sa", SAS)
def test_esp_sa_rows(sa: SA) -> None:
    text = esp_sa_file(SAS)
    assert f'"IPv6","{sa.src}","{sa.dst}","0x{sa.spi:08x}","AES-CBC [RFC3602]","0x{sa.enc[1]}",' \
           f'"HMAC-SHA-1-96 [RFC2404]","0x{sa.auth[1]}"' in text  # type: ignore[index]


def test_decrypts_hmac_sha256_truncated_to_96_bits() -> None:
    """racoon's kernel SAs (PF_KEY) carry hmac(sha256) with a 96-bit ICV."""
    from lab.wire.decrypt import _extra_auth

    key, akey = "00112233445566778899aabbccddeeff" * 2, "0123456789abcdef" * 4
    sas = [SA(L, R, 0x3003, "esp", "transport", 1, enc=("cbc(aes)", key),
              auth=("hmac(sha256)", akey, 96)),
           SA(R, L, 0x4004, "esp", "transport", 1, enc=("cbc(aes)", key[::-1]),
              auth=("hmac(sha256)", akey[::-1], 96))]
    def engine_for(sa: SA, _src: str, _dst: str) -> SecurityAssociation:
        engine = SecurityAssociation(ESP, spi=sa.spi, crypt_algo="AES-CBC",
                                     crypt_key=bytes.fromhex(sa.enc[1]))  # type: ignore[index]
        engine.auth_algo = _extra_auth("SHA2-256-96")
        engine.auth_key = bytes.fromhex(sa.auth[1])  # type: ignore[index]
        return engine

    packets = [parse(float(i), f) for i, f in enumerate(echo_frames(sas, 9, engine_for))]
    result = decrypt(packets, sas, PingResult(9, [1, 2], [1, 2]))
    assert result.problems == []
    assert result.inner[(L, R)] == [(128, 9, 1), (128, 9, 2)]
    # the same packets checked with a 128-bit ICV fail: the truncation is what is tested
    longer = [SA(s.src, s.dst, s.spi, "esp", "transport", 1, enc=s.enc,
                 auth=("hmac(sha256)", akey if s.spi == 0x3003 else akey[::-1], 128)) for s in sas]
    assert decrypt(packets, longer, PingResult(9, [1, 2], [1, 2])).problems
    assert '"HMAC-SHA-256-96 [draft-ietf-ipsec-ciph-sha-256-00]"' in esp_sa_file(sas)


@pytest.mark.parametrize(("size", "mac"), [  # RFC 3566 section 4, key 000102..0f, message 00 01 ..
    (0, "75f0251d528ac01c4573dfd584d79f29"), (3, "5b376580ae2f19afe7219ceef172756f"),
    (16, "d2a246fa349b68a79998a4394ff7a263"), (20, "47f51b4564966215b8985c63055ed308"),
    (32, "f54f0ec8d2b9f3d36807734bd5283fd4"), (34, "becbb3bccdb518a30677d5481fb6b4d8")])
def test_aes_xcbc_mac_test_vectors(size: int, mac: str) -> None:
    from lab.wire.xcbc import AesXcbcMac

    m = AesXcbcMac(bytes(range(16)))
    m.update(bytes(range(size))[:size // 2])
    m.update(bytes(range(size))[size // 2:])
    assert m.finalize().hex() == mac


def test_decrypts_aes_xcbc_96() -> None:
    """aesxcbc ESP (AUTH_AES_XCBC_96): checked with the lab's own MAC, a flipped byte fails."""
    from lab.wire.decrypt import _extra_auth

    key, akey = "00112233445566778899aabbccddeeff", "0f0e0d0c0b0a09080706050403020100"
    sas = [SA(L, R, 0x5005, "esp", "tunnel", 1, enc=("cbc(aes)", key), auth=("xcbc(aes)", akey, 96)),
           SA(R, L, 0x6006, "esp", "tunnel", 1, enc=("cbc(aes)", key[::-1]),
              auth=("xcbc(aes)", akey[::-1], 96))]
    def engine_for(sa: SA, src: str, dst: str) -> SecurityAssociation:
        engine = SecurityAssociation(ESP, spi=sa.spi, crypt_algo="AES-CBC",
                                     crypt_key=bytes.fromhex(sa.enc[1]),  # type: ignore[index]
                                     tunnel_header=IPv6(src=src, dst=dst))
        engine.auth_algo = _extra_auth("AES-XCBC-MAC-96")
        engine.auth_key = bytes.fromhex(sa.auth[1])  # type: ignore[index]
        return engine

    frames = echo_frames(sas, 5, engine_for)
    packets = [parse(float(i), f) for i, f in enumerate(frames)]
    result = decrypt(packets, sas, PingResult(5, [1, 2], [1, 2]))
    assert result.problems == [] and result.inner[(L, R)] == [(128, 5, 1), (128, 5, 2)]
    frames[0] = frames[0][:-20] + bytes([frames[0][-20] ^ 1]) + frames[0][-19:]
    broken = decrypt([parse(float(i), f) for i, f in enumerate(frames)], sas, PingResult(5, [1, 2], [1, 2]))
    assert broken.problems
    assert '"ANY 96 bit authentication [no checking]"' in esp_sa_file(sas)


@pytest.mark.parametrize("icv", [64, 96])
def test_decrypts_gcm_with_a_short_icv(icv: int) -> None:
    """aes128gcm8 and gcm12: cryptography's AESGCM takes 16-byte tags only; these failed to
    decrypt (an empty InvalidTag) while the kernels had negotiated them fine."""
    from lab.wire.decrypt import _short_gcm

    key = "00112233445566778899aabbccddeeff" + "01020304"  # key, then the 4-byte salt
    sas = [SA(L, R, 0x7007, "esp", "transport", 1, aead=("rfc4106(gcm(aes))", key, icv)),
           SA(R, L, 0x8008, "esp", "transport", 1, aead=("rfc4106(gcm(aes))", key[::-1], icv))]
    def engine_for(sa: SA, _src: str, _dst: str) -> SecurityAssociation:
        engine = SecurityAssociation(ESP, spi=sa.spi, crypt_algo="AES-GCM",
                                     crypt_key=bytes.fromhex(sa.aead[1]),  # type: ignore[index]
                                     crypt_icv_size=icv // 8)
        engine.crypt_algo = _short_gcm(icv // 8)
        return engine

    packets = [parse(float(i), f) for i, f in enumerate(echo_frames(sas, 3, engine_for))]
    result = decrypt(packets, sas, PingResult(3, [1, 2], [1, 2]))
    assert result.problems == [] and result.inner[(R, L)] == [(129, 3, 1), (129, 3, 2)]
    other = 96 if icv == 64 else 64  # the same packets read with the other ICV length fail
    wrong = [SA(s.src, s.dst, s.spi, "esp", "transport", 1, aead=(s.aead[0], s.aead[1], other))  # type: ignore[index]
             for s in sas]
    assert decrypt(packets, wrong, PingResult(3, [1, 2], [1, 2])).problems
    assert f'"AES-GCM with {icv // 8} octet ICV [RFC4106]"' in esp_sa_file(sas)


def _stream(n: int, ident: int = 7, flip: int | None = None) -> list:
    """n requests on SAS[0] and their replies on SAS[1]; ``flip`` breaks that request's ICV."""
    frames = []
    for seq in range(1, n + 1):
        frames.append(encrypted(SAS[0], L, R, ICMPv6EchoRequest(id=ident, seq=seq), seq))
        if seq == flip:
            frames[-1] = frames[-1][:-20] + bytes([frames[-1][-20] ^ 1]) + frames[-1][-19:]
        frames.append(encrypted(SAS[1], R, L, ICMPv6EchoReply(id=ident, seq=seq), seq))
    return [parse(float(i), f) for i, f in enumerate(frames)]


def test_a_stream_is_sampled_sa_by_sa() -> None:
    from lab.wire.decrypt import decrypt_sample

    packets = _stream(10)
    result = decrypt_sample(packets, SAS, 6, 7, (L, R), set(range(1, 11)), per_spi=2)
    assert result.problems == []
    assert [s for *_, s in result.inner[(L, R)]] == [1, 2, 9, 10]
    assert [s for *_, s in result.inner[(R, L)]] == [1, 2, 9, 10]


@pytest.mark.parametrize(("case", "words"), [
    ("icv", "spi 0x00001001 seq 10"),  # the last request: a sampled one
    ("ident", "id 0x0008 seq 1, not an echo of the stream"),
    ("unsent", "seq 10, not an echo of the stream"),
    ("key", "no key for spi 0x00002002"),
])
def test_a_stream_sample_that_is_not_the_stream_fails(case: str, words: str) -> None:
    from lab.wire.decrypt import decrypt_sample

    packets = _stream(10, ident=8 if case == "ident" else 7, flip=10 if case == "icv" else None)
    sent = set(range(1, 10)) if case == "unsent" else set(range(1, 11))
    sas = SAS[:1] if case == "key" else SAS
    result = decrypt_sample(packets, sas, 6, 7, (L, R), sent, per_spi=2)
    assert any(words in p for p in result.problems), result.problems


def test_a_flipped_icv_byte_fails() -> None:
    """Only the ICV changes: the ciphertext still decrypts to the right echo."""
    frames = [bytes(f) for f in (encrypted(SAS[0], L, R, ICMPv6EchoRequest(id=7, seq=1), 1),
                                 encrypted(SAS[1], R, L, ICMPv6EchoReply(id=7, seq=1), 1))]
    frames[0] = frames[0][:-1] + bytes([frames[0][-1] ^ 1])
    result = decrypt([parse(float(i), f) for i, f in enumerate(frames)], SAS,
                     PingResult(7, [1], [1]))
    assert len(result.problems) == 2
    assert result.problems[0].startswith("spi 0x00001001 seq 1: ")
    assert result.problems[1] == "decrypted echo requests [], sent [1] (id 0x0007)"


def test_decrypted_replies_must_be_the_ones_answered() -> None:
    frames = [encrypted(SAS[0], L, R, ICMPv6EchoRequest(id=7, seq=s), s) for s in (1, 2)]
    frames += [encrypted(SAS[1], R, L, ICMPv6EchoReply(id=7, seq=s), i)
               for i, s in ((1, 1), (2, 5))]
    result = decrypt([parse(float(i), f) for i, f in enumerate(frames)], SAS,
                     PingResult(7, [1, 2], [1, 2]))
    assert result.problems == ["decrypted echo replies [1, 5], answered [1, 2]"]
