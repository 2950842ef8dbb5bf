"""Libreswan in a road warrior: the gateway's ipsec.conf holds one conn per client
(right=%any, rightid the client's identity, a PSK line per client, the pool as
rightaddresspool: identical ranges are one pool that the conns share); a client is a
mode-config client (leftmodecfgclient) that protects the gateway's subnet. updown stays
off (the lab routes, and installs the virtual IP)."""

from __future__ import annotations

import re
from dataclasses import replace

from lab.daemons.encode import header, psk_hex
from lab.daemons.libreswan.driver import Libreswan
from lab.daemons.libreswan.pluto_log import parse_pluto_log
from lab.daemons.libreswan.probe import major_version as _major
from lab.daemons.libreswan.words import AUTHBY, LIBEXEC, PSK_MAX_BYTES, PSK_NOTE, ipsec_id, spell_list
from lab.errors import DaemonError
from lab.peers import Connection
from lab.remote.base import RoleDriver, Session
from lab.scenario import Scenario
from lab.status import DaemonStatus
from lab.xfrm import SA, Policy

#: whack --showstates: one state, with its connection, the peer's address (none for a conn
#: with a fixed peer: "hub-s1":500), its state name
#: (4.x prefixes STATE_) and what that means in words
STATE = re.compile(r'#(?P<serial>\d+): "(?P<conn>[^"]+)"(?:\[\d+\])?(?: (?P<peer>[0-9a-fA-F.:]+?))?'
                   r'(?::\d+)? (?:STATE_)?(?P<state>[A-Z0-9_]+) \((?P<words>[^)]*)\)')
#: a Child SA's line names its IKE SA (IKEv1: its ISAKMP SA)
PARENT = re.compile(r"(?:IKE|ISAKMP) SA #(\d+)")
#: state names of an IKE SA that is up: IKEv2's, and IKEv1's once phase 1 is complete (a
#: responder that sent its mode config reply waits in MODE_CFG_R1 for an Ack that pull
#: mode clients do not send: measured with 5.2)
IKE_UP = ("ESTABLISHED_IKE_SA", "V2_ESTABLISHED_IKE_SA", "MAIN_R3", "MAIN_I4", "AGGR_R2",
          "AGGR_I2", "MODE_CFG_R1", "MODE_CFG_R2")
CHILD_UP = ("ESTABLISHED_CHILD_SA", "V2_ESTABLISHED_CHILD_SA", "QUICK_R2", "QUICK_I2")


def conn_lines(s: Scenario, end: str, far: str, major: int, remote_access: bool = True,
               anyone: bool = False, cert: str = "") -> list[tuple[str, str]]:
    """What every conn of the pair scenario ``s`` says, as ``end`` sees it; remote access:
    IKEv1 Aggressive Mode with a PSK (Main Mode with certificates) and mode config pulled,
    IKEv2 narrowing. ``cert``: the node's certificate's nickname in NSS (certificates);
    ``anyone``: the far end is whoever has a certificate the CA of ours signed (rightca),
    its identity the one it sends, which its certificate must name (no rightid: with
    rightid=%fromcert pluto takes the certificate's subject DN as the identity instead,
    measured with 5.2)."""
    version = s.ike_version_of(end)
    ike, esp = s.ike_list(end), s.esp_list(end)
    v1 = [("aggressive", "yes")] if s.auth == "psk" else []
    return [
        ("leftid", ipsec_id(s.identity(end))),
        *([("leftcert", cert), ("leftsendcert", "always")] if cert else []),
        *([("rightca", "%same")] if anyone else [("rightid", ipsec_id(s.identity(far)))]),
        ("authby", AUTHBY[s.auth]),
        ("keyexchange", f"ikev{version}") if major >= 5
        else ("ikev2", "no" if version == 1 else "insist"),
        ("type", "tunnel"),
        *([("ike", spell_list(ike))] if ike else []),
        *([("esp", spell_list(esp))] if esp else []),
        # PFS as the proposals say (pluto's IKEv1 Quick Mode adds the IKE group otherwise)
        *([("pfs", "yes" if any(p.dh for p in esp) else "no")] if esp else []),
        *(([*v1, ("modecfgpull", "yes")] if version == 1
           else [("narrowing", "yes")]) if remote_access else []),  # (IKEv2 only, 4.10 says)
        ("leftupdown", "%disabled"),
        ("keyingtries", "1"),
        ("auto", "add"),
    ]


