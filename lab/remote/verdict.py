"""The verdict of a road-warrior cell, per connection, and the gateway's own checks.

Pure: fed the kernels' SAs and policies, each client's capture and ping, the gateway's
sessions. Per connection (client <-> gateway) the two-peer checks are reused as they
are (lab.wire.verdict: ESP only, the SPIs on the client's link exactly those both
kernels hold, sequence numbers, counts; lab.negotiated: both kernels' copies agree field
by field, mode and ESP as configured). Added here:

- (v) the virtual IP: the client's kernel sends from one address of the pool to the
  gateway's subnet, the gateway's kernel sends to that same address through that client,
  and no two clients hold the same one;
- (w) nothing of the traffic between a virtual IP and the host crosses a link in clear,
  no SPI of another client's SAs is on this client's link, and behind a NAT its ESP is
  in UDP;
- (g) the gateway holds exactly one IKE SA per client, with one Child SA.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from lab.negotiated import Problem, Side, against_scenario, agreement
from lab.remote.base import Session
from lab.scenario import Scenario
from lab.status import DaemonStatus
from lab.wire.packets import Packet
from lab.wire.traffic import PingResult
from lab.wire.verdict import Verdict, judge
from lab.xfrm import SA, Policy


def client_vip(policies: list[Policy], host: str, pool: str | None) -> str | None:
    """The virtual IP a client's kernel sends from (without a pool: its own address): the
    source of its outbound IPsec policy to the host, a single address."""
    for p in policies:
        if p.dir == "out" and p.ipsec and p.src_len in (32, 128) and p.covers(p.src, host):
            return p.src
    return None


def gateway_vips(policies: list[Policy], host: str) -> set[str]:
    """The addresses the gateway's kernel sends to through IPsec from the host's subnet."""
    return {p.dst for p in policies if p.dir == "out" and p.ipsec
            and p.dst_len in (32, 128) and p.covers(host, p.dst)}


def in_pool(address: str, pool: str) -> bool:
    return ipaddress.ip_address(address) in ipaddress.ip_network(pool)


@dataclass
class ConnectionVerdict:
    """One client's connection: its virtual IP, what its link carried, the findings."""

    client: str
    vip: str | None
    verdict: Verdict | None = None
    problems: list[str] = field(default_factory=list)
    #: no pool: ``vip`` is the address the client's policy sends from (its own)
    own: bool = False

    def lines(self) -> list[str]:
        what = "sends from (no pool, no virtual IP)" if self.own else "virtual IP"
        out = [f"{self.client}: {what} {self.vip or 'none'}"]
        if self.verdict is not None:
            out += [f"  {line}" for line in self.verdict.summary()]
        return out


def check_vips(vips: dict[str, str | None], gw_sends_to: dict[str, set[str]],
               pool: str) -> list[str]:
    """(v) each client holds one address of the pool, the gateway sends to it through that
    client and no other, and no two clients share one. ``gw_sends_to``: client -> the
    virtual IPs the gateway's policies send through that client's address."""
    problems = []
    owners: dict[str, str] = {}
    for client, vip in vips.items():
        if vip is None:
            problems.append(f"(v) {client}: no outbound IPsec policy from a virtual IP to the"
                            " host behind the gateway")
            continue
        if not in_pool(vip, pool):
            problems.append(f"(v) {client}: virtual IP {vip} is not in the pool {pool}")
        if vip in owners:
            problems.append(f"(v) {client} and {owners[vip]} both hold virtual IP {vip}")
        owners[vip] = client
        sent = gw_sends_to.get(client, set())
        if sent != {vip}:
            problems.append(f"(v) {client}: installed {vip}, but the gateway sends to"
                            f" {sorted(sent) or 'nothing'} through it")
    return problems


def check_own(sources: dict[str, str | None], own: dict[str, str],
              gw_sends_to: dict[str, set[str]]) -> list[str]:
    """(v) without a pool: each client's kernel sends to the host from the client's own
    address (``own``: client -> address), and the gateway sends to that address through
    that client and to nothing else through it."""
    problems = []
    for client, src in sources.items():
        if src is None:
            problems.append(f"(v) {client}: no outbound IPsec policy from its own address"
                            f" {own[client]} to the host behind the gateway")
            continue
        if src != own[client]:
            problems.append(f"(v) {client}: its kernel sends to the host from {src}, not from"
                            f" its own address {own[client]} (no pool: no virtual IP)")
        sent = gw_sends_to.get(client, set())
        if sent != {own[client]}:
            problems.append(f"(v) {client}: the gateway sends to {sorted(sent) or 'nothing'}"
                            f" through it (expected: its own address {own[client]} only)")
    return problems


