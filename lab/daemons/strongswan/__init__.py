"""strongSwan (charon + swanctl): strongswan.conf and swanctl.conf from the scenario.

- driver.py: StrongSwan, the driver (what it can do; starting charon)
- render.py: the two files (SwanConfig); conf.py their syntax, spelling.py the names
- control.py: swanctl and VICI (CharonControl); vici.py the protocol
- status.py: what charon lists (its SAs and connections, the proposals it logged)
- flavor.py: what a flavor's strongSwan has (plugins, IKEv1, version)
- words.py: charon's log lines that end a negotiation; warm.py: charon kept warm
- native.py: the native lines a scenario may give it (a lower layer: lab.native reads it)
- provision.py: how its flavors are obtained (a lower layer: lab.flavors reads it)

This file imports nothing, so that lab.native can read native.py without the driver.
"""
