"""End to end: the real Streamlit server, the real page, a real headless chromium.

Streamlit renders in the browser, so only a browser shows whether the page works: a script error
appears as a red box, never as a failing HTTP status. These tests start ``streamlit run`` with the
exact command ``iterdeploy dashboard`` uses, open the page with playwright driving Debian's
chromium (playwright cannot download its own browser here), and check what a stakeholder would see.

A missing chromium is a test failure, not a skip: CI must run ``scripts/install-browser.sh`` first,
and a silently skipped end-to-end test would hide a broken page.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from iterdeploy.dashboards.cli import streamlit_command
from iterdeploy.simulator.store import DB_NAME

pytestmark = [pytest.mark.browser, pytest.mark.timeout(60)]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
SERVER_START_TIMEOUT_S = 30.0
PAGE_TIMEOUT_MS = 20_000
SCENARIO_NAME = "curation-bias-demo"  # written by tests/dashboards/conftest.py


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serve(run_dir: Path, log_path: Path) -> Iterator[str]:
    """Run the dashboard server for ``run_dir`` until the block ends; yield its base URL.

    The server is always stopped, by the id of the process started here, even when the test fails.
    """
    port = _free_port()
    env = {**os.environ, "STREAMLIT_SERVER_FILE_WATCHER_TYPE": "none"}
    with log_path.open("wb") as log:
        proc = subprocess.Popen(streamlit_command(run_dir, port=port), stdout=log,
                                stderr=subprocess.STDOUT, env=env)
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + SERVER_START_TIMEOUT_S
            while True:
                if proc.poll() is not None:
                    pytest.fail(f"streamlit exited with {proc.returncode}:\n{log_path.read_text()}")
                try:
                    with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as resp:
                        if resp.status == 200:
                            break
                except (urllib.error.URLError, ConnectionError, TimeoutError):
                    pass
                if time.monotonic() > deadline:
                    pytest.fail(f"streamlit not healthy after {SERVER_START_TIMEOUT_S:g} s:\n"
                                f"{log_path.read_text()}")
                time.sleep(0.2)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


@contextmanager
def open_page(url: str) -> Iterator[Page]:
    """A chromium page at ``url``; fails (never skips) when chromium is not installed."""
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/install-browser.sh (as root) first; "
                    "the browser tests need Debian's chromium")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 2000})
            page.goto(url, timeout=PAGE_TIMEOUT_MS)
            yield page
        finally:
            browser.close()


def _fingerprint(run_dir: Path) -> dict[str, object]:
    db = run_dir / DB_NAME
    wal = run_dir / f"{DB_NAME}-wal"
    return {
        "db_sha256": hashlib.sha256(db.read_bytes()).hexdigest(),
        "db_mtime_ns": db.stat().st_mtime_ns,
        "db_size": db.stat().st_size,
        # the store is in WAL mode: a write would land here before it reached the db file
        "wal_bytes": wal.stat().st_size if wal.exists() else 0,
    }


def test_page_shows_the_run_and_never_writes(run_dir: Path, tmp_path: Path) -> None:
    before = _fingerprint(run_dir)
    with serve(run_dir, tmp_path / "streamlit.log") as url, open_page(url) as page:
        expect(page.locator("h1")).to_have_text(SCENARIO_NAME, timeout=PAGE_TIMEOUT_MS)
        charts = page.locator('[data-testid="stPlotlyChart"] .js-plotly-plot')
        expect(charts).to_have_count(4, timeout=PAGE_TIMEOUT_MS)
        # plotly draws its axes asynchronously: wait for the first chart's tick labels
        ticks = charts.first.locator(".xtick text")
        expect(ticks).to_have_count(4, timeout=PAGE_TIMEOUT_MS)
        assert ticks.all_text_contents() == ["0", "1", "2", "3"]
        titles = page.locator('[data-testid="stPlotlyChart"] .gtitle').all_text_contents()
        assert "Solved evaluation tasks per generation" in titles
        assert "Valid plan length per generation (evaluation pool)" in titles

        body = page.locator("body")
        expect(body).to_contain_text("status: completed")
        expect(body).to_contain_text("seed 7")
        tiles = page.locator('[data-testid="stMetric"]').all_inner_texts()
        assert any("Solved · generation 0" in t and "1/5" in t for t in tiles), tiles
        assert any("Solved · generation 3" in t and "5/5" in t and "+4" in t for t in tiles), tiles
        # evaluation plans: 4 actions at generation 0, 15 at generation 3
        assert any("Longest valid plan · generation 3" in t and "15" in t and "+11" in t
                   for t in tiles), tiles

        tables = page.locator('[data-testid="stTable"]')
        expect(tables).to_have_count(2)
        summary_rows = tables.nth(0).locator("tbody th").all_text_contents()
        assert summary_rows == ["0", "1", "2", "3"]
        expect(tables.nth(1)).to_contain_text("Plans grew 40% longer between generations 1 and 2.")
        expect(tables.nth(1)).to_contain_text("whole run")
        assert page.locator('[data-testid="stException"]').count() == 0

        shot = tmp_path / "dashboard.png"
        page.screenshot(path=str(shot))
        if out := os.environ.get("ITERDEPLOY_SCREENSHOT_DIR"):
            Path(out).mkdir(parents=True, exist_ok=True)
            shutil.copy(shot, Path(out) / shot.name)
    assert shot.stat().st_size > 10_000
    assert _fingerprint(run_dir) == before, "the dashboard changed the run store"


def test_a_multi_domain_run_gets_a_chart_per_domain(make_run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Several domains: a fifth chart, one line per domain (absent for a one-domain run, above)."""
    run_dir = make_run("two-domains", domains=("blocksworld", "rovers"), with_findings=False)
    with serve(run_dir, tmp_path / "streamlit.log") as url, open_page(url) as page:
        charts = page.locator('[data-testid="stPlotlyChart"] .js-plotly-plot')
        expect(charts).to_have_count(5, timeout=PAGE_TIMEOUT_MS)
        expect(charts.nth(2).locator(".gtitle")).to_have_text("Solved evaluation tasks per domain")
        expect(charts.nth(2).locator(".legendtext")).to_have_text(["blocksworld", "rovers"])
        assert page.locator('[data-testid="stException"]').count() == 0


