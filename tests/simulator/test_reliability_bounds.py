"""Numbers out of their documented range, and sizes that cannot supply the tasks a run needs.

Every number in a scenario has a range (``simulator/limits.py`` and the field docstrings), checked
when the scenario is validated: a seed, a task count or a weight out of range is refused in one
line naming the file, the line and the key, never a numpy overflow, a memory error or a run with
no end later. Flags get the same ranges. A run never repeats a task, so sizes that hold fewer
distinct tasks than the run needs are refused before it starts where they can be counted
(Blocksworld), and a draw that runs out mid-run stops with exit 2 instead of drawing forever.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import iterdeploy.simulator.loop.runner
import iterdeploy.simulator.loop.task_supply
from iterdeploy.simulator.cli import app
from iterdeploy.simulator.cli.run_cmd import parse_seeds
from iterdeploy.simulator.errors import ScenarioError, TaskSupplyError
from iterdeploy.simulator.limits import MAX_SEED, MAX_SWEEP_SEEDS
from iterdeploy.simulator.loop import DeploymentLoop, derive_seed
from iterdeploy.simulator.loop.task_supply import draw_tasks as _draw_tasks
from iterdeploy.simulator.loop.task_supply import task_key as _task_key
from iterdeploy.simulator.planning import count_distinct_tasks, generate_sized
from iterdeploy.simulator.planning.blocksworld import count_states
from iterdeploy.simulator.scenario import parse_scenario
from iterdeploy.simulator.users import Population
from iterdeploy.simulator.users.spec import TaskDistributionSpec
from tests.simulator.cli_output import error_line, run_is_refused_and_writes_nothing

runner = CliRunner()
HYPOTHESIS = settings(max_examples=40, deadline=None,
                      suppress_health_check=[HealthCheck.function_scoped_fixture])


def _validate(tmp_path: Path, text: str) -> str:
    """``iterdeploy scenario validate`` on ``text``: exit 2 and the one error line."""
    bad = tmp_path / "bad.yaml"
    bad.write_text(text, encoding="utf-8")
    result = runner.invoke(app, ["scenario", "validate", str(bad)])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    return error_line(result.stderr)


BAD_NUMBERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "seed-negative": ("seed: -1\n", ("bad.yaml:1", "seed", "greater than or equal to 0")),
    "seed-2**32": ("seed: 4294967296\n", ("bad.yaml:1", "seed", "less than or equal to 4294967295")),
    "seed-2**63": ("seed: 9223372036854775808\n", ("bad.yaml:1", "seed", "less than or equal")),
    "seed-2**200": (f"seed: {2**200}\n", ("bad.yaml:1", "seed", "less than or equal")),
    "seed-fraction": ("seed: 1.5\n", ("bad.yaml:1", "seed", "integer")),
    "seed-nan": ("seed: .nan\n", ("bad.yaml:1", "seed", "finite")),
    "generations-negative": ("generations: -1\n", ("bad.yaml:1", "generations", "greater than")),
    "generations-huge": ("generations: 1000000\n", ("bad.yaml:1", "generations", "less than")),
    "tasks-zero": ("deploy:\n  tasks_per_generation: 0\n",
                   ("bad.yaml:2", "deploy.tasks_per_generation", "greater than")),
    "tasks-billions": ("deploy:\n  tasks_per_generation: 5000000000\n",
                       ("bad.yaml:2", "deploy.tasks_per_generation", "less than or equal to 10000")),
    "samples-huge": ("deploy:\n  samples_per_task: 100000\n",
                     ("bad.yaml:2", "deploy.samples_per_task", "less than or equal to 256")),
    "max-new-tokens-huge": ("deploy:\n  max_new_tokens: 1000000\n",
                            ("bad.yaml:2", "deploy.max_new_tokens", "less than")),
    "temperature-nan": ("deploy:\n  temperature: .nan\n",
                        ("bad.yaml:2", "deploy.temperature", "finite")),
    "temperature-inf": ("deploy:\n  temperature: .inf\n",
                        ("bad.yaml:2", "deploy.temperature", "finite")),
    "temperature-negative": ("deploy:\n  temperature: -0.5\n",
                             ("bad.yaml:2", "deploy.temperature", "greater than")),
    "size-too-small": ("deploy:\n  sizes: {min: 1, max: 3}\n",
                       ("bad.yaml:2", "deploy.sizes.min", "greater than")),
    "size-huge": ("deploy:\n  sizes: {min: 3, max: 1000000000}\n",
                  ("bad.yaml:2", "deploy.sizes.max", "less than")),
    "sizes-reversed": ("deploy:\n  sizes: {min: 6, max: 3}\n",
                       ("bad.yaml:2", "deploy.sizes", "must not exceed")),
    "size-outside-the-generator": ("domains: {ferry: {min: 1, max: 999}}\nmodel: smollm2-135m\n",
                                   ("bad.yaml:1", "domains.ferry", "out of range")),
    "eval-tasks-billions": ("evaluation:\n  n_tasks: 1000000000000\n",
                            ("bad.yaml:2", "evaluation.n_tasks", "less than")),
    "eval-samples-zero": ("evaluation:\n  samples_per_task: 0\n",
                          ("bad.yaml:2", "evaluation.samples_per_task", "greater than")),
    "lr-zero": ("training:\n  lr: 0\n", ("bad.yaml:2", "training.lr", "greater than 0")),
    "lr-nan": ("training:\n  lr: .nan\n", ("bad.yaml:2", "training.lr", "finite")),
    "lr-inf": ("training:\n  lr: .inf\n", ("bad.yaml:2", "training.lr", "finite")),
    "epochs-huge": ("training:\n  n_epochs: 1000000\n", ("bad.yaml:2", "training.n_epochs", "less")),
    "batch-size-huge": ("training:\n  batch_size: 1000000000\n",
                        ("bad.yaml:2", "training.batch_size", "less than")),
    "batch-size-zero": ("training:\n  batch_size: 0\n",
                        ("bad.yaml:2", "training.batch_size", "greater than")),
    "max-len-huge": ("training:\n  max_len: 1000000000\n", ("bad.yaml:2", "training.max_len", "less")),
    "lora-alpha-huge": ("training:\n  lora_alpha: 1000000000\n",
                        ("bad.yaml:2", "training.lora_alpha", "less than")),
    "few-shot-huge": ("model:\n  few_shot: 100\n", ("bad.yaml:2", "model.few_shot", "less than")),
    "reference-share-inf": ("pool:\n  reference_share: .inf\n",
                            ("bad.yaml:2", "pool.reference_share", "finite")),
    "user-weight-negative": ("users:\n  - weight: -1.0\n", ("bad.yaml:2", "users.0.weight", "greater")),
    "user-weight-inf": ("users:\n  - weight: .inf\n", ("bad.yaml:2", "users.0.weight", "finite")),
    "user-weight-nan": ("users:\n  - weight: .nan\n", ("bad.yaml:2", "users.0.weight", "finite")),
    "user-weight-overflows-a-sum": ("users:\n  - {name: a, weight: 1.0e+308}\n"
                                    "  - {name: b, weight: 1.0}\n",
                                    ("bad.yaml:2", "users.0.weight", "less than or equal to 1000000")),
    "user-count-huge": ("users:\n  - count: 1000000\n", ("bad.yaml:2", "users.0.count", "less than")),
    "stubbornness-above-1": ("users:\n  - stubbornness: 1.5\n",
                             ("bad.yaml:2", "users.0.stubbornness", "less than")),
    "probability-above-1": ("users:\n  - policy: {noisy_validator: {false_accept: 1.5}}\n",
                            ("bad.yaml:2", "false_accept", "less than or equal to 1")),
    "probability-nan": ("users:\n  - policy: {adversarial: {rate: .nan}}\n",
                        ("bad.yaml:2", "rate", "finite")),
    "domain-weight-zero": ("domains: {blocksworld: {weight: 0}}\n",
                           ("bad.yaml:1", "domains.blocksworld.weight", "greater than")),
    "graph-p-nan": ("dynamics:\n  graph: {kind: erdos_renyi, p: .nan}\n",
                    ("bad.yaml:2", "dynamics.graph.p", "finite")),
    "churn-negative": ("dynamics:\n  churn: {leave: -0.1}\n",
                       ("bad.yaml:2", "dynamics.churn.leave", "greater than")),
    "min-groups-huge": ("dynamics:\n  churn: {min_groups: 1000000000}\n",
                        ("bad.yaml:2", "dynamics.churn.min_groups", "less than")),
    "schedule-generation-huge": (
        "users: [{name: a}]\ndynamics:\n  schedule:\n    - {generation: 1000, group: a, "
        "policy: longest}\n", ("bad.yaml:4", "dynamics.schedule.0.generation", "less than")),
}
"""Out-of-range numbers and what the one error line must contain: file:line, key, the problem."""


@pytest.mark.parametrize("case", sorted(BAD_NUMBERS))
def test_validate_refuses_a_number_out_of_range_in_one_line(tmp_path: Path, case: str) -> None:
    text, needles = BAD_NUMBERS[case]
    line = _validate(tmp_path, text)
    for needle in needles:
        assert needle in line, line


@pytest.mark.parametrize("case", ["seed-2**63", "tasks-billions", "lr-nan", "user-weight-inf"])
def test_run_refuses_a_number_out_of_range_and_writes_nothing(tmp_path: Path, case: str) -> None:
    run_is_refused_and_writes_nothing(BAD_NUMBERS[case][0].encode(), tmp_path)


def test_a_set_value_out_of_range_names_the_override(tmp_path: Path) -> None:
    scenario = tmp_path / "ok.yaml"
    scenario.write_text("name: ok\nseed: 3\n", encoding="utf-8")
    result = runner.invoke(app, ["scenario", "show", str(scenario), "--set", "seed=-1"])
    assert result.exit_code == 2
    line = error_line(result.stderr)
    assert "(override seed)" in line and "seed: Input should be greater than or equal to 0" in line
    assert "ok.yaml:2" not in line, "the file's line holds the value the override replaced"


_INT_KEYS = {  # key path → (low, high) of its documented range
    "seed": (0, MAX_SEED), "generations": (0, 50), "deploy.tasks_per_generation": (1, 10_000),
    "deploy.samples_per_task": (1, 256), "deploy.max_new_tokens": (1, 8192),
    "evaluation.n_tasks": (1, 10_000), "evaluation.samples_per_task": (1, 256),
    "training.n_epochs": (1, 100), "training.batch_size": (1, 4096), "training.max_len": (16, 32768),
    "training.lora_r": (1, 256), "training.lora_alpha": (1, 4096), "model.few_shot": (0, 8),
}
_FLOAT_KEYS = {
    "deploy.temperature": (0.0, 5.0), "evaluation.temperature": (0.0, 5.0),
    "training.lr": (0.0, 1.0), "pool.reference_share": (0.0, 10.0),
}


def _nested(dotted: str, value: str) -> str:
    """``a.b: v`` as a YAML document with one key per line."""
    keys = dotted.split(".")
    return "".join(f"{'  ' * i}{k}:\n" for i, k in enumerate(keys[:-1])) + \
        f"{'  ' * (len(keys) - 1)}{keys[-1]}: {value}\n"


@HYPOTHESIS
@given(key=st.sampled_from(sorted(_INT_KEYS)),
       offset=st.one_of(st.integers(1, 10), st.integers(1, 2**70), st.just(2**300)),
       below=st.booleans())
def test_any_integer_outside_its_range_is_refused(tmp_path: Path, key: str, offset: int,
                                                  below: bool) -> None:
    low, high = _INT_KEYS[key]
    value = low - offset if below else high + offset
    line = _validate(tmp_path, _nested(key, str(value)))
    assert f"bad.yaml:{key.count('.') + 1}: {key}:" in line, line
    assert len(line) < 400, "the value is quoted cut short"


@HYPOTHESIS
@given(key=st.sampled_from(sorted(_FLOAT_KEYS)),
       value=st.one_of(st.sampled_from([".nan", ".inf", "-.inf", "1.0e+308", "-1.0e+308"]),
                       # written with 7 significant digits, as YAML would carry it: a float just
                       # above 10 that the writing rounds to 10.0 is in range, so it is left out
                       st.floats(10.0, 1e300, exclude_min=True).map(lambda x: f"{x:.6e}")
                       .filter(lambda text: float(text) > 10.0),
                       st.floats(-1e300, -1e-9).map(lambda x: f"{x:.6e}")))
def test_any_float_that_is_not_finite_or_in_range_is_refused(tmp_path: Path, key: str,
                                                             value: str) -> None:
    line = _validate(tmp_path, _nested(key, value))
    assert f"bad.yaml:{key.count('.') + 1}: {key}:" in line, line


@pytest.mark.parametrize(("args", "needle"), [
    (["--seed", "-1"], "--seed"),
    (["--seed", str(2**32)], "--seed"),
    (["--seed", str(2**64)], "--seed"),
    (["--generations", "51"], "--generations"),
    (["--generations", "-3"], "--generations"),
])
def test_run_flags_have_the_scenario_ranges(tmp_path: Path, args: list[str], needle: str) -> None:
    scenario = tmp_path / "ok.yaml"
    scenario.write_text("name: ok\n", encoding="utf-8")
    out = tmp_path / "run"
    result = runner.invoke(app, ["run", str(scenario), "--out", str(out), *args])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert needle in result.output
    assert not out.exists()


@pytest.mark.parametrize(("seeds", "needle"), [
    ("-1", "expected seeds like"),
    (str(2**32), "out of range"),
    (f"0-{2**40}", "out of range"),
    ("0-99999999999999999999999999999", "out of range"),
    (f"0-{MAX_SWEEP_SEEDS}", f"more than {MAX_SWEEP_SEEDS} seeds"),
    (",".join(f"{i * 2000}-{i * 2000 + 600}" for i in range(2)), f"more than {MAX_SWEEP_SEEDS}"),
    ("1" * 5000, "expected seeds like"),
])
def test_seeds_sweep_is_bounded_before_it_is_expanded(tmp_path: Path, seeds: str, needle: str) -> None:
    scenario = tmp_path / "ok.yaml"
    scenario.write_text("name: ok\n", encoding="utf-8")
    started = time.monotonic()
    result = runner.invoke(app, ["run", str(scenario), "--seeds", seeds, "--out", str(tmp_path / "r")])
    assert time.monotonic() - started < 10
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    line = error_line(result.stderr)
    assert "--seeds" in line and needle in line, line
    assert len(line) < 400
    assert not (tmp_path / "r").exists()


def test_the_largest_sweep_and_seed_are_accepted() -> None:
    assert parse_seeds(f"0-{MAX_SWEEP_SEEDS - 1}") == list(range(MAX_SWEEP_SEEDS))
    assert parse_seeds(str(MAX_SEED)) == [MAX_SEED]
    spec = parse_scenario(f"seed: {MAX_SEED}\n")
    assert 0 <= derive_seed(spec.seed, "x") < 2**32


@pytest.mark.parametrize(("args", "needle"), [
    (["tasks", "blocksworld", "-n", "0"], "--n"),
    (["tasks", "blocksworld", "-n", "1000000000"], "--n"),
    (["tasks", "blocksworld", "--seed", "-1"], "--seed"),
    (["tasks", "blocksworld", "--seed", str(2**64)], "--seed"),
    (["tasks", "blocksworld", "--optimal", "--time-limit", "inf"], "--time-limit"),
    (["tasks", "blocksworld", "--optimal", "--time-limit", "nan"], "--time-limit"),
    (["tasks", "blocksworld", "--size", "n_blocks=1000000000000"], "n_blocks"),
    (["tasks", "blocksworld", "--size", "n_blocks=-5"], "n_blocks"),
])
def test_tasks_flags_are_bounded(tmp_path: Path, args: list[str], needle: str) -> None:
    out = tmp_path / "tasks"
    result = runner.invoke(app, [*args, "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert needle in result.output
    assert not out.exists() or not any(out.iterdir())


@pytest.mark.parametrize("args", [["--time-limit", "inf"], ["--memory-limit", str(2**40)],
                                  ["--memory-limit", "1"]])
def test_plan_flags_are_bounded(tmp_path: Path, args: list[str]) -> None:
    result = runner.invoke(app, ["plan", "d.pddl", "p.pddl", *args])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert args[0] in result.output


# --------------------------------------------------------------------------- task supply

SUPPLY: dict[str, tuple[str, tuple[str, ...]]] = {
    "the-issues-case": ("deploy:\n  sizes: {min: 2, max: 2}\n",
                        ("bad.yaml:2", "deploy.sizes", "960 deployment tasks", "only 6 distinct")),
    "fresh-tasks-over-generations": (
        "generations: 5\ndeploy:\n  tasks_per_generation: 50\n  sizes: {min: 3, max: 3}\n",
        ("bad.yaml:4", "deploy.sizes", "300", "6 generations", "only 156 distinct")),
    "evaluation-pool": ("evaluation:\n  n_tasks: 7\n  sizes: {min: 2, max: 2}\n",
                        ("bad.yaml:2", "evaluation.n_tasks", "7 distinct tasks", "only 6 exist")),
    "evaluation-and-deployment-together": (
        "generations: 0\ndeploy:\n  tasks_per_generation: 1\n  sizes: {min: 2, max: 2}\n"
        "evaluation:\n  n_tasks: 6\n  sizes: {min: 2, max: 2}\n",
        ("bad.yaml:4", "deploy.sizes", "needs 7 distinct tasks", "hold only 6")),
    "several-domains": ("domains: {blocksworld: {min: 2, max: 3}}\ngenerations: 1\n"
                        "deploy: {tasks_per_generation: 100}\n",
                        ("bad.yaml:1", "domains", "200 deployment tasks",
                         "(blocksworld sizes 2-3) hold only 162")),
    "a-group-with-its-own-sizes": (
        "generations: 0\ndeploy: {tasks_per_generation: 5, sizes: {min: 2, max: 2}}\n"
        "evaluation: {n_tasks: 2, sizes: {min: 2, max: 2}}\n"
        "users: [{name: a, tasks: {blocksworld: {min: 2, max: 2}}}]\n",
        ("deploy.sizes", "needs 7 distinct tasks", "hold only 6")),
}


@pytest.mark.parametrize("case", sorted(SUPPLY))
def test_sizes_that_cannot_supply_the_run_are_refused_before_it_starts(
    tmp_path: Path, case: str
) -> None:
    text, needles = SUPPLY[case]
    line = _validate(tmp_path, text)
    for needle in needles:
        assert needle in line, line
    out = tmp_path / "run"
    result = runner.invoke(app, ["run", str(tmp_path / "bad.yaml"), "--out", str(out)])
    assert result.exit_code == 2 and not out.exists()


@pytest.mark.parametrize("text", [
    "evaluation:\n  n_tasks: 6\n  sizes: {min: 2, max: 2}\n",  # exactly the 6 there are
    "generations: 0\ndeploy: {tasks_per_generation: 6, sizes: {min: 2, max: 2}}\n",
    "deploy: {pool: fixed, tasks_per_generation: 150, sizes: {min: 3, max: 3}}\n",
    "generations: 5\ndeploy: {tasks_per_generation: 26, sizes: {min: 3, max: 3}}\n",  # 156 of 156
])
def test_sizes_that_just_suffice_are_accepted(text: str) -> None:
    parse_scenario(text)


@pytest.mark.parametrize(("n_blocks", "draws"), [(2, 400), (3, 6000)])
def test_the_blocksworld_count_is_what_the_generator_reaches(n_blocks: int, draws: int) -> None:
    """The count the refusal quotes is exact: drawing long enough finds every task, no more."""
    rng = np.random.default_rng(n_blocks)
    keys = {_task_key(generate_sized("blocksworld", n_blocks, rng).task) for _ in range(draws)}
    assert len(keys) == count_distinct_tasks("blocksworld", n_blocks)


def test_the_blocksworld_count_follows_the_tower_numbers() -> None:
    assert [count_states(n) for n in range(1, 8)] == [1, 3, 13, 73, 501, 4051, 37633]
    assert count_distinct_tasks("blocksworld", 4) == 73 * 72
    assert count_distinct_tasks("ferry", 1) is None, "other domains are not counted"
    assert math.log10(count_distinct_tasks("blocksworld", 40) or 1) > 90, "instant at any size"


def _patch_draws(monkeypatch: pytest.MonkeyPatch, limit: int) -> None:
    monkeypatch.setattr(iterdeploy.simulator.loop.task_supply, "MAX_REPEATED_DRAWS", limit)


def test_a_draw_that_runs_out_stops_with_the_sizes_named(monkeypatch: pytest.MonkeyPatch) -> None:
    _patch_draws(monkeypatch, 300)
    ferry = TaskDistributionSpec.model_validate({"ferry": {"min": 1, "max": 1}})
    started = time.monotonic()
    with pytest.raises(TaskSupplyError) as caught:
        _draw_tasks(np.random.default_rng(0), 10, ferry, "g3", set())
    assert time.monotonic() - started < 30, "gives up, does not hang"
    message = str(caught.value)
    assert "\n" not in message
    assert "generation 3's deployment tasks: found only 4 of the 10" in message
    assert "ferry size 1" in message and "300 draws in a row" in message
    blocks = TaskDistributionSpec.model_validate({"blocksworld": {"min": 2, "max": 2}})
    with pytest.raises(TaskSupplyError, match="6 distinct tasks exist there"):
        _draw_tasks(np.random.default_rng(0), 7, blocks, "eval", set())


def test_counting_repeats_changes_no_draw() -> None:
    """Runs that finished before the bound existed draw exactly the same tasks."""
    dist = TaskDistributionSpec.model_validate({"blocksworld": {"min": 2, "max": 3}})
    seen: set[tuple[object, ...]] = set()
    first = _draw_tasks(np.random.default_rng(5), 40, dist, "g0", seen)
    rng, again, keys = np.random.default_rng(5), [], set()
    while len(again) < 40:  # the loop as it was, without a bound
        domain, size = dist.draw(rng)
        task = generate_sized(domain, size, rng, name=f"g0-{len(again)}-n{size}").task
        if _task_key(task) not in keys:
            keys.add(_task_key(task))
            again.append(task)
    assert first == again


def test_a_later_generation_that_runs_out_stops_with_that_message(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A fresh pool excludes every earlier task, so a small domain runs out generations later."""
    _patch_draws(monkeypatch, 300)
    spec = parse_scenario("domains: {ferry: {min: 1, max: 1}}\nmodel: smollm2-135m\n"
                          "generations: 3\ndeploy: {tasks_per_generation: 3}\n"
                          "evaluation: {n_tasks: 1, sizes: {min: 3, max: 3}}\n"
                          "users: [{name: a, tasks: {ferry: {min: 1, max: 1}}}]\n")
    loop = DeploymentLoop(spec, "", "unused")
    users = Population.from_spec(spec.population_spec(), seed=derive_seed(spec.seed, "social-graph"))
    seen: set[tuple[object, ...]] = set()
    tasks, _ = loop._deploy_tasks(0, seen, users)
    assert len(tasks) == 3
    with pytest.raises(TaskSupplyError, match="generation 1's deployment tasks: found only 1 of the 3"):
        loop._deploy_tasks(1, seen, users)


