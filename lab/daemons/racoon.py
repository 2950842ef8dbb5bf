"""racoon (ipsec-tools): racoon.conf, psk.txt and a setkey SPD from the scenario.

racoon speaks IKEv1 only and talks to the kernel over PF_KEY, which is per network
namespace: setkey and racoon started in the peer's namespace see only its SAD/SPD.
The SPD comes from setkey (racoon only fills it with SAs); the negotiation starts
when the kernel asks racoon for an SA (an ACQUIRE), i.e. when the first packet
matches a policy. Neither program is in any Debian suite: the driver works wherever
``racoon`` and ``setkey`` are on PATH (or in a flavor tree) and says which is not.
"""

from __future__ import annotations

import os
import re
import socket
import threading
import time
from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import ClassVar

from lab import run as runner
from lab import xfrm
from lab.daemons import racoon_admin
from lab.daemons.base import Daemon, PeerContext
from lab.daemons.racoon_conf import PRIVSEP_PREFIX, PRIVSEP_ROOT, RacoonConf, algorithm_gap
from lab.daemons.racoon_parse import (
    IpsecSA,
    IsakmpSA,
    parse_racoon_log,
    partners,
    purged_spis,
    racoon_debug_status,
    racoon_json_status,
    racoon_status,
)
from lab.errors import DaemonError
from lab.flavors import RACOON_RELEASES, RACOON_VARIANTS, Flavor
from lab.outcome import Outcome, Words
from lab.scenario import Scenario, other_side
from lab.status import DaemonStatus
from lab.topology.netns import socket_in
from lab.topology.table import address
from lab.xfrm import SA, Policy

#: racoon's words that end a negotiation, with the failure class each means
OUTCOME_WORDS: tuple[Words, ...] = (
    Words(r"couldn't find the pskey|HASH\(?\d?\)? ?mismatch|AUTHENTICATION-FAILED",
          "authentication-failed"),
    Words(r"ignore information due to hash mismatch", "authentication-failed", grace=1.5,
          note="an INFORMATIONAL that does not verify: final only if no SA follows"),
    Words(r"no suitable proposal found|failed to get valid proposal|no proposal chosen"
          r"|failed to get proposal for responder|NO-PROPOSAL-CHOSEN", "no-proposal-chosen"),
    Words(r"failed to get sainfo|INVALID-ID-INFORMATION|such policy does not already exist",
          "ts-unacceptable"),
    Words(r"no configuration found for", "no-proposal-chosen"),
    # racoon's own spelling: "fatal NO-PROPOSAL-CHOSEN notify messsage"
    Words(r"notify messsage", "no-proposal-chosen", grace=1.0),
    # IKEv1 has no flag 0x08; IKEv2's Initiator flag is 0x08: an IKEv2 message, refused
    Words(r"ERROR: invalid flag 0x08", "version-mismatch",
          note="an IKEv2 header (Initiator flag 0x08) sent to racoon, which speaks IKEv1"),
    # racoon's only word for it, at debug level (isakmp_parsewoh), kept by outcome_lines
    Words(r"DEBUG: invalid length of payload", "authentication-failed", grace=1.0,
          note="Main Mode's ID/HASH message, decrypted with racoon's phase-1 key, does not"
               " parse: the two ends derived other keys, from other pre-shared keys"),
    Words(r"phase[12] negotiation failed due to time up", "timeout",
          note="racoon gave up retransmitting: nothing came back"),
    Words(r"failed to pre-process ph[12] packet|phase[12] negotiation failed"
          r"|failed to begin ipsec sa negotiation|fatal parse failure", "timeout", grace=1.0,
          note="generic: a more specific word usually follows within the grace"),
)


def undecryptable(lines: list[str], i: int) -> bool:
    """Whether ``lines[i]`` is racoon's debug line saying that a message it just decrypted
    has a payload of impossible length, and that message is Main Mode's 5th or 6th (the
    only encrypted one whose first payload is an ID): its phase-1 key is not the peer's."""
    return (lines[i].endswith("DEBUG: invalid length of payload") and i >= 1
            and lines[i - 1].endswith("DEBUG: seen nptype=5(id)")
            and any(ln.endswith("DEBUG: decrypted.") for ln in lines[max(0, i - 12):i]))


