"""Issue 21: whatever runs as root inside a UML guest cannot change the host's files outside
the run's own directories (lab.kernel.confine), when the lab is started as root.

Each test runs where the lab runs its tests, inside a guest: the guest's root file system
is the host's, so a file the guest managed to write on the host is seen here as it is
there. Each attempt writes both the path as the writer sees it and through /proc/1/root
(the guest's PID 1, whose root is the host's), which also leaves a daemon's chroot.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab.kernel.choice import in_uml
from lab.scenario import load_scenario

HOST_DIR = Path("/var/tmp")  # writable for every user on the host: only the mounts stop it

pytestmark = pytest.mark.skipif(not in_uml() or getpass.getuser() != "root",
                                reason="needs a UML guest of a lab started as root")


@pytest.fixture
def target() -> Iterator[Path]:
    """A host file nobody has written yet, and the check that nobody did."""
    path = HOST_DIR / f"ipl-confine-{uuid.uuid4().hex[:12]}"
    yield path
    present = path.exists()
    if present:
        path.unlink()
    assert not present, f"the guest wrote the host's {path}"


def attempt(path: Path) -> str:
    """A shell command that writes ``path`` every way it can."""
    return f"touch {path} /proc/1/root{path}"


def test_guest_root_cannot_write_the_host(target: Path, tmp_path: Path) -> None:
    (tmp_path / "ours").write_text("the run's own directories stay writable\n")
    for path in (target, Path(f"/proc/1/root{target}")):
        with pytest.raises(OSError):
            path.write_text("x")
    # root in the guest can remount and mount: the host's side stays read-only
    subprocess.run(["mount", "-o", "remount,rw", "/"], capture_output=True)
    with pytest.raises(OSError):
        target.write_text("x")
    mnt = Path("/run/ipl-confine-mnt")
    mnt.mkdir(exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "hostfs", "none", str(mnt), "-o", str(HOST_DIR)],
                             capture_output=True).returncode == 0
    try:
        if mounted:
            with pytest.raises(OSError):
                (mnt / target.name).write_text("x")
    finally:
        if mounted:
            subprocess.run(["umount", str(mnt)], capture_output=True)


def run_either_way(lab, s) -> None:  # type: ignore[no-untyped-def]
    """Run the cell; it may pass or fail (the attempt may break it): what counts is the host."""
    with contextlib.suppress(Exception):
        lab.run(s)


def _scenario(tmp_path: Path, text: str):  # type: ignore[no-untyped-def]
    file = tmp_path / "scenario.toml"
    file.write_text(text)
    return load_scenario(file)


PEERS = """
[left]
address = "2001:db8:1:1::1"
flavor = "{left}"
[right]
address = "2001:db8:2:2::2"
flavor = "{right}"
"""


@pytest.mark.lab
def test_a_native_leftupdown_cannot_write_the_host(lab, target: Path, tmp_path: Path) -> None:
    # the host's own Libreswan (no flavor tree around it): /var/tmp is the host's as such
    s = _scenario(tmp_path, 'name = "confine-updown"\nike_version = 2\nike = "aes128-sha1-modp2048"\n'
                  + PEERS.format(left="libreswan", right="strongswan@sid")
                  + f'[left.native.libreswan]\nconn = [\'leftupdown="{attempt(target)}"\']\n')
    run_either_way(lab, s)


@pytest.mark.lab
def test_strongswan_start_scripts_cannot_write_the_host(lab, target: Path, tmp_path: Path) -> None:
    s = _scenario(tmp_path, 'name = "confine-start-scripts"\nike_version = 2\nike = "aes128-sha1-modp2048"\n'
                  + PEERS.format(left="libreswan@sid", right="strongswan@sid")
                  + f'[right.native.strongswan]\ncharon = ["start-scripts {{ lab = {attempt(target)} }}"]\n')
    run_either_way(lab, s)


@pytest.mark.lab
def test_a_racoon_script_cannot_write_the_host(lab, target: Path, tmp_path: Path) -> None:
    script = tmp_path / "escape.sh"
    script.write_text(f"#!/bin/sh\n{attempt(target)}\n")
    script.chmod(0o755)
    # racoon runs in its flavor's tree: the script is reached through PID 1's root
    s = _scenario(tmp_path, 'name = "confine-racoon"\nike_version = 1\nike = "aes128-sha1-modp2048"\n'
                  + PEERS.format(left="racoon@0.9.1", right="racoon@0.9.1")
                  + f'[left.native.racoon]\nremote = [\'script "/proc/1/root{script}" phase1_up;\']\n')
    run_either_way(lab, s)


def test_the_run_directories_stay_writable(tmp_path: Path) -> None:
    """The other side: what the guest must write, it can (a cell's artifacts go there)."""
    base = Path(os.environ.get("IPSEC_LAB_UML_WRITABLE", str(tmp_path)).split(os.pathsep)[0])
    probe = base / f".ipl-confine-{uuid.uuid4().hex[:8]}"
    probe.mkdir(parents=True)
    probe.rmdir()
