"""strongSwan in a road warrior: the gateway's swanctl.conf holds one connection per
client (remote_addrs %any, the client told apart by its identity, a secret per client)
and the pool of virtual IPs; a client asks for one (``vips``) and protects the gateway's
subnet. The lab installs the virtual IP itself (install_virtual_ip stays off, as routes)."""

from __future__ import annotations

import struct

from lab.daemons.encode import header, psk_hex
from lab.daemons.strongswan.conf import Settings, conf_text
from lab.daemons.strongswan.driver import StrongSwan
from lab.daemons.strongswan.spelling import (
    AUTH,
    PSK_MAX_BYTES,
    spell_esp,
    spell_ike,
    spell_list,
    swanctl_id,
)
from lab.daemons.strongswan.status import parse_list_sas
from lab.daemons.strongswan.vici import Message, vici_decode, vici_stream
from lab.errors import DaemonError
from lab.peers import Connection
from lab.remote.base import RoleDriver, Session
from lab.scenario import Scenario
from lab.status import DaemonStatus

POOL = "rw"
#: the gateway's one connection for every client when certificates tell them apart
SHARED = "rw"
#: the files the two-peer driver writes the node's certificate and the CA to (x509/, x509ca/)
CERT_FILE, CA_FILE = "peer.pem", "ca.pem"
#: the strongswan.conf setting that lets a responder take Aggressive Mode with a PSK
AGGRESSIVE_PSK = "i_dont_care_about_security_and_use_aggressive_mode_psk"


def _connection(s: Scenario, end: str, far: str, local: str, remote: str,
                extra: Settings, remote_access: bool = True, anyone: bool = False,
                pool: bool = True) -> Settings:
    """One swanctl.conf connection of the pair scenario ``s`` as ``end`` sees it (its
    children follow); IKEv1 remote access with a PSK: Aggressive Mode (which names the
    client before the PSK is needed), and mode config pulled. With certificates the node
    sends its own; ``anyone``: the far end is whoever has a certificate the lab's CA
    signed (remote.cacerts), its identity the certificate's. ``pool``: virtual IPs are
    asked and served (else no mode config pulled: the client keeps its own address)."""
    v1 = s.ike_version_of(end) == 1 and remote_access
    certs = s.auth != "psk"
    their: Settings = {"auth": AUTH[s.auth]}
    their.update({"cacerts": CA_FILE} if anyone else {"id": swanctl_id(s.identity(far))})
    return {"version": str(s.ike_version_of(end)), "local_addrs": local,
            "remote_addrs": remote, **extra,
            **({"aggressive": "yes"} if v1 and not certs else {}),
            **({"pull": "yes"} if v1 and pool else {}),
            "proposals": spell_list(s.ike_list(end), spell_ike), "keyingtries": "1",
            "mobike": "no",  # one address per peer: nothing to update
            **({"send_cert": "always"} if certs else {}),
            "local": {"auth": AUTH[s.auth], "id": swanctl_id(s.identity(end)),
                      **({"certs": CERT_FILE} if certs else {})},
            "remote": their}


def _secrets(s: Scenario, end: str, far: str, name: str) -> Settings:
    """The PSK's secret (none with certificates: the key is private/, the CA x509ca/)."""
    return {f"ike-{name}": _secret(s, end, far)} if s.auth == "psk" else {}


def _secret(s: Scenario, end: str, far: str) -> Settings:
    return {"secret": psk_hex(s.psk_of(end), "strongswan", PSK_MAX_BYTES),
            "id-1": swanctl_id(s.identity(end)), "id-2": swanctl_id(s.identity(far))}


def _child(s: Scenario, end: str) -> Settings:
    return {"mode": "tunnel", "esp_proposals": spell_list(s.esp_list(end), spell_esp),
            "start_action": "none"}


def of_peer(events: list[Message], conn: str, address: str) -> list[Message]:
    """The list-sa events of ``conn``'s IKE SAs with the peer at ``address``."""
    return [e for e in events if isinstance(e.get(conn), dict)
            and str(e[conn].get("remote-host", "")) == address]  # type: ignore[union-attr]


def parse_sessions(events: list[Message]) -> list[Session]:
    """The established IKE SAs of list-sa events, each with its installed Child SAs."""
    out = []
    for event in events:
        for name, ike in event.items():
            if not isinstance(ike, dict) or ike.get("state") != "ESTABLISHED":
                continue
            kids = ike.get("child-sas")
            installed = [c for c in (kids.values() if isinstance(kids, dict) else [])
                         if isinstance(c, dict) and c.get("state") == "INSTALLED"]
            out.append(Session(name, str(ike.get("remote-host", "")),
                               str(ike.get("remote-id", "")), len(installed)))
    return out


