"""What a scenario's fields may hold: the choices and ranges (lab.scenario's checks read
them, docs/gen_reference.py prints them), and the two sides' names."""

from __future__ import annotations

import string

MODES = ("transport", "tunnel")
IKE_VERSIONS = (1, 2)
SIDES = ("left", "right")
#: Ways a cell can be broken on purpose, to prove the lab reports the cause.
FAULTS = ("none", "nd-deadlock")
#: how the peers authenticate: a pre-shared key, or certificates the lab makes per run
AUTHS = ("psk", "rsa", "ecdsa")
#: lifetimes in seconds; below SHORT_LIFETIME the daemons' default rekey margins (Libreswan's
#: 540 s, strongSwan's 10 %) do not fit, so the scenario's margin (or a fifth of the lifetime)
#: is written into every config
LIFETIME_RANGE = (4, 86400)
SHORT_LIFETIME = 1200
#: seconds before the end of a lifetime that a rekey starts, and its random part (percent
#: of the margin, as Libreswan's rekeyfuzz; strongSwan's rand_time is that many seconds)
MARGIN_RANGE, FUZZ_RANGE = (1, 86399), (0, 200)
DPD_RANGE = (1, 3600)
#: what a side does once DPD finds the peer dead: drop the SAs, or negotiate them again
DPD_ACTIONS = ("clear", "restart")
#: What happens after the first SA (lab.lifecycle): the matrix axis --lab-lifecycle
LIFECYCLES = ("none", "rekey-child", "rekey-ike", "restart", "dpd", "delete", "simultaneous",
              "responder-initiates")
#: who acts (rekeys, is killed, vanishes), and what starts a rekey
ACTORS = ("initiator", "responder")
REKEY_BY = ("command", "lifetime")
#: how the actor of a dpd cell vanishes: its daemon stops (SIGSTOP), or its link goes down
VANISH = ("stop", "link")
PINGS_RANGE = (1, 100)
#: the echo's data bytes (ping -s), and an ESP packet's length on the wire (lab.wire.esplength)
PING_SIZE_RANGE = (16, 1400)
ESP_LENGTH_RANGE = (16, 1500)
#: How a cell is expected to end: established, or one class of failure. Each driver maps
#: its daemon's words to these classes (its ``outcome_words`` table); ``mode-mismatch`` is a
#: daemon refusing over the mode, ``other-mode`` SAs up in both kernels in a mode a side is
#: not configured for (read from the kernels, lab.outcome.established).
EXPECTS = ("established", "no-proposal-chosen", "authentication-failed", "ts-unacceptable",
           "mode-mismatch", "other-mode", "version-mismatch", "timeout")
#: IKE fragmentation (RFC 7383, and IKEv1's): each daemon's own default, or set on or off
FRAGMENTATIONS = ("default", "on", "off")
#: UDP encapsulation of ESP (RFC 3948): where a NAT is detected, or always (forced)
ENCAPSULATIONS = ("auto", "force")


#: what a scenario name may hold: it reaches only comments and headers of the rendered files,
#: but no line break, quote or control character may ever reach them
NAME_CHARS = string.ascii_letters + string.digits + " _.+-@>=:,/~"
NAME_MAX = 200
#: a PSK is any printable text (UTF-8 on the wire), up to this many bytes; each driver
#: encodes it for its own file (hex of the UTF-8 bytes), so quotes, '#', '%', backslash
#: or a leading 0x/0s arrive byte for byte
PSK_MAX_BYTES = 255
PREFIXLEN_RANGE = (1, 128)
#: Linux's limits on a path and on one of its components (a flavor's tree)
PATH_MAX, NAME_MAX_BYTES = 4095, 255


def other_side(side: str) -> str:
    """The side across the connection from ``side`` (the one place that works it out)."""
    return "right" if side == "left" else "left"
