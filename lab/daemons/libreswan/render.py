"""Libreswan's files from the scenario: ipsec.conf (`config setup` and the lab's conn) and
ipsec.secrets, with the side's native lines in their places (pure: no process; the major
version, which picks some keys, is asked of the flavor once)."""

from __future__ import annotations

from lab.daemons.base import Daemon
from lab.daemons.encode import header, psk_hex
from lab.daemons.libreswan import probe
from lab.daemons.libreswan.words import (
    AUTHBY,
    DPD_KEYS,
    DPD_KEYS_IKEV1,
    ENCAPSULATION,
    FRAGMENTATION,
    INTEG_SETTINGS,
    PSK_MAX_BYTES,
    PSK_NOTE,
    ipsec_id,
    spell_list,
)
from lab.native import overridden
from lab.scenario import other_side


class LibreswanConf(Daemon, interface=True):
    """The rendering half of the Libreswan driver (lab.daemons.libreswan.driver runs it)."""

    def render(self) -> dict[str, str]:
        s, home = self.scenario, self.ctx.home
        major = probe.major_version(self.ctx.flavor, self.ctx.tag)
        version = s.ike_version_of(self.side)
        if major >= 5:
            version_line = ("keyexchange", f"ikev{version}")
        else:
            version_line = ("ikev2", "no" if version == 1 else "yes")
        setup = [("plutodebug", "none")]
        if version == 1:
            setup.append(("ikev1-policy", "accept"))
        ike, esp = s.ike_list(self.side), s.esp_list(self.side)
        conn = [
            ("left", self.peer.address),
            ("right", s.address_seen(self.other_side, by=self.side)),
            *self._subnets(),
            ("leftid", ipsec_id(s.identity(self.side))),
            ("rightid", ipsec_id(s.identity(self.other_side))),
            ("authby", AUTHBY[s.auth]),
            version_line,
            ("type", s.mode_of(self.side)),
            *([("ike", spell_list(ike))] if ike else []),
            *([("esp", spell_list(esp))] if esp else []),
            *([("pfs", "yes" if any(p.dh for p in esp) else "no")] if esp else []),
            *dict.fromkeys(x for p in esp for x in INTEG_SETTINGS.get(p.integrity or "", ())),
            ("ikelifetime", f"{s.ike_lifetime_of(self.side)}s"),
            ("salifetime", f"{s.child_lifetime_of(self.side)}s"),
            *self._rekey_timing(),
            *self._dpd(major, version),
            ("leftupdown", "%disabled"),  # the lab routes (its topology); 0.7 s saved per SA
            ("keyingtries", "1"),
            *([("fragmentation", FRAGMENTATION[s.fragmentation])]
              if s.fragmentation in FRAGMENTATION else []),
            *([("encapsulation", ENCAPSULATION[s.encapsulation])]
              if s.encapsulation in ENCAPSULATION else []),
            # a restarted initiator tells the peer to forget the SAs of before (RFC 7296
            # 2.4), as charon does by default; pluto's default is not to
            *([("initial-contact", "yes")] if s.lifecycle == "restart" else []),
            ("auto", "add"),
        ]
        if s.auth != "psk":
            conn[5:5] = [("leftcert", self.credentials().nickname), ("leftsendcert", "always")]
        files = {"ipsec.conf": header("pluto", s.name, self.side, "ipsec.conf", home)
                 + self._section("config setup", setup, "setup") + "\n"
                 + self._section(f"conn {s.conn_name}", conn, "conn"),
                 "ipsec.secrets": header("pluto", s.name, self.side, "ipsec.secrets", home)
                 + self._secrets()}
        if s.auth != "psk":  # for the artifacts: what went into the NSS database
            files["certs/ca.pem"] = self.credentials().ca_pem
            files["certs/peer.pem"] = self.credentials().cert_pem
        return files

    def _rekey_timing(self) -> list[tuple[str, str]]:
        margin, fuzz = self.scenario.margin_of(self.side), self.scenario.fuzz_of(self.side)
        if margin is None:
            return []
        return [("rekeymargin", f"{margin}s"), ("rekeyfuzz", f"{fuzz or 0}%")]

    def _dpd(self, major: int, ike_version: int) -> list[tuple[str, str]]:
        if self.scenario.dpd is None:
            return []
        delay, timeout = self.scenario.dpd
        values = {"dpddelay": f"{delay}s", "dpdtimeout": f"{timeout}s",
                  "retransmit-timeout": f"{timeout}s",
                  "dpdaction": self.scenario.dpd_action}
        keys = (DPD_KEYS_IKEV1 if ike_version == 1 else {}).get(major) \
            or DPD_KEYS.get(major, DPD_KEYS[5])
        return [(key, values[key]) for key in keys]

    @property
    def other_side(self) -> str:
        return other_side(self.side)

    def _section(self, title: str, settings: list[tuple[str, str]], place: str) -> str:
        """One section; native lines for ``place`` replace the lab's lines for their keys."""
        native = self.native_lines(place)
        mine = [f"\t{k}={v}" for k, v in settings if k not in overridden(native)]
        extra = [f"\t# native ({self.side}.native.libreswan.{place})"] + [f"\t{ln}" for ln in native] \
            if native else []
        return "\n".join([title, *mine, *extra]) + "\n"

    def _secrets(self) -> str:
        s = self.scenario
        if s.auth != "psk":
            return "# certificates: the key is in the NSS database (leftcert)\n"
        psk = psk_hex(s.psk_of(self.side), "libreswan", PSK_MAX_BYTES)
        mine, theirs = s.identity(self.side), s.identity(self.other_side)
        if mine.kind == theirs.kind == "address":
            index = f"{mine.value} {theirs.value}"
        elif "dn" in (mine.kind, theirs.kind):
            index = "%any %any"  # one connection per pluto: its only secret
        else:
            index = f"{mine.text} {theirs.text}"
        return PSK_NOTE + f"{index} : PSK {psk}\n"

    def _subnets(self) -> list[tuple[str, str]]:
        """leftsubnet/rightsubnet behind the gateways (net-to-net; host-to-net: the
        gateway's only); pluto takes each family from the addresses, IPv4 subnets between
        IPv6 gateways included."""
        if self.peer.subnet is not None or self.other.subnet is not None:
            return [(key, net) for key, net in (("leftsubnet", self.peer.subnet),
                                                ("rightsubnet", self.other.subnet)) if net]
        if self.scenario.path.nat:  # host to host: the initiator's own address, not the
            return [("leftsubnet", f"{self.peer.address}/32"),  # NAT's: /32 each
                    ("rightsubnet", f"{self.other.address}/32")]
        return []
