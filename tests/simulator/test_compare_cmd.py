"""``iterdeploy compare``: the summary across runs as mean and spread, checked by hand on small
stores written through the store's own writer, and its refusals of bad input."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from iterdeploy.simulator.cli import app
from iterdeploy.simulator.store import EvaluationRow, GenerationBundle, RunRow, RunWriter, summarize
from iterdeploy.simulator.studies import compare_runs, spread
from tests.simulator.cli_output import error_line
from tests.simulator.test_store_queries import NOW, _generation, _model, _task, _trace

runner = CliRunner()

EVAL_SIZES = (2, 3, 4, 5)
"""The toy runs' evaluation tasks (ids 1-4); a solved task's plan is twice its size long."""


def toy_run(path: Path, seed: int, solved: list[int], *, status: str = "completed",
            generations: int = 1, **settings: Any) -> Path:
    """A run store whose generation g solves the first ``solved[g]`` evaluation tasks (one valid
    plan each, of length 2·size) and has a training set of ``10·(g+1) + seed``; ``settings`` are
    scenario sections that make it another scenario."""
    scenario = {"name": "toy", "seed": seed, "generations": generations, "deploy": {"pool": "fixed"},
                **settings}
    writer = RunWriter(path)
    writer.create_run(RunRow(run_id=f"{path.name}-{seed}", name="toy", seed=seed, scenario_yaml="",
                             scenario_json=json.dumps(scenario), status="started", created_at=NOW,
                             package_versions="{}"))
    trace_id = 0
    for g, n in enumerate(solved):
        bundle = GenerationBundle(
            generation=_generation(g).model_copy(update={"train_size": 10 * (g + 1) + seed}),
            tasks=[_task(i + 1, "eval", None, size=s) for i, s in enumerate(EVAL_SIZES)] if g == 0 else [],
            models=[_model(g)])
        for i, size in enumerate(EVAL_SIZES):
            ok = i < n
            bundle.evaluations.append(EvaluationRow(
                generation=g, task_id=i + 1, n_samples=1, n_valid=int(ok), solved=ok,
                best_plan_length=2 * size if ok else None))
            if ok:
                trace_id += 1
                bundle.traces.append(_trace(trace_id + 100 * g, g, i + 1, "eval", True, 2 * size))
        writer.commit_generation(bundle)
    if status != "started":
        writer.set_status(status)  # type: ignore[arg-type]
    writer.close()
    return path


@pytest.fixture
def seeds(tmp_path: Path) -> list[Path]:
    """Seeds 0 and 1 finished (two generations); seed 2 interrupted after generation 0."""
    return [toy_run(tmp_path / "s0", 0, [1, 3]), toy_run(tmp_path / "s1", 1, [2, 4]),
            toy_run(tmp_path / "s2", 2, [4], status="started")]


def test_spread_of_three_values_by_hand() -> None:
    s = spread([1, 2, 4])
    # mean 7/3; sd sqrt(((4/3)² + (1/3)² + (5/3)²) / 2) = sqrt(7/3); t(0.975, 2) = 4.302653
    assert (s.n, s.mean, s.min, s.max) == (3, 2.3333, 1.0, 4.0)
    assert s.sd == pytest.approx(1.5275, abs=1e-4)
    assert (s.ci95_low, s.ci95_high) == pytest.approx((-1.4613, 6.1279), abs=1e-4)


def test_spread_of_one_value_and_of_none() -> None:
    one = spread([5, None])
    assert (one.n, one.mean, one.sd, one.ci95_low, one.values) == (1, 5.0, None, None, [5.0, None])
    assert spread([None]).mean is None


def test_seeds_give_a_hand_checked_mean_and_spread_per_generation(seeds: list[Path]) -> None:
    [group] = compare_runs(seeds).groups
    assert group.label == "toy" and group.fixed_pool
    assert [(r.seed, r.status, r.flagged, r.last_generation) for r in group.runs] == [
        (0, "completed", False, 1), (1, "completed", False, 1), (2, "interrupted", True, 0)]
    g0, g1 = group.generations
    assert (g0.n_runs, g0.seeds, g1.n_runs, g1.seeds) == (3, [0, 1, 2], 2, [0, 1])
    solved = g0.quantities["solved"]
    assert (solved.mean, solved.min, solved.max, solved.values) == (2.3333, 1.0, 4.0, [1.0, 2.0, 4.0])
    assert solved.sd == pytest.approx(1.5275, abs=1e-4)
    # mean plan lengths 4, (4+6)/2 = 5, (4+6+8+10)/4 = 7: mean 16/3
    assert g0.quantities["mean_plan_length"].values == [4.0, 5.0, 7.0]
    assert g0.quantities["mean_plan_length"].mean == pytest.approx(16 / 3, abs=1e-4)
    # generation 1: seeds 0 and 1 only; t(0.975, 1) = 12.7062, sd = sqrt(1/2)
    solved1 = g1.quantities["solved"]
    assert (solved1.n, solved1.mean, solved1.values) == (2, 3.5, [3.0, 4.0, None])
    assert (solved1.ci95_low, solved1.ci95_high) == pytest.approx((-2.8531, 9.8531), abs=1e-4)
    assert g1.quantities["train_size"].values == [20.0, 21.0, None]
    assert g0.quantities["evaluated"].values == [4.0, 4.0, 4.0]


def test_every_number_is_summarys_own(seeds: list[Path]) -> None:
    """The comparison reads `summarize`'s rows: each run's value is that run's summary number."""
    from iterdeploy.simulator.store import RunReader

    [group] = compare_runs(seeds).groups
    for i, path in enumerate(seeds):
        with RunReader(path) as reader:
            for row in summarize(reader):
                stats = group.generations[row.generation].quantities
                for field, value in row.model_dump().items():
                    if field in stats:
                        assert stats[field].values[i] == (None if value is None else float(value))


