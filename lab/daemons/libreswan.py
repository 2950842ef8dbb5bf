"""Libreswan (pluto): ipsec.conf and ipsec.secrets from the scenario, pluto, addconn, whack."""

from __future__ import annotations

import re
import shutil
from functools import cache
from pathlib import Path
from typing import ClassVar

from lab import run as runner
from lab.algorithms import Proposal
from lab.daemons.base import Daemon
from lab.daemons.encode import header, psk_hex
from lab.daemons.pluto_log import parse_pluto_log
from lab.errors import DaemonError
from lab.flavors import Flavor
from lab.scenario import Scenario
from lab.status import DaemonStatus
from lab.topologies import endpoint
from lab.xfrm import Policy

LIBEXEC = "/usr/libexec/ipsec"
CIPHER = {"3des": "3des", "aes128": "aes128", "aes192": "aes192", "aes256": "aes256",
          "aes128gcm16": "aes_gcm128", "aes256gcm16": "aes_gcm256",
          "chacha20poly1305": "chacha20_poly1305"}
INTEG = {"md5": "md5", "sha1": "sha1", "sha256": "sha2_256", "sha384": "sha2_384",
         "sha512": "sha2_512"}
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


def spell(p: Proposal, with_dh: bool = True) -> str:
    algs = "-".join([CIPHER[p.cipher]] + ([INTEG[p.integrity]] if p.integrity else []))
    return f"{algs};{p.dh}" if with_dh and p.dh else algs


@cache
def _version(flavor: Flavor, tag: str) -> str:
    out = runner.run([f"{LIBEXEC}/pluto", "--version"], tag=tag, check=False,
                     preexec=flavor.enter_new(Path("/tmp")))
    m = re.search(r"Libreswan (\S+)", out.stdout + out.stderr)
    return m.group(1) if m else "unknown"


@cache
def _algparse(flavor: Flavor, tag: str, ike_version: int, what: str) -> str | None:
    out = runner.run([f"{LIBEXEC}/algparse", f"-v{ike_version}", what], tag=tag, check=False,
                     preexec=flavor.enter_new(Path("/tmp")))
    if out.returncode == 0:
        return None
    errors = [ln.strip() for ln in (out.stdout + out.stderr).splitlines() if "ERROR" in ln]
    return errors[0].removeprefix("ERROR: ") if errors else f"algparse rejected {what!r}"


