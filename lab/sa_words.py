"""Words for what the kernels hold and what the daemons report: ESP transforms by
their neutral names, each peer as findings name it, and the listing (negotiated.txt,
``ipsec-lab run``'s output). Pure, like lab.negotiated, which uses them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from lab.scenario import SIDES
from lab.status import DaemonStatus
from lab.xfrm import SA

#: neutral ESP cipher -> (kernel algorithm, key bits incl. the salt of AEAD, AEAD ICV bits)
CIPHER: dict[str, tuple[str, int, int]] = {
    "aes128": ("cbc(aes)", 128, 0), "aes192": ("cbc(aes)", 192, 0),
    "aes256": ("cbc(aes)", 256, 0), "3des": ("cbc(des3_ede)", 192, 0),
    **{f"aes{bits}gcm{icv}": ("rfc4106(gcm(aes))", bits + 32, icv * 8)
       for bits in (128, 192, 256) for icv in (8, 12, 16)},
    "chacha20poly1305": ("rfc7539esp(chacha20,poly1305)", 288, 128),
}
#: neutral integrity -> (kernel algorithm, ICV bits of RFC 2403, 2404 and 4868)
INTEGRITY: dict[str, tuple[str, int]] = {
    "md5": ("hmac(md5)", 96), "sha1": ("hmac(sha1)", 96), "sha256": ("hmac(sha256)", 128),
    "sha384": ("hmac(sha384)", 192), "sha512": ("hmac(sha512)", 256),
    "sha256_96": ("hmac(sha256)", 96), "aesxcbc": ("xcbc(aes)", 96),
}
#: integrity whose truncation is local: a daemon's status names the transform on the wire
#: (Libreswan's sha2-truncbug negotiates HMAC-SHA2-256; the kernel check sees the 96 bits)
WIRE_INTEGRITY: dict[str, str] = {"sha256_96": "sha256"}

@dataclass(frozen=True)
class Side:
    """One peer as the findings name it: ``left (libreswan 5.2)``."""

    name: str
    label: str
    address: str
    #: ICV bits this side's daemon installs where they differ from INTEGRITY's
    icv_bits: dict[str, int] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.name} ({self.label})"

# -- describing what a kernel holds -----------------------------------------------------


def key_bits(key_hex: str) -> int:
    return len(key_hex) * 4


def esp_name(sa: SA) -> str:
    """The neutral name of an SA's ESP transform where there is one, else the kernel's."""
    if sa.aead:
        found = [n for n, spec in CIPHER.items()
                 if spec == (sa.aead[0], key_bits(sa.aead[1]), sa.aead[2])]
        return found[0] if found else f"{sa.aead[0]}/{key_bits(sa.aead[1])}"
    cipher = next((n for n, (alg, bits, icv) in CIPHER.items()
                   if not icv and sa.enc and (alg, bits) == (sa.enc[0], key_bits(sa.enc[1]))),
                  f"{sa.enc[0]}/{key_bits(sa.enc[1])}" if sa.enc else "no-cipher")
    integ = next((n for n, spec in INTEGRITY.items()
                  if sa.auth and spec == (sa.auth[0], sa.auth[2])),
                 f"{sa.auth[0]}/{sa.auth[2]}" if sa.auth else "no-integrity")
    return f"{cipher}-{integ}"


def esp_detail(sa: SA) -> str:
    """What the kernel holds, in its own words: algorithms, key and ICV lengths."""
    if sa.aead:
        return f"{sa.aead[0]} {key_bits(sa.aead[1])}-bit key incl. salt, {sa.aead[2]}-bit ICV"
    enc = f"{sa.enc[0]} {key_bits(sa.enc[1])}-bit key" if sa.enc else "no cipher"
    auth = f"{sa.auth[0]} {sa.auth[2]}-bit ICV" if sa.auth else "no integrity"
    return f"{enc}, {auth}"


def expected_detail(cipher: str, integrity: str | None, icv_bits: dict[str, int]) -> str:
    alg, bits, icv = CIPHER[cipher]
    if icv:
        return f"{alg} {bits}-bit key incl. salt, {icv}-bit ICV"
    if integrity is None or integrity not in INTEGRITY:
        return f"{alg} {bits}-bit key, integrity {integrity}"
    ialg, ibits = INTEGRITY[integrity]
    return f"{alg} {bits}-bit key, {ialg} {icv_bits.get(integrity, ibits)}-bit ICV"


def between(sas: Iterable[SA], a: str, b: str) -> list[SA]:
    return [sa for sa in sas if sa.proto == "esp" and {sa.src, sa.dst} == {a, b}]



def _other(name: str) -> str:
    return "right" if name == "left" else "left"


# -- the listing ---------------------------------------------------------------------------


def listing(sas: dict[str, list[SA]], statuses: dict[str, DaemonStatus],
            sides: dict[str, Side]) -> list[str]:
    """Per side: the IKE SA and identities as the daemon reports them, the Child SA as
    its kernel holds it (negotiated.txt, and `ipsec-lab run`'s output)."""
    lines = []
    for name in SIDES:
        side, other = sides[name], sides[_other(name)]
        st = statuses.get(name)
        lines.append(f"{side}, {side.address}:")
        if st is None:
            lines.append("  (no status read)")
        elif st.error:
            lines.append(f"  {st.source}: {st.error}")
        elif st.ike is None:
            lines.append(f"  IKE SA: none in {st.source}")
        else:
            i = st.ike
            algs = " ".join(f"{k} {v}" for k, v in (("cipher", i.cipher), ("integrity", i.integrity),
                                                    ("prf", i.prf), ("group", i.dh)) if v)
            version = f"IKEv{i.version} " if i.version else ""
            lines.append(f"  IKE SA ({st.source}): {version}{algs or 'algorithms not reported'}")
            lines.append(f"  identities: local {i.local_id or 'not reported'},"
                         f" peer {i.remote_id or 'not reported'}")
        held = between(sas.get(name, []), side.address, other.address)
        for sa in sorted(held, key=lambda s: s.src != side.address):
            way = "out" if sa.src == side.address else "in "
            esn = ", ESN" if sa.esn else ""
            lines.append(f"  ESP {way} spi 0x{sa.spi:08x}: {sa.mode}, {esp_name(sa)}"
                         f" ({esp_detail(sa)}{esn})")
        if st is not None and st.children and st.children[-1].pfs is not None:
            lines.append(f"  PFS group: {st.children[-1].pfs}")
        if st is not None and st.unreported:
            lines.append(f"  not reported by {side.label.split()[0]}: {', '.join(st.unreported)}")
    return lines
