"""The loop with real user populations: what each policy lets into the training set, the recorded
A(τ), the social dynamics and the pool options, checked in the run store of real (tiny) runs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from iterdeploy.simulator.loop import run_scenario
from iterdeploy.simulator.scenario import parse_scenario
from iterdeploy.simulator.store import RunReader, TraceRow

# Many short, mostly invalid answers: a tiny base model cut at 24 tokens on 3-4 block tasks.
MANY_TRACES: dict[str, object] = {
    "generations": 0,
    "deploy.tasks_per_generation": 60,
    "deploy.samples_per_task": 4,
    "deploy.sizes.min": 3,
    "deploy.sizes.max": 4,
    "deploy.max_new_tokens": 24,
    "evaluation.n_tasks": 2,
    "evaluation.samples_per_task": 1,
}


def _run(tmp: Path, yaml_text: str, overrides: dict[str, object], name: str = "run") -> Path:
    spec = parse_scenario(yaml_text, overrides=overrides)
    run_scenario(spec, yaml_text, tmp / name)
    return tmp / name


def _binomial_ok(hits: int, n: int, p: float, sigmas: float = 4.0) -> bool:
    return abs(hits - n * p) <= sigmas * math.sqrt(n * p * (1 - p)) + 1


@pytest.fixture
def many(tiny_overrides: dict[str, object]) -> dict[str, object]:
    return {**tiny_overrides, **MANY_TRACES}


def test_noisy_validators_let_a_fifth_of_invalid_plans_in_and_the_store_names_them(
    tmp_path: Path, many: dict[str, object]
) -> None:
    yaml_text = """
users:
  - {name: careful, weight: 0.5, policy: validity}
  - name: sloppy
    weight: 0.5
    policy: {stages: [{noisy_validator: {false_accept: 0.2, false_reject: 0.0}}], select: all}
"""
    run_dir = _run(tmp_path, yaml_text, many)
    with RunReader(run_dir) as reader:
        traces = {t.trace_id: t for t in reader.traces(0, "deploy")}
        decisions = reader.decisions(0)
    assert len(decisions) == len(traces) == 240
    sloppy_invalid = [d for d in decisions if d.user == "sloppy" and not traces[d.trace_id].is_valid]
    assert len(sloppy_invalid) >= 40, "the tiny model must produce enough invalid plans"
    assert all(d.keep_prob == pytest.approx(0.2) for d in sloppy_invalid)
    let_in = [d for d in sloppy_invalid if d.kept]
    assert _binomial_ok(len(let_in), len(sloppy_invalid), 0.2)
    assert all("false accept" in d.reason for d in let_in)
    # every invalid plan that got in was let in by the sloppy group, and the store says so
    invalid_kept = [d for d in decisions if d.kept and not traces[d.trace_id].is_valid]
    assert invalid_kept and {d.user for d in invalid_kept} == {"sloppy"}
    assert all(d.policy.startswith("noisy_validator-v1") for d in invalid_kept)


def test_acceptance_probability_is_the_weighted_group_probability_and_matches_keep_rate(
    tmp_path: Path, many: dict[str, object]
) -> None:
    yaml_text = """
users:
  - {name: strict, weight: 3, policy: validity}
  - {name: lenient, weight: 1, policy: accept_all}
"""
    run_dir = _run(tmp_path, yaml_text, many)
    with RunReader(run_dir) as reader:
        decisions = reader.decisions(0)
        population = reader.population(0)
    shares = {n["name"]: n["share"] for n in population["nodes"]}
    assert shares == pytest.approx({"strict": 0.75, "lenient": 0.25})
    for d in decisions:
        groups = json.loads(d.group_probs_json)
        assert d.acceptance_prob == pytest.approx(sum(shares[u] * p for u, p in groups.items()))
        assert groups[d.user] == pytest.approx(d.keep_prob)
        assert groups["lenient"] == 1.0
    # the owner is drawn by weight, so E[kept] = A(τ); compare sums over 240 decisions
    expected = sum(d.acceptance_prob for d in decisions)
    variance = sum(d.acceptance_prob * (1 - d.acceptance_prob) for d in decisions)
    kept = sum(d.kept for d in decisions)
    # tasks, not traces, are the unit of the owner draw, so allow for that clustering (x4)
    assert abs(kept - expected) <= 4 * math.sqrt(4 * variance) + 1


def test_accept_all_trains_on_everything_generated_and_validity_on_no_invalid_plan(
    tmp_path: Path, tiny_overrides: dict[str, object]
) -> None:
    everything = _run(tmp_path, "users: [{name: all, policy: accept_all}]\n", tiny_overrides, "all")
    with RunReader(everything) as reader:
        generated = sorted(t.trace_id for t in reader.traces(0, "deploy"))
        assert reader.training_set(1) == generated
        assert any(not t.is_valid for t in reader.traces(0, "deploy"))
    easier = {**tiny_overrides, "deploy.tasks_per_generation": 20, "deploy.sizes.max": 3}
    strict = _run(tmp_path, "users: [{name: v, policy: validity}]\n", easier, "valid")
    with RunReader(strict) as reader:
        by_id = {t.trace_id: t for t in reader.traces()}
        assert reader.training_set(1)
        assert all(by_id[i].is_valid for i in reader.training_set(1))


def test_dynamics_and_complacency_are_recorded_per_generation(
    tmp_path: Path, tiny_overrides: dict[str, object]
) -> None:
    yaml_text = """
