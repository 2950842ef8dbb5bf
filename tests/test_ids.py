"""Test ids that pytest's -k accepts: any flavor or pair of the matrix can be picked."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from lab.errors import UsageError
from lab.matrix import (
    CELL_ID,
    DEFAULT_FLAVORS,
    MatrixCell,
    MatrixSelection,
    cell_id,
    flavor_from_id,
    flavor_id,
)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "ci"))
import report  # noqa: E402


def _collect(*args: str) -> list[str]:
    proc = subprocess.run([sys.executable, "-m", "pytest", "scenarios/", "--collect-only", "-q",
                           "-p", "no:cacheprovider", *args], cwd=ROOT, capture_output=True,
                          text=True, check=False, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return [line for line in proc.stdout.splitlines() if "::" in line]


def test_ids_hold_only_characters_k_accepts() -> None:
    for cell in MatrixSelection().cells():
        assert all(ch.isalnum() or ch in "_-" for ch in cell.id), cell.id
    assert flavor_id("libreswan@sid") == "libreswan_sid"
    assert flavor_id("racoon") == "racoon_system"
    assert flavor_id("strongswan@/opt/my-build") == "strongswan_opt_my_build"
    assert flavor_from_id("libreswan_sid") == "libreswan@sid"
    assert flavor_from_id("racoon_system") == "racoon"


@pytest.mark.parametrize("flavor", DEFAULT_FLAVORS)
def test_k_picks_exactly_one_flavors_cells(flavor: str) -> None:
    picked = _collect("-k", flavor_id(flavor))
    want = [c for c in MatrixSelection().cells() if flavor in (c.initiator, c.responder)]
    matrix = [p for p in picked if p.startswith("scenarios/test_matrix.py::")]
    assert sorted(matrix) == sorted(f"scenarios/test_matrix.py::test_interop[{c.id}]" for c in want)
    # other files' cells of that flavor (negative cells, workarounds, test_psk.py's pairs)
    # come too, and only theirs: the flavor is at one end of the pair (of more than two
    # peers: the gateway, or one of the clients the id joins with '+')
    ends = [p.split("[", 1)[1].rstrip("]").split("-")[:2] for p in picked]
    assert all(flavor_id(flavor) in [e[0], *e[1].split("+")] for e in ends), picked


def test_k_picks_one_pair_in_one_order() -> None:
    picked = _collect("-k", "test_interop and libreswan_sid-strongswan_bookworm and ikev2 and tunnel")
    # three proposal sets (3des-md5 has no IKEv2 proposal: not generated), then IPv4 and
    # net-to-net in its four families (one set), the rsa and ecdsa certificate cells, and
    # the path cells drop1 and nat
    assert len(picked) == 3 + 5 + 2 + 2, picked
    assert all("[libreswan_sid-strongswan_bookworm-ikev2-tunnel-" in p for p in picked), picked


def test_lab_pairs_still_takes_flavor_names() -> None:
    picked = _collect("--lab-pairs=libreswan@sid->strongswan@bookworm", "-k", "test_interop")
    # 14 host-to-host IPv6 cells (3des-md5 in IKEv1 only), 4 IPv4 and 4 x 2 net-to-net (IKEv1
    # and IKEv2), the certificate cells: rsa and ecdsa in IKEv2, rsa in IKEv1; the path cells
    # drop1 and nat
    assert len(picked) == 14 + 4 + 8 + 3 + 2 and all("libreswan_sid-strongswan_bookworm-" in p
                                             for p in picked)


def test_report_reads_the_ids_back(tmp_path: Path) -> None:
    name = cell_id("libreswan@sid", "racoon", "ikev1", "tunnel", "aes128-sha1")
    assert CELL_ID.fullmatch(name)
    xml = tmp_path / "junit.xml"
    xml.write_text(f'<testsuites><testsuite><testcase name="test_interop[{name}]" time="1.5">'
                   '<skipped message="racoon: not on PATH"/></testcase></testsuite></testsuites>')
    ET.parse(xml)
    (result,) = report.read([xml])
    assert (result.initiator, result.responder, result.version, result.mode, result.proposals,
            result.status) == ("libreswan@sid", "racoon", 1, "tunnel", "aes128-sha1", "skipped")


def test_report_reads_topology_and_family_back(tmp_path: Path) -> None:
    name = cell_id("libreswan@sid", "strongswan@bookworm", "ikev2", "tunnel", "aes128-sha1",
                   "net-to-net", "4in6")
    m = CELL_ID.fullmatch(name)
    assert m and (m["p"], m["t"], m["f"]) == ("aes128-sha1", "net-to-net", "4in6")
    xml = tmp_path / "junit.xml"
    xml.write_text(f'<testsuites><testsuite><testcase name="test_interop[{name}]" time="1.5"/>'
                   '</testsuite></testsuites>')
    (result,) = report.read([xml])
    assert (result.proposals, result.status) == ("aes128-sha1 net-to-net 4in6", "passed")


def test_k_picks_a_topology_and_a_family() -> None:
    picked = _collect("-k", "net-to-net and 4in6 and libreswan_sid-strongswan_bookworm")
    assert sorted(picked) == sorted(
        f"scenarios/test_matrix.py::test_interop[libreswan_sid-strongswan_bookworm-ikev{v}"
        "-tunnel-aes128-sha1-net-to-net-4in6]" for v in (1, 2))


def test_auth_axis_ids_and_selection() -> None:
    name = cell_id("libreswan@sid", "strongswan@bookworm", "ikev2", "tunnel", "aes256-sha256",
                   "ecdsa")
    m = CELL_ID.fullmatch(name)
    assert m and (m["p"], m["t"], m["f"], m["a"]) == ("aes256-sha256", None, None, "ecdsa")
    default = MatrixSelection.from_options(None, None, None, None,
                                           "libreswan@sid->strongswan@bookworm")
    certs = [c for c in default.cells() if c.auth != "psk"]
    assert sorted((c.auth, c.ike_version, c.mode, c.proposals) for c in certs) == [
        ("ecdsa", 2, "tunnel", "aes256-sha256"), ("rsa", 1, "tunnel", "aes256-sha256"),
        ("rsa", 2, "tunnel", "aes256-sha256")]
    assert certs[0].scenario().auth == certs[0].auth and certs[0].id.endswith(f"-{certs[0].auth}")
    chosen = MatrixSelection.from_options(None, "2", "transport", "aes128-sha1",
                                          "libreswan@sid->strongswan@bookworm", auth="rsa,psk")
    assert [c.auth for c in chosen.cells()] == ["rsa", "psk", "rsa", "psk"][:len(chosen.cells())]
    assert {c.auth for c in chosen.cells()} == {"rsa", "psk"}
    # racoon speaks IKEv1 only: no IKEv2 cell of a racoon pair is generated at all
    racoon = MatrixSelection.from_options(None, None, None, None, "libreswan@sid->racoon@0.9.1")
    assert racoon.cells() and {c.ike_version for c in racoon.cells()} == {1}
    with pytest.raises(UsageError, match="--lab-auth: 'dsa' is not allowed"):
        MatrixSelection.from_options(None, None, None, None, auth="dsa")


def test_time_travel_read_from_the_kernel_command_line() -> None:
    from lab.kernel.choice import time_travel

    assert time_travel("mem=512M seccomp=on time-travel root=/dev/root")
    assert time_travel("time-travel=inf-cpu quiet")
    assert not time_travel("mem=512M seccomp=on")
    assert not time_travel("time-travel-x=1")


def test_report_puts_lifecycle_cells_in_their_own_grid(tmp_path: Path) -> None:
    from lab.matrix import LifecycleCell

    cell = LifecycleCell("libreswan@sid", "strongswan@bookworm", 2, "rekey-child",
                         "command-responder")
    matrix = cell_id("libreswan@sid", "strongswan@bookworm", "ikev2", "tunnel", "aes128-sha1")
    xml = tmp_path / "junit.xml"
    xml.write_text(
        f'<testsuites><testsuite><testcase name="test_lifecycle[{cell.id}]" time="9.5">'
        '<properties><property name="lifecycle" value="lifecycle rekey-child&#10;new SAs after:'
        ' 0.348 s"/></properties></testcase>'
        f'<testcase name="test_interop[{matrix}]" time="2.5"/></testsuite></testsuites>')
    results = report.read([xml])
    life = next(r for r in results if r.mode == report.LIFECYCLE_MODE)
    assert (life.initiator, life.responder, life.version, life.proposals, life.status) == (
        "libreswan@sid", "strongswan@bookworm", 2, "rekey-child command-responder", "passed")
    assert "new SAs after: 0.348 s" in life.reason
    html = report.page(results, tmp_path)
    assert "IKEv2, lifecycle events" in html and "IKEv2, tunnel mode" in html
    assert "<b>rekey-child</b> <i>command-responder</i>" in html  # the mark says what it is
    assert "| libreswan@sid | strongswan@bookworm | 1 | 0 | 0 | 0 |" in report.summary(results)


def test_a_net_to_net_routed_id_reads_back() -> None:
    cell = MatrixCell("libreswan@sid", "strongswan@sid", 2, "tunnel", "aes128-sha1",
                      "net-to-net-routed", "4in6", "rsa", "loss20")
    m = CELL_ID.fullmatch(cell.id)
    assert m is not None and (m["t"], m["f"], m["a"], m["path"]) == (
        "net-to-net-routed", "4in6", "rsa", "loss20"), cell.id


def test_report_puts_the_racoon_releases_side_by_side() -> None:
    def res(i: str, r: str, status: str, proposals: str = "aes128-sha1") -> report.Result:
        return report.Result(i, r, 1, "tunnel", proposals, status, "", None, 0.1)

    results = [res("racoon@0.8.2", "libreswan@sid", "passed"),
               res("racoon@0.9.1", "libreswan@sid", "passed"),
               res("strongswan@bookworm", "racoon@0.8.2", "known", "aes256-sha256"),
               res("strongswan@bookworm", "racoon@0.9.1", "failed", "aes256-sha256"),
               res("racoon@privsep-0.9.1", "libreswan@sid", "passed"),
               res("racoon@0.8.2", "racoon@0.9.1", "passed")]  # racoon at both ends: not compared
    names, same, rows = report.releases_compared(results)
    assert names == ["0.8.2", "0.9.1", "privsep-0.9.1"]
    assert same == 1
    assert rows == [["strongswan@bookworm", "racoon", "1", "tunnel", "aes256-sha256", "known",
                     "failed", "-"]]
    md = "\n".join(report.releases_side_by_side(results))
    assert "1 cells with the same result for every release; where they differ:" in md
    assert "| strongswan@bookworm | racoon | 1 | tunnel | aes256-sha256 | known | failed | - |" in md
    assert "<span class='m failed'>failed</span>" in report.releases_html(results)
