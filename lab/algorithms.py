"""The neutral algorithm vocabulary scenarios are written in.

Each daemon module maps these names to its own spelling; nothing here knows
about a daemon.  Proposals are written like the source text writes them:
``cipher-integrity-dh`` for IKE (``aes128-sha1-modp2048``) and
``cipher-integrity[-dh]`` for ESP, where an AEAD cipher has no integrity part
(``aes128gcm16-modp2048`` or just ``aes128gcm16``). An IKE proposal may name its PRF
explicitly (``aes128-sha256-prfsha384-ecp256``, ``aes128gcm16-prfsha256-ecp256``); an
AEAD IKE proposal's integrity part is its PRF (``aes128gcm16-sha256-modp2048``).

A scenario's ``ike`` and ``esp`` are lists in order of preference (``parse_proposals``),
or ``default``: the daemon's own defaults (the empty tuple).
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
    "aes128gcm8": (128, True),
    "aes128gcm12": (128, True),
    "aes128gcm16": (128, True),
    "aes192gcm8": (192, True),
    "aes192gcm12": (192, True),
    "aes192gcm16": (192, True),
    "aes256gcm8": (256, True),
    "aes256gcm12": (256, True),
    "aes256gcm16": (256, True),
    "chacha20poly1305": (256, True),
}

INTEGRITY: tuple[str, ...] = ("md5", "sha1", "sha256", "sha256_96", "sha384", "sha512",
                             "aesxcbc")
#: pseudo-random functions of IKE, written ``prf`` + the name (``prfsha256``)
PRFS: tuple[str, ...] = ("md5", "sha1", "sha256", "sha384", "sha512", "aesxcbc")
#: a scenario's ``ike``/``esp`` value that leaves the choice to each daemon's defaults
DEFAULT = "default"
#: integrity algorithms that exist for ESP only
ESP_ONLY: dict[str, str] = {
    "sha256_96": "HMAC-SHA-256 truncated to 96 bits, an ESP workaround for PF_KEY peers"}

DH_GROUPS: dict[str, int] = {
    "modp768": 1,
    "modp1024": 2,
    "modp1536": 5,
    "modp2048": 14,
    "modp3072": 15,
    "modp4096": 16,
    "ecp256": 19,
    "ecp384": 20,
    "ecp521": 21,
    "curve25519": 31,
    "curve448": 32,
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
    #: an IKE PRF named explicitly (None: the integrity algorithm's, or for AEAD its integrity part)
    prf: str | None = None

    def __post_init__(self) -> None:
        """Only names of the tables: nothing else can reach a daemon's config through a proposal."""
        for what, value, names in (("cipher", self.cipher, CIPHERS),
                                   ("integrity algorithm", self.integrity, INTEGRITY),
                                   ("DH group", self.dh, DH_GROUPS), ("PRF", self.prf, PRFS)):
            if what != "cipher" and value is None:
                continue
            if not isinstance(value, str) or value not in names:
                raise ScenarioError(f"proposal: unknown {what} {value!r} (allowed: {_allowed(names)})")

    @property
    def aead(self) -> bool:
        return CIPHERS[self.cipher][1]

    @property
    def effective_prf(self) -> str | None:
        """The IKE PRF this proposal asks for (None: an AEAD proposal leaves it to the daemon)."""
        return self.prf or self.integrity

    def key(self) -> tuple[str, str | None, str | None, str | None]:
        """What two IKE proposals must share to match: cipher, integrity (none for AEAD),
        PRF and DH group. For ESP the PRF part is None on both sides."""
        return (self.cipher, None if self.aead else self.integrity, self.effective_prf, self.dh)

    def __str__(self) -> str:
        prf = f"prf{self.prf}" if self.prf else None
        return "-".join(p for p in (self.cipher, self.integrity, prf, self.dh) if p)


Proposals = tuple[Proposal, ...]


def show_proposals(proposals: Proposals) -> str | list[str]:
    """A proposal list as a scenario file writes it: one string, a list, or 'default'."""
    if not proposals:
        return DEFAULT
    return str(proposals[0]) if len(proposals) == 1 else [str(p) for p in proposals]


def parse_proposals(value: object, where: str, *, needs_dh: bool) -> Proposals:
    """``'default'`` (the daemon's own: the empty tuple), one proposal, a list in order of
    preference, or one string with commas between proposals."""
    allowed = ("'default', a proposal such as 'aes128-sha1-modp2048', or a list of them in"
               " order of preference")
    if value == DEFAULT:
        return ()
    if isinstance(value, str) and "," in value:
        value = [part.strip() for part in value.split(",")]
    items = value if isinstance(value, list) else [value]
    if not items:
        raise ScenarioError(f"{where}: [] is an empty list (allowed: {allowed})")
    parsed: list[Proposal] = []
    for i, item in enumerate(items):
        here = where if len(items) == 1 else f"{where}[{i}]"
        if item == DEFAULT:
            raise ScenarioError(f"{here}: 'default' inside a list (allowed: {allowed})")
        proposal = parse_proposal(item, here, needs_dh=needs_dh)  # type: ignore[arg-type]
        if proposal in parsed:
            raise ScenarioError(f"{here}: {str(proposal)!r} is in the list twice (allowed: {allowed})")
        parsed.append(proposal)
    return tuple(parsed)


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
    if needs_dh and integrity in ESP_ONLY:
        raise ScenarioError(f"{where}: {integrity!r} is for ESP only ({ESP_ONLY[integrity]});"
                            " IKE takes sha256")
    prf = None
    if parts and parts[0].startswith("prf"):
        prf = parts.pop(0)[3:]
        if not needs_dh:
            raise ScenarioError(f"{where}: ESP has no PRF ('prf{prf}' in {text!r}); a PRF belongs"
                                " to an IKE proposal")
        if prf not in PRFS:
            raise ScenarioError(f"{where}: unknown PRF 'prf{prf}' in {text!r}"
                                f" (allowed: {', '.join('prf' + p for p in PRFS)})")
        if integrity is not None and aead:
            raise ScenarioError(f"{where}: {cipher} is an AEAD cipher: its integrity part"
                                f" {integrity!r} is its PRF already; write {cipher}-prf{prf}-...")
    dh = parts.pop(0) if parts else None
    if dh is not None and dh not in DH_GROUPS:
        raise ScenarioError(
            f"{where}: unknown DH group {dh!r} in {text!r} (allowed: {_allowed(DH_GROUPS)})"
        )
    if parts:
        raise ScenarioError(f"{where}: trailing {'-'.join(parts)!r} in {text!r}")
    if needs_dh and dh is None:
        raise ScenarioError(f"{where}: IKE needs a DH group, e.g. '{text}-modp2048'")
    return Proposal(cipher, integrity, dh, prf)
