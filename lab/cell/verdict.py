"""The verdict of a two-peer cell: every check it makes, started from here.

``judge(cell)``, after the traffic, runs each check in turn and gathers the findings
in one `Verdict` (lab.wire.verdict):

- the wire and the SAs: everything between the peers is ESP on the SPIs both kernels
  hold, sequence numbers 1, 2, 3, ..., both kernels agree field by field (lab.wire.verdict);
- the path: what the scenario's path conditions must show (lab.wire.pathcheck), the ESP
  lengths (lab.wire.esplength), IKE retransmissions (lab.wire.retransmit, where asked);
- the ESP decrypts to the echoes that were sent (lab.wire.decrypt);
- what each daemon reports it negotiated matches the scenario (lab.negotiated);
- the kernels' policies are the scenario's selectors (lab.wire.selectors);
- the daemons' logs (log_must / log_must_not, lab.logcheck);
- must_not_pass: the probes that must not cross (lab.wire.blocked).

``delete(cell)``, the phase after it, is the teardown check (lab.teardown): the
initiator deletes the connection its daemon's own way, then neither kernel may hold an
SA or a policy of the cell. ``end_as_expected(cell)`` is the verdict of a cell whose
expected failure came. A lifecycle cell's event is judged by lab.lifecycle, a cell of
more than two peers by lab.remote.judge; the sequence that calls these is lab.cell.sequence.
"""

from __future__ import annotations

import contextlib
import time
from typing import TYPE_CHECKING

from lab import run as runner
from lab import teardown, xfrm
from lab.cell import collect
from lab.errors import DaemonError, DeadlineError, VerdictError
from lab.logcheck import MISSING, judge_log
from lab.negotiated import Problem
from lab.negotiated import check as check_negotiated
from lab.outcome import Outcome
from lab.scenario import SIDES
from lab.topology import impair
from lab.wire import blocked, esplength, nat, pathcheck, retransmit, selectors
from lab.wire.decrypt import decrypt
from lab.wire.verdict import Verdict
from lab.wire.verdict import judge as judge_wire

if TYPE_CHECKING:
    from lab.cell.state import CellState

#: seconds a log_must line that is not there yet is waited for
LOG_GRACE = 3.0


def judge(cell: CellState) -> Verdict:
    """Every check of the cell's SAs and traffic (see the module); the findings are the
    verdict's problems (Verdict.check raises with them)."""
    s = cell.scenario
    with cell.phase("dissect"):  # stop() dissects what the capture holds (scapy)
        assert cell.capture is not None and cell.ping is not None
        cell.capture.stop()
        packets = nat.mapped(cell.capture.packets, cell.inside)
        collect.count_ike(cell, packets)
    with cell.phase("verdict"):
        cell.sas = cell.held()
        verdict = cell.verdict = judge_wire(s, packets, cell.sas, cell.ping)
        verdict.problems += pathcheck.check(s, packets, cell.ike_counts, cell.ping)
        pair = {s.left.address, s.right.address}
        verdict.problems += esplength.findings(packets, pair, s.esp_length)
        if s.fail_on_retransmit:
            verdict.problems += retransmit.findings(
                cell.ike_counts, {side: f"{side} ({d.name})" for side, d in cell.daemons.items()})
    with cell.phase("decrypt"):
        cell.decryption = decrypt(packets, [sa for held in cell.sas.values() for sa in held],
                                  cell.ping, lossy=s.path.lossy)
        verdict.problems += [f"(e) {p}" for p in cell.decryption.problems]
    with cell.phase("negotiated"):
        statuses = {side: daemon.status() for side, daemon in cell.daemons.items()}
        cell.negotiated = check_negotiated(s, cell.sas, statuses, cell.sides())
        verdict.negotiated = cell.negotiated
        verdict.add(cell.negotiated.problems)
        held = {side: xfrm.dump_policies(cell.topology.netns(side)) for side in SIDES}
        verdict.problems += selectors.findings(s, held)
    with cell.phase("logs"):
        verdict.problems += log_findings(cell)
    with cell.phase("must not pass"):  # its own capture: the pings' counts stay theirs
        cell.probes = blocked.run(s, cell.topology)
        verdict.problems += blocked.findings(cell.probes)
    return verdict


