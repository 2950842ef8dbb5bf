"""Libreswan (pluto): what it can do here, and pluto, addconn and whack run on the files
LibreswanConf renders; its status read from pluto's log."""

from __future__ import annotations

import re
import shutil

from lab import run as runner
from lab import xfrm
from lab.certs import P12_PASSWORD
from lab.daemons.libreswan import probe
from lab.daemons.libreswan.pluto_log import parse_pluto_log, parse_pluto_offers
from lab.daemons.libreswan.render import LibreswanConf
from lab.daemons.libreswan.words import (
    KNOWN_LEFTOVERS,
    LIBEXEC,
    NEVER,
    NSS_FILES,
    OUTCOME_WORDS,
    REKEY_OPTIONS,
    prf_gap,
    spell_list,
)
from lab.errors import DaemonError
from lab.flavors import Flavor
from lab.scenario import Scenario, other_side
from lab.status import DaemonStatus
from lab.topology.table import endpoint
from lab.xfrm import SA, Policy


class Libreswan(LibreswanConf):
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
        return probe.pluto_version(flavor, tag)

    @classmethod
    def unsupported(cls, scenario: Scenario, side: str, flavor: Flavor, tag: str) -> str | None:
        reason = super().unsupported(scenario, side, flavor, tag)
        if reason:
            return reason
        v = scenario.ike_version_of(side)
        if (v, scenario.auth) in NEVER:
            return f"{flavor.name}: {NEVER[(v, scenario.auth)]}"
        for p in scenario.ike_list(side):
            gap = prf_gap(p)
            if gap:
                return f"{flavor.name}: {gap}"
        for kind, props in (("ike", scenario.ike_list(side)), ("esp", scenario.esp_list(side))):
            if not props:
                continue  # the daemon's defaults
            answer = probe.algparse_error(flavor, tag, v, f"{kind}={spell_list(props)}")
            if answer:
                return f"{flavor.name} {probe.pluto_version(flavor, tag)} (algparse -v{v}): {answer}"
        return None

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
        options = REKEY_OPTIONS.get(probe.major_version(self.ctx.flavor, self.ctx.tag), REKEY_OPTIONS[5])
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
        if not probe.flushes_after_stop(self.ctx.flavor):
            return None
        xfrm.flush(self.ctx.netns)
        return f"flush XFRM state and policies, as {probe.UNIT}'s ExecStopPost does"

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
        version = probe.pluto_version(self.ctx.flavor, self.ctx.tag)
        other = other_side(self.side)
        mine, theirs = endpoint(self.scenario, self.side)[1], endpoint(self.scenario, other)[1]
        if policy.dir == "out" and policy.ipsec and policy.covers(mine, theirs):
            return next((why for prefix, why in KNOWN_LEFTOVERS.items()
                         if version.startswith(prefix)), None)
        return None

    def status_commands(self) -> list[list[str]]:
        return [[f"{LIBEXEC}/whack", "--ctlsocket", self.ctl, "--trafficstatus"],
                [f"{LIBEXEC}/whack", "--ctlsocket", self.ctl, "--status"]]
