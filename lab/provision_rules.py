"""How a daemon's flavors are obtained, as data: one ``Provision`` per daemon, kept beside
its driver (lab.daemons.libreswan.provision, lab.daemons.racoon.provision,
lab.daemons.strongswan.provision). lab.flavors holds the table of them (``PROVISIONS``) and
reads it to parse a flavor; ``ipsec-lab setup`` (lab.provision.plan) to plan the builds;
``ipsec-lab doctor`` (lab.cli.doctor) to check them and name the fix. Like the native-line
rules, these sit below the scenario: neither this module nor a daemon's provision imports
anything of the drivers.

A daemon's named flavors (``NAME@SOURCE``) come one of two ways: a Debian suite's root
filesystem (a tree, built by ``build-flavors.sh``; the default), or a release built from
source into an installation prefix by a script of the daemon's own (``releases``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

#: the Debian suites a tree can be built from (NAME@SUITE)
SUITES = ("bookworm", "trixie", "sid")
#: the build script of every Debian tree
TREE_SCRIPT = "build-flavors.sh"
#: what setup builds a daemon's Debian trees as (doctor's name for the part still to build)
TREES = "trees"


@dataclass(frozen=True)
class Tool:
    """A program (on PATH) or a file (an absolute path) that a build needs."""

    #: the program's name, or the file's absolute path
    name: str
    #: the Debian package that has it
    package: str
    #: an environment variable that, when set, makes the tool unneeded (it names a
    #: directory that holds what the tool would fetch)
    unless_env: str = ""


@dataclass(frozen=True)
class Provision:
    """One daemon's flavors: where they come from and what building them takes."""

    #: the daemon's name, as a flavor spells it (lab.flavors.IMPLEMENTATIONS)
    daemon: str
    #: releases built from source into a prefix (NAME@RELEASE); empty: Debian suite trees
    releases: tuple[str, ...] = ()
    #: variants of a release: the same build, configured another way (NAME@VARIANT: RELEASE)
    variants: Mapping[str, str] = field(default_factory=dict)
    #: the script (lab/provision/scripts/) that builds one release, given NAME@RELEASE
    script: str = TREE_SCRIPT
    #: what that script needs on the machine, beyond what every run needs
    tools: tuple[Tool, ...] = ()
    #: the program a prefix holds, for the message when a prefix is missing
    program: str = ""
    #: whether the machine's own programs (NAME alone) can be a flavor that doctor checks:
    #: no for a daemon no Debian suite packages
    packaged: bool = True

    @property
    def from_source(self) -> bool:
        """Whether its named flavors are releases built from source (else Debian trees)."""
        return bool(self.releases)

    @property
    def sources(self) -> tuple[str, ...]:
        """What may follow NAME@: its releases and their variants, or the Debian suites."""
        return (*self.releases, *self.variants) if self.from_source else SUITES

    @property
    def source_word(self) -> str:
        """What a source is called in messages: ``release`` or ``suite``."""
        return "release" if self.from_source else "suite"

    def release(self, source: str) -> str:
        """The release a named source builds (a variant's release; a release itself)."""
        return self.variants.get(source, source)

    def part(self) -> str:
        """What setup builds for this daemon, as doctor names the part still to build:
        ``trees``, or the daemon's own name when it is built from source."""
        return self.daemon if self.from_source else TREES

    def purpose(self) -> str:
        """What its build tools are for, in doctor's words."""
        return f"builds {self.daemon} from source"


def table(provisions: tuple[Provision, ...], names: tuple[str, ...]) -> dict[str, Provision]:
    """{daemon: provision} in ``names``' order; a TypeError when the provisions' daemons
    and ``names`` are not the same set, one provision a name."""
    by_name = {p.daemon: p for p in provisions}
    if sorted(by_name) != sorted(names) or len(by_name) != len(provisions):
        raise TypeError(f"daemon provisions {sorted(by_name)} and lab.flavors.IMPLEMENTATIONS"
                        f" {list(names)} differ: each implementation needs one provision")
    return {name: by_name[name] for name in names}
