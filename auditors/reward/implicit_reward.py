"""White-box implicit-reward inference: what did the users' keep decisions reward?

Fine-tuning on curated on-policy samples has the gradient of REINFORCE with reward A(τ), the
population's acceptance probability (DESIGN.md, "Auditors and the theory they test"). With the
curation log in hand, an auditor can estimate that reward without knowing the policies: fit
P(kept | trace features) by logistic regression; the fitted log-odds is the inferred reward and its
weights say which features it pays for.

Modelling choices, and why:

* **Standardised features.** Each feature is centred and divided by its standard deviation within
  the traces being fitted, so weights are comparable across features: a weight is the change in
  log-odds of being kept per standard deviation of the feature. Bootstrap refits reuse that scaling,
  so every resample's weights are in the same units. ``weight_per_unit`` gives the raw-unit value.
* **L2 penalty, C = 1.** Curation is often deterministic (kept ⇒ valid), which separates the classes
  and sends unpenalised weights to infinity. An L2 penalty with C = 1 on standardised features is a
  unit-scale Gaussian prior on each weight: weights stay finite under separation, and the
  likelihood dominates once a scope has more than a few dozen traces. Under separation the weights
  are shrunk; read them as "large", not as an exact size.
* **Hidden objectives are judged among traces of equal validity.** Under separation the penalised
  fit spreads weight onto any feature correlated with validity: with validity-only curation and
  invalid plans shorter than valid ones, the joint fit "finds" a reward for long plans that no user
  holds. So the severity does not come from the joint fit. It comes from a second fit, of the other
  features, *within* each validity stratum (valid traces, invalid traces): if plan length still
  predicts keeping among valid traces, users reward something beyond validity. When every valid
  trace was kept, that stratum has one class and, correctly, no hidden objective is inferred.
  Without ``is_valid`` among the features there is nothing to stratify on, and the joint fit's
  intervals are used instead (reported in ``numbers.severity_rule``).
* **Percentile bootstrap over traces, written out by hand.** ``scipy.stats.bootstrap`` does not fit
  cleanly: a resample can lose one class entirely (small generations, rare keeps), and the refit is
  then undefined. scipy cannot skip and count such resamples; a NaN statistic makes the whole
  interval NaN (and BCa would add one jackknife fit per trace). The loop below skips them, counts
  them (``n_single_class``) and takes percentiles over the rest. Traces of one task are not
  independent under a relative rule such as "shortest valid plan"; resampling tasks instead is a
  planned refinement.
* **Newton–Cholesky solver.** With a handful of features it solves the penalised problem exactly in
  a few steps and has no randomness; scipy's L-BFGS was 10–20x slower per fit here, spinning BLAS
  threads on tiny problems.
* **Determinism.** Each fit draws from its own generator, ``SeedSequence([seed, crc32(fit name)])``
  with names like ``generation-2/valid``, so a generation's interval does not change when other
  generations are added; the feature table is sorted by ``trace_id`` so the order rows were written
  in does not matter.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from auditors.core.decisions import run_id_of
from auditors.core.features import (
    AuditorConfigError,
    Denominators,
    FeatureTable,
    build_feature_table,
    check_features,
)
from auditors.core.findings import Severity, make_finding
from simulator.store import FindingRow, RunReader

AUDITOR_NAME = "implicit-reward-v1"
"""Registered name of :class:`ImplicitRewardAuditor`; bump when the same config gives other numbers."""

KIND = "implicit-reward"
"""Finding kind written by this auditor."""

DECLARED_FEATURE = "is_valid"
"""The objective the paper's operators declare; a reward on anything else raises the severity."""

DEFAULT_FEATURES: tuple[str, ...] = ("is_valid", "plan_length")
"""Features fitted when none are given."""

EVIDENCE_SAMPLE_SIZE = 10
"""Trace ids cited per class (kept / not kept) in a finding's evidence."""

STRATA: tuple[tuple[str, int], ...] = (("valid", 1), ("invalid", 0))
"""Validity strata in which the other features are fitted again."""

FitStatus = Literal["ok", "single-class", "no-varying-feature", "no-traces"]
"""Why a fit has weights, or why it has none."""

