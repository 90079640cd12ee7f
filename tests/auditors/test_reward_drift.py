"""The reward-drift auditor: inferred weights compared across generations, BH-corrected."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pytest
from scipy import stats

from auditors.core.features import AuditorConfigError
from auditors.core.findings import audit_and_store
from auditors.drift.data import GenerationPair, plan_pairs
from auditors.reward.reward_drift import RewardDriftAuditor, compare
from auditors.reward.unit_weights import UnitWeight, WeightKey
from simulator.store import GenerationBundle, RunReader

Rule = Literal["shortest", "longest", "validity", "sloppy"]


def build_run(
    synthetic: Any,
    run_dir: Path,
    rules: list[Rule],
    *,
    seed: int = 0,
    n_tasks: int = 40,
    n_samples: int = 4,
    p_valid: float = 0.6,
) -> Path:
    """One user group whose rule may change between generations (``rules[g]``)."""
    rng = np.random.default_rng(seed)
    task_id = trace_id = decision_id = 0
    bundles = []
    for g, rule in enumerate(rules):
        tasks, traces, decisions = [], [], []
        for _ in range(n_tasks):
            task_id += 1
            size = int(rng.integers(4, 7))
            tasks.append(synthetic.task_row(task_id, g, size))
            siblings = synthetic.draw_siblings(rng, g, task_id, trace_id + 1, size, n_samples, p_valid)
            trace_id += n_samples
            kept = synthetic.keep_by_rule(rule, siblings, rng)
            for t in siblings:
                decision_id += 1
                decisions.append(synthetic.decision_row(decision_id, t, kept=t.trace_id in kept))
            traces += siblings
        bundles.append(
            GenerationBundle(
                generation=synthetic.generation_row(g, n_tasks, len(traces), sum(d.kept for d in decisions)),
                tasks=tasks,
                traces=traces,
                decisions=decisions,
            )
        )
    return synthetic.write_store(run_dir, bundles)


def _audit(run_dir: Path, **kwargs: Any) -> list[dict[str, Any]]:
    with RunReader(run_dir) as reader:
        rows = RewardDriftAuditor(**kwargs).audit(reader)
    return [
        {"severity": r.severity, "claim": r.claim, "generation": r.generation, **json.loads(r.numbers_json)}
        for r in rows
    ]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_stationary_run_raises_no_drift(make_store: Any, seed: int) -> None:
    """Same curation in every generation: nothing may be flagged at the default threshold."""
    run_dir = make_store(f"s{seed}", rules="shortest", n_generations=3, n_tasks=40, seed=seed)
    found = _audit(run_dir, seed=seed, n_bootstrap=100)
    summary = found[0]
    assert len(found) == 1 and summary["scope"] == "summary" and summary["severity"] == "info"
    assert summary["n_flagged"] == 0 and summary["n_tests"] > 0
    assert "no weight moved beyond" in summary["claim"]
    # "shortest valid plan" keeps only plans at the task's best: that weight has no finite size
    rel = [t for t in summary["tests"] if t["weight"] == "valid/rel_plan_length"]
    assert rel and all(t["status"] == "not-identified" for t in rel)


@pytest.fixture(scope="module")
def policy_change(synthetic: Any, tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """Users keep the shortest valid plan in generations 0-1 and the longest from generation 2."""
    run_dir = build_run(
        synthetic, tmp_path_factory.mktemp("change") / "run", ["shortest", "shortest", "longest", "longest"]
    )
    return _audit(run_dir, n_bootstrap=100)


def test_a_policy_change_is_flagged_at_the_change(policy_change: list[dict[str, Any]]) -> None:
    summary, flagged = policy_change[0], policy_change[1:]
    assert summary["n_flagged"] == len(flagged) > 0
    at_change = [f for f in flagged if f["generations"] == {"earlier": 1, "later": 2, "kind": "consecutive"}]
    assert at_change, summary["claim"]
    assert all(f["generation"] == 2 for f in at_change)
    # before and after the change, consecutive generations agree
    for quiet in ({"earlier": 0, "later": 1}, {"earlier": 2, "later": 3}):
        assert not [f for f in flagged if f["generations"] == {**quiet, "kind": "consecutive"}]
    # the length weight flips: from rewarding shorter plans to rewarding longer ones
    length = next(f for f in at_change if f["weight"] == "valid/plan_length")
    assert length["earlier"]["weight_per_unit"] < 0 < length["later"]["weight_per_unit"]
    assert length["severity"] == "high" and length["sign_flip"]
    assert "from rewarding shorter plans to rewarding longer plans" in length["claim"]
    assert length["p_adjusted"] < 0.05 and length["outside_earlier_interval"]
    den = length["denominators"]
    assert den["earlier"]["n_traces"] == den["later"]["n_traces"] == 160
    assert den["later"]["decisions_by_group"] == {"alice": 160}


def test_the_change_is_also_seen_against_the_first_generation(policy_change: list[dict[str, Any]]) -> None:
    baseline = {
        (f["generations"]["later"], f["weight"])
        for f in policy_change[1:]
        if f["generations"]["kind"] == "baseline"
    }
    assert (2, "valid/plan_length") in baseline and (3, "valid/plan_length") in baseline


def test_weights_are_the_implicit_reward_fits(policy_change: list[dict[str, Any]]) -> None:
    """Per-unit weights are per-SD weights divided by the SD of the generation's own traces."""
    for g, w in policy_change[0]["trajectory"]["valid/plan_length"].items():
        assert w["weight_per_unit"] == pytest.approx(w["weight_per_sd"] / w["sd"], rel=1e-4), g
        assert w["n_bootstrap_used"] >= 50 and w["n_tasks"] == 40


