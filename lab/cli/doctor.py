"""ipsec-lab doctor: what this machine can run, what is missing, and the command that
fixes each missing part. Its exit status is 1 when something the default run needs (a
kernel that holds ESP SAs, the default matrix's flavors, the tools the lab runs) is
missing, else 0; our own UML (time travel) and the machine's own daemons are optional.

What differs between daemons (which flavors there are to check, what building a daemon
from source needs) is each daemon's provision (lab.flavors.PROVISIONS), read here.
"""

from __future__ import annotations

import argparse
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from lab.daemons.registry import DAEMONS
from lab.errors import LabError, MissingError
from lab.flavors import PROVISIONS, parse_flavor, tree_missing
from lab.kernel.choice import choose
from lab.kernel.uml import SYSTEM_UML, cache_dir, find_own_kernel
from lab.matrix import DEFAULT_FLAVORS
from lab.provision_rules import TREES, Tool

#: what needs a tool: every run, the UML kernels, the Debian trees (then each daemon built
#: from source, by its provision's tools), each with what it is in doctor's words
PURPOSE = {"run": "the lab runs it", "uml": "installs Debian's UML into the cache",
           TREES: "builds the flavor trees",
           **{p.part(): p.purpose() for p in PROVISIONS.values() if p.from_source}}
#: tool (or file) with its Debian package, and what needs it (a key of PURPOSE)
TOOLS: tuple[tuple[Tool, str], ...] = (
    (Tool("nsenter", "util-linux"), "run"), (Tool("ip", "iproute2"), "run"),
    (Tool("tc", "iproute2"), "run"), (Tool("apt-get", "apt"), "uml"),
    (Tool("dpkg-deb", "dpkg"), "uml"), (Tool("patchelf", "patchelf"), "uml"),
    (Tool("mmdebstrap", "mmdebstrap"), TREES),
    (Tool("/usr/share/keyrings/debian-archive-keyring.gpg", "debian-archive-keyring"), TREES),
    *((tool, p.part()) for p in PROVISIONS.values() for tool in p.tools),
)
SETUP_ALL = "ipsec-lab setup"
#: the CPU flag of Debian 12's UML 6.1 panic ("ptrace set fp regs failed")
AMX_FLAG = "amx_tile"


@dataclass(frozen=True)
class Finding:
    topic: str  # kernel, travel, flavor, tool, access
    name: str
    state: str  # what is there, or why it is missing
    ok: bool
    fix: str = ""
    needed: bool = True  # whether the default run needs it

    def line(self) -> str:
        state = self.state if self.ok else f"MISSING: {self.state}" if self.needed else \
            f"missing (optional): {self.state}"
        name = f"{self.name:<20} " if self.name else ""
        return f"{self.topic + ':':<9}{name}{state}"


def has_amx(cpuinfo: str | None = None) -> bool:
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return False
    return any(AMX_FLAG in line.split() for line in cpuinfo.splitlines() if line.startswith("flags"))


def kernels(args: argparse.Namespace) -> list[Finding]:
    fix = f"{SETUP_ALL} --no-flavors"
    found: list[Finding] = []
    try:
        choice = choose(args.lab_kernel, args.lab_uml)
    except LabError as exc:
        found.append(Finding("kernel", "", str(exc), False, fix))
    else:
        debian_61 = choice.uml is not None and choice.uml.binary == SYSTEM_UML \
            and choice.uml.release.startswith("6.1.")
        if debian_61 and has_amx():
            found.append(Finding("kernel", "", f"{choice.describe()}: Debian 12's UML 6.1 panics at"
                                 " the first process on CPUs with AMX, as this one has", False, fix))
        else:
            found.append(Finding("kernel", "", choice.describe(), True))
    try:
        found.append(Finding("travel", "", f"{find_own_kernel()}, booted with time-travel for"
                             " lifecycle cells", True))
    except MissingError as exc:
        found.append(Finding("travel", "", f"{exc} (lifecycle cells then run in real time)", False,
                             fix, needed=False))
    return found


