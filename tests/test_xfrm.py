"""Parsing an XFRM netlink SA message as the kernel sends it."""

from __future__ import annotations

import socket
import struct

from lab.xfrm import SA_INFO, XFRMA_ALG_AUTH_TRUNC, XFRMA_ALG_CRYPT, _rta, parse_sa


def test_parse_newsa() -> None:
    a = socket.inet_pton(socket.AF_INET6, "2001:db8:1:1::1")
    b = socket.inet_pton(socket.AF_INET6, "2001:db8:2:2::2")
    info = SA_INFO.pack(b, a, 0, 0, 0, 0, socket.AF_INET6, 128, 128, 0, 0, 0,
                         b, (0xA98B7710).to_bytes(4, "big"), 50, a,
                         *([0] * 8), 540, 3, 0, 0, 0, 0, 0,
                         0, 16385, socket.AF_INET6, 1, 32, 128)
    key = bytes.fromhex("082ee2742744bae57451da371162b483")
    auth = bytes(range(20))
    attrs = _rta(XFRMA_ALG_CRYPT, b"cbc(aes)".ljust(64, b"\0") + struct.pack("=I", 128) + key)
    attrs += _rta(XFRMA_ALG_AUTH_TRUNC,
                  b"hmac(sha1)".ljust(64, b"\0") + struct.pack("=II", 160, 96) + auth)
    sa = parse_sa(info + attrs)
    assert (sa.src, sa.dst, sa.spi, sa.proto) == ("2001:db8:1:1::1", "2001:db8:2:2::2",
                                                   0xA98B7710, "esp")
    assert (sa.mode, sa.reqid, sa.esn, sa.bytes, sa.packets) == ("tunnel", 16385, True, 540, 3)
    assert sa.enc == ("cbc(aes)", key.hex())
    assert sa.auth == ("hmac(sha1)", auth.hex(), 96)
    assert str(sa).startswith("2001:db8:1:1::1 > 2001:db8:2:2::2 esp spi=0xa98b7710 tunnel")


def test_parse_policy_with_template() -> None:
    from lab.xfrm import _POLICY_INFO, XFRMA_TMPL, parse_policy

    a = socket.inet_pton(socket.AF_INET6, "2001:db8:1:1::1")
    b = socket.inet_pton(socket.AF_INET6, "2001:db8:2:2::2")
    info = _POLICY_INFO.pack(b, a, 0, 0, 0, 0, socket.AF_INET6, 128, 128, 0, 0, 0,
                             *([0] * 8), *([0] * 4), 0x1A0001, 0x99, 1, 0, 0, 0)
    policy = parse_policy(info + _rta(XFRMA_TMPL, bytes(64)))
    assert (policy.dir, policy.ipsec, policy.action) == ("out", True, "allow")
    assert policy.covers("2001:db8:1:1::1", "2001:db8:2:2::2")
    assert not policy.covers("2001:db8:2:2::2", "2001:db8:1:1::1")
    assert str(policy) == "2001:db8:1:1::1/128 > 2001:db8:2:2::2/128 proto 0 out ipsec"
