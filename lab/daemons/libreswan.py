"""Libreswan (pluto): ipsec.conf and ipsec.secrets from the scenario, pluto, addconn, whack."""

from __future__ import annotations

import re
import shutil
from functools import cache
from pathlib import Path

from lab import probes, xfrm
from lab import run as runner
from lab.algorithms import Proposal
from lab.certs import P12_PASSWORD
from lab.daemons.base import Daemon
from lab.daemons.encode import header, psk_hex
from lab.daemons.pluto_log import parse_pluto_log, parse_pluto_offers
from lab.errors import DaemonError
from lab.flavors import Flavor
from lab.identity import Identity
from lab.native import overridden
from lab.outcome import Words
from lab.scenario import Scenario, other_side
from lab.status import DaemonStatus
from lab.topology.table import endpoint
from lab.xfrm import SA, Policy

LIBEXEC = "/usr/libexec/ipsec"
CIPHER = {"3des": "3des", "aes128": "aes128", "aes192": "aes192", "aes256": "aes256",
          "aes128gcm8": "aes_gcm_a128", "aes128gcm12": "aes_gcm_b128", "aes128gcm16": "aes_gcm128",
          "aes192gcm8": "aes_gcm_a192", "aes192gcm12": "aes_gcm_b192", "aes192gcm16": "aes_gcm192",
          "aes256gcm8": "aes_gcm_a256", "aes256gcm12": "aes_gcm_b256", "aes256gcm16": "aes_gcm256",
          "chacha20poly1305": "chacha20_poly1305"}
#: integrity algorithms, and PRFs (ipsec.conf names a PRF by its integrity algorithm's name)
INTEG = {"md5": "md5", "sha1": "sha1", "sha256": "sha2_256", "sha256_96": "sha2_256",
         "sha384": "sha2_384", "sha512": "sha2_512", "aesxcbc": "aes_xcbc"}
#: conn settings a neutral ESP integrity name needs beyond its spelling
INTEG_SETTINGS = {"sha256_96": (("sha2-truncbug", "yes"),)}  # 96-bit ICV, for PF_KEY peers
DH = {"modp768": "modp768", "modp1024": "modp1024", "modp1536": "modp1536",
      "modp2048": "modp2048", "modp3072": "modp3072", "modp4096": "modp4096",
      "ecp256": "dh19", "ecp384": "dh20", "ecp521": "dh21", "curve25519": "dh31",
      "curve448": "curve448"}
#: scenario fragmentation -> ipsec.conf fragmentation= ("yes" fragments an IKE message
#: over 576/1280 bytes from its first retransmission on, once the peer said it can)
FRAGMENTATION = {"on": "yes", "off": "no"}
#: scenario encapsulation -> ipsec.conf encapsulation= ("yes": claim a NAT, ESP in UDP)
ENCAPSULATION = {"force": "yes"}
#: scenario auth -> ipsec.conf authby
AUTHBY = {"psk": "secret", "rsa": "rsasig", "ecdsa": "ecdsa"}
#: (IKE version, what) Libreswan cannot do whatever its version, and why
NEVER: dict[tuple[int, str], str] = {
    (1, "ecdsa"): "Libreswan authenticates with ECDSA in IKEv2 only (authby=ecdsa)",
}
NSS_FILES = ("cert9.db", "key4.db", "pkcs11.txt")
#: ipsec.secrets(5): a PSK is a quoted string (which cannot hold '"' or a newline) or data for
#: ttodata(3), where 0x is hex and 0s base64; hex of the UTF-8 bytes carries any PSK unchanged
PSK_MAX_BYTES = 255
PSK_NOTE = "# the PSK as 0x and the hex of its UTF-8 bytes (ttodata), so any text arrives unchanged\n"
#: what a pluto version is known to leave in the kernel after its peer deleted the
#: connection (version prefix -> what and why); measured, see the teardown check
KNOWN_LEFTOVERS = {
    "4.": "pluto 4.x keeps an auto=add connection routed on demand after the peer deleted"
          " it ('prospective erouted': an outbound policy whose template has reqid 0);"
          " pluto 5.x removes it",
}

