"""``iterdeploy dashboard RUN_DIR``: serve the run dashboard with Streamlit.

Plugged into the main CLI through the entry-point group ``iterdeploy.commands``
(``dashboard = "iterdeploy.dashboards.cli:register"``), so the simulator never imports dashboards. The run
directory is checked here first, because a bad path should fail in the terminal with exit code 2,
not as a red box in a browser tab nobody opened yet.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer

from iterdeploy.dashboards.data import load_run
from iterdeploy.simulator.cli._common import fail
from iterdeploy.simulator.errors import IterdeployError

APP_PATH = Path(__file__).with_name("app.py")
"""The Streamlit script this command serves."""


def streamlit_command(run_dir: Path, *, host: str = "127.0.0.1", port: int = 8501) -> list[str]:
    """The command line that serves the dashboard for ``run_dir``.

    One definition, used by the CLI and by the browser tests, so the tests exercise exactly what
    users run. Streamlit is started with the current interpreter, so it sees the same packages.

    Args:
        run_dir: The run directory (passed to the page after ``--``).
        host: Address to bind (localhost by default: runs can hold private data).
        port: TCP port.

    Returns:
        The argv list for :func:`subprocess.run`.
    """
    return [
        sys.executable, "-m", "streamlit", "run", str(APP_PATH),
        "--server.address", host,
        "--server.port", str(port),
        "--server.headless", "true",
        "--browser.gatherUsageStats", "false",
        # stakeholders get a viewer's toolbar: no "Deploy" button, no developer menu
        "--client.toolbarMode", "viewer",
        "--", str(run_dir),
    ]


def dashboard(
    run_dir: Path = typer.Argument(..., help="Run directory written by `iterdeploy run`."),
    port: int = typer.Option(8501, min=1, max=65535, help="TCP port to serve on."),
    host: str = typer.Option("127.0.0.1", help="Address to bind; 0.0.0.0 exposes the page."),
) -> None:
    """Serve a read-only dashboard of one run (solved tasks, plan lengths, findings)."""
    try:
        data = load_run(run_dir)
    except IterdeployError as exc:
        # one line and exit 2 (the traceback under ``iterdeploy --debug``), as every command
        raise fail(exc) from None
    typer.echo(f"{data.overview.name} ({data.overview.status}): http://{host}:{port}  (Ctrl-C stops)")
    sys.stdout.flush()
    # Become the server rather than start it as a child: a SIGTERM from a process manager or
    # ``kill`` then reaches Streamlit itself, which shuts down, instead of killing a parent that
    # leaves an orphaned server holding the port.
    command = streamlit_command(run_dir.resolve(), host=host, port=port)
    os.execv(command[0], command)


def register(app: typer.Typer) -> None:
    """Attach the ``dashboard`` command to ``app``."""
    app.command("dashboard")(dashboard)