def test_other_settings_under_one_name_are_another_group(tmp_path: Path, seeds: list[Path]) -> None:
    replace = toy_run(tmp_path / "r0", 0, [4, 4], pool={"mode": "replace"})
    longer = toy_run(tmp_path / "l3", 3, [0, 0, 0], generations=2)  # more generations, same study
    comparison = compare_runs([*seeds, replace, longer])
    assert [g.label for g in comparison.groups] == ["toy", 'toy [pool.mode="replace"]']
    first, second = comparison.groups
    assert [r.seed for r in first.runs] == [0, 1, 2, 3]
    assert second.differs == {"pool.mode": "replace"}
    assert [g.n_runs for g in first.generations] == [4, 3, 1]


def test_table_flags_the_interrupted_run(seeds: list[Path]) -> None:
    result = runner.invoke(app, ["compare", *map(str, seeds)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "toy: 3 runs (seeds 0, 1, 2)" in result.output
    assert "2.3 ± 1.5" in result.output and "1–4" in result.output
    assert "2 of 3" in result.output  # generation 1: two of the three runs
    assert "flagged: seed 2" in result.output and "interrupted" in result.output


def test_csv_json_and_markdown_say_the_same(seeds: list[Path], tmp_path: Path) -> None:
    rows = list(csv.DictReader(io.StringIO(
        runner.invoke(app, ["compare", *map(str, seeds), "--format", "csv"]).output)))
    row = next(r for r in rows if r["generation"] == "0" and r["quantity"] == "solved")
    assert (row["mean"], row["sd"], row["min"], row["max"], row["seeds"], row["flagged_runs"]) == (
        "2.3333", "1.5275", "1", "4", "0 1 2", "1")
    data = json.loads(runner.invoke(app, ["compare", *map(str, seeds), "-f", "json"]).output)
    assert data["groups"][0]["generations"][1]["quantities"]["solved"]["values"] == [3.0, 4.0, None]
    other = toy_run(tmp_path / "r0", 0, [4], pool={"mode": "replace"})
    markdown = runner.invoke(app, ["compare", *map(str, seeds), str(other), "-f", "markdown"]).output
    assert "| 0 | 3 | 2.3 ± 1.5 (1–4) |" in markdown
    assert "### Scenarios compared: solved tasks" in markdown
    assert "- flagged: seed 2" in markdown


def test_a_path_that_is_not_a_run_exits_2_in_one_line(seeds: list[Path], tmp_path: Path) -> None:
    result = runner.invoke(app, ["compare", str(seeds[0]), str(tmp_path / "nowhere")])
    assert result.exit_code == 2
    assert "not a run directory" in error_line(result.stderr)


def test_a_corrupt_store_exits_2_in_one_line(seeds: list[Path], tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "run.sqlite").write_bytes(b"this is not a database" * 100)
    result = runner.invoke(app, ["compare", str(seeds[0]), str(bad)])
    assert result.exit_code == 2
    assert str(bad) in error_line(result.stderr)


def test_no_runs_exits_2_in_one_line() -> None:
    result = runner.invoke(app, ["compare"])
    assert result.exit_code == 2
    assert "no run directories given" in error_line(result.stderr)


def test_the_same_run_twice_exits_2_in_one_line(seeds: list[Path]) -> None:
    result = runner.invoke(app, ["compare", str(seeds[0]), str(seeds[1]), str(seeds[0])])
    assert result.exit_code == 2
    assert "are the same run" in error_line(result.stderr)


def test_over_several_domains_sizes_are_compared_per_domain_only() -> None:
    """Blocks and waypoints have no common maximum; a domain with no valid plan has no size
    (not size 0), while its solved count is 0."""
    from iterdeploy.simulator.store import GenerationSummary
    from iterdeploy.simulator.studies.compare import _quantities, _value

    row = GenerationSummary(
        generation=0, evaluated=4, solved=1, mean_plan_length=None, longest_plan_length=None,
        train_size=0, deploy_tasks=4, deploy_solved=1, published=1, largest_solved_size=9,
        deploy_longest_plan_length=None, evaluated_by_domain={"blocksworld": 2, "rovers": 2},
        solved_by_domain={"blocksworld": 1}, largest_solved_size_by_domain={"blocksworld": 9},
        deploy_largest_solved_size=9, deploy_largest_solved_size_by_domain={"blocksworld": 9},
    )
    names = _quantities([row])
    assert "largest_solved_size" not in names and "deploy_largest_solved_size" not in names
    assert "largest_solved_size_by_domain.rovers" in names
    assert _value(row, "largest_solved_size_by_domain.blocksworld") == 9
    assert _value(row, "largest_solved_size_by_domain.rovers") is None
    assert _value(row, "solved_by_domain.rovers") == 0
    one_domain = row.model_copy(update={"evaluated_by_domain": {"blocksworld": 4}})
    assert "largest_solved_size" in _quantities([one_domain])
