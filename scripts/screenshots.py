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
import shutil
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

from iterdeploy.dashboards.browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    DashboardServerError,
    serve,
    wait_until_drawn,
)
from iterdeploy.dashboards.data import SEVERITY_ORDER
from iterdeploy.dashboards.traces import cited_trace_ids
from iterdeploy.simulator.store import RunReader

REPO = Path(__file__).resolve().parents[1]
DEFAULT_RUNS = REPO / "runs" / "calibration" / "length_bias"
DEFAULT_OUT = REPO / "docs" / "screenshots"

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
PAGE_TIMEOUT_MS = 90_000


def settle(page: Page) -> None:
    """The page drawn to the end (:func:`wait_until_drawn`), then half a second for plotly's
    transitions, so a picture never catches a chart mid-animation."""
    wait_until_drawn(page, PAGE_TIMEOUT_MS)
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
    try:
        with serve([d.resolve() for d in run_dirs], log) as url, sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=list(CHROMIUM_ARGS))
            try:
                for stem, path, height in PAGES:
                    page = browser.new_page(viewport={"width": 1400, "height": height})
                    page.goto(f"{url}/{path}{query.get(path, '')}", timeout=PAGE_TIMEOUT_MS)
                    settle(page)
                    if page.locator('[data-testid="stException"]').count():
                        print(f"{stem}: the page shows an exception", file=sys.stderr)
                        return 1
                    target = args.out / f"{stem}.png"
                    page.screenshot(path=str(target))
                    print(f"wrote {target.relative_to(REPO) if target.is_relative_to(REPO) else target}")
                    page.close()
            finally:
                browser.close()
    except DashboardServerError as exc:  # its log is in the message
        print(exc, file=sys.stderr)
        return 1
    shutil.rmtree(log.parent, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
