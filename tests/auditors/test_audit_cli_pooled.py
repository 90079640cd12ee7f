"""``iterdeploy audit RUN_DIR...``: several runs audited one by one, then their findings pooled.

The stores are synthetic runs written through the real writer and audited by the real auditors
(``tests/auditors/conftest.py``); one test runs the whole thing on two tiny real seeds.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from iterdeploy.auditors.cli import register
from iterdeploy.simulator.store import RunReader, RunWriter

REPO = Path(__file__).resolve().parents[2]
FAST = ["--only", "implicit-reward", "--bootstrap", "10"]


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """Stand-in for the iterdeploy CLI."""

    register(app)
    return app


@pytest.fixture
def seeds(tmp_path: Path, synthetic: Any) -> list[Path]:
    """Two seeds of one synthetic scenario (same settings, different seed and run id), not yet
    audited."""
    return [_write(tmp_path / f"seed{seed}", synthetic, seed) for seed in (0, 1)]


def _write(run_dir: Path, synthetic: Any, seed: int, run_id: str | None = None) -> Path:
    writer = RunWriter(run_dir)
    try:
        writer.create_run(synthetic.run_row().model_copy(
            update={"seed": seed, "run_id": run_id or f"00000000-0000-4000-8000-{seed:012d}"}))
        for bundle in synthetic.make_bundles(seed=seed, n_generations=2, n_tasks=12, rules="length_bias"):
            writer.commit_generation(bundle)
    finally:
        writer.close()
    return run_dir


def _stored(run_dir: Path) -> list[str]:
    with RunReader(run_dir) as reader:
        return [f.auditor for f in reader.findings()]


def _one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def test_several_runs_are_audited_each_then_pooled(app: typer.Typer, seeds: list[Path]) -> None:
    result = CliRunner().invoke(app, ["audit", *map(str, seeds), *FAST, "--json"])
    assert result.exit_code == 0, result.output
    for run_dir in seeds:  # each run's findings are stored in that run, as with one run
        assert _stored(run_dir) == ["implicit-reward-v2"] * 3
        assert f"audited {run_dir}: 3 findings stored (implicit-reward 3)" in result.stderr
    pooled = json.loads(result.stdout)  # stdout holds the JSON alone
    (group,) = pooled["groups"]
    assert group["label"] == "synthetic"
    assert [(r["seed"], r["n_findings"]) for r in group["runs"]] == [(0, 3), (1, 3)]
    assert [f["generation"] for f in group["findings"]] == [None, 0, 1]
    assert all(f["n_present"] == 2 and f["recurrence"] == "every seed" for f in group["findings"])
    valid = next(w for w in group["reward"] if w["generation"] is None and w["feature"] == "is_valid")
    with RunReader(seeds[0]) as a, RunReader(seeds[1]) as b:
        weights = [json.loads(r.findings()[0].numbers_json)["features"]["is_valid"]["weight"] for r in (a, b)]
    assert valid["weight"]["values"] == weights
    assert valid["weight"]["mean"] == pytest.approx(sum(weights) / 2, abs=1e-4)


def test_pool_only_reads_what_is_stored_and_writes_nothing(app: typer.Typer, seeds: list[Path]) -> None:
    assert CliRunner().invoke(app, ["audit", *map(str, seeds), *FAST]).exit_code == 0
    before = [(p / "run.sqlite").read_bytes() for p in seeds]
    result = CliRunner().invoke(app, ["audit", *map(str, seeds), "--pool-only"])
    assert result.exit_code == 0, result.output
    assert "synthetic: 2 seed(s) (0, 1)" in result.stdout
    for title in ("Inferred reward across seeds", "Findings across seeds"):
        assert title in result.stdout
    assert "every seed" in result.stdout and f"audited {seeds[0]}" not in result.output
    assert [(p / "run.sqlite").read_bytes() for p in seeds] == before


def test_one_run_behaves_as_before(app: typer.Typer, seeds: list[Path]) -> None:
    result = CliRunner().invoke(app, ["audit", str(seeds[0]), *FAST, "--json"])
    assert result.exit_code == 0, result.output
    findings = json.loads(result.stdout)  # the findings as a JSON list, nothing pooled
    assert isinstance(findings, list) and [f["generation"] for f in findings] == [None, 0, 1]
    table = CliRunner().invoke(app, ["audit", str(seeds[0]), *FAST])
    assert "3 findings stored in" in table.stdout and "across seeds" not in table.stdout


def test_pool_only_refuses_a_run_without_findings(app: typer.Typer, seeds: list[Path]) -> None:
    result = CliRunner().invoke(app, ["audit", *map(str, seeds), "--pool-only"])
    assert result.exit_code == 2
    line = _one_error_line(result.stderr)
    assert f"{seeds[0]} holds no stored findings: audit it first" in line
    assert _stored(seeds[0]) == [] and _stored(seeds[1]) == []


def test_a_path_that_is_not_a_run_fails_before_any_audit(
    app: typer.Typer, seeds: list[Path], tmp_path: Path
) -> None:
    (tmp_path / "typo").mkdir()
    result = CliRunner().invoke(app, ["audit", str(seeds[0]), str(tmp_path / "typo"), *FAST])
    assert result.exit_code == 2
    assert "typo" in _one_error_line(result.stderr)
    assert _stored(seeds[0]) == []  # the good run was not audited either


def test_two_runs_of_one_seed_fail_before_any_audit(
    app: typer.Typer, seeds: list[Path], tmp_path: Path, synthetic: Any
) -> None:
    again = _write(tmp_path / "again", synthetic, 1, run_id="00000000-0000-4000-8000-0000000000aa")
    result = CliRunner().invoke(app, ["audit", *map(str, seeds), str(again), *FAST])
    assert result.exit_code == 2
    assert "both seed 1 of scenario synthetic" in _one_error_line(result.stderr)
    assert all(_stored(p) == [] for p in (*seeds, again))


def test_an_outdated_audit_is_replaced_not_refused(app: typer.Typer, seeds: list[Path]) -> None:
    """Seed 0 holds an older version's findings, seed 1 the current one's: pooling what is stored
    is refused, and auditing both again (without --pool-only) pools the current version only."""
    from iterdeploy.auditors.core.findings import make_finding
    from iterdeploy.auditors.payloads import ImplicitRewardNumbers

    for run_dir, version in zip(seeds, ("implicit-reward-v1", "implicit-reward-v2"), strict=True):
        writer = RunWriter(run_dir)
        try:
            writer.replace_findings(version, [make_finding(
                auditor=version, kind="implicit-reward", severity="info", generation=None,
                claim="an earlier audit", numbers=ImplicitRewardNumbers.build({}), evidence={})])
        finally:
            writer.close()
    refused = CliRunner().invoke(app, ["audit", *map(str, seeds), "--pool-only"])
    assert refused.exit_code == 2
    assert "different versions of implicit-reward" in _one_error_line(refused.stderr)
    result = CliRunner().invoke(app, ["audit", *map(str, seeds), *FAST, "--json"])
    assert result.exit_code == 0, result.output
    (group,) = json.loads(result.stdout)["groups"]
    assert [r["auditors"] for r in group["runs"]] == [["implicit-reward-v2"]] * 2
    assert _stored(seeds[0]).count("implicit-reward-v1") == 1  # left in the store, not pooled


def test_the_same_run_twice_is_refused(app: typer.Typer, seeds: list[Path]) -> None:
    result = CliRunner().invoke(app, ["audit", str(seeds[0]), str(seeds[0]), *FAST])
    assert result.exit_code == 2 and "are the same run" in _one_error_line(result.stderr)


@pytest.mark.slow  # 87-126 s on the shared 2-core machine (two tiny runs, the tiny model, audits)
def test_two_tiny_real_seeds_audited_and_pooled(tmp_path: Path) -> None:
    """The real check: two tiny seeds of length_bias written by the real loop, audited and pooled
    by the real command, in a real ``iterdeploy`` process."""
    from tests.conftest import TINY_OVERRIDES

    command = [sys.executable, "-m", "iterdeploy.simulator.cli"]
    out = tmp_path / "runs"
    run = [*command, "run", "scenarios/length_bias.yaml", "--out", str(out), "--seeds", "0,1"]
    for key, value in TINY_OVERRIDES.items():
        run += ["--set", f"{key}={value}"]
    done = subprocess.run(run, cwd=REPO, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    runs = sorted(p for p in out.iterdir() if (p / "run.sqlite").exists())
    assert len(runs) == 2
    audit = [*command, "audit", *map(str, runs), "--only", "implicit-reward", "--only", "drift",
             "--bootstrap", "20", "--json"]
    done = subprocess.run(audit, cwd=REPO, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    (group,) = json.loads(done.stdout)["groups"]
    assert group["name"] == "length_bias" and [r["seed"] for r in group["runs"]] == [0, 1]
    for run_dir, pooled_run in zip(runs, group["runs"], strict=True):
        assert pooled_run["n_findings"] == len(_stored(run_dir)) > 0
    assert group["reward"] and all(w["n_seeds"] == 2 for w in group["reward"])
    assert all(f["n_present"] <= f["n_audited"] <= 2 for f in group["findings"])
