"""Network namespaces as small context-manager objects, and sockets opened inside them."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager

from pyroute2 import netns as pr_netns

from lab.run import CLONE_NEWNET, NETNS_DIR, setns, setns_fd

#: Every namespace the lab creates starts with this; `ipsec-lab clean` looks for nothing else.
PREFIX = "ipl-"


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
        pr_netns.create(self.name)
        self.created = True
        return self

    def remove(self) -> None:
        if self.created:
            pr_netns.remove(self.name)
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
    return sorted(n for n in pr_netns.listnetns() if n.startswith(PREFIX))
