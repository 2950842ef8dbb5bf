"""A flavor tree's view: mounted in the guest's own mount namespace, entered by nsenter
--root after a vfork, gone after unmount, and the same as a fresh view made by preexec."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lab import run as runner
from lab.flavors import Flavor
from lab.kernel.choice import in_uml

pytestmark = pytest.mark.skipif(not in_uml() and os.geteuid() != 0,
                                reason="mounting a view needs root (or a UML guest)")


def _tree(base: Path) -> Path:
    """A minimal tree: a shell and what it needs come from the host by a bind inside."""
    tree = base / "tree"
    for d in ("run", "proc", "tmp", "bin"):
        (tree / d).mkdir(parents=True)
    (tree / "marker").write_text("the tree\n")
    return tree


def test_a_view_shows_the_tree_read_only_with_the_peer_directory_on_run(tmp_path: Path) -> None:
    if not in_uml():
        pytest.skip("views are made only inside a UML guest (its mounts die with it)")
    tree, peer = _tree(tmp_path), tmp_path / "left"
    peer.mkdir()
    (peer / "ipsec.conf").write_text("conn x\n")
    view = Flavor("libreswan", "test", tree).view(peer, tmp_path / ".left-root")
    assert str(view.at) in Path("/proc/self/mountinfo").read_text()
    try:
        assert (view.at / "marker").read_text() == "the tree\n"
        assert (view.at / "run" / "ipsec.conf").read_text() == "conn x\n"
        assert (view.at / "proc" / "self").exists()  # its own /proc
        with pytest.raises(OSError):  # the tree is read-only through the view
            (view.at / "new").write_text("x")
        (view.at / "run" / "written").write_text("y")  # the peer directory is not
        assert (peer / "written").read_text() == "y"
        assert not (tree / "run" / "ipsec.conf").exists()  # nothing reaches the tree itself
    finally:
        view.unmount()
    assert not view.at.exists()
    assert str(view.at) not in Path("/proc/self/mountinfo").read_text()


def test_a_program_is_missing_inside_the_view_not_on_the_host(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        runner._entering(["/bin/sh"], None, None, None, runner.lab_env("t"), root=_tree(tmp_path))
    argv, preexec = runner._entering(["/marker"], "n", None, None, runner.lab_env("t"),
                                     root=_tree(tmp_path / "b"))
    assert preexec is None and argv[-3:] == [f"--wd={tmp_path / 'b' / 'tree'}", "--", "/marker"]


def test_a_tool_joins_a_running_daemon_of_a_tree_through_nsenter(tmp_path: Path) -> None:
    """The host-kernel way (no view): the daemon starts in a fresh view of its own (a
    preexec), and a tool beside it joins its mounts and root with nsenter."""
    from lab.flavors import flavors_dir, parse_flavor

    if not (flavors_dir() / "libreswan-bookworm" / "bin" / "sleep").exists():
        pytest.skip(f"no libreswan@bookworm tree in {flavors_dir()}"
                    " (ipsec-lab setup --flavors=libreswan@bookworm)")
    flavor = parse_flavor("libreswan@bookworm")
    peer = tmp_path / "left"
    peer.mkdir()
    (peer / "marker").write_text("the peer's own\n")
    daemon = runner.spawn(["/bin/sleep", "30"], tag="t", log=None,
                          preexec=flavor.enter_new(peer))
    try:
        argv, preexec = runner._entering(["/bin/cat", "/run/marker"], None, daemon.pid, None,
                                         runner.lab_env("t"))
        assert preexec is None and "nsenter" in argv[0]
        out = runner.run(["/bin/cat", "/run/marker", "/etc/debian_version"], tag="t",
                         join=daemon.pid)
        assert out.stdout.startswith("the peer's own\n12.")  # the tree's bookworm
    finally:
        runner.stop(daemon)
