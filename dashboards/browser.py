"""Headless Chromium and a served dashboard: what the PDF report, the screenshots script and the
browser tests all drive, defined once so the three see the same browser and the same server.

The browser is Debian's chromium (``scripts/install-browser.sh``), driven by playwright, which is
imported by the callers only (a test tool, not a dependency of the dashboard). :func:`serve` runs
exactly the command ``iterdeploy dashboard`` runs (:func:`~iterdeploy.dashboards.cli.streamlit_command`).
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from iterdeploy.dashboards.cli import streamlit_command

if TYPE_CHECKING:
    from playwright.sync_api import Page

CHROMIUM = Path("/usr/bin/chromium")
"""Debian's chromium: the one browser the report, the screenshots and the tests use."""

CHROMIUM_ARGS: tuple[str, ...] = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
)
"""Headless, and nothing that reaches the network on its own (updates, sync, QUIC probes)."""

SERVER_START_TIMEOUT_S = 60.0
"""How long :func:`serve` waits for Streamlit's health check before it gives up."""


class DashboardServerError(RuntimeError):
    """The dashboard server exited or never became healthy; the message holds its log."""


def free_port() -> int:
    """A TCP port nobody listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serve(run_dirs: Path | Sequence[Path], log_path: Path,
          start_timeout_s: float = SERVER_START_TIMEOUT_S) -> Iterator[str]:
    """Run the dashboard server for ``run_dirs`` until the block ends; yield its base URL.

    The server is always stopped, by the id of the process started here, however the block ends.

    Raises:
        DashboardServerError: When the server exits, or is not healthy within ``start_timeout_s``.
    """
    port = free_port()
    env = {**os.environ, "STREAMLIT_SERVER_FILE_WATCHER_TYPE": "none"}
    with log_path.open("wb") as log:
        proc = subprocess.Popen(streamlit_command(run_dirs, port=port), stdout=log,
                                stderr=subprocess.STDOUT, env=env)
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + start_timeout_s
            while True:
                if proc.poll() is not None:
                    raise DashboardServerError(
                        f"streamlit exited with {proc.returncode}:\n{log_path.read_text()}")
                try:
                    with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as resp:
                        if resp.status == 200:
                            break
                except (urllib.error.URLError, ConnectionError, TimeoutError):
                    pass
                if time.monotonic() > deadline:
                    raise DashboardServerError(
                        f"streamlit not healthy after {start_timeout_s:g} s:\n{log_path.read_text()}")
                time.sleep(0.2)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def wait_until_drawn(page: Page, timeout_ms: int) -> None:
    """Wait until Streamlit has run the page to its end and its text has stopped changing (tables
    and metrics arrive a moment after the script ends), and every plotly chart has drawn."""
    page.wait_for_selector('[data-testid="stHeading"], [data-testid="stAlert"]', timeout=timeout_ms)
    page.wait_for_function(
        """() => {
            const app = document.querySelector('[data-testid="stApp"]');
            if (!app || app.getAttribute('data-test-script-state') === 'running') return false;
            const charts = document.querySelectorAll('[data-testid="stPlotlyChart"]');
            return [...charts].every(c => c.querySelector('.main-svg'));
        }""", timeout=timeout_ms)
    before = ""
    for _ in range(timeout_ms // 500):
        page.wait_for_timeout(500)
        now = page.inner_text("body")
        if now == before and not page.locator('[data-testid="stSkeleton"]').count():
            return
        before = now