#: whack's rekey options by Libreswan major version (4.x: --rekey-ipsec; 5.x: --rekey-child)
REKEY_OPTIONS = {4: {"child": "--rekey-ipsec", "ike": "--rekey-ike"},
                 5: {"child": "--rekey-child", "ike": "--rekey-ike"}}
#: DPD settings by major version: 4.x takes dpddelay/dpdtimeout/dpdaction (IKEv2 liveness
#: gives up after retransmit-timeout); 5.x ignores dpdtimeout for IKEv2 ("use dpddelay= and
#: retransmit-timeout=") and needs both for IKEv1
DPD_KEYS = {4: ("dpddelay", "dpdtimeout", "retransmit-timeout", "dpdaction"),
            5: ("dpddelay", "retransmit-timeout", "dpdaction")}
DPD_KEYS_IKEV1 = {5: ("dpddelay", "dpdtimeout", "dpdaction")}

#: pluto's words that end a negotiation (keyingtries=1: no second attempt comes), with
#: the failure class each means; a grace where a later message may still bring the SAs
OUTCOME_WORDS: tuple[Words, ...] = (
    Words(r"(?:ignoring|dropping unexpected|received and ignored) (?:unsecured )?"
          r"(?:informational payload|notification payload:"
          r"|IKE_SA_INIT (?:response|message) containing) NO_PROPOSAL_CHOSEN",
          "no-proposal-chosen", grace=2.0,
          note="an unauthenticated notify pluto ignores (it may be forged) and retransmits: "
               "final only if no SA comes; the peer's own words usually say why first"),
    Words(r"(?:ignoring|dropping unexpected|received and ignored) .*(?:INVALID_HASH_INFORMATION"
          r"|AUTHENTICATION_FAILED|PAYLOAD_MALFORMED)", "authentication-failed", grace=2.0,
          note="the same for an unauthenticated notify that would mean a wrong PSK"),
    Words(r"policy (?:requires|dictates) (?:Transport|Tunnel) Mode,? but peer"
          r" (?:requires required|requested) (?:Transport|Tunnel) Mode", "mode-mismatch",
          note="the initiator refuses the Child SA in the mode the responder chose (the "
               "responder's 'ignoring peer's request for ... Mode' is no failure)"),
    Words(r"ignoring IKEv1 packet as (?:global )?policy is set to silently drop",
          "version-mismatch", note="a connection for IKEv2 only; pluto answers nothing"),
    Words(r"AUTHENTICATION_FAILED|[Aa]uthentication failed|Can't authenticate"
          r"|(?:probable|possible) authentication failure", "authentication-failed"),
    Words(r"INVALID_HASH_INFORMATION", "authentication-failed",
          note="IKEv1: the peer's HASH payload does not verify with our PSK"),
    Words(r"PAYLOAD_MALFORMED|Invalid Payload", "authentication-failed", grace=1.0,
          note="IKEv1: a message decrypted with the wrong PSK's keys reads as garbage"),
    Words(r"NO_PROPOSAL_CHOSEN|no acceptable|failed to match", "no-proposal-chosen"),
    Words(r"TS_UNACCEPTABLE", "ts-unacceptable"),
    Words(r"INVALID_ID_INFORMATION", "ts-unacceptable", grace=1.0,
          note="IKEv1 Quick Mode: the peer refused our IDs (selectors)"),
    Words(r"we require IKEv2 peer|IKEv1 packet dropped|INVALID_MAJOR_VERSION",
          "version-mismatch"),
    Words(r"could not find a suitable", "no-proposal-chosen", grace=1.0),
)