def flavors(tag: str) -> list[Finding]:
    found = []
    packaged = [p.daemon for p in PROVISIONS.values() if p.packaged]
    for name in (*packaged, *DEFAULT_FLAVORS):
        flavor = parse_flavor(name)
        cls = DAEMONS[flavor.impl]
        missing = tree_missing(flavor) or cls.missing(flavor)
        own = flavor.source == "system"  # the machine's own programs: setup builds none
        # Debian's libreswan and strongSwan packages conflict: a tree is the way to have both
        fix = (f"use {flavor.impl}@sid instead: {SETUP_ALL} --flavors={flavor.impl}@sid" if own
               else f"{SETUP_ALL} --flavors={flavor.name}")
        if missing:
            found.append(Finding("flavor", flavor.name, missing, False, fix, needed=not own))
        else:
            found.append(Finding("flavor", flavor.name, cls.version(flavor, tag), True))
    return found


def _have(tool: str) -> bool:
    if tool.startswith("/"):
        return Path(tool).exists()
    path = os.pathsep.join([os.environ.get("PATH", ""), "/usr/local/sbin", "/usr/sbin", "/sbin"])
    return shutil.which(tool, path=path) is not None


def tools(to_build: set[str]) -> list[Finding]:
    """The tools the lab runs, and those setup needs for what is still to be built
    (``to_build``: uml, trees, a daemon built from source); those of what is built already
    are optional."""
    found = []
    for tool, purpose in TOOLS:
        if tool.unless_env and os.environ.get(tool.unless_env):
            continue  # what it would fetch is in that directory
        if not _have(tool.name):
            needed = purpose == "run" or purpose in to_build
            found.append(Finding("tool", tool.name, f"{PURPOSE[purpose]} (package {tool.package})",
                                 False, f"apt-get install {tool.package}", needed))
    if not found:
        found.append(Finding("tools", "", "all there (" + ", ".join(Path(t.name).name for t, _ in TOOLS)
                             + ")", True))
    return found


def access(to_build: set[str]) -> list[Finding]:
    found = []
    if os.geteuid() != 0:
        found.append(Finding("access", "", f"uid {os.geteuid()}, not root: runs work (UML kernels as"
                             " this user), but setup's builds need root (mmdebstrap, apt-get)", False,
                             f"sudo {SETUP_ALL}", needed=bool(to_build)))
    else:
        found.append(Finding("access", "", "root", True))
    cache = cache_dir()
    parent = next((p for p in (cache, *cache.parents) if p.exists()), Path("/"))
    if not os.access(parent, os.W_OK | os.X_OK):
        found.append(Finding("access", "", f"cannot write {parent} (the cache {cache})", False,
                             f"IPSEC_LAB_CACHE=DIR {SETUP_ALL} with a DIR you can write",
                             needed=bool(to_build)))
    if not os.access("/dev/shm", os.W_OK):
        found.append(Finding("access", "", "cannot write /dev/shm (UML's memory files)", False,
                             "mount a writable tmpfs on /dev/shm"))
    return found


def to_build(found: list[Finding]) -> set[str]:
    """What setup still has to build, by the tools it needs for it."""
    parts = set()
    for f in found:
        if f.ok or not f.fix.startswith(SETUP_ALL):
            continue
        if f.topic in ("kernel", "travel"):
            parts.add("uml")
        else:  # a flavor: what its daemon builds (a tree, or its own build from source)
            parts.add(PROVISIONS[f.name.partition("@")[0]].part())
    return parts


def report(found: list[Finding]) -> tuple[list[str], int]:
    """The lines doctor prints and its exit status."""
    lines = [f.line() for f in found]
    missing = [f for f in found if not f.ok]
    if missing:
        lines.append("to fix:")
        fixes: dict[str, list[str]] = {}
        for f in missing:  # one line per command, with everything it fixes
            fixes.setdefault(f.fix, []).append(f"{f.topic} {f.name}".strip())
        lines += [f"  {fix:<52} # {', '.join(what)}" for fix, what in fixes.items()]
        setups = [f for f in missing if f.fix.startswith(SETUP_ALL)]
        if len(setups) > 1:
            lines.append(f"  (or all of the lab's builds at once: {SETUP_ALL})")
    needed = [f for f in missing if f.needed]
    if needed:
        lines.append(f"doctor: {len(needed)} missing that the default run needs: "
                     + ", ".join(f"{f.topic} {f.name}".strip() for f in needed))
        return lines, 1
    lines.append("doctor: everything the default run needs is here"
                 + (" (some optional parts are missing, above)" if missing else ""))
    return lines, 0


def cmd_doctor(args: argparse.Namespace, tag: str) -> int:
    print(f"cache:   {cache_dir()}")
    found = kernels(args) + flavors(tag)
    parts = to_build(found)
    found += tools(parts) + access(parts)
    lines, status = report(found)
    for line in lines:
        print(line)
    return status
