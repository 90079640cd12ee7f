"""The attribution auditor: which user groups drive each inferred weight (leave-one-group-out)."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pytest

from auditors.core.decisions import user_groups
from auditors.core.features import AuditorConfigError
from auditors.core.findings import audit_and_store
from auditors.reward.attribution import AttributionAuditor, verdict
from auditors.reward.implicit_reward import ImplicitRewardAuditor
from auditors.reward.unit_weights import UnitWeight
from simulator.store import GenerationBundle, PopulationRow, RunReader

GroupRule = Literal["shortest", "longest", "random_valid", "validity"]

LENGTH = ("is_valid", "plan_length")
"""implicit-reward-v1's default features: the plan-length weight the brief asks about."""


def build_groups(
    synthetic: Any,
    run_dir: Path,
    *,
    rules: dict[str, GroupRule],
    seed: int = 0,
    n_generations: int = 3,
    n_tasks: int = 60,
    n_samples: int = 5,
    p_valid: float = 0.6,
    members: int = 1,
    population: bool = False,
    weights: dict[str, float] | None = None,
) -> Path:
    """A synthetic store in which each task is brought by one group (drawn by weight) and decided by
    that group's rule, like the loop does. ``members > 1`` records decisions under member names
    ``G-0``, ``G-1``, ...; ``population`` adds population records mapping members to groups."""
    rng = np.random.default_rng(seed)
    names = list(rules)
    share = np.array([(weights or {}).get(n, 1.0) for n in names], dtype=float)
    share /= share.sum()
    task_id = trace_id = decision_id = 0
    bundles = []
    for g in range(n_generations):
        tasks, traces, decisions = [], [], []
        for _ in range(n_tasks):
            task_id += 1
            group = names[int(rng.choice(len(names), p=share))]
            user = group if members == 1 else f"{group}-{int(rng.integers(members))}"
            size = int(rng.integers(4, 7))
            tasks.append(synthetic.task_row(task_id, g, size))
            siblings = synthetic.draw_siblings(rng, g, task_id, trace_id + 1, size, n_samples, p_valid)
            trace_id += n_samples
            kept = synthetic.keep_by_rule(rules[group], siblings, rng)
            for t in siblings:
                decision_id += 1
                row = synthetic.decision_row(decision_id, t, kept=t.trace_id in kept, user=user)
                decisions.append(row.model_copy(update={"policy": f"{rules[group]}-v1"}))
            traces += siblings
        nodes = [
            {"name": n if members == 1 else f"{n}-{m}", "family": n} for n in names for m in range(members)
        ]
        bundles.append(
            GenerationBundle(
                generation=synthetic.generation_row(g, n_tasks, len(traces), sum(d.kept for d in decisions)),
                tasks=tasks,
                traces=traces,
                decisions=decisions,
                population=[PopulationRow(generation=g, record_json=json.dumps({"nodes": nodes}))]
                if population
                else [],
            )
        )
    return synthetic.write_store(run_dir, bundles)


def _audit(run_dir: Path, **kwargs: Any) -> list[dict[str, Any]]:
    kwargs.setdefault("n_bootstrap", 100)
    with RunReader(run_dir) as reader:
        rows = AttributionAuditor(**kwargs).audit(reader)
    return [
        {"severity": r.severity, "claim": r.claim, "generation": r.generation, **json.loads(r.numbers_json)}
        for r in rows
    ]


def _weight(findings: list[dict[str, Any]], label: str) -> dict[str, Any]:
    return next(f for f in findings if f.get("scope") == "weight" and f["weight"] == label)