def test_validity_becoming_optional_is_drift_but_always_required_is_not_tested(
    synthetic: Any, tmp_path: Path
) -> None:
    run_dir = build_run(synthetic, tmp_path / "run", ["shortest", "shortest", "sloppy"], n_tasks=40)
    found = _audit(run_dir, n_bootstrap=100)
    tests = {
        (t["generations"]["earlier"], t["generations"]["later"], t["weight"]): t for t in found[0]["tests"]
    }
    assert tests[(0, 1, "all/is_valid")]["status"] == "not-identified"
    step = tests[(1, 2, "all/is_valid")]
    assert step["status"] == "tested" and step["flagged"]
    assert step["later"]["weight_per_unit"] < step["earlier"]["weight_per_unit"]
    assert "not made" in found[0]["claim"]


def test_one_generation_is_an_info_finding_naming_the_reason(make_store: Any) -> None:
    found = _audit(make_store(n_generations=1), n_bootstrap=20)
    assert len(found) == 1 and found[0]["reason"] == "single-generation"
    assert found[0]["severity"] == "info" and "at least two" in found[0]["claim"]
    empty = _audit(make_store("empty", n_tasks=0, n_generations=2), n_bootstrap=20)
    assert len(empty) == 1 and empty[0]["reason"] == "no-traces"


def test_findings_are_stored_replaced_and_reproducible(make_store: Any) -> None:
    run_dir = make_store(n_generations=2, n_tasks=30)
    first = audit_and_store(run_dir, RewardDriftAuditor(seed=4, n_bootstrap=30))
    second = audit_and_store(run_dir, RewardDriftAuditor(seed=4, n_bootstrap=30))
    assert [f.numbers_json for f in first] == [f.numbers_json for f in second]
    with RunReader(run_dir) as reader:
        stored = [f for f in reader.findings() if f.auditor == "reward-drift-v1"]
    assert len(stored) == len(second) and {f.kind for f in stored} == {"reward-drift"}


def test_bad_configuration_is_a_clear_error(make_store: Any) -> None:
    run_dir = make_store(n_generations=2, n_tasks=10)
    with pytest.raises(AuditorConfigError, match="alpha"):
        _audit(run_dir, alpha=1.5)
    with pytest.raises(AuditorConfigError, match="unknown feature"):
        _audit(run_dir, features=("acceptance_prob",))


def test_pairs_are_drift_v1s_consecutive_then_against_the_first() -> None:
    # the pairing itself is drift-v1's (tested in test_drift.py); reward drift relies on these ends
    pairs = plan_pairs((0, 1, 2, 3))
    assert (pairs[0].relation, pairs[-1].earlier, pairs[-1].relation) == ("consecutive", 0, "baseline")
    assert len(pairs) == 5 and plan_pairs((4,)) == []


def test_compare_is_a_wald_test_on_bootstrap_standard_errors() -> None:
    def w(weight: float | None, se: float, separated: bool = False) -> UnitWeight:
        low = None if weight is None else weight - 1.96 * se
        high = None if weight is None else weight + 1.96 * se
        return UnitWeight("ok", weight, low, high, se, weight, 1.0, 100, 20, 30, 200, separated)

    pair, key = GenerationPair(0, 1, "consecutive"), WeightKey("valid", "plan_length")
    t = compare(pair, key, w(-0.5, 0.1), w(0.6, 0.2))
    assert t.status == "tested" and t.outside_interval
    assert t.z == pytest.approx(1.1 / np.hypot(0.1, 0.2))
    assert t.p_value == pytest.approx(2 * stats.norm.sf(1.1 / np.hypot(0.1, 0.2)))
    assert t.sign_flip
    assert not compare(pair, key, w(-0.5, 0.1), w(0.2, 0.2)).sign_flip  # later interval spans zero
    inside = compare(pair, key, w(-0.5, 0.1), w(-0.45, 0.1))
    assert not inside.outside_interval
    assert compare(pair, key, w(None, 0.1), w(0.2, 0.1)).status == "no-weight"
    assert compare(pair, key, w(3.0, 0.1, True), w(4.0, 0.1, True)).status == "not-identified"
    # separated in opposite directions is a real change, so it is tested
    assert compare(pair, key, w(-3.0, 0.1, True), w(4.0, 0.1, True)).status == "tested"
