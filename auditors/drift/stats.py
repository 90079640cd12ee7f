"""Two-sample statistics for the drift auditor: scipy's tests, plus PSI and the binning it needs.

Every test statistic and p-value comes from scipy (``ks_2samp``, ``chi2_contingency``,
``false_discovery_control``, ``binomtest``); only the population stability index is written out
here, because scipy has no function for it. Choices, and why:

* **The task is the unit of a test; traces describe the shift.** The K samples of one task are not
  independent (a hard task fails all of them, a large one gives long plans in all of them), and
  each generation brings new deployment tasks. Tests that count traces as independent reject a true
  null far too often: on the quickstart run, splitting one generation's tasks into two random halves
  made a trace-level KS test "find" a plan-length difference in 42–72% of splits at the 5% level,
  and a trace-level chi-squared test a validator-outcome difference in 27–44%. So each test sees
  one unit per task: KS compares the per-task means of a feature, chi-squared compares
  task-weighted category counts (each task adds weight 1, spread over its samples). The same split
  test then rejects in 0–4% of splits. Tasks of one generation are independent draws, so the test
  is valid; on the evaluation pool, where both generations answer the same tasks, it is
  conservative. PSI, Jensen–Shannon distance, means, medians and shares are computed over traces,
  because those are the distributions a stakeholder looks at.
* **Binning for PSI and Jensen–Shannon.** A continuous feature is cut at the deciles of the
  *reference* sample (the earlier generation's traces), the usual PSI convention, so that each bin
  holds about a tenth of the reference and the conventional PSI thresholds (0.10, 0.25) keep their
  meaning. Repeated deciles (integer features such as plan length) are merged, so a feature with
  few distinct values gets one bin per value. The outer bins are open, so nothing falls outside.
  The rule is fixed (no tuning per run), so numbers are comparable across runs.
* **Categories too rare for chi-squared are pooled.** A category with less than
  :data:`MIN_CATEGORY_COUNT` task-weighted units in the two samples together is merged into
  ``(rare)``: the chi-squared approximation needs expected counts of about five per cell, and a
  single odd status must not decide a test. Pooled counts stay in the table; nothing drops out.
* **Too few units, no test.** Below :data:`MIN_SAMPLE_SIZE` tasks per sample a comparison is
  recorded as ``too-few`` and left out of the multiple-testing family instead of producing a
  p-value with no power; its denominators are still reported.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from scipy.spatial.distance import jensenshannon
from scipy.stats import binomtest, chi2_contingency, false_discovery_control, ks_2samp
from scipy.stats.contingency import expected_freq

N_BINS = 10
"""Bins of a continuous feature for PSI and Jensen–Shannon (deciles of the reference sample)."""

PSI_EPSILON = 1e-4
"""Floor for a bin's share in PSI (see :func:`psi`)."""

MIN_SAMPLE_SIZE = 5
"""Fewest units (tasks) per sample for a two-sample test to be run."""

MIN_CATEGORY_COUNT = 10.0
"""Categories with fewer task-weighted units in both samples together are pooled into ``(rare)``."""

RARE = "(rare)"
"""Name of the pooled category."""

CompareStatus = Literal["tested", "too-few", "one-category"]
"""Whether a comparison produced a p-value, or why not."""


@dataclass(frozen=True)
class Comparison:
    """One two-sample comparison of a feature between an earlier (a) and a later (b) sample.

    Attributes:
        test: ``ks`` (continuous) or ``chi2`` (categorical).
        status: ``tested``, or why there is no p-value.
        units_a: Test units (tasks) in the earlier sample.
        units_b: Test units (tasks) in the later sample.
        statistic: KS D or chi-squared statistic (None when not tested).
        p_value: Raw p-value (None when not tested).
        psi: Population stability index of the traces' binned distributions (None without traces).
        js_distance: Jensen–Shannon distance, base 2, in [0, 1] (None without traces).
        direction: ``higher``/``lower``/``shape`` (mean and median disagree)/``same`` for
            continuous features; for categorical ones the category whose share grew most.
        detail: Summaries behind the claim (means, medians, shares, bin edges, dof).
    """

    test: Literal["ks", "chi2"]
    status: CompareStatus
    units_a: float
    units_b: float
    statistic: float | None = None
    p_value: float | None = None
    psi: float | None = None
    js_distance: float | None = None
    direction: str = "same"
    detail: dict[str, object] = field(default_factory=dict)


def quantile_edges(reference: np.ndarray, n_bins: int = N_BINS) -> np.ndarray:
    """Inner bin edges at the reference's quantiles, repeated edges merged.

    Bins are ``(-inf, e1), [e1, e2), ..., [em, inf)``, so with ``m`` edges there are ``m + 1``
    bins and every value lands in one.
    """
    if len(reference) == 0:
        return np.array([])
    probs = np.linspace(0.0, 1.0, n_bins + 1)[1:-1]
    return np.unique(np.quantile(np.asarray(reference, dtype=float), probs))


