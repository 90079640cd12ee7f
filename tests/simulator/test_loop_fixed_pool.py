"""The paper's protocol: one deployment pool, met again by every generation, solved counted on it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from iterdeploy.simulator.loop import run_scenario
from iterdeploy.simulator.loop.task_supply import draw_generated
from iterdeploy.simulator.models.embedded import ParamRange
from iterdeploy.simulator.scenario import parse_scenario
from iterdeploy.simulator.store import (
    FIRST_STEP,
    RunReader,
    deploy_status_by_size,
    solved_by_size,
    summarize,
    valid_deploy_samples,
)
from iterdeploy.simulator.users.spec import DomainTasks, TaskDistributionSpec
from tests.conftest import killed_in_generation


def _run(tmp: Path, overrides: dict[str, object], name: str) -> Path:
    spec = parse_scenario("name: tiny\n", overrides=overrides)
    run_scenario(spec, "name: tiny\n", tmp / name)
    return tmp / name


def _problems(run_dir: Path, pool: str) -> dict[int | None, list[str]]:
    with RunReader(run_dir) as reader:
        rows = reader.query(
            "SELECT generation, problem_pddl FROM tasks WHERE pool=? ORDER BY task_id", (pool,))
    out: dict[int | None, list[str]] = {}
    for r in rows:
        out.setdefault(r["generation"], []).append(r["problem_pddl"].split("(:init", 1)[1])
    return out


def test_fixed_pool_is_met_again_by_every_generation(
    tmp_path: Path, tiny_overrides: dict[str, object]
) -> None:
    fixed = _run(tmp_path, {**tiny_overrides, "generations": 2, "deploy.pool": "fixed"}, "fixed")
    fresh = _run(tmp_path, {**tiny_overrides, "generations": 2}, "fresh")

    pool = _problems(fixed, "deploy")
    assert sorted(pool) == [0, 1, 2]
    assert pool[0] == pool[1] == pool[2]
    # generation 0 draws exactly what the fresh mode draws; the fresh mode then draws new tasks
    fresh_tasks = _problems(fresh, "deploy")
    assert fresh_tasks[0] == pool[0]
    assert not set(fresh_tasks[1]) & set(fresh_tasks[0])
    # the held-out evaluation pool is the same in both modes and disjoint from the pool
    held_out = _problems(fixed, "eval")[None]
    assert held_out == _problems(fresh, "eval")[None]
    assert not set(held_out) & set(pool[0])

    with RunReader(fixed) as reader:
        rows = summarize(reader)
        for r in rows:
            solved = reader.query(
                "SELECT COUNT(DISTINCT t.task_id) AS n FROM traces t JOIN tasks k USING (task_id) "
                "WHERE k.pool='deploy' AND k.generation=? AND t.is_valid", (r.generation,))[0]["n"]
            assert r.deploy_solved == solved == r.deploy_solved_by_domain.get("blocksworld", 0)
            assert r.deploy_tasks_by_domain == {"blocksworld": tiny_overrides[
                "deploy.tasks_per_generation"]}
        by_size = solved_by_size(reader)
        for r in rows:
            mine = [v for (g, _, _), v in by_size.items() if g == r.generation]
            assert sum(n for n, _ in mine) == r.deploy_solved
            assert sum(t for _, t in mine) == r.deploy_tasks
        valid = valid_deploy_samples(reader)
        statuses = deploy_status_by_size(reader)
        for r in rows:
            samples = reader.traces(generation=r.generation, purpose="deploy")
            # valid samples per generation: every deployment sample once, the valid ones counted
            assert valid[r.generation] == (sum(t.is_valid for t in samples), len(samples))
            assert valid[r.generation][0] >= r.deploy_solved
            # and why the others fail: every sample once, under its status, per size
            mine = {k: n for k, n in statuses.items() if k[0] == r.generation}
            assert sum(mine.values()) == len(samples)
            assert sum(n for k, n in mine.items() if k[3] == "valid") == valid[r.generation][0]
            cut = sum(t.hit_token_limit and not t.is_valid for t in samples)
            assert sum(n for k, n in mine.items() if k[3] == "hit_token_limit") == cut
            # step failures split by where they fail: the first action, or a later one
            uncut = [t for t in samples if t.status == "invalid_step" and not t.hit_token_limit]
            first = sum(t.verdict.failed_step == 0 for t in uncut)
            assert sum(n for k, n in mine.items() if k[3] == FIRST_STEP) == first
            assert sum(n for k, n in mine.items() if k[3] == "invalid_step") == len(uncut) - first
            assert all(n > 0 for n in mine.values())
            assert {k[2] for k in mine} <= {k[2] for k in by_size if k[0] == r.generation}


def test_fixed_pool_resumes_to_the_same_run(
    tmp_path: Path, tiny_overrides: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    overrides = {**tiny_overrides, "generations": 2, "deploy.pool": "fixed"}
    full = _run(tmp_path, overrides, "full")
    with killed_in_generation(monkeypatch, 2):
        _run(tmp_path, overrides, "resumed")
    _run(tmp_path, overrides, "resumed")

    def fingerprint(run_dir: Path) -> list[object]:
        with RunReader(run_dir) as reader:
            return [(t.trace_id, t.task_id, t.completion) for t in reader.traces()]

    assert fingerprint(full) == fingerprint(tmp_path / "resumed")
    assert _problems(full, "deploy") == _problems(tmp_path / "resumed", "deploy")


def test_a_pool_mode_that_does_not_exist_is_named() -> None:
    from iterdeploy.simulator.scenario import ScenarioError

    with pytest.raises(ScenarioError, match="pool"):
        parse_scenario("name: x\ndeploy: {pool: rolling}\n")


def test_newest_weight_repeats_the_newest_generations_traces(
    tmp_path: Path, tiny_overrides: dict[str, object]
) -> None:
    plain = _run(tmp_path, {**tiny_overrides, "generations": 2, "deploy.pool": "fixed"}, "plain")
    weighted = _run(tmp_path, {**tiny_overrides, "generations": 2, "deploy.pool": "fixed",
                               "training.newest_weight": 3}, "weighted")
    with RunReader(plain) as a, RunReader(weighted) as b:
        for g in (1, 2):
            n_plain = a.query("SELECT n_train_examples AS n FROM models WHERE generation=?", (g,))
            n_weighted = b.query("SELECT n_train_examples AS n FROM models WHERE generation=?", (g,))
            newest = b.query(
                "SELECT COUNT(*) AS n FROM training_sets s JOIN traces t USING (trace_id) "
                "WHERE s.generation=? AND t.generation=? AND t.purpose='deploy'", (g, g - 1))
            if g == 1:  # generation 0 deployed the same tasks with the same base in both runs
                assert newest[0]["n"] > 0  # the tiny base solves some 2-3-block tasks
                assert n_weighted[0]["n"] == n_plain[0]["n"] + 2 * newest[0]["n"]
            else:
                total = b.query("SELECT COUNT(*) AS n FROM training_sets WHERE generation=?", (g,))
                assert n_weighted[0]["n"] == total[0]["n"] + 2 * newest[0]["n"]


def test_replay_draws_reference_tasks_of_the_pretraining_sizes(
    tmp_path: Path, tiny_overrides: dict[str, object]
) -> None:
    overrides = {**tiny_overrides, "deploy.pool": "fixed", "pool.reference_share": 1.0,
                 "pool.reference_sizes": "pretraining"}
    spec = parse_scenario("name: tiny\n", overrides=overrides)
    # the tiny recipe pretrains on 2-3 blocks (a tail aside); the pool has 2-4
    assert spec.reference_tasks().domains["blocksworld"].model_dump() == {
        "min": 2, "max": 3, "weight": 1.0}
    assert spec.model_copy(update={"pool": spec.pool.model_copy(
        update={"reference_sizes": "deploy"})}).reference_tasks() == spec.deploy_tasks()
    run = _run(tmp_path, overrides, "replay")
    with RunReader(run) as reader:
        sizes = [r["size"] for r in reader.query("SELECT size FROM tasks WHERE pool='reference'")]
        published = reader.query("SELECT COUNT(*) AS n FROM curation_decisions WHERE kept")[0]["n"]
    assert published > 0 and len(sizes) > 0
    assert set(sizes) <= {2, 3}


def test_replay_of_the_pretraining_corpus_needs_the_embedded_model() -> None:
    from iterdeploy.simulator.scenario import ScenarioError

    with pytest.raises(ScenarioError, match=r"pool\.reference_sizes: 'pretraining'"):
        parse_scenario("name: x\nmodel: smollm2-135m\npool: {reference_sizes: pretraining}\n")


SETTLED_CORPUS = ("model: {embedded: {pretrain_blocksworld_weight: 0, pretrain_domains: {sokoban: "
                  "{min_size: 1, max_size: 2, params: {n_settled: {min: 1, max: 1}}}}}}\n"
                  "domains: {sokoban: {min: 2, max: 3}}\n")


def test_a_replay_draws_its_tasks_with_the_corpus_generator_parameters() -> None:
    replay = parse_scenario("name: x\n" + SETTLED_CORPUS + "pool: {reference_sizes: pretraining}\n")
    assert replay.reference_params() == {"sokoban": {"n_settled": ParamRange(min=1, max=1)}}
    # the deployment's own sizes are its tasks as deployed, with the generator's defaults
    assert parse_scenario("name: x\n" + SETTLED_CORPUS).reference_params() == {}
    tasks = draw_generated(np.random.default_rng(0), 6, replay.reference_tasks(), "ref0", set(),
                           params=replay.reference_params())
    for generated in tasks:
        boxes = {a[1] for a in generated.task.goal}
        pushed = {line.split()[-1].rstrip(")") for line in generated.witness_plan if line.startswith("(push")}
        assert len(boxes) == generated.task.param_dict()["n_boxes"] + 1  # one box settled on its goal
        assert pushed < boxes


def test_parameters_for_other_domains_draw_the_tasks_drawn_without_any() -> None:
    """A domain without parameters spends no draw on them: every run that replayed a corpus
    without ``params`` draws the same reference tasks."""
    tasks = TaskDistributionSpec(domains={"blocksworld": DomainTasks(min=2, max=5),
                                          "sokoban": DomainTasks(min=1, max=2)})
    ranges = {"rovers": {"split_equipment": ParamRange(min=1, max=1)}}

    def names(params: dict[str, dict[str, ParamRange]] | None) -> list[str]:
        drawn = draw_generated(np.random.default_rng(3), 8, tasks, "ref0", set(), params=params)
        return [g.problem_pddl for g in drawn]

    assert names(None) == names({}) == names(ranges)
