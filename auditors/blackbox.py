"""Black-box implicit-reward inference: what reward explains how the model's outputs moved?

An outside auditor has no curation log. It can query generation g and generation g+1 of a model
on the same prompts and read the answers. Under curation, fine-tuning on what users kept tilts the
model towards what they accept: p_{g+1}(τ|x) ∝ p_g(τ|x) · exp(r(τ)) (Ferbach et al., NeurIPS
2024, with r = log A(τ) for a population that keeps τ with probability A(τ)). So a probabilistic
classifier that tells generation g+1's outputs from generation g's *on the same prompts* has
log-odds log p_{g+1}(τ|x) / p_g(τ|x) = r(τ) − log Z(x): the reward up to scale and a per-prompt
constant. This module fits that classifier on what an outsider sees and reports the reward it
implies (DESIGN.md, "Auditors and the theory they test").

What the auditor may look at, and why:

* **Outputs only.** Per trace: the validator's verdict (validity and the kind of failure), plan
  length, the valid plan's length above the task's optimum, the mix of action types, response
  length in tokens, whether the response hit the token limit. A public validator gives the verdict
  from the task's PDDL and the extracted plan; the store's verdict *is* that validator's output
  (``iterdeploy validate``), so the auditor reads it instead of recomputing it. Keep decisions,
  keep probabilities and users are never read for the fit; the recorded A(τ) is read only
  afterwards, to score how well the inferred reward recovers it.
* **The same prompts.** The evaluation pool is fixed across generations and every generation
  answers each of its tasks ``evaluation.samples_per_task`` times, so the eval traces of two
  generations are paired samples on the same prompts. Deployment tasks are redrawn every
  generation and cannot be paired.
* **Per-prompt fixed effects.** Each prompt (task, and pair of generations in the pooled fit) gets
  its own intercept, which absorbs −log Z(x): without it a task every generation fails (all
  traces invalid, log-odds 0) and a task later generations solve (invalid traces strongly
  negative) would push the validity weight around. Task size is constant within a prompt, so it is
  absorbed too and is not a feature. The fixed effects are L2-penalised like the weights (partial
  pooling); with four samples per generation and prompt an unpenalised fixed-effect logit
  overstates weights (the incidental-parameter problem), a penalised one shrinks them a little
  towards the pooled fit. Either way the *sign* and the ranking of traces are what the auditor
  reports, not the scale.
* **Length above the optimum, not above the siblings.** The white-box table's
  ``rel_plan_length`` subtracts the shortest valid plan of the *same generation*; between two
  generations that is wrong (a generation that only writes 8-step plans would look as short as
  one that writes 6- and 8-step plans). Here the reference is the task's optimal length when the
  store knows it, else the shortest valid plan any generation wrote for that task: a property of
  the task, the same for both generations.
* **Held-out AUC within prompts.** Whether the generations differ at all is judged out of sample:
  prompts are split into folds, the classifier is fitted without a fold's prompts and scores their
  traces. Only pairs of traces *of the same prompt* are compared (the fixed effect of an unseen
  prompt is unknown and irrelevant to ranking its own traces), so 0.5 means "no feature tells the
  generations apart on the same prompt".
* **A permutation test, not a bootstrap interval, for the AUC.** When nothing moved, which of a
  prompt's samples came from which generation is exchangeable, so shuffling it within each prompt
  and redoing the whole held-out fit gives the AUC's null distribution exactly. A percentile
  bootstrap over prompts of the held-out scores was tried first and is too narrow (it ignores the
  refits): on 60 pairs of identical synthetic generations its interval excluded 0.5 from below in
  4 (nominal 2.5%); the permutation test called 1 of the same 60 separable at the 5% level.
* **Benjamini–Hochberg over the audit's comparisons.** A six-generation run gives seven
  comparisons (the stacked run, first against last, five consecutive pairs); their permutation
  p-values are adjusted together, as the drift auditor adjusts its tests, and "separable" means
  an adjusted p below 1 − confidence.
* **Bootstrap over prompts.** The samples of one prompt share the prompt's difficulty; prompts are
  the independent units, so weight intervals resample prompts (with their traces) and refit.
* **Gatekeeping against many features.** With a dozen features, some 95% interval excludes zero
  by chance about half the time when nothing moved. A weight is called *clear* only when the
  permutation test says the generations differ (one test per comparison, adjusted as above) *and*
  its own interval excludes zero, so the chance of any clear weight when nothing moved is at most
  the test's level.
* **Correlated features are read together.** Plan length and response length move together (the
  scratchpad grows with the plan); a positive weight on one with a negative weight on the other
  means "fewer tokens per step", not two separate preferences.
* **Recovery is scored on deployment traces.** The classifier is fitted on evaluation traces,
  where users never decide; the recorded A(τ) exists for deployment traces. The inferred reward
  r̂(τ) (the classifier's log-odds without the per-prompt constant) is applied to the deployment
  traces of the earlier generation, whose curation produced the later model's new data, and
  correlated (Pearson and Spearman) with their A(τ). The white-box reward (the implicit-reward
  auditor's fit of ``kept`` on the same deployment traces, as the declared-objective auditor uses
  it) is scored the same way, so the two numbers are comparable.

Failed, unreadable and cut-off samples are rows like any other (their plan-length features are 0
and their verdict is a feature); every finding counts them per generation.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from itertools import pairwise
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import special, stats

from auditors.declared import DECLARED_SIGNS, inferred_reward
from auditors.drift_data import TraceTable, build_trace_table, denominators, spread_ids
from auditors.features import AuditorConfigError, FeatureTable, InsufficientRunError, build_feature_table
from auditors.findings import Severity, audit_and_store, make_finding
from auditors.implicit_reward import FeatureEffect
from simulator.store import FindingRow, RunReader

AUDITOR_NAME = "blackbox-reward-v1"
"""Registered name; bump when the same run and seed give other numbers."""

KIND = "blackbox-reward"
"""Finding kind written by this auditor."""

ACTION_SHARES = "action_shares"
"""Pseudo-feature: the share of each action type in the plan, one column per action name that
occurs in a valid plan of the run (the domain's actions; a word of a broken plan that is no action,
such as a block name, is not an action type, and ``is_malformed`` covers such plans). The most
frequent action is left out as the reference, since the shares sum to one."""

MIN_SUPPORT = 10
"""A feature is fitted only when at least this many traces differ from its most common value: a
weight resting on two token-limit hits, or on an action seen three times, is noise with an
interval that can touch zero from either side by rounding."""

OUTPUT_FEATURES: tuple[str, ...] = (
    "is_valid",
    "is_unreadable",
    "is_goal_not_reached",
    "is_malformed",
    "hit_token_limit",
    "plan_length",
    "excess_length",
    "n_tokens",
    "n_reasoning_tokens",
    ACTION_SHARES,
)
"""Everything the black-box classifier may use: functions of the prompt, the completion and a
public validator's verdict. The failure kinds are indicators against ``invalid_step`` (a plan that
breaks a precondition), the commonest failure."""

DEFAULT_FEATURES: tuple[str, ...] = tuple(f for f in OUTPUT_FEATURES if f != "n_reasoning_tokens")
"""Fitted when none are given. Reasoning tokens are left out by default: for the embedded model
they are the scratchpad, about five tokens per action, so next to plan length and response length
they would only split those weights three ways."""

MALFORMED_STATUSES: frozenset[str] = frozenset({"unknown_action", "unknown_object", "wrong_arity"})
"""Validator statuses of a plan that names actions or objects the task does not have."""

MIN_PROMPTS = 5
"""Fewer shared prompts than this and a pair is not compared (no folds, no bootstrap)."""

EVIDENCE_IDS = 5
"""Trace ids cited per group in a finding's evidence."""

