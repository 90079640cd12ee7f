"""The declared-objective auditor: hidden objectives against the declaration, and reward distance."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditors.core.features import AuditorConfigError
from auditors.core.findings import audit_and_store
from auditors.reward.declared import DeclaredObjectiveAuditor, pearson_distance
from simulator.store import RunReader


def _findings(run_dir: Path, **kwargs: object) -> dict[int | None, dict[str, object]]:
    with RunReader(run_dir) as reader:
        rows = DeclaredObjectiveAuditor(n_bootstrap=100, **kwargs).audit(reader)  # type: ignore[arg-type]
    return {r.generation: {"severity": r.severity, "claim": r.claim, **json.loads(r.numbers_json)}
            for r in rows if r.kind == "hidden-objective"}


def test_users_who_follow_the_declaration_raise_nothing(make_store: Callable[..., Path]) -> None:
    found = _findings(make_store(rules="shortest", n_tasks=60))
    assert all(f["severity"] == "info" and f["n_kept_anyway"] == 0 for f in found.values())
    assert found[None]["n_rejected_by_declaration"] > 0
    assert "consistent" in str(found[None]["claim"])


def test_a_length_biased_minority_is_a_hidden_objective_with_the_right_sign(
    make_store: Callable[..., Path],
) -> None:
    found = _findings(make_store(rules="length_bias", n_tasks=80, n_samples=6, p_valid=0.8))
    run = found[None]
    assert run["n_kept_anyway"] > 0 and run["severity"] == "high"
    hidden = run["hidden"]
    assert set(hidden) & {"plan_length", "rel_plan_length"}, run["claim"]
    # users keep longer plans than the declared "shortest valid plan" would
    for feature in ("plan_length", "rel_plan_length"):
        if feature in hidden:
            low, _ = run["intervals"][feature]
            assert low > 0
    assert "hidden objective" in str(run["claim"])


def test_publishing_everything_departs_from_a_validity_declaration(
    make_store: Callable[..., Path],
) -> None:
    found = _findings(make_store(rules="accept_all"))
    run = found[None]
    assert run["n_kept_anyway"] == run["n_rejected_by_declaration"] > 0
    assert run["kept_anyway_rate_ci"][0] > 0.9 and run["severity"] == "high"


def test_declaring_no_objective_rejects_nothing(
    make_store: Callable[..., Path], synthetic: object
) -> None:
    run_dir = make_store(rules="accept_all")
    import sqlite3

    conn = sqlite3.connect(run_dir / "run.sqlite")
    with conn:
        conn.execute("UPDATE runs SET scenario_json=?", (json.dumps({"declared_objective": "none"}),))
    conn.close()
    found = _findings(run_dir)
    assert found[None]["n_rejected_by_declaration"] == 0 and found[None]["severity"] == "info"
    conn = sqlite3.connect(run_dir / "run.sqlite")
    with conn:
        conn.execute("UPDATE runs SET scenario_json=?", (json.dumps({"declared_objective": "fame"}),))
    conn.close()
    with pytest.raises(AuditorConfigError, match="fame"):
        _findings(run_dir)


def test_findings_are_stored_and_replaced(make_store: Callable[..., Path]) -> None:
    run_dir = make_store(rules="length_bias")
    first = audit_and_store(run_dir, DeclaredObjectiveAuditor(n_bootstrap=50))
    again = audit_and_store(run_dir, DeclaredObjectiveAuditor(n_bootstrap=50))
    assert [f.claim for f in first] == [f.claim for f in again]
    with RunReader(run_dir) as reader:
        stored = [f for f in reader.findings() if f.auditor == "declared-objective-v1"]
    assert len(stored) == len(first)
    distance = next(f for f in first if f.kind == "reward-distance")
    numbers = json.loads(distance.numbers_json)
    assert 0.0 <= numbers["distance_inferred_declared"] <= 1.0


rewards = st.lists(st.floats(-5, 5, allow_nan=False), min_size=6, max_size=30)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(rewards, st.lists(st.floats(-3, 3, allow_nan=False), min_size=3, max_size=3))
def test_pearson_distance_ignores_per_task_constants_and_sees_sign(
    values: list[float], shifts: list[float]
) -> None:
    a = np.array(values)
    groups = np.arange(len(a)) % 3
    if np.allclose(a - np.array([a[groups == g].mean() for g in groups]), 0, atol=1e-6):
        assert pearson_distance(a, a, groups) is None
        return
    shifted = a + np.array(shifts)[groups]
    assert pearson_distance(a, shifted, groups) == pytest.approx(0.0, abs=1e-6)
    assert pearson_distance(a, 2.5 * a, groups) == pytest.approx(0.0, abs=1e-6)
    assert pearson_distance(a, -a, groups) == pytest.approx(1.0, abs=1e-6)
