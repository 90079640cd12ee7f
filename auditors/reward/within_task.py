"""The white-box reward, fitted within tasks, and how far it is from the declared objective's.

Every white-box reward auditor (``implicit-reward``, ``attribution``, ``reward-drift``) asks the
same two questions of some curated deployment traces: *what did the users' keep decisions reward*
and *how does that differ from what the declared objective would have rewarded on the same
candidates*. This module answers both, once.

**What the users rewarded** is the conditional logit of :mod:`iterdeploy.auditors.reward.choice_model`: a
task's
kept traces against its other traces, never against other tasks (a cross-task fit confounds a
preference with task size and gave the quickstart's "shortest valid plan" rule a *positive* length
weight). Weights are per standard deviation of the feature *within tasks* (the spread the
comparison sees), so they compare across features; :attr:`Effect.weight_per_unit` gives log-odds
per step, per token, per share point.

**How far from the declared objective.** The declared objective is itself a curation policy, so
the auditor knows, for every task, which traces a user following it would have kept
(``declared_kept``). The *departure* is what the users' curation changes in the data the next
model is trained on: for each feature, its mean over the traces users published minus its mean
over the traces the declared objective publishes from the same candidates (:func:`task_sums`).
It captures both ways a preference acts: choosing another trace of a task (a longer plan than the
shortest), and keeping or dropping a task's plan altogether (a user who dislikes ``unstack``
drops the tasks whose every plan needs it, because plans of one task share most of their moves).
Where users do exactly what was declared, the two published sets are the same set and every
departure is exactly zero: no threshold, no test, no false alarm. Intervals come from one
bootstrap over tasks, shared with the reward fits.

Why a departure of the data and not the difference of the users' and the declared fits: under a
deterministic rule (keep the shortest valid plan) kept traces are perfectly separated from the
others, so penalised weights are set by the penalty and spread over correlated features; the
difference of two such fits moves features nobody's preference touched (on a length-bias run it
gave validity a clear positive difference, although fans and validators both keep exactly one
valid plan). A departure moves only what the users' choices changed.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

from iterdeploy.auditors.reward.choice_model import ChoiceSets, choice_sets, fit_choice

FitStatus = Literal["ok", "no-traces", "no-informative-task", "no-varying-feature"]
"""Why a fit has weights, or why it has none."""

MIN_BOOTSTRAP = 20
"""Fewer usable resamples than this and no interval is reported."""


@dataclass(frozen=True)
class Effect:
    """One feature's weight (or difference of weights) with its bootstrap interval.

    Attributes:
        feature: Feature-table column.
        weight: Log-odds per within-task SD; None when the feature does not vary within any task.
        ci_low: Lower end of the percentile interval (None without one).
        ci_high: Upper end.
        sd: Within-task standard deviation of the feature (0 when it does not vary).
        se: Bootstrap standard error of ``weight`` (None without an interval).
    """

    feature: str
    weight: float | None
    ci_low: float | None
    ci_high: float | None
    sd: float
    se: float | None = None

    @property
    def clear(self) -> bool:
        """True when the interval exists and excludes zero."""
        if self.ci_low is None or self.ci_high is None:
            return False
        return self.ci_low > 0 or self.ci_high < 0

    @property
    def direction(self) -> int:
        """+1 or -1 for a clear effect, 0 otherwise."""
        if not self.clear or self.weight is None:
            return 0
        return 1 if (self.ci_low or 0.0) > 0 else -1

    @property
    def weight_per_unit(self) -> float | None:
        """The weight in the feature's own units (log-odds per step, per token, ...)."""
        if self.weight is None or self.sd == 0:
            return None
        return self.weight / self.sd

    @property
    def se_per_unit(self) -> float | None:
        """The standard error in the feature's own units."""
        if self.se is None or self.sd == 0:
            return None
        return self.se / self.sd

    def interval_per_unit(self) -> tuple[float, float] | None:
        """The interval in the feature's own units."""
        if self.ci_low is None or self.ci_high is None or self.sd == 0:
            return None
        return self.ci_low / self.sd, self.ci_high / self.sd

    def as_dict(self) -> dict[str, object]:
        """Plain dict for ``numbers_json`` (the keys the dashboard reads)."""
        return {
            "weight": self.weight,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "ci_excludes_zero": self.clear,
            "direction": self.direction,
            "weight_per_unit": self.weight_per_unit,
            "se": self.se,
            "sd_within_task": self.sd,
            "is_constant": self.sd == 0,
        }