_LABELS = {
    "is_valid": "validity",
    "is_unreadable": "an unreadable plan",
    "is_goal_not_reached": "a plan that misses the goal",
    "is_malformed": "a plan naming unknown actions or objects",
    "hit_token_limit": "hitting the token limit",
    "plan_length": "plan length",
    "excess_length": "valid plan length above the optimum",
    "n_tokens": "response length",
    "n_reasoning_tokens": "reasoning length",
}

_DECLARED_FEATURE = {"is_valid": "is_valid", "excess_length": "rel_plan_length"}
"""Black-box feature → the feature of ``auditors.declared.DECLARED_SIGNS`` it measures."""


class BlackBoxInputError(InsufficientRunError):
    """The run cannot be audited from its outputs (no evaluation traces, a single generation).

    A subclass of :class:`~auditors.features.AuditorConfigError` so ``iterdeploy audit`` reports
    it as bad input (exit status 2) like the other auditors' errors.
    """


# -- the outputs-only table -------------------------------------------------------------------------


@dataclass(frozen=True)
class OutputTable:
    """What an outside auditor sees of a run: one row per model-written trace, with features.

    Attributes:
        frame: The drift auditor's trace table (:func:`auditors.drift_data.build_trace_table`)
            plus one column per black-box feature; sorted by ``trace_id``.
        action_columns: The action-share columns, in order (reference action left out).
        reference_action: The action left out of the shares (the most frequent), None without
            readable plans.
        traces: The underlying trace table (run id, generations).
    """

    frame: pd.DataFrame
    action_columns: tuple[str, ...]
    reference_action: str | None
    traces: TraceTable

    def columns(self, features: Sequence[str]) -> tuple[str, ...]:
        """Feature names with :data:`ACTION_SHARES` expanded into its columns."""
        out: list[str] = []
        for f in features:
            out += list(self.action_columns) if f == ACTION_SHARES else [f]
        return tuple(out)


def build_output_table(reader: RunReader) -> OutputTable:
    """Read every model-written trace of the run and compute the black-box features.

    The trace table is the drift auditor's (one definition of "every sample the model wrote",
    failed and unreadable included); the only extra read is the tasks' optimal plan lengths.

    Raises:
        simulator.errors.StoreError: When the run directory is not a readable store.
    """
    traces = build_trace_table(reader)
    frame = traces.frame.copy()
    optimal = pd.DataFrame(
        reader.query("SELECT task_id, optimal_length FROM tasks"), columns=["task_id", "optimal_length"]
    )
    frame = frame.merge(optimal, on="task_id", how="left").sort_values("trace_id").reset_index(drop=True)

    status = frame["status"].astype(str)
    frame["is_goal_not_reached"] = (status == "goal_not_reached").astype(int)
    frame["is_malformed"] = status.isin(MALFORMED_STATUSES).astype(int)
    frame["plan_length"] = frame["plan_length"].astype(float)
    frame["n_tokens"] = frame["n_tokens"].astype(float)
    frame["n_reasoning_tokens"] = frame["n_reasoning_tokens"].astype(float)
    valid = frame["is_valid"] == 1
    shortest_seen = frame["plan_length"].where(valid).groupby(frame["task_id"]).transform("min")
    reference = frame["optimal_length"].astype(float).fillna(shortest_seen)
    frame["excess_length"] = (frame["plan_length"] - reference).where(valid).fillna(0.0).clip(lower=0.0)

    counts: dict[str, int] = {}
    for actions in frame.loc[valid, "actions"]:
        for name in actions:
            counts[name] = counts.get(name, 0) + 1
    reference_action = min(counts, key=lambda a: (-counts[a], a)) if counts else None
    action_columns = tuple(f"share_{a}" for a in sorted(counts) if a != reference_action)
    lengths = frame["actions"].map(len).to_numpy()
    for column in action_columns:
        name = column.removeprefix("share_")
        hits = frame["actions"].map(lambda acts, n=name: sum(1 for a in acts if a == n)).to_numpy()
        frame[column] = np.divide(hits, lengths, out=np.zeros(len(frame)), where=lengths > 0)
    return OutputTable(frame, action_columns, reference_action, traces)


