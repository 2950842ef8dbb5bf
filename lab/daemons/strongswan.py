"""strongSwan (charon + swanctl): strongswan.conf and swanctl.conf from the scenario.

charon starts with a lean, explicit plugin list (Debian's modular loading costs seconds
in UML), answers on its own VICI socket inside the peer directory, and is driven by the
flavor's swanctl for loading (so the config is parsed by strongSwan's own parser) and by
a small in-process VICI client for readiness and initiation (no fork on UML's one CPU).
"""

from __future__ import annotations

import json
import re
import socket
import struct
import subprocess
from collections.abc import Callable
from functools import cache
from pathlib import Path

from lab import run as runner
from lab.algorithms import Proposal
from lab.daemons.base import Daemon, PeerContext
from lab.daemons.encode import check_path, header, psk_hex
from lab.daemons.swan_status import parse_list_conns, parse_list_sas, parse_logged_proposals
from lab.daemons.vici import vici_decode, vici_packet, vici_response, vici_stream
from lab.errors import DaemonError, MissingError, ScenarioError
from lab.flavors import Flavor
from lab.identity import Identity
from lab.native import lines_for, overridden
from lab.offers import Offered
from lab.outcome import Words
from lab.scenario import Scenario, other_side
from lab.status import DaemonStatus

#: charon binaries, best first: Debian's charon-systemd, then the classic charon
CHARONS = ("/usr/sbin/charon-systemd", "/usr/lib/ipsec/charon", "/usr/libexec/ipsec/charon",
           "/usr/libexec/strongswan/charon", "charon-systemd", "charon")
SWANCTL = "swanctl"
PLUGIN_DIRS = ("/usr/lib/ipsec/plugins", "/usr/lib/strongswan/plugins",
               "/usr/local/lib/ipsec/plugins")
#: what charon loads, in this order (those the flavor lacks are left out)
CHARON_PLUGINS = ("random", "nonce", "openssl", "aes", "des", "sha1", "sha2", "md5", "hmac", "gcm",
                  "xcbc", "chapoly", "curve25519", "gmp", "kdf", "pem", "pkcs1", "pkcs8", "x509",
                  "pubkey", "constraints", "kernel-netlink", "socket-default", "vici", "updown")
SWANCTL_PLUGINS = ("pem", "pkcs1", "pkcs8", "x509", "pubkey", "random", "openssl")

CIPHER = {"3des": "3des", "aes128": "aes128", "aes192": "aes192", "aes256": "aes256",
          **{f"aes{bits}gcm{icv}": f"aes{bits}gcm{icv}" for bits in (128, 192, 256)
             for icv in (8, 12, 16)},
          "chacha20poly1305": "chacha20poly1305"}
INTEG = {"md5": "md5", "sha1": "sha1", "sha256": "sha256", "sha256_96": "sha256_96",
         "sha384": "sha384", "sha512": "sha512", "aesxcbc": "aesxcbc"}
PRF = {"md5": "prfmd5", "sha1": "prfsha1", "sha256": "prfsha256", "sha384": "prfsha384",
       "sha512": "prfsha512", "aesxcbc": "prfaesxcbc"}
DH = {"modp768": "modp768", "modp1024": "modp1024", "modp1536": "modp1536",
      "modp2048": "modp2048", "modp3072": "modp3072", "modp4096": "modp4096",
      "ecp256": "ecp256", "ecp384": "ecp384", "ecp521": "ecp521", "curve25519": "curve25519",
      "curve448": "curve448"}
#: scenario auth -> swanctl.conf local/remote auth
AUTH = {"psk": "psk", "rsa": "pubkey", "ecdsa": "pubkey"}
#: swanctl.conf: a secret is a string, 0x and hex, or 0s and base64; hex of the UTF-8 bytes
#: carries any PSK unchanged (a literal '0s...' would be decoded as base64)
PSK_MAX_BYTES = 255
#: the PRF an AEAD IKE proposal gets when the scenario names none
AEAD_IKE_PRF = "sha256"

