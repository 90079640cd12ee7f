"""End to end: the real Streamlit server, the real pages, a real headless chromium.

Streamlit renders in the browser, so only a browser shows whether a page works: a script error
appears as a red box, never as a failing HTTP status. These tests start ``streamlit run`` with the
exact command ``iterdeploy dashboard`` uses (``tests/dashboards/conftest.py``), open the pages with
playwright driving Debian's chromium (playwright cannot download its own browser here), and check
what a stakeholder would see. Every page on a real and on synthetic stores is in
``test_dashboard_pages.py``; markup in store text is in ``test_dashboard_xss.py``; this module has
the server's own behaviour: a bad run directory, a run still being written, a missing browser.

A missing chromium is a test failure, not a skip: CI must run ``scripts/install-browser.sh`` first,
and a silently skipped end-to-end test would hide a broken page.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from iterdeploy.dashboards.browser import serve
from iterdeploy.simulator.store import DB_NAME
from tests.dashboards import conftest
from tests.dashboards.conftest import PAGE_TIMEOUT_MS, assert_clean, chromium, open_page

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]


def test_bad_run_dir_shows_a_clear_error(browser: Browser, tmp_path: Path) -> None:
    bad = tmp_path / "not-a-run"
    bad.mkdir()
    with serve(bad, tmp_path / "streamlit.log") as url:
        for path in ("", "findings"):
            page = open_page(browser, f"{url}/{path}")
            alert = page.locator('[data-testid="stAlertContentError"]')
            expect(alert).to_have_count(1)
            expect(alert).to_contain_text("Cannot show this run.", timeout=PAGE_TIMEOUT_MS)
            expect(alert).to_contain_text(f"{bad}: not a run directory (no {DB_NAME})")
            assert_clean(page)
    assert not (bad / DB_NAME).exists(), "the dashboard must not create a store"


def test_running_run_refreshes_when_a_generation_is_committed(make_run, browser: Browser,  # type: ignore[no-untyped-def]
                                                              tmp_path: Path) -> None:
    """A run still being written: a new commit (which lands in the WAL) shows up without a reload."""
    from iterdeploy.simulator.store import GenerationBundle, GenerationRow, RunWriter, writer_lock

    run_dir = make_run("live", n_generations=1, status="started", with_findings=False)
    # hold the writer lock as a running loop does: a started run nobody writes is interrupted
    with writer_lock(run_dir), serve(run_dir, tmp_path / "streamlit.log") as url:
        page = open_page(browser, f"{url}/capability")
        expect(page.locator("body")).to_contain_text("status: started", timeout=PAGE_TIMEOUT_MS)
        expect(page.locator("body")).to_contain_text("Run in progress")
        rows = page.locator('[data-testid="stTable"]').first.locator("tbody th")
        expect(rows).to_have_text(["0"])
        writer = RunWriter(run_dir)
        try:  # keep the writer open: the commit stays in run.sqlite-wal, the db file is untouched
            writer.commit_generation(GenerationBundle(generation=GenerationRow(
                generation=1, model_id=1, n_deploy_tasks=0, n_deploy_traces=0, n_published=0,
                train_size=0, wall_time_s=0.0, committed_at="2025-06-01T12:00:00+00:00")))
            expect(rows).to_have_text(["0", "1"], timeout=PAGE_TIMEOUT_MS)
        finally:
            writer.close()
        assert_clean(page)


def test_missing_chromium_fails_with_the_fix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Without chromium the browser tests must fail loudly and say how to fix it, never skip."""
    monkeypatch.setattr(conftest, "CHROMIUM", tmp_path / "no-chromium")
    with pytest.raises(pytest.fail.Exception, match=re.escape("run scripts/install-browser.sh")):
        with chromium():
            pass
    assert sys.modules[chromium.__module__] is conftest
