"""rtnetlink inside a lab namespace: the few requests a topology makes, synchronously.

pyroute2's message classes (ifinfmsg, ifaddrmsg, rtmsg, ndmsg) encode the requests and
decode the answers; the socket is a plain NETLINK_ROUTE one opened inside the namespace,
one request and its acknowledgement at a time. pyroute2's IPRoute does the same through an
asyncio loop and needs 99 of pyroute2's modules to be imported (0.3 s of a guest's first
cell, measured); the message classes need 27. IPRoute stays for traffic control, which only
the path cells use (lab.topology.impair imports it then, through ``iproute_in``).

pyroute2's package ``__init__`` imports all of pyroute2 (NDB, IPDB, conntrack, nl80211,
wireguard, plan9 ...) whatever one asks for; so while the lab's modules of it are imported,
``pyroute2`` is a bare package (its spec, no ``__init__`` run). The bare one is dropped
afterwards, and a later ``import pyroute2`` anywhere gets the whole library, with the same
submodules.
"""

from __future__ import annotations

import importlib.util
import ipaddress
import os
import socket
import struct
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from lab.run import NETNS_DIR
from lab.topology.netns import entered

NETLINK_ROUTE = 0
NLM_F_REQUEST, NLM_F_ACK, NLM_F_DUMP, NLM_F_EXCL, NLM_F_CREATE = 0x1, 0x4, 0x300, 0x200, 0x400
NLMSG_ERROR, NLMSG_DONE = 2, 3
RTM_NEWLINK, RTM_GETLINK, RTM_NEWADDR, RTM_NEWROUTE, RTM_GETROUTE, RTM_NEWNEIGH = 16, 18, 20, 24, 26, 28
IFF_UP, IFF_LOOPBACK = 0x1, 0x8
IF_OPER_UP = "UP"  # IFLA_OPERSTATE as pyroute2 decodes it
#: how long a link that was set up may take to carry packets (the kernel's link watch runs
#: soon after, in a work queue; 1-3 ms here)
LINK_SETTLE_S = 2.0
RT_TABLE_MAIN, RT_TABLE_LOCAL, RTPROT_BOOT, RTN_UNICAST = 254, 255, 3, 1
NLMSGHDR = struct.Struct("=IHHII")


@contextmanager
def _bare_pyroute2() -> Iterator[None]:
    """While the body imports pyroute2's submodules, the package without its __init__."""
    if "pyroute2" in sys.modules:  # already whole (or someone else's): use it as it is
        yield
        return
    spec = importlib.util.find_spec("pyroute2")
    if spec is None:
        raise ModuleNotFoundError("pyroute2 is not installed (pip install pyroute2)", name="pyroute2")
    sys.modules["pyroute2"] = importlib.util.module_from_spec(spec)
    try:
        yield
    finally:
        del sys.modules["pyroute2"]


with _bare_pyroute2():
    from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg
    from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg
    from pyroute2.netlink.rtnl.ndmsg import ndmsg
    from pyroute2.netlink.rtnl.rtmsg import rtmsg


def _family(addr: str) -> int:
    return socket.AF_INET6 if ipaddress.ip_address(addr).version == 6 else socket.AF_INET


class RtnlError(OSError):
    """The kernel refused a request: errno and what was asked."""


