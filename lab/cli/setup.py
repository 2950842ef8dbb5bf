"""ipsec-lab setup: the kernels, flavor trees and racoon builds, into the cache.

What ci/setup.sh did after the Debian packages and the .venv, with the same options; the
build scripts ship in the package (lab/provision/scripts). Everything already built is
kept, so a second run takes a second or so.
"""

from __future__ import annotations

import argparse
import sys

from lab.kernel.uml import cache_dir
from lab.provision.plan import plan
from lab.provision.progress import HEARTBEAT, Runner, script_env


def add_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--flavors", metavar="LIST", default="all",
                   help="all (default: the default matrix's trees and racoon releases), none, or"
                   " NAME@SUITE,racoon@RELEASE,... e.g. libreswan@sid,strongswan@sid")
    g.add_argument("--no-flavors", dest="flavors", action="store_const", const="none",
                   help="the kernels only (as --flavors=none)")
    p.add_argument("--no-own-uml", action="store_true",
                   help="skip our own UML kernel (about 10 min to build the first time; it boots"
                   " faster and gives lifecycle cells time travel)")
    p.add_argument("--dry-run", action="store_true", help="say what would run, run nothing")
    p.add_argument("--heartbeat", type=float, default=HEARTBEAT, metavar="SECONDS",
                   help="say a step is still at work after this long without output"
                   f" (default {HEARTBEAT:.0f})")


def cmd_setup(args: argparse.Namespace) -> int:
    steps = plan(args.flavors, own_uml=not args.no_own_uml)
    cache = cache_dir()
    if args.dry_run:
        print(f"setup: would run {len(steps.steps)} step{'s' * (len(steps.steps) != 1)} into {cache}:")
        for n, step in enumerate(steps.steps, 1):
            print(f"[{n}/{len(steps.steps)}] {step.title}: {step.command()}")
        for note in steps.notes:
            print(f"setup: {note}")
        return 0
    print(f"setup: {len(steps.steps)} step{'s' * (len(steps.steps) != 1)} into {cache} (anything there"
          " already is kept)", flush=True)
    done = Runner(sys.stdout, script_env(str(cache)), heartbeat=args.heartbeat).run(steps)
    return 0 if all(d.status == "ok" for d in done) else 1
