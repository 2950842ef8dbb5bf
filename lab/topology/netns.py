"""Network namespaces as small context-manager objects, and sockets opened inside them.

Namespaces are made in-process the way `ip netns add` makes them (a new network
namespace, bind-mounted on /run/netns/NAME), without forking a helper: inside UML
every process costs a few hundred milliseconds.
"""

from __future__ import annotations

import ctypes
import errno
import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from lab.run import CLONE_NEWNET, NETNS_DIR, libc, setns, setns_fd, unshare

#: Every namespace the lab creates starts with this; `ipsec-lab clean` looks for nothing else.
PREFIX = "ipl-"
MS_BIND, MNT_DETACH = 0x1000, 2


def _check(rc: int, what: str) -> None:
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def create_netns(name: str) -> None:
    NETNS_DIR.mkdir(parents=True, exist_ok=True)
    target = NETNS_DIR / name
    fd = os.open(target, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0o444)
    os.close(fd)
    errors: list[BaseException] = []

    def in_new_netns() -> None:  # unshare() moves only this thread
        try:
            unshare(CLONE_NEWNET)
            _check(libc.mount(b"/proc/thread-self/ns/net", str(target).encode(), None,
                               MS_BIND, None), f"bind netns {name}")
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=in_new_netns)
    thread.start()
    thread.join()
    if errors:
        target.unlink(missing_ok=True)
        raise errors[0]


def remove_netns(name: str) -> None:
    """Unmount and remove; a half-made one (its file made, the run killed before the bind
    mount) is only a file: EINVAL from umount says so and the file goes all the same."""
    target = NETNS_DIR / name
    if libc.umount2(str(target).encode(), MNT_DETACH) != 0:
        err = ctypes.get_errno()
        if err != errno.EINVAL:
            raise OSError(err, f"umount {target}: {os.strerror(err)}")
    target.unlink()


class NetNS:
    """A named network namespace; removed on exit (``__del__`` is not relied on)."""

    def __init__(self, name: str) -> None:
        if not name.startswith(PREFIX):
            raise ValueError(f"lab namespaces must start with {PREFIX!r}: {name!r}")
        self.name = name
        self.created = False

    def __str__(self) -> str:
        return self.name

    def create(self) -> NetNS:
        create_netns(self.name)
        self.created = True
        return self

    def remove(self) -> None:
        if self.created:
            remove_netns(self.name)
            self.created = False

    def __enter__(self) -> NetNS:
        return self.create()

    def __exit__(self, *exc: object) -> None:
        self.remove()


@contextmanager
def entered(netns: str) -> Iterator[None]:
    """Run the body with this thread inside ``netns`` (sockets made there stay there)."""
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        setns(NETNS_DIR / netns, CLONE_NEWNET)
        try:
            yield
        finally:
            setns_fd(home, CLONE_NEWNET)
    finally:
        os.close(home)


def socket_in(netns: str, family: int, type_: int, proto: int = 0) -> socket.socket:
    with entered(netns):
        return socket.socket(family, type_, proto)


def lab_namespaces() -> list[str]:
    if not NETNS_DIR.is_dir():
        return []
    return sorted(n for n in os.listdir(NETNS_DIR) if n.startswith(PREFIX))
