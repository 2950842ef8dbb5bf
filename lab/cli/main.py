"""ipsec-lab: reproduce an interop cell from the command line, keep it up, get inside.

    ipsec-lab setup  [--flavors=LIST]        build the kernels and daemon trees into the cache
    ipsec-lab doctor                         what this machine can run, what is missing, the fix
    ipsec-lab render [scenario options]      the configs each daemon would get
    ipsec-lab run    [scenario options]      one negotiation, then a summary (exit 0 = pass)
    ipsec-lab up     [scenario options]      the same, and the lab stays up
    ipsec-lab list | exec PEER -- CMD | shell PEER | down    work with labs that are up
    ipsec-lab clean                          remove what interrupted or killed runs left
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from lab import options, owner
from lab.algorithms import parse_proposals
from lab.cli import doctor, keeper, labs, network, setup
from lab.cli.cleanup import clean
from lab.cli.summary import known_entry, print_settings, print_summary
from lab.daemons.base import PeerContext
from lab.daemons.registry import DAEMONS, cannot_run
from lab.errors import LabError, MissingError, UsageError
from lab.flavors import parse_flavor, tree_missing
from lab.kernel import confine, warm
from lab.kernel.choice import KernelChoice, choose, in_uml
from lab.kernel.uml import MEM_VAR, UmlKernel, check_cwd, find_own_kernel
from lab.matrix import PATHS
from lab.peers import read_file as read_network
from lab.run import TAG_VAR, no_programs
from lab.scenario.allowed import AUTHS, MODES, SIDES
from lab.scenario.files import load_scenario, scenario_to_dict
from lab.scenario.model import Scenario, seed_scenario
from lab.state import NAME_RULE
from lab.topology.table import TOPOLOGIES

#: set for a command a warm guest runs: the host said the kernel and the settings already
SAID_VAR = "IPSEC_LAB_RUN_SAID"


def _scenario_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("scenario (defaults: the source text's connection, IKEv2)")
    g.add_argument("--scenario", metavar="FILE", help="a scenario TOML file; the options below override it")
    g.add_argument("--left", metavar="FLAVOR", help="left (initiator) flavor, e.g. libreswan, "
                   "strongswan@sid, racoon, libreswan@/opt/my-build")
    g.add_argument("--right", metavar="FLAVOR", help="right (responder) flavor")
    g.add_argument("--ike", choices=("v1", "v2"), help="IKE version")
    g.add_argument("--mode", choices=MODES, help="transport or tunnel")
    g.add_argument("--ike-proposal", metavar="P", help="IKE proposal, e.g. aes128-sha1-modp2048;"
                   " several in order of preference with commas; or 'default'")
    g.add_argument("--esp", metavar="P", help="ESP proposal, e.g. aes128-sha1 or aes128gcm16;"
                   " several in order of preference with commas; or 'default'")
    g.add_argument("--psk", help="pre-shared key")
    g.add_argument("--auth", choices=AUTHS, help="psk, or certificates the lab makes: rsa, ecdsa")
    g.add_argument("--path", choices=tuple(PATHS), metavar="CASE",
                   help="a router between the peers and what it does: "
                   + ", ".join(PATHS) + " (as --lab-paths; nat and encap need IPv4 addresses)")


def build_scenario(args: argparse.Namespace) -> Scenario:
    options.check_not_empty({f"--{k.replace('_', '-')}": getattr(args, k) for k in
                             ("scenario", "left", "right", "ike_proposal", "esp")})
    options.check_rundir(getattr(args, "lab_rundir", None), "--rundir")
    # the run directories (_request) are what a confined guest may write (lab.kernel.confine)
    confine.allow_writes(Path(getattr(args, "lab_rundir", None) or ".lab-runs").resolve())
    s = load_scenario(args.scenario) if args.scenario else seed_scenario(
        ike_version=2, ike="aes128-sha1-modp2048")
    changes: dict[str, Any] = {}
    for side in SIDES:
        flavor = getattr(args, side)
        if flavor:
            parse_flavor(flavor, f"--{side}")
            changes[side] = replace(s.peer(side), flavor=flavor)  # keeps per-side settings
    if args.ike:
        changes["ike_version"] = int(args.ike[1])
    if args.mode:
        changes["mode"] = args.mode
    if args.ike_proposal:
        changes["ike"] = parse_proposals(args.ike_proposal, "--ike-proposal", needs_dh=True)
    if args.esp:
        changes["esp"] = parse_proposals(args.esp, "--esp", needs_dh=False)
    if args.psk is not None:
        changes["psk"] = args.psk
    if args.auth:
        changes["auth"] = args.auth
    if args.path:
        case = PATHS[args.path]
        # a router between the peers: the scenario's own, or the one of its kind
        topology = s.topology if TOPOLOGIES[s.topology].has_router else \
            "net-to-net-routed" if TOPOLOGIES[s.topology].subnets else "routed"
        changes.update(topology=topology, path=case.path, fragmentation=case.fragmentation,
                       encapsulation=case.encapsulation, expect=case.expect)
        if case.auth and not args.auth:
            changes["auth"] = case.auth
    s = s.with_(**changes)
    if not args.scenario:
        esp = "+".join(map(str, s.esp_list("left"))) or "default"
        path = f"-{args.path}" if args.path else ""
        s = s.with_(name=f"{s.left.flavor}->{s.right.flavor}-ikev{s.ike_version}-{s.mode}-{esp}"
                         f"{path}")
    return s


def _tag() -> str:
    """The run's tag, and its owner beside it (lab.owner): this process unless a run
    that started this one is the owner."""
    owner.claim()
    return os.environ.setdefault(TAG_VAR, f"ipl-cli-{os.getpid()}")


def _cannot_run(s: Scenario) -> str | None:
    """What the host can tell before a kernel is chosen: flavor trees and binaries.
    What the daemons and the kernel can do is asked in the kernel that will hold the
    SAs (lab.cli.agent), once it is chosen: racoon needs PF_KEY there, not here."""
    return cannot_run(s, _tag(), kernel=False)


# -- doctor, setup, render ---------------------------------------------------------
def cmd_doctor(args: argparse.Namespace) -> int:
    return doctor.cmd_doctor(args, _tag())


def cmd_render(args: argparse.Namespace) -> int:
    """Print the files each side would get. Runs no program (not a tree's daemon, not a
    probe): where a driver would ask its daemon for a version, the answer is "unknown"."""
    if args.scenario and read_network(args.scenario) is not None:  # nodes and connections
        with no_programs("ipsec-lab render runs no program"):
            return network.render(args, _tag())
    s = build_scenario(args)
    with no_programs("ipsec-lab render runs no program"):
        _render(s)
    return 0


def _render(s: Scenario) -> None:
    for side in SIDES:
        flavor = parse_flavor(s.peer(side).flavor, f"--{side}")
        missing = tree_missing(flavor)
        if missing:
            raise UsageError(f"{side}.flavor: {missing}")
        home = Path(f"/tmp/ipl-render/{side}")
        with tempfile.TemporaryDirectory(prefix="ipl-render-") as cache:  # certificates' keys
            ctx = PeerContext(side, f"ipl-render-{side[0]}", home, flavor, _tag(), Path(cache))
            for rel, text in DAEMONS[flavor.impl](s, ctx).render().items():
                print(f"==> {side} ({flavor.name}): {rel} <==\n{text}")


# -- run, up -----------------------------------------------------------------------
def _request(s: Scenario, args: argparse.Namespace, keep: bool) -> dict[str, Any]:
    base = Path(args.lab_rundir or ".lab-runs").resolve()
    name = getattr(args, "name", None) or "run"
    return {"op": "up", "scenario": scenario_to_dict(s), "tag": _tag(), "keep": keep,
            "ident": f"{owner.current()}-cli", "rundir": str(base / f"cli-{name}-{time.strftime('%H%M%S')}")}


def _kernel_for(s: Scenario, args: argparse.Namespace, travel: UmlKernel | None = None) -> KernelChoice:
    """The kernel a cell of ``s`` runs in (refused in one line if it cannot run here),
    said together with the scenario's settings: ``travel``, if given, else the choice."""
    reason = _cannot_run(s)
    if reason:
        raise UsageError(f"this cell cannot run here: {reason}")
    choice = choose(args.lab_kernel, args.lab_uml)
    if (choice.kind == "uml" or travel is not None) and not in_uml():
        check_cwd()
    if os.environ.get(SAID_VAR):  # the host said it, then handed the command to a warm guest
        return choice
    if travel is not None:
        print(f"kernel: {travel} booted with time-travel: the guest's clock skips idle waits,"
              " and the timings below are guest time", flush=True)
    else:
        print(f"kernel: {choice.describe()}", flush=True)
    print_settings(s)
    return choice