class Rtnl:
    """An rtnetlink socket inside ``netns``; a context manager that closes it."""

    def __init__(self, netns: str) -> None:
        self.netns = netns
        with entered(netns):
            self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC,
                                      NETLINK_ROUTE)
        self.sock.bind((0, 0))
        self.seq = 0

    def __enter__(self) -> Rtnl:
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()

    def _request(self, msg: Any, mtype: int, what: str, flags: int = 0) -> list[bytes]:
        """Send ``msg``; the messages answered before the kernel's acknowledgement."""
        self.seq += 1
        msg["header"]["type"] = mtype
        msg["header"]["flags"] = NLM_F_REQUEST | NLM_F_ACK | flags
        msg["header"]["sequence_number"] = self.seq
        msg.encode()
        self.sock.send(msg.data)
        answers = []
        while True:
            data = self.sock.recv(65536)
            offset = 0
            while offset + NLMSGHDR.size <= len(data):
                length, kind, _flags, seq, _pid = NLMSGHDR.unpack_from(data, offset)
                if length < NLMSGHDR.size:
                    raise RtnlError(0, f"{what} in {self.netns}: a malformed netlink answer")
                if seq == self.seq:
                    if kind == NLMSG_ERROR:
                        code = -struct.unpack_from("=i", data, offset + NLMSGHDR.size)[0]
                        if code:
                            raise RtnlError(code, f"{what} in {self.netns}: {os.strerror(code)}")
                        return answers
                    if kind == NLMSG_DONE:
                        return answers
                    answers.append(bytes(data[offset:offset + length]))
                offset += (length + 3) & ~3

    def link(self, ifname: str) -> tuple[int, str]:
        """(index, MAC address) of an interface."""
        msg = ifinfmsg()
        msg["attrs"] = [("IFLA_IFNAME", ifname)]
        for raw in self._request(msg, RTM_GETLINK, f"look up {ifname}"):
            answer = ifinfmsg(raw)
            answer.decode()
            return answer["index"], str(answer.get_attr("IFLA_ADDRESS"))
        raise RtnlError(0, f"look up {ifname} in {self.netns}: no answer")

    def links_not_carrying(self) -> list[str]:
        """Names of the links set up whose operational state is not yet up. Until the kernel's
        link watch has run for a new veth, its queue discipline is the one that drops every
        packet: what is sent at once after ``up`` is lost."""
        waiting = []
        for raw in self._request(ifinfmsg(), RTM_GETLINK, "list links", NLM_F_DUMP):
            link = ifinfmsg(raw)
            link.decode()
            if link["flags"] & IFF_UP and not link["flags"] & IFF_LOOPBACK \
                    and link.get_attr("IFLA_OPERSTATE") != IF_OPER_UP:
                waiting.append(str(link.get_attr("IFLA_IFNAME")))
        return waiting

    def is_local(self, addr: str) -> bool:
        """Whether the kernel's local table routes ``addr`` to this namespace itself. An
        IPv6 address gets that route a moment after it is added (its DAD work, even with
        NODAD, runs in a work queue): a packet to it before then is not delivered here."""
        msg = rtmsg()
        msg["family"] = _family(addr)
        wanted = ipaddress.ip_address(addr)
        for raw in self._request(msg, RTM_GETROUTE, "list routes", NLM_F_DUMP):
            found = rtmsg(raw)
            found.decode()
            dst = found.get_attr("RTA_DST")
            table = found.get_attr("RTA_TABLE") or found["table"]
            if table == RT_TABLE_LOCAL and dst and ipaddress.ip_address(dst) == wanted:
                return True
        return False

    def up(self, index: int, up: bool = True) -> None:
        """Set the link up (or, ``up=False``, down)."""
        msg = ifinfmsg()
        msg["index"], msg["flags"], msg["change"] = index, IFF_UP if up else 0, IFF_UP
        self._request(msg, RTM_NEWLINK, f"set link {index} {'up' if up else 'down'}")

    def set_mtu(self, index: int, mtu: int) -> None:
        msg = ifinfmsg()
        msg["index"] = index
        msg["attrs"] = [("IFLA_MTU", mtu)]
        self._request(msg, RTM_NEWLINK, f"set link {index} mtu {mtu}")

    def add_veth(self, ifname: str, peer: str, peer_netns: str) -> None:
        """A veth pair: ``ifname`` here, ``peer`` in the namespace ``peer_netns``."""
        fd = os.open(NETNS_DIR / peer_netns, os.O_RDONLY | os.O_CLOEXEC)
        try:
            msg = ifinfmsg()
            peer_attrs = {"attrs": [("IFLA_IFNAME", peer), ("IFLA_NET_NS_FD", fd)]}
            msg["attrs"] = [("IFLA_IFNAME", ifname),
                            ("IFLA_LINKINFO", {"attrs": [
                                ("IFLA_INFO_KIND", "veth"),
                                ("IFLA_INFO_DATA", {"attrs": [("VETH_INFO_PEER", peer_attrs)]})]})]
            self._request(msg, RTM_NEWLINK, f"add veth {ifname}/{peer}", NLM_F_CREATE | NLM_F_EXCL)
        finally:
            os.close(fd)

    def add_address(self, index: int, addr: str, prefixlen: int, flags: int = 0) -> None:
        family = _family(addr)
        msg = ifaddrmsg()
        msg["family"], msg["prefixlen"], msg["flags"], msg["index"] = family, prefixlen, flags, index
        msg["attrs"] = [("IFA_ADDRESS", addr)] + ([("IFA_LOCAL", addr)] if family == socket.AF_INET else [])
        self._request(msg, RTM_NEWADDR, f"add address {addr}/{prefixlen}", NLM_F_CREATE | NLM_F_EXCL)

    def add_route(self, dst: str, dst_len: int, oif: int, gateway: str | None = None,
                  scope: int = 0) -> None:
        msg = rtmsg()
        msg["family"], msg["dst_len"], msg["table"] = _family(dst), dst_len, RT_TABLE_MAIN
        msg["proto"], msg["scope"], msg["type"] = RTPROT_BOOT, scope, RTN_UNICAST
        msg["attrs"] = [("RTA_DST", dst), ("RTA_OIF", oif)] + ([("RTA_GATEWAY", gateway)] if gateway else [])
        self._request(msg, RTM_NEWROUTE, f"add route {dst}/{dst_len}", NLM_F_CREATE | NLM_F_EXCL)

    def add_neighbour(self, index: int, dst: str, lladdr: str, state: int) -> None:
        msg = ndmsg()
        msg["family"], msg["ifindex"], msg["state"] = _family(dst), index, state
        msg["attrs"] = [("NDA_DST", dst), ("NDA_LLADDR", lladdr)]
        self._request(msg, RTM_NEWNEIGH, f"add neighbour {dst}", NLM_F_CREATE | NLM_F_EXCL)


def await_carrier(namespaces: Iterable[str], timeout: float = LINK_SETTLE_S) -> None:
    """Return once every link set up in these namespaces carries packets."""
    deadline = time.monotonic() + timeout
    for netns in namespaces:
        with Rtnl(netns) as rtnl:
            while waiting := rtnl.links_not_carrying():
                if time.monotonic() > deadline:
                    raise RtnlError(0, f"links {', '.join(waiting)} in {netns} are set up but"
                                       f" not carrying packets after {timeout:g} s")
                time.sleep(0.001)


def iproute_in(netns: str) -> Any:
    """pyroute2's IPRoute opened inside ``netns`` (for traffic control; no helper process,
    unlike IPRoute(netns=)), imported on first use."""
    with _bare_pyroute2():
        from pyroute2.iproute.linux import IPRoute
    with entered(netns):
        return IPRoute()