users:
  - {name: trusting, weight: 1, policy: {complacent: {sensitivity: 5.0, max_trust: 0.9}}}
dynamics:
  churn: {join: 1.0}
"""
    overrides = {**tiny_overrides, "deploy.tasks_per_generation": 12}
    run_dir = _run(tmp_path, yaml_text, overrides)
    with RunReader(run_dir) as reader:
        first, second = reader.population(0), reader.population(1)
        traces = {t.trace_id: t for t in reader.traces()}
        gen0 = [d for d in reader.decisions(0) if not traces[d.trace_id].is_valid]
        gen1 = [d for d in reader.decisions(1) if not traces[d.trace_id].is_valid]
        solved0 = {t.task_id for t in reader.traces(0, "deploy") if t.is_valid}
        solved1 = {t.task_id for t in reader.traces(1, "deploy") if t.is_valid}
    assert [n["name"] for n in first["nodes"]] == ["trusting"]
    assert len(second["nodes"]) == 2 and any(c["kind"] == "join" for c in second["changes"])
    # generation 0: no trust yet, every invalid plan is checked and rejected
    assert gen0 and all(d.keep_prob == 0.0 and not d.kept for d in gen0)
    # generation 1: trust from the observed success rate lets invalid plans through unchecked
    assert solved0, "the tiny model must solve some tasks for trust to build"
    assert gen1 and all(d.keep_prob <= 0.9 for d in gen1)
    # an invalid plan of a task nobody solved can only lose to another unchecked plan, so each
    # has a chance; where a valid plan exists it may never be the shortest (probability 0)
    unsolved = [d for d in gen1 if traces[d.trace_id].task_id not in solved1]
    assert unsolved and all(d.keep_prob > 0.0 for d in unsolved)


def test_reference_share_and_per_task_pooling(
    tmp_path: Path, tiny_overrides: dict[str, object]
) -> None:
    yaml_text = """
users: [{name: all, policy: accept_all}]
pool: {per_task: shortest, reference_share: 0.5}
"""
    run_dir = _run(tmp_path, yaml_text, tiny_overrides)
    with RunReader(run_dir) as reader:
        train = reader.training_set(1)
        by_id = {t.trace_id: t for t in reader.traces()}
        curated = [by_id[i] for i in train if by_id[i].purpose == "deploy"]
        reference = [by_id[i] for i in train if by_id[i].purpose == "reference"]
        assert len({t.task_id for t in curated}) == len(curated), "one trace per task"
        for t in curated:  # the one kept is the shortest plan the task got
            others = [o for o in by_id.values() if o.task_id == t.task_id]
            assert t.plan_length == min(o.plan_length for o in others)
        assert len(reference) == round(0.5 * len(curated))
        assert reference and all(t.is_valid for t in reference)
        assert len(reader.tasks("reference")) == len(reference)


def test_dedup_keeps_one_trace_per_plan_and_task(
    tmp_path: Path, tiny_overrides: dict[str, object]
) -> None:
    """``pool.dedup``: a published plan already in the pool for its task (same text up to case and
    surrounding space) is not added again, and the pool of earlier generations stays (accumulate).
    The tiny base, sampling 4 plans per task, repeats itself in generation 0, so there is
    something to drop."""
    yaml_text = """
users: [{name: all, policy: accept_all}]
pool: {dedup: true}
"""
    run_dir = _run(tmp_path, yaml_text, {**tiny_overrides, "generations": 2})

    def key(t: TraceRow) -> tuple[int, str]:
        return (t.task_id, t.plan_text.strip().lower())

    with RunReader(run_dir) as reader:
        by_id = {t.trace_id: t for t in reader.traces()}
        published: list[int] = []
        pools: list[list[int]] = []
        for g in (0, 1):
            kept = [d.trace_id for d in reader.decisions(g) if d.kept]
            published += kept
            pool = reader.training_set(g + 1)
            keys = [key(by_id[i]) for i in pool]
            assert len(set(keys)) == len(keys), f"generation {g + 1} trains on a plan twice"
            assert set(keys) == {key(by_id[i]) for i in published}, "every published plan, once"
            assert set(pool) <= set(published)
            pools.append(pool)
        assert set(pools[0]) <= set(pools[1]), "accumulate keeps generation 1's pool"
        n_kept_0 = sum(d.kept for d in reader.decisions(0))
        assert len(pools[0]) < n_kept_0, "generation 0 repeated a plan, and the repeat was dropped"
