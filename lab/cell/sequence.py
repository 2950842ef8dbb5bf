"""The phase sequence of a cell, written once: every way in runs a cell through `run_cell`.

    up -> negotiate -> end as expected                     (the scenario expects a failure)
                    -> traffic -> judge -> delete -> check (it expects SAs)
    up -> negotiate -> lifecycle event -> delete -> check  (it names a lifecycle event)

The pytest fixtures (lab.plugin.cells: `lab.run`, `road_warrior.run`), `ipsec-lab run`
and `ipsec-lab up` (lab.cli.agent, in the kernel that holds the SAs, for both kinds of
cell; the warm-guest keeper serves those same requests) call it; what differs between them is
a parameter: ``keep`` (a lab that stays up: no delete and no lifecycle event),
``check`` (raise on the findings, or leave them in the result for the caller to print)
and ``before_delete`` (the caller's look at the verdict before the delete phase).

Both kinds of cell run through it: a two-peer `lab.cell.Cell` and a cell of more than two
peers (lab.remote.cell.NetworkCell: a road warrior or a hub), which have the same phases
(``up``, ``negotiate``, ``traffic``, ``judge``, ``delete``, ``check``) and say what they
expect (``expect``, ``lifecycle``). Each phase raises when it fails (a negotiation that
does not end as expected); the caller takes the cell down (``down()``) whatever happened.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from lab.errors import VerdictError
from lab.lifecycle.events import LifecycleVerdict, initiators, run_lifecycle
from lab.outcome import ESTABLISHED


class Phased(Protocol):
    """What the sequence asks of a cell (lab.cell.Cell, lab.remote.cell.NetworkCell)."""

    passed: bool

    @property
    def expect(self) -> str: ...

    @property
    def lifecycle(self) -> str: ...

    def up(self) -> None: ...

    def negotiate(self) -> Any: ...

    def traffic(self) -> Any: ...

    def judge(self) -> Any: ...

    def delete(self) -> Any: ...

    def check(self) -> None: ...


def run_cell(cell: Phased, *, keep: bool = False, check: bool = True,
             before_delete: Callable[[Any], None] | None = None) -> Any:
    """Run ``cell``'s phases in order (see the module); return what judged it: the
    verdict (lab.wire.verdict.Verdict, a LifecycleVerdict, a network cell's verdict
    lines) or, where the scenario expects a failure, the negotiation's Outcome.

    ``keep``: a lab that stays up: the sequence ends before the delete (a lifecycle
    scenario gets its first SAs, not its event; a cell that expects a failure ends at
    the negotiation). ``check``: raise VerdictError with the findings (the cell then has
    ``passed``); False leaves them in the result. ``before_delete``: called with the
    verdict before the delete phase (raising there ends the sequence)."""
    cell.up()
    if cell.lifecycle != "none" and not keep:
        return _lifecycle(cell, check, before_delete)
    outcome = cell.negotiate()
    if cell.expect != ESTABLISHED:
        if not keep:
            outcome = cell.end_as_expected()  # type: ignore[attr-defined]
            cell.passed = check
        return outcome
    cell.traffic()
    verdict = cell.judge()
    if keep:  # a lab that stays up keeps its SAs
        return verdict
    if before_delete is not None:
        before_delete(verdict)
    cell.delete()
    if check:
        cell.check()
        cell.passed = True
    return verdict


def _lifecycle(cell: Any, check: bool, before_delete: Callable[[Any], None] | None
               ) -> LifecycleVerdict:
    """A two-peer cell whose scenario names a lifecycle event (lab.lifecycle.events):
    the negotiation (both sides at once where the event says so), the event under
    continuous traffic and its checks, then the delete and its teardown check, whose
    findings are the verdict's ``teardown``."""
    cell.negotiate(initiators(cell.scenario))
    verdict = run_lifecycle(cell)
    if before_delete is not None:
        before_delete(verdict)
    if check:
        verdict.check()
    verdict.teardown = delete_after_event(cell)
    if check and verdict.teardown:
        raise VerdictError("\n".join(verdict.teardown))
    cell.passed = check
    return verdict


def delete_after_event(cell: Any) -> list[str]:
    """The teardown check after a lifecycle event, as every cell has it (not after delete,
    which was one, nor after dpd, where one side has already cleared). Where the responder
    initiated too both sides delete, first the one whose daemon brings a connection it
    initiated back up when only its peer deletes it (pluto 4.10 and 5.2, measured)."""
    s = cell.scenario
    if s.lifecycle in ("delete", "dpd"):
        return []
    if s.lifecycle not in ("simultaneous", "responder-initiates"):
        return [str(p) for p in cell.delete()]
    order = sorted((s.initiator, s.responder), key=lambda side: not cell.daemons[side].revives)
    return [str(p) for p in cell.delete(order=tuple(order))]