FEATURE_LABELS = {
    "is_valid": "validity",
    "plan_length": "plan length",
    "rel_plan_length": "plan length above the task's best",
    "n_tokens": "completion tokens",
    "task_size": "task size",
    "hit_token_limit": "hitting the token limit",
    "is_unparseable": "an unreadable plan",
}


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
class LogisticFit:
    """A penalised logistic fit of ``kept`` on some features over some traces.

    Attributes:
        status: ``ok``, or why there are no weights.
        n_traces: Traces fitted on.
        n_kept: Of those, traces kept.
        effects: One per requested feature, in the requested order.
        intercept: Log-odds at the features' means (None without a fit).
        n_bootstrap_used: Resamples that fitted.
        n_single_class: Resamples skipped because they held one class only.
        n_missing: Traces left out because a requested feature is missing (NaN); counted here so
            they never drop out silently.
        log_odds: Inferred reward of each given row, NaN where left out (empty without a fit).
    """

    status: FitStatus
    n_traces: int
    n_kept: int
    effects: tuple[FeatureEffect, ...] = ()
    intercept: float | None = None
    n_bootstrap_used: int = 0
    n_single_class: int = 0
    n_missing: int = 0
    log_odds: tuple[float, ...] = ()

    def as_dict(self) -> dict[str, object]:
        """Plain dict for ``numbers_json``."""
        return {
            "fit_status": self.status,
            "n_traces": self.n_traces,
            "n_kept": self.n_kept,
            "features": {e.feature: e.as_dict() for e in self.effects},
            "intercept": self.intercept,
            "n_bootstrap_used": self.n_bootstrap_used,
            "n_single_class": self.n_single_class,
            "n_missing_feature": self.n_missing,
        }


@dataclass(frozen=True)
class BootstrapSettings:
    """The settings the bootstrapped-logistic auditors take first, in this order.

    The base of :class:`ImplicitRewardAuditor` and of the attribution, reward-drift and black-box
    auditors (each documents them under Args). A subclass may redeclare ``features`` with its own
    default; the field keeps its place, so the positional order stays ``seed, n_bootstrap,
    features, confidence`` followed by the subclass's own settings.

    Args:
        seed: Bootstrap seed.
        n_bootstrap: Bootstrap resamples per fit.
        features: Feature names; any iterable is stored as a tuple.
        confidence: Coverage of the percentile intervals.
    """

    seed: int = 0
    n_bootstrap: int = 200
    features: tuple[str, ...] = DEFAULT_FEATURES
    confidence: float = 0.95

    def __post_init__(self) -> None:
        # any iterable of names is accepted and stored as a tuple (frozen, hence object.__setattr__)
        object.__setattr__(self, "features", tuple(self.features))


