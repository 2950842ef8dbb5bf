"""racoon's native lines (lab.native): where they go in racoon.conf, that each is one
statement (ending in ';', or a block that opens and closes on the line), and which words
run a command or open a file. Plain data below the scenario: this module imports nothing
of the driver."""

from __future__ import annotations

import re

from lab.native_rules import NativeRules


def ends_statement(line: str, code: str) -> bool:
    return code.rstrip().endswith((";", "}"))


RULES = NativeRules(
    daemon="racoon",
    places={"remote": "racoon.conf 'remote { }'", "sainfo": "racoon.conf each 'sainfo { }'"},
    risky=re.compile(r".*\b(?:script|include|path|logfile|adminsock|chroot|certificate_type"
                     r"|ca_type|peers_certfile)\b"),
    braces=True,
    statement=ends_statement,
    not_a_statement="does not end its statement (allowed: one racoon.conf statement ending in"
                    " ';' or a block closing in '}')",
)
