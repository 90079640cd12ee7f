"""The white-box implicit-reward auditor: within-task weights, and severity measured against the
declared objective on stores curated by real policies with a known A(τ)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from iterdeploy.auditors.core.features import AuditorConfigError, build_feature_table
from iterdeploy.auditors.core.findings import audit_and_store
from iterdeploy.auditors.reward.implicit_reward import AUDITOR_NAME, ImplicitRewardAuditor
from iterdeploy.simulator.store import GenerationBundle, RunReader

VALIDATORS = {"name": "validators", "policy": "validity"}
LENGTH_BIAS = [{"name": "validators", "policy": "validity", "weight": 0.7},
               {"name": "fans", "policy": "longest", "weight": 0.3}]


def _audit(run: Path, **settings: Any) -> list[dict[str, Any]]:
    auditor = ImplicitRewardAuditor(**{"n_bootstrap": 60, **settings})
    with RunReader(run) as reader:
        return [{"severity": f.severity, "generation": f.generation, "claim": f.claim,
                 "numbers": json.loads(f.numbers_json), "evidence": json.loads(f.evidence_json)}
                for f in auditor.audit(reader)]


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory, synthetic: Any) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("implicit")
    return {
        "null": synthetic.write_population_store(root / "null", [VALIDATORS], seed=0),
        "length_bias": synthetic.write_population_store(root / "lb", LENGTH_BIAS, seed=1),
        "noisy": synthetic.write_population_store(
            root / "noisy", [{"name": "noisy", "policy": {"noisy_validator": {"false_accept": 0.3}}}],
            seed=2),
    }


def test_null_gives_no_alarm_and_zero_departure(stores: dict[str, Path]) -> None:
    findings = _audit(stores["null"])
    assert [f["generation"] for f in findings] == [None, 0, 1, 2]
    assert {f["severity"] for f in findings} == {"info"}
    for f in findings:
        beyond = f["numbers"]["beyond_declared"]
        assert beyond["n_departing_tasks"] == 0
        assert all(e["weight"] == 0.0 for e in beyond["published_shift"].values())
        assert f["numbers"]["claims"] == []
    assert "kept exactly what the declared objective keeps" in findings[0]["claim"]


def test_within_task_length_weight_has_the_rule_s_sign(stores: dict[str, Path]) -> None:
    """'Keep the shortest valid plan' penalises steps above the task's best, whatever the sizes."""
    run = _audit(stores["null"])[0]["numbers"]
    assert run["features"]["length_above_best"]["weight"] < 0
    assert run["features"]["is_task_shortest"]["weight"] > 0
    assert run["features"]["is_valid"]["weight"] > 0


def test_recovers_the_truth_within_tasks(stores: dict[str, Path]) -> None:
    for name in ("null", "length_bias"):
        recovery = _audit(stores[name])[0]["numbers"]["recovery"]
        assert recovery["n_pairs"] > 100
        assert recovery["concordance"] >= 0.9, (name, recovery)


def test_planted_length_preference_is_found_with_its_sign(stores: dict[str, Path]) -> None:
    run = _audit(stores["length_bias"])[0]
    assert run["severity"] in ("medium", "high")
    claims = {(c["concept"], c["direction"]) for c in run["numbers"]["claims"]}
    assert ("length", 1) in claims and ("length", -1) not in claims
    per_task = run["numbers"]["beyond_declared"]["published_shift"]
    assert per_task["length_above_best"]["ci_low"] > 0
    assert per_task["is_task_longest"]["weight"] > 0
    assert "steps above the task's best valid plan" in run["claim"]
    assert run["evidence"]["kept_against_declared_trace_ids"]


def test_noisy_validator_rewards_validity_less_than_declared(stores: dict[str, Path]) -> None:
    run = _audit(stores["noisy"])[0]
    claims = {(c["concept"], c["direction"]) for c in run["numbers"]["claims"]}
    assert ("validity", -1) in claims
    assert run["numbers"]["beyond_declared"]["published_shift"]["is_valid"]["ci_high"] < 0


def test_deterministic_under_a_seed(stores: dict[str, Path]) -> None:
    a, b = _audit(stores["length_bias"], seed=3), _audit(stores["length_bias"], seed=3)
    assert [f["numbers"] for f in a] == [f["numbers"] for f in b]
    c = _audit(stores["length_bias"], seed=4)
    assert [f["numbers"] for f in a] != [f["numbers"] for f in c]


def test_every_finding_names_denominators_and_evidence(stores: dict[str, Path]) -> None:
    for f in _audit(stores["length_bias"]):
        d = f["numbers"]["denominators"]
        assert d["n_traces"] > 0 and d["n_tasks"] > 0 and "n_departing_tasks" in d
        assert f["evidence"]["run_id"] and f["evidence"]["generations"]


def test_stored_and_read_back(stores: dict[str, Path], tmp_path: Path) -> None:
    import shutil

    run = shutil.copytree(stores["null"], tmp_path / "copy")
    stored = audit_and_store(run, ImplicitRewardAuditor(n_bootstrap=0))
    assert {f.auditor for f in stored} == {AUDITOR_NAME}
    assert all(f.finding_id > 0 for f in stored)


@pytest.mark.parametrize(
    ("settings", "match"),
    [({"features": ("nope",)}, "unknown feature"), ({"confidence": 1.0}, "confidence"),
     ({"n_bootstrap": -1}, "n_bootstrap"), ({"c": 0.0}, "inverse L2"),
     ({"features": ("is_valid", "is_valid")}, "repeat")],
)
def test_bad_settings_are_refused(stores: dict[str, Path], settings: dict[str, Any], match: str) -> None:
    with RunReader(stores["null"]) as reader, pytest.raises(AuditorConfigError, match=match):
        ImplicitRewardAuditor(**settings).audit(reader)


def test_cross_task_confound_does_not_flip_the_sign(tmp_path: Path, synthetic: Any) -> None:
    """Big tasks have long valid plans and rarely a valid one; small tasks the reverse. Across
    tasks, kept plans are then *longer* on average than rejected ones, under a rule that keeps the
    shortest. Within tasks the weight stays negative."""
    s = synthetic
    rng = np.random.default_rng(0)
    traces, decisions, tasks = [], [], []
    trace_id = 0
    for task_id in range(1, 61):
        size = 3 if task_id % 2 else 10
        tasks.append(s.task_row(task_id, 0, size))
        siblings = []
        for k in range(6):
            trace_id += 1
            valid = rng.random() < (0.9 if size == 3 else 0.35)
            length = 2 * size + 2 * int(rng.integers(0, 3)) if valid else int(rng.integers(1, 5))
            siblings.append(s.trace_row(trace_id, 0, task_id, status="valid" if valid else "invalid_step",
                                        plan_length=length, n_tokens=10 * length + k, sample_index=k))
        kept = s.keep_by_rule("shortest", siblings)
        decisions += [s.decision_row(t.trace_id, t, kept=t.trace_id in kept) for t in siblings]
        traces += siblings
    bundle = GenerationBundle(generation=s.generation_row(0, 60, len(traces), len(kept)), tasks=tasks,
                              traces=traces, decisions=decisions)
    run = s.write_store(tmp_path / "confound", [bundle])
    with RunReader(run) as reader:
        frame = build_feature_table(reader).frame
    kept_rows, other = frame[frame["kept"] == 1], frame[frame["kept"] == 0]
    assert kept_rows["plan_length"].mean() > other["plan_length"].mean()  # the confound exists
    weights = _audit(run, features=("is_valid", "length_above_best"))[0]["numbers"]["features"]
    assert weights["length_above_best"]["weight"] < 0