@dataclass(frozen=True)
class RewardComparison:
    """The users' reward, the declared objective's, and their difference, on one set of traces.

    Attributes:
        status: Of the users' fit: ``ok``, or why there are no weights.
        features: Features fitted, in order.
        users: The users' weights with intervals.
        declared: The declared objective's weights on the same traces.
        departure: Per feature, its mean over the traces users published minus over the traces the
            declared objective publishes, in the feature's own units (``sd`` 1), with its interval.
        n_traces: Traces given.
        n_kept: Of those, kept by a user.
        n_tasks: Tasks given.
        n_informative: Tasks where users kept some but not all traces (the users' fit uses these).
        n_departing: Tasks where the users' kept set differs from the declared one.
        departure_ci: Exact binomial interval of ``n_departing / n_tasks``.
        departing_tasks: Task keys of the departing tasks.
        n_bootstrap_used: Resamples that entered the intervals.
        per_unit: The users' reward as log-odds per unit of each varying feature (what
            :func:`apply_reward` needs to score other traces).
        means: Mean of each feature over the traces (the centre the per-unit reward uses).
    """

    status: FitStatus
    features: tuple[str, ...]
    users: tuple[Effect, ...]
    declared: tuple[Effect, ...]
    departure: tuple[Effect, ...]
    n_traces: int
    n_kept: int
    n_tasks: int
    n_informative: int
    n_departing: int
    departure_ci: tuple[float, float]
    departing_tasks: tuple[str, ...] = ()
    n_bootstrap_used: int = 0
    per_unit: dict[str, float] = field(default_factory=dict)
    means: dict[str, float] = field(default_factory=dict)

    @property
    def departure_share(self) -> float:
        """Share of tasks where users departed from the declared objective (0 without tasks)."""
        return self.n_departing / self.n_tasks if self.n_tasks else 0.0

    def effect(self, which: Literal["users", "declared", "departure"], feature: str) -> Effect | None:
        """One feature's effect of one fit, None when not fitted."""
        for e in getattr(self, which):
            if e.feature == feature:
                return e
        return None

    def as_dict(self) -> dict[str, object]:
        """Plain dict for ``numbers_json``."""
        return {
            "fit_status": self.status,
            "n_traces": self.n_traces,
            "n_kept": self.n_kept,
            "n_tasks": self.n_tasks,
            "n_informative_tasks": self.n_informative,
            "features": {e.feature: e.as_dict() for e in self.users},
            "declared_features": {e.feature: e.as_dict() for e in self.declared},
            "beyond_declared": {
                "n_tasks": self.n_tasks,
                "n_departing_tasks": self.n_departing,
                "departure_share": self.departure_share,
                "departure_ci": list(self.departure_ci),
                "published_shift": {e.feature: e.as_dict() for e in self.departure},
                "units": "the feature's mean over the traces users published minus its mean over the "
                "traces the declared objective publishes from the same candidates",
            },
            "n_bootstrap_used": self.n_bootstrap_used,
            "inferred_reward": {"per_unit": dict(self.per_unit), "centre": dict(self.means)},
        }


def within_task_sd(rows: pd.DataFrame, features: tuple[str, ...], task: str = "task_key") -> np.ndarray:
    """Standard deviation of each feature around its task's mean (0: it never varies in a task)."""
    x = rows[list(features)].to_numpy(dtype=float)
    centred = x - rows.groupby(task)[list(features)].transform("mean").to_numpy(dtype=float)
    return np.sqrt((centred**2).mean(axis=0)) if len(x) else np.zeros(len(features))


def departing(rows: pd.DataFrame, task: str = "task_key") -> pd.Series:
    """Per task: does the set users kept differ from the set the declared objective keeps?"""
    differs = rows["kept"].astype(bool) != rows["declared_kept"].astype(bool)
    return differs.groupby(rows[task]).any()


