"""Libreswan's words: ipsec.conf's spellings of the neutral algorithm names, what pluto
cannot do, whack's options and ipsec.conf's keys by major version, and the log words that
end a negotiation (data only: lab.daemons.libreswan.render and .driver read them)."""

from __future__ import annotations

from lab.algorithms import Proposal
from lab.identity import Identity
from lab.outcome import Words

LIBEXEC = "/usr/libexec/ipsec"
CIPHER = {"3des": "3des", "aes128": "aes128", "aes192": "aes192", "aes256": "aes256",
          "aes128gcm8": "aes_gcm_a128", "aes128gcm12": "aes_gcm_b128", "aes128gcm16": "aes_gcm128",
          "aes192gcm8": "aes_gcm_a192", "aes192gcm12": "aes_gcm_b192", "aes192gcm16": "aes_gcm192",
          "aes256gcm8": "aes_gcm_a256", "aes256gcm12": "aes_gcm_b256", "aes256gcm16": "aes_gcm256",
          "chacha20poly1305": "chacha20_poly1305"}
#: integrity algorithms, and PRFs (ipsec.conf names a PRF by its integrity algorithm's name)
INTEG = {"md5": "md5", "sha1": "sha1", "sha256": "sha2_256", "sha256_96": "sha2_256",
         "sha384": "sha2_384", "sha512": "sha2_512", "aesxcbc": "aes_xcbc"}
#: conn settings a neutral ESP integrity name needs beyond its spelling
INTEG_SETTINGS = {"sha256_96": (("sha2-truncbug", "yes"),)}  # 96-bit ICV, for PF_KEY peers
DH = {"modp768": "modp768", "modp1024": "modp1024", "modp1536": "modp1536",
      "modp2048": "modp2048", "modp3072": "modp3072", "modp4096": "modp4096",
      "ecp256": "dh19", "ecp384": "dh20", "ecp521": "dh21", "curve25519": "dh31",
      "curve448": "curve448"}
#: scenario fragmentation -> ipsec.conf fragmentation= ("yes" fragments an IKE message
#: over 576/1280 bytes from its first retransmission on, once the peer said it can)
FRAGMENTATION = {"on": "yes", "off": "no"}
#: scenario encapsulation -> ipsec.conf encapsulation= ("yes": claim a NAT, ESP in UDP)
ENCAPSULATION = {"force": "yes"}
#: scenario auth -> ipsec.conf authby
AUTHBY = {"psk": "secret", "rsa": "rsasig", "ecdsa": "ecdsa"}
#: (IKE version, what) Libreswan cannot do whatever its version, and why
NEVER: dict[tuple[int, str], str] = {
    (1, "ecdsa"): "Libreswan authenticates with ECDSA in IKEv2 only (authby=ecdsa)",
}
NSS_FILES = ("cert9.db", "key4.db", "pkcs11.txt")
#: ipsec.secrets(5): a PSK is a quoted string (which cannot hold '"' or a newline) or data for
#: ttodata(3), where 0x is hex and 0s base64; hex of the UTF-8 bytes carries any PSK unchanged
PSK_MAX_BYTES = 255
PSK_NOTE = "# the PSK as 0x and the hex of its UTF-8 bytes (ttodata), so any text arrives unchanged\n"
#: what a pluto version is known to leave in the kernel after its peer deleted the
#: connection (version prefix -> what and why); measured, see the teardown check
KNOWN_LEFTOVERS = {
    "4.": "pluto 4.x keeps an auto=add connection routed on demand after the peer deleted"
          " it ('prospective erouted': an outbound policy whose template has reqid 0);"
          " pluto 5.x removes it",
}

#: whack's rekey options by Libreswan major version (4.x: --rekey-ipsec; 5.x: --rekey-child)
REKEY_OPTIONS = {4: {"child": "--rekey-ipsec", "ike": "--rekey-ike"},
                 5: {"child": "--rekey-child", "ike": "--rekey-ike"}}
