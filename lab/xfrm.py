"""Kernel SAs over XFRM netlink, in-process: no `ip` to fork for every poll.

Only what the lab needs: dump the SA database of a namespace into `SA` records,
and add one throwaway ESP SA to find out whether a kernel can hold ESP at all.
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import os
import socket
import struct
from dataclasses import dataclass, field

from lab.topology.netns import socket_in

NETLINK_XFRM = 6
XFRM_MSG_NEWSA, XFRM_MSG_DELSA, XFRM_MSG_GETSA = 0x10, 0x11, 0x12
XFRM_MSG_NEWPOLICY, XFRM_MSG_GETPOLICY = 0x13, 0x15
XFRM_MSG_FLUSHSA, XFRM_MSG_FLUSHPOLICY = 0x1C, 0x1D
XFRMA_TMPL = 5
POLICY_DIRS = {0: "in", 1: "out", 2: "fwd"}
NLMSG_ERROR, NLMSG_DONE = 2, 3
NLM_F_REQUEST, NLM_F_ACK, NLM_F_DUMP = 0x1, 0x4, 0x300
NLM_F_CREATE, NLM_F_EXCL = 0x400, 0x200
XFRMA_ALG_AUTH, XFRMA_ALG_CRYPT, XFRMA_ENCAP = 1, 2, 4
XFRMA_REPLAY_VAL, XFRMA_ALG_AEAD, XFRMA_ALG_AUTH_TRUNC, XFRMA_REPLAY_ESN_VAL = 10, 18, 20, 23
XFRMA_SA_EXTRA_FLAGS, XFRMA_SA_DIR = 24, 33
XFRM_STATE_ESN = 128
#: xfrm_usersa_info.flags bits, by name (as `ip xfrm state` prints them)
SA_FLAGS = {1: "noecn", 2: "decap-dscp", 4: "nopmtudisc", 8: "wildrecv", 16: "icmp",
            32: "af-unspec", 64: "align4", 128: "esn"}
SA_DIRS = {1: "in", 2: "out"}
MODES = {0: "transport", 1: "tunnel", 2: "ro", 3: "in_trigger", 4: "beet"}
PROTOS = {50: "esp", 51: "ah", 108: "comp"}

NLMSG = struct.Struct("=IHHII")
SA_INFO = struct.Struct("=16s16sHHHHHBBB3xiI" "16s4sB3x" "16s" "8Q" "4Q" "3I" "IIHBBB7x")
_POLICY_INFO = struct.Struct("=16s16sHHHHHBBB3xiI" "8Q" "4Q" "IIBBBB4x")
_SA_ID = struct.Struct("=16s4sHB1x")  # xfrm_usersa_id: daddr, spi, family, proto
_XFRM_INF = 0xFFFFFFFFFFFFFFFF
assert SA_INFO.size == 224


@dataclass(frozen=True)
class Selector:
    """The traffic an SA (or a policy) applies to: xfrm_selector. A selector with no
    address family matches every packet (daemons leave it so in tunnel mode)."""

    src: str = "::"
    src_len: int = 0
    dst: str = "::"
    dst_len: int = 0
    proto: int = 0
    sport: int = 0
    dport: int = 0
    family: int = 0

    @property
    def any(self) -> bool:
        return self.family == 0 or (self.src_len == 0 and self.dst_len == 0 and not self.proto
                                    and not self.sport and not self.dport)

    def __str__(self) -> str:
        if self.any:
            return "any"
        ports = f" sport {self.sport} dport {self.dport}" if self.sport or self.dport else ""
        proto = f" proto {self.proto}" if self.proto else ""
        return f"{self.src}/{self.src_len} > {self.dst}/{self.dst_len}{proto}{ports}"


@dataclass(frozen=True)
class SA:
    """One kernel SA, in the terms the verdict and the reports use."""

    src: str
    dst: str
    spi: int
    proto: str
    mode: str
    reqid: int
    enc: tuple[str, str] | None = None  # (kernel algorithm name, key hex)
    auth: tuple[str, str, int] | None = None  # (name, key hex, truncation bits)
    aead: tuple[str, str, int] | None = None  # (name, key hex incl. salt, ICV bits)
    esn: bool = False
    encap: bool = False
    packets: int = 0
    bytes: int = 0
    sel: Selector = field(default_factory=Selector)
    flags: tuple[str, ...] = ()  # SA_FLAGS names
    replay_window: int = 0
    dir: str | None = None  # XFRMA_SA_DIR where the daemon sets it: "in" or "out"
    encap_ports: tuple[int, int] | None = None  # UDP encapsulation (sport, dport)
    raw: bytes = field(default=b"", repr=False, compare=False)  # the netlink message, as read

    def __str__(self) -> str:
        algs = [a[0] for a in (self.aead, self.enc, self.auth) if a]
        esn = " esn" if self.esn else ""
        return (f"{self.src} > {self.dst} {self.proto} spi=0x{self.spi:08x} {self.mode}"
                f" reqid={self.reqid} {'+'.join(algs)}{esn}")


@dataclass(frozen=True)
class Policy:
    """One kernel security policy: direction, selector, and whether it asks for IPsec."""

    dir: str
    src: str
    src_len: int
    dst: str
    dst_len: int
    proto: int
    ipsec: bool  # has templates (a "require"/"use" policy), not allow/bypass only
    action: str
    #: the first template's destination (a tunnel's far end), "" without one
    tmpl_dst: str = ""

    def covers(self, src: str, dst: str) -> bool:
        def within(addr: str, net: str, plen: int) -> bool:
            ip, network = ipaddress.ip_address(addr), ipaddress.ip_network(f"{net}/{plen}", strict=False)
            return ip.version == network.version and ip in network  # (`in` ignores families)

        return within(src, self.src, self.src_len) and within(dst, self.dst, self.dst_len)

    def __str__(self) -> str:
        what = "ipsec" if self.ipsec else self.action
        return f"{self.src}/{self.src_len} > {self.dst}/{self.dst_len} proto {self.proto} {self.dir} {what}"


def parse_policy(payload: bytes) -> Policy:
    f = _POLICY_INFO.unpack_from(payload)
    daddr, saddr, family, plen_d, plen_s, proto = f[0], f[1], f[6], f[7], f[8], f[9]
    direction, action = f[26], f[27]
    attrs = attributes(payload[(_POLICY_INFO.size + 3) & ~3:])
    tmpl = attrs.get(XFRMA_TMPL, b"")
    # xfrm_user_tmpl: xfrm_id (daddr, spi, proto: 24 bytes), then its family
    tmpl_dst = _addr(tmpl[:16], struct.unpack_from("=H", tmpl, 24)[0]) if len(tmpl) >= 26 else ""
    return Policy(POLICY_DIRS.get(direction, str(direction)), _addr(saddr, family), plen_s,
                  _addr(daddr, family), plen_d, proto, XFRMA_TMPL in attrs,
                  "allow" if action == 0 else "block", tmpl_dst)


def attributes(data: bytes) -> dict[int, bytes]:
    out: dict[int, bytes] = {}
    while len(data) >= 4:
        length, kind = struct.unpack_from("=HH", data)
        if length < 4:
            break
        out[kind & 0x3FFF] = data[4:length]
        data = data[(length + 3) & ~3:]
    return out


def _algo(blob: bytes, extra: bool) -> tuple[str, str, int]:
    name = blob[:64].split(b"\0", 1)[0].decode()
    bits = struct.unpack_from("=I", blob, 64)[0]
    third = struct.unpack_from("=I", blob, 68)[0] if extra else 0
    start = 72 if extra else 68
    return name, blob[start:start + (bits + 7) // 8].hex(), third


@functools.lru_cache(maxsize=1024)  # a cell's dumps repeat a few addresses many times
def _addr(raw: bytes, family: int) -> str:
    if family == socket.AF_INET:
        return str(ipaddress.IPv4Address(raw[:4]))
    return str(ipaddress.IPv6Address(raw))


def parse_sa(payload: bytes) -> SA:
    f = SA_INFO.unpack_from(payload)
    daddr, spi, proto, saddr = f[12], f[13], f[14], f[15]
    cur_bytes, cur_packets = f[24], f[25]
    reqid, family, mode, window, flags = f[32], f[33], f[34], f[35], f[36]
    attrs = attributes(payload[SA_INFO.size:])
    sel_family = f[6]
    sel = Selector(_addr(f[1], sel_family or family), f[8], _addr(f[0], sel_family or family),
                   f[7], f[9], socket.ntohs(f[4]), socket.ntohs(f[2]), sel_family)
    if XFRMA_REPLAY_ESN_VAL in attrs:  # the window of an ESN SA lives here, not in the info
        window = struct.unpack_from("=6I", attrs[XFRMA_REPLAY_ESN_VAL])[5]
    direction = SA_DIRS.get(attrs[XFRMA_SA_DIR][0]) if XFRMA_SA_DIR in attrs else None
    encap_ports = None
    if XFRMA_ENCAP in attrs:
        _type, sport, dport = struct.unpack_from("=HHH", attrs[XFRMA_ENCAP])
        encap_ports = (socket.ntohs(sport), socket.ntohs(dport))
    enc = auth = aead = None
    if XFRMA_ALG_CRYPT in attrs:
        name, key, _ = _algo(attrs[XFRMA_ALG_CRYPT], extra=False)
        enc = (name, key)
    if XFRMA_ALG_AUTH_TRUNC in attrs:
        auth = _algo(attrs[XFRMA_ALG_AUTH_TRUNC], extra=True)
    elif XFRMA_ALG_AUTH in attrs:
        name, key, _ = _algo(attrs[XFRMA_ALG_AUTH], extra=False)
        auth = (name, key, 96)
    if XFRMA_ALG_AEAD in attrs:
        aead = _algo(attrs[XFRMA_ALG_AEAD], extra=True)
    return SA(src=_addr(saddr, family), dst=_addr(daddr, family),
              spi=int.from_bytes(spi, "big"), proto=PROTOS.get(proto, str(proto)),
              mode=MODES.get(mode, str(mode)), reqid=reqid, enc=enc, auth=auth, aead=aead,
              esn=bool(flags & XFRM_STATE_ESN),
              encap=XFRMA_ENCAP in attrs, packets=cur_packets, bytes=cur_bytes, sel=sel,
              flags=tuple(name for bit, name in SA_FLAGS.items() if flags & bit),
              replay_window=window, dir=direction, encap_ports=encap_ports, raw=bytes(payload))


def keyed(sa: SA) -> bool:
    """Whether the SA can carry traffic: a real SPI and an algorithm with its key (not the
    kernel's acquire placeholder, not an SPI reserved while a negotiation goes on)."""
    return sa.spi != 0 and bool(sa.enc or sa.aead or sa.auth)


class XfrmSocket:
    """A NETLINK_XFRM socket opened inside one namespace."""

    def __init__(self, netns: str | None) -> None:
        args = (socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, NETLINK_XFRM)
        self.sock = socket_in(netns, *args) if netns else socket.socket(*args)
        self.sock.bind((0, 0))
        self.seq = 0

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> XfrmSocket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _request(self, kind: int, flags: int, payload: bytes) -> list[tuple[int, bytes]]:
        self.seq += 1
        msg = NLMSG.pack(NLMSG.size + len(payload), kind, flags, self.seq, 0) + payload
        self.sock.send(msg)
        replies: list[tuple[int, bytes]] = []
        while True:
            data = self.sock.recv(1 << 20)
            while data:
                length, mtype, _flags, seq, _pid = NLMSG.unpack_from(data)
                body = data[NLMSG.size:length]
                data = data[(length + 3) & ~3:]
                if seq != self.seq:
                    continue
                if mtype == NLMSG_DONE:
                    return replies
                if mtype == NLMSG_ERROR:
                    code = struct.unpack_from("=i", body)[0]
                    if code:
                        raise OSError(-code, os.strerror(-code))
                    return replies
                replies.append((mtype, body))
            if not flags & NLM_F_DUMP and replies:
                return replies

    def states(self) -> list[SA]:
        replies = self._request(XFRM_MSG_GETSA, NLM_F_REQUEST | NLM_F_DUMP, bytes(SA_INFO.size))
        return [parse_sa(body) for kind, body in replies if kind == XFRM_MSG_NEWSA]

    def drops(self) -> int:
        """ESP packets this namespace's SAs dropped (xfrm_usersa_info's stats, kept with or
        without CONFIG_XFRM_STATISTICS): outside the replay window, replayed, bad ICV."""
        replies = self._request(XFRM_MSG_GETSA, NLM_F_REQUEST | NLM_F_DUMP, bytes(SA_INFO.size))
        return sum(sum(SA_INFO.unpack_from(body)[28:31])
                   for kind, body in replies if kind == XFRM_MSG_NEWSA)

    def policies(self) -> list[Policy]:
        replies = self._request(XFRM_MSG_GETPOLICY, NLM_F_REQUEST | NLM_F_DUMP, b"")
        return [parse_policy(body) for kind, body in replies if kind == XFRM_MSG_NEWPOLICY]

    def flush(self) -> None:
        """Flush every SA and every policy of the namespace (what `ip xfrm state flush` and
        `ip xfrm policy flush` do)."""
        self._request(XFRM_MSG_FLUSHSA, NLM_F_REQUEST | NLM_F_ACK, bytes(4))  # proto 0: all
        self._request(XFRM_MSG_FLUSHPOLICY, NLM_F_REQUEST | NLM_F_ACK, b"")

    def delete(self, sa: SA) -> None:
        """Delete one SA (what `ip xfrm state delete` does); the kernel tells every PF_KEY
        and XFRM listener (SADB_DELETE, XFRM_MSG_DELSA), as it does for any deletion."""
        family = socket.AF_INET6 if ":" in sa.dst else socket.AF_INET
        daddr = socket.inet_pton(family, sa.dst).ljust(16, b"\0")
        proto = next(n for n, name in PROTOS.items() if name == sa.proto)
        self._request(XFRM_MSG_DELSA, NLM_F_REQUEST | NLM_F_ACK,
                      _SA_ID.pack(daddr, sa.spi.to_bytes(4, "big"), family, proto))

    def add_probe_sa(self) -> None:
        """Add a transport-mode ESP SA ::1 -> ::1 (raises OSError where ESP is missing)."""
        lo = socket.inet_pton(socket.AF_INET6, "::1")
        info = SA_INFO.pack(
            lo, lo, 0, 0, 0, 0, socket.AF_INET6, 128, 128, 0, 0, 0,
            lo, (0x1ab).to_bytes(4, "big"), socket.IPPROTO_ESP,
            lo,
            _XFRM_INF, _XFRM_INF, _XFRM_INF, _XFRM_INF, 0, 0, 0, 0,
            0, 0, 0, 0,
            0, 0, 0,
            0, 1, socket.AF_INET6, 0, 32, 0)
        crypt = b"cbc(aes)".ljust(64, b"\0") + struct.pack("=I", 128) + bytes(16)
        auth = b"hmac(sha1)".ljust(64, b"\0") + struct.pack("=II", 160, 96) + bytes(20)
        attrs = b"".join(_rta(kind, blob) for kind, blob in
                         ((XFRMA_ALG_CRYPT, crypt), (XFRMA_ALG_AUTH_TRUNC, auth)))
        self._request(XFRM_MSG_NEWSA, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
                      info + attrs)


def _rta(kind: int, blob: bytes) -> bytes:
    length = 4 + len(blob)
    return struct.pack("=HH", length, kind) + blob + bytes((-length) % 4)


def dump(netns: str) -> list[SA]:
    with XfrmSocket(netns) as xs:
        return xs.states()


def delete(netns: str, sas: list[SA]) -> None:
    """Delete these SAs of a namespace; one already gone is no error."""
    with XfrmSocket(netns) as xs:
        for sa in sas:
            with contextlib.suppress(ProcessLookupError):  # ESRCH: gone meanwhile
                xs.delete(sa)


def flush(netns: str) -> None:
    with XfrmSocket(netns) as xs:
        xs.flush()


def dump_policies(netns: str) -> list[Policy]:
    with XfrmSocket(netns) as xs:
        return xs.policies()
