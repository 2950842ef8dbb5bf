"""What racoon (ipsec-tools) can do here: IKEv1 only, over PF_KEY, and what racoon.conf
cannot spell; where its binaries are missing, how to get them; its version (racoon -V);
its log words that end a negotiation. The running half: lab.daemons.racoon.process."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import ClassVar

from lab import run as runner
from lab.daemons.base import Daemon
from lab.daemons.racoon.conf import algorithm_gap
from lab.daemons.racoon.provision import PROVISION, RELEASES
from lab.flavors import Flavor
from lab.outcome import Words
from lab.scenario import Scenario

#: racoon's words that end a negotiation, with the failure class each means
OUTCOME_WORDS: tuple[Words, ...] = (
    Words(r"couldn't find the pskey|HASH\(?\d?\)? ?mismatch|AUTHENTICATION-FAILED",
          "authentication-failed"),
    Words(r"ignore information due to hash mismatch", "authentication-failed", grace=1.5,
          note="an INFORMATIONAL that does not verify: final only if no SA follows"),
    Words(r"no suitable proposal found|failed to get valid proposal|no proposal chosen"
          r"|failed to get proposal for responder|NO-PROPOSAL-CHOSEN", "no-proposal-chosen"),
    Words(r"failed to get sainfo|INVALID-ID-INFORMATION|such policy does not already exist",
          "ts-unacceptable"),
    Words(r"no configuration found for", "no-proposal-chosen"),
    # racoon's own spelling: "fatal NO-PROPOSAL-CHOSEN notify messsage"
    Words(r"notify messsage", "no-proposal-chosen", grace=1.0),
    # IKEv1 has no flag 0x08; IKEv2's Initiator flag is 0x08: an IKEv2 message, refused
    Words(r"ERROR: invalid flag 0x08", "version-mismatch",
          note="an IKEv2 header (Initiator flag 0x08) sent to racoon, which speaks IKEv1"),
    # racoon's only word for it, at debug level (isakmp_parsewoh), kept by outcome_lines
    Words(r"DEBUG: invalid length of payload", "authentication-failed", grace=1.0,
          note="Main Mode's ID/HASH message, decrypted with racoon's phase-1 key, does not"
               " parse: the two ends derived other keys, from other pre-shared keys"),
    Words(r"phase[12] negotiation failed due to time up", "timeout",
          note="racoon gave up retransmitting: nothing came back"),
    Words(r"failed to pre-process ph[12] packet|phase[12] negotiation failed"
          r"|failed to begin ipsec sa negotiation|fatal parse failure", "timeout", grace=1.0,
          note="generic: a more specific word usually follows within the grace"),
)


def undecryptable(lines: list[str], i: int) -> bool:
    """Whether ``lines[i]`` is racoon's debug line saying that a message it just decrypted
    has a payload of impossible length, and that message is Main Mode's 5th or 6th (the
    only encrypted one whose first payload is an ID): its phase-1 key is not the peer's."""
    return (lines[i].endswith("DEBUG: invalid length of payload") and i >= 1
            and lines[i - 1].endswith("DEBUG: seen nptype=5(id)")
            and any(ln.endswith("DEBUG: decrypted.") for ln in lines[max(0, i - 12):i]))


#: where the running kernel shows that it has PF_KEY (af_key)
PFKEY_PROC = Path("/proc/net/pfkey")


@cache
def racoon_version(flavor: Flavor, tag: str) -> str:
    exe = flavor.which("racoon") or "racoon"
    out = runner.run([exe, "-V"], tag=tag, check=False, preexec=flavor.enter_new(Path("/tmp")))
    m = re.search(r"ipsec-tools (\S+)", out.stdout + out.stderr)
    return m.group(1) if m else "unknown"


