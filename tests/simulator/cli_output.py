"""What the reliability tests check in a command's output, written once."""

from __future__ import annotations

from pathlib import Path


def error_line(stderr: str) -> str:
    """The one line a refused command prints: exactly one non-blank line, starting ``error: ``."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: "), stderr
    return lines[0]


def run_is_refused_and_writes_nothing(scenario_bytes: bytes, tmp_path: Path) -> str:
    """``iterdeploy run`` on a scenario file holding ``scenario_bytes``: exit 2, one error line,
    no traceback, no run directory. Returns the error line."""
    from typer.testing import CliRunner

    from iterdeploy.simulator.cli import app

    bad = tmp_path / "bad.yaml"
    bad.write_bytes(scenario_bytes)
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["run", str(bad), "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    line = error_line(result.stderr)
    assert not out.exists(), "nothing is written for a scenario that is refused"
    return line
