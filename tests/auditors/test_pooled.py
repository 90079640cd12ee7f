"""Pooling stored findings across seeds (``iterdeploy.auditors.pooling``).

The stores are written through the real :class:`RunWriter` with findings whose numbers are chosen
by hand (in the shapes the auditors store), so every mean, spread and count below is checked
against arithmetic done by hand.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iterdeploy.auditors.core.findings import Severity, make_finding
from iterdeploy.auditors.payloads import DriftNumbers, ImplicitRewardNumbers, payload_model
from iterdeploy.auditors.pooling import (
    AuditedRun,
    NoFindingsError,
    PoolingError,
    check_runs,
    pool_audited,
    pool_runs,
    read_run,
    recurrence_of,
)
from iterdeploy.auditors.pooling.runs import newest_versions
from iterdeploy.simulator.errors import StoreError
from iterdeploy.simulator.store import FindingRow, RunReader, RunRow, RunWriter, dumps
from iterdeploy.simulator.studies import ComparedRun

IR = "implicit-reward-v2"
NOW = "2026-01-01T00:00:00+00:00"


def effect(weight: float | None, low: float | None = None, high: float | None = None) -> dict[str, Any]:
    """A feature's entry in an implicit-reward finding, as the auditor stores it."""
    return {"weight": weight, "ci_low": low, "ci_high": high, "is_constant": weight is None}


def reward_finding(generation: int | None, features: dict[str, dict[str, Any]] | None,
                   severity: Severity = "high", claims: list[dict[str, Any]] | None = None) -> FindingRow:
    """An implicit-reward finding; ``features=None`` is a fit that did not succeed."""
    numbers: dict[str, Any] = {"fit_status": "ok" if features is not None else "too few tasks",
                               "claims": claims or []}
    if features is not None:
        numbers["features"] = features
    return make_finding(auditor=IR, kind="implicit-reward", severity=severity, generation=generation,
                        claim=f"reward of generation {generation}",
                        numbers=ImplicitRewardNumbers.build(numbers), evidence={}, created_at=NOW)


def claim(concept: str, direction: int, feature: str, group: str | None = None,
          generation: int | None = None) -> dict[str, Any]:
    return {"concept": concept, "direction": direction, "feature": feature, "group": group,
            "generation": generation, "ci": [0.1, 0.2]}


def drift_finding(severity: Severity, later: int = 1, direction: str = "higher") -> FindingRow:
    return make_finding(
        auditor="drift-v2", kind="drift", severity=severity, generation=later, claim="plan length drifted",
        numbers=DriftNumbers.build({"feature": "plan_length", "purpose": "deploy", "direction": direction,
                                    "generations": {"earlier": 0, "later": later, "relation": "baseline"}}),
        evidence={}, created_at=NOW)


def write_run(run_dir: Path, *, seed: int, findings: list[FindingRow], name: str = "bias",
              run_id: str | None = None) -> Path:
    """A run store holding a run row and ``findings``, written by the real writer as ``iterdeploy
    audit`` writes them (one ``replace_findings`` per auditor)."""
    writer = RunWriter(run_dir)
    try:
        writer.create_run(RunRow(
            run_id=run_id or f"00000000-0000-4000-8000-{seed:012d}", name=name, seed=seed,
            scenario_yaml=f"name: {name}\n", scenario_json=dumps({"name": name, "seed": seed}),
            status="completed", created_at=NOW, package_versions="{}"))
        for auditor in dict.fromkeys(f.auditor for f in findings):
            writer.replace_findings(auditor, [f for f in findings if f.auditor == auditor])
    finally:
        writer.close()
    return run_dir