def spell(p: Proposal, with_dh: bool = True) -> str:
    """``aes128-sha1;modp2048``; an AEAD IKE proposal's second part is its PRF."""
    second = p.effective_prf if p.aead else p.integrity
    algs = "-".join([CIPHER[p.cipher]] + ([INTEG[second]] if second else []))
    return f"{algs};{DH[p.dh]}" if with_dh and p.dh else algs


def spell_list(proposals: tuple[Proposal, ...]) -> str:
    return ",".join(spell(p) for p in proposals)


def ipsec_id(identity: Identity) -> str:
    """leftid/rightid: an address, @fqdn, user@fqdn, or a DN in double quotes."""
    return f'"{identity.value}"' if identity.kind == "dn" else identity.text


def _prf_gap(p: Proposal) -> str | None:
    if p.prf and not p.aead and p.prf != p.integrity:
        return (f"ipsec.conf names one algorithm for integrity and PRF: ike {p} asks for"
                f" integrity {p.integrity} with PRF {p.prf}")
    return None


@cache
def _version(flavor: Flavor, tag: str) -> str:
    def ask() -> str:
        out = runner.run([f"{LIBEXEC}/pluto", "--version"], tag=tag, check=False,
                         preexec=flavor.enter_new(Path("/tmp")))
        m = re.search(r"Libreswan (\S+)", out.stdout + out.stderr)
        return m.group(1) if m else "unknown"

    return probes.remembered(flavor, f"{LIBEXEC}/pluto", "--version", ask)


@cache
def _algparse(flavor: Flavor, tag: str, ike_version: int, what: str) -> str | None:
    def ask() -> str | None:
        out = runner.run([f"{LIBEXEC}/algparse", f"-v{ike_version}", what], tag=tag, check=False,
                         preexec=flavor.enter_new(Path("/tmp")))
        if out.returncode == 0:
            return None
        errors = [ln.strip() for ln in (out.stdout + out.stderr).splitlines() if "ERROR" in ln]
        return errors[0].removeprefix("ERROR: ") if errors else f"algparse rejected {what!r}"

    return probes.remembered(flavor, f"{LIBEXEC}/algparse", f"-v{ike_version} {what}", ask)


#: the flavor's systemd unit, and what in its ExecStopPost flushes the kernel's IPsec state
UNIT = "/usr/lib/systemd/system/ipsec.service"
UNIT_FLUSH = re.compile(r"^ExecStopPost=.*\bip xfrm state flush", re.M)


@cache
def flushes_after_stop(flavor: Flavor) -> bool:
    """Whether the flavor's ipsec.service flushes XFRM state and policies once pluto has
    stopped, a crash included (Debian's 4.10 does; 5.2's does not)."""
    try:
        return bool(UNIT_FLUSH.search(flavor.host_path(UNIT).read_text(errors="replace")))
    except OSError:
        return False


def _major(flavor: Flavor, tag: str) -> int:
    version = _version(flavor, tag)
    return int(version.split(".")[0]) if version[:1].isdigit() else 4