class Libreswan(Daemon):
    name = "libreswan"
    log_name = "pluto.log"
    fatal_words: ClassVar[tuple[str, ...]] = (
        "AUTHENTICATION_FAILED", "authentication failed", "NO_PROPOSAL_CHOSEN",
        "no acceptable", "INVALID_ID_INFORMATION", "TS_UNACCEPTABLE",
        "Can't authenticate", "INVALID_HASH_INFORMATION", "we require IKEv2 peer",
        "sending notification NO_PROPOSAL_CHOSEN", "PAYLOAD_MALFORMED",
        "probable authentication failure", "possible authentication failure", "IKEv1 packet dropped",
        "could not find a suitable", "Invalid Payload", "failed to match")

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
        v = scenario.ike_version
        for kind, prop in (("ike", scenario.ike_of(side)), ("esp", scenario.esp_of(side))):
            answer = _algparse(flavor, tag, v, f"{kind}={spell(prop)}")
            if answer:
                return f"{flavor.name} {_version(flavor, tag)} (algparse -v{v}): {answer}"
        return None

    def render(self) -> dict[str, str]:
        s, home = self.scenario, self.ctx.home
        major = int(_version(self.ctx.flavor, self.ctx.tag).split(".")[0] or 0) \
            if _version(self.ctx.flavor, self.ctx.tag)[:1].isdigit() else 4
        esp = s.esp_of(self.side)
        if major >= 5:
            version_line = f"keyexchange=ikev{s.ike_version}"
        else:
            version_line = "ikev2=no" if s.ike_version == 1 else "ikev2=yes"
        setup = ["config setup", "\tplutodebug=none"]
        if s.ike_version == 1:
            setup.append("\tikev1-policy=accept")
        conn = [
            f"conn {s.conn_name}",
            f"\tleft={self.peer.address}",
            f"\tright={self.other.address}",
            *self._subnets(),
            "\tauthby=secret",
            f"\t{version_line}",
            f"\ttype={s.mode_of(self.side)}",
            f"\tike={spell(s.ike_of(self.side))}",
            f"\tesp={spell(esp)}",
            f"\tpfs={'yes' if esp.dh else 'no'}",
            f"\tikelifetime={s.ike_lifetime}s",
            f"\tsalifetime={s.child_lifetime}s",
            "\tleftupdown=%disabled",  # the lab routes (its topology); 0.7 s saved per SA
            "\tkeyingtries=1",
            "\tauto=add",
        ]
        psk = psk_hex(s.psk_of(self.side), "libreswan", PSK_MAX_BYTES)
        secrets = (header("pluto", s.name, self.side, "ipsec.secrets", home) + PSK_NOTE
                   + f"{self.peer.address} {self.other.address} : PSK {psk}\n")
        return {"ipsec.conf": header("pluto", s.name, self.side, "ipsec.conf", home)
                + "\n".join(setup) + "\n\n" + "\n".join(conn) + "\n",
                "ipsec.secrets": secrets}

    def _subnets(self) -> list[str]:
        """leftsubnet/rightsubnet behind the gateways (net-to-net); pluto takes each
        family from the addresses, IPv4 subnets between IPv6 gateways included."""
        if self.peer.subnet is None or self.other.subnet is None:
            return []
        return [f"\tleftsubnet={self.peer.subnet}", f"\trightsubnet={self.other.subnet}"]

    # -- running --------------------------------------------------------------
    @property
    def ctl(self) -> str:
        return str(self.ctx.home / "run" / "pluto.ctl")

    def _nss(self) -> None:
        """Each peer gets its own empty NSS database, copied from one made per session."""
        flavor = self.ctx.flavor
        template = self.ctx.cache / f"nss-{flavor.name.replace('/', '_')}"
        if not (template / NSS_FILES[0]).exists():
            template.mkdir(parents=True, exist_ok=True)
            runner.run(["certutil", "-N", "-d", f"sql:{flavor.home(template)}",
                        "--empty-password"], tag=self.ctx.tag, preexec=flavor.enter_new(template))
        (self.ctx.dir / "nss").mkdir(exist_ok=True)
        for name in NSS_FILES:
            shutil.copy(template / name, self.ctx.dir / "nss" / name)

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

    def status(self) -> DaemonStatus:
        """From pluto's log, which names every established SA's algorithms: no process."""
        return parse_pluto_log(self.log_text(), self.scenario.ike_version)

    def delete(self) -> None:
        """whack --delete: pluto deletes the connection with its SAs and tells the peer."""
        self.tool([f"{LIBEXEC}/whack", "--ctlsocket", self.ctl, "--name",
                   self.scenario.conn_name, "--delete"], timeout=10)

    def known_leftover(self, policy: Policy) -> str | None:
        version = _version(self.ctx.flavor, self.ctx.tag)
        other = "right" if self.side == "left" else "left"
        mine, theirs = endpoint(self.scenario, self.side)[1], endpoint(self.scenario, other)[1]
        if policy.dir == "out" and policy.ipsec and policy.covers(mine, theirs):
            return next((why for prefix, why in KNOWN_LEFTOVERS.items()
                         if version.startswith(prefix)), None)
        return None

    def status_commands(self) -> list[list[str]]:
        return [[f"{LIBEXEC}/whack", "--ctlsocket", self.ctl, "--trafficstatus"],
                [f"{LIBEXEC}/whack", "--ctlsocket", self.ctl, "--status"]]
