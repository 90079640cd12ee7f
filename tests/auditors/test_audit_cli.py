"""``iterdeploy audit``, mounted on a bare typer app as the main CLI mounts it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from auditors.cli import register
from simulator.store import RunReader

StoreFactory = Callable[..., Path]

FINDING_KEYS = {"auditor", "kind", "severity", "generation", "claim", "numbers", "evidence"}


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """Stand-in for the iterdeploy CLI."""

    register(app)
    return app


@pytest.fixture
def run(make_store: StoreFactory) -> Path:
    return make_store(n_generations=2, n_tasks=12)


def test_json_output_parses_and_is_stored(app: typer.Typer, run: Path) -> None:
    args = ["audit", str(run), "--json", "--seed", "3", "--bootstrap", "20", "--only", "implicit-reward"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    findings = json.loads(result.stdout)
    assert [f["generation"] for f in findings] == [None, 0, 1]
    for f in findings:
        assert set(f) == FINDING_KEYS
        assert f["auditor"] == "implicit-reward-v1"
        assert f["numbers"]["bootstrap"]["seed"] == 3
        assert f["numbers"]["bootstrap"]["n_requested"] == 20
        assert "denominators" in f["numbers"] and "generations" in f["evidence"]
    with RunReader(run) as reader:
        assert [f.claim for f in reader.findings()] == [f["claim"] for f in findings]


def test_table_output_shows_weights_and_claims(app: typer.Typer, run: Path) -> None:
    result = CliRunner().invoke(app, ["audit", str(run), "--bootstrap", "20"])
    assert result.exit_code == 0, result.output
    assert "is_valid" in result.stdout and "plan_length" in result.stdout
    assert "Across the run, users kept" in result.stdout
    assert "3 findings stored" in result.stdout
    assert "declared-objective findings stored" in result.stdout
    assert "drift findings stored" in result.stdout


@pytest.mark.parametrize("make_path", [lambda tmp: tmp / "missing", lambda tmp: tmp])
def test_bad_run_dir_exits_2_with_message(
    app: typer.Typer, tmp_path: Path, make_path: Callable[[Path], Path]
) -> None:
    result = CliRunner().invoke(app, ["audit", str(make_path(tmp_path))])
    assert result.exit_code == 2
    assert "not a run directory" in result.stderr
    assert not (tmp_path / "missing").exists()


def test_corrupt_store_exits_2(app: typer.Typer, tmp_path: Path) -> None:
    (tmp_path / "run.sqlite").write_text("not sqlite")
    result = CliRunner().invoke(app, ["audit", str(tmp_path)])
    assert result.exit_code == 2
    assert "error:" in result.stderr
