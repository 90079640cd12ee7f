"""Refresh ``docs/screenshots/*.png``: each page of the dashboard, as a stakeholder sees it.

Usage::

    .venv/bin/python scripts/screenshots.py [RUN_DIR...] [--out docs/screenshots]

It serves the run directories (default: the seeds of ``runs/calibration/length_bias``, real
audited length_bias runs written by ``iterdeploy calibrate``; the first is the one the single-run
pages show, the Compare page shows them all) with the exact command ``iterdeploy dashboard``
runs, opens every page in headless Chromium (Debian's ``/usr/bin/chromium``, driven by
playwright, as the browser tests do), waits until Streamlit has finished the page and plotly has
drawn its charts, and writes one PNG per page. The runs are only read. The server is stopped,
by the id of the process started here, however the script ends.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

from iterdeploy.dashboards.cli import streamlit_command
from iterdeploy.dashboards.data import SEVERITY_ORDER
from iterdeploy.dashboards.traces import cited_trace_ids
from iterdeploy.simulator.store import RunReader

REPO = Path(__file__).resolve().parents[1]
DEFAULT_RUNS = REPO / "runs" / "calibration" / "length_bias"
DEFAULT_OUT = REPO / "docs" / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

# (file stem, URL path, heights in CSS pixels: tall enough for the page's main content)
PAGES: tuple[tuple[str, str, int], ...] = (
    ("overview", "", 2000),
    ("capability", "capability", 1650),
    ("reward", "reward", 2400),
    ("findings", "findings", 1900),
    ("traces", "traces", 2500),
    ("population", "population", 1700),
    ("compare", "compare", 1900),
)
START_TIMEOUT_S = 60.0
PAGE_TIMEOUT_MS = 90_000


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serve(run_dirs: list[Path], log_path: Path) -> Iterator[str]:
    """The dashboard served for ``run_dirs`` until the block ends; yields its base URL."""
    port = _free_port()
    env = {**os.environ, "STREAMLIT_SERVER_FILE_WATCHER_TYPE": "none"}
    with log_path.open("wb") as log:
        proc = subprocess.Popen(streamlit_command(run_dirs, port=port), stdout=log,
                                stderr=subprocess.STDOUT, env=env)
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + START_TIMEOUT_S
            while True:
                if proc.poll() is not None:
                    raise SystemExit(f"streamlit exited with {proc.returncode}; see {log_path}")
                try:
                    with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2):
                        break
                except (urllib.error.URLError, ConnectionError, TimeoutError):
                    if time.monotonic() > deadline:
                        raise SystemExit(f"streamlit not up after {START_TIMEOUT_S:g} s; see {log_path}") \
                            from None
                    time.sleep(0.3)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def wait_until_drawn(page: Page, timeout_ms: int = PAGE_TIMEOUT_MS) -> None:
    """Wait until Streamlit has run the page to its end (the app reports it is not running) and
    every plotly chart on it has drawn its plot area."""
    page.wait_for_selector('[data-testid="stHeading"]', timeout=timeout_ms)
    page.wait_for_function(
        """() => {
            const app = document.querySelector('[data-testid="stApp"]');
            if (!app || app.getAttribute('data-test-script-state') === 'running') return false;
            const charts = document.querySelectorAll('[data-testid="stPlotlyChart"]');
            return [...charts].every(c => c.querySelector('.main-svg'));
        }""", timeout=timeout_ms)
    # elements keep arriving for a moment after the run ends (tables, metrics): wait until the
    # page's text has stopped changing, then let plotly's transitions settle
    before = ""
    for _ in range(int(timeout_ms / 1000)):
        page.wait_for_timeout(1000)
        now = page.inner_text("body")
        if now == before and not page.locator('[data-testid="stSkeleton"]').count():
            break
        before = now
    page.wait_for_timeout(500)


def _example_query(run_dir: Path) -> dict[str, str]:
    """Query strings that open the Findings page on the most severe finding and the Traces page on
    the first trace it cites, so the pictures show evidence rather than closed lists."""
    with RunReader(run_dir) as reader:
        findings = sorted(reader.findings(), key=lambda f: (SEVERITY_ORDER.get(f.severity, 9),
                                                           f.generation is not None, f.finding_id))
    for finding in findings:
        cited = cited_trace_ids(finding)
        if cited:
            return {"findings": f"?finding={finding.finding_id}", "traces": f"?trace={cited[0]}"}
    return {}


def main(argv: list[str] | None = None) -> int:
    """Write one PNG per page; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dirs", nargs="*", type=Path)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    if not CHROMIUM.is_file():
        print(f"{CHROMIUM} is missing: run scripts/install-browser.sh first", file=sys.stderr)
        return 2
    run_dirs = args.run_dirs or sorted(p for p in DEFAULT_RUNS.glob("seed*") if p.is_dir())
    if not run_dirs:
        print(f"no run directory given and none under {DEFAULT_RUNS}", file=sys.stderr)
        return 2
    query = _example_query(run_dirs[0])
    args.out.mkdir(parents=True, exist_ok=True)
    log = Path(tempfile.mkdtemp(prefix="iterdeploy-screenshots-")) / "streamlit.log"
    with serve([d.resolve() for d in run_dirs], log) as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            for stem, path, height in PAGES:
                page = browser.new_page(viewport={"width": 1400, "height": height})
                page.goto(f"{url}/{path}{query.get(path, '')}", timeout=PAGE_TIMEOUT_MS)
                wait_until_drawn(page)
                if page.locator('[data-testid="stException"]').count():
                    print(f"{stem}: the page shows an exception", file=sys.stderr)
                    return 1
                target = args.out / f"{stem}.png"
                page.screenshot(path=str(target))
                print(f"wrote {target.relative_to(REPO) if target.is_relative_to(REPO) else target}")
                page.close()
        finally:
            browser.close()
    shutil.rmtree(log.parent, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