def asks_time_travel(s: Scenario) -> bool:
    """Whether a cell of ``s`` waits for things (a lifecycle event after the first SA:
    lifetimes, DPD, restarts) and so is worth a kernel whose clock skips idle time."""
    return getattr(s, "lifecycle", "none") not in ("none", "", None)


def _time_travel(s: Scenario, args: argparse.Namespace) -> UmlKernel | None:
    """Our own kernel, to boot with time-travel, when --time-travel and the scenario ask for it."""
    option = args.lab_time_travel
    if option == "off" or (option == "auto" and not asks_time_travel(s)):
        return None
    if in_uml():
        raise UsageError("--time-travel: this already runs inside a UML guest, which cannot boot"
                         " another kernel (use --time-travel=off)")
    try:
        kernel = find_own_kernel()
    except MissingError as exc:
        if option == "on":
            raise UsageError(f"--time-travel=on: {exc}") from None
        print(f"time travel: none, the cell runs in real time ({exc})", flush=True)
        return None
    return kernel


def cmd_run(args: argparse.Namespace) -> int:
    if args.scenario and read_network(args.scenario) is not None:  # nodes and connections
        return network.run(args, _tag(), _request(seed_scenario(), args, keep=False))
    s = build_scenario(args)
    travel = _time_travel(s, args)
    choice = _kernel_for(s, args, travel)
    if travel is None and choice.uml is not None and warm.wanted():
        # the same command line in this user's warm guest (lab.kernel.warm), which runs
        # the cell in its own process instead of a gateway's: what is said above is not said again
        os.environ[SAID_VAR] = "1"
        code = warm.run(["-m", "lab", *args.argv], kernel=choice.uml, tag=_tag(),
                        mem=os.environ.get(MEM_VAR, "768M"))
        if code is not None:
            return code
        del os.environ[SAID_VAR]  # no warm guest after all: this process says it all
    if in_uml() and travel is None:  # in the kernel that holds the SAs: the agent runs here
        answers: list[int | None] = []
        keeper.here(lambda msg: answers.append(_answer(s, msg)), _request(s, args, keep=False))
        return next((a for a in answers if a is not None), 1)
    gw = keeper.gateway(choice, _tag(), travel)
    try:
        for msg in keeper.call(gw, _request(s, args, keep=False)):
            answer = _answer(s, msg)
            if answer is not None:
                return answer
    finally:
        gw.exit()
    return 1


