"""Libreswan's native lines (lab.native): where they go in ipsec.conf, that each is one
``key=value`` setting (ipsec.conf has nothing else), and which keys run a command or open a
file. Plain data below the scenario: this module imports nothing of the driver."""

from __future__ import annotations

import re

from lab.native_rules import NativeRules

#: one ipsec.conf setting
SETTING = re.compile(r"[A-Za-z][A-Za-z0-9_-]*\s*=.*")


def is_setting(line: str, code: str) -> bool:
    return SETTING.fullmatch(line.strip()) is not None


RULES = NativeRules(
    daemon="libreswan",
    places={"setup": "ipsec.conf 'config setup'", "conn": "ipsec.conf 'conn lab'"},
    risky=re.compile(r"\s*(?:left|right)?(?:updown|statsbin|logfile|plutostderrlog|dumpdir"
                     r"|ipsecdir|secretsfile|nssdir|rundir|leftcert|rightcert)\s*=", re.I),
    statement=is_setting,
    not_a_statement="is not key=value (allowed: one ipsec.conf setting such as"
                    " 'fragmentation=yes')",
)
