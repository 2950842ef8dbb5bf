"""strongSwan kept warm: strongswan.conf is charon's own (read once); a cell's
connection, secrets and certificates go in with swanctl --load-all (over VICI) and
come out with VICI terminate, unload-conn and clear-creds, in-process."""

from __future__ import annotations

import struct

from lab.daemons.base import Daemon
from lab.daemons.strongswan import StrongSwan
from lab.daemons.vici import vici_decode, vici_packet, vici_response, vici_stream
from lab.daemons.warm_base import WarmOps


def _charon(daemon: Daemon) -> StrongSwan:
    assert isinstance(daemon, StrongSwan)
    return daemon


class StrongswanWarm(WarmOps):
    def globals(self, daemon: Daemon) -> str:
        """strongswan.conf without its header comment (which names the scenario)."""
        text = _charon(daemon).strongswan_conf()
        return "\n".join(ln for ln in text.splitlines() if not ln.startswith("#"))

    def adopt(self, daemon: Daemon, running: Daemon) -> None:
        super().adopt(daemon, running)
        _charon(daemon).daemon_version = _charon(running).daemon_version

    def load(self, daemon: Daemon, before: dict[str, str]) -> None:
        _charon(daemon).load()

    def _ask(self, daemon: Daemon, command: str, items: dict[str, str]) -> dict[str, str]:
        with _charon(daemon)._vici_socket(timeout=10.0) as sock:
            sock.sendall(vici_packet(command, items))
            return vici_response(sock)

    def unload(self, daemon: Daemon, deleted: bool) -> None:
        charon = _charon(daemon)
        if charon._initiating is not None:  # the initiate's answer, never read
            charon._initiating.close()
            charon._initiating = None
        name = daemon.scenario.conn_name
        try:  # (no SA left: "no matching SAs to terminate found", no matter)
            self._ask(daemon, "terminate", {"ike": name, "timeout": "1000", "force": "yes"})
            # a responder's IKE SA that never found its config is "(unnamed)": by its id
            for ike_id in self._ike_ids(daemon):
                self._ask(daemon, "terminate", {"ike-id": ike_id, "timeout": "0", "force": "yes"})
            self._ask(daemon, "unload-conn", {"name": name})
            self._ask(daemon, "clear-creds", {})
        except (OSError, ConnectionError, struct.error):
            pass  # leftovers() says what stayed

    def _ike_ids(self, daemon: Daemon) -> list[str]:
        with _charon(daemon)._vici_socket(timeout=5.0) as sock:
            events, _ = vici_stream(sock, "list-sas", {}, "list-sa")
        return [str(sa.get("uniqueid")) for raw in events
                for sa in vici_decode(raw).values() if isinstance(sa, dict)]

    def leftovers(self, daemon: Daemon) -> list[str]:
        held = []
        try:
            for command, event in (("list-sas", "list-sa"), ("list-conns", "list-conn")):
                with _charon(daemon)._vici_socket(timeout=5.0) as sock:
                    events, _ = vici_stream(sock, command, {}, event)
                for raw in events:
                    held += [f"{event} {name}" for name in vici_decode(raw)]
        except (OSError, ConnectionError, struct.error) as exc:
            return [f"VICI: {exc}"]
        return held