@pytest.fixture
def three_seeds(tmp_path: Path) -> list[Path]:
    """Three seeds of one scenario, with findings chosen so the pooled numbers are easy by hand.

    * whole-run weights: is_valid 1, 2, 3 (intervals above zero in seeds 0 and 1, spanning zero in
      seed 2); length_above_best -0.5, constant, -1.5 (both intervals below zero);
    * generation 1 was fitted in seeds 0 and 1 only (seed 2's fit failed);
    * the run-level reward finding is high, high, low; seed 2 also holds the older version's
      finding (v1), which pooling must ignore;
    * claims: length +1 in seed 0 (through two features) and seed 1, -1 in seed 2; action:stack -1
      in seed 1 only; validity both ways in seed 2 (two features disagree);
    * drift was audited in seeds 0 and 1 only, and flagged plan length (medium, higher) in seed 0.
    """
    seeds = [
        [reward_finding(None, {"is_valid": effect(1.0, 0.5, 1.5),
                               "length_above_best": effect(-0.5, -0.9, -0.1)},
                        claims=[claim("length", 1, "length_above_best"),
                                claim("length", 1, "is_task_longest")]),
         reward_finding(1, {"is_valid": effect(0.4, -0.2, 1.0)}, severity="medium"),
         drift_finding("medium"),
         make_finding(auditor="drift-v2", kind="drift", severity="info", generation=None,
                      claim="summary", numbers=DriftNumbers.build({}), evidence={}, created_at=NOW)],
        [reward_finding(None, {"is_valid": effect(2.0, 1.2, 2.8), "length_above_best": effect(None)},
                        claims=[claim("length", 1, "length_above_best"),
                                claim("action:stack", -1, "share_stack")]),
         reward_finding(1, {"is_valid": effect(0.8, 0.1, 1.5)}),
         make_finding(auditor="drift-v2", kind="drift", severity="info", generation=None,
                      claim="summary", numbers=DriftNumbers.build({}), evidence={}, created_at=NOW)],
        [reward_finding(None, {"is_valid": effect(3.0, -0.1, 6.0),
                               "length_above_best": effect(-1.5, -2.0, -1.0)}, severity="low",
                        claims=[claim("length", -1, "length_above_best"), claim("validity", 1, "is_valid"),
                                claim("validity", -1, "is_task_shortest")]),
         reward_finding(1, None, severity="info"),
         make_finding(auditor="implicit-reward-v1", kind="implicit-reward", severity="high", generation=None,
                      claim="an older audit", evidence={}, created_at=NOW,
                      numbers=ImplicitRewardNumbers.build({"fit_status": "ok", "features": {
                          "is_valid": effect(99.0, 98.0, 100.0)}}))],
    ]
    return [write_run(tmp_path / f"seed{seed}", seed=seed, findings=f) for seed, f in enumerate(seeds)]


def test_weights_across_seeds_are_hand_checked(three_seeds: list[Path]) -> None:
    pooled = pool_runs(three_seeds)
    (group,) = pooled.groups
    assert group.label == "bias" and [r.seed for r in group.runs] == [0, 1, 2]
    weights = {(w.generation, w.feature): w for w in group.reward}
    assert list(weights) == [(None, "is_valid"), (None, "length_above_best"), (1, "is_valid")]

    valid = weights[(None, "is_valid")]
    assert valid.auditor == IR  # the older version's weight of 99 is not pooled
    assert (valid.weight.n, valid.weight.mean, valid.weight.sd) == (3, 2.0, 1.0)
    assert (valid.weight.min, valid.weight.max, valid.weight.values) == (1.0, 3.0, [1.0, 2.0, 3.0])
    assert (valid.n_seeds, valid.n_fitted, valid.n_interval) == (3, 3, 3)
    assert (valid.n_above_zero, valid.n_below_zero, valid.sign, valid.recurrence) == (2, 0, 1, "recurs")

    length = weights[(None, "length_above_best")]
    assert (length.weight.n, length.weight.mean) == (2, -1.0)  # constant in seed 1: no weight
    assert length.weight.sd == pytest.approx(math.sqrt(0.5), abs=1e-4)
    assert length.weight.values == [-0.5, None, -1.5]
    assert (length.n_interval, length.n_above_zero, length.n_below_zero, length.sign) == (2, 0, 2, -1)
    assert length.recurrence == "recurs"

    late = weights[(1, "is_valid")]
    assert (late.n_fitted, late.weight.n, late.weight.mean) == (2, 2, 0.6)
    assert late.weight.values == [0.4, 0.8, None]
    assert (late.n_above_zero, late.recurrence) == (1, "once")  # clear in 1 of the 2 fitted seeds


def test_finding_recurrence_is_hand_checked(three_seeds: list[Path]) -> None:
    (group,) = pool_runs(three_seeds).groups
    findings = {(f.auditor, f.generation, f.subject): f for f in group.findings}
    run = findings[(IR, None, "")]
    assert (run.n_present, run.n_audited, run.seeds) == (3, 3, [0, 1, 2])
    assert (run.severities, run.n_alarm, run.recurrence) == ({"low": 1, "high": 2}, 2, "every seed")
    assert run.claim == "reward of generation None"

    drift = findings[("drift-v2", 1, "purpose=deploy, feature=plan_length, generations=0→1")]
    assert (drift.n_present, drift.n_audited, drift.seeds) == (1, 2, [0])  # seed 2 has no drift audit
    assert (drift.severities, drift.n_alarm, drift.n_up, drift.n_down) == ({"medium": 1}, 1, 1, 0)
    assert drift.recurrence == "once"
    assert findings[("drift-v2", None, "")].recurrence == "every seed"  # 2 of the 2 audited seeds
    assert not any(f.auditor == "implicit-reward-v1" for f in group.findings)


