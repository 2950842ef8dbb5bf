"""PID 1 of a lab UML kernel: make the guest fit for the lab, then run one program.

The host filesystem is the guest's root. This sets up /proc, /sys, fresh tmpfs
on /tmp and /run (daemons write pid files and sockets there, never into the
host's), loads the IPsec and crypto modules in-process, connects the program's
stdin/stdout to the serial line (a clean byte channel once raw), runs it, and
powers the kernel off when it exits.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import sys
import time
import traceback
import tty
from pathlib import Path

from lab import owner
from lab.kernel import modules
from lab.kernel.serial import READY, guest_relay

LINUX_REBOOT_CMD_POWER_OFF = 0x4321FEDC
TIME_TRAVEL_POLL = 60.0  # seconds of guest time
MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_BIND = 2, 4, 8, 4096


def mount(libc: ctypes.CDLL, fstype: str, target: str, flags: int = 0, data: str = "") -> None:
    if libc.mount(fstype.encode(), target.encode(), fstype.encode(), flags,
                  data.encode() or None) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {fstype} on {target}: {os.strerror(err)}")


def bind(libc: ctypes.CDLL, source: str, target: str) -> None:
    if libc.mount(source.encode(), target.encode(), None, MS_BIND, None) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"bind {source} on {target}: {os.strerror(err)}")


def prepare(libc: ctypes.CDLL, boot: dict, log) -> None:  # type: ignore[no-untyped-def]
    started = time.monotonic()
    mount(libc, "proc", "/proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    mount(libc, "sysfs", "/sys", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    if not Path("/dev/ttyS0").exists():
        mount(libc, "devtmpfs", "/dev", MS_NOSUID)
    Path("/dev/pts").mkdir(exist_ok=True)
    if not os.path.ismount("/dev/pts"):  # terminals for `ipsec-lab shell` and tmux
        mount(libc, "devpts", "/dev/pts", MS_NOSUID | MS_NOEXEC, "ptmxmode=0666,mode=620")
    # Modules first: the kernel's tree may live under the host's /tmp, hidden below.
    release = Path(boot["modules"])
    failed: list[str] = []
    wanted = [*modules.LAB_MODULES, *modules.crypto_modules(release)]
    loaded = modules.load(release, wanted, failed)
    mount(libc, "tmpfs", "/run", MS_NOSUID | MS_NODEV, "mode=755")
    keep = [Path(p) for p in boot["keep"] if p and Path(p).is_relative_to("/tmp") and Path(p).exists()]
    if keep:  # host paths under /tmp the program needs: bind them back over the tmpfs
        Path("/run/host-tmp").mkdir()
        bind(libc, "/tmp", "/run/host-tmp")
    mount(libc, "tmpfs", "/tmp", MS_NOSUID | MS_NODEV, "mode=1777")
    for path in keep:
        path.mkdir(parents=True, exist_ok=True)
        bind(libc, str(Path("/run/host-tmp") / path.relative_to("/tmp")), str(path))
    # Everything an SA can ask for is loaded: stop the kernel from forking a helper
    # for each crypto instance name it looks up (a kernel without modules has no helper).
    helper = Path("/proc/sys/kernel/modprobe")
    if helper.exists():
        helper.write_text("\n")
    Path("/proc/sys/net/ipv6/conf/default/accept_dad").write_text("0\n")
    print(f"guest: {len(loaded)} modules loaded in {time.monotonic() - started:.2f} s;"
          f" {len(failed)} failed: {failed[:5]}", file=log, flush=True)


def main(boot_file: str | None = None) -> None:
    boot = json.loads(Path(boot_file or sys.argv[1]).read_text())
    libc = ctypes.CDLL(None, use_errno=True)
    log = open(boot["log"], "a", buffering=1)  # noqa: SIM115 - lives as long as PID 1
    try:
        prepare(libc, boot, log)
        serial = os.open("/dev/ttyS0", os.O_RDWR | os.O_NOCTTY)
        tty.setraw(serial)
        os.write(serial, READY)
        in_r, in_w = os.pipe()
        out_r, out_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.dup2(in_r, 0)
            os.dup2(out_w, 1)
            os.dup2(out_w if boot.get("stderr_out") else log.fileno(), 2)
            for fd in (in_r, in_w, out_r, out_w, serial):
                os.close(fd)
            os.chdir(boot["cwd"])
            # In here the host's PIDs mean nothing: the program owns what it starts.
            env = dict(boot["env"], **{owner.OWNER_VAR: str(owner.Owner.me()),
                                       modules.RELEASE_VAR: str(boot["modules"])})
            os.execve(boot["argv"][0], boot["argv"], env)
        os.close(in_r)
        os.close(out_w)
        exited: dict[int, int] = {}

        def reap() -> None:  # PID 1 reaps every orphan, and notes its own child's end
            while True:
                try:
                    done, status = os.waitpid(-1, os.WNOHANG)
                except ChildProcessError:
                    return
                if done == 0:
                    return
                exited[done] = status

        # With time-travel every wake-up costs wall time while the guest's clock jumps
        # (a 0.5 s poll made an hour's sleep cost 1.3-2.2 s against 0.3-0.5 s): there,
        # orphans are reaped when SIGCHLD says so, and the poll is rare.
        travel = bool(boot.get("time_travel"))
        if travel:
            signal.signal(signal.SIGCHLD, lambda *_: reap())
        guest_relay(serial, in_w, out_r, reap, poll=TIME_TRAVEL_POLL if travel else 0.5)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        reap()
        while pid not in exited:
            done, status = os.wait()
            exited[done] = status
        status = exited[pid]
        print(f"guest: program exited with status {status}", file=log, flush=True)
    except BaseException as exc:  # PID 1 must never die: log, then power off
        print(f"guest: {type(exc).__name__}: {exc}", file=log, flush=True)
        traceback.print_exc(file=log)
    finally:
        log.close()
        os.sync()
        libc.reboot(LINUX_REBOOT_CMD_POWER_OFF)


if __name__ == "__main__":
    main()