class Libreswan(Daemon):
    name = "libreswan"
    rekeys_on_command = {2: ("child", "ike")}
    no_rekey_command = {1: "pluto rekeys IKEv1 only by lifetime (whack --rekey-*: \"cannot force"
                           " rekey of IKEv1 connection\", measured with 4.10)"}
    stale_files = ("run/pluto.pid", "run/pluto.ctl")
    #: "deleting IKE SA but connection is supposed to remain up; schedule EVENT_REVIVE_CONNS"
    revives = True
    ike_sa_words = r"established IKE SA|rekeyed IKE SA|ISAKMP SA established|IKE SA established"
    #: measured (4.10 and 5.2, IKEv2): pluto as the responder picks its own first proposal
    #: that the initiator offered, whatever the initiator's order
    preference = "responder"
    log_name = "pluto.log"
    outcome_words = OUTCOME_WORDS

    @classmethod
    def binaries(cls) -> tuple[str, ...]:
        return (f"{LIBEXEC}/pluto", f"{LIBEXEC}/addconn", f"{LIBEXEC}/whack",
                f"{LIBEXEC}/algparse")

    @classmethod
    def version(cls, flavor: Flavor, tag: str) -> str:
        return _version(flavor, tag)

    @classmethod
    def unsupported(cls, scenario: Scenario, side: str, flavor: Flavor, tag: str) -> str | None:
        reason = super().unsupported(scenario, side, flavor, tag)
        if reason:
            return reason
        v = scenario.ike_version_of(side)
        if (v, scenario.auth) in NEVER:
            return f"{flavor.name}: {NEVER[(v, scenario.auth)]}"
        for p in scenario.ike_list(side):
            gap = _prf_gap(p)
            if gap:
                return f"{flavor.name}: {gap}"
        for kind, props in (("ike", scenario.ike_list(side)), ("esp", scenario.esp_list(side))):
            if not props:
                continue  # the daemon's defaults
            answer = _algparse(flavor, tag, v, f"{kind}={spell_list(props)}")
            if answer:
                return f"{flavor.name} {_version(flavor, tag)} (algparse -v{v}): {answer}"
        return None

    def render(self) -> dict[str, str]:
        s, home = self.scenario, self.ctx.home
        major = _major(self.ctx.flavor, self.ctx.tag)
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

    # -- running --------------------------------------------------------------
    @property
    def ctl(self) -> str:
        return str(self.ctx.home / "run" / "pluto.ctl")

    def _nss(self) -> None:
        """Each peer gets its own NSS database, copied from one made per session (with the
        session's CA trusted when the scenario uses certificates); the peer's own key and
        certificate go in with one pk12util."""
        flavor, certs = self.ctx.flavor, self.scenario.auth != "psk"
        ca = f"-{self.credentials().ca_fingerprint}" if certs else ""
        template = self.ctx.cache / f"nss-{flavor.name.replace('/', '_')}{ca}"
        if not (template / NSS_FILES[0]).exists():
            template.mkdir(parents=True, exist_ok=True)
            db = f"sql:{flavor.home(template)}"
            runner.run(["certutil", "-N", "-d", db, "--empty-password"], tag=self.ctx.tag,
                       preexec=flavor.enter_new(template))
            if certs:
                (template / "ca.pem").write_text(self.credentials().ca_pem)
                runner.run(["certutil", "-A", "-d", db, "-n", "ipsec-lab CA", "-t", "CT,,",
                            "-a", "-i", str(flavor.home(template) / "ca.pem")],
                           tag=self.ctx.tag, preexec=flavor.enter_new(template))
        (self.ctx.dir / "nss").mkdir(exist_ok=True)
        for name in NSS_FILES:
            shutil.copy(template / name, self.ctx.dir / "nss" / name)
        if certs:
            p12 = self.ctx.dir / "peer.p12"
            p12.write_bytes(self.credentials().p12())
            p12.chmod(0o600)
            self.tool(["pk12util", "-i", str(self.ctx.home / "peer.p12"), "-d",
                       f"sql:{self.ctx.home / 'nss'}", "-W", P12_PASSWORD, "-K", ""])

    def check(self) -> None:
        out = self.tool([f"{LIBEXEC}/addconn", "--config", str(self.ctx.home / "ipsec.conf"),
                         "--checkconfig"], check=False)
        if out.returncode != 0:
            words = (out.stderr or out.stdout).strip().splitlines()
            raise DaemonError(f"libreswan ({self.side}) refused {self.ctx.dir}/ipsec.conf: "
                              + (words[0] if words else f"addconn exit {out.returncode}"))

    def launch(self) -> None:
        """pluto, without `addconn --checkconfig` first: that costs a process per peer
        and cell, and is run only to explain a pluto or a load that failed."""
        self._nss()
        (self.ctx.dir / "run").mkdir(exist_ok=True)
        home = self.ctx.home
        self.proc = self.spawn([
            f"{LIBEXEC}/pluto", "--nofork", "--config", str(home / "ipsec.conf"),
            "--secretsfile", str(home / "ipsec.secrets"), "--rundir", str(home / "run"),
            "--nssdir", str(home / "nss"), "--logfile", str(home / self.log_name)])

    def wait_started(self) -> None:
        try:
            self.wait_socket(self.ctx.dir / "run" / "pluto.ctl")
        except DaemonError:
            self.check()  # the config's own error, where addconn finds one
            raise

    def load(self) -> None:
        out = self.tool([f"{LIBEXEC}/addconn", "--ctlsocket", self.ctl, "--config",
                         str(self.ctx.home / "ipsec.conf"), self.scenario.conn_name], check=False)
        text = (out.stdout + out.stderr).strip()
        if out.returncode != 0 or re.search(r"\b(failed|ERROR|not loaded|invalid)\b", text):
            self.check()  # the config's own error, where addconn finds one
            first = next((ln for ln in text.splitlines()
                          if re.search(r"failed|ERROR|invalid|not", ln)), text)
            raise DaemonError(f"libreswan ({self.side}) refused connection "
                              f"{self.scenario.conn_name!r} from {self.ctx.dir}/ipsec.conf: "
                              f"{first.strip()}")

    def initiate(self) -> None:
        self.tool([f"{LIBEXEC}/whack", "--ctlsocket", self.ctl, "--name",
                   self.scenario.conn_name, "--initiate", "--asynchronous"])

    def rekey(self, what: str) -> None:
        """whack --rekey-ipsec/--rekey-child or --rekey-ike (REKEY_OPTIONS), asynchronous."""
        options = REKEY_OPTIONS.get(_major(self.ctx.flavor, self.ctx.tag), REKEY_OPTIONS[5])
        self.tool([f"{LIBEXEC}/whack", "--ctlsocket", self.ctl, "--name",
                   self.scenario.conn_name, options[what], "--asynchronous"], timeout=10)

    def restart(self) -> None:
        """As the base does, then whack --listen: right after a start pluto 5.2 may refuse
        an initiation with "need --listen before --initiate" (measured, IKEv1)."""
        super().restart()
        self.tool([f"{LIBEXEC}/whack", "--ctlsocket", self.ctl, "--listen"], timeout=10)

    def after_crash(self) -> str | None:
        """ipsec.service's ExecStopPost, where the flavor's unit has it: flush the
        namespace's XFRM state and policies (in-process)."""
        if not flushes_after_stop(self.ctx.flavor):
            return None
        xfrm.flush(self.ctx.netns)
        return f"flush XFRM state and policies, as {UNIT}'s ExecStopPost does"

    def status(self) -> DaemonStatus:
        """From pluto's log, which names every established SA's algorithms and what the
        connection offers: no process."""
        text = self.log_text()
        status = parse_pluto_log(text, self.scenario.ike_version_of(self.side))
        status.offers = parse_pluto_offers(text, self.scenario.conn_name)
        return status

    def delete(self) -> None:
        """whack --delete: pluto deletes the connection with its SAs and tells the peer."""
        self.tool([f"{LIBEXEC}/whack", "--ctlsocket", self.ctl, "--name",
                   self.scenario.conn_name, "--delete"], timeout=10)

    def known_leftover(self, policy: SA | Policy) -> str | None:
        if not isinstance(policy, Policy):
            return None
        version = _version(self.ctx.flavor, self.ctx.tag)
        other = other_side(self.side)
        mine, theirs = endpoint(self.scenario, self.side)[1], endpoint(self.scenario, other)[1]
        if policy.dir == "out" and policy.ipsec and policy.covers(mine, theirs):
            return next((why for prefix, why in KNOWN_LEFTOVERS.items()
                         if version.startswith(prefix)), None)
        return None

    def status_commands(self) -> list[list[str]]:
        return [[f"{LIBEXEC}/whack", "--ctlsocket", self.ctl, "--trafficstatus"],
                [f"{LIBEXEC}/whack", "--ctlsocket", self.ctl, "--status"]]