def test_claim_recurrence_is_hand_checked(three_seeds: list[Path]) -> None:
    (group,) = pool_runs(three_seeds).groups
    claims = {c.concept: c for c in group.claims}
    assert set(claims) == {"length", "action:stack", "validity"}
    length = claims["length"]  # +1 in seeds 0 (two features: one claim) and 1, -1 in seed 2
    assert (length.n_present, length.n_audited, length.n_up, length.n_down, length.n_mixed) == (3, 3, 2, 1, 0)
    assert (length.sign, length.recurrence) == (None, "every seed")
    assert length.features == ["is_task_longest", "length_above_best"]
    assert length.severities == {"low": 1, "high": 2}
    stack = claims["action:stack"]
    assert (stack.n_present, stack.seeds, stack.n_down, stack.sign) == (1, [1], 1, -1)
    assert stack.recurrence == "once"
    validity = claims["validity"]
    assert (validity.n_mixed, validity.n_up, validity.n_down, validity.sign) == (1, 0, 0, None)


def test_only_keeps_the_named_auditors(three_seeds: list[Path]) -> None:
    (group,) = pool_runs(three_seeds[:2], only=["drift"]).groups
    assert {f.auditor for f in group.findings} == {"drift-v2"} and group.reward == [] and group.claims == []
    with pytest.raises(NoFindingsError, match=r"seed2 holds no stored findings of drift"):
        pool_runs(three_seeds, only=["drift"])


def test_scenarios_are_pooled_apart(tmp_path: Path, three_seeds: list[Path]) -> None:
    other = write_run(tmp_path / "other", seed=0, name="another",
                      run_id="00000000-0000-4000-8000-00000000ffff",
                      findings=[drift_finding("high", direction="lower")])
    pooled = pool_runs([other, *three_seeds])
    assert [(g.label, len(g.runs)) for g in pooled.groups] == [("another", 1), ("bias", 3)]
    (drift,) = [f for f in pooled.groups[0].findings]
    assert (drift.n_down, drift.recurrence) == (1, "one seed audited")


def test_reading_writes_nothing(three_seeds: list[Path]) -> None:
    before = [(p / "run.sqlite").read_bytes() for p in three_seeds]
    pool_runs(three_seeds)
    assert [(p / "run.sqlite").read_bytes() for p in three_seeds] == before


def test_a_path_that_is_not_a_run_is_refused(tmp_path: Path, three_seeds: list[Path]) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(StoreError, match="empty"):
        pool_runs([three_seeds[0], tmp_path / "empty"])


def test_no_runs_is_refused() -> None:
    with pytest.raises(PoolingError, match="no run directories given"):
        pool_runs([])


def test_a_run_without_findings_is_refused(tmp_path: Path, three_seeds: list[Path]) -> None:
    bare = write_run(tmp_path / "bare", seed=7, findings=[])
    with pytest.raises(NoFindingsError, match=r"bare holds no stored findings: audit it first"):
        pool_runs([*three_seeds, bare])
    assert read_run(bare, require_findings=False).findings == []


def test_the_same_run_twice_is_refused(three_seeds: list[Path]) -> None:
    with pytest.raises(PoolingError, match="are the same run"):
        pool_runs([three_seeds[0], three_seeds[1], three_seeds[0]])


def test_two_runs_of_one_seed_are_refused(tmp_path: Path, three_seeds: list[Path]) -> None:
    again = write_run(tmp_path / "again", seed=1, run_id="00000000-0000-4000-8000-0000000000aa",
                      findings=[drift_finding("info")])
    with pytest.raises(PoolingError, match=r"both seed 1 of scenario bias.*one run per seed"):
        pool_runs([*three_seeds, again])


def test_seeds_audited_by_different_versions_are_refused(tmp_path: Path) -> None:
    old = write_run(tmp_path / "old", seed=0, findings=[make_finding(
        auditor="drift-v1", kind="drift", severity="info", generation=None, claim="x",
        numbers=DriftNumbers.build({}),
        evidence={}, created_at=NOW)])
    new = write_run(tmp_path / "new", seed=1, findings=[drift_finding("info")])
    with pytest.raises(PoolingError, match=r"different versions of drift \(drift-v1 in .*old, drift-v2 in"):
        pool_runs([old, new])


def test_newest_versions_keeps_each_auditors_latest(three_seeds: list[Path]) -> None:
    with RunReader(three_seeds[2]) as reader:
        stored = reader.findings()
    assert {f.auditor for f in stored} == {IR, "implicit-reward-v1"}
    assert {f.auditor for f in newest_versions(stored)} == {IR}