class RacoonTraits(Daemon, interface=True):
    """The racoon driver's settings and its answers about a scenario and a flavor."""

    name = "racoon"
    #: racoon.conf(5) proposal_check obey (the default): the responder takes the
    #: initiator's proposal (not measured here: racoon is not installed)
    preference = "initiator"
    ike_versions = (1,)
    log_name = "racoon.log"
    #: PF_KEY installs hmac(sha256) with the pre-RFC 4868 96-bit ICV (Linux's default for
    #: SADB_X_AALG_SHA2_256HMAC); XFRM netlink users (pluto, charon) install 128 bits
    icv_bits: ClassVar[dict[str, int]] = {"sha256": 96}
    outcome_words = OUTCOME_WORDS
    #: racoonctl(8) has no rekey command; racoon renews phase 1 only when phase 2 needs it
    lifecycle_gaps: ClassVar[dict[str, str]] = {
        "rekey-ike": "racoon does not rekey an ISAKMP SA on its own (racoon.conf(5): phase 1"
                     " is negotiated again only when a phase 2 needs it)"}
    stale_files = ("racoon.pid", "racoon.sock")
    #: measured here with both releases (4in6 and 6in4, every peer): both kernels held the
    #: SAs, no packet used them, and every ping made racoon negotiate another phase 2
    no_mixed_families = (
        "racoon installs its SAs over PF_KEY, which on Linux cannot mark an SA as carrying"
        " another address family inside (XFRM_STATE_AF_UNSPEC, XFRM netlink only): 4in6 and"
        " 6in4 traffic never uses racoon's SAs")
    ike_sa_words = r"ISAKMP-SA established"

    # -- capabilities ---------------------------------------------------------
    @classmethod
    def binaries(cls) -> tuple[str, ...]:
        return ("racoon", "setkey")

    @classmethod
    def missing(cls, flavor: Flavor) -> str | None:
        absent = [exe for exe in cls.binaries() if flavor.which(exe) is None]
        if not absent:
            return None
        if flavor.source in PROVISION.sources:
            how = f"build it with: ipsec-lab setup --flavors={flavor.name}"
        else:
            how = ("ipsec-tools is in no Debian suite: use racoon@" + " or racoon@".join(
                RELEASES) + " (ipsec-lab setup builds them), or put your own build's"
                " racoon and setkey on PATH, or name its prefix as racoon@/PATH")
        return f"{flavor.name}: {' and '.join(absent)} not found {flavor.where} ({how})"

    @classmethod
    def never(cls, scenario: Scenario, side: str) -> str | None:
        """As the base says: IKEv1 only, no 4in6/6in4, and what racoon.conf cannot spell
        (AEAD, ECDSA, default proposals, ordered ESP lists; racoon 0.8.2 and 0.9.1 alike)."""
        version = scenario.ike_version_of(side)
        if version not in cls.ike_versions:
            return f"racoon speaks IKEv1 only (scenario asks for IKEv{version})"
        if scenario.topology == "host-to-net":
            return "the racoon driver renders no host-to-net policies (one side's subnet only)"
        return super().never(scenario, side) or algorithm_gap(scenario, side)

    @classmethod
    def kernel_lacks(cls) -> str | None:
        if not PFKEY_PROC.exists():
            return (f"the running kernel has no PF_KEY ({PFKEY_PROC} is missing; racoon and"
                    " setkey need CONFIG_NET_KEY / the af_key module)")
        return None

    @classmethod
    def lifecycle_unsupported(cls, scenario: Scenario, side: str, flavor: Flavor) -> str | None:
        """As the base says; and racoon as the responder cannot rekey first by a shorter
        lifetime of its own: with its default proposal_check (strict) it refuses an
        initiator's proposal with a longer lifetime ("long lifetime proposed"), and answers
        NO-PROPOSAL-CHOSEN (measured with Libreswan 5.2 and strongSwan 5.9.8)."""
        reason = super().lifecycle_unsupported(scenario, side, flavor)
        if reason or scenario.rekey_by != "lifetime" or side != scenario.responder \
                or scenario.actor_side != side:
            return reason
        life = (scenario.child_lifetime_of if scenario.lifecycle == "rekey-child"
                else scenario.ike_lifetime_of)
        if life(side) < life(scenario.initiator):
            return (f"{flavor.name}: as the responder racoon refuses a proposal whose lifetime"
                    f" is longer than its own ({life(scenario.initiator)} s > {life(side)} s:"
                    " proposal_check strict, its default)")
        return None

    @classmethod
    def version(cls, flavor: Flavor, tag: str) -> str:
        return racoon_version(flavor, tag)
