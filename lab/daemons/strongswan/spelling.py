"""How strongSwan spells what a scenario names: algorithms, proposals, auth, identities."""

from __future__ import annotations

from collections.abc import Callable

from lab.algorithms import Proposal
from lab.identity import Identity

CIPHER = {"3des": "3des", "aes128": "aes128", "aes192": "aes192", "aes256": "aes256",
          **{f"aes{bits}gcm{icv}": f"aes{bits}gcm{icv}" for bits in (128, 192, 256)
             for icv in (8, 12, 16)},
          "chacha20poly1305": "chacha20poly1305"}
INTEG = {"md5": "md5", "sha1": "sha1", "sha256": "sha256", "sha256_96": "sha256_96",
         "sha384": "sha384", "sha512": "sha512", "aesxcbc": "aesxcbc"}
PRF = {"md5": "prfmd5", "sha1": "prfsha1", "sha256": "prfsha256", "sha384": "prfsha384",
       "sha512": "prfsha512", "aesxcbc": "prfaesxcbc"}
DH = {"modp768": "modp768", "modp1024": "modp1024", "modp1536": "modp1536",
      "modp2048": "modp2048", "modp3072": "modp3072", "modp4096": "modp4096",
      "ecp256": "ecp256", "ecp384": "ecp384", "ecp521": "ecp521", "curve25519": "curve25519",
      "curve448": "curve448"}
#: scenario auth -> swanctl.conf local/remote auth
AUTH = {"psk": "psk", "rsa": "pubkey", "ecdsa": "pubkey"}
#: swanctl.conf: a secret is a string, 0x and hex, or 0s and base64; hex of the UTF-8 bytes
#: carries any PSK unchanged (a literal '0s...' would be decoded as base64)
PSK_MAX_BYTES = 255
#: the PRF an AEAD IKE proposal gets when the scenario names none
AEAD_IKE_PRF = "sha256"
#: scenario fragmentation -> swanctl.conf fragmentation (yes: when a message is too big)
FRAGMENTATION = {"on": "yes", "off": "no"}
#: scenario encapsulation -> swanctl.conf encap (yes: fake NAT-D payloads, ESP in UDP)
ENCAPSULATION = {"force": "yes"}


def spell_ike(p: Proposal) -> str:
    """``aes128-sha1-modp2048``; an AEAD cipher gets a PRF instead of an integrity part,
    and an explicit PRF follows the integrity part (``aes128-sha256-prfsha384-ecp256``)."""
    if p.aead:
        parts = [CIPHER[p.cipher], PRF[p.effective_prf or AEAD_IKE_PRF]]
    else:
        parts = [CIPHER[p.cipher], INTEG[p.integrity or ""]] + ([PRF[p.prf]] if p.prf else [])
    return "-".join([*parts, DH[p.dh or ""]])


def spell_esp(p: Proposal) -> str:
    """``aes128-sha1``, with ``-modpXXXX`` only when the scenario asks for PFS."""
    parts = [CIPHER[p.cipher]] + ([INTEG[p.integrity]] if p.integrity else [])
    return "-".join(parts + ([DH[p.dh]] if p.dh else []))


def spell_list(proposals: tuple[Proposal, ...], spell: Callable[[Proposal], str]) -> str:
    """Proposals in order of preference, or strongSwan's own defaults."""
    return ", ".join(spell(p) for p in proposals) if proposals else "default"


def algorithms(p: Proposal) -> list[str]:
    return [a for a in (p.cipher, p.integrity, p.prf, p.dh) if a]


def swanctl_id(identity: Identity) -> str:
    """An identity for swanctl.conf: strongSwan reads '@' as FQDN, 'x@y' as RFC822 and
    'A=b, ...' as a DN, exactly as the scenario writes them (conf_value quotes a DN)."""
    return identity.text