def test_run_stops_with_exit_2_when_the_evaluation_pool_runs_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through ``iterdeploy run``: the pool is drawn before the model loads, so the run stops at
    once, with one line and no traceback."""
    _patch_draws(monkeypatch, 300)

    def no_model(*args: object, **kwargs: object) -> None:
        raise AssertionError("the model must not load before the evaluation pool is drawn")

    monkeypatch.setattr(iterdeploy.simulator.loop.runner, "load_planner", no_model)
    scenario = tmp_path / "small.yaml"
    scenario.write_text("name: small\ndomains: {ferry: {min: 1, max: 1}}\nmodel: smollm2-135m\n"
                        "evaluation: {n_tasks: 10}\n", encoding="utf-8")
    started = time.monotonic()
    result = runner.invoke(app, ["run", str(scenario), "--out", str(tmp_path / "run")])
    assert time.monotonic() - started < 60
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    line = error_line(result.stderr)
    assert "the evaluation pool: found only" in line and "ferry size 1" in line, line


def test_the_supply_refusal_is_a_scenario_error() -> None:
    assert issubclass(TaskSupplyError, ScenarioError)
    with pytest.raises(ScenarioError, match="only 6 distinct"):
        parse_scenario("deploy:\n  sizes: {min: 2, max: 2}\n")
