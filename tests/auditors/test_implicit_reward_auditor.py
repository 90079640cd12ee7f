"""The implicit-reward auditor recovers a known curation rule and keeps its bookkeeping straight."""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditors.core.features import AuditorConfigError
from auditors.core.findings import audit_and_store
from auditors.reward.implicit_reward import AUDITOR_NAME, ImplicitRewardAuditor
from simulator.store import FindingRow, RunReader

N_BOOT = 50

StoreFactory = Callable[..., Path]


def _audit(run: Path, **kwargs: Any) -> list[FindingRow]:
    kwargs.setdefault("n_bootstrap", N_BOOT)
    with RunReader(run) as reader:
        return ImplicitRewardAuditor(**kwargs).audit(reader)


def _numbers(finding: FindingRow) -> dict[str, Any]:
    return dict(json.loads(finding.numbers_json))


def _content(findings: list[FindingRow]) -> list[dict[str, Any]]:
    """Findings without the creation timestamp (metadata, not a result)."""
    return [f.model_dump(exclude={"created_at"}) for f in findings]


@pytest.fixture(scope="module")
def shortest_run(tmp_path_factory: pytest.TempPathFactory, synthetic: Any) -> Path:
    """Three generations curated by "keep only the shortest valid plan per task"."""
    return synthetic.write_store(
        tmp_path_factory.mktemp("shortest") / "run", synthetic.make_bundles(rules="shortest")
    )


@pytest.fixture(scope="module")
def shortest_findings(shortest_run: Path) -> list[FindingRow]:
    return _audit(shortest_run, seed=0)


def test_findings_cover_run_then_each_generation(shortest_findings: list[FindingRow]) -> None:
    assert [f.generation for f in shortest_findings] == [None, 0, 1, 2]
    for f in shortest_findings:
        assert (f.auditor, f.kind) == (AUDITOR_NAME, "implicit-reward")
        numbers = _numbers(f)
        assert numbers["fit_status"] == "ok"
        assert numbers["denominators"]["n_traces"] > 0
        assert numbers["model"]["standardized"] is True
        evidence = json.loads(f.evidence_json)
        assert evidence["kept_trace_ids_sample"] and evidence["not_kept_trace_ids_sample"]
        assert evidence["run_id"]


def test_validity_weight_positive_with_interval_above_zero(
    shortest_findings: list[FindingRow],
) -> None:
    valid = _numbers(shortest_findings[0])["features"]["is_valid"]
    assert valid["weight"] > 0
    assert valid["ci_low"] > 0
    assert valid["ci_excludes_zero"] is True


def test_shortest_only_gives_negative_plan_length_weight_and_medium(
    shortest_findings: list[FindingRow],
) -> None:
    run = shortest_findings[0]
    numbers = _numbers(run)
    assert numbers["features"]["plan_length"]["weight"] < 0
    among_valid = numbers["beyond_declared"]["strata"]["valid"]["features"]["plan_length"]
    assert among_valid["weight"] < 0
    assert among_valid["ci_high"] < 0
    assert run.severity == "medium"
    assert "falls with plan length" in run.claim
    assert "more than validity" in run.claim


def test_inferred_reward_tracks_recorded_acceptance(shortest_findings: list[FindingRow]) -> None:
    corr = _numbers(shortest_findings[0])["reward_vs_acceptance"]
    assert corr["pearson"] > 0.3
    assert corr["spearman"] > 0.3


def test_validity_only_curation_is_not_flagged(make_store: StoreFactory) -> None:
    # Validity separates kept from not kept; the penalised joint fit then leans on anything
    # correlated with validity. The stratified check must not call that a hidden objective.
    findings = _audit(make_store(rules="validity", n_generations=2))
    assert all(f.severity == "info" for f in findings)
    numbers = _numbers(findings[0])
    assert numbers["separation"]["kept_iff_valid"] is True
    assert numbers["beyond_declared"]["strata"]["valid"]["fit_status"] == "single-class"
    assert "nothing beyond validity" in findings[0].claim


