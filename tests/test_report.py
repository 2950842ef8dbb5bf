"""ci/report.py: the grid a person reads, drawn from a real run's JUnit XML (a few test cases
of tests/fixtures/report-junit.xml) and looked at in a real browser, headless Chromium."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "report-junit.xml"
sys.path.insert(0, str(ROOT / "ci"))
import report  # noqa: E402
import report_html  # noqa: E402
import report_png  # noqa: E402
import report_shot  # noqa: E402

FAILED_RED = (0xC6, 0x28, 0x28)  # .failed in report_html.STYLE
KNOWN_PURPLE = (0x6A, 0x1B, 0x9A)  # .known
PASSED_GREEN = (0xE6, 0xF4, 0xE7)  # .passed


def draw(tmp_path: Path, *junit: Path) -> tuple[Path, str, str]:
    html, md = tmp_path / "out" / "matrix.html", tmp_path / "out" / "summary.md"
    proc = subprocess.run([sys.executable, str(ROOT / "ci" / "report.py"), *map(str, junit),
                           "--html", str(html), "--md", str(md)],
                          capture_output=True, text=True, check=False, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return html, html.read_text(), md.read_text()


def chromium() -> str:
    found = report_shot.find_chromium()
    if not found:
        pytest.skip("chromium not found on PATH: ci/setup.sh installs it (Debian's chromium)")
    return found


def colours(png: Path) -> tuple[int, int, Counter[tuple[int, int, int]]]:
    width, height, rows = report_png.read(png.read_bytes())
    return width, height, report_png.colours(rows)


def test_each_mark_says_what_its_cell_is() -> None:
    results = report.read([FIXTURE])
    html = report.page(results, FIXTURE.parent)
    # the words of the cell, not a number to look up: proposal, topology and family, event
    for words in ("<b>aes128-sha1</b> <i>net-to-net 4in6</i>",
                  "<b>aes128-sha1</b> <i>routed drop1</i>",
                  "<b>rekey-child</b> <i>lifetime-responder</i>", "<b>4in6</b>"):
        assert words in html, words
    assert "<b>1</b>" not in html and "legend" not in html
    # sections per test module; the path cell in its own
    assert [r.group for r in results if r.proposals == "aes128-sha1 routed drop1"] == ["path"]
    for group in ("matrix", "path", "lifecycle", "files"):
        assert f"<h2 id='g-{group}'>{group} " in html
    # the failure at the top, with its artifacts and the command that runs it again
    assert "1 cell needs a look" in html
    failed = next(r for r in results if r.status == "failed")
    assert failed.artifacts and failed.artifacts.endswith(
        "/test_lifecycle_racoon_0_8_2-libreswan_bookworm-ikev1-rekey-child-lifetime-responder-gw2")
    assert f"<a class=art href='{os.path.relpath(failed.artifacts, FIXTURE.parent)}'>" in html
    assert ("reproduce: <code>pytest &#x27;scenarios/test_lifecycle.py::test_lifecycle"
            "[racoon_0_8_2-libreswan_bookworm-ikev1-rekey-child-lifetime-responder]&#x27;</code>"
            in html)
    # a skip is quiet and says why on hover
    assert "<a class='m skipped' href='#c10' title='skipped in 0.0 s: ikev1-tunnel-aes128-sha1-" \
           "modp1024\nleft: libreswan 4.10 (algparse -v1): IKE DH algorithm &#x27;modp1024&#x27;" \
           " is not supported\nreproduce: pytest" in html
    # no wall of grey: strongswan@sid, every IKEv1 cell skipped for one reason, and racoon,
    # which speaks no IKEv2, are left out of those grids, and that is said once
    assert html.count("not drawn in") == 2
    assert ("<b>strongswan@sid</b> not drawn in IKEv1, tunnel mode: every cell skipped:"
            " strongswan@sid 6.1.0: charon was built without IKEv1 (2 cells)") in html
    assert ("<b>racoon@0.9.1</b> not drawn in IKEv2, tunnel mode: racoon does not speak IKEv2:"
            " no such cells are generated") in html


def test_a_new_test_module_gets_its_own_section(tmp_path: Path) -> None:
    xml = tmp_path / "junit.xml"
    xml.write_text(
        '<testsuites><testsuite>'
        '<testcase classname="scenarios.test_upstream" name="test_upstream[libreswan-main]"'
        ' time="2.0"><failure message="pluto did not start"/></testcase>'
        '<testcase classname="scenarios.test_road_warrior" name="test_road_warrior['
        'strongswan_sid-libreswan_sid-ikev2-two-clients]" time="3.0"/>'
        '</testsuite></testsuites>')
    results = {r.group: r for r in report.read([xml])}
    assert set(results) == {"upstream", "road warrior"}
    assert results["upstream"].reproduce == \
        "pytest 'scenarios/test_upstream.py::test_upstream[libreswan-main]'"
    rw = results["road warrior"]
    assert (rw.initiator, rw.responder, rw.version, rw.proposals) == (
        "strongswan@sid", "libreswan@sid", 2, "two-clients")
    html = report.page(list(results.values()), tmp_path)
    assert "<h2 id='g-road-warrior'>road warrior " in html and "libreswan-main</b>" in html
    assert "| upstream | 0 | 1 | 0 | 0 | - |" in report.summary(list(results.values()))


def test_summary_still_has_its_tables(tmp_path: Path) -> None:
    _, _, md = draw(tmp_path, FIXTURE)
    assert "6 passed, 1 failed, 3 skipped, 2 known incompatibilities (xfail)" in md
    assert "| libreswan@sid | racoon@0.9.1 | 1 | 0 | 1 | 0 |" in md
    assert "### path" in md and "### lifecycle cells" in md
    assert "reproduce: `pytest 'scenarios/test_lifecycle.py::test_lifecycle[racoon_0_8_2-" in md


def test_the_grid_in_a_real_browser(tmp_path: Path) -> None:
    browser = chromium()
    html, text, _ = draw(tmp_path, FIXTURE)
    png = tmp_path / "grid.png"
    report_shot.screenshot(browser, html.as_uri(), png, "1200,900")
    width, height, counts = colours(png)
    assert (width, height) == (1200, 900)
    assert len(counts) > 50, "the page rendered next to nothing"
    # the failure stands out: its red (the banner's mark, the cell's mark) covers an area
    assert counts[FAILED_RED] > 1000, counts.most_common(12)
    assert counts[KNOWN_PURPLE] > 300 and counts[PASSED_GREEN] > 300, counts.most_common(12)
    assert "charon was built without IKEv1" in text
    # a click pins the cell's reason, time and command: the panel is drawn over the page
    n = next(i for i, r in enumerate(report.read([FIXTURE])) if r.status == "failed")
    pinned = tmp_path / "pinned.png"
    report_shot.screenshot(browser, f"{html.as_uri()}#c{n}", pinned, "1200,900")
    border = (0x33, 0x33, 0x33)  # .detail:target's border
    assert colours(pinned)[2][border] > counts[border] + 1000


def test_panels_hold_reason_time_and_command() -> None:
    results = report.read([FIXTURE])
    failed = next(r for r in results if r.status == "failed")
    panel = report_html.panel(failed, 7, ROOT / "ci" / "out")
    assert panel.startswith("<div class=detail id=c7>")
    assert "in 14.7 s" in panel and "echo seq 501 sent at 10.058 s got no reply" in panel
    assert "reproduce: <code>pytest" in panel and ">artifacts</a>" in panel


def test_a_screenshot_shrinks_to_a_palette_without_losing_its_colours() -> None:
    rows = [[(x * 7 % 256, y, 40) for x in range(40)] for y in range(30)]  # 1200 colours
    rows[0][0] = FAILED_RED
    width, height, back = report_png.read(report_png.write_palette(40, rows))
    assert (width, height) == (40, 30) and back[0][0] == FAILED_RED
    kept = report_png.colours(back)
    assert len(kept) == 256 and all(c in report_png.colours(rows) for c in kept)
    with pytest.raises(ValueError, match="not a PNG file"):
        report_png.read(b"GIF89a")


def test_ids_read_as_words() -> None:
    from report_read import describe

    # a pair, then the case and the IKE versions of the two ends: the case is the words
    assert describe("outcomes", "test_negative",
                    "libreswan_sid-strongswan_bookworm-ikev1-vs-ikev2-ikev1-ikev2") == (
        "outcomes", "libreswan@sid", "strongswan@bookworm", 0, "", "ikev1-vs-ikev2")
    assert describe("outcomes", "test_negative", "racoon_0_9_1-libreswan_sid-wrong-psk-ikev1") \
        == ("outcomes", "racoon@0.9.1", "libreswan@sid", 1, "", "wrong-psk")
    # a pair alone: the test's name says what it is
    assert describe("psk", "test_psk_byte_for_byte", "libreswan_sid-strongswan_sid")[5] == \
        "psk byte for byte"
    # no pair: the id as it is
    assert describe("seed", "test_seed", "ikev1-tunnel-aes128-sha1-modp1024") == (
        "seed", "", "", 0, "", "ikev1-tunnel-aes128-sha1-modp1024")
    assert describe("files", "test_there_are_example_files", "")[5] == "there are example files"


def test_repeated_runs_of_a_cell_are_one_mark(tmp_path: Path) -> None:
    name = "test_interop[libreswan_sid-strongswan_sid-ikev2-tunnel-aes128-sha1-rep{}of3]"
    xml = tmp_path / "junit.xml"
    xml.write_text(
        '<testsuites><testsuite>'
        + "".join(f'<testcase classname="scenarios.test_matrix" name="{name.format(n)}"'
                  f' time="{n}.0">{body}</testcase>'
                  for n, body in ((1, ""), (2, '<failure message="1 echo lost"/>'), (3, "")))
        + '</testsuite></testsuites>')
    (result,) = report.read([xml])
    assert (result.status, result.runs, result.failures, result.seconds) == (
        "intermittent", 3, 1, 2.0)
    assert result.reason == "fails 1 time in 3: 1 echo lost"
    assert "<small>1/3 failed</small>" in report.page([result], tmp_path)


def test_a_road_warrior_or_hub_id_reads_as_its_gateway_and_its_clients() -> None:
    """Cells of more than two peers (lab.remote.matrix ids) are drawn gateway by clients,
    the clients joined in words, and their grids say so."""
    import report_read
    got = report_read.describe(
        "roadwarrior", "test_road_warrior",
        "strongswan_sid-libreswan_bookworm+strongswan_bookworm-ikev1-road-warrior")
    assert got == ("roadwarrior", "strongswan@sid", "libreswan@bookworm + strongswan@bookworm",
                   1, "", "road-warrior"), got
    hub = report_read.describe("hub", "test_hub", "racoon_0_9_1-libreswan_sid+strongswan_sid-ikev2-hub")
    assert hub[1:5] == ("racoon@0.9.1", "libreswan@sid + strongswan@sid", 2, ""), hub
    assert report_read.roles("hub") == ("hub", "spokes")
    assert report_read.roles("matrix") == ("initiator", "responder")
