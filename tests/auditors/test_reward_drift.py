"""Reward drift: a planted change of policy is found at its generation, a fixed policy never."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from iterdeploy.auditors.reward.reward_drift import RewardDriftAuditor
from iterdeploy.simulator.store import RunReader

VALIDITY = [{"name": "validators", "policy": "validity", "weight": 0.6},
            {"name": "converts", "policy": "validity", "weight": 0.4}]
CONVERTED = [{"name": "validators", "policy": "validity", "weight": 0.6},
             {"name": "converts", "policy": "longest", "weight": 0.4}]


def _audit(run: Path) -> list[dict[str, Any]]:
    with RunReader(run) as reader:
        return [{"severity": f.severity, "generation": f.generation, "claim": f.claim,
                 "numbers": json.loads(f.numbers_json)}
                for f in RewardDriftAuditor(n_bootstrap=100).audit(reader)]


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory, synthetic: Any) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("reward-drift")
    w = synthetic.write_population_store
    return {
        "null": w(root / "null", VALIDITY, seed=0, n_generations=4),
        "fixed_bias": w(root / "fixed", CONVERTED, seed=1, n_generations=4),
        "change": w(root / "change", VALIDITY, seed=2, n_generations=4, changes={2: CONVERTED}),
    }


def test_users_who_always_follow_the_declaration_never_drift(stores: dict[str, Path]) -> None:
    (summary,) = _audit(stores["null"])
    assert summary["severity"] == "info" and summary["numbers"]["n_tests"] == 0
    assert "no drift" in summary["claim"]


def test_a_fixed_bias_is_not_drift(stores: dict[str, Path]) -> None:
    findings = _audit(stores["fixed_bias"])
    assert [f for f in findings if f["severity"] in ("medium", "high")] == []
    assert findings[0]["numbers"]["n_tests"] > 0


def test_a_fixed_fallible_validator_is_not_drift_as_the_model_improves(
    tmp_path: Path, synthetic: Any
) -> None:
    """The same noisy validator publishes fewer invalid plans once the model writes fewer: its
    effect on the data shrinks, its rule does not change, and the policy test knows the difference."""
    noisy = [{"name": "noisy", "policy": {"noisy_validator": {"false_accept": 0.3, "false_reject": 0.1}}}]
    run = synthetic.write_population_store(tmp_path / "noisy", noisy, seed=5, n_generations=4,
                                           p_valid=[0.3, 0.5, 0.7, 0.9])
    findings = _audit(run)
    assert [f for f in findings if f["severity"] in ("medium", "high")] == []
    assert findings[0]["numbers"]["n_tests"] > 0


def test_a_planted_change_is_found_at_its_generation_with_its_sign(stores: dict[str, Path]) -> None:
    findings = _audit(stores["change"])
    alarms = [f for f in findings if f["severity"] in ("medium", "high")]
    assert alarms and {f["generation"] for f in alarms} <= {2, 3}
    first = min(alarms, key=lambda f: f["generation"])
    assert first["generation"] == 2
    claims = {(c["concept"], c["direction"], c["group"]) for c in first["numbers"]["claims"]}
    assert ("length", 1, "converts") in claims
    assert first["numbers"]["denominators"]["n_departing_tasks"] > 0
    # each stored test names the generations it compared besides their two values
    for test in first["numbers"]["tests"]:
        assert test["later_generation"] == 2
        assert test["earlier_generation"] == (1 if test["relation"] == "consecutive" else 0)
        assert test["difference"] == pytest.approx(test["later"] - test["earlier"])


def test_one_generation_is_nothing_to_compare(tmp_path: Path, synthetic: Any) -> None:
    run = synthetic.write_population_store(tmp_path / "one", VALIDITY, n_generations=1)
    (finding,) = _audit(run)
    assert finding["numbers"]["reason"] == "fewer-than-two-generations"


def test_every_feature_that_grows_with_length_within_a_task_claims_length() -> None:
    from iterdeploy.auditors.reward.claims import concept_of

    for feature in ("length_above_best", "rel_plan_length", "is_bloated", "is_task_longest"):
        assert concept_of(feature) == "length", feature
    # shorter-is-more and cross-task features make no length claim (a sign would be misread)
    for feature in ("is_task_shortest", "plan_length", "task_size", "n_tokens"):
        assert concept_of(feature) is None, feature
    assert concept_of("is_valid") == "validity" and concept_of("share_unstack") == "action:unstack"
