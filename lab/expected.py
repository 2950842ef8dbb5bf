"""A scenario's ``[negotiated]`` table: what the negotiation must end with, whatever the
proposals are.

    [negotiated]
    ike = "aes256-sha256-ecp256"   # one IKE proposal: cipher-integrity[-prfX]-group
    esp = "aes128gcm16"            # one ESP proposal; its group is the PFS group, none: no PFS
    esn = false                    # extended sequence numbers on the ESP SAs

Every key may be absent: then that part is not stated (and, with ``default`` proposals,
worked out from the daemons' lists where it can be: lab.proposals).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lab.algorithms import Proposal, parse_proposal
from lab.errors import ScenarioError

KEYS = ("ike", "esp", "esn")
WHERE = "negotiated"


@dataclass(frozen=True)
class Stated:
    """The stated result; None for a part the scenario does not state."""

    ike: Proposal | None = None
    esp: Proposal | None = None
    esn: bool | None = None

    @property
    def empty(self) -> bool:
        return self.ike is None and self.esp is None and self.esn is None

    def check(self, where: str = WHERE) -> None:
        """Each part of the right type (a Stated built in Python, not read from a file)."""
        for key in ("ike", "esp"):
            value = getattr(self, key)
            if value is not None and not isinstance(value, Proposal):
                raise ScenarioError(f"{where}.{key}: {value!r} is not a proposal (allowed: one"
                                    " proposal, e.g. parse_proposal('aes128-sha256-ecp256', ...))")
        if self.ike is not None and self.ike.dh is None:
            raise ScenarioError(f"{where}.ike: IKE needs a DH group, e.g. '{self.ike}-modp2048'")
        if self.esn is not None and not isinstance(self.esn, bool):
            raise ScenarioError(f"{where}.esn: {self.esn!r} is not allowed (allowed: true, false)")


def parse_stated(value: Any, where: str = WHERE) -> Stated:
    """The ``[negotiated]`` table as read from TOML; errors are one line naming the key."""
    if not isinstance(value, dict):
        raise ScenarioError(f"{where}: {str(value)[:80]!r} is not a table (allowed: a"
                            " [negotiated] table with ike, esp and/or esn)")
    unknown = sorted(set(value) - set(KEYS))
    if unknown:
        raise ScenarioError(f"{where}: unknown field {unknown[0]!r} (allowed: {', '.join(KEYS)})")
    parts: dict[str, Any] = {}
    for key in ("ike", "esp"):
        if key not in value:
            continue
        text = value[key]
        if isinstance(text, list) or (isinstance(text, str) and ("," in text or text == "default")):
            raise ScenarioError(f"{where}.{key}: {str(text)[:80]!r} is not one proposal (allowed:"
                                " the one proposal the negotiation ends with, e.g."
                                f" {'aes256-sha256-ecp256' if key == 'ike' else 'aes128gcm16'!r})")
        parts[key] = parse_proposal(text, f"{where}.{key}", needs_dh=key == "ike")
    if "esn" in value:
        if not isinstance(value["esn"], bool):
            raise ScenarioError(f"{where}.esn: {str(value['esn'])[:80]!r} is not allowed"
                                " (allowed: true, false)")
        parts["esn"] = value["esn"]
    return Stated(**parts)


def stated_to_dict(stated: Stated) -> dict[str, Any]:
    """What parse_stated() reads back: only the stated parts."""
    out: dict[str, Any] = {}
    for key in ("ike", "esp"):
        if getattr(stated, key) is not None:
            out[key] = str(getattr(stated, key))
    if stated.esn is not None:
        out["esn"] = stated.esn
    return out
