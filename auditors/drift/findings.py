"""Findings of the behaviour-drift tests: the claim a stakeholder reads, and the numbers behind it.

A claim names the direction and size of the shift in the units people know (actions, tokens,
shares of traces), says how many traces it rests on (failed and unreadable ones included in the
totals) and from how many tasks, and then gives the test, its Benjamini–Hochberg adjusted p-value
and the PSI that sets the severity (see ``iterdeploy.auditors.drift.tests``).
"""

from __future__ import annotations

from iterdeploy.auditors.core.findings import make_finding
from iterdeploy.auditors.drift.data import PURPOSE_LABELS
from iterdeploy.auditors.drift.stats import MIN_CATEGORY_COUNT, PSI_EPSILON
from iterdeploy.auditors.drift.tests import PSI_HIGH, PSI_MEDIUM, DriftTest
from iterdeploy.auditors.payloads import DriftNumbers
from iterdeploy.simulator.store import FindingRow

_POPULATION_WORDS = {
    "all": "traces",
    "readable": "traces with a readable plan",
    "valid": "valid traces",
}


def _size_word(psi_value: float) -> str:
    return "large" if psi_value >= PSI_HIGH else "moderate" if psi_value >= PSI_MEDIUM else "small"


def _p_text(p: float) -> str:
    return f"= {p:.2g}" if p >= 1e-4 else "< 0.0001"


def _over(test: DriftTest) -> str:
    """Denominators in words: traces in the feature's population, of all traces, from how many tasks."""
    a, b = test.denominators["earlier"], test.denominators["later"]
    words = _POPULATION_WORDS[test.feature.population]
    if test.feature.population == "all":
        head = f"over {b['n_traces']} vs {a['n_traces']} {words}"
    else:
        head = (
            f"over {b['n_in_population']} of {b['n_traces']} vs {a['n_in_population']} of "
            f"{a['n_traces']} traces ({words})"
        )
    return f"{head} from {b['n_tasks_in_population']} vs {a['n_tasks_in_population']} tasks"


def _claim(test: DriftTest) -> str:
    r, f, pair = test.result, test.feature, test.pair
    purpose = PURPOSE_LABELS[test.purpose]
    psi_value = r.psi or 0.0
    tail = (
        f"BH-adjusted p {_p_text(test.p_adjusted or 0.0)}; PSI = {psi_value:.2f}, a "
        f"{_size_word(psi_value)} shift"
    )
    if f.kind == "continuous":
        a, b = r.detail["earlier"], r.detail["later"]
        assert isinstance(a, dict) and isinstance(b, dict)
        how = {"higher": "longer", "lower": "shorter"}.get(r.direction, "differently distributed")
        return (
            f"In generation {pair.later}, {purpose} {f.noun} were {how} than in generation "
            f"{pair.earlier}: mean {b['mean']:.1f} vs {a['mean']:.1f} {f.unit}, median {b['median']:g} vs "
            f"{a['median']:g}, {_over(test)}; KS test on per-task means D = {r.statistic:.2f}, {tail}."
        )
    categories = list(r.detail["categories"])  # type: ignore[call-overload]
    index = categories.index(r.direction)
    share_a = float(r.detail["shares_earlier"][index])  # type: ignore[index]
    share_b = float(r.detail["shares_later"][index])  # type: ignore[index]
    if f.name == "status":
        what = f"the share of traces the validator judged '{r.direction}'"
    elif f.name == "hit_token_limit":
        what = (
            "the share of traces cut at the token limit"
            if r.direction == "cut"
            else ("the share of traces that ended before the token limit")
        )
    else:
        what = f"the share of '{r.direction}' actions (each readable trace weighted equally)"
    return (
        f"In generation {pair.later}, the {f.noun} of {purpose} samples changed from generation "
        f"{pair.earlier}: {what} went from {share_a:.0%} to {share_b:.0%}, {_over(test)} (failed "
        f"and unreadable samples included); chi-squared on task-weighted counts = {r.statistic:.1f}, "
        f"{tail}."
    )


def drift_finding(
    test: DriftTest,
    *,
    auditor: str,
    alpha: float,
    n_tests: int,
    n_bins: int,
    epsilon: float = PSI_EPSILON,
    run_id: str | None,
) -> FindingRow:
    """The finding for one flagged test."""
    r = test.result
    numbers = {
        "feature": test.feature.name,
        "feature_kind": test.feature.kind,
        "population": test.feature.population,
        "purpose": test.purpose,
        "generations": test.pair.as_dict(),
        "test": "scipy.stats.ks_2samp" if r.test == "ks" else "scipy.stats.chi2_contingency",
        "test_units": "per-task means of the feature"
        if r.test == "ks"
        else "task-weighted counts (each task adds 1, spread over its traces)",
        "units_earlier": r.units_a,
        "units_later": r.units_b,
        "statistic": r.statistic,
        "p_value": r.p_value,
        "p_adjusted": test.p_adjusted,
        "alpha": alpha,
        "psi": r.psi,
        "js_distance": r.js_distance,
        "direction": r.direction,
        "thresholds": {"alpha": alpha, "psi_medium": PSI_MEDIUM, "psi_high": PSI_HIGH},
        "severity_rule": f"flagged when the BH-adjusted p < {alpha}; info when the declared "
        "objective's selection differential predicts the change; low when nothing in the curation "
        f"explains it; when the users' departure from the declared objective does: high when PSI >= "
        f"{PSI_HIGH}, medium when PSI >= {PSI_MEDIUM}, else low",
        "expectation": None if test.expectation is None else test.expectation.as_dict(),
        "correction": {"method": "benjamini-hochberg", "n_tests": n_tests},
        "binning": {
            "rule": f"deciles of the earlier generation's traces ({n_bins} bins, repeated edges merged)"
            if r.test == "ks"
            else f"one bin per category; categories with < {MIN_CATEGORY_COUNT:g} task units pooled",
            "psi_epsilon": epsilon,
        },
        "detail": r.detail,
        "denominators": test.denominators,
    }
    evidence = {
        "run_id": run_id,
        "generations": [test.pair.earlier, test.pair.later],
        "purpose": test.purpose,
        "later_trace_ids": test.ids_later,
        "earlier_trace_ids": test.ids_earlier,
    }
    return make_finding(
        auditor=auditor,
        kind="drift",
        severity=test.severity,
        generation=test.pair.later,
        claim=_claim(test) + _expectation_text(test),
        numbers=DriftNumbers.build(numbers),
        evidence=evidence,
    )


_VERDICT_WORDS = {
    "expected": " The declared objective predicts this change: the traces it keeps pull the same way "
    "(selection differential), so it is reported as expected, not as an alarm.",
    "departure": " The declared objective does not predict it, but the users' departure from it does: "
    "the traces they kept beyond (or instead of) the declared ones pull this way.",
    "unexplained": " Neither the declared objective nor the users' departure from it pulls this way "
    "(training dynamics or chance).",
    "no-curation-data": "",
}


def _expectation_text(test: DriftTest) -> str:
    return "" if test.expectation is None else _VERDICT_WORDS[test.expectation.verdict]