def _answer(s: Scenario, msg: tuple[Any, ...]) -> int | None:
    """One of the agent's messages said; the exit code once it is the last."""
    if msg[0] == "event":
        print(f"  {msg[1]}", flush=True)
        return None
    if msg[0] == "error":
        raise LabError(msg[1])
    return print_summary(msg[1], known_entry(s))


def cmd_up(args: argparse.Namespace) -> int:
    state = keeper.lab_state(args.name)
    network_file = bool(args.scenario) and read_network(args.scenario) is not None
    s = None if network_file else build_scenario(args)
    if args.lab_time_travel == "on":
        raise UsageError("--time-travel=on: refused, a lab that stays up must keep real time (while"
                         " it waits for you its clock would race ahead by days); use ipsec-lab run")
    if s is None:  # nodes and connections
        up = network.prepare_up(args, _tag(), _request(seed_scenario(), args, keep=True))
        keeper.take(state)
        return _keep_up(args, state, *up)
    keeper.take(state)  # atomic, before anything is said: a second `up --name X` fails here
    if s.lifecycle != "none":  # said, not silently dropped
        print(f"ipsec-lab up: the lifecycle event {s.lifecycle!r} is not run: a lab that stays up"
              " gets its SAs and waits for you (ipsec-lab run runs the event)", flush=True)
    try:
        choice = _kernel_for(s, args)
    except BaseException:
        keeper.remove(state)
        raise
    return _keep_up(args, state, choice, _request(s, args, keep=True), scenario_to_dict(s),
                    print_summary, ("left", "right"))


