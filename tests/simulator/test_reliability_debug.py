"""Bad input ends in one line (exit 2), a bug in one line that says so (exit 1), and ``--debug``
(or ``ITERDEPLOY_DEBUG=1``) shows the traceback of either.

A bug is simulated by replacing a command's internals with a function that raises
``RuntimeError``; every user-facing command goes through the same root command group
(:class:`iterdeploy.simulator.cli._common.RootGroup`), the plugged-in ``audit`` and ``dashboard`` included.
Most cases run through typer's ``CliRunner``; the real ``python -m iterdeploy.simulator.cli`` process is run
too, since only there does Python itself print the traceback that ``--debug`` lets through.
"""

from __future__ import annotations

import subprocess
import sys
import traceback
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from iterdeploy.simulator.cli import _load_plugins, app
from iterdeploy.simulator.cli._common import DEBUG_ENV, RootGroup, bug_line
from iterdeploy.simulator.errors import ScenarioError, StoreError

REPO = Path(__file__).resolve().parents[2]
QUICKSTART = str(REPO / "scenarios" / "quickstart.yaml")
runner = CliRunner()
_load_plugins()  # audit, calibrate and dashboard come through entry points


def _boom(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError("simulated bug\nwith a second line")


def _one_line(result: Any, code: int) -> str:
    """Exit ``code``, no traceback, exactly one ``error:`` line on stderr; returns it."""
    assert result.exit_code == code, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return str(lines[0])


def _empty_scenario(tmp_path: Path) -> Path:
    path = tmp_path / "empty.yaml"
    path.write_text("# nothing yet\n")
    return path


# -- bad input: one line and 2; with --debug the refusal's traceback -------------------------------


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path) -> None:
    line = _one_line(runner.invoke(app, ["scenario", "validate", str(_empty_scenario(tmp_path))]), 2)
    assert "empty.yaml: empty scenario; write at least a name" in line
    line = _one_line(runner.invoke(app, ["summary", str(tmp_path / "none")]), 2)
    assert "none" in line


@pytest.mark.parametrize("how", ["flag", "env"])
def test_debug_lets_the_refusal_through_with_its_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    args = ["scenario", "validate", str(_empty_scenario(tmp_path))]
    if how == "flag":
        result = runner.invoke(app, ["--debug", *args])
    else:
        monkeypatch.setenv(DEBUG_ENV, "1")
        result = runner.invoke(app, args)
    assert isinstance(result.exception, ScenarioError), result.output
    assert "empty scenario" in str(result.exception)
    # the traceback reaches the place that refused the file, not only the command
    assert result.exc_info is not None
    frames = [frame.name for frame in traceback.extract_tb(result.exc_info[2])]
    assert "load_scenario" in frames, frames


def test_debug_does_not_stick_to_the_next_invocation(tmp_path: Path) -> None:
    """The flag is read on every invocation: a ``--debug`` run leaves none behind."""
    path = str(_empty_scenario(tmp_path))
    assert isinstance(runner.invoke(app, ["--debug", "scenario", "validate", path]).exception,
                      ScenarioError)
    _one_line(runner.invoke(app, ["scenario", "validate", path]), 2)


def test_env_var_off_values_keep_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DEBUG_ENV, "0")
    _one_line(runner.invoke(app, ["scenario", "validate", str(_empty_scenario(tmp_path))]), 2)


# -- a bug: one line and 1; with --debug the bug's own traceback -----------------------------------


BUGS: dict[str, tuple[str, list[str]]] = {
    # command's internal replaced by _boom, and the command line (TMP is the test's directory)
    "summary": ("iterdeploy.simulator.cli.summary_cmd.RunReader", ["summary", "TMP"]),
    "run": ("iterdeploy.simulator.loop.run_scenario", ["run", QUICKSTART, "--out", "TMP/out"]),
    "scenario-show": ("iterdeploy.simulator.scenario.load_scenario", ["scenario", "show", QUICKSTART]),
    "audit": ("iterdeploy.auditors.core.findings.audit_and_store", ["audit", "TMP"]),
    "dashboard": ("iterdeploy.dashboards.cli.load_run", ["dashboard", "TMP"]),
}


