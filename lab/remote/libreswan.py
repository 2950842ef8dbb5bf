"""Libreswan in a road warrior: the gateway's ipsec.conf holds one conn per client
(right=%any, rightid the client's identity, a PSK line per client, the pool as
rightaddresspool: identical ranges are one pool that the conns share); a client is a
mode-config client (leftmodecfgclient) that protects the gateway's subnet. updown stays
off (the lab routes, and installs the virtual IP)."""

from __future__ import annotations

import re

from lab.daemons.encode import header, psk_hex
from lab.daemons.libreswan import (
    AUTHBY,
    LIBEXEC,
    PSK_MAX_BYTES,
    PSK_NOTE,
    Libreswan,
    _major,
    ipsec_id,
    spell_list,
)
from lab.errors import DaemonError
from lab.remote.base import RoleDriver, Session
from lab.scenario import Scenario

#: whack --showstates: an established IKE SA (4.x: STATE_V2_ESTABLISHED_IKE_SA) or Child SA,
#: with its connection, instance and the peer's address
STATE = re.compile(r'#(?P<serial>\d+): "(?P<conn>[^"]+)"(?:\[\d+\])? (?P<peer>[0-9a-fA-F.:]+?)'
                   r'(?::\d+)? (?:STATE_V2_)?ESTABLISHED_(?P<kind>IKE|CHILD)_SA')
#: the Child SA's line names its IKE SA: "... ESTABLISHED_CHILD_SA (...); ... IKE SA #1"
PARENT = re.compile(r"(?:IKE SA|isakmp)#?\s*#?(\d+)", re.I)


def conn_lines(s: Scenario, end: str, far: str, major: int) -> list[tuple[str, str]]:
    """What every conn of the pair scenario ``s`` says, as ``end`` sees it."""
    version = s.ike_version_of(end)
    ike, esp = s.ike_list(end), s.esp_list(end)
    return [
        ("leftid", ipsec_id(s.identity(end))),
        ("rightid", ipsec_id(s.identity(far))),
        ("authby", AUTHBY[s.auth]),
        ("keyexchange", f"ikev{version}") if major >= 5
        else ("ikev2", "no" if version == 1 else "insist"),
        ("type", "tunnel"),
        *([("ike", spell_list(ike))] if ike else []),
        *([("esp", spell_list(esp))] if esp else []),
        ("narrowing", "yes"),
        ("leftupdown", "%disabled"),
        ("keyingtries", "1"),
        ("auto", "add"),
    ]


def secret_line(s: Scenario, end: str, far: str) -> str:
    mine, theirs = s.identity(end), s.identity(far)
    index = f"{mine.value} {theirs.value}" if mine.kind == theirs.kind == "address" \
        else f"{mine.text} {theirs.text}"
    return f"{index} : PSK {psk_hex(s.psk_of(end), 'libreswan', PSK_MAX_BYTES)}\n"


def parse_showstates(text: str) -> list[Session]:
    """The established IKE SAs of ``whack --showstates``, each with its Child SAs."""
    ikes: dict[str, tuple[str, str]] = {}
    kids: dict[str, int] = {}
    for line in text.splitlines():
        m = STATE.search(line)
        if not m:
            continue
        if m["kind"] == "IKE":
            ikes[m["serial"]] = (m["conn"], m["peer"])
        else:
            parent = PARENT.search(line[m.end():])
            key = parent.group(1) if parent else ""
            kids[key] = kids.get(key, 0) + 1
    return [Session(conn, peer, "", kids.get(serial, 0)) for serial, (conn, peer) in ikes.items()]


class Gateway(RoleDriver, Libreswan):
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
        setup = [("plutodebug", "none"), ("uniqueids", "no")]
        text += self._section("config setup", setup, "setup")
        secrets = header("pluto", n.name, self.side, "ipsec.secrets", home) + PSK_NOTE
        for conn in n.connections:
            s = n.pair(conn)
            lines = [("left", gw.address), ("leftsubnet", gw.subnet or ""), ("right", "%any"),
                     ("rightaddresspool", f"{first}-{last}"), ("leftmodecfgserver", "yes"),
                     ("rightmodecfgclient", "yes"), *conn_lines(s, "right", "left", major)]
            text += "\n" + self._section(f"conn {conn.name}", lines, "conn")
            secrets += secret_line(s, "right", "left")
        return {"ipsec.conf": text, "ipsec.secrets": secrets}

    def load(self) -> None:
        for conn in self.network.connections:
            out = self.tool([f"{LIBEXEC}/addconn", "--ctlsocket", self.ctl, "--config",
                             str(self.ctx.home / "ipsec.conf"), conn.name], check=False)
            text = (out.stdout + out.stderr).strip()
            if out.returncode != 0 or re.search(r"\b(failed|ERROR|not loaded|invalid)\b", text):
                self.check()
                raise DaemonError(f"libreswan ({self.side}) refused connection {conn.name!r}:"
                                  f" {text.splitlines()[-1] if text else out.returncode}")

    def showstates(self) -> str:
        out = self.tool([f"{LIBEXEC}/whack", "--ctlsocket", self.ctl, "--showstates"],
                        timeout=10, check=False)
        (self.ctx.dir / "showstates.txt").write_text(out.stdout + out.stderr)
        return out.stdout

    def sessions(self) -> list[Session]:
        return parse_showstates(self.showstates())


class Client(RoleDriver, Libreswan):
    role = "client"

    def render(self) -> dict[str, str]:
        s, gw, home = self.scenario, self.network.gateway, self.ctx.home
        major = _major(self.ctx.flavor, self.ctx.tag)
        # the whole family as the inner source: the gateway narrows it to the address it
        # hands out (with leftsubnet unset, pluto proposes its own address and is refused)
        lines = [("left", self.node.address), ("leftsubnet", f"{self.vip_family()}/0"),
                 ("leftmodecfgclient", "yes"),
                 ("right", gw.address), ("rightsubnet", gw.subnet or ""),
                 ("rightmodecfgserver", "yes"), *conn_lines(s, "left", "right", major)]
        return {"ipsec.conf": header("pluto", self.network.name, self.side, "ipsec.conf", home)
                + self._section("config setup", [("plutodebug", "none")], "setup") + "\n"
                + self._section(f"conn {s.conn_name}", lines, "conn"),
                "ipsec.secrets": header("pluto", self.network.name, self.side, "ipsec.secrets",
                                        home) + PSK_NOTE + secret_line(s, "left", "right")}