@pytest.fixture(scope="module")
def short_b(synthetic: Any, tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """Group A keeps one valid plan per task at random, group B the shortest: audited once."""
    run_dir = build_groups(
        synthetic, tmp_path_factory.mktemp("short-b") / "run", rules={"A": "random_valid", "B": "shortest"}
    )
    return _audit(run_dir, features=LENGTH)


def test_names_the_group_that_prefers_short_plans_as_the_driver(short_b: list[dict[str, Any]]) -> None:
    found = short_b
    length = _weight(found, "valid/plan_length")
    assert length["full"]["ci_excludes_zero"] and length["full"]["weight_per_unit"] < 0
    assert length["drivers"] == ["B"]
    assert length["per_group"]["A"]["verdict"] != "drives"
    # without B only A's length-blind choices remain: no clear weight
    assert not length["per_group"]["B"]["without"]["ci_excludes_zero"]
    assert length["per_group"]["B"]["loses_significance"]
    # B's own decisions reward shorter plans; A's do not clearly
    assert length["per_group"]["B"]["alone"]["ci_high_per_unit"] < 0
    assert not length["per_group"]["A"]["alone"]["ci_excludes_zero"]
    assert length["severity"] == "medium" and length["severity_reason"] == "pooled"
    assert "so B drives it" in length["claim"]
    assert re.search(r"so A (holds it back and )?does not drive it", length["claim"]), length["claim"]
    assert "comes from B" in length["claim"]
    # denominators: every decision belongs to exactly one group
    groups = length["groups"]
    assert sum(g["n_decisions"] for g in groups.values()) == length["denominators"]["n_decisions"]
    assert all(g["n_traces_also_decided_by_other_groups"] == 0 for g in groups.values())
    summary = found[0]
    assert summary["scope"] == "summary" and summary["generation"] is None
    assert "driven by B" in summary["claim"]


def test_with_default_features_a_never_leads_a_length_weight(synthetic: Any, tmp_path: Path) -> None:
    run_dir = build_groups(synthetic, tmp_path / "run", rules={"A": "random_valid", "B": "shortest"})
    found = _audit(run_dir)
    length_weights = [f for f in found if f.get("scope") == "weight" and "plan_length" in f["feature"]]
    assert length_weights
    # with the relative length fitted too, B's preference lands on it; A's length-blind choice of
    # one valid plan per task favours tasks with few valid plans, so removing B leaves a weak
    # weight and B "contributes" rather than "drives" -- but A never leads
    leaders = [set(f["drivers"]) | set(f["contributors"]) for f in length_weights]
    assert any("B" in lead for lead in leaders)
    assert all("A" not in lead for lead in leaders)


def test_opposite_preferences_are_reported_as_groups_pulling_apart(synthetic: Any, tmp_path: Path) -> None:
    run_dir = build_groups(
        synthetic,
        tmp_path / "run",
        rules={"validators": "shortest", "fans": "longest"},
        weights={"validators": 0.7, "fans": 0.3},
        n_tasks=80,
    )
    rel = _weight(_audit(run_dir), "valid/rel_plan_length")
    assert rel["opposing_groups"] == [["fans", "validators"]]
    # longer-than-best plans are against the declared "validity" (shortest) rule; shorter ones are not
    assert rel["pulling_beyond_declared"] == ["fans"]
    assert rel["severity"] == "medium" and "pull in opposite directions" in rel["claim"]
    assert rel["per_group"]["fans"]["alone"]["ci_low_per_unit"] > 0
    assert rel["per_group"]["validators"]["alone"]["ci_high_per_unit"] < 0


def test_validity_is_not_attributed_when_nobody_keeps_an_invalid_plan(short_b: list[dict[str, Any]]) -> None:
    validity = _weight(short_b, "all/is_valid")
    assert validity["full"]["separated"]
    assert {g["verdict"] for g in validity["per_group"].values()} == {"separated"}
    assert validity["severity"] == "info" and "set by the fit's penalty" in validity["claim"]


def test_full_weights_are_the_implicit_reward_auditors(synthetic: Any, tmp_path: Path) -> None:
    run_dir = build_groups(
        synthetic, tmp_path / "run", rules={"A": "random_valid", "B": "shortest"}, n_generations=1
    )
    length = _weight(_audit(run_dir, features=LENGTH, seed=3, n_bootstrap=20), "valid/plan_length")
    with RunReader(run_dir) as reader:
        run = ImplicitRewardAuditor(seed=3, n_bootstrap=20, features=LENGTH).audit(reader)[0]
    effect = json.loads(run.numbers_json)["beyond_declared"]["strata"]["valid"]["features"]["plan_length"]
    assert length["full"]["weight_per_sd"] == pytest.approx(effect["weight"], rel=1e-5)
    assert length["full"]["weight_per_unit"] == pytest.approx(effect["weight"] / effect["sd"], rel=1e-5)
    # the interval is this auditor's own: tasks, not traces, are resampled
    assert length["full"]["n_tasks"] == 60 and length["bootstrap"]["resample"] == "task"


def test_members_are_grouped_into_their_family(synthetic: Any, tmp_path: Path) -> None:
    run_dir = build_groups(
        synthetic,
        tmp_path / "run",
        rules={"A": "random_valid", "B": "shortest"},
        members=3,
        population=True,
        n_generations=2,
    )
    summary = _audit(run_dir, features=LENGTH, n_bootstrap=20)[0]
    assert set(summary["groups"]) == {"A", "B"}
    assert set(summary["groups"]["B"]["members"]) <= {"B-0", "B-1", "B-2"}
    assert summary["groups"]["A"]["policies"] == ["random_valid-v1"]


def test_without_population_records_the_scenario_names_the_groups(synthetic: Any, tmp_path: Path) -> None:
    run_dir = build_groups(
        synthetic, tmp_path / "run", rules={"A": "validity", "B": "shortest"}, members=2, n_generations=1
    )
    with RunReader(run_dir) as reader:
        # the synthetic store records no scenario users: every member is its own group
        assert user_groups(reader, ["A-0", "B-1"]) == {"A-0": "A-0", "B-1": "B-1"}
    import sqlite3

    conn = sqlite3.connect(run_dir / "run.sqlite")
    with conn:
        users = [{"name": "A", "count": 2}, {"name": "B", "count": 2}, {"name": "solo-7"}]
        conn.execute("UPDATE runs SET scenario_json=?", (json.dumps({"users": users}),))
    conn.close()
    with RunReader(run_dir) as reader:
        assert user_groups(reader, ["A-0", "B-1", "B-j3", "solo-7", "stranger-1"]) == {
            "A-0": "A",
            "B-1": "B",
            "B-j3": "B",
            "solo-7": "solo-7",
            "stranger-1": "stranger-1",
        }


def test_a_single_group_gives_one_info_finding(make_store: Any) -> None:
    found = _audit(make_store(rules="shortest"))
    assert len(found) == 1
    assert found[0]["severity"] == "info" and found[0]["reason"] == "single-group"
    assert "one user group (alice" in found[0]["claim"] and "nothing to attribute" in found[0]["claim"]


def test_a_run_without_traces_gives_one_info_finding(make_store: Any) -> None:
    found = _audit(make_store(n_tasks=0))
    assert len(found) == 1 and found[0]["reason"] == "no-traces"


def test_a_group_too_small_to_fit_alone_is_reported_not_fitted(synthetic: Any, tmp_path: Path) -> None:
    run_dir = build_groups(
        synthetic,
        tmp_path / "run",
        rules={"A": "shortest", "tiny": "validity"},
        weights={"A": 0.97, "tiny": 0.03},
        n_generations=2,
    )
    found = _audit(run_dir, features=LENGTH, n_bootstrap=30, min_group_traces=60)
    length = _weight(found, "valid/plan_length")
    alone = length["per_group"]["tiny"]["alone"]
    assert alone["status"] == "too-few" and alone["n_traces"] < 60
    assert "tiny alone: too few" in length["claim"]


def test_findings_are_stored_replaced_and_reproducible(synthetic: Any, tmp_path: Path) -> None:
    run_dir = build_groups(
        synthetic, tmp_path / "run", rules={"A": "random_valid", "B": "shortest"}, n_generations=2
    )
    first = audit_and_store(run_dir, AttributionAuditor(seed=1, n_bootstrap=30))
    second = audit_and_store(run_dir, AttributionAuditor(seed=1, n_bootstrap=30))
    assert [f.numbers_json for f in first] == [f.numbers_json for f in second]
    with RunReader(run_dir) as reader:
        stored = [f for f in reader.findings() if f.auditor == "attribution-v1"]
    assert len(stored) == len(second) and all(f.kind == "reward-attribution" for f in stored)


def test_bad_configuration_is_a_clear_error(synthetic: Any, tmp_path: Path) -> None:
    run_dir = build_groups(
        synthetic, tmp_path / "run", rules={"A": "shortest", "B": "validity"}, n_generations=1
    )
    with pytest.raises(AuditorConfigError, match="unknown feature"):
        _audit(run_dir, features=("fame",))
    with pytest.raises(AuditorConfigError, match="min_group_traces"):
        _audit(run_dir, min_group_traces=0)


def test_verdict_rules() -> None:
    def w(weight: float | None, low: float | None, high: float | None) -> UnitWeight:
        status = "ok" if weight is not None else "single-class"
        return UnitWeight(status, weight, low, high, 0.1, weight, 1.0, 100, 10)

    full = w(-1.0, -1.5, -0.5)
    assert verdict(full, w(None, None, None)) == "drives"
    assert verdict(full, w(-0.1, -0.6, 0.4)) == "drives"
    assert verdict(full, w(0.8, 0.3, 1.3)) == "drives"
    assert verdict(full, w(-0.3, -0.4, -0.2)) == "contributes"
    assert verdict(full, w(-2.0, -2.5, -1.6)) == "dampens"
    assert verdict(full, w(-1.1, -1.6, -0.6)) == "no-effect"
    unclear = w(0.1, -0.2, 0.4)
    assert verdict(unclear, w(0.9, 0.6, 1.2)) == "masks"
    assert verdict(unclear, w(0.6, -0.1, 1.3)) == "shifts"
    assert verdict(w(None, None, None), full) == "no-fit"
    # a rule that is absolute with and without the group cannot be attributed by size
    absolute = replace(w(5.0, 4.5, 5.5), separated=True)
    assert verdict(absolute, replace(w(4.0, 3.6, 4.4), separated=True)) == "separated"
