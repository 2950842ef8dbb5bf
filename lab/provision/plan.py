"""Setup's options as steps: which script builds what, in which order.

    all (the default)   Debian's UML, our own UML, the default matrix's trees and racoons
    none                the kernels only
    NAME@SUITE,...      the kernels and what these flavors need: a tree for NAME@SUITE, a
                        build for racoon@RELEASE (a variant shares its release's build);
                        NAME, NAME@system and NAME@/path need nothing built

How each daemon's flavors are built (a Debian tree, or a release from source with the
daemon's own script) is its provision (lab.flavors.PROVISIONS), read here.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

from lab.errors import UsageError
from lab.flavors import PROVISIONS, parse_flavor
from lab.matrix import DEFAULT_FLAVORS
from lab.provision_rules import TREE_SCRIPT

#: the build scripts, shipped as package data
SCRIPTS = Path(__file__).resolve().parent / "scripts"
#: the first two steps, unless left out: the kernel every worker boots
DEBIAN_UML = ("Debian's UML kernel", "install-uml.sh")
OWN_UML = ("our own UML kernel", "build-uml.sh")


@dataclass(frozen=True)
class Step:
    title: str
    script: str
    args: tuple[str, ...] = ()

    def argv(self) -> list[str]:
        return ["bash", str(SCRIPTS / self.script), *self.args]

    def command(self) -> str:
        return shlex.join(self.argv())

    def short(self) -> str:
        """The script and its arguments, for a step's heading."""
        return shlex.join([Path(self.script).name, *self.args])

    def plain(self, line: str) -> str:
        """A line of the script without the name it starts its lines with (its own, or
        the flavor's), for the closing table."""
        for name in (Path(self.script).stem, *self.args):
            if line.startswith(f"{name}: "):
                return line[len(name) + 2:]
        return line


@dataclass(frozen=True)
class Plan:
    steps: tuple[Step, ...]
    #: flavors asked for that need nothing built, and why
    notes: tuple[str, ...] = ()


def wanted(flavors: str) -> tuple[list[str], list[str], list[str]]:
    """``--flavors``' value as (trees, releases built from source as NAME@RELEASE, notes),
    each in the order given, without repeats. A bad name is a one-line UsageError naming
    what is allowed."""
    if flavors == "none":
        return [], [], []
    names = list(DEFAULT_FLAVORS) if flavors == "all" else [f.strip() for f in flavors.split(",")]
    if not all(names):
        raise UsageError(f"--flavors: an empty name in {flavors!r} (allowed: all, none, or"
                         " NAME@SUITE,... e.g. libreswan@sid,strongswan@sid)")
    trees: list[str] = []
    builds: list[str] = []
    notes: list[str] = []
    for name in names:
        flavor = parse_flavor(name, "--flavors")
        provision = PROVISIONS[flavor.impl]
        if flavor.source in provision.sources:
            todo, built = (builds, f"{flavor.impl}@{provision.release(flavor.source)}") \
                if provision.from_source else (trees, flavor.name)
            if built not in todo:
                todo.append(built)
        else:
            where = "the machine's own programs" if flavor.source == "system" else "your own build"
            notes.append(f"{name}: {where}, nothing to build")
    return trees, builds, notes


def plan(flavors: str = "all", own_uml: bool = True) -> Plan:
    """The steps of ``ipsec-lab setup --flavors=FLAVORS`` (``--no-own-uml``: own_uml False)."""
    trees, builds, notes = wanted(flavors)
    steps = [Step(*DEBIAN_UML)]
    if own_uml:
        steps.append(Step(*OWN_UML))
    steps += [Step(f"tree {name}", TREE_SCRIPT, (name,)) for name in trees]
    steps += [Step(f"{name} from source", PROVISIONS[name.partition("@")[0]].script, (name,))
              for name in builds]
    return Plan(tuple(steps), tuple(notes))
