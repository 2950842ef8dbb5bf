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
#: the strongswan.conf setting that lets a responder take Aggressive Mode with a PSK
AGGRESSIVE_PSK = "i_dont_care_about_security_and_use_aggressive_mode_psk"


def _connection(s: Scenario, end: str, far: str, local: str, remote: str,
                extra: Settings, remote_access: bool = True) -> Settings:
    """One swanctl.conf connection of the pair scenario ``s`` as ``end`` sees it (its
    children follow); IKEv1 remote access: Aggressive Mode and mode config pulled."""
    v1 = {"aggressive": "yes", "pull": "yes"} \
        if s.ike_version_of(end) == 1 and remote_access else {}
    return {"version": str(s.ike_version_of(end)), "local_addrs": local,
            "remote_addrs": remote, **extra, **v1,
            "proposals": spell_list(s.ike_list(end), spell_ike), "keyingtries": "1",
            "mobike": "no",  # one address per peer: nothing to update
            "local": {"auth": AUTH[s.auth], "id": swanctl_id(s.identity(end))},
            "remote": {"auth": AUTH[s.auth], "id": swanctl_id(s.identity(far))}}


def _secret(s: Scenario, end: str, far: str) -> Settings:
    return {"secret": psk_hex(s.psk_of(end), "strongswan", PSK_MAX_BYTES),
            "id-1": swanctl_id(s.identity(end)), "id-2": swanctl_id(s.identity(far))}


def _child(s: Scenario, end: str) -> Settings:
    return {"mode": "tunnel", "esp_proposals": spell_list(s.esp_list(end), spell_esp),
            "start_action": "none"}


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
        if self.role == "gateway" and any(self.network.ike_version_of(c) == 1
                                          for c in self.network.connections):
            text = text.replace("charon {\n", "charon {\n    " + AGGRESSIVE_PSK + " = yes\n", 1)
        return text


class Gateway(Role):
    role = "gateway"

    def swanctl_conf(self) -> str:
        n, gw = self.network, self.node
        first, last = n.pool_range()
        conns: Settings = {}
        secrets: Settings = {}
        for conn in n.connections:
            s = n.pair(conn)
            child = {**_child(s, "right"), "local_ts": gw.subnet or ""}
            conns[conn.name] = {**_connection(s, "right", "left", gw.address, "%any",
                                              {"pools": POOL}),
                                "children": {conn.name: child}}
            secrets[f"ike-{conn.client}"] = _secret(s, "right", "left")
        sections: Settings = {"connections": conns,
                              "pools": {POOL: {"addrs": f"{first}-{last}"}},
                              "secrets": secrets}
        return self._header("swanctl.conf") + conf_text(sections)

    def status_of(self, conn: Connection) -> DaemonStatus | None:
        """VICI list-sas of the client's connection."""
        name = conn.named(self.network.topology)
        try:
            with self._vici_socket(timeout=5.0) as sock:
                events, _ = vici_stream(sock, "list-sas", {"ike": name}, "list-sa")
        except (OSError, ConnectionError, struct.error) as exc:
            return DaemonStatus(source="VICI list-sas", error=f"list-sas {name}: {exc}")
        return parse_list_sas([vici_decode(e) for e in events], name)

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
        conn = {**_connection(s, "left", "right", self.node.address, gw.address,
                              {"vips": self.vip_family()}),
                "children": {s.conn_name: child}}
        sections: Settings = {"connections": {s.conn_name: conn},
                              "secrets": {f"ike-{s.conn_name}": _secret(s, "left", "right")}}
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
            secret = _secret(s, "right", "left")
            secrets[f"ike-{conn.client}"] = {**secret, "id-3": hub.address,
                                             "id-4": spoke.address}
        return self._header("swanctl.conf") + conf_text({"connections": conns,
                                                         "secrets": secrets})
