#!/usr/bin/env python3
"""A picture of the report's page, taken by headless Chromium, as a small PNG.

    .venv/bin/python ci/report_shot.py ci/out/matrix.html docs/img/matrix-grid.png [--size 1280,880]

How docs/img/matrix-grid.png is made from a real run (`ci/report.py` first); tests/test_report.py
takes its screenshots the same way.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import report_png


def find_chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def screenshot(browser: str, url: str, png: Path, size: str = "1280,880") -> None:
    """Chromium's picture of the page at ``url``, ``size`` (``WIDTH,HEIGHT``) pixels; raises
    with Chromium's last words if it made none."""
    with tempfile.TemporaryDirectory(prefix="report-chromium-") as profile:
        proc = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu",
                               f"--user-data-dir={profile}", "--hide-scrollbars",
                               f"--screenshot={png}", f"--window-size={size}", url],
                              capture_output=True, text=True, check=False, timeout=120)
    if proc.returncode != 0 or not png.is_file():
        raise RuntimeError(f"chromium made no screenshot of {url} (exit {proc.returncode}):"
                           f" {proc.stderr.strip()[-1000:]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("html", type=Path)
    parser.add_argument("png", type=Path)
    parser.add_argument("--size", default="1280,880", help="WIDTH,HEIGHT in pixels")
    args = parser.parse_args()
    browser = find_chromium()
    if browser is None:
        print("report_shot: chromium not found on PATH (ci/setup.sh installs Debian's"
              " chromium)", file=sys.stderr)
        return 2
    if not args.html.is_file():
        print(f"report_shot: no such page: {args.html}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        shot = Path(tmp) / "shot.png"
        screenshot(browser, args.html.resolve().as_uri(), shot, args.size)
        width, _, rows = report_png.read(shot.read_bytes())
    args.png.parent.mkdir(parents=True, exist_ok=True)
    args.png.write_bytes(report_png.write_palette(width, rows))
    print(f"report_shot: {args.png} ({args.png.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
