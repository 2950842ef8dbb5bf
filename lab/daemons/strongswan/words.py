"""charon's log in words: the lines that end a negotiation, and a new IKE SA."""

from __future__ import annotations

from lab.outcome import Words

#: charon's words that end a negotiation (keyingtries=1), with the failure class each means
OUTCOME_WORDS: tuple[Words, ...] = (
    Words(r"AUTHENTICATION_FAILED|tried \d+ shared keys? for .* but MAC mismatched"
          r"|no shared key found|INVALID_HASH_INFORMATION", "authentication-failed"),
    Words(r"integrity check failed|could not decrypt payloads", "authentication-failed",
          grace=1.5, note="IKEv1: the peer's messages do not decrypt with our PSK's keys; "
          "also logged for a stray INFORMATIONAL of an exchange that completes anyway"),
    Words(r"NO_PROPOSAL_CHOSEN|no acceptable proposal|no matching proposal",
          "no-proposal-chosen"),
    Words(r"TS_UNACCEPTABLE|no matching CHILD_SA config", "ts-unacceptable"),
    Words(r"INVALID_ID_INFORMATION", "ts-unacceptable", grace=1.0),
    Words(r"IKE version \d not supported|INVALID_MAJOR_VERSION", "version-mismatch"),
    Words(r"no IKE config found|no peer config found", "no-proposal-chosen", grace=1.0),
    Words(r"unable to install|failed to establish CHILD_SA|giving up after", "timeout",
          grace=1.0),
)

#: a log line of an IKE SA (IKEv1: ISAKMP SA) established or rekeyed
IKE_SA_WORDS = r"IKE_SA \S+\[\d+\] (?:established|rekeyed)"