#: where the running kernel shows that it has PF_KEY (af_key)
PFKEY_PROC = Path("/proc/net/pfkey")
#: seconds after initiating without an ISAKMP-SA before the nd-deadlock fault is named
ND_GRACE = 5.0
#: racoon's log line when the kernel tells it that an IPsec SA of one of its phase 2 went
#: (pk_recvdelete, at every log level): it has sent the peer a Delete for that phase 2
PFKEY_DELETE_WORDS = "pfkey DELETE received"
#: releases whose admin socket answers `status` (racoonctl status -v -f json)
STATUS_RELEASES = ("0.9",)
#: seconds racoon may take to hear of an SA deleted in the kernel
DELETE_DEADLINE = 3.0
#: racoon's log line naming its unprivileged process
PRIVSEP_CHILD = re.compile(r"racoon unprivileged process running with PID (\d+)")
#: seconds the trigger waits for racoon's ISAKMP-SA before it asks for phase 2 all the same
PHASE1_WAIT = 5.0
#: a port nothing listens on, for the datagram whose ACQUIRE starts the negotiation
TRIGGER_PORT = 9

@cache
def _version(flavor: Flavor, tag: str) -> str:
    exe = flavor.which("racoon") or "racoon"
    out = runner.run([exe, "-V"], tag=tag, check=False, preexec=flavor.enter_new(Path("/tmp")))
    m = re.search(r"ipsec-tools (\S+)", out.stdout + out.stderr)
    return m.group(1) if m else "unknown"


def privsep_wrong(log: str, chroot: Path, proc: Path = Path("/proc")) -> str | None:
    """What is wrong with racoon's unprivileged process (the one its log names): not
    running, running as root, or not in the chroot; None when privsep is in force."""
    m = PRIVSEP_CHILD.search(log)
    if m is None:
        return "racoon's log names no unprivileged process"
    here = proc / m[1]
    try:
        uid = next(line.split()[1] for line in (here / "status").read_text().splitlines()
                   if line.startswith("Uid:"))
        root = os.readlink(here / "root")
    except (OSError, StopIteration):
        return f"its unprivileged process {m[1]} is gone"
    if uid == "0":
        return f"process {m[1]} runs as root"
    if Path(root) != chroot:
        return f"process {m[1]} has its root at {root}, not {chroot}"
    return None


