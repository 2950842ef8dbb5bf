"""strongSwan (charon + swanctl): strongswan.conf and swanctl.conf from the scenario.

- driver.py: StrongSwan, the driver (what it can do; starting charon)
- render.py: the two files (SwanConfig); conf.py their syntax, spelling.py the names
- control.py: swanctl and VICI (CharonControl); vici.py the protocol
- flavor.py: what a flavor's strongSwan has (plugins, IKEv1, version)
- words.py: charon's log lines that end a negotiation; warm.py: charon kept warm
"""

from __future__ import annotations

from lab.daemons.strongswan.driver import StrongSwan

__all__ = ["StrongSwan"]
