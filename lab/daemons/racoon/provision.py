"""How racoon's flavors are obtained (lab.provision_rules): ipsec-tools is in no Debian
suite, so ``racoon@RELEASE`` is a release that `ipsec-lab setup` builds from source
(build-racoon.sh) into a prefix, and ``racoon@VARIANT`` a release's build configured
another way. Plain data below the scenario: this module imports nothing of the driver."""

from __future__ import annotations

from lab.provision_rules import Provision, Tool

#: ipsec-tools releases that `ipsec-lab setup` builds (racoon@RELEASE)
RELEASES = ("0.8.2", "0.9.1")
#: variants of a release: the same build, configured another way (racoon@VARIANT)
VARIANTS = {"privsep-0.9.1": "0.9.1"}

PROVISION = Provision(
    daemon="racoon",
    releases=RELEASES,
    variants=VARIANTS,
    script="build-racoon.sh",
    tools=(
        Tool("gcc", "build-essential"), Tool("make", "build-essential"),
        Tool("autoreconf", "autoconf"), Tool("automake", "automake"),
        Tool("libtoolize", "libtool"), Tool("bison", "bison"), Tool("flex", "flex"),
        Tool("quilt", "quilt"), Tool("pkg-config", "pkg-config"),
        Tool("/usr/include/openssl/evp.h", "libssl-dev"),
        # the pinned commit is fetched with git, unless the release tarballs are at hand
        Tool("git", "git", unless_env="IPSEC_LAB_RACOON_SOURCES"),
    ),
    program="sbin/racoon",
    packaged=False,
)
