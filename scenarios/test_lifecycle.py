"""After the first SA: rekeys of the Child SA and of the IKE SA (by command and by
lifetime, started by either side), a daemon killed and started again, a peer that
vanishes (DPD), a delete, both sides initiating at once, and the responder initiating,
all under an echo stream every 20 ms (lab.lifecycle).

Without --lab-lifecycle a small default set runs (lab.matrix.DEFAULT_LIFECYCLE_*);
``--lab-lifecycle=rekey-child,dpd`` gives every variant of the events it names over every
pair of --lab-flavors (or --lab-pairs) and --lab-ike. Every cell writes timeline.txt into
its artifacts: the lab's actions, both kernels' XFRM events, the daemons' log lines, the
wire's SPIs and every lost echo, on the guest's monotonic clock.

The 1-hour cells need a UML whose clock skips idle time (time-travel); elsewhere they
skip saying so.

A cell that scenarios/known-incompatibilities.toml describes (its ``lifecycles`` field) is a
strict expected failure: every finding of the cell must be one the entry's words name (any
other finding fails it as usual), and a pass fails loudly.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.errors import LabError
from lab.kernel.choice import time_travel
from lab.known import KnownFailure, load_for_pytest, run_version, xfail_marks
from lab.lifecycle.events import LifecycleVerdict
from lab.matrix import LifecycleCell, MatrixSelection, lifecycle_cells
from lab.timetravel import waits_on_timers

KNOWN_FILE = Path(__file__).parent / "known-incompatibilities.toml"

#: the rekeys with real lifetimes of one hour (time-travel kernels only)
HOUR_CELLS = (LifecycleCell("libreswan@bookworm", "strongswan@sid", 2, "rekey-child",
                            "lifetime-initiator", long_life=3600),
              LifecycleCell("strongswan@bookworm", "libreswan@sid", 2, "rekey-ike",
                            "lifetime-responder", long_life=3600))
#: (daemon of the side that does not act, event[, IKE version]) -> a race that loses an echo
#: now and then, measured: an expected failure that may pass (not strict); on top of a
#: known incompatibility's findings (known-incompatibilities.toml) too
RACY: dict[tuple[str, str] | tuple[str, str, int], str] = {
    ("libreswan", "rekey-child"): "pluto as the rekey responder sends on its new outbound SA"
    " at once, before the initiator has installed the matching inbound SA: an echo in flight"
    " then is lost (measured with pluto 4.10 and 5.2, IKEv1 and IKEv2, in about 1 of 3 runs)",
    ("strongswan", "responder-initiates"): "charon 5.9.8, answering pluto's CREATE_CHILD_SA for"
    " a second Child SA, sends on the new outbound SA at once, before pluto has installed the"
    " matching inbound SA: an echo in flight then is lost (measured, about 1 run in 2)",
    ("strongswan", "rekey-child", 1): "charon 5.9.8 as the responder of an IKEv1 Quick Mode"
    " rekey sends on its new outbound SA at once, before the initiator has installed the"
    " matching inbound SA: an echo in flight then is lost (measured with strongSwan 5.9.8 at"
    " both ends: 1 of 14 runs, on top of ikev1-rekey-by-command-strongswan-pair-keeps-old-child-sa)",
    ("libreswan", "responder-initiates", 1): "pluto 4.10, answering strongSwan 5.9.8's second"
    " Quick Mode (IKEv1, the responder initiates), sends on its new outbound SA at once,"
    " before strongSwan has installed the matching inbound SA: an echo in flight then is lost"
    " (measured: 1 of 6 runs, on top of ikev1-second-child-sa-strongswan-one-out-two-in)",
}
#: (initiator's daemon, responder flavor, event) -> a teardown that fails now and then,
#: measured (the teardown check's only finding: a kernel still holds SAs of the cell)
RACY_TEARDOWN = {
    ("strongswan", "libreswan@sid", "simultaneous"): "pluto 5.2, holding two IKE SAs after"
    " both sides initiated, may delete the one it responded to without a Delete (\"deleting"
    " IKE SA (established IKE SA)\"); charon (5.9.8, 6.1.0) then keeps that IKE SA's Child"
    " SAs, and its own delete goes unanswered (\"no corresponding IKE SA\"); 5 of 9 runs",
}
NO_TIME_TRAVEL = ("needs a UML booted with time-travel (ipsec-lab setup builds one; this"
                  " guest was not booted with it): a 1-hour lifetime would take an hour here")


def _selection(config: pytest.Config) -> MatrixSelection:
    opt = config.option
    return MatrixSelection.from_pytest(opt)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "lcell" not in metafunc.fixturenames:
        return
    opt = metafunc.config.option
    try:
        cells = lifecycle_cells(_selection(metafunc.config), opt.lab_lifecycle)
    except LabError as exc:
        raise pytest.UsageError(str(exc)) from None
    params = []
    entries = load_for_pytest(KNOWN_FILE)
    for c in cells:
        # a lifecycle cell waits (a lifetime, DPD, its traffic windows before the event and
        # after its effect): faster under time-travel (a restart stays in real time)
        marks = [pytest.mark.time_travel(required=False)] if waits_on_timers(c.scenario()) else []
        entry = entries.matching(c.scenario(), run_version)
        if entry:
            marks += xfail_marks(entry)
        params.append(pytest.param(c, id=c.id, marks=marks))
    if not opt.lab_lifecycle:
        params += [pytest.param(c, id=c.id, marks=[pytest.mark.time_travel(required=True)])
                   for c in HOUR_CELLS]
    metafunc.parametrize("lcell", params)


@pytest.mark.lab
def test_lifecycle(lab, lcell: LifecycleCell) -> None:
    if lcell.long_life and not time_travel():
        pytest.skip(NO_TIME_TRAVEL)
    scenario = lcell.scenario()
    entry = load_for_pytest(KNOWN_FILE).matching(scenario, run_version)
    bystander = lcell.responder if lcell.actor == "initiator" else lcell.initiator
    daemon = bystander.partition("@")[0]
    racy = RACY.get((daemon, lcell.event)) or RACY.get((daemon, lcell.event, lcell.ike_version))

    def judged(verdict: LifecycleVerdict) -> None:  # the event's findings, before the delete
        # the findings a known entry does not explain: the race may come on top of it
        rest = [p for p in verdict.problems if not (entry and entry.explains(p))]
        if racy and rest and all(p.startswith("(d) 1 echo") for p in rest):
            also = f" (besides {entry.id})" if len(rest) < len(verdict.problems) and entry else ""
            pytest.xfail(f"{racy}: {rest[0]}{also}")  # that race and nothing else
        if entry and entry.explains_all(verdict.problems):  # that finding and nothing else
            raise KnownFailure(f"{entry.id}: " + "\n".join([*verdict.problems, *verdict.lines()]))
        verdict.check()

    verdict = lab.run(scenario, check=False, before_delete=judged)
    problems = verdict.teardown  # the teardown check, as every cell has it
    racy_teardown = RACY_TEARDOWN.get((lcell.initiator.partition("@")[0], lcell.responder,
                                       lcell.event))
    if racy_teardown and problems and all("kernel still holds" in p for p in problems):
        pytest.xfail(f"{racy_teardown}: {problems[0]}")  # that race and nothing else
    if entry and entry.explains_all(problems):
        raise KnownFailure(f"{entry.id}: " + "\n".join(problems))
    assert not problems, "\n".join(problems)
