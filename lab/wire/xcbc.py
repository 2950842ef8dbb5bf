"""AES-XCBC-MAC (RFC 3566), the MAC behind IKE's and ESP's ``aesxcbc`` integrity
(AUTH_AES_XCBC_96), shaped like the MAC objects scapy's AuthAlgo drives: built from a key,
fed with ``update``, closed with ``finalize``. Neither scapy nor ``cryptography`` has it;
it is AES in ECB mode on 16-byte blocks with three keys derived from the one given.
"""

from __future__ import annotations

BLOCK = 16


def _xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b, strict=True))


class AesXcbcMac:
    """One MAC computation. ``digestmod`` and ``backend`` are accepted (and ignored) so that
    scapy can build it the way it builds an HMAC."""

    def __init__(self, key: bytes, digestmod: object = None, backend: object = None) -> None:
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

        if len(key) != BLOCK:
            raise ValueError(f"AES-XCBC-MAC takes a 128-bit key, not {len(key) * 8} bits")
        derive = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
        k1, self._k2, self._k3 = (derive.update(bytes([n]) * BLOCK) for n in (1, 2, 3))
        self._aes = Cipher(algorithms.AES(k1), modes.ECB()).encryptor()
        self._data = b""

    def update(self, data: bytes) -> None:
        self._data += data

    def finalize(self) -> bytes:
        """The full 128-bit MAC (ESP uses its first 96 bits)."""
        data, e = self._data, bytes(BLOCK)
        whole = len(data) > 0 and len(data) % BLOCK == 0
        body, last = (data[:-BLOCK], data[-BLOCK:]) if whole else \
            (data[:len(data) - len(data) % BLOCK], data[len(data) - len(data) % BLOCK:])
        for i in range(0, len(body), BLOCK):
            e = self._aes.update(_xor(e, body[i:i + BLOCK]))
        if whole:
            last = _xor(last, self._k2)
        else:
            last = _xor(last + b"\x80" + bytes(BLOCK - len(last) - 1), self._k3)
        return self._aes.update(_xor(e, last))
