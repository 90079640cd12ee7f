"""The black-box auditor recovers a known reward from outputs alone and stays quiet without one.

The synthetic runs here are built the way the theory says curation acts (Ferbach et al., 2024):
generation g samples each trace type τ of a task with probability p_0(τ) · exp(g · r(τ)),
normalised per task, for a known reward r over validity and the valid plan's detour above the
task's optimum. So a classifier of generation g+1 against g on the same evaluation prompts must
recover r's signs; with r = 0 every generation is the same model and it must find nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iterdeploy.auditors.blackbox.auditor import (
    AUDITOR_NAME,
    BlackBoxAuditor,
    BlackBoxInputError,
    audit_blackbox,
)
from iterdeploy.auditors.blackbox.data import build_output_table
from iterdeploy.auditors.blackbox.stats import (
    correlations,
    fit_with_prompt_intercepts,
    shuffle_within_prompts,
    within_prompt_auc,
)
from iterdeploy.auditors.core.features import AuditorConfigError
from iterdeploy.auditors.payloads import BlackBoxNumbers, payload
from iterdeploy.simulator.store import FindingRow, GenerationBundle, RunReader, TaskRow, TraceRow

N_BOOT = 60
N_PERM = 40

# trace types of a task: (status, detour above the optimum for valid plans), base weight
TYPES: tuple[tuple[str, int], ...] = (
    ("valid", 0),
    ("valid", 2),
    ("valid", 4),
    ("invalid_step", 0),
    ("goal_not_reached", 0),
    ("unknown_object", 0),
    ("unparseable", 0),
)
BASE_WEIGHTS = np.array([0.18, 0.12, 0.10, 0.35, 0.12, 0.08, 0.05])


def _plan(actions: int, detour: int, rng: np.random.Generator) -> str:
    cycle = ("unstack", "putdown", "pickup", "stack")
    steps = [f"{cycle[i % 4]} b{1 + i % 3}" for i in range(actions)]
    for _ in range(detour // 2):
        at = int(rng.integers(0, len(steps) + 1))
        steps[at:at] = ["pickup b1", "putdown b1"]
    return "\n".join(steps)


def _sample_traces(
    synthetic: Any,
    rng: np.random.Generator,
    task: TaskRow,
    generation: int,
    k: int,
    probs: np.ndarray,
    first_id: int,
    purpose: str,
) -> list[TraceRow]:
    optimal = int(task.optimal_length or 0)
    traces = []
    for i, kind in enumerate(rng.choice(len(TYPES), size=k, p=probs)):
        status, detour = TYPES[int(kind)]
        if status == "valid":
            length, text = optimal + detour, _plan(optimal, detour, rng)
        elif status == "unparseable":
            length, text = 0, ""
        else:
            length = int(rng.integers(1, optimal + 4))
            text = _plan(length, 0, rng)
        trace = synthetic.trace_row(
            first_id + i,
            generation,
            task.task_id,
            status=status,
            plan_length=length,
            n_tokens=12 * length + int(rng.integers(5, 30)),
            sample_index=i,
            purpose=purpose,
        )
        traces.append(trace.model_copy(update={"plan_text": text}))
    return traces


def tilted_bundles(
    synthetic: Any,
    *,
    reward_valid: float,
    reward_detour: float,
    seed: int = 0,
    n_generations: int = 3,
    n_eval_tasks: int = 60,
    eval_samples: int = 4,
    n_deploy_tasks: int = 30,
    deploy_samples: int = 4,
) -> list[GenerationBundle]:
    """Generations whose trace-type distribution is tilted by exp(g · r(τ)); users keep the
    shortest valid plan of each deployment task (A = 1 for it, 0 for the rest)."""
    rng = np.random.default_rng(seed)
    reward = np.array([reward_valid * (s == "valid") - reward_detour * d for s, d in TYPES])
    eval_tasks = [
        synthetic.task_row(1000 + i, None, int(rng.integers(3, 7)), pool="eval") for i in range(n_eval_tasks)
    ]
    bundles, task_id, trace_id, decision_id = [], 0, 0, 0
    for g in range(n_generations):
        probs = BASE_WEIGHTS * np.exp(g * reward)
        probs /= probs.sum()
        traces, tasks, decisions = [], list(eval_tasks) if g == 0 else [], []
        for task in eval_tasks:
            traces += _sample_traces(synthetic, rng, task, g, eval_samples, probs, trace_id + 1, "eval")
            trace_id += eval_samples
        for _ in range(n_deploy_tasks):
            task_id += 1
            task = synthetic.task_row(task_id, g, int(rng.integers(3, 7)))
            tasks.append(task)
            siblings = _sample_traces(synthetic, rng, task, g, deploy_samples, probs, trace_id + 1, "deploy")
            trace_id += deploy_samples
            valid = [t for t in siblings if t.is_valid]
            best = min(valid, key=lambda t: (t.plan_length, t.n_tokens, t.trace_id)) if valid else None
            for t in siblings:
                decision_id += 1
                decisions.append(synthetic.decision_row(decision_id, t, kept=t is best))
            traces += siblings
        bundles.append(
            GenerationBundle(
                generation=synthetic.generation_row(g, n_deploy_tasks, len(traces), len(decisions)),
                tasks=tasks,
                traces=traces,
                decisions=decisions,
            )
        )
    return bundles


def _audit(run: Path, **kwargs: Any) -> list[FindingRow]:
    kwargs.setdefault("n_bootstrap", N_BOOT)
    kwargs.setdefault("n_permutations", N_PERM)
    with RunReader(run) as reader:
        return BlackBoxAuditor(**kwargs).audit(reader)


def _numbers(finding: FindingRow) -> dict[str, Any]:
    """A finding's numbers, read through the kind's payload model (which must fit them exactly)."""
    numbers = payload(finding, BlackBoxNumbers).as_json()
    assert numbers == json.loads(finding.numbers_json)
    return dict(numbers)


def _content(findings: list[FindingRow]) -> list[dict[str, Any]]:
    return [f.model_dump(exclude={"created_at"}) for f in findings]


@pytest.fixture(scope="module")
def rewarded_run(tmp_path_factory: pytest.TempPathFactory, synthetic: Any) -> Path:
    """Each generation tilts towards valid plans and away from detours (the paper's rule)."""
    bundles = tilted_bundles(synthetic, reward_valid=1.0, reward_detour=0.35, n_eval_tasks=80)
    return synthetic.write_store(tmp_path_factory.mktemp("rewarded") / "run", bundles)


@pytest.fixture(scope="module")
def rewarded_findings(rewarded_run: Path) -> list[FindingRow]:
    return _audit(rewarded_run)


def test_findings_cover_run_baseline_then_each_pair(rewarded_findings: list[FindingRow]) -> None:
    assert [f.generation for f in rewarded_findings] == [None, 2, 1, 2]
    assert [_numbers(f)["scope"] for f in rewarded_findings] == ["run", "baseline", "pair", "pair"]
    assert [_numbers(f)["pairs"] for f in rewarded_findings] == [
        [[0, 1], [1, 2]],
        [[0, 2]],
        [[0, 1]],
        [[1, 2]],
    ]
    for f in rewarded_findings:
        assert (f.auditor, f.kind) == (AUDITOR_NAME, "blackbox-reward")
        auc = _numbers(f)["held_out_auc"]
        assert auc["n_comparisons"] == 4 and auc["n_permutations"] == N_PERM
        assert auc["permutation_p_bh"] >= auc["permutation_p"]
        evidence = json.loads(f.evidence_json)
        assert evidence["run_id"] and evidence["purpose"] == "eval"
        assert evidence["later_trace_ids_highest_reward"] and evidence["earlier_trace_ids_lowest_reward"]


def test_known_reward_is_recovered_with_its_signs(rewarded_findings: list[FindingRow]) -> None:
    run = _numbers(rewarded_findings[0])
    assert run["fit_status"] == "ok"
    assert run["held_out_auc"]["separable"] is True
    assert run["held_out_auc"]["auc"] > 0.55
    valid, detour = run["features"]["is_valid"], run["features"]["excess_length"]
    assert valid["weight"] > 0 and valid["ci_low"] > 0 and valid["clear"] is True
    assert detour["weight"] < 0 and detour["ci_high"] < 0 and detour["clear"] is True
    # the reward agrees with the declared objective (validity, shortest: validity +, length -):
    # separable and expected, not an alarm
    assert rewarded_findings[0].severity == "info"
    assert run["against_declared"] == {}
    assert run["declared_directions"] == {"validity": 1, "length": -1}
    assert run["inferred_reward"]["table"] == "black-box" and not run["inferred_reward"]["cannot_tell"]
    assert "favours validity" in rewarded_findings[0].claim
    assert "penalises valid plan length above the optimum" in rewarded_findings[0].claim


def test_recovery_correlates_with_recorded_acceptance(rewarded_findings: list[FindingRow]) -> None:
    recovery = _numbers(rewarded_findings[0])["recovery"]
    assert recovery["generations"] == [0, 1]
    assert recovery["n_traces"] == 2 * 30 * 4
    blackbox, whitebox = recovery["blackbox"], recovery["whitebox"]
    # within tasks, both rewards order most pairs of traces the way A(tau) does
    assert blackbox["concordance"] > 0.7 and whitebox["concordance"] > 0.9
    assert blackbox["n_pairs"] == whitebox["n_pairs"] > 0
    by_pair = _numbers(rewarded_findings[0])["recovery_by_pair"]
    assert [p["pair"] for p in by_pair] == [[0, 1], [1, 2]]


def test_hidden_length_preference_is_against_the_declaration(tmp_path: Path, synthetic: Any) -> None:
    bundles = tilted_bundles(synthetic, reward_valid=0.3, reward_detour=-0.6, n_eval_tasks=80, seed=4)
    findings = _audit(synthetic.write_store(tmp_path / "run", bundles))
    run = _numbers(findings[0])
    detour = run["features"]["excess_length"]
    assert detour["weight"] > 0 and detour["clear"] is True
    assert run["against_declared"] == {"excess_length": "against"}
    assert findings[0].severity == "medium"
    assert "runs against what the declared objective" in findings[0].claim
    assert {(c["concept"], c["direction"]) for c in run["claims"]} == {("length", 1)}


IDENTICAL_SEEDS = (0, 1, 2, 3, 4)


@pytest.fixture(scope="module")
def identical_findings(tmp_path_factory: pytest.TempPathFactory, synthetic: Any) -> list[FindingRow]:
    """Runs whose two generations are the same model, one per seed, audited at the 1% level.

    At that level each seed has a 1-in-100 chance of a false alarm; the permutation test makes the
    rate exact (measured separately: 1 of 60 identical pairs separable at the 5% level).
    """
    findings = []
    for seed in IDENTICAL_SEEDS:
        bundles = tilted_bundles(
            synthetic, reward_valid=0.0, reward_detour=0.0, seed=seed, n_generations=2, n_deploy_tasks=10
        )
        run = synthetic.write_store(tmp_path_factory.mktemp(f"identical-{seed}") / "run", bundles)
        findings += _audit(run, seed=seed, confidence=0.99, n_permutations=99)
    return findings


def test_identical_generations_are_not_separable(identical_findings: list[FindingRow]) -> None:
    assert [_numbers(f)["scope"] for f in identical_findings] == ["run", "pair"] * len(IDENTICAL_SEEDS)
    for f in identical_findings:
        numbers = _numbers(f)
        assert numbers["held_out_auc"]["separable"] is False, f.claim
        assert numbers["held_out_auc"]["permutation_p"] >= 0.01
        assert not any(e["clear"] for e in numbers["features"].values())
        assert f.severity == "info"
        assert "cannot be told apart" in f.claim
        assert "Pearson" not in f.claim  # a noise reward's correlation is not worth a sentence


def test_identical_generations_give_auc_near_one_half(identical_findings: list[FindingRow]) -> None:
    aucs = np.array([_numbers(f)["held_out_auc"]["auc"] for f in identical_findings])
    # held-out AUCs of identical generations scatter with SD about 0.035 around 0.49 (60 runs)
    assert abs(aucs.mean() - 0.5) < 0.04
    assert (np.abs(aucs - 0.5) < 0.12).all()


def test_denominators_count_failed_and_unreadable_samples(rewarded_findings: list[FindingRow]) -> None:
    pair = _numbers(rewarded_findings[2])
    for generation in ("0", "1"):
        d = pair["denominators"][generation]
        assert d["n_traces"] == 80 * 4
        assert d["n_valid"] + d["n_failed"] + d["n_unreadable"] == d["n_traces"]
        assert d["n_unreadable"] == d["n_by_status"].get("unparseable", 0) > 0
    assert pair["n_traces"] == 2 * 80 * 4  # every sample is fitted, unreadable ones included
    assert pair["n_unpaired_traces"] == 0
    assert "unreadable" in rewarded_findings[2].claim


def test_outputs_only_the_fit_ignores_the_curation_log(tmp_path: Path, synthetic: Any) -> None:
    bundles = tilted_bundles(
        synthetic, reward_valid=1.0, reward_detour=0.3, n_eval_tasks=30, n_deploy_tasks=8
    )
    with_log = _audit(synthetic.write_store(tmp_path / "a", bundles), n_bootstrap=10)
    flipped = [
        replace(b, decisions=[d.model_copy(update={"kept": not d.kept}) for d in b.decisions])
        for b in bundles
    ]
    without = _audit(synthetic.write_store(tmp_path / "b", flipped), n_bootstrap=10)
    for a, b in zip(with_log, without, strict=True):
        na, nb = _numbers(a), _numbers(b)
        assert na["features"] == nb["features"] and na["held_out_auc"] == nb["held_out_auc"]


def test_same_seed_same_findings_other_seed_other_intervals(rewarded_run: Path) -> None:
    a, b = _audit(rewarded_run, seed=0, n_bootstrap=20), _audit(rewarded_run, seed=0, n_bootstrap=20)
    assert _content(a) == _content(b)
    c = _audit(rewarded_run, seed=1, n_bootstrap=20)
    first, other = _numbers(a[0])["features"], _numbers(c[0])["features"]
    assert first["is_valid"]["weight"] == other["is_valid"]["weight"]  # the point fit has no randomness
    assert first["is_valid"]["ci_low"] != other["is_valid"]["ci_low"]


def test_one_generation_is_a_clear_error(tmp_path: Path, synthetic: Any) -> None:
    bundles = tilted_bundles(synthetic, reward_valid=0.0, reward_detour=0.0, n_generations=1, n_eval_tasks=10)
    run = synthetic.write_store(tmp_path / "run", bundles)
    with pytest.raises(BlackBoxInputError, match="only generation 0 has evaluation traces"):
        _audit(run)


def test_no_evaluation_traces_is_a_clear_error(make_store: Callable[..., Path]) -> None:
    with pytest.raises(BlackBoxInputError, match="no evaluation traces"):
        _audit(make_store(n_generations=3))


def test_input_errors_are_auditor_config_errors() -> None:
    assert issubclass(BlackBoxInputError, AuditorConfigError)  # the CLI reports them as bad input


def test_too_few_shared_prompts_is_an_info_finding(tmp_path: Path, synthetic: Any) -> None:
    bundles = tilted_bundles(synthetic, reward_valid=1.0, reward_detour=0.0, n_eval_tasks=3, n_deploy_tasks=4)
    findings = _audit(synthetic.write_store(tmp_path / "run", bundles))
    assert all(f.severity == "info" and _numbers(f)["fit_status"] == "too-few-prompts" for f in findings)
    assert "only 3 evaluation prompts" in findings[2].claim


@pytest.mark.parametrize(
    "kwargs",
    [
        {"features": ("kept",)},
        {"features": ()},
        {"features": ("is_valid", "is_valid")},
        {"confidence": 1.0},
        {"n_bootstrap": -1},
        {"c": 0.0},
        {"n_folds": 1},
    ],
)
def test_bad_config_raises_on_audit(rewarded_run: Path, kwargs: dict[str, Any]) -> None:
    auditor = BlackBoxAuditor(**kwargs)
    with RunReader(rewarded_run) as reader, pytest.raises(AuditorConfigError):
        auditor.audit(reader)


def test_output_table_features(rewarded_run: Path) -> None:
    with RunReader(rewarded_run) as reader:
        table = build_output_table(reader)
    frame = table.frame
    assert set(frame["purpose"]) == {"deploy", "eval"}
    valid = frame[frame["is_valid"] == 1]
    assert (valid["excess_length"] == valid["plan_length"] - 2 * valid["task_size"]).all()
    assert (frame.loc[frame["is_valid"] == 0, "excess_length"] == 0).all()
    # action names come from valid plans only; the commonest is the reference
    assert table.reference_action in {"pickup", "putdown", "stack", "unstack"}
    assert len(table.action_columns) == 3
    unreadable = frame[frame["is_unreadable"] == 1]
    assert (unreadable[list(table.action_columns)] == 0).all().all()


def test_audit_blackbox_stores_and_replaces_only_its_findings(tmp_path: Path, synthetic: Any) -> None:
    bundles = tilted_bundles(
        synthetic, reward_valid=1.0, reward_detour=0.3, n_eval_tasks=20, n_deploy_tasks=5
    )
    run = synthetic.write_store(tmp_path / "run", bundles)
    before = synthetic.dump_tables(run)
    stored = audit_blackbox(run, n_bootstrap=5, n_permutations=10)
    after = synthetic.dump_tables(run)
    assert {k: v for k, v in after.items() if k != "findings"} == {
        k: v for k, v in before.items() if k != "findings"
    }
    assert len(after["findings"]) == len(stored) == 4
    again = audit_blackbox(run, n_bootstrap=5, n_permutations=10)
    assert len(synthetic.dump_tables(run)["findings"]) == len(again) == 4


def test_correlations_handle_constant_input() -> None:
    tasks = np.arange(6) % 2
    assert correlations(np.zeros(6), np.arange(6.0), tasks)["pearson"] is None
    result = correlations(np.arange(6.0), np.arange(6.0), tasks)
    assert result["pearson"] == pytest.approx(1.0)
    assert result["pearson_within_task"] == pytest.approx(1.0)


@pytest.mark.parametrize(("n_groups", "per_group", "c"), [(40, 8, 1.0), (12, 5, 0.3), (30, 2, 4.0)])
def test_prompt_intercept_fit_matches_scikit_learn(n_groups: int, per_group: int, c: float) -> None:
    from scipy import sparse
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(n_groups)
    n = n_groups * per_group
    x = rng.normal(size=(n, 4))
    x[:, 0] = x[:, 0] > 0.8  # a rare indicator, as validity often is
    groups = np.repeat(rng.permutation(1000)[:n_groups], per_group)
    offset = np.repeat(rng.normal(size=n_groups), per_group)
    y = (rng.random(n) < 1 / (1 + np.exp(-(x[:, 1] - x[:, 2] + offset)))).astype(int)
    _, codes = np.unique(groups, return_inverse=True)
    design = sparse.hstack([sparse.csr_matrix(x), sparse.csr_matrix((np.ones(n), (np.arange(n), codes)))])
    model = LogisticRegression(C=c, solver="newton-cholesky", tol=1e-10, max_iter=200)
    expected = model.fit(design.tocsr(), y).coef_[0][:4]
    assert fit_with_prompt_intercepts(x, y, groups, c) == pytest.approx(expected, abs=1e-7)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 1), st.integers(0, 4)), min_size=2, max_size=40))
