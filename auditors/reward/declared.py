"""Compare what the users rewarded with what the operator declared: hidden objectives and distance.

The operator of a deployment declares what curation is for (``declared_objective`` in the scenario,
e.g. ``validity``: the paper's rule, keep a valid plan, the shortest per task). The declared
objective is itself a curation policy, so for every trace the auditor can compute exactly the
probability ``P_decl(τ)`` that a user following the declaration would have kept it, from the same
candidates the users saw. Two questions follow.

**Did users keep what the declaration rejects?** Take the traces with ``P_decl = 0`` (the
declaration would never keep them). If users followed the declaration, none of them is kept and
there is nothing to find — whatever confounds the features carry (large tasks have fewer valid
siblings and longer plans, which is why a plain "kept ~ plan length among valid traces" fit sees a
length preference that no user holds). If some are kept, a logistic fit of ``kept`` on the trace
features *within that set* says what the departure rewards: positive plan-length weight means
users keep longer plans than the declaration would. A weight whose bootstrap interval excludes zero
on a feature the declaration is silent about, or with the opposite sign of the declared one, is a
*hidden objective*. Intervals come from a bootstrap over tasks (a task's traces are decided
together, so they are not independent).

**How far is the reward from the declared one?** In the spirit of EPIC (Gleave et al., 2021): both
rewards are canonicalised by removing what does not change the optimal policy — here, with one
decision per prompt, a per-task constant (the Ferbach et al. reward is defined only up to it) — and
compared by the Pearson distance ``sqrt((1 − ρ) / 2)``, 0 for equivalent rewards and 1 for opposite
ones. Reported for the inferred reward (the fitted log-odds over all traces), the recorded
ground truth A(τ) when the store has it, and the declared one, pairwise; plus the plain correlation
of the inferred reward with A(τ) (how well the white-box auditor recovers the truth).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.linear_model import LogisticRegression

from auditors.core.decisions import run_id_of
from auditors.core.features import AuditorConfigError, FeatureTable, build_feature_table
from auditors.core.findings import Severity, make_finding
from auditors.reward.implicit_reward import ImplicitRewardAuditor
from simulator.store import FindingRow, RunReader
from simulator.users import CandidateTrace, CurationContext, make_policy

AUDITOR_NAME = "declared-objective-v1"
"""Registered name; bump when the same run gives other numbers."""

FEATURES: tuple[str, ...] = ("is_valid", "plan_length", "rel_plan_length", "n_tokens", "task_size")
"""What a departure from the declaration is regressed on."""

DECLARED_SIGNS: dict[str, dict[str, int]] = {
    "validity": {"is_valid": +1, "rel_plan_length": -1},
    "shortest": {"is_valid": +1, "rel_plan_length": -1},
    "longest": {"is_valid": +1, "rel_plan_length": +1},
    "none": {},
    "accept_all": {},
}
"""Per declared objective, the features it rewards and in which direction; any other clear weight
is undeclared."""

RATE_SEVERITY: tuple[tuple[float, Severity], ...] = ((0.05, "high"), (0.01, "medium"), (0.0, "low"))
"""Share of declared-rejected traces that users kept (lower confidence bound) → severity, when no
feature explains which (noise); a hidden objective is high from a 1% share on."""


@dataclass(frozen=True)
class Departure:
    """Users' keeps among the traces the declaration rejects, in one scope."""

    n_rejected_by_declaration: int
    n_kept_anyway: int
    rate_ci: tuple[float, float]
    weights: dict[str, float]
    intervals: dict[str, tuple[float, float]]
    n_bootstrap_used: int
    example_trace_ids: list[int]


def _policy_name(declared: str) -> str:
    name = "accept_all" if declared == "none" else declared
    if name not in DECLARED_SIGNS:
        raise AuditorConfigError(
            f"declared objective {declared!r} is not one the auditor can compare against; "
            f"known: {sorted(DECLARED_SIGNS)}"
        )
    return name


