"""Flavors: where a peer's daemon comes from.

``libreswan`` (or ``libreswan@system``) uses the binaries of the machine the lab
runs on. ``libreswan@sid`` uses a Debian root filesystem built by `ipsec-lab setup`
into the cache, and ``libreswan@/path/to/tree`` one the user points at (their own
build, installed under that tree). A tree is entered with chroot in a private
mount namespace, with the peer's directory bind-mounted on the tree's /run.

racoon is in no Debian suite: ``racoon@0.8.2`` and ``racoon@0.9.1`` are ipsec-tools
releases that `ipsec-lab setup` builds from source into a *prefix* (``sbin/racoon``,
``sbin/setkey``, ``racoonctl``), and ``racoon@/path`` is a user's own prefix (or a whole
root tree, when it has a ``usr/bin``). A prefix is no chroot: its binaries run on the
machine's own root, with the machine's libc and libcrypto.

What differs between daemons here (Debian trees or releases built from source, their
names) is data beside each driver (lab.provision_rules.Provision:
lab.daemons.libreswan.provision, ...); ``PROVISIONS`` is the one table of them, a
provision for each name in ``IMPLEMENTATIONS``.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from lab import run as runner
from lab.daemons.libreswan.provision import PROVISION as LIBRESWAN
from lab.daemons.racoon.provision import PROVISION as RACOON
from lab.daemons.strongswan.provision import PROVISION as STRONGSWAN
from lab.errors import MissingError, UsageError
from lab.kernel.uml import cache_dir
from lab.provision_rules import SUITES, Provision, table
from lab.run import CLONE_NEWNS, libc, unshare

IMPLEMENTATIONS = ("libreswan", "strongswan", "racoon")
#: daemon -> how its flavors are obtained, one for each name in IMPLEMENTATIONS (the lab
#: refuses to import when one is missing)
PROVISIONS: dict[str, Provision] = table((LIBRESWAN, STRONGSWAN, RACOON), IMPLEMENTATIONS)
#: where a prefix keeps its programs
PREFIX_DIRS = ("sbin", "bin")
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 0x1, 0x2, 0x4, 0x8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 0x20, 0x1000, 0x4000, 0x40000
MNT_DETACH = 0x2
MAX_SYMLINKS = 40
PEER_HOME = Path("/run")  # where a chrooted daemon sees its peer directory


def flavors_dir() -> Path:
    return Path(os.environ.get("IPSEC_LAB_FLAVORS") or cache_dir() / "flavors")


def _mount(source: str, target: str, fstype: str | None, flags: int) -> None:
    if libc.mount(source.encode(), target.encode(), fstype.encode() if fstype else None,
                   flags, None) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {source} on {target}: {os.strerror(err)}")


def _umount(target: str) -> None:
    if libc.umount2(target.encode(), MNT_DETACH) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"umount {target}: {os.strerror(err)}")


@dataclass(frozen=True)
class View:
    """A flavor tree as one peer's daemon sees it, mounted at ``at`` in this mount
    namespace: the tree read-only, the peer directory on its /run, its own /proc and /tmp.

    Processes enter it with nsenter's --root after a vfork (about 10 ms inside UML). The
    preexec way (`Flavor.enter_new`) builds the same in a fresh mount namespace for each
    process, which forks the whole lab (about 100 ms inside UML). A view is only made
    inside a UML guest, whose mounts die with it: on a host, a killed run would leave
    mounts behind in the host's namespace."""

    at: Path

    def unmount(self) -> None:
        """Detach the view and all that is mounted in it; remove the mount point."""
        try:  # (a bind mount on its own file system is no mount to os.path.ismount)
            _umount(str(self.at))
        except OSError as exc:
            if exc.errno not in (errno.EINVAL, errno.ENOENT):  # not mounted (any more)
                raise
        with contextlib.suppress(OSError):
            self.at.rmdir()