#: neutral algorithm -> plugins that can provide it (any one will do)
PROVIDERS: dict[str, tuple[str, ...]] = {
    "3des": ("openssl", "des"), "aes128": ("openssl", "aes"), "aes192": ("openssl", "aes"),
    "aes256": ("openssl", "aes"), **{c: ("openssl", "gcm") for c in CIPHER if "gcm" in c},
    "chacha20poly1305": ("openssl", "chapoly"),
    "md5": ("openssl", "md5"), "sha1": ("openssl", "sha1"), "sha256": ("openssl", "sha2"),
    "sha256_96": ("openssl", "sha2"),
    "sha384": ("openssl", "sha2"), "sha512": ("openssl", "sha2"), "aesxcbc": ("xcbc",),
    **{g: ("openssl", "gmp") for g in DH if g.startswith("modp")},
    "ecp256": ("openssl",), "ecp384": ("openssl",), "ecp521": ("openssl",),
    "curve25519": ("openssl", "curve25519"), "curve448": ("openssl",),
    # certificates: RSA and ECDSA keys and signatures
    "rsa": ("openssl", "gmp"), "ecdsa": ("openssl",),
}
#: (IKE version, what) combinations strongSwan refuses whatever its version
NEVER: dict[tuple[int, str], str] = {
    (1, "ike-aead"): "strongSwan has no AEAD ciphers for IKEv1 IKE SAs",
}
#: IKEv1 is a build option (Debian's 6.x builds leave it out): a libcharon built with it
#: carries this log message of the Main Mode task
LIBCHARON_DIRS = ("/usr/lib/ipsec", "/usr/lib/strongswan", "/usr/local/lib/ipsec")
IKEV1_MARKER = b"is initiating a Main Mode IKE_SA"

#: swanctl output that is no complaint about the config: a plugin swanctl lacks, and the
#: credential directories (x509, private, ...) an empty SWANCTL_DIR does not have
SWANCTL_NOISE = (r"plugin '[^']+': failed to load", r"opening directory '[^']+' failed")

#: charon's words that end a negotiation (keyingtries=1), with the failure class each means
OUTCOME_WORDS: tuple[Words, ...] = (
    Words(r"AUTHENTICATION_FAILED|tried \d+ shared keys? for .* but MAC mismatched"
          r"|no shared key found|INVALID_HASH_INFORMATION", "authentication-failed"),
    Words(r"integrity check failed|could not decrypt payloads", "authentication-failed",
          grace=1.5, note="IKEv1: the peer's messages do not decrypt with our PSK's keys; "
          "also logged for a stray INFORMATIONAL of an exchange that completes anyway"),
    Words(r"NO_PROPOSAL_CHOSEN|no acceptable proposal|no matching proposal",
          "no-proposal-chosen"),
    Words(r"TS_UNACCEPTABLE|no matching CHILD_SA config", "ts-unacceptable"),
    Words(r"INVALID_ID_INFORMATION", "ts-unacceptable", grace=1.0),
    Words(r"IKE version \d not supported|INVALID_MAJOR_VERSION", "version-mismatch"),
    Words(r"no IKE config found|no peer config found", "no-proposal-chosen", grace=1.0),
    Words(r"unable to install|failed to establish CHILD_SA|giving up after", "timeout",
          grace=1.0),
)

#: VICI terminate's answer when the peer has already deleted everything (after both sides
#: initiated, the other side deletes first): nothing is left to delete, the kernel check follows
NOTHING_TO_TERMINATE = r"no matching SAs to terminate"

# -- spelling -------------------------------------------------------------------


#: scenario fragmentation -> swanctl.conf fragmentation (yes: when a message is too big)
FRAGMENTATION = {"on": "yes", "off": "no"}
#: scenario encapsulation -> swanctl.conf encap (yes: fake NAT-D payloads, ESP in UDP)
ENCAPSULATION = {"force": "yes"}


def spell_ike(p: Proposal) -> str:
    """``aes128-sha1-modp2048``; an AEAD cipher gets a PRF instead of an integrity part,
    and an explicit PRF follows the integrity part (``aes128-sha256-prfsha384-ecp256``)."""
    if p.aead:
        parts = [CIPHER[p.cipher], PRF[p.effective_prf or AEAD_IKE_PRF]]
    else:
        parts = [CIPHER[p.cipher], INTEG[p.integrity or ""]] + ([PRF[p.prf]] if p.prf else [])
    return "-".join([*parts, DH[p.dh or ""]])


def spell_esp(p: Proposal) -> str:
    """``aes128-sha1``, with ``-modpXXXX`` only when the scenario asks for PFS."""
    parts = [CIPHER[p.cipher]] + ([INTEG[p.integrity]] if p.integrity else [])
    return "-".join(parts + ([DH[p.dh]] if p.dh else []))


