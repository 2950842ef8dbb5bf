"""Driving a running charon: swanctl for loading (so strongSwan's own parser reads the
config) and the in-process VICI client (lab.daemons.strongswan.vici) for readiness,
initiation, the SA listing, rekeys and deletes (no fork on UML's one CPU)."""

from __future__ import annotations

import json
import re
import socket
import struct
import subprocess
from pathlib import Path
from typing import ClassVar

from lab.daemons.base import Daemon, PeerContext
from lab.daemons.strongswan.flavor import SWANCTL
from lab.daemons.strongswan.status import parse_list_conns, parse_list_sas, parse_logged_proposals
from lab.daemons.strongswan.vici import vici_decode, vici_packet, vici_response, vici_stream
from lab.errors import DaemonError
from lab.offers import Offered
from lab.scenario import Scenario
from lab.status import DaemonStatus

#: swanctl output that is no complaint about the config: a plugin swanctl lacks, and the
#: credential directories (x509, private, ...) an empty SWANCTL_DIR does not have
SWANCTL_NOISE = (r"plugin '[^']+': failed to load", r"opening directory '[^']+' failed")
#: VICI terminate's answer when the peer has already deleted everything (after both sides
#: initiated, the other side deletes first): nothing is left to delete, the kernel check follows
NOTHING_TO_TERMINATE = r"no matching SAs to terminate"
#: what a VICI exchange fails with: the socket, a closed connection, a short packet
VICI_ERRORS = (OSError, ConnectionError, struct.error)