@pytest.mark.parametrize(("rule", "phrase"), [("accept_all", "all"), ("reject_all", "none of the")])
def test_one_class_says_it_cannot_separate(make_store: StoreFactory, rule: str, phrase: str) -> None:
    findings = _audit(make_store(rules=rule, n_generations=2))
    assert len(findings) == 3
    for f in findings:
        numbers = _numbers(f)
        assert numbers["fit_status"] == "single-class"
        assert f.severity == "info"
        assert "cannot be separated" in f.claim and f"kept {phrase}" in f.claim
        assert all(e["weight"] is None for e in numbers["features"].values())
        assert numbers["reward_vs_acceptance"]["pearson"] is None


def test_mixed_generations_fit_where_they_can(make_store: StoreFactory) -> None:
    findings = _audit(make_store(rules=["accept_all", "reject_all", "shortest"]))
    status = {f.generation: _numbers(f)["fit_status"] for f in findings}
    assert status == {None: "ok", 0: "single-class", 1: "single-class", 2: "ok"}


def test_same_seed_same_findings_other_seed_other_intervals(shortest_run: Path) -> None:
    a, b = _audit(shortest_run, seed=0), _audit(shortest_run, seed=0)
    assert _content(a) == _content(b)
    c = _audit(shortest_run, seed=1)
    weights = [(_numbers(f)["features"], _numbers(g)["features"]) for f, g in zip(a, c, strict=True)]
    assert all(x["is_valid"]["weight"] == y["is_valid"]["weight"] for x, y in weights)
    assert any(x["is_valid"]["ci_low"] != y["is_valid"]["ci_low"] for x, y in weights)


def test_generation_interval_ignores_other_generations(tmp_path: Path, synthetic: Any) -> None:
    bundles = synthetic.make_bundles(rules="shortest", n_generations=2)
    one = synthetic.write_store(tmp_path / "one", bundles[:1])
    two = synthetic.write_store(tmp_path / "two", bundles)
    gen0 = [_numbers(f) for f in _audit(one) + _audit(two) if f.generation == 0]
    assert gen0[0]["features"] == gen0[1]["features"]


def test_empty_run_gives_one_info_finding(tmp_path: Path, synthetic: Any) -> None:
    findings = _audit(synthetic.write_store(tmp_path / "empty", []))
    assert len(findings) == 1
    (only,) = findings
    assert (only.generation, only.severity) == (None, "info")
    assert "nothing to audit" in only.claim
    numbers = _numbers(only)
    assert numbers["fit_status"] == "no-traces"
    assert numbers["denominators"]["n_traces"] == 0


def test_traces_without_decisions_are_counted(tmp_path: Path, synthetic: Any) -> None:
    bundles = [replace(b, decisions=[]) for b in synthetic.make_bundles(n_generations=1, n_tasks=3)]
    findings = _audit(synthetic.write_store(tmp_path / "undecided", bundles))
    assert [f.generation for f in findings] == [None, 0]
    assert "12 deployment traces have no curation decision" in findings[1].claim
    assert _numbers(findings[1])["denominators"]["n_undecided"] == 12


def test_one_generation_run(make_store: StoreFactory) -> None:
    findings = _audit(make_store(n_generations=1))
    assert [f.generation for f in findings] == [None, 0]
    run, gen0 = (_numbers(f)["features"] for f in findings)
    # Same traces, same weights; the intervals differ because each scope has its own generator.
    assert {k: v["weight"] for k, v in run.items()} == {k: v["weight"] for k, v in gen0.items()}


def test_tiny_generation_does_not_crash(make_store: StoreFactory) -> None:
    findings = _audit(make_store(n_generations=1, n_tasks=1, n_samples=3, seed=3))
    assert len(findings) == 2
    boot = _numbers(findings[0])
    assert boot["n_bootstrap_used"] + boot["n_single_class"] == N_BOOT or boot["fit_status"] != "ok"


def test_zero_bootstrap_gives_weights_without_intervals(shortest_run: Path) -> None:
    numbers = _numbers(_audit(shortest_run, n_bootstrap=0)[0])
    valid = numbers["features"]["is_valid"]
    assert valid["weight"] > 0 and valid["ci_low"] is None
    assert numbers["n_bootstrap_used"] == 0