def has_selectors(policies: list[Policy], src: str, dst: str) -> bool:
    """Whether an outbound IPsec policy protects exactly ``src`` -> ``dst`` (networks)."""
    want = (ipaddress.ip_network(src, strict=False), ipaddress.ip_network(dst, strict=False))
    return any(p.dir == "out" and p.ipsec and (
        ipaddress.ip_network(f"{p.src}/{p.src_len}", strict=False),
        ipaddress.ip_network(f"{p.dst}/{p.dst_len}", strict=False)) == want for p in policies)


def check_selectors(client: str, own: str, subnet: str, client_policies: list[Policy],
                    gw_policies: list[Policy]) -> list[str]:
    """(v) without a pool: the client's kernel protects its own address -> the gateway's
    subnet, the gateway's the subnet -> the client's own address (one address each)."""
    host = ipaddress.ip_network(own)  # /32 or /128
    problems = []
    for who, held, src, dst in (("the client", client_policies, host, subnet),
                                ("the gateway", gw_policies, subnet, host)):
        if not has_selectors(held, str(src), str(dst)):
            problems.append(f"(v) {client}: {who}'s kernel has no outbound policy"
                            f" {src} -> {dst} (no pool: the client's own address <-> the"
                            " gateway's subnet)")
    return problems


def check_link(client: str, packets: list[Packet], own: set[int], others: set[int],
               behind_nat: bool = False) -> list[str]:
    """(w) on one client's link: no echo in clear, no SPI of another client's SAs; behind a
    NAT, every ESP packet in UDP (RFC 3948: the daemons detected the NAT)."""
    problems = []
    bare = [p for p in packets if p.kind == "esp" and not p.udp_encapsulated]
    if behind_nat and bare:
        problems.append(f"(w) {client} is behind a NAT, but {len(bare)} ESP packet(s) on its"
                        f" link are not in UDP, first: {bare[0].line()}")
    clear = [p for p in packets if p.kind == "echo"]
    if clear:
        problems.append(f"(w) {client}'s link: {len(clear)} echo packet(s) in clear text,"
                        f" first: {clear[0].line()}")
    foreign = {p.spi for p in packets if p.kind == "esp" and p.spi in others - own}
    if foreign:
        problems.append(f"(w) {client}'s link carries SPIs of other clients' SAs: "
                        + ", ".join(f"0x{spi:08x}" for spi in sorted(foreign)))
    return problems


def check_sessions(sessions: list[Session], clients: dict[str, str], gateway: str) -> list[str]:
    """(g) exactly one IKE SA per client (by its address), each with one Child SA, and
    none for anyone else. ``clients``: name -> address."""
    problems = []
    by_addr = {addr: name for name, addr in clients.items()}
    for name, addr in clients.items():
        mine = [s for s in sessions if s.remote == addr]
        if len(mine) != 1:
            problems.append(f"(g) {gateway} holds {len(mine)} IKE SA(s) with {name} ({addr}),"
                            " expected 1")
        elif mine[0].children != 1:
            problems.append(f"(g) {gateway}'s IKE SA with {name} has {mine[0].children} Child"
                            " SA(s), expected 1")
    strangers = [s for s in sessions if s.remote not in by_addr]
    if strangers:
        problems.append(f"(g) {gateway} holds IKE SAs with peers that are no client: "
                        + ", ".join(f"{s.conn} {s.remote}" for s in strangers))
    return problems


def judge_connection(pair: Scenario, client: Side, gateway: Side, packets: list[Packet],
                     sas: dict[str, list[SA]], ping: PingResult,
                     statuses: dict[str, DaemonStatus]) -> tuple[Verdict, list[Problem]]:
    """The two-peer checks for one connection: ``sas`` holds "left" (the client's kernel)
    and "right" (the gateway's), ``statuses`` what each daemon says of this connection;
    the gateway's SAs with other clients do not count."""
    mine = {side: [sa for sa in held if {sa.src, sa.dst} == {client.address, gateway.address}]
            for side, held in sas.items()}
    verdict = judge(pair, packets, mine, ping)
    by_name = {client.name: mine["left"], gateway.name: mine["right"]}
    found = agreement(by_name, {"left": client, "right": gateway})
    # lab.negotiated reads each end of the pair scenario by its name there: left, right
    ends = {end: Side(end, f"{side.name}, {side.label}", side.address, side.icv_bits)
            for end, side in (("left", client), ("right", gateway))}
    found += against_scenario(pair, mine, statuses, ends)
    return verdict, found
