"""racoon (ipsec-tools): racoon.conf, psk.txt and a setkey SPD from the scenario
(lab.daemons.racoon: conf renders them, traits says what racoon can do, process starts it,
this module negotiates, reads its status and deletes the connection).

racoon speaks IKEv1 only and talks to the kernel over PF_KEY, which is per network
namespace: setkey and racoon started in the peer's namespace see only its SAD/SPD.
The SPD comes from setkey (racoon only fills it with SAs); the negotiation starts
when the kernel asks racoon for an SA (an ACQUIRE), i.e. when the first packet
matches a policy. Neither program is in any Debian suite: the driver works wherever
``racoon`` and ``setkey`` are on PATH (or in a flavor tree) and says which is not.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import replace

from lab import xfrm
from lab.daemons.base import PeerContext
from lab.daemons.racoon import admin
from lab.daemons.racoon.parse import IpsecSA, IsakmpSA, parse_racoon_log, partners, purged_spis, racoon_status
from lab.daemons.racoon.process import RacoonProcess
from lab.daemons.racoon.status import racoon_debug_status, racoon_json_status
from lab.daemons.racoon.traits import racoon_version, undecryptable
from lab.errors import DaemonError
from lab.outcome import Outcome
from lab.scenario import Scenario, other_side
from lab.status import DaemonStatus
from lab.topology.netns import socket_in
from lab.topology.table import address
from lab.xfrm import SA, Policy

#: seconds after initiating without an ISAKMP-SA before the nd-deadlock fault is named
ND_GRACE = 5.0
#: racoon's log line when the kernel tells it that an IPsec SA of one of its phase 2 went
#: (pk_recvdelete, at every log level): it has sent the peer a Delete for that phase 2
PFKEY_DELETE_WORDS = "pfkey DELETE received"
#: releases whose admin socket answers `status` (racoonctl status -v -f json)
STATUS_RELEASES = ("0.9",)
#: seconds racoon may take to hear of an SA deleted in the kernel
DELETE_DEADLINE = 3.0
#: seconds the trigger waits for racoon's ISAKMP-SA before it asks for phase 2 all the same
PHASE1_WAIT = 5.0
#: a port nothing listens on, for the datagram whose ACQUIRE starts the negotiation
TRIGGER_PORT = 9


class Racoon(RacoonProcess):
    """racoon negotiating: phase 1 by racoonctl, phase 2 by the kernel's ACQUIRE; its status,
    the connection's deletion, and the nd-deadlock fault explained."""

    def __init__(self, scenario: Scenario, ctx: PeerContext) -> None:
        super().__init__(scenario, ctx)
        self._initiated_at: float | None = None

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
        if not racoon_version(self.ctx.flavor, self.ctx.tag).startswith(STATUS_RELEASES):
            return racoon_debug_status(log, self.peer.address)
        try:
            text = admin.status_json(self.ctx.dir / "racoon.sock")
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