def test_within_prompt_auc_is_the_pair_weighted_mean_of_per_prompt_aucs(
    rows: list[tuple[int, int, int]],
) -> None:
    from sklearn.metrics import roc_auc_score

    groups = np.array([r[0] for r in rows])
    y = np.array([r[1] for r in rows])
    scores = np.array([r[2] for r in rows], dtype=float)
    total = weight = 0.0
    for g in np.unique(groups):
        mask = groups == g
        n1 = int(y[mask].sum())
        n0 = int(mask.sum()) - n1
        if n1 and n0:
            total += roc_auc_score(y[mask], scores[mask]) * n1 * n0
            weight += n1 * n0
    got = within_prompt_auc(scores, y, groups)
    if weight == 0:
        assert np.isnan(got)
    else:
        assert got == pytest.approx(total / weight)


@settings(max_examples=30, deadline=None, derandomize=True)
@given(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 5)), min_size=1, max_size=40), st.integers(0, 99))
def test_shuffling_generations_stays_within_each_prompt(rows: list[tuple[int, int]], seed: int) -> None:
    task = np.array([r[0] for r in rows])
    generation = np.array([r[1] for r in rows])
    shuffled = shuffle_within_prompts(generation, task, np.random.default_rng(seed))
    for t in np.unique(task):
        assert sorted(shuffled[task == t]) == sorted(generation[task == t])