def spell_list(proposals: tuple[Proposal, ...], spell: Callable[[Proposal], str]) -> str:
    """Proposals in order of preference, or strongSwan's own defaults."""
    return ", ".join(spell(p) for p in proposals) if proposals else "default"


def algorithms(p: Proposal) -> list[str]:
    return [a for a in (p.cipher, p.integrity, p.prf, p.dh) if a]


def swanctl_id(identity: Identity) -> str:
    """An identity for swanctl.conf: strongSwan reads '@' as FQDN, 'x@y' as RFC822 and
    'A=b, ...' as a DN, exactly as the scenario writes them (conf_value quotes a DN)."""
    return identity.text


# -- strongswan.conf syntax -------------------------------------------------------
Settings = dict[str, "str | list[str] | Settings"]
#: the key under which a section holds native lines (lab.native): written as they are
NATIVE = "#native"


#: keys and section names: the scenario never names one, the driver does
KEY = re.compile(r"[A-Za-z0-9_.-]+")
#: values written as they are; anything else is written as a quoted string
PLAIN = re.compile(r"[A-Za-z0-9._/+@:,%-]+(?: [A-Za-z0-9._/+@:,%-]+)*")


def conf_value(value: str) -> str:
    """A value in strongswan.conf syntax: plain when it is safe, else a quoted string.
    A quoted string could hold escapes, but nothing the lab writes needs them: a value
    with a quote, a backslash or a control character is refused, never rewritten."""
    if PLAIN.fullmatch(value):
        return value
    bad = next((c for c in value if not c.isprintable() or c in '"\\'), None)
    if bad is not None:
        raise ScenarioError(f"strongswan.conf value {value!r} holds {bad!r}, which the lab does"
                            " not write into strongSwan's files")
    return f'"{value}"'


def conf_text(settings: Settings, indent: int = 0) -> str:
    """strongswan.conf / swanctl.conf syntax from nested dicts (insertion order kept)."""
    pad, lines = "    " * indent, []
    for key, value in settings.items():
        if key == NATIVE:
            assert isinstance(value, list)
            lines += [f"{pad}# native"] + [f"{pad}{line}" for line in value]
            continue
        if not KEY.fullmatch(key):
            raise ScenarioError(f"strongswan.conf key {key!r} is not a plain name")
        if isinstance(value, dict):
            lines += [f"{pad}{key} {{", conf_text(value, indent + 1).rstrip("\n"), f"{pad}}}"]
        else:
            assert isinstance(value, str)
            lines.append(f"{pad}{key} = {conf_value(value)}")
    return "\n".join(line for line in lines if line) + "\n"


def with_native(section: Settings, native: list[str]) -> Settings:
    """``section`` with the native lines at its end; a line that sets one of the section's
    keys replaces the lab's value."""
    if not native:
        return section
    keys = overridden(native)
    return {**{k: v for k, v in section.items() if k not in keys}, NATIVE: native}


# -- what a flavor has --------------------------------------------------------------


def plugins_of(flavor: Flavor) -> frozenset[str] | None:
    """The plugins installed in the flavor, or None when no plugin directory is found
    (a static build, or a tree laid out differently: then assume all)."""
    for d in PLUGIN_DIRS:
        path = flavor.host_path(d)
        if path.is_dir():
            return frozenset(m.group(1) for f in path.iterdir()
                             if (m := re.fullmatch(r"libstrongswan-(.+)\.so", f.name)))
    return None


def charon_plugins(flavor: Flavor) -> list[str]:
    present = plugins_of(flavor)
    return [p for p in CHARON_PLUGINS if present is None or p in present]


@cache
def speaks_ikev1(flavor: Flavor) -> bool:
    """Whether the flavor's charon was built with IKEv1 (True when no libcharon is found)."""
    for d in LIBCHARON_DIRS:
        path = flavor.host_path(f"{d}/libcharon.so.0")
        if path.is_file():
            return IKEV1_MARKER in path.read_bytes()
    return True


def _dpkg_version(flavor: Flavor) -> str | None:
    try:
        status = flavor.host_path("/var/lib/dpkg/status").read_text(errors="replace")
    except OSError:
        return None
    for package in ("libstrongswan", "strongswan-swanctl", "charon-systemd"):
        m = re.search(rf"^Package: {re.escape(package)}\n(?:[^\n]+\n)*?Version: (\S+)",
                      status, re.M)
        if m and re.search(rf"^Package: {re.escape(package)}\nStatus: install ok installed",
                           status, re.M):
            return m.group(1).split(":")[-1].split("-")[0].split("+")[0]
    return None


