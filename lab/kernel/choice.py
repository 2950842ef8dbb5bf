"""Which kernel holds the SAs: the host's, if it can do ESP, or User-Mode Linux."""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from pathlib import Path

from lab.errors import MissingError, UsageError
from lab.kernel.uml import IN_UML_VAR, UmlKernel, find_kernel
from lab.owner import Owner
from lab.topology.netns import NetNS
from lab.xfrm import XfrmSocket

CHOICES = ("auto", "host", "uml")
#: --lab-time-travel / --time-travel: auto (for the cells that ask for it, where our own UML
#: is built), on (the same, and a missing kernel is an error), off (real time everywhere)
TIME_TRAVEL_CHOICES = ("auto", "on", "off")


@dataclass(frozen=True)
class KernelChoice:
    kind: str  # "host" or "uml"
    why: str
    uml: UmlKernel | None = None

    def describe(self) -> str:
        if self.kind == "uml":
            return f"User-Mode Linux {self.uml.release if self.uml else '?'}, one per worker ({self.why})"
        return f"host {platform.release()} ({self.why})"


def user_namespaces() -> bool:
    """Whether this kernel lets an unprivileged user make user namespaces."""
    for path, off in (("/proc/sys/user/max_user_namespaces", "0"),
                      ("/proc/sys/kernel/unprivileged_userns_clone", "0"),
                      ("/proc/sys/kernel/apparmor_restrict_unprivileged_userns", "1")):
        try:
            if Path(path).read_text().strip() == off:
                return False
        except OSError:
            continue
    return True


def unprivileged_reason() -> str:
    """Which mode a run that is not root's is in, and why."""
    userns = ("the host kernel could give it namespaces through user namespaces, but the lab's"
              " host mode needs root" if user_namespaces() else
              "and this kernel allows no unprivileged user namespaces")
    return (f"unprivileged mode, uid {os.geteuid()}: UML kernels run as this user, root only"
            f" inside the guest; {userns}")


def host_esp() -> str | None:
    """None if this kernel can hold an ESP SA (tried in a throwaway namespace), else why not."""
    if os.geteuid() != 0:
        return unprivileged_reason()
    ns = NetNS(f"{Owner.me().name_prefix()}probe")
    try:
        ns.create()
        with XfrmSocket(ns.name) as xs:
            xs.add_probe_sa()
    except OSError as exc:
        return f"the host kernel cannot hold an ESP SA ({exc.strerror or exc})"
    finally:
        ns.remove()
    return None


def in_uml() -> bool:
    return bool(os.environ.get(IN_UML_VAR))


def time_travel(cmdline: str | None = None) -> bool:
    """Whether this is a UML guest booted with ``time-travel`` (or ``time-travel=inf-cpu``):
    its clock skips idle time, so a wait of an hour passes in a fraction of a second."""
    if cmdline is None:
        if not in_uml():
            return False
        try:
            cmdline = Path("/proc/cmdline").read_text()
        except OSError:
            return False
    return any(word == "time-travel" or word.startswith("time-travel=") for word in cmdline.split())


def choose(option: str, uml_path: str | None = None) -> KernelChoice:
    """Resolve --lab-kernel: ``auto`` uses the host when it can do ESP, else UML."""
    if option not in CHOICES:
        raise UsageError(f"--lab-kernel: {option!r} is not allowed (allowed: {', '.join(CHOICES)})")
    if in_uml():
        return KernelChoice("uml", "inside the guest", None)
    if option == "host":
        reason = host_esp()
        if reason is not None:
            raise UsageError(f"--lab-kernel=host: {reason}; the cells need a kernel with ESP"
                             " (allowed here: --lab-kernel=uml, or auto, the default)")
        return KernelChoice("host", "--lab-kernel=host")
    if option == "auto":
        reason = host_esp()
        if reason is None:
            return KernelChoice("host", "it has ESP")
        why = reason
    else:
        why = "--lab-kernel=uml"
    try:
        return KernelChoice("uml", why, find_kernel(uml_path))
    except MissingError as exc:
        where = f"--lab-uml={uml_path}: " if uml_path else ""
        raise MissingError(f"{why}, and {where}{exc}") from None
