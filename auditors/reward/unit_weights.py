"""Per-unit weights of the inferred reward, with intervals from a bootstrap over tasks.

``attribution-v1`` (which user groups drive each weight) and ``reward-drift-v1`` (which weights
moved between generations) ask the same thing of different subsets of a run's curated traces: what
are the weights ``implicit-reward-v1`` would infer here, and how sure are we? This module answers it
once, for any feature-table rows: :class:`WeightEstimator` gives every tracked weight
(:func:`tracked_weights`) as a :class:`UnitWeight`, and the helpers below put those weights into
words for the findings.

Modelling choices, and why:

* **The same fitting code as implicit-reward-v1.** Every fit is :meth:`ImplicitRewardAuditor.fit`
  (same penalty, solver, standardisation), read as that auditor reads it (:func:`fit_views`):
  validity from the fit over all traces, the other features from the fits within each validity
  stratum (under validity-only curation the joint fit spreads weight onto anything correlated with
  validity; see that module). With the same features the point weights equal
  ``implicit-reward-v1``'s. A subset is given as feature-table rows with their ``kept``, which is
  all ``fit`` needs.
* **Intervals resample tasks** (:class:`WeightEstimator`): the traces of a task are decided
  together, and both auditors compare fits on different sets of tasks (other groups, other
  generations). ``fit``'s own bootstrap resamples traces and keeps only percentiles, so the task
  bootstrap here calls ``fit`` once per resample (see the estimator for the hook that would let
  ``fit`` do it).
* **Weights are compared per unit of the feature, not per standard deviation.** ``fit``
  standardises within the traces it is given, so two per-SD weights fitted on different traces are
  in different units whenever those traces differ (one group brings larger tasks, a later model
  writes longer plans). Dividing by the fit's own SD puts every fit on the feature's own scale:
  log-odds per plan step.
* **Absolute rules have no size.** When a feature alone separates kept from rejected traces (no
  invalid plan kept; only plans at the task's best kept) the likelihood's weight is infinite and
  the fitted one is set by the penalty; such a weight is flagged ``separated`` (:func:`separates`)
  and neither auditor compares it by size.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
import pandas as pd

from auditors.reward.implicit_reward import (
    DECLARED_FEATURE,
    FEATURE_LABELS,
    STRATA,
    ImplicitRewardAuditor,
    LogisticFit,
)

FEATURES: tuple[str, ...] = ("is_valid", "plan_length", "rel_plan_length")
"""Features fitted by default: validity, and plan length both absolute and relative to the task's
shortest valid plan, the quantity the ``shortest``/``longest`` selectors act on. Without the relative
length a preference for longer plans hides behind task size (large tasks have fewer valid siblings
and longer plans, so within valid traces absolute length is rewarded even under the paper's rule)."""

Stratum = Literal["all", "valid", "invalid"]
"""Which traces a weight is fitted on: all curated traces, or one validity stratum."""

STRATUM_WORDS: dict[str, str] = {
    "all": "over all traces",
    "valid": "among valid traces",
    "invalid": "among invalid traces",
}
"""How a stratum reads in a claim."""

FEATURE_WORDS: dict[str, str] = FEATURE_LABELS
"""Feature names in plain words: ``implicit-reward-v1``'s own labels, so that its findings and those
built on these weights name a feature alike."""

UNIT_WORDS: dict[str, str] = {
    "is_valid": "for a valid plan",
    "plan_length": "per plan step",
    "rel_plan_length": "per step above the task's best",
    "n_tokens": "per token",
    "task_size": "per unit of task size",
    "hit_token_limit": "for a cut-off completion",
    "is_unparseable": "for an unreadable plan",
}
"""What one unit of each feature is, for log-odds per unit."""


@dataclass(frozen=True)
class WeightKey:
    """One weight of the inferred reward: a feature, fitted over a stratum of traces."""

    stratum: Stratum
    feature: str

    @property
    def label(self) -> str:
        """Stable key for ``numbers_json``, e.g. ``valid/plan_length``."""
        return f"{self.stratum}/{self.feature}"

    @property
    def words(self) -> str:
        """The weight in words, e.g. ``plan length among valid traces``."""
        return f"{FEATURE_WORDS.get(self.feature, self.feature)} {STRATUM_WORDS[self.stratum]}"

    @property
    def unit(self) -> str:
        """What the weight is per, e.g. ``per plan step``."""
        return UNIT_WORDS.get(self.feature, "per unit")

    def beyond_declared(self, weight: float, signs: dict[str, int]) -> bool:
        """True when a weight of this sign rewards something the declared objective does not: a
        feature it is silent about, or one of its features with the opposite sign. ``signs`` is
        :data:`auditors.reward.declared.DECLARED_SIGNS` of the run's declared objective."""
        if weight == 0:
            return False
        return self.feature not in signs or signs[self.feature] != np.sign(weight)


@dataclass(frozen=True)
class UnitWeight:
    """A weight in the feature's own units (log-odds per plan step, ...) with its interval.

    Attributes:
        status: ``ok``; the fit's status when it has no weights (``single-class``, ``no-traces``,
            ``no-varying-feature``); ``constant`` when this feature does not vary in the traces;
            ``too-few`` when the fit was not attempted.
        weight: Log-odds per unit of the feature (None without a weight).
        ci_low: Lower end of the task-bootstrap percentile interval per unit (None without one).
        ci_high: Upper end.
        se: Standard deviation of the bootstrap weights (the weight's standard error), per unit.
        weight_per_sd: The fit's own per-SD weight (what ``implicit-reward-v1`` prints).
        sd: The feature's standard deviation over the fitted traces.
        n_traces: Traces fitted.
        n_kept: Of those, kept.
        n_tasks: Tasks those traces answer (the bootstrap's unit).
        n_bootstrap_used: Resamples that gave this weight (others lost a class or the feature's
            variation).
        separated: The feature alone separates kept from not-kept traces (:func:`separates`): the
            maximum-likelihood weight is infinite in the direction of ``weight`` and only the L2
            penalty (and the number of traces) sets its size.
    """

    status: str
    weight: float | None
    ci_low: float | None
    ci_high: float | None
    se: float | None
    weight_per_sd: float | None
    sd: float
    n_traces: int
    n_kept: int
    n_tasks: int = 0
    n_bootstrap_used: int = 0
    separated: bool = False

    @property
    def has_interval(self) -> bool:
        """True when there is a weight and an interval."""
        return self.weight is not None and self.ci_low is not None and self.ci_high is not None

    @property
    def excludes_zero(self) -> bool:
        """True when the interval lies entirely on one side of zero."""
        if not self.has_interval:
            return False
        assert self.ci_low is not None and self.ci_high is not None
        return self.ci_low > 0 or self.ci_high < 0

    def contains(self, value: float) -> bool:
        """True when ``value`` lies inside the interval (False without one)."""
        if not self.has_interval:
            return False
        assert self.ci_low is not None and self.ci_high is not None
        return self.ci_low <= value <= self.ci_high

    def as_dict(self) -> dict[str, object]:
        """Plain dict for ``numbers_json``."""
        return {
            "status": self.status,
            "weight_per_unit": self.weight,
            "ci_low_per_unit": self.ci_low,
            "ci_high_per_unit": self.ci_high,
            "ci_excludes_zero": self.excludes_zero,
            "se_per_unit": self.se,
            "weight_per_sd": self.weight_per_sd,
            "sd": self.sd,
            "n_traces": self.n_traces,
            "n_kept": self.n_kept,
            "n_tasks": self.n_tasks,
            "n_bootstrap_used": self.n_bootstrap_used,
            "separated": self.separated,
        }


def unit_weight(fit: LogisticFit, feature: str) -> UnitWeight:
    """The point weight of ``feature`` in ``fit``, per unit of the feature (no interval)."""
    effect = next((e for e in fit.effects if e.feature == feature), None)
    sd = float(effect.sd) if effect is not None and np.isfinite(effect.sd) else float("nan")
    if fit.status != "ok" or effect is None:
        return UnitWeight(fit.status, None, None, None, None, None, sd, fit.n_traces, fit.n_kept)
    if effect.weight is None or not sd > 0:
        return UnitWeight("constant", None, None, None, None, None, sd, fit.n_traces, fit.n_kept)
    return UnitWeight("ok", effect.weight / sd, None, None, None, effect.weight, sd, fit.n_traces, fit.n_kept)


def tracked_weights(features: tuple[str, ...]) -> list[WeightKey]:
    """The weights ``implicit-reward-v1`` reads: validity over all traces and every other feature
    within each validity stratum, or every feature over all traces when validity is not fitted
    (or is the only feature)."""
    others = tuple(f for f in features if f != DECLARED_FEATURE)
    if DECLARED_FEATURE not in features or not others:
        return [WeightKey("all", f) for f in features]
    strata: list[Stratum] = [label for label, _ in STRATA]  # type: ignore[misc]
    return [WeightKey("all", DECLARED_FEATURE)] + [WeightKey(s, f) for s in strata for f in others]


def fit_views(auditor: ImplicitRewardAuditor, rows: pd.DataFrame, scope: str) -> dict[str, LogisticFit]:
    """The fits ``implicit-reward-v1`` makes of ``rows``: all traces on every feature (fit name
    ``scope``) and, when validity is among several features, the other features within each validity
    stratum (``scope/valid``, ``scope/invalid``), by that auditor's own code."""
    return {"all": auditor.fit(rows, auditor.features, scope), **(auditor.strata_fits(rows, scope) or {})}


def stratum_rows(rows: pd.DataFrame, stratum: Stratum) -> pd.DataFrame:
    """The rows a weight of ``stratum`` is fitted on."""
    if stratum == "all":
        return rows
    value = dict(STRATA)[stratum]
    return rows[rows["is_valid"] == value]


def separates(rows: pd.DataFrame, feature: str) -> bool:
    """True when ``feature`` alone separates kept from not-kept traces, ties allowed: every kept
    trace lies at or beyond one end of the not-kept traces' values.

    That is what deterministic rules do: "validity" keeps no invalid plan (every kept trace has
    ``is_valid`` 1, the largest value among the rejected), "shortest valid plan" keeps only plans at
    the task's best (``rel_plan_length`` 0 among valid traces, the smallest value among the rejected).
    The maximum-likelihood weight is then infinite, and the fitted one is set by the L2 penalty and
    the number of traces, so its size says nothing about the users and two such weights cannot be
    compared by size.
    """
    values = rows[feature].to_numpy(dtype=float)
    kept = rows["kept"].to_numpy(dtype=int) == 1
    finite = np.isfinite(values)
    values, kept = values[finite], kept[finite]
    if kept.all() or not kept.any() or values.min() == values.max():
        return False
    return bool(values[kept].max() <= values[~kept].min() or values[kept].min() >= values[~kept].max())


class WeightEstimator:
    """Per-unit weights of the inferred reward with intervals from a bootstrap over **tasks**.

    Point estimates are :meth:`ImplicitRewardAuditor.fit` (with no bootstrap of its own) on the
    given rows, so they equal ``implicit-reward-v1``'s. Intervals resample tasks, not traces, and
    refit each resample with the same ``fit``: a task's K traces are decided together (one kept per
    task under "shortest valid plan"), and which tasks a generation happened to bring moves the
    weights more than resampling traces within them shows. Measured on stationary synthetic runs
    (docs/auditing.md), trace resampling gave intervals too narrow for generation-to-generation
    comparisons. Every resample is refitted and standardised on its own, which is why weights are
    compared per unit. Resamples that lose a class, or the feature's variation, are skipped and
    counted; with fewer than half of them usable there is no interval.

    The hook that would fold this into ``fit`` itself (one bootstrap loop in the code base):
    ``ImplicitRewardAuditor.fit(rows, features, name, *, groups: np.ndarray | None = None)`` drawing
    whole groups (``rows["task_id"]``) instead of rows when ``groups`` is given, with the resampled
    weights returned on ``LogisticFit.bootstrap_weights`` (an ``(n_used, n_features)`` array, per SD
    of the full fit; divide by ``FeatureEffect.sd`` for per unit).

    Args:
        seed: Seed of the bootstrap; each estimate draws from ``SeedSequence([seed, crc32(name)])``.
        n_bootstrap: Task resamples per estimate (0: weights without intervals).
        features: Columns to regress ``kept`` on.
        confidence: Coverage of the percentile intervals.
    """

    def __init__(self, seed: int, n_bootstrap: int, features: tuple[str, ...], confidence: float) -> None:
        self.seed = seed
        self.n_bootstrap = n_bootstrap
        self.confidence = confidence
        self.fitter = ImplicitRewardAuditor(
            seed=seed, n_bootstrap=0, features=features, confidence=confidence
        )
        self.keys = tracked_weights(self.fitter.features)

    def estimate(self, rows: pd.DataFrame, name: str) -> dict[WeightKey, UnitWeight]:
        """Every tracked weight of ``rows`` (feature-table rows), with task-bootstrap intervals.

        Args:
            rows: Feature-table rows, ``kept`` as the decisions that count for this estimate.
            name: Stable name of the estimate (``generation-2``, ``run/groups:A+B``); its bootstrap
                stream is derived from it and the seed.
        """
        point = {key: unit_weight(fit, key.feature) for key, fit in self._fits(rows, name).items()}
        tasks = rows["task_id"].to_numpy()
        unique, inverse = np.unique(tasks, return_inverse=True)
        members = [np.flatnonzero(inverse == i) for i in range(len(unique))]
        draws: dict[WeightKey, list[float]] = {key: [] for key in self.keys}
        wanted = [key for key in self.keys if point[key].weight is not None]
        if wanted and len(unique) > 1:
            rng = np.random.default_rng(
                np.random.SeedSequence([self.seed, zlib.crc32(f"{name}/tasks".encode())])
            )
            for pick in rng.integers(0, len(unique), size=(self.n_bootstrap, len(unique))):
                sample = rows.iloc[np.concatenate([members[i] for i in pick])].reset_index(drop=True)
                fits = self._fits(sample, name)
                for key in wanted:
                    drawn = unit_weight(fits[key], key.feature).weight
                    if drawn is not None:
                        draws[key].append(drawn)
        out = {}
        alpha = 1 - self.confidence
        for key in self.keys:
            w = replace(point[key], n_tasks=len(unique), n_bootstrap_used=len(draws[key]))
            if w.weight is not None:
                w = replace(w, separated=separates(stratum_rows(rows, key.stratum), key.feature))
            values = np.asarray(draws[key])
            if w.weight is not None and self.n_bootstrap > 0 and len(values) >= max(2, self.n_bootstrap / 2):
                low, high = np.percentile(values, [100 * alpha / 2, 100 * (1 - alpha / 2)])
                w = replace(w, ci_low=float(low), ci_high=float(high), se=float(values.std(ddof=1)))
            out[key] = w
        return out

    def _fits(self, rows: pd.DataFrame, name: str) -> dict[WeightKey, LogisticFit]:
        views = fit_views(self.fitter, rows, name)
        return {key: views[key.stratum] for key in self.keys}


def fmt_weight(value: float | None) -> str:
    """A per-unit weight for a claim: three significant digits with a sign."""
    if value is None:
        return "none"
    return f"{value:+.3g}"


def fmt_interval(w: UnitWeight, confidence: float) -> str:
    """``95% CI -0.31 to -0.12`` or a note that there is no interval."""
    if not w.has_interval:
        return "no interval"
    return f"{round(100 * confidence)}% CI {fmt_weight(w.ci_low)} to {fmt_weight(w.ci_high)}"


_DIRECTIONS: dict[str, tuple[str, str]] = {
    "is_valid": ("valid plans", "invalid plans"),
    "plan_length": ("longer plans", "shorter plans"),
    "rel_plan_length": ("plans further above the task's best", "plans closer to the task's best"),
    "n_tokens": ("longer completions", "shorter completions"),
    "task_size": ("larger tasks", "smaller tasks"),
    "hit_token_limit": ("cut-off completions", "completions that end by themselves"),
    "is_unparseable": ("unreadable plans", "readable plans"),
}


def direction_words(feature: str, weight: float) -> str:
    """What a weight of this sign rewards, in words (``longer plans``)."""
    up, down = _DIRECTIONS.get(feature, (f"higher {feature}", f"lower {feature}"))
    return up if weight > 0 else down


def check_common(features: tuple[str, ...], confidence: float, n_bootstrap: int) -> None:
    """Configuration checks both auditors share (the fit's own checks run on top of these).

    Raises:
        AuditorConfigError: When a setting cannot be used.
    """
    ImplicitRewardAuditor(n_bootstrap=n_bootstrap, features=features, confidence=confidence).check_config()
