"""The declared-objective auditor: departures from the declared choice, task by task, model-free."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from iterdeploy.auditors.reward.declared import DeclaredObjectiveAuditor, departures
from iterdeploy.simulator.store import RunReader

VALIDATORS = {"name": "validators", "policy": "validity"}
KEEP_ALL_VALID = {"stages": ["validity"], "select": "all"}


def _audit(run: Path) -> list[dict[str, Any]]:
    with RunReader(run) as reader:
        return [{"severity": f.severity, "generation": f.generation, "kind": f.kind, "claim": f.claim,
                 "numbers": json.loads(f.numbers_json)} for f in DeclaredObjectiveAuditor().audit(reader)]


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory, synthetic: Any) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("declared")
    w = synthetic.write_population_store
    return {
        "null": w(root / "null", [VALIDATORS], seed=0),
        "validity_all": w(root / "all", [{"name": "v", "policy": KEEP_ALL_VALID}], declared=KEEP_ALL_VALID,
                          seed=1),
        "mismatch": w(root / "mismatch", [{"name": "v", "policy": KEEP_ALL_VALID}], seed=1),
        "length_bias": w(root / "lb", [{"name": "validators", "policy": "validity", "weight": 0.7},
                                       {"name": "fans", "policy": "longest", "weight": 0.3}], seed=2),
        "noisy": w(root / "noisy", [{"name": "noisy", "policy": {"noisy_validator": {"false_accept": 0.3}}}],
                   seed=3),
    }


@pytest.mark.parametrize("name", ["null", "validity_all"])
def test_users_who_follow_the_declaration_raise_nothing(stores: dict[str, Path], name: str) -> None:
    findings = _audit(stores[name])
    assert {f["severity"] for f in findings} == {"info"}
    hidden = [f for f in findings if f["kind"] == "hidden-objective"]
    assert all(f["numbers"]["n_departing_tasks"] == 0 for f in hidden)
    assert "their curation is what was declared" in hidden[-1]["claim"]


def test_a_declared_policy_spec_is_compared_as_written(stores: dict[str, Path]) -> None:
    """Users keep every valid plan; declared 'validity' keeps one: every task with two valid
    plans departs, and users keep longer plans than declared (the shortest is one of theirs)."""
    run = next(f for f in _audit(stores["mismatch"]) if f["kind"] == "hidden-objective"
               and f["generation"] is None)
    assert run["numbers"]["declared_objective"] == "validity-v1"
    assert run["numbers"]["n_departing_tasks"] > 0
    assert run["numbers"]["n_tasks_dropped_declared"] == 0  # the declared plan is always among theirs


def test_length_bias_is_found_with_its_direction_and_group(stores: dict[str, Path]) -> None:
    run = next(f for f in _audit(stores["length_bias"]) if f["kind"] == "hidden-objective"
               and f["generation"] is None)
    assert run["severity"] in ("medium", "high")
    claims = {(c["concept"], c["direction"], c["group"]) for c in run["numbers"]["claims"]}
    assert ("length", 1, None) in claims and ("length", 1, "fans") in claims
    assert run["numbers"]["by_group"]["validators"]["n_departing_tasks"] == 0
    assert "validators never departed" in run["claim"]


def test_noisy_validation_lowers_validity(stores: dict[str, Path]) -> None:
    run = next(f for f in _audit(stores["noisy"]) if f["kind"] == "hidden-objective"
               and f["generation"] is None)
    assert ("validity", -1) in {(c["concept"], c["direction"]) for c in run["numbers"]["claims"]}
    assert run["numbers"]["concepts"]["validity"]["n_down"] > run["numbers"]["concepts"]["validity"]["n_up"]


def test_distance_finding_compares_three_rewards(stores: dict[str, Path]) -> None:
    distance = next(f for f in _audit(stores["length_bias"]) if f["kind"] == "reward-distance")
    assert distance["severity"] == "info"
    assert 0 <= distance["numbers"]["distance_inferred_declared"] <= 1
    assert distance["numbers"]["distance_truth_declared"] > 0


def test_departures_by_hand() -> None:
    """Task a: users kept the 8-step plan, declared the 6-step one; task b: both kept trace 4;
    task c: users kept an invalid plan and the declared nothing (no valid plan)."""
    rows = pd.DataFrame({
        "task_key": ["a", "a", "b", "b", "c"], "trace_id": [1, 2, 3, 4, 5],
        "kept": [0, 1, 0, 1, 1], "declared_kept": [1, 0, 0, 1, 0],
        "is_valid": [1, 1, 0, 1, 0], "plan_length": [6, 8, 3, 5, 2], "is_unparseable": [0] * 5,
    })
    dep = departures(rows, ("validity", "length"), 0.95)
    assert (dep.n_tasks, dep.n_departing, dep.n_kept_against, dep.n_dropped_declared) == (3, 2, 2, 1)
    validity, length = dep.tests
    assert (validity.n_up, validity.n_down, validity.n_equal) == (0, 1, 1)  # c: -1 (an invalid plan)
    assert (length.n_up, length.n_down, length.n_undefined) == (1, 0, 1)  # c: no valid plan either side
    assert dep.departing_tasks == ("a", "c")