class Role(RoleDriver, StrongSwan):
    """What both roles' files share: the header names the network scenario."""

    def _header(self, what: str) -> str:
        return header("strongSwan", self.network.name, self.side, what, self.ctx.home)

    def strongswan_conf(self) -> str:
        """IKEv1: Aggressive Mode with a PSK, which charon refuses as a responder unless
        told ("Aggressive Mode PSK disabled for security reasons")."""
        text = super().strongswan_conf()
        n = self.network
        if self.role == "gateway" and n.auth == "psk" and any(
                n.ike_version_of(c) == 1 for c in n.connections):
            text = text.replace("charon {\n", "charon {\n    " + AGGRESSIVE_PSK + " = yes\n", 1)
        return text


class Gateway(Role):
    role = "gateway"

    def swanctl_conf(self) -> str:
        n, gw = self.network, self.node
        conns: Settings = {}
        secrets: Settings = {}
        for conn in n.connections[:1] if n.shared else n.connections:
            s, name = n.pair(conn), self.conn_name(conn)
            child = {**_child(s, "right"), "local_ts": gw.subnet or ""}
            conns[name] = {**_connection(s, "right", "left", gw.address, "%any",
                                         {"pools": POOL} if n.has_pool else {},
                                         anyone=n.shared, pool=n.has_pool),
                           "children": {name: child}}
            secrets.update(_secrets(s, "right", "left", conn.client))
        pools = {"pools": {POOL: {"addrs": "-".join(n.pool_range())}}} if n.has_pool else {}
        sections: Settings = {"connections": conns, **pools,
                              **({"secrets": secrets} if secrets else {})}
        return self._header("swanctl.conf") + conf_text(sections)

    def conn_name(self, conn: Connection) -> str:
        """The gateway's connection that serves ``conn``."""
        return SHARED if self.network.shared else conn.named(self.network.topology)

    def status_of(self, conn: Connection) -> DaemonStatus | None:
        """VICI list-sas of the client's connection (the one every client shares: its IKE
        SA with the client's address)."""
        name, n = self.conn_name(conn), self.network
        try:
            with self._vici_socket(timeout=5.0) as sock:
                events, _ = vici_stream(sock, "list-sas", {"ike": name}, "list-sa")
        except (OSError, ConnectionError, struct.error) as exc:
            return DaemonStatus(source="VICI list-sas", error=f"list-sas {name}: {exc}")
        decoded = [vici_decode(e) for e in events]
        if n.shared:
            decoded = of_peer(decoded, name, n.seen(n.by_name[conn.client]))
        return parse_list_sas(decoded, name)

    def sessions(self) -> list[Session]:
        """Every IKE SA charon holds (VICI list-sas, all connections)."""
        try:
            with self._vici_socket(timeout=5.0) as sock:
                events, _ = vici_stream(sock, "list-sas", {}, "list-sa")
        except (OSError, ConnectionError, struct.error) as exc:
            raise DaemonError(f"strongswan ({self.side}): list-sas: {exc}") from None
        return parse_sessions([vici_decode(e) for e in events])


class Client(Role):
    role = "client"

    def swanctl_conf(self) -> str:
        s, gw = self.scenario, self.network.gateway
        child = {**_child(s, "left"), "remote_ts": gw.subnet or ""}
        # without a pool: no vips, local_ts the default (the client's own address)
        vips = {"vips": self.vip_family()} if self.network.has_pool else {}
        conn = {**_connection(s, "left", "right", self.node.address, gw.address, vips,
                              pool=self.network.has_pool),
                "children": {s.conn_name: child}}
        secrets = _secrets(s, "left", "right", s.conn_name)
        sections: Settings = {"connections": {s.conn_name: conn},
                              **({"secrets": secrets} if secrets else {})}
        return self._header("swanctl.conf") + conf_text(sections)


class Hub(Gateway):
    """A hub: one connection per spoke, to the spoke's address (IKEv1: Main Mode, which
    finds the PSK by the spoke's address), protecting everything on the hub's side and
    the spoke's subnet on the other (the hub forwards between its tunnels)."""

    role = "hub"

    def swanctl_conf(self) -> str:
        n, hub = self.network, self.node
        conns: Settings = {}
        secrets: Settings = {}
        for conn in n.connections:
            s, spoke, name = n.pair(conn), n.by_name[conn.client], conn.named(n.topology)
            child = {**_child(s, "right"), "local_ts": n.wide, "remote_ts": spoke.subnet or ""}
            conns[name] = {**_connection(s, "right", "left", hub.address, spoke.address, {},
                                         remote_access=False), "children": {name: child}}
            for key, secret in _secrets(s, "right", "left", conn.client).items():
                secrets[key] = {**secret, "id-3": hub.address, "id-4": spoke.address}
        return self._header("swanctl.conf") + conf_text(
            {"connections": conns, **({"secrets": secrets} if secrets else {})})