#: DPD settings by major version: 4.x takes dpddelay/dpdtimeout/dpdaction (IKEv2 liveness
#: gives up after retransmit-timeout); 5.x ignores dpdtimeout for IKEv2 ("use dpddelay= and
#: retransmit-timeout=") and needs both for IKEv1
DPD_KEYS = {4: ("dpddelay", "dpdtimeout", "retransmit-timeout", "dpdaction"),
            5: ("dpddelay", "retransmit-timeout", "dpdaction")}
DPD_KEYS_IKEV1 = {5: ("dpddelay", "dpdtimeout", "dpdaction")}

#: pluto's words that end a negotiation (keyingtries=1: no second attempt comes), with
#: the failure class each means; a grace where a later message may still bring the SAs
OUTCOME_WORDS: tuple[Words, ...] = (
    Words(r"(?:ignoring|dropping unexpected|received and ignored) (?:unsecured )?"
          r"(?:informational payload|notification payload:"
          r"|IKE_SA_INIT (?:response|message) containing) NO_PROPOSAL_CHOSEN",
          "no-proposal-chosen", grace=2.0,
          note="an unauthenticated notify pluto ignores (it may be forged) and retransmits: "
               "final only if no SA comes; the peer's own words usually say why first"),
    Words(r"(?:ignoring|dropping unexpected|received and ignored) .*(?:INVALID_HASH_INFORMATION"
          r"|AUTHENTICATION_FAILED|PAYLOAD_MALFORMED)", "authentication-failed", grace=2.0,
          note="the same for an unauthenticated notify that would mean a wrong PSK"),
    Words(r"policy (?:requires|dictates) (?:Transport|Tunnel) Mode,? but peer"
          r" (?:requires required|requested) (?:Transport|Tunnel) Mode", "mode-mismatch",
          note="the initiator refuses the Child SA in the mode the responder chose (the "
               "responder's 'ignoring peer's request for ... Mode' is no failure)"),
    Words(r"ignoring IKEv1 packet as (?:global )?policy is set to silently drop",
          "version-mismatch", note="a connection for IKEv2 only; pluto answers nothing"),
    Words(r"AUTHENTICATION_FAILED|[Aa]uthentication failed|Can't authenticate"
          r"|(?:probable|possible) authentication failure", "authentication-failed"),
    Words(r"INVALID_HASH_INFORMATION", "authentication-failed",
          note="IKEv1: the peer's HASH payload does not verify with our PSK"),
    Words(r"PAYLOAD_MALFORMED|Invalid Payload", "authentication-failed", grace=1.0,
          note="IKEv1: a message decrypted with the wrong PSK's keys reads as garbage"),
    Words(r"NO_PROPOSAL_CHOSEN|no acceptable|failed to match", "no-proposal-chosen"),
    Words(r"TS_UNACCEPTABLE", "ts-unacceptable"),
    Words(r"INVALID_ID_INFORMATION", "ts-unacceptable", grace=1.0,
          note="IKEv1 Quick Mode: the peer refused our IDs (selectors)"),
    Words(r"we require IKEv2 peer|IKEv1 packet dropped|INVALID_MAJOR_VERSION",
          "version-mismatch"),
    Words(r"could not find a suitable", "no-proposal-chosen", grace=1.0),
)



def spell(p: Proposal, with_dh: bool = True) -> str:
    """``aes128-sha1;modp2048``; an AEAD IKE proposal's second part is its PRF."""
    second = p.effective_prf if p.aead else p.integrity
    algs = "-".join([CIPHER[p.cipher]] + ([INTEG[second]] if second else []))
    return f"{algs};{DH[p.dh]}" if with_dh and p.dh else algs


def spell_list(proposals: tuple[Proposal, ...]) -> str:
    return ",".join(spell(p) for p in proposals)


def ipsec_id(identity: Identity) -> str:
    """leftid/rightid: an address, @fqdn, user@fqdn, or a DN in double quotes."""
    return f'"{identity.value}"' if identity.kind == "dn" else identity.text


def prf_gap(p: Proposal) -> str | None:
    if p.prf and not p.aead and p.prf != p.integrity:
        return (f"ipsec.conf names one algorithm for integrity and PRF: ike {p} asks for"
                f" integrity {p.integrity} with PRF {p.prf}")
    return None