def log_findings(cell: CellState) -> list[str]:
    """Each side's log_must / log_must_not patterns against its daemon's log, named as
    the run directory holds it (SIDE/LOG: the cell's own directory is gone by then).
    A log_must line not there yet is waited for up to LOG_GRACE seconds: the peer's
    last message (an AUTHENTICATION_FAILED notify) may still be on its way."""
    end = time.monotonic() + LOG_GRACE
    while True:
        found = []
        for side, daemon in cell.daemons.items():
            peer = cell.scenario.peer(side)
            if peer.log_must or peer.log_must_not:
                found += judge_log(f"{side} ({daemon.name})", f"{side}/{daemon.log_path.name}"
                                   " of the run directory", daemon.log_text(),
                                   peer.log_must, peer.log_must_not)
        if not any(MISSING in f for f in found) or time.monotonic() >= end:
            return found
        time.sleep(0.1)


def end_as_expected(cell: CellState) -> Outcome:
    """A cell whose expected failure came: SAs it made all the same (a mode mismatch)
    must go with the initiator's delete like any other's (the teardown check)."""
    assert cell.outcome is not None
    problems = [str(p) for p in delete(cell)] if cell.outcome.sas else []
    # (a failed negotiation's half SAs are not the teardown check's business)
    problems += log_findings(cell)
    if problems:
        raise VerdictError("\n".join(problems))
    return cell.outcome


def left_behind(cell: CellState) -> dict[str, tuple[list[str], list[str]]]:
    """Per side, what its kernel holds of the cell (and the known leftovers, notes)."""
    return {side: teardown.left_behind(xfrm.dump(cell.topology.netns(side)),
                                       xfrm.dump_policies(cell.topology.netns(side)),
                                       cell.baseline.get(side, set()),
                                       cell.daemons[side].known_leftover)
            for side in SIDES}


def delete(cell: CellState, order: tuple[str, ...] = ()) -> list[Problem]:
    """The teardown check: the initiator deletes the connection its daemon's own
    way; then neither kernel may hold an SA or a policy of the cell. ``order``: where
    both sides initiated, the sides that delete, in this order (a daemon that
    initiated a connection may bring it back when only its peer deletes it)."""
    with cell.phase("delete"):
        # The teardown check runs on a clean path: pluto sends its Delete once, so on a
        # lossy path the responder would keep its SAs by chance (the NAT stays)
        impair.heal(cell.topology)
        sides = cell.sides()
        initiator = cell.scenario.initiator
        order = order or (initiator,)
        late: list[str] = []
        try:
            cell.daemons[order[0]].delete()
            cell.deleted = order[:1]
            for side in order[1:]:  # the peer may be deleting the same SAs: the kernels
                try:                # say whether anything is left
                    cell.daemons[side].delete()
                except DaemonError as exc:
                    late.append(f"the second delete, by {sides[side]}, failed: {exc}")
        except DaemonError as exc:
            problems = [Problem("teardown", f"teardown: {exc}")]
        else:
            state: dict[str, tuple[list[str], list[str]]] = {}

            def clean() -> bool:
                state.update(left_behind(cell))
                # a known leftover (a note) never goes: wait only for the rest
                return not any(items for items, _ in state.values())

            with contextlib.suppress(DeadlineError):
                runner.wait_until(clean, deadline=cell.delete_deadline, interval=0.01,
                                  what="both kernels clean after the delete")
            held = {side: items for side, (items, _) in state.items()}
            problems = teardown.check(sides[initiator], held, sides)
            notes = late + [f"after the delete, {sides[side]} kept {note}"
                            for side, (_, side_notes) in state.items() for note in side_notes]
            if cell.negotiated is not None:
                cell.negotiated.lines += notes
            if cell.record is not None:
                for note in notes:
                    cell.record.act("", note)
        if cell.verdict is not None:
            cell.verdict.add(problems)
        return problems