def _bug_args(tmp_path: Path, case: str, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    target, args = BUGS[case]
    monkeypatch.setattr(target, _boom)
    return [a.replace("TMP", str(tmp_path)) for a in args]


@pytest.mark.parametrize("case", sorted(BUGS))
def test_a_bug_is_one_line_and_exit_1(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str) -> None:
    line = _one_line(runner.invoke(app, _bug_args(tmp_path, case, monkeypatch)), 1)
    assert "internal error (RuntimeError: simulated bug with a second line" in line, line
    assert "a bug in iterdeploy" in line and "report it" in line and "--debug" in line, line
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("case", sorted(BUGS))
def test_debug_shows_the_bug(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str) -> None:
    result = runner.invoke(app, ["--debug", *_bug_args(tmp_path, case, monkeypatch)])
    assert isinstance(result.exception, RuntimeError), result.output
    assert "internal error" not in result.output


def test_plugged_in_commands_refuse_bad_input_the_same_way(tmp_path: Path) -> None:
    """``audit`` and ``dashboard`` use the simulator's ``fail``: one line, or the traceback."""
    for command in ("audit", "dashboard"):
        _one_line(runner.invoke(app, [command, str(tmp_path / "none")]), 2)
        result = runner.invoke(app, ["--debug", command, str(tmp_path / "none")])
        assert isinstance(result.exception, StoreError), (command, result.output)


def test_an_uncaught_refusal_is_still_bad_input() -> None:
    """An ``IterdeployError`` a command forgot to catch is still the user's to fix: exit 2."""
    test_app = typer.Typer(cls=RootGroup)

    @test_app.command()
    def go() -> None:
        raise ScenarioError("x.yaml: the problem")

    @test_app.command()
    def other() -> None:
        pass

    line = _one_line(runner.invoke(test_app, ["go"]), 2)
    assert line == "error: x.yaml: the problem"


def test_usage_errors_and_a_broken_pipe_are_not_bugs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = runner.invoke(app, ["run", QUICKSTART, "--seed", "-1"])
    assert result.exit_code == 2 and "internal error" not in result.output
    monkeypatch.setattr("iterdeploy.simulator.cli.summary_cmd.RunReader", _raise_broken_pipe)
    result = runner.invoke(app, ["summary", str(tmp_path)])
    assert result.exit_code == 1 and "internal error" not in result.output, result.output


def _raise_broken_pipe(*args: Any, **kwargs: Any) -> Any:
    raise BrokenPipeError(32, "Broken pipe")  # ``iterdeploy summary RUN | head`` closing early


def test_the_bug_line_names_the_innermost_frame_and_stays_short() -> None:
    try:
        _boom()
    except RuntimeError as exc:
        line = bug_line(exc)
    assert "at test_reliability_debug.py:" in line and "in _boom" in line
    assert "\n" not in line
    huge = RuntimeError("x" * 10_000)
    assert len(bug_line(huge)) < 700


# -- the real entry point ------------------------------------------------------------------------

_PATCHED_MAIN = (
    "import sys; import iterdeploy.simulator.cli.summary_cmd as s\n"
    "def boom(*a, **k): raise RuntimeError('simulated bug')\n"
    "s.RunReader = boom\n"
    "from iterdeploy.simulator.cli import main; main()\n"
)


def _process(args: list[str], *, env: dict[str, str] | None = None,
             patched: bool = False) -> subprocess.CompletedProcess[str]:
    command = ([sys.executable, "-c", _PATCHED_MAIN] if patched
               else [sys.executable, "-m", "iterdeploy.simulator.cli"])
    return subprocess.run([*command, *args], capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin", "COLUMNS": "300",
                               **(env or {})})


def test_the_real_entry_point(tmp_path: Path) -> None:
    """Python's own traceback appears only with ``--debug`` (or the variable), for bad input and
    for a bug alike; without it, one line each, exit 2 and exit 1."""
    empty = str(_empty_scenario(tmp_path))
    plain = _process(["scenario", "validate", empty])
    assert plain.returncode == 2 and "Traceback" not in plain.stderr, plain.stderr
    assert len(plain.stderr.strip().splitlines()) == 1, plain.stderr
    for debug in (_process(["--debug", "scenario", "validate", empty]),
                  _process(["scenario", "validate", empty], env={DEBUG_ENV: "1"})):
        assert debug.returncode == 1, debug.stderr
        assert "Traceback (most recent call last)" in debug.stderr, debug.stderr
        assert "iterdeploy.simulator.errors.ScenarioError" in debug.stderr and "load_scenario" in debug.stderr

    bug = _process(["summary", str(tmp_path)], patched=True)
    assert bug.returncode == 1 and "Traceback" not in bug.stderr, bug.stderr
    assert bug.stderr.startswith("error: internal error (RuntimeError: simulated bug at <string>:2 in boom)")
    assert len(bug.stderr.strip().splitlines()) == 1, bug.stderr
    debug = _process(["--debug", "summary", str(tmp_path)], patched=True)
    assert debug.returncode == 1
    assert "Traceback (most recent call last)" in debug.stderr
    assert "RuntimeError: simulated bug" in debug.stderr
