"""The neutral algorithm vocabulary scenarios are written in.

Each daemon module maps these names to its own spelling; nothing here knows
about a daemon.  Proposals are written like the source text writes them:
``cipher-integrity-dh`` for IKE (``aes128-sha1-modp2048``) and
``cipher-integrity[-dh]`` for ESP, where an AEAD cipher has no integrity part
(``aes128gcm16-modp2048`` or just ``aes128gcm16``).
"""

from __future__ import annotations

from dataclasses import dataclass

from lab.errors import ScenarioError

#: cipher -> (key bits, is AEAD)
CIPHERS: dict[str, tuple[int, bool]] = {
    "3des": (192, False),
    "aes128": (128, False),
    "aes192": (192, False),
    "aes256": (256, False),
    "aes128gcm16": (128, True),
    "aes256gcm16": (256, True),
    "chacha20poly1305": (256, True),
}

INTEGRITY: tuple[str, ...] = ("md5", "sha1", "sha256", "sha384", "sha512")

DH_GROUPS: dict[str, int] = {
    "modp768": 1,
    "modp1024": 2,
    "modp1536": 5,
    "modp2048": 14,
    "modp3072": 15,
    "modp4096": 16,
    "ecp256": 19,
    "ecp384": 20,
    "curve25519": 31,
}


def _allowed(names: object) -> str:
    return ", ".join(sorted(names))  # type: ignore[call-overload]


@dataclass(frozen=True)
class Proposal:
    """One transform set. ``integrity`` is None for AEAD ciphers in ESP (in IKE
    it is the PRF then); ``dh`` is the IKE group, or for ESP the PFS group (None: no PFS)."""

    cipher: str
    integrity: str | None = None
    dh: str | None = None

    def __post_init__(self) -> None:
        """Only names of the tables: nothing else can reach a daemon's config through a proposal."""
        for what, value, names in (("cipher", self.cipher, CIPHERS),
                                   ("integrity algorithm", self.integrity, INTEGRITY),
                                   ("DH group", self.dh, DH_GROUPS)):
            if what != "cipher" and value is None:
                continue
            if not isinstance(value, str) or value not in names:
                raise ScenarioError(f"proposal: unknown {what} {value!r} (allowed: {_allowed(names)})")

    @property
    def aead(self) -> bool:
        return CIPHERS[self.cipher][1]

    def __str__(self) -> str:
        return "-".join(p for p in (self.cipher, self.integrity, self.dh) if p)


def parse_proposal(text: str, where: str, *, needs_dh: bool) -> Proposal:
    """Parse ``aes128-sha1-modp2048``; errors name ``where`` and what is allowed."""
    if not isinstance(text, str) or not text:
        shown = ("true" if text else "false") if isinstance(text, bool) else repr(text)
        raise ScenarioError(f"{where}: {shown[:80]} is not a proposal"
                            " (allowed: a string such as 'aes128-sha1-modp2048')")
    parts = text.lower().split("-")
    cipher = parts.pop(0)
    if cipher not in CIPHERS:
        raise ScenarioError(
            f"{where}: unknown cipher {cipher!r} in {text!r} (allowed: {_allowed(CIPHERS)})"
        )
    integrity = None
    aead = CIPHERS[cipher][1]
    if aead and parts and parts[0] in INTEGRITY:
        if not needs_dh:
            raise ScenarioError(f"{where}: {cipher} is an AEAD cipher and takes no integrity"
                                f" algorithm in ESP; write {cipher!r}")
        integrity = parts.pop(0)  # for IKE, the PRF
    elif not aead:
        if not parts:
            raise ScenarioError(
                f"{where}: {cipher} needs an integrity algorithm, e.g. '{cipher}-sha256'"
                f" (allowed: {_allowed(INTEGRITY)})"
            )
        integrity = parts.pop(0)
        if integrity not in INTEGRITY:
            raise ScenarioError(
                f"{where}: unknown integrity algorithm {integrity!r} in {text!r}"
                f" (allowed: {_allowed(INTEGRITY)})"
            )
    dh = parts.pop(0) if parts else None
    if dh is not None and dh not in DH_GROUPS:
        raise ScenarioError(
            f"{where}: unknown DH group {dh!r} in {text!r} (allowed: {_allowed(DH_GROUPS)})"
        )
    if parts:
        raise ScenarioError(f"{where}: trailing {'-'.join(parts)!r} in {text!r}")
    if needs_dh and dh is None:
        raise ScenarioError(f"{where}: IKE needs a DH group, e.g. '{text}-modp2048'")
    return Proposal(cipher, integrity, dh)