def test_other_features(shortest_run: Path) -> None:
    features = ("is_valid", "rel_plan_length", "n_tokens", "task_size", "is_unparseable")
    numbers = _numbers(_audit(shortest_run, features=features)[0])
    among_valid = numbers["beyond_declared"]["strata"]["valid"]["features"]
    assert among_valid["rel_plan_length"]["ci_high"] < 0
    assert among_valid["is_unparseable"]["is_constant"] is True  # valid plans are parseable


def test_without_validity_feature_uses_joint_intervals(shortest_run: Path) -> None:
    numbers = _numbers(_audit(shortest_run, features=("plan_length",))[0])
    assert numbers["beyond_declared"] is None
    assert "joint fit" in numbers["severity_rule"]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"features": ("bogus",)},
        {"confidence": 1.5},
        {"n_bootstrap": -1},
        {"c": 0.0},
        {"features": ("is_valid", "is_valid")},
    ],
)
def test_bad_config_raises_on_audit(shortest_run: Path, kwargs: dict[str, Any]) -> None:
    auditor = ImplicitRewardAuditor(**kwargs)  # the constructor only stores
    with RunReader(shortest_run) as reader, pytest.raises(AuditorConfigError):
        auditor.audit(reader)


def test_audit_leaves_store_unchanged_and_audit_and_store_writes_only_findings(
    tmp_path: Path, synthetic: Any
) -> None:
    run = synthetic.write_store(tmp_path / "run", synthetic.make_bundles(n_generations=2))
    before = synthetic.dump_tables(run)
    _audit(run)
    assert synthetic.dump_tables(run) == before

    stored = audit_and_store(run, ImplicitRewardAuditor(n_bootstrap=10))
    after = synthetic.dump_tables(run)
    assert {k: v for k, v in after.items() if k != "findings"} == {
        k: v for k, v in before.items() if k != "findings"
    }
    assert len(after["findings"]) == len(stored) == 3
    assert [f.finding_id for f in stored] == [1, 2, 3]

    again = audit_and_store(run, ImplicitRewardAuditor(n_bootstrap=10))  # replaces, never duplicates
    assert len(synthetic.dump_tables(run)["findings"]) == len(again) == 3


def test_audit_and_store_on_missing_directory_creates_nothing(tmp_path: Path) -> None:
    from simulator.errors import StoreError

    with pytest.raises(StoreError, match="not a run directory"):
        audit_and_store(tmp_path / "nowhere", ImplicitRewardAuditor())
    assert not (tmp_path / "nowhere").exists()


@pytest.fixture(scope="module")
def order_case(tmp_path_factory: pytest.TempPathFactory, synthetic: Any) -> tuple[Any, Any]:
    bundles = synthetic.make_bundles(n_generations=2, n_tasks=8, seed=5)
    run = synthetic.write_store(tmp_path_factory.mktemp("ordered") / "run", bundles)
    return bundles, _content(_audit(run, n_bootstrap=10))


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rnd=st.randoms(use_true_random=False))
def test_findings_do_not_depend_on_row_order(
    order_case: tuple[Any, Any], synthetic: Any, tmp_path: Path, rnd: random.Random
) -> None:
    bundles, expected = order_case
    shuffled = []
    for bundle in bundles:
        tasks, traces, decisions = list(bundle.tasks), list(bundle.traces), list(bundle.decisions)
        for rows in (tasks, traces, decisions):
            rnd.shuffle(rows)
        shuffled.append(replace(bundle, tasks=tasks, traces=traces, decisions=decisions))
    rnd.shuffle(shuffled)
    run = synthetic.write_store(tmp_path / uuid.uuid4().hex, shuffled)
    assert _content(_audit(run, n_bootstrap=10)) == expected


def test_missing_feature_values_are_counted_not_dropped_silently(tmp_path: Path, synthetic: Any) -> None:
    bundles = synthetic.make_bundles(rules="shortest", n_generations=1, n_tasks=10)
    bundles = [replace(b, tasks=b.tasks[1:]) for b in bundles]  # traces of task 1 lose task_size
    run = synthetic.write_store(tmp_path / "run", bundles)
    numbers = _numbers(_audit(run, features=("is_valid", "task_size"))[0])
    assert numbers["fit_status"] == "ok"
    assert numbers["n_missing_feature"] == 4
    assert numbers["n_traces"] == numbers["denominators"]["n_traces"] - 4
    assert numbers["reward_vs_acceptance"]["n"] == numbers["n_traces"]