def secret_line(s: Scenario, end: str, far: str) -> str:
    if s.auth != "psk":
        return ""
    mine, theirs = s.identity(end), s.identity(far)
    index = f"{mine.value} {theirs.value}" if mine.kind == theirs.kind == "address" \
        else f"{mine.text} {theirs.text}"
    return f"{index} : PSK {psk_hex(s.psk_of(end), 'libreswan', PSK_MAX_BYTES)}\n"


def parse_showstates(text: str) -> list[Session]:
    """The IKE SAs that are up in ``whack --showstates``, each with its Child SAs that are."""
    ikes: dict[str, tuple[str, str]] = {}
    kids: dict[str, int] = {}
    for line in text.splitlines():
        m = STATE.search(line)
        if not m:
            continue
        parent = PARENT.search(line[m.end():])
        if parent is not None and m["state"] in CHILD_UP:
            kids[parent.group(1)] = kids.get(parent.group(1), 0) + 1
        elif parent is None and m["state"] in IKE_UP:
            ikes[m["serial"]] = (m["conn"], m["peer"] or "")
    return [Session(conn, peer, "", kids.get(serial, 0)) for serial, (conn, peer) in ikes.items()]


#: ipsec.secrets with certificates: the key is in NSS
CERT_NOTE = "# certificates: the key is in the NSS database (leftcert)\n"
#: the gateway's one conn for every client when certificates tell them apart
SHARED = "rw"


class Role(RoleDriver, Libreswan):
    def cert(self) -> str:
        """The node's certificate in NSS (leftcert), or "" with a PSK."""
        return self.credentials().nickname if self.scenario.auth != "psk" else ""

    def note(self) -> str:
        return PSK_NOTE if self.scenario.auth == "psk" else CERT_NOTE

    def cert_files(self) -> dict[str, str]:
        """For the artifacts: what went into the NSS database (as the two-peer driver)."""
        if self.scenario.auth == "psk":
            return {}
        return {"certs/ca.pem": self.credentials().ca_pem,
                "certs/peer.pem": self.credentials().cert_pem}

    def known_leftover(self, item: SA | Policy) -> str | None:
        """(The two-peer driver's known leftovers are of an initiator's conn that stays
        routed; a road-warrior client deletes its own, and none was seen.)"""
        return None

    def _v1_policy(self) -> list[tuple[str, str]]:
        """pluto 5.x drops IKEv1 unless told to accept it."""
        v1 = any(self.network.ike_version_of(c) == 1 for c in self.network.connections)
        return [("ikev1-policy", "accept")] if v1 else []


class Gateway(Role):
    role = "gateway"

    def render(self) -> dict[str, str]:
        n, gw, home = self.network, self.node, self.ctx.home
        major = _major(self.ctx.flavor, self.ctx.tag)
        first, last = n.pool_range()
        text = header("pluto", n.name, self.side, "ipsec.conf", home)
        # uniqueids=no: clients that start at once are all instances of the first conn until
        # IKE_AUTH names them; with the default (yes), the first client to authenticate
        # makes pluto delete the others' half-open IKE SAs of that conn ("terminating SAs
        # using this connection"; measured with 5.2: the second client's IKE_AUTH then finds
        # "no corresponding IKE SA")
        setup = [("plutodebug", "none"), ("uniqueids", "no"), *self._v1_policy()]
        text += self._section("config setup", setup, "setup")
        secrets = header("pluto", n.name, self.side, "ipsec.secrets", home) + self.note()
        for conn in n.connections[:1] if n.shared else n.connections:
            s = n.pair(conn)
            lines = [("left", gw.address), ("leftsubnet", gw.subnet or ""), ("right", "%any"),
                     ("rightaddresspool", f"{first}-{last}"), ("leftmodecfgserver", "yes"),
                     ("rightmodecfgclient", "yes"),
                     *conn_lines(s, "right", "left", major, anyone=n.shared, cert=self.cert())]
            text += "\n" + self._section(f"conn {self.conn_name(conn)}", lines, "conn")
            secrets += secret_line(s, "right", "left")
        return {"ipsec.conf": text, "ipsec.secrets": secrets, **self.cert_files()}

    def conn_name(self, conn: Connection) -> str:
        """The gateway's conn that serves ``conn``."""
        return SHARED if self.network.shared else conn.named(self.network.topology)

    def load(self) -> None:
        for name in dict.fromkeys(self.conn_name(c) for c in self.network.connections):
            out = self.tool([f"{LIBEXEC}/addconn", "--ctlsocket", self.ctl, "--config",
                             str(self.ctx.home / "ipsec.conf"), name], check=False)
            text = (out.stdout + out.stderr).strip()
            if out.returncode != 0 or re.search(r"\b(failed|ERROR|not loaded|invalid)\b", text):
                self.check()
                raise DaemonError(f"libreswan ({self.side}) refused connection {name!r}:"
                                  f" {text.splitlines()[-1] if text else out.returncode}")

    def showstates(self) -> str:
        out = self.tool([f"{LIBEXEC}/whack", "--ctlsocket", self.ctl, "--showstates"],
                        timeout=10, check=False)
        (self.ctx.dir / "showstates.txt").write_text(out.stdout + out.stderr)
        return out.stdout

    def sessions(self) -> list[Session]:
        return parse_showstates(self.showstates())

    def status_of(self, conn: Connection) -> DaemonStatus | None:
        """pluto's log lines of the client's conn (its instances: "rw-alice"[1] ...; of
        the conn every client shares: its instance with the client's address)."""
        n, name = self.network, self.conn_name(conn)
        mark = re.compile(rf'"{re.escape(name)}"\[\d+\] {re.escape(n.seen(n.by_name[conn.client]))}'
                          r'\b(?![.:\d])' if n.shared else re.escape(f'"{name}"'))
        mine = "\n".join(ln for ln in self.log_text().splitlines() if mark.search(ln))
        return parse_pluto_log(mine, n.ike_version_of(conn))


