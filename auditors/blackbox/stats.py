"""Estimators and statistics of the black-box auditor: the classifier, its held-out AUC and their tests.

``iterdeploy.auditors.blackbox.auditor`` compares two generations' outputs on the same prompts with these: a
logistic fit with one intercept per prompt, the within-prompt AUC of out-of-fold scores with its
permutation null, Benjamini–Hochberg over one audit's comparisons, and the correlations that score
how well an inferred reward recovers the recorded A(τ). Choices, and why:

* **Per-prompt fixed effects.** Each prompt (task, and pair of generations in the pooled fit) gets
  its own intercept, which absorbs −log Z(x): without it a task every generation fails (all
  traces invalid, log-odds 0) and a task later generations solve (invalid traces strongly
  negative) would push the validity weight around. Task size is constant within a prompt, so it is
  absorbed too and is not a feature. The fixed effects are L2-penalised like the weights (partial
  pooling); with four samples per generation and prompt an unpenalised fixed-effect logit
  overstates weights (the incidental-parameter problem), a penalised one shrinks them a little
  towards the pooled fit. Either way the *sign* and the ranking of traces are what the auditor
  reports, not the scale.
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
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from scipy import special, stats


@dataclass(frozen=True)
class FeatureEffect:
    """One feature's weight in an inferred reward.

    Attributes:
        feature: Column of the feature table.
        weight: Log-odds per standard deviation; None when the feature is constant in the fit's
            traces or there was no fit.
        ci_low: Lower end of the bootstrap interval (None without usable resamples).
        ci_high: Upper end of the bootstrap interval.
        mean: Mean of the feature over the fit's traces.
        sd: Standard deviation of the feature over the fit's traces (0 when constant).
    """

    feature: str
    weight: float | None
    ci_low: float | None
    ci_high: float | None
    mean: float
    sd: float

    @property
    def ci_excludes_zero(self) -> bool:
        """True when the interval exists and lies entirely on one side of zero."""
        if self.ci_low is None or self.ci_high is None:
            return False
        return self.ci_low > 0 or self.ci_high < 0

    @property
    def weight_per_unit(self) -> float | None:
        """The weight in the feature's own units (log-odds per step, per token, ...)."""
        if self.weight is None or self.sd == 0:
            return None
        return self.weight / self.sd

    def as_dict(self) -> dict[str, object]:
        """Plain dict for ``numbers_json``."""
        return {
            "weight": self.weight,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "ci_excludes_zero": self.ci_excludes_zero,
            "weight_per_unit": self.weight_per_unit,
            "mean": self.mean,
            "sd": self.sd,
            "is_constant": self.sd == 0,
        }

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


GROUP_STRIDE = 1 << 32
"""Group id = pair index · stride + task id: one intercept per prompt and pair of generations."""


def stack(
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


def linear_ceiling(z: np.ndarray, truth: np.ndarray) -> float | None:
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


def adjust_for_multiplicity(comparisons: list[Comparison]) -> list[Comparison]:
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


def support(raw: np.ndarray) -> np.ndarray:
    """Per column, the number of rows that differ from the column's most common value."""
    out = np.zeros(raw.shape[1], dtype=int)
    for j in range(raw.shape[1]):
        _, counts = np.unique(raw[:, j], return_counts=True)
        out[j] = len(raw) - int(counts.max()) if len(counts) else 0
    return out


def expand(values: np.ndarray, varying: np.ndarray) -> np.ndarray:
    """``values`` at the positions where ``varying`` is True, zeros elsewhere."""
    out = np.zeros(len(varying))
    out[varying] = values
    return out
