"""How Libreswan's flavors are obtained (lab.provision_rules): the machine's own packages, or a
Debian suite's tree that `ipsec-lab setup` builds (libreswan@SUITE). Plain data below the
scenario: this module imports nothing of the driver."""

from __future__ import annotations

from lab.provision_rules import Provision

PROVISION = Provision(daemon="libreswan")