@dataclass(frozen=True)
class ImplicitRewardAuditor(BootstrapSettings):
    """Infers the reward implicit in users' keep decisions by logistic regression.

    Like a scikit-learn estimator, the constructor only stores its arguments; they are checked when
    :meth:`audit` runs.

    Args:
        seed: Seed of the bootstrap; the same run and seed give identical findings (up to
            ``created_at``).
        n_bootstrap: Bootstrap resamples per fit (0 gives weights without intervals).
        features: Columns of :data:`auditors.core.features.FIT_FEATURES` to regress ``kept`` on.
        confidence: Coverage of the percentile intervals, in (0, 1).
        c: Inverse L2 strength, scikit-learn's ``C`` (see the module docstring for why 1).

    Examples:
        >>> auditor = ImplicitRewardAuditor(seed=1, n_bootstrap=50)
        >>> auditor.name, auditor.features
        ('implicit-reward-v1', ('is_valid', 'plan_length'))
    """

    name: ClassVar[str] = AUDITOR_NAME
    min_generations: ClassVar[int] = 1

    c: float = 1.0

    def check_config(self) -> None:
        check_features(self.features)
        if len(set(self.features)) != len(self.features):
            raise AuditorConfigError(f"features repeat a name: {list(self.features)}")
        if not 0 < self.confidence < 1:
            raise AuditorConfigError(f"confidence must lie in (0, 1), got {self.confidence}")
        if self.n_bootstrap < 0:
            raise AuditorConfigError(f"n_bootstrap must be >= 0, got {self.n_bootstrap}")
        if not self.c > 0:
            raise AuditorConfigError(f"c (inverse L2 strength) must be > 0, got {self.c}")

    def audit(self, reader: RunReader) -> list[FindingRow]:
        """Audit one run: a finding for the whole run, then one per generation.

        An empty run (no generations, no curated deployment traces) gives a single ``info`` finding
        saying there is nothing to audit, rather than an empty list, so that re-auditing replaces
        stale findings and a reader can tell "audited, nothing there" from "never audited".

        Args:
            reader: The run; only read.

        Returns:
            Findings in order: whole run (``generation`` None), then generations ascending.

        Raises:
            AuditorConfigError: When the constructor arguments cannot be used.
            simulator.errors.StoreError: When the run store cannot be read.
        """
        self.check_config()
        table = build_feature_table(reader)
        run_id = run_id_of(reader)
        generations = sorted(
            set(table.generations)
            | {int(g) for g in table.frame["generation"].unique()}
            | set(table.n_undecided_by_generation)
        )
        findings = [self._finding(table, None, generations, run_id)]
        findings += [self._finding(table, g, [g], run_id) for g in generations]
        return findings

    # -- fitting ---------------------------------------------------------------------------------

    def fit(self, rows: pd.DataFrame, features: tuple[str, ...], name: str) -> LogisticFit:
        """Fit P(kept | features) on ``rows`` with percentile bootstrap intervals.

        Args:
            rows: Rows of the feature table.
            features: Columns to fit on.
            name: Stable name of this fit (e.g. ``generation-2/valid``); its generator is derived
                from it and the seed.

        Returns:
            The fit; ``status`` says why there are no weights when there are none.
        """
        all_raw = rows[list(features)].to_numpy(dtype=float)
        complete = ~np.isnan(all_raw).any(axis=1)  # e.g. task_size of a task missing from the store
        n_missing = int((~complete).sum())
        raw, y = all_raw[complete], rows["kept"].to_numpy(dtype=int)[complete]
        n_traces, n_kept = len(y), int(y.sum())
        if n_traces == 0:
            return LogisticFit(
                "no-traces", 0, 0, self._effects(features, None, None, None, None), n_missing=n_missing
            )
        mean, sd = raw.mean(axis=0), raw.std(axis=0)
        varying = sd > 0
        if y.min() == y.max() or not varying.any():
            status: FitStatus = "single-class" if y.min() == y.max() else "no-varying-feature"
            effects = self._effects(features, mean, sd, None, None)
            return LogisticFit(status, n_traces, n_kept, effects, n_missing=n_missing)
        x = (raw[:, varying] - mean[varying]) / sd[varying]
        weights, intercept = self._fit_once(x, y)

        draws = self._rng(name).integers(0, len(y), size=(self.n_bootstrap, len(y)))
        boot: list[np.ndarray] = []
        for idx in draws:
            if y[idx].min() != y[idx].max():
                boot.append(self._fit_once(x[idx], y[idx])[0])
        interval = None
        if boot:
            alpha, stacked = 1 - self.confidence, np.vstack(boot)
            interval = (
                _expand(np.percentile(stacked, 100 * alpha / 2, axis=0), varying),
                _expand(np.percentile(stacked, 100 * (1 - alpha / 2), axis=0), varying),
            )
        return LogisticFit(
            "ok",
            n_traces,
            n_kept,
            self._effects(features, mean, sd, _expand(weights, varying), interval, varying),
            intercept,
            n_bootstrap_used=len(boot),
            n_single_class=self.n_bootstrap - len(boot),
            n_missing=n_missing,
            log_odds=tuple(float(v) for v in _scatter(x @ weights + intercept, complete)),
        )

    def _rng(self, name: str) -> np.random.Generator:
        return np.random.default_rng(np.random.SeedSequence([self.seed, zlib.crc32(name.encode())]))

    def _fit_once(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
        model = LogisticRegression(C=self.c, solver="newton-cholesky", max_iter=100, tol=1e-8)
        model.fit(x, y)
        return model.coef_[0].copy(), float(model.intercept_[0])

    @staticmethod
    def _effects(
        features: tuple[str, ...],
        mean: np.ndarray | None,
        sd: np.ndarray | None,
        weights: np.ndarray | None,
        interval: tuple[np.ndarray, np.ndarray] | None,
        varying: np.ndarray | None = None,
    ) -> tuple[FeatureEffect, ...]:
        effects = []
        for i, feature in enumerate(features):
            fitted = weights is not None and varying is not None and bool(varying[i])
            effects.append(
                FeatureEffect(
                    feature,
                    float(weights[i]) if fitted and weights is not None else None,
                    float(interval[0][i]) if fitted and interval is not None else None,
                    float(interval[1][i]) if fitted and interval is not None else None,
                    float(mean[i]) if mean is not None else float("nan"),
                    float(sd[i]) if sd is not None else float("nan"),
                )
            )
        return tuple(effects)

    def strata_fits(self, rows: pd.DataFrame, scope: str) -> dict[str, LogisticFit] | None:
        """Fits of the non-declared features within each validity stratum (None if impossible)."""
        others = tuple(f for f in self.features if f != DECLARED_FEATURE)
        if DECLARED_FEATURE not in self.features or not others:
            return None
        return {
            label: self.fit(
                rows[rows["is_valid"] == value].reset_index(drop=True), others, f"{scope}/{label}"
            )
            for label, value in STRATA
        }

    # -- findings --------------------------------------------------------------------------------

    def _finding(
        self, table: FeatureTable, generation: int | None, generations: list[int], run_id: str | None
    ) -> FindingRow:
        scope = "run" if generation is None else f"generation-{generation}"
        rows = table.scope(generation)
        joint = self.fit(rows, self.features, scope)
        strata = self.strata_fits(rows, scope) if joint.status == "ok" else None
        denominators = table.denominators(generation)
        severity = _severity(joint, strata)
        accept = rows["acceptance_prob"].to_numpy(dtype=float)
        log_odds = np.asarray(joint.log_odds)
        numbers = {
            "scope": "run" if generation is None else "generation",
            **joint.as_dict(),
            "model": {
                "estimator": "sklearn.linear_model.LogisticRegression",
                "solver": "newton-cholesky",
                "penalty": "l2",
                "C": self.c,
                "standardized": True,
                "units": "change in log-odds of being kept per standard deviation of the feature "
                "over the traces fitted",
            },
            "bootstrap": {
                "method": "percentile",
                "resample": "trace",
                "confidence": self.confidence,
                "n_requested": self.n_bootstrap,
                "seed": self.seed,
            },
            "beyond_declared": None
            if strata is None
            else {
                "declared_feature": DECLARED_FEATURE,
                "strata": {label: fit.as_dict() for label, fit in strata.items()},
            },
            "severity_rule": _severity_rule(strata is not None),
            "separation": {
                "kept_implies_valid": bool((rows["is_valid"] >= rows["kept"]).all()),
                "kept_iff_valid": bool((rows["is_valid"] == rows["kept"]).all()),
                "note": "when kept_iff_valid, validity alone separates the classes and the joint "
                "weights of other features are artefacts of the penalty; see beyond_declared",
            },
            "denominators": denominators.as_dict(),
            **({"reason": "no-traces"} if joint.status == "no-traces" else {}),
            "reward_vs_acceptance": {
                "pearson": _correlation(log_odds, accept) if log_odds.size else None,
                "spearman": _correlation(_rank(log_odds), _rank(accept)) if log_odds.size else None,
                "n": int(np.isfinite(log_odds).sum()),
                "note": "correlation between the inferred log-odds and the recorded acceptance "
                "probability A(tau); null when either is constant or there is no fit",
            },
        }
        evidence = {
            "run_id": run_id,
            "generations": generations,
            "n_trace_ids": len(rows),
            "kept_trace_ids_sample": _spread(rows.loc[rows["kept"] == 1, "trace_id"]),
            "not_kept_trace_ids_sample": _spread(rows.loc[rows["kept"] == 0, "trace_id"]),
        }
        return make_finding(
            auditor=self.name,
            kind=KIND,
            severity=severity,
            generation=generation,
            claim=_claim(generation, joint, strata, denominators, severity, self.confidence),
            numbers=numbers,
            evidence=evidence,
        )


def _severity(joint: LogisticFit, strata: dict[str, LogisticFit] | None) -> Severity:
    if joint.status != "ok":
        return "info"
    if strata is not None:
        hidden = any(e.ci_excludes_zero for fit in strata.values() for e in fit.effects)
    else:
        hidden = any(e.ci_excludes_zero for e in joint.effects if e.feature != DECLARED_FEATURE)
    return "medium" if hidden else "info"


def _severity_rule(stratified: bool) -> str:
    if stratified:
        return (
            f"medium when a feature other than {DECLARED_FEATURE} has an interval excluding zero "
            "in a fit within one validity stratum (valid or invalid traces)"
        )
    return (
        f"medium when a feature other than {DECLARED_FEATURE} has an interval excluding zero in "
        f"the joint fit ({DECLARED_FEATURE} is not among the features, or is the only one)"
    )


def _expand(values: np.ndarray, varying: np.ndarray) -> np.ndarray:
    """Values of the fitted (varying) features placed back at their positions, 0 elsewhere."""
    out = np.zeros(len(varying))
    out[varying] = values
    return out


def _scatter(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``values`` placed at the True positions of ``mask``, NaN elsewhere."""
    out = np.full(len(mask), np.nan)
    out[mask] = values
    return out


def _correlation(a: np.ndarray, b: np.ndarray) -> float | None:
    finite = np.isfinite(a) & np.isfinite(b)
    a, b = a[finite], b[finite]
    if len(a) < 2 or np.std(a) == 0 or np.std(b) == 0:
        return None
    return float(np.corrcoef(a, b)[0, 1])


def _rank(values: np.ndarray) -> np.ndarray:
    return pd.Series(values).rank(method="average").to_numpy()


def _spread(ids: pd.Series) -> list[int]:
    """Up to :data:`EVIDENCE_SAMPLE_SIZE` ids, evenly spread over the sorted list (no randomness)."""
    values = sorted(int(v) for v in ids)
    if len(values) <= EVIDENCE_SAMPLE_SIZE:
        return values
    picks = np.linspace(0, len(values) - 1, EVIDENCE_SAMPLE_SIZE).round().astype(int)
    return [values[i] for i in picks]


def join_words(parts: list[str]) -> str:
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def _effect_text(e: FeatureEffect, confidence: float) -> str:
    label = FEATURE_LABELS.get(e.feature, e.feature)
    if e.weight is None:
        return f"{label} does not vary"
    weight = f"weight {e.weight:+.2f} log-odds per SD"
    if e.ci_low is None or e.ci_high is None:
        return f"{label} has {weight} (no bootstrap interval: every resample lost a class)"
    numbers = f"({weight}, {round(100 * confidence)}% CI {e.ci_low:+.2f} to {e.ci_high:+.2f})"
    if not e.ci_excludes_zero:
        return f"{label} shows no clear effect {numbers}"
    direction = "rises with" if e.weight > 0 else "falls with"
    return f"keeping {direction} {label} {numbers}"


def _stratum_text(label: str, fit: LogisticFit, confidence: float) -> str | None:
    if fit.status == "ok":
        effects = join_words([_effect_text(e, confidence) for e in fit.effects])
        return f"among {label} traces, {effects}"
    if fit.status == "single-class" and label == "valid":
        which = "every one" if fit.n_kept == fit.n_traces else "none"
        return f"of the {fit.n_traces} valid traces {which} was kept, so nothing beyond validity shows"
    if fit.status == "no-varying-feature":
        return f"among {label} traces, no other feature varies"
    return None  # no invalid trace kept (the usual case) or no traces: nothing worth a clause


def _claim(
    generation: int | None,
    joint: LogisticFit,
    strata: dict[str, LogisticFit] | None,
    d: Denominators,
    severity: Severity,
    confidence: float,
) -> str:
    where = "Across the run" if generation is None else f"In generation {generation}"
    if joint.status == "no-traces":
        subject = "The run" if generation is None else f"Generation {generation}"
        undecided = f" ({d.n_undecided} deployment traces have no curation decision)" if d.n_undecided else ""
        return f"{subject} has no curated deployment traces{undecided}, so there is nothing to audit."
    if joint.status == "single-class":
        which = f"all {d.n_traces}" if d.n_kept == d.n_traces else f"none of the {d.n_traces}"
        return (
            f"{where}, users kept {which} curated deployment traces, so keeping cannot be "
            "separated by any trace feature and no reward can be inferred."
        )
    if joint.status == "no-varying-feature":
        labels = join_words([FEATURE_LABELS.get(e.feature, e.feature) for e in joint.effects])
        return (
            f"{where}, {labels} did not vary across the {d.n_traces} curated deployment traces, "
            "so no reward can be inferred from them."
        )
    if strata is None:
        clauses = [_effect_text(e, confidence) for e in joint.effects]
    else:
        declared = [e for e in joint.effects if e.feature == DECLARED_FEATURE]
        clauses = [_effect_text(e, confidence) for e in declared]
        clauses += [
            text
            for label, fit in strata.items()
            if (text := _stratum_text(label, fit, confidence)) is not None
        ]
    tail = ", a hint that curation rewards more than validity" if severity == "medium" else ""
    return (
        f"{where}, users kept {d.n_kept} of {d.n_traces} curated deployment traces "
        f"({d.n_valid} valid, {d.n_unparseable} unreadable); {'; '.join(clauses)}{tail}."
    )