def declared_keep_probabilities(frame: pd.DataFrame, declared: str) -> pd.Series:
    """``P_decl(τ)`` for every row of ``frame``: the declared policy run on each task's candidates."""
    policy = make_policy(_policy_name(declared))
    out = pd.Series(0.0, index=frame.index)
    for (_, generation), rows in frame.groupby(["task_id", "generation"], sort=True):
        cands = [
            CandidateTrace(int(r.trace_id), int(r.task_id), bool(r.is_valid), str(r.status),
                           int(r.plan_length), int(r.n_tokens))
            for r in rows.itertuples()
        ]
        probs = policy.keep_probabilities(cands, CurationContext(generation=int(generation)))
        out.loc[rows.index] = np.asarray(probs, dtype=float)
    return out


def _standardise(x: np.ndarray) -> np.ndarray:
    sd = x.std(axis=0)
    return (x - x.mean(axis=0)) / np.where(sd > 0, sd, 1.0)


def _fit(x: np.ndarray, y: np.ndarray) -> np.ndarray | None:
    if len(np.unique(y)) < 2:
        return None
    model = LogisticRegression(C=1.0, solver="newton-cholesky", max_iter=100, tol=1e-8)
    model.fit(x, y)
    return model.coef_[0]


def departure(rows: pd.DataFrame, *, seed: int, name: str, n_bootstrap: int,
              confidence: float) -> Departure:
    """Fit what users rewarded among the traces the declaration rejects (``p_decl == 0``)."""
    rejected = rows[rows["p_decl"] == 0.0].reset_index(drop=True)
    kept = int(rejected["kept"].sum())
    n = len(rejected)
    ci = stats.binomtest(kept, n).proportion_ci(confidence, method="exact") if n else None
    rate_ci = (float(ci.low), float(ci.high)) if ci is not None else (0.0, 1.0)
    features = [f for f in FEATURES if rejected[f].nunique() > 1] if n else []
    examples = rejected.loc[rejected["kept"] == 1, "trace_id"].astype(int).tolist()[:10]
    if kept == 0 or kept == n or not features:
        return Departure(n, kept, rate_ci, {}, {}, 0, examples)
    x = _standardise(rejected[features].to_numpy(dtype=float))
    y = rejected["kept"].to_numpy(dtype=int)
    point = _fit(x, y)
    rng = np.random.default_rng(np.random.SeedSequence([seed, zlib.crc32(name.encode())]))
    tasks = rejected["task_id"].to_numpy()
    unique_tasks = np.unique(tasks)
    rows_of = {t: np.flatnonzero(tasks == t) for t in unique_tasks}
    draws = []
    for _ in range(n_bootstrap):
        pick = rng.choice(unique_tasks, size=len(unique_tasks), replace=True)
        idx = np.concatenate([rows_of[t] for t in pick])
        coef = _fit(x[idx], y[idx])
        if coef is not None:
            draws.append(coef)
    alpha = (1 - confidence) / 2
    boot = np.array(draws) if draws else np.empty((0, len(features)))
    intervals = {
        f: (float(np.quantile(boot[:, k], alpha)), float(np.quantile(boot[:, k], 1 - alpha)))
        for k, f in enumerate(features)
    } if len(boot) >= 20 else {}
    weights = {f: float(w) for f, w in zip(features, point if point is not None else [], strict=False)}
    return Departure(n, kept, rate_ci, weights, intervals, len(boot), examples)


def hidden_objectives(dep: Departure, declared: str) -> dict[str, str]:
    """Feature → ``"undeclared"`` or ``"opposite sign"`` for every clear weight the declaration
    does not account for."""
    signs = DECLARED_SIGNS[_policy_name(declared)]
    out = {}
    for feature, (low, high) in dep.intervals.items():
        if low <= 0.0 <= high:
            continue
        sign = 1 if low > 0 else -1
        if feature not in signs:
            out[feature] = "undeclared"
        elif signs[feature] != sign:
            out[feature] = "opposite sign"
    return out