def compare_with_declared(
    rows: pd.DataFrame,
    features: tuple[str, ...],
    *,
    seed: int,
    name: str,
    n_bootstrap: int,
    confidence: float,
    c: float = 1.0,
    task: str = "task_key",
) -> RewardComparison:
    """Fit the users' and the declared reward within tasks and their paired difference.

    Args:
        rows: Feature-table rows with ``kept``, ``declared_kept``, the features and ``task``.
        features: Columns to fit.
        seed: Bootstrap seed; the generator is ``SeedSequence([seed, crc32(name)])``, so a
            scope's interval does not change when other scopes are added.
        name: Stable name of the scope (``run``, ``generation-2``, ``group:fans``).
        n_bootstrap: Resamples of tasks (0: weights without intervals).
        confidence: Coverage of the percentile intervals.
        c: Inverse L2 strength on standardised features.
        task: Column whose values are the choice situations.

    Returns:
        The comparison; ``status`` says why there are no weights when there are none.
    """
    n_traces, n_kept = len(rows), int(rows["kept"].sum()) if len(rows) else 0
    tasks = rows[task].to_numpy() if n_traces else np.empty(0)
    labels = np.unique(tasks)
    n_dep, dep_ci, dep_tasks = _departing_tasks(rows, task, len(labels), confidence)
    empty = tuple(Effect(f, None, None, None, 0.0) for f in features)
    if n_traces == 0:
        return RewardComparison("no-traces", features, empty, empty, empty, 0, 0, 0, 0, 0, dep_ci)
    sums = task_sums(rows, features, task)

    x, sd, varying, means = standardised(rows, features, task)
    users_sets = choice_sets(x, tasks, rows["kept"].to_numpy(dtype=bool))
    declared_sets = choice_sets(x, tasks, rows["declared_kept"].to_numpy(dtype=bool))
    base = (features, sd, varying)

    def result(status: FitStatus, users: tuple[Effect, ...], declared: tuple[Effect, ...],
               departure: tuple[Effect, ...], **fitted: Any) -> RewardComparison:
        return RewardComparison(status, features, users, declared, departure, n_traces, n_kept,
                                len(labels), users_sets.n_tasks, n_dep, dep_ci, dep_tasks, **fitted)
    resamples = _task_resamples(seed, name, len(labels), n_bootstrap)
    alpha = 1 - confidence
    enough = n_bootstrap >= MIN_BOOTSTRAP

    def interval(draws: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        if not enough:
            return None
        stacked = np.vstack(draws)
        return (np.percentile(stacked, 100 * alpha / 2, axis=0),
                np.percentile(stacked, 100 * (1 - alpha / 2), axis=0), stacked.std(axis=0, ddof=1))

    departure = _departure_effects(features, sums, resamples, interval)
    if users_sets.n_tasks == 0 or not varying.any():
        status: FitStatus = "no-informative-task" if users_sets.n_tasks == 0 else "no-varying-feature"
        return result(status, _effects(*base, None, None), _effects(*base, None, None), departure)

    users_fit = fit_choice(users_sets, c=c).weights
    declared_fit = fit_choice(declared_sets, c=c).weights
    draws_u = [_refit(users_sets, counts, users_fit, c) for counts in resamples]
    draws_d = [_refit(declared_sets, counts, declared_fit, c) for counts in resamples]
    per_unit = _per_unit(features, sd, varying, users_fit)
    return result(
        "ok",
        _effects(*base, users_fit, interval(draws_u)),
        _effects(*base, declared_fit, interval(draws_d)),
        departure,
        n_bootstrap_used=n_bootstrap if enough else 0,
        per_unit=per_unit,
        means={f: float(m) for f, m in zip(features, means, strict=True)},
    )


def _departing_tasks(
    rows: pd.DataFrame, task: str, n_tasks: int, confidence: float
) -> tuple[int, tuple[float, float], tuple[str, ...]]:
    """How many tasks' published sets differ from the declared objective's, the exact (Clopper-
    Pearson) interval of that share ((0, 1) without tasks), and which tasks they are."""
    dep = departing(rows, task) if len(rows) else pd.Series(dtype=bool)
    n_dep = int(dep.sum())
    share = stats.binomtest(n_dep, n_tasks).proportion_ci(confidence, "exact") if n_tasks else None
    dep_ci = (float(share.low), float(share.high)) if share is not None else (0.0, 1.0)
    return n_dep, dep_ci, tuple(str(t) for t in dep.index[dep.to_numpy()])


def _task_resamples(seed: int, name: str, n_tasks: int, n_bootstrap: int) -> list[np.ndarray]:
    """Bootstrap resamples of the tasks as counts per task, drawn from ``SeedSequence([seed,
    crc32(name)])`` so that a scope's resamples do not change when other scopes are added."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, zlib.crc32(name.encode())]))
    return [np.bincount(rng.integers(0, n_tasks, n_tasks), minlength=n_tasks) for _ in range(n_bootstrap)]


def standardised(
    rows: pd.DataFrame, features: tuple[str, ...], task: str = "task_key"
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The features the fit sees: each varying one minus its mean, over its within-task SD.

    Returns:
        (x of the varying features, within-task SD of every feature, which vary, every
        feature's mean).
    """
    sd = within_task_sd(rows, features, task)
    varying = sd > 0
    x_raw = rows[list(features)].to_numpy(dtype=float)
    means = x_raw.mean(axis=0)
    return (x_raw[:, varying] - means[varying]) / sd[varying], sd, varying, means


def _per_unit(
    features: tuple[str, ...], sd: np.ndarray, varying: np.ndarray, weights: np.ndarray
) -> dict[str, float]:
    """Weights per within-task SD of the varying features, as log-odds per unit of each."""
    return {f: float(w / s) for f, w, s in zip(np.asarray(features)[varying], weights, sd[varying],
                                               strict=True)}


def fit_reward(
    rows: pd.DataFrame, features: tuple[str, ...], *, c: float = 1.0, task: str = "task_key"
) -> dict[str, float]:
    """The users' within-task reward alone (log-odds per unit of each varying feature), as
    :func:`compare_with_declared` fits it, without the declared fit, the shift or intervals;
    empty when no task is informative or no feature varies."""
    if not len(rows):
        return {}
    x, sd, varying, _ = standardised(rows, features, task)
    sets = choice_sets(x, rows[task].to_numpy(), rows["kept"].to_numpy(dtype=bool))
    if sets.n_tasks == 0 or not varying.any():
        return {}
    return _per_unit(features, sd, varying, fit_choice(sets, c=c).weights)


def task_sums(rows: pd.DataFrame, features: tuple[str, ...], task: str = "task_key") -> tuple[
        np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per task (in sorted order): each feature summed over the users' kept set, how many they
    kept, the same over the declared set and how many it keeps. Summed over (resampled) tasks,
    these give the two published sets' means."""
    x = rows[list(features)].to_numpy(dtype=float)
    kept = rows["kept"].to_numpy(dtype=float)
    declared = rows["declared_kept"].to_numpy(dtype=float)
    frame = pd.DataFrame(np.hstack([x * kept[:, None], x * declared[:, None]]))
    frame["n_u"], frame["n_d"], frame["key"] = kept, declared, rows[task].to_numpy()
    sums = frame.groupby("key", sort=True).sum()
    k = len(features)
    return (sums.iloc[:, :k].to_numpy(), sums["n_u"].to_numpy(), sums.iloc[:, k:2 * k].to_numpy(),
            sums["n_d"].to_numpy())


def _shift(su: np.ndarray, nu: float, sd: np.ndarray, nd: float) -> np.ndarray:
    """Mean of the users' published set minus the declared one's (0 where either is empty)."""
    if nu == 0 or nd == 0:
        return np.zeros(len(su))
    return su / nu - sd / nd


def _departure_effects(
    features: tuple[str, ...],
    sums: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    resamples: list[np.ndarray],
    interval: Callable[[list[np.ndarray]], tuple[np.ndarray, np.ndarray, np.ndarray] | None],
) -> tuple[Effect, ...]:
    """The shift of the published set from the declared one, with its interval over resampled
    tasks."""
    su, nu, sd, nd = sums
    point = _shift(su.sum(axis=0), float(nu.sum()), sd.sum(axis=0), float(nd.sum()))
    draws = [_shift(c @ su, float(c @ nu), c @ sd, float(c @ nd)) for c in resamples]
    bounds = interval(draws) if draws else None
    return tuple(
        Effect(f, float(point[i]),
               float(bounds[0][i]) if bounds is not None else None,
               float(bounds[1][i]) if bounds is not None else None,
               1.0, float(bounds[2][i]) if bounds is not None else None)
        for i, f in enumerate(features)
    )


def _refit(sets: ChoiceSets, counts: np.ndarray, start: np.ndarray, c: float) -> np.ndarray:
    """Weights on a bootstrap resample: each task weighted by how often it was drawn."""
    if sets.n_tasks == 0:
        return np.zeros_like(start)
    return fit_choice(sets, c=c, task_weights=counts[sets.task_index], start=start).weights


def _effects(
    features: tuple[str, ...],
    sd: np.ndarray,
    varying: np.ndarray,
    weights: np.ndarray | None,
    interval: tuple[np.ndarray, np.ndarray, np.ndarray] | None,
) -> tuple[Effect, ...]:
    out = []
    k = 0
    for feature, s, v in zip(features, sd, varying, strict=True):
        if not v or weights is None:
            out.append(Effect(feature, None, None, None, float(s)))
            k += int(v)
            continue
        low = float(interval[0][k]) if interval is not None else None
        high = float(interval[1][k]) if interval is not None else None
        se = float(interval[2][k]) if interval is not None else None
        out.append(Effect(feature, float(weights[k]), low, high, float(s), se))
        k += 1
    return tuple(out)


def apply_reward(per_unit: dict[str, float], rows: pd.DataFrame) -> np.ndarray:
    """The inferred reward of each row: ``Σ_f w_f · x_f`` in log-odds (defined up to a per-task
    constant, which within-task comparisons ignore). Features missing from ``rows`` count 0."""
    out = np.zeros(len(rows))
    for feature, w in per_unit.items():
        if feature in rows.columns:
            out += w * rows[feature].to_numpy(dtype=float)
    return out