class Client(Role):
    role = "client"

    def render(self) -> dict[str, str]:
        s, gw, home = self.scenario, self.network.gateway, self.ctx.home
        major = _major(self.ctx.flavor, self.ctx.tag)
        # the whole family as the inner source: the gateway narrows it to the address it
        # hands out (with leftsubnet unset, pluto proposes its own address and is refused)
        # IKEv1 mode config: pluto takes the address it is given as leftsubnet itself
        inner = [("leftsubnet", f"{self.vip_family()}/0")] if s.ike_version == 2 else []
        lines = [("left", self.node.address), *inner, ("leftmodecfgclient", "yes"),
                 ("right", gw.address), ("rightsubnet", gw.subnet or ""),
                 ("rightmodecfgserver", "yes"),
                 *conn_lines(s, "left", "right", major, cert=self.cert())]
        return {"ipsec.conf": header("pluto", self.network.name, self.side, "ipsec.conf", home)
                + self._section("config setup", [("plutodebug", "none"), *self._v1_policy()],
                                "setup") + "\n"
                + self._section(f"conn {s.conn_name}", lines, "conn"),
                "ipsec.secrets": header("pluto", self.network.name, self.side, "ipsec.secrets",
                                        home) + self.note() + secret_line(s, "left", "right"),
                **self.cert_files()}


class Hub(Gateway):
    """A hub: one conn per spoke, to the spoke's address (IKEv1: Main Mode), protecting
    everything on the hub's side (leftsubnet) and the spoke's subnet (rightsubnet)."""

    role = "hub"

    def render(self) -> dict[str, str]:
        n, hub, home = self.network, self.node, self.ctx.home
        major = _major(self.ctx.flavor, self.ctx.tag)
        text = header("pluto", n.name, self.side, "ipsec.conf", home)
        text += self._section("config setup", [("plutodebug", "none"), *self._v1_policy()],
                              "setup")
        secrets = header("pluto", n.name, self.side, "ipsec.secrets", home) + self.note()
        for conn in n.connections:
            s, spoke = n.pair(conn), n.by_name[conn.client]
            lines = [("left", hub.address), ("leftsubnet", n.wide), ("right", spoke.address),
                     ("rightsubnet", spoke.subnet or ""),
                     *conn_lines(s, "right", "left", major, remote_access=False,
                                 cert=self.cert())]
            text += "\n" + self._section(f"conn {conn.named(n.topology)}", lines, "conn")
            secrets += secret_line(s, "right", "left")
        return {"ipsec.conf": text, "ipsec.secrets": secrets, **self.cert_files()}

    def sessions(self) -> list[Session]:
        """whack --showstates; a conn with a fixed peer names no address: its spoke's."""
        n = self.network
        peer = {c.named(n.topology): n.by_name[c.client].address for c in n.connections}
        return [replace(s, remote=s.remote or peer.get(s.conn, "")) for s in super().sessions()]

    def known_leftover(self, item: SA | Policy) -> str | None:
        """pluto 4.10 keeps each conn's outbound policy (everything to the spoke's subnet)
        after the spoke's Delete (measured: every Libreswan 4.10 hub cell; 5.2 removes it)."""
        subnets = {c.subnet for c in self.network.clients}
        if (isinstance(item, Policy) and item.dir == "out"
                and f"{item.dst}/{item.dst_len}" in subnets
                and _major(self.ctx.flavor, self.ctx.tag) < 5):
            return "pluto 4.10's outbound policy of a hub conn, kept after the spoke's Delete"
        return None