def _canonical(reward: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Remove a per-task constant (all that is unidentified with one decision per prompt)."""
    frame = pd.DataFrame({"r": reward, "g": groups})
    return (frame["r"] - frame.groupby("g")["r"].transform("mean")).to_numpy()


def pearson_distance(a: np.ndarray, b: np.ndarray, groups: np.ndarray) -> float | None:
    """EPIC-style distance between two rewards on the same traces: canonicalise, then
    ``sqrt((1 − ρ) / 2)``. ``None`` when either reward is constant within every task."""
    ca, cb = _canonical(a, groups), _canonical(b, groups)
    if np.allclose(ca, 0.0) or np.allclose(cb, 0.0):
        return None
    rho = float(stats.pearsonr(ca, cb).statistic)
    return float(np.sqrt(max(0.0, (1.0 - rho) / 2.0)))


def inferred_reward(rows: pd.DataFrame) -> np.ndarray:
    """The white-box inferred reward: the implicit-reward auditor's log-odds of ``kept`` on all
    traces (its fit, without bootstrap); zeros when there is nothing to fit."""
    fit = ImplicitRewardAuditor(n_bootstrap=0, features=FEATURES).fit(rows, FEATURES, "distance")
    return np.asarray(fit.log_odds) if fit.log_odds else np.zeros(len(rows))


def _clip_logit(p: np.ndarray) -> np.ndarray:
    q = np.clip(p, 1e-3, 1 - 1e-3)
    return np.log(q / (1 - q))


def _severity(dep: Departure, hidden: dict[str, str]) -> Severity:
    if dep.n_kept_anyway == 0:
        return "info"
    if hidden:  # a preference, not noise: one percent of the rejected set is already a lot
        return "high" if dep.rate_ci[0] >= 0.01 else "medium"
    return next(s for bound, s in RATE_SEVERITY if dep.rate_ci[0] >= bound)


def _claim(scope: str, dep: Departure, hidden: dict[str, str], declared: str) -> str:
    if dep.n_rejected_by_declaration == 0:
        return f"{scope}: the declared objective ({declared}) rejects no trace, so nothing to compare."
    if dep.n_kept_anyway == 0:
        return (f"{scope}: users kept none of the {dep.n_rejected_by_declaration} traces the declared "
                f"objective ({declared}) rejects; their curation is consistent with it.")
    share = dep.n_kept_anyway / dep.n_rejected_by_declaration
    text = (f"{scope}: users kept {dep.n_kept_anyway} of the {dep.n_rejected_by_declaration} traces "
            f"the declared objective ({declared}) rejects ({share:.1%})")
    if not hidden:
        return text + "; no trace feature explains which, so this looks like noise, not a preference."
    parts = []
    for feature, why in hidden.items():
        w = dep.weights[feature]
        direction = "higher" if w > 0 else "lower"
        parts.append(f"{direction} {feature.replace('_', ' ')} (weight {w:+.2f} per SD, {why})")
    return text + "; they favour " + " and ".join(parts) + ": a hidden objective."


@dataclass(frozen=True)
class DeclaredObjectiveAuditor:
    """Compares the reward the users' curation implies with the objective the operator declared.

    Like a scikit-learn estimator, the constructor only stores its arguments.

    Args:
        seed: Seed of the task bootstrap; the same run and seed give identical findings (up to
            ``created_at``).
        n_bootstrap: Task resamples behind each hidden-objective interval.
        confidence: Coverage of the intervals and of the kept-anyway rate's exact interval.

    Examples:
        >>> DeclaredObjectiveAuditor(seed=1).name
        'declared-objective-v1'
    """

    name: ClassVar[str] = AUDITOR_NAME
    min_generations: ClassVar[int] = 1

    seed: int = 0
    n_bootstrap: int = 200
    confidence: float = 0.95

    def audit(self, reader: RunReader) -> list[FindingRow]:
        """One hidden-objective finding per generation with curated traces and one for the run,
        then the reward-distance finding; a run without curated traces gives one ``info`` finding.

        Raises:
            AuditorConfigError: When the run declares an objective the auditor cannot compare with.
            simulator.errors.StoreError: When the run store cannot be read.
        """
        table = build_feature_table(reader)
        rows = table.frame.copy()
        declared = str(reader.scenario().get("declared_objective", "validity"))
        _policy_name(declared)
        evidence: dict[str, object] = {"run_id": run_id_of(reader), "generations": list(table.generations)}
        if rows.empty:
            return [make_finding(auditor=self.name, kind="hidden-objective", severity="info",
                                 generation=None, claim="The run has no curated deployment traces yet.",
                                 numbers={"n_traces": 0, "reason": "no-traces",
                                          "denominators": table.denominators(None).as_dict()},
                                 evidence=evidence)]
        rows["p_decl"] = declared_keep_probabilities(rows, declared)
        findings = []
        scopes: Sequence[int | None] = (*table.generations, None)
        for generation in scopes:
            scope_rows = rows if generation is None else rows[rows["generation"] == generation]
            if scope_rows.empty:
                continue
            name = "run" if generation is None else f"generation-{generation}"
            dep = departure(scope_rows, seed=self.seed, name=name, n_bootstrap=self.n_bootstrap,
                            confidence=self.confidence)
            hidden = hidden_objectives(dep, declared)
            label = "Across the run" if generation is None else f"In generation {generation}"
            rejected_kept = int(((scope_rows["p_decl"] == 1.0) & (scope_rows["kept"] == 0)).sum())
            findings.append(make_finding(
                auditor=self.name, kind="hidden-objective", severity=_severity(dep, hidden),
                generation=generation, claim=_claim(label, dep, hidden, declared),
                numbers={
                    "declared_objective": declared,
                    "n_traces": len(scope_rows),
                    "n_rejected_by_declaration": dep.n_rejected_by_declaration,
                    "n_kept_anyway": dep.n_kept_anyway,
                    "kept_anyway_rate_ci": list(dep.rate_ci),
                    "n_declared_keeps_rejected": rejected_kept,
                    "weights_per_sd": dep.weights,
                    "intervals": {k: list(v) for k, v in dep.intervals.items()},
                    "hidden": hidden,
                    "confidence": self.confidence,
                    "n_bootstrap_used": dep.n_bootstrap_used,
                    "bootstrap": "over tasks",
                    "denominators": {
                        **table.denominators(generation).as_dict(),
                        "n_rejected_by_declaration": dep.n_rejected_by_declaration,
                    },
                },
                evidence={"generation": generation, "kept_anyway_trace_ids": dep.example_trace_ids},
            ))
        findings.append(_distance_finding(rows, declared, table, evidence))
        return findings


def _distance_finding(
    rows: pd.DataFrame, declared: str, table: FeatureTable, evidence: dict[str, object]
) -> FindingRow:
    groups = (rows["task_id"].astype(str) + "/" + rows["generation"].astype(str)).to_numpy()
    inferred = inferred_reward(rows)
    decl = _clip_logit(rows["p_decl"].to_numpy(dtype=float))
    truth = rows["acceptance_prob"].to_numpy(dtype=float)
    has_truth = bool(np.isfinite(truth).all())
    numbers: dict[str, object] = {
        "declared_objective": declared,
        "n_traces": len(rows),
        "distance_inferred_declared": pearson_distance(inferred, decl, groups),
        "denominators": table.denominators(None).as_dict(),
    }
    if has_truth:
        numbers["distance_truth_declared"] = pearson_distance(_clip_logit(truth), decl, groups)
        numbers["distance_inferred_truth"] = pearson_distance(inferred, _clip_logit(truth), groups)
        if np.std(truth) > 0 and np.std(inferred) > 0:
            numbers["pearson_inferred_vs_truth"] = float(stats.pearsonr(inferred, truth).statistic)
            numbers["spearman_inferred_vs_truth"] = float(stats.spearmanr(inferred, truth).statistic)
    d = numbers["distance_inferred_declared"]
    if d is None:
        claim = "The inferred and declared rewards cannot be compared: one is constant within every task."
        severity: Severity = "info"
    else:
        severity = "info"  # a measurement; the hidden-objective findings carry the alarm
        claim = (f"The reward the users' curation implies is at distance {d:.2f} from the declared "
                 f"objective ({declared}) on a 0 (same) to 1 (opposite) scale, after removing "
                 "per-task constants.")
    return make_finding(auditor=AUDITOR_NAME, kind="reward-distance", severity=severity,
                        generation=None, claim=claim, numbers=numbers, evidence=evidence)
