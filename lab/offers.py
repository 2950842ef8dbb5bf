"""What a daemon says it offers for a connection, and what two such offers must negotiate.

A daemon configured with ``default`` proposals offers its own list; the drivers ask the
daemon for it (strongSwan 6's VICI ``list-conns``, pluto's "IKE SA proposals (connection
add)" log lines) and give it here as ``Offered`` records: per IKEv2 proposal, each
transform type's algorithms in the daemon's order, in the neutral vocabulary where it has
a name (lab.algorithms) and as the daemon's own word (upper case, no underscores) where
it has none, so two daemons' words still compare.

``select`` is IKEv2's rule as both daemons follow it (measured, docs/scenarios.md): the
side whose order counts (``prefers``) takes its proposals in order and, for each, the
other's in order; the first pair sharing an algorithm of every type wins, and in each
type the preferred side's first algorithm the other also has.
"""

from __future__ import annotations

from dataclasses import dataclass

from lab.algorithms import CIPHERS, DH_GROUPS, INTEGRITY, PRFS, Proposal

#: the daemons' words, upper case without underscores -> neutral names
CIPHER_WORDS: dict[str, str] = {
    **{f"AESCBC{bits}": f"aes{bits}" for bits in (128, 192, 256)},
    **{f"AESGCM{icv}{bits}": f"aes{bits}gcm{icv}" for bits in (128, 192, 256) for icv in (8, 12, 16)},
    # pluto 4.10 names the ICV lengths 8, 12 and 16 by letter
    **{f"AESGCM{letter}{bits}": f"aes{bits}gcm{icv}" for bits in (128, 192, 256)
       for letter, icv in (("A", 8), ("B", 12), ("C", 16))},
    "CHACHA20POLY1305": "chacha20poly1305", "3DESCBC": "3des", "3DES": "3des"}
INTEG_WORDS: dict[str, str] = {
    "HMACMD596": "md5", "HMACSHA196": "sha1", "HMACSHA2256128": "sha256",
    "HMACSHA2384192": "sha384", "HMACSHA2512256": "sha512", "AESXCBC96": "aesxcbc"}
PRF_WORDS: dict[str, str] = {
    "HMACMD5": "md5", "HMACSHA1": "sha1", "HMACSHA2256": "sha256", "HMACSHA2384": "sha384",
    "HMACSHA2512": "sha512", "AES128XCBC": "aesxcbc", "AESXCBC": "aesxcbc"}
GROUP_WORDS: dict[str, str] = {
    **{f"MODP{bits}": f"modp{bits}" for bits in (768, 1024, 1536, 2048, 3072, 4096)},
    "ECP256": "ecp256", "ECP384": "ecp384", "ECP521": "ecp521", "CURVE25519": "curve25519",
    "CURVE448": "curve448", "NONE": "none", "KENONE": "none"}
#: words of the ESN transform -> on/off
ESN_WORDS: dict[str, bool] = {"EXTSEQ": True, "NOEXTSEQ": False, "YES": True, "NO": False,
                              "ENABLED": True, "DISABLED": False}


def word(text: str, table: dict[str, str], prefix: str = "") -> str:
    """A daemon's word in the neutral vocabulary, else as it is (upper case, no '_')."""
    key = text.upper().replace("_", "").removeprefix(prefix)
    return table.get(key, key)


@dataclass(frozen=True)
class Offered:
    """One IKEv2 proposal as a daemon offers it: each type's algorithms, best first. An
    empty tuple is no algorithm of the type (an AEAD cipher's integrity), or for PRF and
    ESN a type the source leaves open (a scenario's AEAD proposal names no PRF)."""

    ciphers: tuple[str, ...]
    integrity: tuple[str, ...] = ()
    prfs: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    esn: tuple[bool, ...] = ()

    def __str__(self) -> str:
        parts = ["+".join(self.ciphers), "+".join(self.integrity),
                 "+".join(f"prf{p}" for p in self.prfs), "+".join(self.groups),
                 "+".join("esn" if e else "noesn" for e in self.esn)]
        return "-".join(p for p in parts if p)


@dataclass(frozen=True)
class Chosen:
    """What a selection ends with; ``proposal`` is None where an algorithm has no neutral
    name (``missing`` names it)."""

    proposal: Proposal | None
    esn: bool | None
    missing: str = ""


def from_proposal(p: Proposal, kind: str, esn: tuple[bool, ...] = ()) -> Offered:
    """A scenario's proposal as the one-algorithm-per-type offer the lab renders; ``esn``:
    what the daemon offers for ESN with such a proposal (empty: either, the peer's pick)."""
    integrity = () if p.aead or p.integrity is None else (p.integrity,)
    if kind == "ike":
        prf = p.effective_prf
        return Offered((p.cipher,), integrity, (prf,) if prf else (), (p.dh,) if p.dh else ())
    return Offered((p.cipher,), integrity, esn=esn)


def _first(mine: tuple[object, ...], theirs: tuple[object, ...]) -> tuple[bool, object]:
    """(matched, the choice): both empty match with none; one empty is open (the other's
    first); else ``mine``'s first that ``theirs`` has."""
    if not mine or not theirs:
        return True, (mine or theirs or (None,))[0]
    hit = next((a for a in mine if a in theirs), None)
    return hit is not None, hit


def _pair(mine: Offered, theirs: Offered, kind: str) -> tuple[object, ...] | None:
    picks = []
    types = ("ciphers", "integrity", "prfs", "groups", "esn") if kind == "ike" else \
        ("ciphers", "integrity", "esn")  # a first Child SA's PFS groups are not negotiated
    for name in types:
        a, b = getattr(mine, name), getattr(theirs, name)
        if name == "integrity" and bool(a) != bool(b):
            return None  # an AEAD proposal against one with integrity
        ok, pick = _first(a, b)
        if not ok or (name == "ciphers" and pick is None):
            return None
        picks.append(pick)
    return tuple(picks)


def select(initiator: tuple[Offered, ...], responder: tuple[Offered, ...], kind: str,
           prefers: str = "responder") -> Chosen | None:
    """What the responder selects (see the module); None when nothing matches."""
    first, second = (responder, initiator) if prefers == "responder" else (initiator, responder)
    for mine in first:
        for theirs in second:
            picks = _pair(mine, theirs, kind)
            if picks is not None:
                return _chosen(picks, kind)
    return None


def _chosen(picks: tuple[object, ...], kind: str) -> Chosen:
    if kind == "ike":
        cipher, integ, prf, group, esn = picks
    else:
        (cipher, integ, esn), prf, group = picks, None, None
    for value, names, what in ((cipher, CIPHERS, "cipher"), (integ, INTEGRITY, "integrity"),
                               (prf, PRFS, "PRF"), (group, DH_GROUPS, "group")):
        if value is not None and value not in names:
            return Chosen(None, esn, f"{what} {value}")  # type: ignore[arg-type]
    if kind == "ike" and CIPHERS[cipher][1]:  # type: ignore[index]
        integ = None  # an AEAD IKE proposal: its PRF, named explicitly
    elif prf == integ:
        prf = None  # the integrity algorithm's own
    proposal = Proposal(cipher, integ, group, prf)  # type: ignore[arg-type]
    return Chosen(proposal, esn)  # type: ignore[arg-type]


def show_offers(offers: tuple[Offered, ...]) -> str:
    return ", ".join(str(o) for o in offers) or "nothing"
