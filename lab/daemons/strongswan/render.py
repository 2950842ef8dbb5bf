"""strongswan.conf and swanctl.conf from the scenario (pure), and the credentials
swanctl loads from the peer directory."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from lab.daemons.base import Daemon
from lab.daemons.encode import check_path, header, psk_hex
from lab.daemons.strongswan.conf import Settings, conf_text, with_native
from lab.daemons.strongswan.flavor import SWANCTL_PLUGINS, charon_plugins
from lab.daemons.strongswan.spelling import (
    AUTH,
    ENCAPSULATION,
    FRAGMENTATION,
    PSK_MAX_BYTES,
    spell_esp,
    spell_ike,
    spell_list,
    swanctl_id,
)
from lab.native import overridden
from lab.scenario import other_side


class SwanConfig(Daemon, interface=True):
    """The rendering part of the strongSwan driver: ``render()`` and the two files it
    is made of (lab.remote.strongswan's roles override ``strongswan_conf()``,
    ``swanctl_conf()`` and ``_header()``)."""

    #: charon's VICI socket, relative to the peer directory
    socket_name: ClassVar[str]

    def render(self) -> dict[str, str]:
        files = {"strongswan.conf": self.strongswan_conf(), "swanctl.conf": self.swanctl_conf()}
        if self.scenario.auth != "psk":  # swanctl --load-all reads these from SWANCTL_DIR
            creds = self.credentials()
            files.update({"x509ca/ca.pem": creds.ca_pem, "x509/peer.pem": creds.cert_pem,
                          "private/peer.key": creds.key_pem})
        return files

    def strongswan_conf(self) -> str:
        home = Path(check_path(self.ctx.home, "strongSwan"))
        plugins = " ".join(charon_plugins(self.ctx.flavor))
        charon: Settings = {
            "load_modular": "no",
            "load": plugins,
            "install_routes": "no",  # the lab routes (its topology)
            "install_virtual_ip": "no",
            **self._retransmit(),
            "plugins": {"vici": {"socket": f"unix://{home / self.socket_name}"}},
            "filelog": {"lab": {"path": str(home / self.log_name), "time_format": "%b %e %T",
                                "time_add_ms": "yes", "ike_name": "yes", "append": "no",
                                "flush_line": "yes", "default": "1"}},
            "syslog": {"daemon": {"default": "-1"}},
        }
        if not (self.scenario.ike_list(self.side) and self.scenario.esp_list(self.side)):
            # 'default' proposals: charon logs a loaded connection's proposals, its
            # defaults expanded, at cfg level 2 (strongSwan 5.9's VICI list-conns names
            # none): how the verdict learns what it offers (lab.offers)
            charon["filelog"]["lab"]["cfg"] = "2"  # type: ignore[index]
        if any(p.integrity == "sha256_96" for p in self.scenario.esp_list(self.side)):
            # sha256_96 has a private-use ID (1026), which charon takes from a peer it does
            # not know to be strongSwan only with this (measured: NO_PROPOSAL_CHOSEN without)
            charon["accept_private_algs"] = "yes"
        native = self.native_lines("charon")
        charon = with_native(charon, native)
        # charon-systemd reads its own section first, then falls back to charon's: a native
        # 'load' list in charon's must not be hidden by the lab's own in charon-systemd's
        systemd: Settings = {"load": plugins} if "load" not in overridden(native) else {}
        settings: Settings = {
            "charon": charon,
            "charon-systemd": {**systemd, "journal": {"default": "-1"}},
            "swanctl": {"load": " ".join(SWANCTL_PLUGINS),
                        "socket": f"unix://{home / self.socket_name}"},
        }
        return self._header("strongswan.conf") + conf_text(settings)

    def swanctl_conf(self) -> str:
        s = self.scenario
        across = other_side(self.side)
        me, peer = self.peer.address, s.address_seen(across, by=self.side)
        my_id, their_id = swanctl_id(s.identity(self.side)), swanctl_id(s.identity(across))
        child: Settings = {
            "mode": s.mode_of(self.side),
            "esp_proposals": spell_list(s.esp_list(self.side), spell_esp),
            **self._child_timing(),
            **({"dpd_action": s.dpd_action} if s.dpd else {}),
            "start_action": "none",
        }
        if self.peer.subnet:  # the subnet behind this peer (net-to-net, host-to-net)
            child["local_ts"] = self.peer.subnet
        if self.other.subnet:
            child["remote_ts"] = self.other.subnet
        elif s.path.nat:  # the initiator's own address, not the NAT's
            child.update(local_ts=f"{self.peer.address}/32", remote_ts=f"{self.other.address}/32")
        local: Settings = {"auth": AUTH[s.auth], "id": my_id}
        if s.auth != "psk":
            local["certs"] = "peer.pem"
        conn: Settings = {
            "version": str(s.ike_version_of(self.side)),
            "local_addrs": me,
            "remote_addrs": peer,
            "proposals": spell_list(s.ike_list(self.side), spell_ike),
            **self._ike_timing(),
            **self._dpd(),
            "keyingtries": "1",
            "mobike": "no",  # one address per peer: nothing to update
            **({"fragmentation": FRAGMENTATION[s.fragmentation]}
               if s.fragmentation in FRAGMENTATION else {}),
            **({"encap": ENCAPSULATION[s.encapsulation]}
               if s.encapsulation in ENCAPSULATION else {}),
            **({"send_cert": "always"} if s.auth != "psk" else {}),
            "local": local,
            "remote": {"auth": AUTH[s.auth], "id": their_id},
            "children": {s.conn_name: with_native(child, self.native_lines("child"))},
        }
        conn = with_native(conn, self.native_lines("connection"))
        sections: Settings = {"connections": {s.conn_name: conn}}
        if s.auth == "psk":
            psk = psk_hex(s.psk_of(self.side), "strongswan", PSK_MAX_BYTES)
            ids = dict.fromkeys([my_id, their_id, me, peer])  # IKEv1 Main Mode looks up by address
            sections["secrets"] = {f"ike-{s.conn_name}": {
                "secret": psk, **{f"id-{i}": v for i, v in enumerate(ids, 1)}}}
        return self._header("swanctl.conf") + conf_text(sections)

    def _rekey(self, life: int, then: tuple[str, str]) -> Settings:
        """rekey_time = lifetime - margin, rand_time = the margin's fuzz (90 % of the lifetime
        where the scenario leaves the margin to the daemon); ``then`` follows rekey_time."""
        margin = self.scenario.margin_of(self.side)
        rekey = life * 9 // 10 if margin is None else life - margin
        settings = {"rekey_time": f"{rekey}s", then[0]: then[1]}
        if margin is not None:
            settings["rand_time"] = f"{margin * (self.scenario.fuzz_of(self.side) or 0) // 100}s"
        return settings

    def _child_timing(self) -> Settings:
        life = self.scenario.child_lifetime_of(self.side)
        return self._rekey(life, ("life_time", f"{life}s"))

    def _ike_timing(self) -> Settings:
        """over_time: the margin, or a tenth of the lifetime."""
        life, margin = self.scenario.ike_lifetime_of(self.side), self.scenario.margin_of(self.side)
        return self._rekey(life, ("over_time", f"{life // 10 if margin is None else margin}s"))

    def _dpd(self) -> Settings:
        """dpd_delay; IKEv1 has its own dpd_timeout, IKEv2 gives up after the retransmissions
        (strongswan.conf: RETRANSMIT)."""
        if self.scenario.dpd is None:
            return {}
        delay, timeout = self.scenario.dpd
        out: Settings = {"dpd_delay": f"{delay}s"}
        if self.scenario.ike_version_of(self.side) == 1:
            out["dpd_timeout"] = f"{timeout}s"
        return out

    def _retransmit(self) -> Settings:
        """With DPD: retransmissions 1 s apart, as many as fit the DPD timeout (charon waits
        retransmit_timeout x retransmit_base^n after the n-th send, n = 0..tries)."""
        if self.scenario.dpd is None:
            return {}
        timeout = self.scenario.dpd[1]
        return {"retransmit_timeout": "1", "retransmit_base": "1",
                "retransmit_tries": str(max(1, timeout - 1))}

    def _header(self, what: str) -> str:
        return header("strongSwan", self.scenario.name, self.side, what, self.ctx.home)
