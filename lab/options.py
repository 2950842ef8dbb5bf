"""Options defined once, for the pytest plugin (``--lab-NAME``) and the command line (``--NAME``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lab.errors import UsageError
from lab.kernel.choice import CHOICES as KERNEL_CHOICES
from lab.kernel.choice import TIME_TRAVEL_CHOICES


@dataclass(frozen=True)
class Option:
    name: str  # without dashes or prefix
    help: str
    default: Any = None
    choices: tuple[str, ...] | None = None
    flag: bool = False
    metavar: str | None = None

    @property
    def dest(self) -> str:
        return "lab_" + self.name.replace("-", "_")


OPTIONS: tuple[Option, ...] = (
    Option("kernel", "which kernel holds the SAs: auto (the host if it can do ESP, else "
           "User-Mode Linux), host, or uml", "auto", KERNEL_CHOICES),
    Option("uml", "the UML kernel binary (default: the one `ipsec-lab setup` cached, else "
           "/usr/bin/linux.uml)", metavar="PATH"),
    Option("time-travel", "boot our own UML (`ipsec-lab setup` builds it) with time-travel, whose "
           "clock skips idle waits, for the cells that ask for it (tests marked time_travel; with ipsec-lab "
           "run, a scenario with a lifecycle): auto (where that kernel is built, else real time), "
           "on (a missing kernel is an error; ipsec-lab run: whatever the scenario), off (real "
           "time everywhere). Never for labs that stay up", "auto", TIME_TRAVEL_CHOICES, metavar="WHEN"),
    Option("rundir", "where run directories (artifacts) go (default: .lab-runs/ under the "
           "rootdir)", metavar="DIR"),
    Option("flavors", "flavors in the matrix, comma-separated, each NAME, NAME@SUITE or "
           "NAME@/path (default: libreswan@bookworm,libreswan@sid,strongswan@bookworm,"
           "strongswan@sid,racoon)", metavar="LIST"),
    Option("ike", "IKE versions in the matrix: 1, 2 or 1,2 (default)", metavar="LIST"),
    Option("modes", "modes in the matrix: transport, tunnel (default both)", metavar="LIST"),
    Option("proposals", "proposal sets in the matrix: aes128-sha1, aes256-sha256, aes128gcm16, "
           "3des-md5 (default all)", metavar="LIST"),
    Option("pairs", "only these INITIATOR->RESPONDER flavor pairs, comma-separated "
           "(default: every pair of --lab-flavors, both orders)", metavar="LIST"),
    Option("topologies", "topologies in the matrix, comma-separated: host-to-host, net-to-net, "
           "routed, net-to-net-routed, and of more than two peers road-warrior, hub (default: "
           "host-to-host, plus net-to-net for the aes128-sha1 set, and road-warrior and hub; "
           "--lab-paths go to each one named with a router, else to routed)",
           metavar="LIST"),
    Option("families", "address families in the matrix, comma-separated: ipv6, ipv4, 4in6 "
           "(IPv4 inside IPv6 ESP), 6in4 (mixed ones in net-to-net only; default: ipv6, plus "
           "the others for the aes128-sha1 set)", metavar="LIST"),
    Option("auth", "authentications in the matrix, comma-separated: psk, rsa, ecdsa (certificates "
           "the lab makes per run; default: psk, plus rsa and ecdsa in IKEv2 and rsa in IKEv1, "
           "tunnel mode, for the aes256-sha256 set)", metavar="LIST"),
    Option("paths", "conditions of the path between the peers, comma-separated (a router in "
           "between): loss20, delay100, dup10, rate256, drop1, drop1resp, mtu1280, "
           "mtu1280nofrag, mtu1280fragdrop, nat, encap; naming any gives only those, over the whole grid "
           "(default: drop1 and nat, IKEv2 tunnel aes128-sha1, between different daemons)",
           metavar="LIST"),
    Option("lifecycle", "lifecycle events in the lifecycle grid (scenarios/test_lifecycle.py), "
           "comma-separated: rekey-child, rekey-ike, restart, dpd, delete, simultaneous, "
           "responder-initiates; naming any gives every variant of it over every pair of "
           "--lab-flavors/--lab-pairs and --lab-ike (default: a small set)", metavar="LIST"),
    Option("repeat", "run every lab cell N times, each run its own test (id suffix -repIofN), "
           "and report each cell's pass ratio at the end (default 1)", metavar="N"),
    Option("warm", "keep a worker's namespaces and daemons from one whole cell (lab.run) to the "
           "next where the topology and a daemon's flavor and global settings are the same; the "
           "cell loads and unloads its connection through the daemon's control interface "
           "(lab.warm): on (default) or off (every cell starts its own)", "on", ("on", "off")),
    Option("keep-artifacts", "keep every cell's run directory, not only those of failed cells "
           "(pcap, configs, logs, SA dumps)", False, flag=True),
    Option("pcap", "write every cell's capture.pcap (and esp_sa) to its run directory, "
           "passing cells too", False, flag=True),
    Option("keep-up", "when a cell fails, bring its scenario up again at the end of the run as "
           "lab 'failed', which stays up for `ipsec-lab shell`/`exec` (`ipsec-lab down --name "
           "failed` ends it)", False, flag=True),
)


def _kwargs(opt: Option) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"dest": opt.dest, "help": opt.help}
    if opt.flag:
        kwargs["action"] = "store_true"
    else:
        kwargs.update(default=opt.default, metavar=opt.metavar or opt.name.upper())
        if opt.choices:
            kwargs["choices"] = list(opt.choices)
    return kwargs


def add_to_pytest(group: Any) -> None:
    for opt in OPTIONS:
        group.addoption(f"--lab-{opt.name}", **_kwargs(opt))


def add_to_argparse(parser: Any, names: tuple[str, ...] | None = None) -> None:
    for opt in OPTIONS:
        if names is None or opt.name in names:
            parser.add_argument(f"--{opt.name}", **_kwargs(opt))


#: host directories a UML guest covers with its own file systems (lab.kernel.guest, confine);
#: the guest binds run directories under /tmp back to the host's, these it cannot
GUEST_OWN = ("/run", "/dev", "/proc", "/sys")


def check_rundir(value: str | None, option: str) -> None:
    """A run directory is a directory or can become one: not a file, not below a file."""
    if value is None:
        return
    allowed = "a directory, made if missing"
    if not value.strip() or "\0" in value:
        raise UsageError(f"{option}: {value!r} is not a path (allowed: {allowed})")
    path = Path(value).absolute()
    hidden = next((top for top in GUEST_OWN if path.is_relative_to(top)), None)
    if hidden:
        raise UsageError(f"{option}: {value!r} is under {hidden}, which a UML guest mounts afresh:"
                         f" what it writes there never reaches the host (allowed: {allowed} outside"
                         f" {', '.join(GUEST_OWN)})")
    for at in (path, *path.parents):
        try:
            is_dir = at.is_dir()
            exists = is_dir or at.exists()
        except OSError as exc:
            raise UsageError(f"{option}: {value!r}: {exc.strerror or exc} (allowed: {allowed})") from None
        if exists and not is_dir:
            where = "is a file" if at == path else f"is below the file {str(at)!r}"
            raise UsageError(f"{option}: {value!r} {where} (allowed: {allowed})")
        if exists:
            return


def check_not_empty(values: dict[str, str | None]) -> None:
    """``--opt=`` gives an empty string: refused, never read as "not given"."""
    for option, value in values.items():
        if value is not None and not value.strip():
            raise UsageError(f"{option}: empty (allowed: leave the option out for its default)")
