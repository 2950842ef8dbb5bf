"""Load kernel modules in-process (finit_module), in dependency order from modules.dep.

Inside UML every spawned process costs 0.2-0.6 s; one `modprobe` of the lab's
modules costs about a second. Reading modules.dep and calling finit_module
ourselves costs a few milliseconds a module.
"""

from __future__ import annotations

import ctypes
import errno
import os
from pathlib import Path

SYS_finit_module = 313  # x86_64

#: What the lab needs: ESP/AH/IPComp over IPv6 and IPv4, PF_KEY (racoon, setkey),
#: XFRM netlink, veth, and every crypto module that an SA may ask for, so that the
#: kernel never has to call a modprobe helper in the middle of a negotiation.
LAB_MODULES = (
    "esp6", "esp4", "ah6", "ah4", "ipcomp6", "ipcomp", "xfrm_user", "xfrm_ipcomp",
    "af_key", "xfrm6_tunnel", "tunnel6", "xfrm4_tunnel", "veth", "tun",
)
CRYPTO_DIRS = ("kernel/crypto", "kernel/lib/crypto", "kernel/arch/x86/crypto")
#: set by the UML guest for its program: the release directory of the kernel's modules
RELEASE_VAR = "IPSEC_LAB_MODULES_DIR"
#: loaded only when a cell's path needs them (lab.topology.impair): netem, nftables, NAT
PATH_MODULES = ("sch_netem", "nf_tables", "nft_ct", "nft_masq", "nft_chain_nat", "nf_nat",
                "nf_conntrack", "nf_defrag_ipv4", "nf_defrag_ipv6")


def module_dir(release_dir: Path) -> dict[str, list[str]]:
    """modules.dep as {module name: [its path, then the paths of what it needs]}."""
    deps: dict[str, list[str]] = {}
    for line in (release_dir / "modules.dep").read_text().splitlines():
        target, _, needs = line.partition(":")
        name = Path(target).name.split(".")[0].replace("-", "_")
        deps[name] = [target, *needs.split()]
    return deps


def _load_file(path: Path, libc: ctypes.CDLL) -> bool:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        if libc.syscall(SYS_finit_module, fd, b"", 0) == 0:
            return True
        err = ctypes.get_errno()
        if err == errno.EEXIST:
            return False
        raise OSError(err, f"finit_module {path.name}: {os.strerror(err)}")
    finally:
        os.close(fd)


def load(release_dir: Path, names: list[str], failed: list[str] | None = None) -> list[str]:
    """Load ``names`` and all they depend on; unknown names (built in) are skipped.

    Returns the module files loaded. Each file is tried once. With ``failed``,
    a module that does not load is noted there instead of raising."""
    libc = ctypes.CDLL(None, use_errno=True)
    deps = module_dir(release_dir)
    done: set[str] = set()
    loaded: list[str] = []
    for name in names:
        entry = deps.get(name.replace("-", "_"))
        if not entry:
            continue
        # modules.dep lists dependencies nearest-first; load the farthest first.
        for rel in [*reversed(entry[1:]), entry[0]]:
            if rel in done:
                continue
            done.add(rel)
            try:
                if _load_file(release_dir / rel, libc):
                    loaded.append(rel)
            except OSError as exc:
                if failed is None:
                    raise
                failed.append(str(exc))
    return loaded


def crypto_modules(release_dir: Path) -> list[str]:
    deps = module_dir(release_dir)
    return sorted(name for name, entry in deps.items()
                  if entry[0].startswith(CRYPTO_DIRS))


def ensure(names: tuple[str, ...] | list[str]) -> list[str]:
    """Inside UML: load ``names`` now (the guest's kernel calls no modprobe helper). On the
    host (no RELEASE_VAR) the kernel loads what it needs itself. Already loaded: no cost
    but one failed finit_module each."""
    release = os.environ.get(RELEASE_VAR)
    if not release:
        return []
    return load(Path(release), list(names))