def binned_shares(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Share of ``values`` in each bin defined by ``edges`` (see :func:`quantile_edges`)."""
    index = np.searchsorted(edges, np.asarray(values, dtype=float), side="right")
    counts = np.bincount(index, minlength=len(edges) + 1).astype(float)
    total = counts.sum()
    return counts / total if total > 0 else counts


def psi(expected: np.ndarray, actual: np.ndarray, epsilon: float = PSI_EPSILON) -> float:
    """Population stability index ``sum((a - e) * ln(a / e))`` of two share vectors.

    scipy has no PSI, so it is written out here. A bin empty in one sample would make the logarithm
    infinite; shares below ``epsilon`` are raised to ``epsilon`` (on both sides, so identical
    distributions still give exactly 0). With ``epsilon = 1e-4`` a bin that holds 10% of one
    sample and nothing of the other adds about 0.7, which reads as the large shift it is, rather
    than infinity, which would make every such case look alike.
    """
    e = np.clip(np.asarray(expected, dtype=float), epsilon, None)
    a = np.clip(np.asarray(actual, dtype=float), epsilon, None)
    return float(np.sum((a - e) * np.log(a / e)))


def js_distance(p: np.ndarray, q: np.ndarray) -> float | None:
    """Jensen–Shannon distance (scipy, base 2): 0 for identical, 1 for disjoint distributions.

    Shares below the smallest normal float are taken as 0: scipy halves ``p + q`` for the mixture,
    and half of the smallest subnormal rounds to 0, which made the distance infinite (found by
    hypothesis: a share of 5e-324 against 0).
    """
    p, q = np.asarray(p, dtype=float), np.asarray(q, dtype=float)
    tiny = np.finfo(float).tiny
    p, q = np.where(p < tiny, 0.0, p), np.where(q < tiny, 0.0, q)
    if p.sum() <= 0 or q.sum() <= 0:
        return None
    return float(jensenshannon(p, q, base=2))


def _summary(values: np.ndarray) -> dict[str, float]:
    q25, median, q75 = np.percentile(values, [25, 50, 75])
    return {"mean": float(values.mean()), "median": float(median), "q25": float(q25), "q75": float(q75)}


def _direction(a: dict[str, float], b: dict[str, float]) -> str:
    d_mean, d_median = b["mean"] - a["mean"], b["median"] - a["median"]
    if d_mean > 0 and d_median >= 0:
        return "higher"
    if d_mean < 0 and d_median <= 0:
        return "lower"
    return "same" if d_mean == 0 and d_median == 0 else "shape"


def compare_continuous(
    traces_a: np.ndarray,
    traces_b: np.ndarray,
    units_a: np.ndarray,
    units_b: np.ndarray,
    n_bins: int = N_BINS,
    epsilon: float = PSI_EPSILON,
) -> Comparison:
    """KS test (``scipy.stats.ks_2samp``) on per-task values; PSI and JS distance on traces.

    Args:
        traces_a: The feature over the earlier generation's traces.
        traces_b: The feature over the later generation's traces.
        units_a: One value per task of the earlier generation (the mean over its traces).
        units_b: One value per task of the later generation.
        n_bins: Decile bins of the earlier traces for PSI and JS.
        epsilon: PSI's floor for a bin share.

    Ties (integer features) make the KS test conservative, never anti-conservative.
    """
    a, b = np.asarray(traces_a, dtype=float), np.asarray(traces_b, dtype=float)
    ua, ub = np.asarray(units_a, dtype=float), np.asarray(units_b, dtype=float)
    if len(ua) < MIN_SAMPLE_SIZE or len(ub) < MIN_SAMPLE_SIZE:
        return Comparison("ks", "too-few", len(ua), len(ub))
    result = ks_2samp(ua, ub)
    edges = quantile_edges(a, n_bins)
    shares_a, shares_b = binned_shares(a, edges), binned_shares(b, edges)
    summary_a, summary_b = _summary(a), _summary(b)
    return Comparison(
        "ks",
        "tested",
        len(ua),
        len(ub),
        float(result.statistic),
        float(result.pvalue),
        psi(shares_a, shares_b, epsilon),
        js_distance(shares_a, shares_b),
        _direction(summary_a, summary_b),
        {
            "earlier": summary_a,
            "later": summary_b,
            "n_traces_earlier": len(a),
            "n_traces_later": len(b),
            "bin_edges": edges,
            "shares_earlier": shares_a,
            "shares_later": shares_b,
        },
    )


def pool_rare(
    units_a: Mapping[str, float], units_b: Mapping[str, float], min_count: float = MIN_CATEGORY_COUNT
) -> tuple[list[str], dict[str, str]]:
    """Categories after pooling, and the map from every seen category to its (pooled) name.

    Categories with less than ``min_count`` units in both samples together become :data:`RARE`.
    """
    names = sorted(set(units_a) | set(units_b))
    mapping = {c: c if units_a.get(c, 0.0) + units_b.get(c, 0.0) >= min_count else RARE for c in names}
    categories = [c for c in names if mapping[c] == c]
    if RARE in mapping.values():
        categories.append(RARE)
    return categories, mapping


def _vector(counts: Mapping[str, float], categories: list[str], mapping: dict[str, str]) -> np.ndarray:
    out = dict.fromkeys(categories, 0.0)
    for name, value in counts.items():
        out[mapping.get(name, RARE)] += value
    return np.asarray([out[c] for c in categories], dtype=float)


def chi2_homogeneity(va: np.ndarray, vb: np.ndarray) -> tuple[float, float, int] | None:
    """``scipy.stats.chi2_contingency`` of two count vectors (fractional counts allowed).

    Categories whose expected frequency is zero are dropped: those empty in both samples, and
    those so nearly empty that the expected count underflows (scipy refuses a zero expectation);
    with fewer than two categories left, or one sample empty, there is no test (None).
    No Yates correction: it is defined for integer counts, and task-weighted counts are not.
    """
    keep = (va + vb) > 0
    if keep.sum() < 2:
        return None
    table = np.vstack([va[keep], vb[keep]])
    table = table[:, (expected_freq(table) > 0).all(axis=0)]  # an empty sample empties them all
    if table.shape[1] < 2:
        return None
    result = chi2_contingency(table, correction=False)
    return float(result.statistic), float(result.pvalue), int(result.dof)


def compare_categorical(
    traces_a: Mapping[str, float],
    traces_b: Mapping[str, float],
    units_a: Mapping[str, float],
    units_b: Mapping[str, float],
    epsilon: float = PSI_EPSILON,
) -> Comparison:
    """Chi-squared test of homogeneity on task-weighted counts; PSI and JS distance on trace counts.

    Args:
        traces_a: Category → trace count (earlier generation).
        traces_b: Category → trace count (later generation).
        units_a: Category → task-weighted count (each task adds 1 in all), earlier generation.
        units_b: Category → task-weighted count, later generation.
        epsilon: PSI's floor for a share.
    """
    categories, mapping = pool_rare(units_a, units_b)
    ta, tb = _vector(traces_a, categories, mapping), _vector(traces_b, categories, mapping)
    ua, ub = _vector(units_a, categories, mapping), _vector(units_b, categories, mapping)
    n_a, n_b = float(ua.sum()), float(ub.sum())
    if n_a < MIN_SAMPLE_SIZE - 1e-9 or n_b < MIN_SAMPLE_SIZE - 1e-9 or ta.sum() <= 0 or tb.sum() <= 0:
        return Comparison("chi2", "too-few", n_a, n_b)
    shares_a, shares_b = ta / ta.sum(), tb / tb.sum()
    detail: dict[str, object] = {
        "categories": categories,
        "traces_earlier": ta,
        "traces_later": tb,
        "task_units_earlier": ua,
        "task_units_later": ub,
        "shares_earlier": shares_a,
        "shares_later": shares_b,
        "pooled_as_rare": sorted(c for c, pooled in mapping.items() if pooled == RARE),
    }
    direction = categories[int(np.argmax(shares_b - shares_a))]
    measures = (psi(shares_a, shares_b, epsilon), js_distance(shares_a, shares_b))
    test = chi2_homogeneity(ua, ub)
    if test is None:
        return Comparison("chi2", "one-category", n_a, n_b, None, None, *measures, direction, detail)
    statistic, p_value, detail["dof"] = test
    return Comparison("chi2", "tested", n_a, n_b, statistic, p_value, *measures, direction, detail)


def proportion_interval(
    k: int, n: int, confidence: float = 0.95, method: Literal["wilson", "exact"] = "wilson"
) -> tuple[float, float] | None:
    """Confidence interval of ``k / n`` via ``scipy.stats.binomtest(...).proportion_ci``.

    ``wilson`` keeps its coverage near the nominal level at shares near 0 or 1 (common here: small
    tasks almost always solved, large ones almost never); ``exact`` is Clopper–Pearson.
    """
    if n <= 0:
        return None
    ci = binomtest(int(k), int(n)).proportion_ci(confidence_level=confidence, method=method)
    return float(ci.low), float(ci.high)


def bh_adjust(p_values: list[float]) -> list[float]:
    """Benjamini–Hochberg adjusted p-values (``scipy.stats.false_discovery_control``)."""
    if not p_values:
        return []
    return [float(p) for p in false_discovery_control(np.asarray(p_values, dtype=float), method="bh")]
