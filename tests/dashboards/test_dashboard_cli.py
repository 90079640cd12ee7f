"""``iterdeploy dashboard``: checks the run directory, then hands over to Streamlit."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from dashboards import cli


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


def test_valid_run_dir_starts_streamlit_on_the_app(run_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[list[str]] = []

    def fake_run(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[bytes]:
        calls.append(cmd)
        return subprocess.CompletedProcess(cmd, 0)

    monkeypatch.setattr(subprocess, "run", fake_run)
    result = CliRunner().invoke(_app(), ["dashboard", str(run_dir), "--port", "8765"])
    assert result.exit_code == 0, result.output
    assert "curation-bias-demo" in result.output and "http://127.0.0.1:8765" in result.output
    [cmd] = calls
    assert cmd[:4] == [sys.executable, "-m", "streamlit", "run"]
    assert Path(cmd[4]) == cli.APP_PATH and cli.APP_PATH.is_file()
    opts = dict(zip(cmd[5:-2:2], cmd[6:-2:2], strict=True))
    assert opts == {"--server.address": "127.0.0.1", "--server.port": "8765",
                    "--server.headless": "true", "--browser.gatherUsageStats": "false",
                    "--client.toolbarMode": "viewer"}
    assert cmd[-2:] == ["--", str(run_dir.resolve())]


def test_streamlit_failure_is_passed_on(run_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(subprocess, "run", lambda cmd, **k: subprocess.CompletedProcess(cmd, 3))
    result = CliRunner().invoke(_app(), ["dashboard", str(run_dir), "--host", "0.0.0.0"])
    assert result.exit_code == 3


def test_bad_port_is_rejected_by_the_parser(run_dir: Path) -> None:
    result = CliRunner().invoke(_app(), ["dashboard", str(run_dir), "--port", "70000"])
    assert result.exit_code == 2


def test_registered_in_the_iterdeploy_entry_point_group() -> None:
    """The main CLI finds the command only through this entry point (layers: no import upward)."""
    entries = {e.name: e for e in importlib.metadata.entry_points(group="iterdeploy.commands")}
    assert entries["dashboard"].value == "dashboards.cli:register"
    assert entries["dashboard"].load() is cli.register
