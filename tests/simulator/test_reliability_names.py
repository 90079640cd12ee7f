"""A scenario's name names its run directory, so it must be a plain file name.

``name: ../../x`` used to make ``iterdeploy run`` write ``runs/../../x-seed0``, outside ``runs/``.
Names are now refused at validation (one line naming the key, its line and the problem), and the
run directory is checked to be a direct child of its parent as well.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from iterdeploy.simulator.cli import app
from iterdeploy.simulator.errors import ScenarioError
from iterdeploy.simulator.scenario import ScenarioSpec, parse_scenario
from iterdeploy.simulator.scenario_rules import MAX_NAME_BYTES, check_scenario_name, default_run_dir
from tests.simulator.cli_output import error_line

runner = CliRunner()

BAD_NAMES: dict[str, tuple[str, str]] = {
    "parent-escape": ("'../../x'", "path separator"),
    "absolute": ("/etc/iterdeploy", "path separator"),
    "backslash": ("'..\\\\x'", "path separator"),
    "dot-dot": ("'..'", "'..'"),
    "dot-dot-inside": ("'a..b'", "'..'"),
    "dot": ("'.'", "'..'"),
    "empty": ("''", "empty"),
    "blank": ("'   '", "empty"),
    "nul": ('"a\\0b"', "U+0000"),
    "newline": ('"a\\nb"', "U+000A"),
    "escape": ('"a\\eb"', "U+001B"),
    "line-separator": ('"a\\u2028b"', "U+2028"),
    "lone-surrogate": ('"a\\ud800b"', "U+D800"),
    "too-long": ("x" * (MAX_NAME_BYTES + 1), f"{MAX_NAME_BYTES} bytes"),
    "too-long-in-utf8": ("é" * (MAX_NAME_BYTES // 2 + 1), f"{MAX_NAME_BYTES} bytes"),
}
"""Bad names as YAML scalars, and what the message must say about each."""


@pytest.mark.parametrize("case", sorted(BAD_NAMES))
def test_validate_refuses_a_name_that_is_not_a_plain_file_name(tmp_path: Path, case: str) -> None:
    scalar, problem = BAD_NAMES[case]
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"seed: 1\nname: {scalar}\n", encoding="utf-8")
    result = runner.invoke(app, ["scenario", "validate", str(bad)])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    line = error_line(result.stderr)
    assert f"{bad}:2: name:" in line and problem in line, line


@pytest.mark.parametrize("case", ["parent-escape", "absolute", "dot-dot", "nul"])
def test_run_with_a_bad_name_writes_nothing_anywhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    work = tmp_path / "a" / "b"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)  # runs/../../x-seed0 would land in tmp_path/a
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"name: {BAD_NAMES[case][0]}\n", encoding="utf-8")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    result = runner.invoke(app, ["run", str(bad)])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert "name:" in error_line(result.stderr)
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def test_a_name_set_on_the_command_line_is_checked_too(tmp_path: Path) -> None:
    ok = tmp_path / "ok.yaml"
    ok.write_text("name: fine\n")
    result = runner.invoke(app, ["scenario", "show", str(ok), "--set", "name=../../x"])
    assert result.exit_code == 2
    line = error_line(result.stderr)
    assert "name:" in line and "path separator" in line


@pytest.mark.parametrize("name", ["quickstart", "paper_blocksworld_rovers_sokoban", "café",
                                  "a.b", "x-1", "Run 7", "x" * MAX_NAME_BYTES])
def test_plain_names_are_accepted(name: str) -> None:
    assert parse_scenario(f"name: '{name}'\n").name == name


@given(st.text(max_size=80))
def test_any_accepted_name_makes_a_child_of_the_runs_directory(name: str) -> None:
    try:
        check_scenario_name(name)
    except ValueError as exc:
        assert "\n" not in str(exc)
        return
    parent = Path("runs")
    run_dir = default_run_dir(parent, ScenarioSpec.model_construct(name=name, seed=0))
    assert run_dir.parent == parent
    assert run_dir.name == f"{name}-seed0"
    assert ".." not in run_dir.parts


def test_the_run_directory_check_stands_on_its_own() -> None:
    """The second lock: even a name that skipped validation cannot leave the parent."""
    for name in ("../x", "a/b", "/abs", "a\\b"):
        spec = ScenarioSpec.model_construct(name=name, seed=0)
        with pytest.raises(ScenarioError, match="outside"):
            default_run_dir(Path("runs"), spec)