def test_a_run_with_several_user_groups_gets_their_published_traces(make_run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Several user groups: a fifth chart, one stacked bar per group (absent with one group)."""
    run_dir = make_run("two-groups", groups=("long-fans", "validators"), with_findings=False)
    with serve(run_dir, tmp_path / "streamlit.log") as url, open_page(url) as page:
        charts = page.locator('[data-testid="stPlotlyChart"] .js-plotly-plot')
        expect(charts).to_have_count(5, timeout=PAGE_TIMEOUT_MS)
        chart = charts.nth(2)
        expect(chart.locator(".gtitle")).to_have_text("Published traces per user group")
        expect(chart.locator(".legendtext")).to_have_text(["long-fans", "validators"])
        # four generations, two groups: eight bars
        expect(chart.locator(".bars .point")).to_have_count(8)
        assert page.locator('[data-testid="stException"]').count() == 0


def test_an_audited_run_shows_the_inferred_reward_per_generation(make_run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """After ``iterdeploy audit``: a chart of the inferred weights, one line per feature."""
    run_dir = make_run("audited", with_rewards=True)
    with serve(run_dir, tmp_path / "streamlit.log") as url, open_page(url) as page:
        charts = page.locator('[data-testid="stPlotlyChart"] .js-plotly-plot')
        expect(charts).to_have_count(5, timeout=PAGE_TIMEOUT_MS)
        chart = charts.nth(2)
        expect(chart.locator(".gtitle")).to_have_text(
            "Inferred implicit reward per generation (white-box auditor)")
        expect(chart.locator(".legendtext")).to_have_text(["is_valid", "plan_length"])
        # intervals drawn: 4 for is_valid, 3 for plan_length (none at generation 0)
        expect(chart.locator(".errorbar path")).to_have_count(7)
        expect(page.locator("body")).to_contain_text("departure from the declared choice")
        # the caption's comment is not printed by Streamlit's magic (it once was, as a stray string)
        expect(page.locator("body")).not_to_contain_text("so that a large weight is not taken")
        assert page.locator('[data-testid="stException"]').count() == 0


def test_bad_run_dir_shows_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "not-a-run"
    bad.mkdir()
    with serve(bad, tmp_path / "streamlit.log") as url, open_page(url) as page:
        alert = page.locator('[data-testid="stAlertContentError"]')
        expect(alert).to_contain_text("Cannot show this run.", timeout=PAGE_TIMEOUT_MS)
        expect(alert).to_contain_text(f"{bad}: not a run directory (no {DB_NAME})")
        assert page.locator('[data-testid="stException"]').count() == 0
        page.screenshot(path=str(tmp_path / "dashboard-error.png"))
    assert not (bad / DB_NAME).exists(), "the dashboard must not create a store"


def test_running_run_refreshes_when_a_generation_is_committed(make_run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A run still being written: a new commit (which lands in the WAL) shows up without a reload."""
    from iterdeploy.simulator.store import GenerationBundle, GenerationRow, RunWriter, writer_lock

    run_dir = make_run("live", n_generations=1, status="started", with_findings=False)
    # hold the writer lock as a running loop does: a started run nobody writes is interrupted
    with writer_lock(run_dir), serve(run_dir, tmp_path / "streamlit.log") as url, \
            open_page(url) as page:
        expect(page.locator("body")).to_contain_text("status: started", timeout=PAGE_TIMEOUT_MS)
        expect(page.locator('[data-testid="stTable"]').first.locator("tbody th")).to_have_count(1)
        writer = RunWriter(run_dir)
        try:  # keep the writer open: the commit stays in run.sqlite-wal, the db file is untouched
            writer.commit_generation(GenerationBundle(generation=GenerationRow(
                generation=1, model_id=1, n_deploy_tasks=0, n_deploy_traces=0, n_published=0,
                train_size=0, wall_time_s=0.0, committed_at="2025-06-01T12:00:00+00:00")))
            rows = page.locator('[data-testid="stTable"]').first.locator("tbody th")
            expect(rows).to_have_text(["0", "1"], timeout=PAGE_TIMEOUT_MS)
        finally:
            writer.close()


def test_missing_chromium_fails_with_the_fix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Without chromium the browser tests must fail loudly and say how to fix it, never skip."""
    monkeypatch.setattr(sys.modules[__name__], "CHROMIUM", tmp_path / "no-chromium")
    with pytest.raises(pytest.fail.Exception, match=re.escape("run scripts/install-browser.sh")):
        with open_page("http://127.0.0.1:9"):
            pass
