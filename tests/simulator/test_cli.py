"""The ``iterdeploy`` command as a user types it: run, summary, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from iterdeploy.simulator.cli import _load_plugins, app

runner = CliRunner()
SUMMARY_KEYS = {"generation", "evaluated", "solved", "mean_plan_length", "longest_plan_length", "train_size"}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.conftest import TINY_OVERRIDES

    out = tmp_path_factory.mktemp("cli") / "run"
    args = ["run", "scenarios/quickstart.yaml", "--out", str(out)]
    for key, value in TINY_OVERRIDES.items():
        args += ["--set", f"{key}={value}"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "eval solved" in result.output.replace("\n", " ") or "solved" in result.output
    return out


def test_summary_json_has_the_documented_keys(tiny_run: Path) -> None:
    result = runner.invoke(app, ["summary", str(tiny_run), "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [r["generation"] for r in rows] == [0, 1]
    for row in rows:
        assert SUMMARY_KEYS <= set(row)
        assert 0 <= row["solved"] <= row["evaluated"]


def test_summary_table_shows_what_the_json_says(tiny_run: Path) -> None:
    rows = json.loads(runner.invoke(app, ["summary", str(tiny_run), "--json"]).output)
    result = runner.invoke(app, ["summary", str(tiny_run)], env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    # the quickstart deploys on a fixed pool (the paper's protocol): its columns say so
    assert "pool longest" in result.output and "on the held-out tasks" in result.output
    lines = [line for line in result.output.splitlines() if line.strip().startswith("│")]
    assert len(lines) == len(rows)
    for line, row in zip(lines, rows, strict=True):
        cells = [c.strip() for c in line.strip("│ ").split("│")]
        assert cells[:2] == [str(row["generation"]), f"{row['solved']}/{row['evaluated']}"]
        longest = row["longest_plan_length"]
        assert cells[3] == ("-" if longest is None else str(longest))


def test_rerun_of_a_finished_run_is_a_no_op(tiny_run: Path) -> None:
    from tests.conftest import TINY_OVERRIDES

    args = ["run", "scenarios/quickstart.yaml", "--out", str(tiny_run)]
    for key, value in TINY_OVERRIDES.items():
        args += ["--set", f"{key}={value}"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output


def test_summary_of_a_non_run_directory_exits_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["summary", str(tmp_path)])
    assert result.exit_code == 2
    assert "not a run directory" in result.output


def test_bad_scenario_exits_2_naming_key_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ndeploy:\n  samples: 3\n")
    result = runner.invoke(app, ["run", str(bad), "--out", str(tmp_path / "r")])
    assert result.exit_code == 2
    assert "bad.yaml:3" in result.output and "deploy.samples" in result.output
    assert not (tmp_path / "r").exists(), "nothing is written for an invalid scenario"


def test_bad_set_override_exits_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["run", "scenarios/quickstart.yaml", "--set", "generations"])
    assert result.exit_code == 2 and "KEY.PATH=VALUE" in result.output


def test_plugins_register_audit_and_dashboard() -> None:
    _load_plugins()
    names = {c.name for c in app.registered_commands}
    assert {"run", "summary", "audit", "dashboard"} <= names


@pytest.mark.parametrize("value", ["0", "many", "-1"])
def test_a_bad_worker_count_exits_2_naming_the_option(tmp_path: Path, value: str) -> None:
    result = runner.invoke(app, ["run", "quickstart", "--workers", value, "--out", str(tmp_path / "r")])
    assert result.exit_code == 2
    assert "--workers" in result.output and "positive number" in result.output
    assert not (tmp_path / "r").exists(), "nothing is written before the options are checked"


def test_workers_reach_the_sampling_of_the_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from iterdeploy.simulator.models import sampling_pool

    seen: list[int] = []
    monkeypatch.setattr("iterdeploy.simulator.loop.run_scenario",
                        lambda *a, **k: seen.append(sampling_pool.configured_workers()) or [])
    result = runner.invoke(app, ["run", "quickstart", "--workers", "3", "--out", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    assert seen == [3]
    assert sampling_pool.configured_workers() == 1, "the suite's own setting is back afterwards"