def _keep_up(args: argparse.Namespace, state: keeper.LabState, choice: KernelChoice,
             request: dict[str, Any], saved: dict[str, Any], summarize: Any,
             nodes: tuple[str, ...]) -> int:
    """Fork the keeper, which brings the lab up and keeps it; print what it says."""
    read_end, write_end = os.pipe()
    if os.fork() == 0:  # the keeper: it owns the lab, and a tag of its own
        os.close(read_end)
        state.claim()
        owner.become_owner()
        os.environ[TAG_VAR] = f"ipl-lab-{os.getpid()}"
        request = {**request, "tag": _tag(), "ident": f"{owner.current()}-cli"}  # the keeper's
        out = os.fdopen(write_end, "w", buffering=1)
        keeper.detach()
        log = os.open(state.dir / "keeper.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(log, 2)
        try:
            gw = keeper.gateway(choice, _tag())
            last = None
            for last in keeper.call(gw, request):
                out.write(json.dumps(last) + "\n")
            if last is None or last[0] == "error":  # nothing came up: nothing to keep
                gw.exit()
                return 1
            state.write({
                "name": args.name, "keeper": os.getpid(), "owner": str(owner.Owner.me()),
                "tag": _tag(), "kernel": choice.describe(),
                "scenario": saved, "created": time.strftime("%Y-%m-%d %H:%M:%S")})
            out.write(json.dumps(["ready"]) + "\n")
            out.close()
            keeper.serve(state, gw)
            gw.exit()
        finally:
            keeper.remove(state)
            os._exit(0)
    os.close(write_end)
    ok = False
    with os.fdopen(read_end) as inp:
        for line in inp:
            msg = json.loads(line)
            if msg[0] == "event":
                print(f"  {msg[1]}", flush=True)
            elif msg[0] == "error":
                raise LabError(msg[1])
            elif msg[0] == "done":
                ok = summarize(msg[1]) == 0
            elif msg[0] == "ready":
                print(f"lab {args.name!r} is up: ipsec-lab shell {nodes[0]} | ipsec-lab exec"
                      f" {nodes[-1]} -- ip xfrm state | ipsec-lab down"
                      f"{'' if args.name == 'lab' else ' --name ' + args.name}")
                return 0 if ok else 1
    print(f"error: the keeper of lab {args.name!r} ended early; see {state.dir}/keeper.log",
          file=sys.stderr)
    return 1


# -- list, exec, shell, down ----------------------------------------------------------
def cmd_clean(args: argparse.Namespace) -> int:
    for line in clean(dry_run=args.dry_run, everything=args.all):
        print(line)
    return 0


# -- the parser ---------------------------------------------------------------------
def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ipsec-lab", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 1)[1])
    sub = p.add_subparsers(dest="cmd", required=True, metavar="COMMAND")

    def add(name: str, func: Any, help_: str, kernel: bool = False, scenario: bool = False,
            named: bool = False) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help_, description=help_)
        sp.set_defaults(func=func)
        if scenario:
            _scenario_args(sp)
        if kernel:
            options.add_to_argparse(sp.add_argument_group("lab"), ("kernel", "uml", "rundir")
                                    + (("time-travel",) if scenario else ()))
        if named:
            sp.add_argument("--name", default="lab", help="the lab's name (default: lab; "
                            f"{NAME_RULE}); names are per user")
        return sp

    st = add("setup", setup.cmd_setup, "build what the lab needs into the cache (~/.cache/ipsec-lab):"
             " a UML kernel that boots here, our own UML, the daemon trees, racoon; what is there"
             " already is kept")
    setup.add_arguments(st)
    add("doctor", cmd_doctor, "which kernel the lab would use and why, the flavors with their "
        "versions, what is missing and the command that fixes it (exit 1 when the default run "
        "lacks something)", kernel=True)
    add("render", cmd_render, "print the configs the scenario gives each daemon; runs nothing",
        scenario=True)
    add("run", cmd_run, "one negotiation with live progress, then the SAs, the wire in tcpdump "
        "style, the verdict and the artifacts; exit 0 on pass", kernel=True, scenario=True)
    add("up", cmd_up, "like run, and the lab stays up for exec, shell and down", kernel=True,
        scenario=True, named=True)
    add("list", labs.cmd_list, "the labs that are up")
    ex = add("exec", labs.cmd_exec, "run a command in a peer's namespace and flavor, e.g. "
             "`ipsec-lab exec left -- ip xfrm state`", named=True)
    ex.add_argument("peer", metavar="PEER", help=labs.NODE_HELP)
    ex.add_argument("command", nargs=argparse.REMAINDER, help="-- CMD [ARGS...]")
    sh = add("shell", labs.cmd_shell, "an interactive shell in a peer's namespace and flavor", named=True)
    sh.add_argument("peer", metavar="PEER", help=labs.NODE_HELP)
    add("down", labs.cmd_down, "stop a lab that is up and remove it", named=True)
    cl = add("clean", cmd_clean, "remove what interrupted or killed runs left: the lab's "
             "processes (found by their tag), namespaces, UML kernels, state and work "
             "directories of runs whose owner process is gone; runs still going on, from any "
             "checkout, are left alone")
    cl.add_argument("--dry-run", action="store_true", help="only say what would be removed")
    cl.add_argument("--all", action="store_true", help="take every lab process and namespace "
                    "on this machine and all of this user's lab state, live runs included")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    try:
        return args.func(args)
    except (LabError, ValueError) as exc:
        print(f"ipsec-lab {args.cmd}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