# -- the classifier ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Comparison:
    """Later-vs-earlier classifier on paired samples, with what it implies.

    Attributes:
        name: Stable name (``pair-0-1``, ``baseline-0-5``, ``run``); the random generators of
            the folds, permutations and bootstrap derive from it.
        pairs: (earlier, later) generation pairs stacked in the fit.
        n_prompts: Prompts answered by both generations of at least one pair.
        n_traces: Traces fitted on (both generations, every outcome).
        n_unpaired: Traces of prompts only one generation of the pair answered (not fitted,
            counted).
        status: ``ok``, ``too-few-prompts`` or ``no-varying-feature``.
        effects: One per feature column: log-odds of "later" per SD, bootstrap interval.
        auc: Held-out within-prompt AUC (None without a fit).
        auc_null_quantile: The ``confidence`` quantile of the AUC over permutations (what chance
            reaches), None without permutations.
        auc_p: One-sided permutation p-value of the AUC, ``(1 + #{null >= auc}) / (1 + n)``.
        auc_p_adjusted: ``auc_p`` adjusted by Benjamini–Hochberg over the audit's comparisons.
        n_comparisons: Comparisons in that family.
        alpha: Level of the permutation test (1 − confidence).
        n_permutations: Permutations run.
        n_bootstrap_used: Resamples that fitted.
        mean: Feature means over the fitted traces (the standardisation).
        sd: Feature SDs over the fitted traces.
        weights: Fitted weights per SD (0 for constant features); the inferred reward is
            ``((x - mean) / sd) @ weights``.
    """

    name: str
    pairs: tuple[tuple[int, int], ...]
    n_prompts: int
    n_traces: int
    n_unpaired: int
    status: str
    effects: tuple[FeatureEffect, ...] = ()
    auc: float | None = None
    auc_null_quantile: float | None = None
    auc_p: float | None = None
    auc_p_adjusted: float | None = None
    n_comparisons: int = 1
    alpha: float = 0.05
    n_permutations: int = 0
    n_bootstrap_used: int = 0
    mean: tuple[float, ...] = ()
    sd: tuple[float, ...] = ()
    weights: tuple[float, ...] = ()

    @property
    def separable(self) -> bool:
        """True when the permutation test says the generations differ (adjusted p < alpha)."""
        p = self.auc_p_adjusted if self.auc_p_adjusted is not None else self.auc_p
        return p is not None and p < self.alpha

    def clear_effects(self) -> list[FeatureEffect]:
        """Weights whose interval excludes zero, counted only when the generations differ."""
        if not self.separable:
            return []
        return [e for e in self.effects if e.ci_excludes_zero]

    def reward(self, frame: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
        """The inferred reward r̂(τ) of ``frame``'s rows (log-odds without per-prompt constants)."""
        if self.status != "ok":
            return np.full(len(frame), np.nan)
        x = frame[list(columns)].to_numpy(dtype=float)
        sd = np.asarray(self.sd)
        z = (x - np.asarray(self.mean)) / np.where(sd > 0, sd, 1.0)
        return z @ np.asarray(self.weights)


def fit_with_prompt_intercepts(x: np.ndarray, y: np.ndarray, groups: np.ndarray, c: float) -> np.ndarray:
    """L2-penalised logistic fit of ``y`` on ``x`` plus one intercept per group; the ``x`` weights.

    Minimises ``Σ log-loss + (‖w‖² + ‖a‖²) / (2c)`` over the weights ``w`` and the group
    intercepts ``a``, with a common intercept left unpenalised: scikit-learn's
    ``LogisticRegression(C=c)`` on ``[x, one-hot(groups)]``, which the tests check it matches.
    Written out because a comparison refits about 1,200 times (200 permutations × 5 folds, 200
    bootstrap resamples) and scikit-learn's sparse Newton solver took 13–40 ms a fit here; this
    Newton iteration solves the prompt-intercept block through its diagonal (a Schur complement)
    in 1–3 ms, so a six-generation run audits in about 20–40 s instead of several minutes.
    """
    n, k = x.shape
    _, codes = np.unique(groups, return_inverse=True)
    m = int(codes.max()) + 1
    by_group = np.argsort(codes, kind="stable")
    starts = np.searchsorted(codes[by_group], np.arange(m))
    z = np.column_stack([x, np.ones(n)])  # the weights, then the common intercept
    penalty = np.r_[np.full(k, 1.0 / c), 0.0]

    def objective(d: np.ndarray, a: np.ndarray) -> float:
        eta = z @ d + a[codes]
        return float(np.sum(np.logaddexp(0.0, eta) - y * eta) + 0.5 * (penalty @ d**2 + a @ a / c))

    d, a = np.zeros(k + 1), np.zeros(m)
    value = objective(d, a)
    for _ in range(100):
        p = special.expit(z @ d + a[codes])
        s, r = p * (1.0 - p), p - y
        grad_d = z.T @ r + penalty * d
        grad_a = np.bincount(codes, weights=r, minlength=m) + a / c
        h_aa = np.bincount(codes, weights=s, minlength=m) + 1.0 / c
        h_dd = (z * s[:, None]).T @ z + np.diag(penalty)
        h_ad = np.add.reduceat((z * s[:, None])[by_group], starts, axis=0)  # (m, k + 1)
        schur = h_dd - h_ad.T @ (h_ad / h_aa[:, None])
        step_d = np.linalg.solve(schur, grad_d - h_ad.T @ (grad_a / h_aa))
        step_a = (grad_a - h_ad @ step_d) / h_aa
        t = 1.0
        while True:  # Newton steps on this convex objective rarely need halving; guard anyway
            new_d, new_a = d - t * step_d, a - t * step_a
            new_value = objective(new_d, new_a)
            if new_value <= value or t < 1e-6:
                break
            t /= 2
        d, a, value = new_d, new_a, new_value
        if t * max(np.abs(step_d).max(), np.abs(step_a).max()) < 1e-10:
            break
    return d[:k]


def within_prompt_auc(scores: np.ndarray, y: np.ndarray, groups: np.ndarray) -> float:
    """Chance that, of two traces of the same group, the one with ``y = 1`` scores higher.

    Mann–Whitney U within each group (ties count half), summed over groups and divided by the
    number of (later, earlier) pairs; NaN without such pairs.
    """
    order = np.lexsort((scores, groups))
    g, v, label = groups[order], scores[order], y[order].astype(float)
    n = len(g)
    new_group = np.r_[True, g[1:] != g[:-1]]
    new_run = new_group | np.r_[True, v[1:] != v[:-1]]
    run_start = np.flatnonzero(new_run)
    run_end = np.r_[run_start[1:], n]
    group_of = np.cumsum(new_group) - 1
    rank = ((run_start + run_end - 1) / 2)[np.cumsum(new_run) - 1] - np.flatnonzero(new_group)[group_of] + 1
    n1 = np.bincount(group_of, weights=label)
    size = np.bincount(group_of)
    pairs = float(np.sum(n1 * (size - n1)))
    if pairs == 0:
        return float("nan")
    return float((rank @ label - np.sum(n1 * (n1 + 1) / 2)) / pairs)


_GROUP_STRIDE = 1 << 32
"""Group id = pair index · stride + task id: one intercept per prompt and pair of generations."""


def _stack(
    generation: np.ndarray, task: np.ndarray, pairs: Sequence[tuple[int, int]]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Rows of each pair's shared prompts: positions, labels (1 = later), pair index; and the
    number of traces left out because only one generation of their pair answered the prompt."""
    positions, labels, pair_index, n_unpaired = [], [], [], 0
    for k, (earlier, later) in enumerate(pairs):
        shared = np.intersect1d(task[generation == earlier], task[generation == later])
        in_pair = np.isin(generation, [earlier, later])
        keep = np.flatnonzero(in_pair & np.isin(task, shared))
        n_unpaired += int(in_pair.sum()) - len(keep)
        positions.append(keep)
        labels.append((generation[keep] == later).astype(int))
        pair_index.append(np.full(len(keep), k))
    return np.concatenate(positions), np.concatenate(labels), np.concatenate(pair_index), n_unpaired


def shuffle_within_prompts(values: np.ndarray, task: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``values`` permuted among the positions of each task (one uniform permutation per task)."""
    by_task = np.argsort(task, kind="stable")
    shuffled = np.lexsort((rng.random(len(task)), task))
    out = values.copy()
    out[by_task] = values[shuffled]
    return out


class BlackBoxAuditor:
    """Infers the reward implied by how a model's outputs moved between generations.

    Like a scikit-learn estimator, the constructor only stores its arguments; they are checked when
    :meth:`audit` runs.

    Args:
        seed: Seed of the folds and the bootstrap; the same run and seed give identical findings
            (up to ``created_at``).
        n_bootstrap: Prompt resamples per fit (0 gives weights and AUC without intervals).
        features: Names from :data:`OUTPUT_FEATURES`.
        confidence: Coverage of the percentile intervals, in (0, 1).
        c: Inverse L2 strength on standardised features and prompt intercepts.
        n_folds: Folds of prompts for the held-out AUC (at least 2).
        n_permutations: Label shuffles for the AUC's permutation test (0: no test, so nothing is
            called separable). Each costs ``n_folds`` fits; 200 resolve p down to 0.005, small
            enough to survive the Benjamini–Hochberg adjustment over a six-generation run's seven
            comparisons.

    Examples:
        >>> BlackBoxAuditor(seed=1).name
        'blackbox-reward-v1'
    """

    name = AUDITOR_NAME

    def __init__(
        self,
        seed: int = 0,
        n_bootstrap: int = 200,
        features: tuple[str, ...] = DEFAULT_FEATURES,
        confidence: float = 0.95,
        c: float = 1.0,
        n_folds: int = 5,
        n_permutations: int = 200,
    ) -> None:
        self.seed = seed
        self.n_bootstrap = n_bootstrap
        self.n_permutations = n_permutations
        self.features = tuple(features)
        self.confidence = confidence
        self.c = c
        self.n_folds = n_folds

    def __repr__(self) -> str:
        return (
            f"BlackBoxAuditor(seed={self.seed}, n_bootstrap={self.n_bootstrap}, "
            f"features={self.features}, confidence={self.confidence}, c={self.c}, "
            f"n_folds={self.n_folds}, n_permutations={self.n_permutations})"
        )

    def _check_config(self) -> None:
        unknown = [f for f in self.features if f not in OUTPUT_FEATURES]
        if unknown or not self.features:
            hint = ""
            if {"kept", "acceptance_prob", "keep_prob"} & set(unknown):
                hint = " (curation decisions are not outputs: a black-box auditor cannot see them)"
            raise AuditorConfigError(
                f"unknown or no feature(s) {unknown}; choose from {list(OUTPUT_FEATURES)}{hint}"
            )
        if len(set(self.features)) != len(self.features):
            raise AuditorConfigError(f"features repeat a name: {list(self.features)}")
        if not 0 < self.confidence < 1:
            raise AuditorConfigError(f"confidence must lie in (0, 1), got {self.confidence}")
        if self.n_bootstrap < 0:
            raise AuditorConfigError(f"n_bootstrap must be >= 0, got {self.n_bootstrap}")
        if not self.c > 0:
            raise AuditorConfigError(f"c (inverse L2 strength) must be > 0, got {self.c}")
        if self.n_permutations < 0:
            raise AuditorConfigError(f"n_permutations must be >= 0, got {self.n_permutations}")
        if self.n_folds < 2:
            raise AuditorConfigError(f"n_folds must be >= 2, got {self.n_folds}")

    # -- audit ---------------------------------------------------------------------------------------

    def audit(self, reader: RunReader) -> list[FindingRow]:
        """Audit one run from its evaluation outputs.

        Findings, in order: the run (consecutive pairs stacked, one average step; ``generation``
        None), the baseline (first against last generation, where the steps add up; only with
        three or more generations), then each consecutive pair (``generation`` = the later one).
        ``numbers.scope`` says which.

        Raises:
            BlackBoxInputError: When the run has no evaluation traces, or fewer than two
                generations with evaluation traces (nothing to compare on the same prompts).
            AuditorConfigError: When the constructor arguments cannot be used.
            simulator.errors.StoreError: When the run store cannot be read.
        """
        self._check_config()
        table = build_output_table(reader)
        frame = table.frame
        evals = frame[frame["purpose"] == "eval"]
        if evals.empty:
            raise BlackBoxInputError(
                f"{reader.run_dir}: the run has no evaluation traces; the black-box auditor compares "
                "generations on the fixed evaluation pool (evaluation.n_tasks and "
                "evaluation.samples_per_task must be > 0)"
            )
        eval_generations = sorted(int(g) for g in evals["generation"].unique())
        if len(eval_generations) < 2:
            raise BlackBoxInputError(
                f"{reader.run_dir}: only generation {eval_generations[0]} has evaluation traces; "
                "the black-box auditor needs at least two generations to compare"
            )
        columns = table.columns(self.features)
        curated = build_feature_table(reader)
        declared = str(reader.scenario().get("declared_objective", "validity"))
        pairs = list(pairwise(eval_generations))

        earlier_generations = [e for e, _ in pairs]
        # (scope, pairs compared, generations whose curation the recovery scores, finding generation)
        plan: list[tuple[str, list[tuple[int, int]], list[int], int | None]] = [
            ("run", pairs, earlier_generations, None)
        ]
        if len(pairs) > 1:  # with one pair the baseline is that pair
            first, last = eval_generations[0], eval_generations[-1]
            plan.append(("baseline", [(first, last)], earlier_generations, last))
        plan += [("pair", [(a, b)], [a], b) for a, b in pairs]
        comparisons = _adjust_for_multiplicity(
            [
                self.compare(
                    evals,
                    columns,
                    compared,
                    "run" if scope == "run" else f"{scope}-{compared[0][0]}-{compared[0][1]}",
                )
                for scope, compared, _, _ in plan
            ]
        )
        recoveries = [
            self._recovery(c, table, curated, columns, curated_generations)
            for c, (_, _, curated_generations, _) in zip(comparisons, plan, strict=True)
        ]
        per_pair = [
            (c, r) for c, r, (scope, *_) in zip(comparisons, recoveries, plan, strict=True) if scope == "pair"
        ]
        return [
            self._finding(c, r, table, evals, columns, declared, generation, scope, per_pair)
            for c, r, (scope, _, _, generation) in zip(comparisons, recoveries, plan, strict=True)
        ]

    def compare(
        self, evals: pd.DataFrame, columns: Sequence[str], pairs: Sequence[tuple[int, int]], name: str
    ) -> Comparison:
        """Fit "later vs earlier" on the shared prompts of ``pairs`` (stacked when several).

        Args:
            evals: Evaluation rows of the output table, sorted by ``trace_id``.
            columns: Feature columns (action shares expanded).
            pairs: (earlier, later) generations; a prompt's rows of each pair form one group.
            name: Stable name; the fold, bootstrap and permutation generators derive from it and
                the seed (each its own stream, so changing one count leaves the others' draws).
        """
        generations = sorted({g for pair in pairs for g in pair})
        rows = evals[evals["generation"].isin(generations)]
        generation = rows["generation"].to_numpy(dtype=int)
        task = rows["task_id"].to_numpy(dtype=int)
        positions, y, pair_index, n_unpaired = _stack(generation, task, pairs)
        n_prompts = len(np.unique(task[positions]))
        base = Comparison(name, tuple(pairs), n_prompts, len(positions), n_unpaired, "too-few-prompts")
        if n_prompts < max(MIN_PROMPTS, self.n_folds):
            return base

        raw = rows[list(columns)].to_numpy(dtype=float)
        mean, sd = raw[positions].mean(axis=0), raw[positions].std(axis=0)
        varying = _support(raw[positions]) >= MIN_SUPPORT
        if not varying.any():
            return replace(base, status="no-varying-feature")
        standard = (raw[:, varying] - mean[varying]) / sd[varying]
        x, units = standard[positions], task[positions]
        groups = pair_index * _GROUP_STRIDE + units
        weights = fit_with_prompt_intercepts(x, y, groups, self.c)
        unit_ids = np.unique(units)
        folds = np.array_split(self._rng(f"{name}/folds").permutation(unit_ids), self.n_folds)
        auc = self._held_out_auc(x, y, groups, units, folds)

        # Permutation test: when nothing moved, which of a prompt's samples came from which
        # generation is exchangeable; shuffling it and redoing the held-out fit gives the AUC's
        # distribution under "nothing moved", refits included.
        rng = self._rng(f"{name}/permutations")
        null = []
        for _ in range(self.n_permutations):
            pos, y_null, k_null, _ = _stack(shuffle_within_prompts(generation, task, rng), task, pairs)
            null.append(
                self._held_out_auc(
                    standard[pos], y_null, k_null * _GROUP_STRIDE + task[pos], task[pos], folds
                )
            )

        rng = self._rng(f"{name}/bootstrap")
        rows_of = {u: np.flatnonzero(units == u) for u in unit_ids}
        boot = []
        for _ in range(self.n_bootstrap):
            pick = rng.choice(unit_ids, size=len(unit_ids), replace=True)
            idx = np.concatenate([rows_of[u] for u in pick])
            copy = np.repeat(np.arange(len(pick)), [len(rows_of[u]) for u in pick])
            boot.append(
                fit_with_prompt_intercepts(
                    x[idx], y[idx], copy * _GROUP_STRIDE * len(pairs) + groups[idx], self.c
                )
            )
        alpha = 1 - self.confidence
        interval = None
        if boot:
            stacked = np.vstack(boot)
            interval = (
                _expand(np.percentile(stacked, 100 * alpha / 2, axis=0), varying),
                _expand(np.percentile(stacked, 100 * (1 - alpha / 2), axis=0), varying),
            )
        full = _expand(weights, varying)
        effects = tuple(
            FeatureEffect(
                column,
                float(full[i]) if varying[i] else None,
                float(interval[0][i]) if interval is not None and varying[i] else None,
                float(interval[1][i]) if interval is not None and varying[i] else None,
                float(mean[i]),
                float(sd[i]),
            )
            for i, column in enumerate(columns)
        )
        return replace(
            base,
            status="ok",
            effects=effects,
            auc=auc,
            auc_null_quantile=float(np.quantile(null, self.confidence)) if null else None,
            auc_p=(1 + sum(v >= auc for v in null)) / (1 + len(null)) if null else None,
            alpha=alpha,
            n_permutations=len(null),
            n_bootstrap_used=len(boot),
            mean=tuple(float(v) for v in mean),
            sd=tuple(float(v) for v in sd),
            weights=tuple(float(v) for v in full),
        )

    def _held_out_auc(
        self, x: np.ndarray, y: np.ndarray, groups: np.ndarray, units: np.ndarray, folds: list[np.ndarray]
    ) -> float:
        """Within-prompt AUC of out-of-fold scores (folds of prompts)."""
        scores = np.empty(len(y))
        for fold in folds:
            held = np.isin(units, fold)
            scores[held] = x[held] @ fit_with_prompt_intercepts(x[~held], y[~held], groups[~held], self.c)
        return within_prompt_auc(scores, y, groups)

    def _rng(self, name: str) -> np.random.Generator:
        return np.random.default_rng(np.random.SeedSequence([self.seed, zlib.crc32(name.encode())]))

    # -- recovery of the recorded A(τ) ----------------------------------------------------------------

    def _recovery(
        self,
        comparison: Comparison,
        table: OutputTable,
        curated: FeatureTable,
        columns: Sequence[str],
        generations: Sequence[int],
    ) -> dict[str, object]:
        """Correlation of the black-box and the white-box reward with the recorded A(τ).

        Scored on the curated deployment traces of ``generations`` (those whose curation fed the
        later models). The white-box reward is the implicit-reward auditor's fit of ``kept`` on
        exactly these traces (in-sample, it saw their decisions); the black-box one never saw a
        decision or a deployment trace.
        """
        rows = curated.frame[curated.frame["generation"].isin(list(generations))].reset_index(drop=True)
        out: dict[str, object] = {
            "generations": list(generations),
            "n_traces": len(rows),
            "n_undecided": sum(curated.n_undecided_by_generation.get(g, 0) for g in generations),
            "truth": "acceptance_prob: the population's acceptance probability A(tau) recorded with "
            "each curation decision (mean over a trace's decisions)",
        }
        if rows.empty:
            return {**out, "blackbox": None, "whitebox": None}
        outputs = table.frame.set_index("trace_id").loc[rows["trace_id"].to_numpy(), list(columns)]
        blackbox = comparison.reward(outputs.reset_index(drop=True), columns)
        whitebox = inferred_reward(rows)
        truth = rows["acceptance_prob"].to_numpy(dtype=float)
        tasks = rows["task_id"].to_numpy()
        z = outputs.to_numpy(dtype=float)
        return {
            **out,
            "blackbox": correlations(blackbox, truth, tasks),
            "whitebox": correlations(whitebox, truth, tasks),
            "ceiling_linear_output_features": _linear_ceiling(z, truth),
            "note": "blackbox: the classifier's log-odds from evaluation outputs only; whitebox: "
            "log-odds of kept fitted on these traces' curation decisions (in-sample); ceiling: "
            "the best least-squares fit of A(tau) on the output features, in-sample. Read the "
            "blackbox numbers only when held_out_auc.separable: otherwise the weights are fitted "
            "noise, whose correlation with A(tau) can be large either way by chance",
        }

    # -- findings ------------------------------------------------------------------------------------

    def _finding(
        self,
        comparison: Comparison,
        recovery: dict[str, object],
        table: OutputTable,
        evals: pd.DataFrame,
        columns: Sequence[str],
        declared: str,
        generation: int | None,
        scope: str,
        per_pair: Sequence[tuple[Comparison, dict[str, object]]],
    ) -> FindingRow:
        opposite = _opposite(comparison, declared)
        severity: Severity = "info"
        if comparison.separable:
            severity = "medium" if opposite else "low"
        gens = sorted({g for pair in comparison.pairs for g in pair})
        numbers: dict[str, object] = {
            "scope": scope,
            "pairs": [list(p) for p in comparison.pairs],
            "fit_status": comparison.status,
            "n_prompts": comparison.n_prompts,
            "n_traces": comparison.n_traces,
            "n_unpaired_traces": comparison.n_unpaired,
            "features": {
                e.feature: {**e.as_dict(), "clear": e in comparison.clear_effects()}
                for e in comparison.effects
            },
            "reference_action": table.reference_action,
            "held_out_auc": {
                "auc": comparison.auc,
                "permutation_p": comparison.auc_p,
                "permutation_p_bh": comparison.auc_p_adjusted,
                "n_comparisons": comparison.n_comparisons,
                "null_quantile": comparison.auc_null_quantile,
                "alpha": comparison.alpha,
                "n_permutations": comparison.n_permutations,
                "separable": comparison.separable,
                "folds": self.n_folds,
                "note": "out-of-fold scores (folds of prompts); only traces of the same prompt are "
                "compared, so 0.5 = the generations cannot be told apart on the same prompt; "
                "p from shuffling which generation wrote each of a prompt's samples and redoing "
                "the folds; permutation_p_bh is Benjamini-Hochberg adjusted over the audit's "
                "n_comparisons comparisons and decides 'separable' (< alpha); null_quantile is the "
                "AUC chance reaches at the 1 - alpha level",
            },
            "model": {
                "estimator": "auditors.blackbox.fit_with_prompt_intercepts: the minimiser of "
                "sklearn.linear_model.LogisticRegression(C) on the features plus one-hot prompt "
                "intercepts, by Newton steps through the intercepts' diagonal block",
                "penalty": "l2 on weights and prompt intercepts; common intercept unpenalised",
                "C": self.c,
                "standardized": True,
                "prompt_fixed_effects": True,
                "label": "1 = the later generation of the pair",
                "units": "change in log-odds of 'later generation' per SD of the feature over the "
                "traces fitted; the inferred reward is these log-odds without the prompt constants",
            },
            "bootstrap": {
                "method": "percentile",
                "resample": "prompt",
                "confidence": self.confidence,
                "n_requested": self.n_bootstrap,
                "n_used": comparison.n_bootstrap_used,
                "seed": self.seed,
            },
            "declared_objective": declared,
            "against_declared": opposite,
            "severity_rule": "info unless the permutation test of the held-out AUC has a "
            "BH-adjusted p < alpha; then medium when a clear weight has the opposite sign of the "
            "declared objective's (for 'validity': validity +, valid length above the optimum -), "
            "else low. A weight is clear when that test passes and its own interval excludes zero",
            "denominators": {str(g): denominators(evals[evals["generation"] == g]) for g in gens},
            "recovery": recovery,
        }
        if scope == "run":
            numbers["recovery_by_pair"] = [
                {
                    "pair": list(c.pairs[0]),
                    "auc": c.auc,
                    "separable": c.separable,
                    "blackbox": r.get("blackbox"),
                    "whitebox": r.get("whitebox"),
                    "n_traces": r.get("n_traces"),
                }
                for c, r in per_pair
            ]
        evidence = {
            "run_id": table.traces.run_id,
            "generations": gens,
            "purpose": "eval",
            **_evidence_ids(comparison, evals, columns),
        }
        return make_finding(
            auditor=self.name,
            kind=KIND,
            severity=severity,
            generation=generation,
            claim=_claim(comparison, recovery, evals, opposite, declared, self.confidence),
            numbers=numbers,
            evidence=evidence,
        )


def audit_blackbox(
    run_dir: str | Path,
    *,
    seed: int = 0,
    n_bootstrap: int = 200,
    features: tuple[str, ...] = DEFAULT_FEATURES,
    confidence: float = 0.95,
    n_permutations: int = 200,
) -> list[FindingRow]:
    """Audit the run in ``run_dir`` from its outputs and store the findings.

    Findings of this auditor from an earlier audit are replaced; nothing else is touched.

    Raises:
        simulator.errors.StoreError: When ``run_dir`` is not a readable run store.
        BlackBoxInputError: When the run has no evaluation traces or only one generation of them.
        AuditorConfigError: When the arguments cannot be used.
    """
    auditor = BlackBoxAuditor(
        seed=seed,
        n_bootstrap=n_bootstrap,
        features=features,
        confidence=confidence,
        n_permutations=n_permutations,
    )
    return audit_and_store(run_dir, auditor.name, auditor.audit)


# -- helpers ---------------------------------------------------------------------------------------------


def correlations(reward: np.ndarray, truth: np.ndarray, tasks: np.ndarray) -> dict[str, object]:
    """Pearson and Spearman correlation of a reward with A(τ), plus Pearson within tasks.

    The within-task number removes each task's mean from both (the reward is identified only up
    to a per-prompt constant); None for a number whose inputs are constant.
    """
    ok = np.isfinite(reward) & np.isfinite(truth)
    r, t, g = reward[ok], truth[ok], tasks[ok]
    if len(r) < 3 or np.std(r) == 0 or np.std(t) == 0:
        return {"pearson": None, "spearman": None, "pearson_within_task": None, "n": len(r)}
    pearson = stats.pearsonr(r, t)
    spearman = stats.spearmanr(r, t)
    frame = pd.DataFrame({"r": r, "t": t, "g": g})
    rc = frame["r"] - frame.groupby("g")["r"].transform("mean")
    tc = frame["t"] - frame.groupby("g")["t"].transform("mean")
    within = float(stats.pearsonr(rc, tc).statistic) if rc.std() > 0 and tc.std() > 0 else None
    return {
        "pearson": float(pearson.statistic),
        "pearson_p": float(pearson.pvalue),
        "spearman": float(spearman.statistic),
        "spearman_p": float(spearman.pvalue),
        "pearson_within_task": within,
        "n": len(r),
    }


def _linear_ceiling(z: np.ndarray, truth: np.ndarray) -> float | None:
    """Correlation of A(τ) with its own least-squares fit on the output features (in-sample).

    How much of A(τ) any linear reward over these features could recover: a black-box number far
    below it is the inference's limit, one close to it the features'.
    """
    if len(truth) < 3 or np.std(truth) == 0:
        return None
    design = np.column_stack([np.ones(len(z)), z])
    coef, *_ = np.linalg.lstsq(design, truth, rcond=None)
    fitted = design @ coef
    return float(np.corrcoef(fitted, truth)[0, 1]) if np.std(fitted) > 0 else None


def _adjust_for_multiplicity(comparisons: list[Comparison]) -> list[Comparison]:
    """Benjamini–Hochberg over the permutation p-values of one audit's comparisons.

    A run of six generations gives seven comparisons (run, baseline, five pairs); at 5% each, one
    of them would call identical generations different about a third of the time. The drift
    auditor controls its family the same way (``scipy.stats.false_discovery_control``).
    """
    tested = [i for i, c in enumerate(comparisons) if c.auc_p is not None]
    if not tested:
        return comparisons
    adjusted = stats.false_discovery_control([comparisons[i].auc_p for i in tested], method="bh")
    out = list(comparisons)
    for i, p in zip(tested, adjusted, strict=True):
        out[i] = replace(out[i], auc_p_adjusted=float(p), n_comparisons=len(tested))
    return out


def _support(raw: np.ndarray) -> np.ndarray:
    """Per column, the number of rows that differ from the column's most common value."""
    out = np.zeros(raw.shape[1], dtype=int)
    for j in range(raw.shape[1]):
        _, counts = np.unique(raw[:, j], return_counts=True)
        out[j] = len(raw) - int(counts.max()) if len(counts) else 0
    return out


def _expand(values: np.ndarray, varying: np.ndarray) -> np.ndarray:
    out = np.zeros(len(varying))
    out[varying] = values
    return out


def _opposite(comparison: Comparison, declared: str) -> dict[str, str]:
    """Clear weights against the declared objective's sign: feature → ``"opposite sign"``."""
    signs = DECLARED_SIGNS.get("accept_all" if declared == "none" else declared, {})
    out = {}
    for e in comparison.clear_effects():
        declared_feature = _DECLARED_FEATURE.get(e.feature)
        sign = signs.get(declared_feature) if declared_feature else None
        if sign is not None and e.weight is not None and np.sign(e.weight) != sign:
            out[e.feature] = "opposite sign"
    return out


def _evidence_ids(comparison: Comparison, evals: pd.DataFrame, columns: Sequence[str]) -> dict[str, object]:
    """Later-generation traces the classifier finds most typical of it, earlier ones least."""
    if comparison.status != "ok":
        return {}
    later = {b for _, b in comparison.pairs}
    earlier = {a for a, _ in comparison.pairs}
    rows = evals[evals["generation"].isin(later | earlier)]
    score = pd.Series(comparison.reward(rows, columns), index=rows.index)
    top = rows.loc[score[rows["generation"].isin(later)].sort_values(ascending=False).index, "trace_id"]
    low = rows.loc[score[rows["generation"].isin(earlier)].sort_values().index, "trace_id"]
    return {
        "later_trace_ids_highest_reward": [int(v) for v in top[:EVIDENCE_IDS]],
        "earlier_trace_ids_lowest_reward": [int(v) for v in low[:EVIDENCE_IDS]],
        "later_trace_ids_spread": spread_ids(rows.loc[rows["generation"].isin(later), "trace_id"]),
    }


def _label(feature: str) -> str:
    if feature.startswith("share_"):
        return f"the share of {feature.removeprefix('share_')} actions"
    return _LABELS.get(feature, feature)


def _counts(evals: pd.DataFrame, gens: Sequence[int]) -> str:
    parts = []
    for g in gens:
        d = denominators(evals[evals["generation"] == g])
        parts.append(
            f"generation {g}: {d['n_traces']} samples, {d['n_valid']} valid, "
            f"{d['n_failed']} failed, {d['n_unreadable']} unreadable"
        )
    return "; ".join(parts)


def _claim(
    c: Comparison,
    recovery: dict[str, object],
    evals: pd.DataFrame,
    opposite: dict[str, str],
    declared: str,
    confidence: float,
) -> str:
    gens = sorted({g for pair in c.pairs for g in pair})
    if len(c.pairs) == 1:
        a, b = c.pairs[0]
        where = f"Between generations {a} and {b}"
        if b - a > 1:
            where = f"From generation {a} to generation {b} ({b - a} steps at once)"
        counted = _counts(evals, [a, b])
    else:
        where = f"Across {len(c.pairs)} steps from generation {gens[0]} to {gens[-1]}"
        d = denominators(evals[evals["generation"].isin(gens)])
        counted = (
            f"{c.n_traces} stacked samples of {d['n_traces']} from generations {gens[0]}–{gens[-1]}: "
            f"{d['n_valid']} valid, {d['n_failed']} failed, {d['n_unreadable']} unreadable"
        )
    if c.status == "too-few-prompts":
        return (
            f"{where}, only {c.n_prompts} evaluation prompts were answered by both generations "
            f"(at least {MIN_PROMPTS} needed), so their outputs were not compared ({counted})."
        )
    if c.status == "no-varying-feature":
        return (
            f"{where}, no output feature varies across the samples, so no reward can be inferred ({counted})."
        )
    auc = f"held-out AUC {c.auc:.2f}"
    if c.auc_p is not None and c.auc_null_quantile is not None:
        auc += f"; chance reaches {c.auc_null_quantile:.2f}; permutation p = {c.auc_p:.2g}"
        if c.auc_p_adjusted is not None and c.n_comparisons > 1:
            auc += f", {c.auc_p_adjusted:.2g} after Benjamini–Hochberg over {c.n_comparisons} comparisons"
    else:
        auc += "; no permutation test was run"
    if not c.separable:
        return (
            f"{where}, the later generation's outputs on the same {c.n_prompts} evaluation "
            f"prompts cannot be told apart from the earlier one's beyond chance ({auc}), so no "
            f"reward is inferred with confidence ({counted})."
        )
    pct = round(100 * confidence)

    def effect(e: FeatureEffect) -> str:
        interval = f"{pct}% CI {e.ci_low:+.2f} to {e.ci_high:+.2f}"
        return f"{_label(e.feature)} ({e.weight:+.2f} log-odds per SD, {interval})"

    clear = c.clear_effects()
    favoured = [effect(e) for e in clear if (e.weight or 0) > 0]
    penalised = [effect(e) for e in clear if (e.weight or 0) < 0]
    verbs = ([f"favours {', '.join(favoured)}"] if favoured else []) + (
        [f"penalises {', '.join(penalised)}"] if penalised else []
    )
    pays = "no single feature's weight is clear"
    if verbs:
        pays = "the reward that explains the change " + "; it ".join(verbs)
    alarm = ""
    if opposite:
        alarm = (
            f"; this runs against the declared objective ({declared}) on "
            + ", ".join(_label(f) for f in opposite)
            + ": curation may reward it, or training moved the model that way, and outputs alone "
            "cannot tell which"
        )
    tail = ""
    bb, wb = recovery.get("blackbox"), recovery.get("whitebox")
    if isinstance(bb, dict) and bb.get("pearson") is not None:
        listed = recovery.get("generations")
        scored = [int(g) for g in listed] if isinstance(listed, list) else []
        which = "the earlier generations"
        if len(scored) == 1:
            which = f"generation {scored[0]}"
        elif scored:
            which = f"generations {scored[0]}–{scored[-1]}"
        tail = (
            f"; on the deployment traces of {which} this reward correlates with the recorded "
            f"acceptance probability A(τ) at Pearson {bb['pearson']:.2f}"
        )
        if isinstance(wb, dict) and wb.get("pearson") is not None:
            tail += f" (the white-box reward from the curation log: {wb['pearson']:.2f})"
    return (
        f"{where}, a classifier tells the later generation's outputs from the earlier one's on "
        f"the same {c.n_prompts} evaluation prompts ({auc}); {pays}{alarm} ({counted}){tail}."
    )