class Racoon(Daemon):
    name = "racoon"
    #: racoon.conf(5) proposal_check obey (the default): the responder takes the
    #: initiator's proposal (not measured here: racoon is not installed)
    preference = "initiator"
    ike_versions = (1,)
    log_name = "racoon.log"
    #: PF_KEY installs hmac(sha256) with the pre-RFC 4868 96-bit ICV (Linux's default for
    #: SADB_X_AALG_SHA2_256HMAC); XFRM netlink users (pluto, charon) install 128 bits
    icv_bits: ClassVar[dict[str, int]] = {"sha256": 96}
    outcome_words = OUTCOME_WORDS
    #: racoonctl(8) has no rekey command; racoon renews phase 1 only when phase 2 needs it
    lifecycle_gaps: ClassVar[dict[str, str]] = {
        "rekey-ike": "racoon does not rekey an ISAKMP SA on its own (racoon.conf(5): phase 1"
                     " is negotiated again only when a phase 2 needs it)"}
    stale_files = ("racoon.pid", "racoon.sock")
    #: measured here with both releases (4in6 and 6in4, every peer): both kernels held the
    #: SAs, no packet used them, and every ping made racoon negotiate another phase 2
    no_mixed_families = (
        "racoon installs its SAs over PF_KEY, which on Linux cannot mark an SA as carrying"
        " another address family inside (XFRM_STATE_AF_UNSPEC, XFRM netlink only): 4in6 and"
        " 6in4 traffic never uses racoon's SAs")
    ike_sa_words = r"ISAKMP-SA established"

    def __init__(self, scenario: Scenario, ctx: PeerContext) -> None:
        super().__init__(scenario, ctx)
        self._initiated_at: float | None = None

    # -- capabilities ---------------------------------------------------------
    @classmethod
    def binaries(cls) -> tuple[str, ...]:
        return ("racoon", "setkey")

    @classmethod
    def missing(cls, flavor: Flavor) -> str | None:
        absent = [exe for exe in cls.binaries() if flavor.which(exe) is None]
        if not absent:
            return None
        if flavor.source in (*RACOON_RELEASES, *RACOON_VARIANTS):
            how = f"build it with: ipsec-lab setup --flavors={flavor.name}"
        else:
            how = ("ipsec-tools is in no Debian suite: use racoon@" + " or racoon@".join(
                RACOON_RELEASES) + " (ipsec-lab setup builds them), or put your own build's"
                " racoon and setkey on PATH, or name its prefix as racoon@/PATH")
        return f"{flavor.name}: {' and '.join(absent)} not found {flavor.where} ({how})"

    @classmethod
    def never(cls, scenario: Scenario, side: str) -> str | None:
        """As the base says: IKEv1 only, no 4in6/6in4, and what racoon.conf cannot spell
        (AEAD, ECDSA, default proposals, ordered ESP lists; racoon 0.8.2 and 0.9.1 alike)."""
        version = scenario.ike_version_of(side)
        if version not in cls.ike_versions:
            return f"racoon speaks IKEv1 only (scenario asks for IKEv{version})"
        if scenario.topology == "host-to-net":
            return "the racoon driver renders no host-to-net policies (one side's subnet only)"
        return super().never(scenario, side) or algorithm_gap(scenario, side)

    @classmethod
    def unsupported(cls, scenario: Scenario, side: str, flavor: Flavor, tag: str) -> str | None:
        never = cls.never(scenario, side)
        if never:
            return f"{flavor.name}: {never}"
        if not PFKEY_PROC.exists():
            return (f"{flavor.name}: the running kernel has no PF_KEY ({PFKEY_PROC} is missing;"
                    " racoon and setkey need CONFIG_NET_KEY / the af_key module)")
        return cls.lifecycle_unsupported(scenario, side, flavor)

    @classmethod
    def lifecycle_unsupported(cls, scenario: Scenario, side: str, flavor: Flavor) -> str | None:
        """As the base says; and racoon as the responder cannot rekey first by a shorter
        lifetime of its own: with its default proposal_check (strict) it refuses an
        initiator's proposal with a longer lifetime ("long lifetime proposed"), and answers
        NO-PROPOSAL-CHOSEN (measured with Libreswan 5.2 and strongSwan 5.9.8)."""
        reason = super().lifecycle_unsupported(scenario, side, flavor)
        if reason or scenario.rekey_by != "lifetime" or side != scenario.responder \
                or scenario.actor_side != side:
            return reason
        life = (scenario.child_lifetime_of if scenario.lifecycle == "rekey-child"
                else scenario.ike_lifetime_of)
        if life(side) < life(scenario.initiator):
            return (f"{flavor.name}: as the responder racoon refuses a proposal whose lifetime"
                    f" is longer than its own ({life(scenario.initiator)} s > {life(side)} s:"
                    " proposal_check strict, its default)")
        return None

    @classmethod
    def version(cls, flavor: Flavor, tag: str) -> str:
        return _version(flavor, tag)

    # -- pure -----------------------------------------------------------------
    def render(self) -> dict[str, str]:
        return RacoonConf(self, self._seen, self.privsep).render()

    @property
    def _seen(self) -> str:
        """The other peer's address as this one sees it (behind a NAT: the router's)."""
        other = other_side(self.side)
        return self.scenario.address_seen(other, self.side)

    @property
    def privsep(self) -> bool:
        """The flavor is a privilege-separated racoon (racoon@privsep-0.9.1)."""
        return self.ctx.flavor.source.startswith(PRIVSEP_PREFIX)

    @property
    def log_path(self) -> Path:
        """Under privsep the negotiating process cannot open racoon.log again inside its
        chroot and logs to its stderr (racoon -F), which the lab keeps as racoon.log.out."""
        if self.privsep:
            return self.ctx.dir / (self.log_name + ".out")
        return super().log_path

    # -- running --------------------------------------------------------------
    def _exe(self, name: str) -> str:
        return self.ctx.flavor.which(name) or name

    @property
    def sock(self) -> Path:
        """The admin socket as the daemon sees it."""
        return self.ctx.home / "racoon.sock"

    def _load_spd(self) -> None:
        conf = self.ctx.home / "setkey.conf"
        out = self.tool([self._exe("setkey"), "-f", str(conf)], check=False)
        words = (out.stderr + out.stdout).strip()
        if out.returncode != 0:
            first = words.splitlines()[0] if words else f"setkey exit {out.returncode}"
            raise DaemonError(f"racoon ({self.side}): setkey refused {self.ctx.dir}/setkey.conf:"
                              f" {first}")

    def _ready(self) -> bool:
        """racoon answers a command on its admin socket (racoon_admin: a whole, valid
        request, never an empty connection, which racoon logs as an error)."""
        if racoon_admin.answers(self.ctx.dir / "racoon.sock", timeout=1.0):
            return True
        return "used as isakmp port" in self.log_text()

    def crashed(self) -> str | None:
        """As the base says, naming the config racoon read (it exits on a bad one)."""
        if self.proc is None or self.stopped or self.proc.poll() is None:
            return None
        return (f"racoon ({self.side}) exited with status {self.proc.returncode}"
                f" ({self.ctx.dir}/racoon.conf): {self.last_words()}")

    def launch(self) -> None:
        self._load_spd()
        home = self.ctx.home
        self.proc = self.spawn([self._exe("racoon"), "-F", "-f", str(home / "racoon.conf"),
                                "-l", str(home / self.log_name)])

    def wait_started(self) -> None:
        self.wait_ready(self._ready)
        if self.privsep:
            self.wait_ready(lambda: PRIVSEP_CHILD.search(self.log_text()), deadline=5.0,
                            what="starting its unprivileged process (privsep)")
            wrong = privsep_wrong(self.log_text(), self.ctx.dir / PRIVSEP_ROOT)
            if wrong:
                raise DaemonError(f"racoon ({self.side}): privsep is not in force: {wrong}")

    def load(self) -> None:
        """racoon read everything at start; only make sure it is still running."""
        reason = self.crashed()
        if reason:
            raise DaemonError(reason)

    @property
    def _inet(self) -> str:
        """racoonctl's name of the peers' (outer) address family."""
        return "inet6" if self.scenario.outer_family == 6 else "inet"

    def _trigger(self) -> None:
        """One datagram that matches the out policy: the kernel's ACQUIRE starts IKE.
        It is dropped while there is no SA; the verdict counts only later pings. In
        net-to-net it leaves from the gateway's own address in its subnet (on the LAN)
        to the host behind the other gateway, which the subnet policy covers."""
        src: str | None = None
        dst = self.other.address
        if self.peer.subnet:
            src = address(self.scenario, "gateway", self.side)[0]
            dst = address(self.scenario, "host", other_side(self.side))[0]
        family = socket.AF_INET6 if ":" in dst else socket.AF_INET
        try:
            with socket_in(self.ctx.netns, family, socket.SOCK_DGRAM) as s:
                if src:
                    s.bind((src, 0))
                s.sendto(b"ipsec-lab racoon trigger", (dst, TRIGGER_PORT))
        except OSError:
            pass  # e.g. EAGAIN while the SA is larval: the ACQUIRE has been sent all the same

    def initiate(self) -> None:
        """Phase 1 by racoonctl's establish-sa, then the trigger whose ACQUIRE asks for
        phase 2. The trigger waits (in a thread: initiate does not block) until racoon logs
        its ISAKMP-SA: a phase 2 asked for while phase 1 is still going on is queued, and
        racoon takes it up again only a second later ("request for establishing IPsec-SA
        was queued due to no phase1 found"). Without racoonctl the trigger starts both."""
        racoonctl = self.ctx.flavor.which("racoonctl")
        self._initiated_at = time.monotonic()
        if racoonctl is None:
            self._trigger()
            return
        before = self.ike_sas_logged()
        self.tool([racoonctl, "-s", str(self.sock), "establish-sa", "isakmp", self._inet,
                   self.peer.address, self._seen], check=False, timeout=10)
        threading.Thread(target=self._trigger_after_phase1, args=(before,), daemon=True,
                         name=f"racoon-{self.side}-trigger").start()

    def _trigger_after_phase1(self, before: int) -> None:
        end = time.monotonic() + PHASE1_WAIT
        while time.monotonic() < end and not self.stopped and self.ike_sas_logged() <= before:
            time.sleep(0.01)
        if not self.stopped:
            self._trigger()

    # -- failure --------------------------------------------------------------
    def nd_deadlock_explanation(self) -> str:
        a, b = self.peer.address, self.other.address
        return (f"fault nd-deadlock: {self.ctx.dir}/setkey.conf has no ICMPv6 neighbour-discovery"
                f" bypass, so its 'require ESP' policies between {a} and {b} also cover Neighbour"
                " Solicitations/Advertisements (types 135/136); without an SA they are dropped,"
                f" {a} cannot resolve {b}'s link-layer address, and IKE, which would make the SA,"
                " never reaches the peer")

    def _phase1_missing(self) -> bool:
        if self._initiated_at is None or time.monotonic() - self._initiated_at < ND_GRACE:
            return False
        return not any(isinstance(e, IsakmpSA) for e in parse_racoon_log(self.log_text()))

    def ended(self) -> Outcome | None:
        """As the base says; under the nd-deadlock fault, with the explanation, and a
        missing ISAKMP-SA after a grace counts as nothing happening (a timeout)."""
        outcome = super().ended()
        if self.scenario.fault != "nd-deadlock":
            return outcome
        if outcome:
            return Outcome(outcome.cls, f"{outcome.seen}; {self.nd_deadlock_explanation()}")
        if self._phase1_missing():
            return Outcome("timeout", f"racoon ({self.side}): no ISAKMP-SA {ND_GRACE:g} s after"
                                      f" initiating; {self.nd_deadlock_explanation()}")
        return None

    def status(self) -> DaemonStatus:
        """racoon 0.9 answers `status` on its admin socket with JSON (algorithms,
        identities, PFS group; kept as racoon-status.json); 0.8 states them in its debug log
        only (`log debug`: the accepted phase-1 proposal, the peer's ID, the matched phase-2
        bundle), which racoon.log holds."""
        log = self.log_text()
        if not _version(self.ctx.flavor, self.ctx.tag).startswith(STATUS_RELEASES):
            return racoon_debug_status(log, self.peer.address)
        try:
            text = racoon_admin.status_json(self.ctx.dir / "racoon.sock")
        except (OSError, ValueError) as exc:
            return replace(racoon_status(log, self.peer.address),
                           error=f"racoon ({self.side}): status on its admin socket: {exc}")
        (self.ctx.dir / "racoon-status.json").write_text(text)
        return racoon_json_status(text, log, self.peer.address, self.other.address)

    def delete(self) -> None:
        """Delete the connection as an ipsec-tools administrator does: the IPsec SAs with the
        peer first, then the ISAKMP SA (racoonctl(8) ``delete-sa isakmp {inet|inet6} src dst``).

        racoonctl alone is not enough in IKEv1: racoon then sends the peer a Delete for the
        ISAKMP SA only and purges its own IPsec SAs without a word (purge_remote), and the
        peer's phase-2 SAs outlive the ISAKMP SA. Deleting an IPsec SA in the kernel makes
        it tell racoon (SADB_DELETE), and racoon sends the peer a Delete for that phase 2
        while the ISAKMP SA still protects it ("pfkey DELETE received" in its log). The SPD
        stays: the lab's setkey script loaded it, not the negotiation."""
        racoonctl = self.ctx.flavor.which("racoonctl")
        if racoonctl is None:
            raise DaemonError(f"racoon ({self.side}): racoonctl not found"
                              f" {self.ctx.flavor.where}"
                              " (ipsec-tools builds it with adminport support): the teardown"
                              " check needs it to delete the connection")
        me = self.peer.address
        sas = [sa for sa in xfrm.dump(self.ctx.netns)
               if sa.proto in ("esp", "ah") and me in (sa.src, sa.dst) and sa.spi]
        if sas:
            # racoon tells the peer only of a phase 2 it counts as established: the kernel
            # can hold both SAs a moment before racoon logs "IPsec-SA established"
            spis = {sa.spi for sa in sas}
            self.wait_ready(lambda: spis <= self._established_spis(), deadline=DELETE_DEADLINE,
                            what="logging its IPsec SAs established")
            heard = self.log_text().count(PFKEY_DELETE_WORDS)
            xfrm.delete(self.ctx.netns, sas)
            self.wait_ready(lambda: self.log_text().count(PFKEY_DELETE_WORDS) > heard,
                            deadline=DELETE_DEADLINE, what="hearing the kernel's SA delete")
        self.tool([racoonctl, "-s", str(self.sock), "delete-sa", "isakmp", self._inet,
                   me, self._seen], timeout=10)

    def _established_spis(self) -> set[int]:
        return {e.spi for e in parse_racoon_log(self.log_text()) if isinstance(e, IpsecSA)}

    def outcome_lines(self) -> list[str]:
        """The log without its DEBUG lines: the outcome words are racoon's own verdicts
        (INFO, NOTIFY, ERROR), not the steps its debug output narrates; but for the one
        debug line that says a Main Mode message did not decrypt (``undecryptable``)."""
        lines = self.log_text().splitlines()
        return [ln for i, ln in enumerate(lines) if " DEBUG: " not in ln or undecryptable(lines, i)]

    def known_leftover(self, item: SA | Policy) -> str | None:
        """racoon keeps its inbound IPsec SA when the peer deletes a phase 2: on the peer's
        Delete it removes only the SA whose SPI the Delete names, the outbound one
        (purge_ipsec_spi in isakmp_inf.c: "don't delete inbound SAs at the moment"). An
        inbound SA is named, not failed, only where racoon's log shows that it purged the
        outbound SA of the same phase 2; it expires with its lifetime."""
        if not isinstance(item, SA) or item.dst != self.peer.address:
            return None
        log = self.log_text()
        partner = partners(log, self.peer.address).get(item.spi)
        if partner is None or partner not in purged_spis(log):
            return None
        return (f"racoon removed only the outbound SA 0x{partner:08x} that the peer's Delete"
                " named and keeps this inbound one until it expires (purge_ipsec_spi)")

    def status_commands(self) -> list[list[str]]:
        return [["setkey", "-D"], ["setkey", "-DP"]]