class CharonControl(Daemon, interface=True):
    """The control part of the strongSwan driver: load, initiate, status, rekey, delete."""

    #: charon's VICI socket, relative to the peer directory
    socket_name: ClassVar[str]

    def __init__(self, scenario: Scenario, ctx: PeerContext) -> None:
        super().__init__(scenario, ctx)
        #: what charon's VICI version command answered (kept beside the VICI listings)
        self.daemon_version: dict[str, str] = {}
        self._initiating: socket.socket | None = None

    @property
    def env(self) -> dict[str, str]:
        home = self.ctx.home
        return {"STRONGSWAN_CONF": str(home / "strongswan.conf"), "SWANCTL_DIR": str(home)}

    @property
    def socket_path(self) -> Path:
        return self.ctx.dir / self.socket_name

    def tool(self, argv: list[str], timeout: float = 20.0, check: bool = True,
             env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """Every strongSwan tool reads the peer's strongswan.conf (socket, plugins)."""
        return super().tool(argv, timeout=timeout, check=check, env={**self.env, **(env or {})})

    # -- VICI -----------------------------------------------------------------------
    def _vici_socket(self, timeout: float) -> socket.socket:
        """A connection to charon's VICI socket."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(str(self.socket_path))
        except OSError:
            sock.close()
            raise
        return sock

    def _vici(self, command: str, items: dict[str, str] | None = None,
              timeout: float = 2.0) -> socket.socket:
        """A connection to charon with ``command`` sent (the caller reads or keeps it)."""
        sock = self._vici_socket(timeout)
        try:
            sock.sendall(vici_packet(command, items or {}))
        except OSError:
            sock.close()
            raise
        return sock

    def ask(self, command: str, items: dict[str, str], timeout: float = 10.0) -> dict[str, str]:
        """``command`` over VICI, and charon's answer (raises one of VICI_ERRORS)."""
        with self._vici(command, items, timeout) as sock:
            return vici_response(sock)

    def listing(self, command: str, event: str, items: dict[str, str],
                 timeout: float = 5.0) -> list[bytes]:
        """The raw events a VICI listing (list-sas, list-conns) streams."""
        with self._vici_socket(timeout) as sock:
            events, _ = vici_stream(sock, command, items, event)
        return events

    def _answers(self) -> bool:
        try:
            with self._vici("version", timeout=1.0) as sock:
                self.daemon_version = vici_response(sock)
        except VICI_ERRORS:
            return False
        return True

    # -- the driver's hooks ------------------------------------------------------------
    def wait_started(self) -> None:
        self.wait_ready(self._answers)

    def load(self) -> None:
        out = self.tool([SWANCTL, "--load-all", "--noprompt", "--file",
                         str(self.ctx.home / "swanctl.conf")], check=False, env=self.env)
        lines = [ln for ln in (out.stdout + out.stderr).strip().splitlines()
                 if not any(re.match(noise, ln) for noise in SWANCTL_NOISE)]
        text = "\n".join(lines)
        if out.returncode != 0 or re.search(r"\b(failed|invalid|error)\b", text, re.I):
            bad = [ln for ln in lines if re.search(r"fail|invalid|error|unknown", ln, re.I)]
            raise DaemonError(f"strongswan ({self.side}) refused {self.ctx.dir}/swanctl.conf: "
                              + " | ".join(bad[:3] or lines[-2:] or [f"swanctl exit {out.returncode}"]))

    def initiate(self) -> None:
        """Ask charon to initiate over VICI and leave the answer unread: the cell
        watches the kernel for the SAs, and the log for the reason when none come."""
        try:
            self._initiating = self._vici("initiate", {"child": self.scenario.conn_name,
                                                       "ike": self.scenario.conn_name,
                                                       "timeout": "0", "init-limits": "no"})
        except OSError as exc:
            raise DaemonError(f"strongswan ({self.side}): initiate over {self.socket_path}: "
                              f"{exc}") from None

    def forget_initiate(self) -> None:
        """Close the connection of the initiate, whose answer is never read."""
        if self._initiating is not None:
            self._initiating.close()
            self._initiating = None

    def stop(self) -> None:
        self.forget_initiate()
        super().stop()

    def status(self) -> DaemonStatus:
        """VICI list-sas, in-process; the raw events are kept in vici-list-sas.json."""
        try:
            # not noblock: that skips an IKE SA some charon thread has checked out, and
            # right after the negotiation one sometimes still is (seen: an empty listing)
            events = self.listing("list-sas", "list-sa", {"ike": self.scenario.conn_name})
        except VICI_ERRORS as exc:
            return DaemonStatus(source="VICI list-sas", error=f"list-sas over {self.socket_path}: {exc}")
        self._keep("vici-list-sas.json", "list-sa", events)
        status = parse_list_sas([vici_decode(e) for e in events], self.scenario.conn_name)
        status.offers = self.offers() or parse_logged_proposals(self.log_text())
        return status

    def offers(self) -> dict[str, tuple[Offered, ...]]:
        """What the connection offers, as VICI list-conns names it (strongSwan 6; 5.9
        names no proposals there: {}); kept in vici-list-conns.json."""
        try:
            events = self.listing("list-conns", "list-conn", {"ike": self.scenario.conn_name})
        except VICI_ERRORS:
            return {}
        self._keep("vici-list-conns.json", "list-conn", events)
        return parse_list_conns([vici_decode(e) for e in events], self.scenario.conn_name)

    def _keep(self, file: str, event: str, events: list[bytes]) -> None:
        """The raw events of a listing beside the daemon's files (the artifacts)."""
        (self.ctx.dir / file).write_text(json.dumps(
            {"strongswan": self.daemon_version.get("version", ""),
             event: [e.hex() for e in events]}, indent=1) + "\n")

    def delete(self) -> None:
        """VICI terminate of the IKE SA (and with it the Child SA), in-process: charon
        sends the peer a Delete and answers once it is done."""
        try:
            answer = self.ask("terminate", {"ike": self.scenario.conn_name, "timeout": "5000"})
        except VICI_ERRORS as exc:
            raise DaemonError(f"strongswan ({self.side}): terminate over {self.socket_path}: "
                              f"{exc}") from None
        if answer.get("success") != "yes" and not re.search(NOTHING_TO_TERMINATE,
                                                             answer.get("errmsg", "")):
            raise DaemonError(f"strongswan ({self.side}): terminate {self.scenario.conn_name!r}:"
                              f" {answer.get('errmsg', answer)}")

    def rekey(self, what: str) -> None:
        """VICI rekey of the Child SA or the IKE SA, in-process (charon answers once it has
        queued the exchange)."""
        try:
            answer = self.ask("rekey", {what: self.scenario.conn_name})
        except VICI_ERRORS as exc:
            raise DaemonError(f"strongswan ({self.side}): rekey over {self.socket_path}: "
                              f"{exc}") from None
        if answer.get("success") != "yes":
            raise DaemonError(f"strongswan ({self.side}): rekey {what} {self.scenario.conn_name!r}:"
                              f" {answer.get('errmsg', answer)}")

    def status_commands(self) -> list[list[str]]:
        return [[SWANCTL, "--list-sas"], [SWANCTL, "--list-conns"]]