def test_recurrence_labels_and_impossible_counts() -> None:
    labels = ["every seed", "recurs", "recurs", "once", "none"]
    assert [recurrence_of(k, 5) for k in (5, 4, 2, 1, 0)] == labels
    assert recurrence_of(1, 1) == "one seed audited"
    with pytest.raises(ValueError, match="impossible"):
        recurrence_of(3, 2)


# -- properties, on runs built in memory from the store's own row types -------------------------

FINDING = st.tuples(
    # every finding carries the implicit-reward auditor's weights and claims, so the other two are
    # auditors without a payload model (read as they are), not the registered ones of those kinds
    st.sampled_from(["implicit-reward-v2", "custom-v2", "attribution-v2"]),
    st.sampled_from([None, 0, 1]),
    st.sampled_from(["info", "low", "medium", "high"]),
    st.sampled_from([None, "length", "validity"]),
    st.sampled_from([1, -1]),
    st.one_of(st.none(), st.floats(-3, 3, allow_nan=False)),
)


def _audited_run(index: int, findings: list[tuple[Any, ...]]) -> AuditedRun:
    rows: dict[tuple[str, int | None], FindingRow] = {}
    for auditor, generation, severity, concept, direction, weight in findings:
        low, high = (weight or 0) - 1, (weight or 0) + 1
        numbers: dict[str, Any] = {"fit_status": "ok", "features": {"is_valid": effect(weight, low, high)},
                                   "claims": [claim(concept, direction, "f")] if concept else []}
        kind = "implicit-reward" if auditor.startswith("implicit") else auditor.removesuffix("-v2")
        rows[(auditor, generation)] = make_finding(  # one finding per key, as in a real run
            auditor=auditor, kind=kind, severity=severity, generation=generation, claim="c",
            numbers=payload_model(kind).build(numbers), evidence={}, created_at=NOW)
    run = ComparedRun(run_dir=f"runs/seed{index}", run_id=f"id-{index}", name="bias", seed=index,
                      status="completed", last_generation=1, planned_generations=1, flagged=False)
    return AuditedRun(run=run, scenario={"name": "bias", "seed": index}, findings=list(rows.values()))


@settings(max_examples=30, deadline=None)
@given(st.lists(st.lists(FINDING, min_size=1, max_size=6), min_size=1, max_size=5), st.randoms())
def test_counts_never_exceed_the_seeds_and_order_does_not_matter(
    per_seed: list[list[tuple[Any, ...]]], random: Any
) -> None:
    runs = [_audited_run(i, findings) for i, findings in enumerate(per_seed)]
    pooled = pool_audited(runs)
    shuffled = list(runs)
    random.shuffle(shuffled)
    assert pool_audited(shuffled) == pooled
    (group,) = pooled.groups
    n = len(runs)
    for f in group.findings:
        assert 1 <= f.n_present <= f.n_audited <= n and len(f.seeds) == f.n_present
        assert sum(f.severities.values()) == f.n_present and f.n_up + f.n_down <= f.n_present
    for c in group.claims:
        assert 1 <= c.n_present <= c.n_audited <= n and c.n_up + c.n_down + c.n_mixed == c.n_present
    for w in group.reward:
        assert w.weight.n <= w.n_fitted <= n and w.n_above_zero + w.n_below_zero <= w.n_interval <= w.n_fitted
        if w.weight.n:
            assert w.weight.min is not None and w.weight.max is not None and w.weight.mean is not None
            # the mean is rounded to 4 decimals (``spread``), the range is not
            assert w.weight.min - 1e-4 <= w.weight.mean <= w.weight.max + 1e-4


def test_check_runs_looks_at_the_runs_not_at_what_they_hold(tmp_path: Path) -> None:
    """Before auditing, an outdated version's findings are no reason to refuse (the audit replaces
    them), but a duplicated seed is."""
    old = write_run(tmp_path / "old", seed=0, findings=[make_finding(
        auditor="drift-v1", kind="drift", severity="info", generation=None, claim="x",
        numbers=DriftNumbers.build({}),
        evidence={}, created_at=NOW)])
    new = write_run(tmp_path / "new", seed=1, findings=[drift_finding("info")])
    check_runs([old, new])
    again = write_run(tmp_path / "again", seed=1, run_id="00000000-0000-4000-8000-0000000000bb", findings=[])
    with pytest.raises(PoolingError, match="both seed 1"):
        check_runs([old, new, again])
    with pytest.raises(PoolingError, match="no run directories given"):
        check_runs([])