def _resolve(root: Path, path: PurePosixPath) -> PurePosixPath:
    """``path`` with every symbolic link inside ``root`` followed, as seen from a chroot
    into ``root``; a component that does not exist ends the resolution."""
    done, todo, hops = PurePosixPath("/"), list(path.parts[1:]), 0
    while todo:
        part = todo.pop(0)
        if part in ("", "."):
            continue
        if part == "..":
            done = done.parent
            continue
        here = root / (done / part).relative_to("/")
        if not here.is_symlink():
            done = done / part
            if not here.exists():
                return done.joinpath(*todo)
            continue
        hops += 1
        if hops > MAX_SYMLINKS:
            return done.joinpath(part, *todo)
        target = PurePosixPath(os.readlink(here))
        if target.is_absolute():
            done = PurePosixPath("/")
        todo = list(target.parts[1:] if target.is_absolute() else target.parts) + todo
    return done


@dataclass(frozen=True)
class Flavor:
    impl: str
    source: str = "system"
    root: Path | None = None  # a root tree, entered with chroot
    prefix: Path | None = None  # an installation prefix (racoon releases), run as it is

    @property
    def name(self) -> str:
        return self.impl if self.source == "system" else f"{self.impl}@{self.source}"

    def __str__(self) -> str:
        return self.name

    @property
    def where(self) -> str:
        """Where the flavor's programs are looked for, for messages."""
        if self.prefix is not None:
            return f"in {self.prefix}/{{{','.join(PREFIX_DIRS)}}}"
        return f"in {self.root}" if self.root else "on PATH"

    def host_path(self, path: str | Path) -> Path:
        """Where a file of the flavor (an absolute path inside it) is on the host.

        Symbolic links in a tree are followed as the chrooted daemon would follow them:
        an absolute target (``/sbin/x -> /usr/sbin/x``) stays inside the tree."""
        if self.root is None:
            return Path(path)  # a prefix's paths are the machine's own
        return self.root / _resolve(self.root, PurePosixPath("/", path)).relative_to("/")

    def which(self, *names: str) -> str | None:
        """The first of ``names`` found in the flavor (absolute paths or PATH names),
        as the path to run inside the flavor."""
        for name in names:
            if name.startswith("/"):
                if os.access(self.host_path(name), os.X_OK):
                    return name
                continue
            if self.prefix is not None:
                for d in PREFIX_DIRS:
                    if os.access(self.prefix / d / name, os.X_OK):
                        return str(self.prefix / d / name)
            elif self.root is None:
                found = shutil.which(name, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
                if found:
                    return found
            else:
                for d in ("/usr/sbin", "/usr/bin", "/sbin", "/bin", "/usr/local/sbin"):
                    if os.access(self.host_path(f"{d}/{name}"), os.X_OK):
                        return f"{d}/{name}"
        return None

    def home(self, peer_dir: Path) -> Path:
        """The peer directory as the daemon sees it."""
        return PEER_HOME if self.root else peer_dir

    def enter_new(self, peer_dir: Path) -> Callable[[], None] | None:
        """preexec for a daemon or tool: a private mount namespace in which the tree is
        read-only, the peer directory is its /run, and it has its own /proc and /tmp;
        then chroot into it."""
        if self.root is None:
            return None
        root, source = str(self.root), str(peer_dir)

        def enter() -> None:
            unshare(CLONE_NEWNS)
            _mount("none", "/", None, MS_REC | MS_PRIVATE)  # nothing leaks back out
            _mount(root, root, None, MS_BIND | MS_REC)
            _mount("none", root, None, MS_REMOUNT | MS_BIND | MS_RDONLY)
            _mount(source, f"{root}/run", None, MS_BIND)
            _mount("proc", f"{root}/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
            _mount("tmpfs", f"{root}/tmp", "tmpfs", MS_NOSUID | MS_NODEV)
            os.chroot(root)
            os.chdir("/")

        return enter

    def view(self, peer_dir: Path, at: Path) -> View:
        """Mount the tree as the peer's daemon sees it at ``at`` (see `View`)."""
        assert self.root is not None, "only a tree has a view"
        at.mkdir()
        view, target = View(at), str(at)
        try:
            _mount(str(self.root), target, None, MS_BIND | MS_REC)
            _mount("none", target, None, MS_REMOUNT | MS_BIND | MS_RDONLY)
            _mount(str(peer_dir), f"{target}/run", None, MS_BIND)
            _mount("proc", f"{target}/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
            _mount("tmpfs", f"{target}/tmp", "tmpfs", MS_NOSUID | MS_NODEV)
        except OSError:
            view.unmount()
            raise
        return view

    def enter_running(self, pid: int) -> Callable[[], None] | None:
        """preexec for a tool that joins a running daemon's mounts and root."""
        return None if self.root is None else runner.join_root(pid)


def sources_of(impl: str) -> tuple[str, ...]:
    """The named sources an implementation has: Debian suites, or the releases (and their
    variants) it is built from."""
    return PROVISIONS[impl].sources


def parse_flavor(text: str, where: str = "flavor") -> Flavor:
    """``impl``, ``impl@system``, ``impl@SUITE`` (``racoon@RELEASE``) or ``impl@/path``."""
    impl, _, source = text.partition("@")
    if impl not in IMPLEMENTATIONS:
        releases = "".join(f"; {p.daemon}@RELEASE with RELEASE one of {', '.join(p.sources)}"
                           for p in PROVISIONS.values() if p.from_source)
        raise UsageError(f"{where}: unknown daemon {impl!r} in {text!r}"
                         f" (allowed: {', '.join(IMPLEMENTATIONS)}, each as NAME or NAME@SUITE"
                         f" with SUITE one of system, {', '.join(SUITES)}, or a directory"
                         f"{releases})")
    provision = PROVISIONS[impl]
    source = source or "system"
    if source == "system":
        return Flavor(impl)
    if source.startswith("/") or source.startswith("."):
        try:  # a loop of symlinks, a name too long, a file on the way: one line
            path = Path(source).resolve()
            prefix = provision.from_source and not (path / "usr" / "bin").is_dir()
        except (OSError, RuntimeError) as exc:
            raise UsageError(f"{where}: {text!r}: cannot resolve {source!r}"
                             f" ({getattr(exc, 'strerror', None) or exc}; allowed: a directory)") from None
        return Flavor(impl, source, prefix=path) if prefix else Flavor(impl, source, path)
    if source not in provision.sources:
        raise UsageError(f"{where}: unknown {provision.source_word}"
                         f" {source!r} in {text!r} (allowed: system,"
                         f" {', '.join(provision.sources)}, or a directory path)")
    if provision.from_source:
        return Flavor(impl, source, prefix=flavors_dir() / f"{impl}-{provision.release(source)}")
    return Flavor(impl, source, flavors_dir() / f"{impl}-{source}")


def tree_missing(flavor: Flavor) -> str | None:
    """Why a flavor's tree (or prefix) cannot be used, or None."""
    if flavor.prefix is not None:
        if flavor.prefix.is_dir():
            return None
        provision = PROVISIONS[flavor.impl]
        how = (f"ipsec-lab setup --flavors={flavor.name}" if flavor.source in provision.sources
               else f"point at the prefix {flavor.impl} was installed into (its"
               f" {provision.program})")
        return f"flavor {flavor.name}: nothing built at {flavor.prefix} (build it with: {how})"
    if flavor.root is None:
        return None
    if not flavor.root.is_dir():
        how = (f"ipsec-lab setup --flavors={flavor.name}" if flavor.source in SUITES
               else "point at a directory that holds the daemon's installed tree")
        return f"flavor {flavor.name}: no tree at {flavor.root} (build it with: {how})"
    return None


def require(flavor: Flavor) -> None:
    reason = tree_missing(flavor)
    if reason:
        raise MissingError(reason)
