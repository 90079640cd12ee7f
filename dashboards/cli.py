"""``iterdeploy dashboard RUN_DIR``: serve the run dashboard with Streamlit.

Plugged into the main CLI through the entry-point group ``iterdeploy.commands``
(``dashboard = "iterdeploy.dashboards.cli:register"``), so the simulator never imports dashboards. The run
directory is checked here first, because a bad path should fail in the terminal with exit code 2,
not as a red box in a browser tab nobody opened yet.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

import typer

from iterdeploy.dashboards.data import load_run
from iterdeploy.simulator.cli._common import fail
from iterdeploy.simulator.errors import IterdeployError

APP_PATH = Path(__file__).with_name("app.py")
"""The Streamlit script this command serves."""


def streamlit_command(run_dir: Path | Sequence[Path], *, host: str = "127.0.0.1",
                      port: int = 8501) -> list[str]:
    """The command line that serves the dashboard for ``run_dir`` (one run, or several).

    One definition, used by the CLI and by the browser tests, so the tests exercise exactly what
    users run. Streamlit is started with the current interpreter, so it sees the same packages.

    Args:
        run_dir: The run directory, or several (passed to the page after ``--``; the first is
            the one the single-run pages open on, the Compare page shows them all).
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
        "--", *(str(d) for d in ([run_dir] if isinstance(run_dir, Path) else run_dir)),
    ]


def dashboard(
    run_dirs: list[Path] = typer.Argument(..., metavar="RUN_DIR", help="Run directories written by "
                                          "`iterdeploy run`; several are compared side by side."),
    port: int = typer.Option(8501, min=1, max=65535, help="TCP port to serve on."),
    host: str = typer.Option("127.0.0.1", help="Address to bind; 0.0.0.0 exposes the page."),
) -> None:
    """Serve a read-only dashboard of one or more runs (overview, capability, implicit reward,
    findings, traces, population, comparison)."""
    try:
        loaded = [load_run(run_dir) for run_dir in run_dirs]
    except IterdeployError as exc:
        # one line and exit 2 (the traceback under ``iterdeploy --debug``), as every command
        raise fail(exc) from None
    names = ", ".join(f"{d.overview.name} ({d.overview.status})" for d in loaded)
    typer.echo(f"{names}: http://{host}:{port}  (Ctrl-C stops)")
    sys.stdout.flush()
    # Become the server rather than start it as a child: a SIGTERM from a process manager or
    # ``kill`` then reaches Streamlit itself, which shuts down, instead of killing a parent that
    # leaves an orphaned server holding the port.
    command = streamlit_command([d.resolve() for d in run_dirs], host=host, port=port)
    os.execv(command[0], command)


def report(
    run_dirs: list[Path] = typer.Argument(..., help="Run directories; the first is summarised, several "
                                          "add a section across seeds."),
    out: Path = typer.Option(Path("report.html"), "--out", "-o", help="The HTML file to write."),
    pdf: bool = typer.Option(False, "--pdf", help="Also print it to a PDF beside it, through headless "
                             "Chromium."),
) -> None:
    """Write one self-contained HTML report (summary, plots, findings with evidence, methods)."""
    # imported here: plotly.js, jinja2 and the figures load only for this command
    from iterdeploy.dashboards.report import write_pdf, write_report

    try:
        words = ["iterdeploy report", *map(str, run_dirs), "-o", str(out), *(["--pdf"] if pdf else [])]
        command = " ".join(words)
        path = write_report(run_dirs, out, command=command)
        typer.echo(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB; opens offline in any browser)")
        if pdf:
            pdf_path = write_pdf(path, path.with_suffix(".pdf"))
            typer.echo(f"wrote {pdf_path} ({pdf_path.stat().st_size / 1e6:.1f} MB)")
    except IterdeployError as exc:
        raise fail(exc) from None


def register(app: typer.Typer) -> None:
    """Attach the ``dashboard`` command to ``app``."""
    app.command("dashboard")(dashboard)
    app.command("report")(report)
