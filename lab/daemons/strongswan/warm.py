"""strongSwan kept warm: strongswan.conf is charon's own (read once); a cell's
connection, secrets and certificates go in with swanctl --load-all (over VICI) and
come out with VICI terminate, unload-conn and clear-creds, in-process."""

from __future__ import annotations

from lab.daemons.base import Daemon
from lab.daemons.strongswan.control import VICI_ERRORS
from lab.daemons.strongswan.driver import StrongSwan
from lab.daemons.strongswan.vici import vici_decode
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

    def unload(self, daemon: Daemon, deleted: bool) -> None:
        charon = _charon(daemon)
        charon.forget_initiate()  # the initiate's answer, never read
        name = daemon.scenario.conn_name
        try:  # (no SA left: "no matching SAs to terminate found", no matter)
            charon.ask("terminate", {"ike": name, "timeout": "1000", "force": "yes"})
            # a responder's IKE SA that never found its config is "(unnamed)": by its id
            for ike_id in self._ike_ids(charon):
                charon.ask("terminate", {"ike-id": ike_id, "timeout": "0", "force": "yes"})
            charon.ask("unload-conn", {"name": name})
            charon.ask("clear-creds", {})
        except VICI_ERRORS:
            pass  # leftovers() says what stayed

    def _ike_ids(self, charon: StrongSwan) -> list[str]:
        return [str(sa.get("uniqueid")) for raw in charon.listing("list-sas", "list-sa", {})
                for sa in vici_decode(raw).values() if isinstance(sa, dict)]

    def leftovers(self, daemon: Daemon) -> list[str]:
        held = []
        try:
            for command, event in (("list-sas", "list-sa"), ("list-conns", "list-conn")):
                for raw in _charon(daemon).listing(command, event, {}):
                    held += [f"{event} {name}" for name in vici_decode(raw)]
        except VICI_ERRORS as exc:
            return [f"VICI: {exc}"]
        return held