@cache
def _version(flavor: Flavor, tag: str) -> str:
    found = _dpkg_version(flavor)
    if found:
        return found
    exe = flavor.which(SWANCTL)
    if exe is None:
        return "unknown"
    out = runner.run([exe, "--version", "--help"], tag=tag, check=False,
                     env={"STRONGSWAN_CONF": "/dev/null"}, preexec=flavor.enter_new(Path("/tmp")))
    m = re.search(r"strongSwan (\d\S*)", out.stdout + out.stderr)
    return m.group(1) if m else "unknown"


# -- the driver ---------------------------------------------------------------------


class StrongSwan(Daemon):
    name = "strongswan"
    #: charon.prefer_configured_proposals (default yes): the responder's own order counts
    preference = "responder"
    configured_esn = (False,)  # a proposal without the esn keyword: no ESN only
    log_name = "charon.log"
    outcome_words = OUTCOME_WORDS
    socket_name = "charon.vici"
    rekeys_on_command = {1: ("child", "ike"), 2: ("child", "ike")}
    stale_files = ("charon.vici",)
    ike_sa_words = r"IKE_SA \S+\[\d+\] (?:established|rekeyed)"

    def __init__(self, scenario: Scenario, ctx: PeerContext) -> None:
        super().__init__(scenario, ctx)
        self.daemon_version: dict[str, str] = {}
        self._initiating: socket.socket | None = None

    # -- capabilities ---------------------------------------------------------
    @classmethod
    def binaries(cls) -> tuple[str, ...]:
        return (SWANCTL,)

    @classmethod
    def missing(cls, flavor: Flavor) -> str | None:
        reason = super().missing(flavor)
        if reason is None and flavor.which(*CHARONS) is None:
            reason = f"{flavor.name}: no charon ({', '.join(CHARONS[:2])}) found {flavor.where}"
        return reason

    @classmethod
    def version(cls, flavor: Flavor, tag: str) -> str:
        return _version(flavor, tag)

    @classmethod
    def unsupported(cls, scenario: Scenario, side: str, flavor: Flavor, tag: str) -> str | None:
        reason = super().unsupported(scenario, side, flavor, tag)
        if reason:
            return reason
        v = scenario.ike_version_of(side)
        if v == 1 and not speaks_ikev1(flavor):
            return f"{flavor.name} {_version(flavor, tag)}: charon was built without IKEv1"
        for prop in scenario.ike_list(side):
            if prop.aead and (v, "ike-aead") in NEVER:
                return f"{flavor.name}: {NEVER[(v, 'ike-aead')]} ({prop})"
        present = plugins_of(flavor)
        if present is None:
            return None
        wanted = [(kind, str(prop), alg) for kind, props in (("ike", scenario.ike_list(side)),
                                                            ("esp", scenario.esp_list(side)))
                  for prop in props for alg in algorithms(prop)]
        if scenario.auth != "psk":
            wanted.append(("auth", scenario.auth, scenario.auth))
        for kind, prop, alg in wanted:
            providers = PROVIDERS.get(alg, ())
            if not present.intersection(providers):
                return (f"{flavor.name} {_version(flavor, tag)}: no plugin for {alg} in {kind}"
                        f" {prop} (needs one of: {', '.join(providers)})")
        return None

    @classmethod
    def prefers(cls, scenario: Scenario, side: str) -> str:
        """The initiator's order when the side's native charon lines turn
        prefer_configured_proposals off."""
        for line in lines_for(scenario.peer(side).native, cls.name, "charon"):
            key, _, value = line.partition("=")
            if key.strip() == "prefer_configured_proposals":
                return "initiator" if value.strip() in ("no", "false", "0") else "responder"
        return cls.preference

    # -- pure ---------------------------------------------------------------
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

    def render(self) -> dict[str, str]:
        files = {"strongswan.conf": self.strongswan_conf(), "swanctl.conf": self.swanctl_conf()}
        if self.scenario.auth != "psk":  # swanctl --load-all reads these from SWANCTL_DIR
            creds = self.credentials()
            files.update({"x509ca/ca.pem": creds.ca_pem, "x509/peer.pem": creds.cert_pem,
                          "private/peer.key": creds.key_pem})
        return files

    # -- running --------------------------------------------------------------
    @property
    def env(self) -> dict[str, str]:
        home = self.ctx.home
        return {"STRONGSWAN_CONF": str(home / "strongswan.conf"), "SWANCTL_DIR": str(home)}

    @property
    def socket_path(self) -> Path:
        return self.ctx.dir / self.socket_name

    def _vici(self, command: str, items: dict[str, str] | None = None,
              timeout: float = 2.0) -> socket.socket:
        """A connection to charon with ``command`` sent (the caller reads or keeps it)."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(str(self.socket_path))
            sock.sendall(vici_packet(command, items or {}))
        except OSError:
            sock.close()
            raise
        return sock

    def _answers(self) -> bool:
        try:
            with self._vici("version", timeout=1.0) as sock:
                self.daemon_version = vici_response(sock)
        except (OSError, ConnectionError, struct.error):
            return False
        return True

    def launch(self) -> None:
        charon = self.ctx.flavor.which(*CHARONS)
        if charon is None:
            raise MissingError(self.missing(self.ctx.flavor) or f"{self.ctx.flavor.name}: no charon")
        self.proc = self.spawn([charon], env=self.env)

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

    def stop(self) -> None:
        if self._initiating is not None:
            self._initiating.close()
            self._initiating = None
        super().stop()

    def status(self) -> DaemonStatus:
        """VICI list-sas, in-process; the raw events are kept in vici-list-sas.json."""
        try:
            with self._vici_socket(timeout=5.0) as sock:
                # not noblock: that skips an IKE SA some charon thread has checked out, and
                # right after the negotiation one sometimes still is (seen: an empty listing)
                events, _ = vici_stream(sock, "list-sas", {"ike": self.scenario.conn_name},
                                        "list-sa")
        except (OSError, ConnectionError, struct.error) as exc:
            return DaemonStatus(source="VICI list-sas", error=f"list-sas over {self.socket_path}: {exc}")
        (self.ctx.dir / "vici-list-sas.json").write_text(json.dumps(
            {"strongswan": self.daemon_version.get("version", ""),
             "list-sa": [e.hex() for e in events]}, indent=1) + "\n")
        status = parse_list_sas([vici_decode(e) for e in events], self.scenario.conn_name)
        status.offers = self.offers() or parse_logged_proposals(self.log_text())
        return status

    def offers(self) -> dict[str, tuple[Offered, ...]]:
        """What the connection offers, as VICI list-conns names it (strongSwan 6; 5.9
        names no proposals there: {}); kept in vici-list-conns.json."""
        try:
            with self._vici_socket(timeout=5.0) as sock:
                events, _ = vici_stream(sock, "list-conns", {"ike": self.scenario.conn_name},
                                        "list-conn")
        except (OSError, ConnectionError, struct.error):
            return {}
        (self.ctx.dir / "vici-list-conns.json").write_text(json.dumps(
            {"strongswan": self.daemon_version.get("version", ""),
             "list-conn": [e.hex() for e in events]}, indent=1) + "\n")
        return parse_list_conns([vici_decode(e) for e in events], self.scenario.conn_name)

    def delete(self) -> None:
        """VICI terminate of the IKE SA (and with it the Child SA), in-process: charon
        sends the peer a Delete and answers once it is done."""
        try:
            with self._vici_socket(timeout=10.0) as sock:
                sock.sendall(vici_packet("terminate", {"ike": self.scenario.conn_name,
                                                       "timeout": "5000"}))
                answer = vici_response(sock)
        except (OSError, ConnectionError, struct.error) as exc:
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
            with self._vici_socket(timeout=10.0) as sock:
                sock.sendall(vici_packet("rekey", {what: self.scenario.conn_name}))
                answer = vici_response(sock)
        except (OSError, ConnectionError, struct.error) as exc:
            raise DaemonError(f"strongswan ({self.side}): rekey over {self.socket_path}: "
                              f"{exc}") from None
        if answer.get("success") != "yes":
            raise DaemonError(f"strongswan ({self.side}): rekey {what} {self.scenario.conn_name!r}:"
                              f" {answer.get('errmsg', answer)}")

    def _vici_socket(self, timeout: float) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(str(self.socket_path))
        except OSError:
            sock.close()
            raise
        return sock

    def status_commands(self) -> list[list[str]]:
        return [[SWANCTL, "--list-sas"], [SWANCTL, "--list-conns"]]

    def tool(self, argv: list[str], timeout: float = 20.0, check: bool = True,
             env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """Every strongSwan tool reads the peer's strongswan.conf (socket, plugins)."""
        return super().tool(argv, timeout=timeout, check=check, env={**self.env, **(env or {})})
