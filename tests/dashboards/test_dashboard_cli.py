"""``iterdeploy dashboard``: checks the run directory, then hands over to Streamlit."""

from __future__ import annotations

import importlib.metadata
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from iterdeploy.dashboards import cli


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        """Keep ``dashboard`` a subcommand (a one-command app would become that command)."""

    cli.register(app)
    return app


def test_bad_run_dir_exits_2_with_a_clear_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: pytest.fail("streamlit must not start"))
    result = CliRunner().invoke(_app(), ["dashboard", str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert "no such directory" in result.output and str(tmp_path / "nope") in result.output
    (tmp_path / "empty").mkdir()
    result = CliRunner().invoke(_app(), ["dashboard", str(tmp_path / "empty")])
    assert result.exit_code == 2 and "not a run directory" in result.output


class _Execed(Exception):
    """Stands in for ``os.execv`` never returning."""


def test_valid_run_dir_becomes_streamlit_on_the_app(run_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[list[str]] = []

    def fake_execv(path: str, argv: list[str]) -> None:
        assert path == argv[0]
        calls.append(argv)
        raise _Execed

    monkeypatch.setattr(os, "execv", fake_execv)
    result = CliRunner().invoke(_app(), ["dashboard", str(run_dir), "--port", "8765"])
    assert isinstance(result.exception, _Execed)
    assert "curation-bias-demo" in result.output and "http://127.0.0.1:8765" in result.output
    [cmd] = calls
    assert cmd[:4] == [sys.executable, "-m", "streamlit", "run"]
    assert Path(cmd[4]) == cli.APP_PATH and cli.APP_PATH.is_file()
    opts = dict(zip(cmd[5:-2:2], cmd[6:-2:2], strict=True))
    assert opts == {"--server.address": "127.0.0.1", "--server.port": "8765",
                    "--server.headless": "true", "--browser.gatherUsageStats": "false",
                    "--client.toolbarMode": "viewer"}
    assert cmd[-2:] == ["--", str(run_dir.resolve())]


@pytest.mark.timeout(90)
def test_sigterm_stops_the_server_and_frees_the_port(run_dir: Path, tmp_path: Path) -> None:
    """The command becomes the server (exec), so a SIGTERM to the process it started stops
    Streamlit itself; nothing is left listening on the port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    log = (tmp_path / "dashboard.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "iterdeploy.simulator.cli", "dashboard", str(run_dir), "--port", str(port)],
        stdout=log, stderr=subprocess.STDOUT,
        env={**os.environ, "STREAMLIT_SERVER_FILE_WATCHER_TYPE": "none"},
    )
    try:
        deadline = time.monotonic() + 45
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2):
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                assert proc.poll() is None, (tmp_path / "dashboard.log").read_text()
                assert time.monotonic() < deadline, "the dashboard did not come up"
                time.sleep(0.3)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
    with socket.socket() as sock:  # nothing answers: no orphaned server is left
        assert sock.connect_ex(("127.0.0.1", port)) != 0
    with socket.socket() as sock:  # and the port can be listened on again (TIME_WAIT aside)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))


def test_bad_port_is_rejected_by_the_parser(run_dir: Path) -> None:
    result = CliRunner().invoke(_app(), ["dashboard", str(run_dir), "--port", "70000"])
    assert result.exit_code == 2


def test_registered_in_the_iterdeploy_entry_point_group() -> None:
    """The main CLI finds the command only through this entry point (layers: no import upward)."""
    entries = {e.name: e for e in importlib.metadata.entry_points(group="iterdeploy.commands")}
    assert entries["dashboard"].value == "iterdeploy.dashboards.cli:register"
    assert entries["dashboard"].load() is cli.register
