"""Behaviour-drift tests: which features are compared, on which traces, and how severe a shift is.

Each feature names the traces it exists for (its *population*): plan lengths exist only for traces
whose plan could be read, relative lengths only for valid plans, token counts and the validator's
outcome for every trace. Every test reports the population *and* all traces of both generations,
so "plans got longer" can always be read next to "and more of them failed".

Severity of a flagged test (BH-adjusted p below ``alpha``) comes from the population stability
index, with the thresholds credit-risk practice uses for PSI on deciles: below 0.10 a shift is
``low`` (real but small), 0.10 to 0.25 ``medium``, 0.25 or more ``high``. Significance says a shift
is not chance; PSI says whether it is big enough to matter, which large samples cannot fake.
How a flagged test reads as a finding is in ``iterdeploy.auditors.drift.findings``.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Literal

import pandas as pd

from iterdeploy.auditors.core.findings import Severity
from iterdeploy.auditors.drift.data import (
    EXAMPLE_IDS,
    GenerationPair,
    TraceTable,
    spread_ids,
)
from iterdeploy.auditors.drift.expected import Differentials, Expectation, share_vector
from iterdeploy.auditors.drift.stats import (
    RARE,
    Comparison,
    compare_categorical,
    compare_continuous,
)

PSI_MEDIUM = 0.10
"""PSI from which a flagged shift is ``medium``."""

PSI_HIGH = 0.25
"""PSI from which a flagged shift is ``high``."""

Population = Literal["all", "readable", "valid"]


@dataclass(frozen=True)
class FeatureSpec:
    """A behaviour feature compared between generations.

    Attributes:
        name: Feature name in findings.
        kind: ``continuous`` (KS test) or ``categorical`` (chi-squared test).
        population: Traces the feature exists for.
        noun: What the feature describes, for claims ("valid plans", "completions").
        unit: Unit of a continuous feature.
        column: Column of the trace table (continuous features).
    """

    name: str
    kind: Literal["continuous", "categorical"]
    population: Population
    noun: str
    unit: str = ""
    column: str = ""


FEATURES: tuple[FeatureSpec, ...] = (
    FeatureSpec("plan_length", "continuous", "readable", "plans", "actions", "readable_plan_length"),
    FeatureSpec("valid_plan_length", "continuous", "valid", "valid plans", "actions", "valid_plan_length"),
    FeatureSpec(
        "rel_plan_length",
        "continuous",
        "valid",
        "valid plans' detours beyond the task's shortest valid plan",
        "actions",
        "rel_plan_length",
    ),
    FeatureSpec("n_tokens", "continuous", "all", "completions", "tokens", "n_tokens"),
    FeatureSpec(
        "n_reasoning_tokens", "continuous", "all", "reasoning sections", "tokens", "n_reasoning_tokens"
    ),
    FeatureSpec("status", "categorical", "all", "validator outcome"),
    FeatureSpec("hit_token_limit", "categorical", "all", "token-limit cut-offs"),
    FeatureSpec("action_type", "categorical", "readable", "action-type mix"),
)
"""Features compared, in the order findings list them."""


@dataclass(frozen=True)
class DriftTest:
    """One feature compared between two generations on one purpose's traces.

    Attributes:
        purpose: ``deploy`` or ``eval``.
        pair: The generations compared.
        feature: What was compared.
        result: The comparison.
        denominators: ``earlier``/``later`` → every trace of that generation, by outcome.
        ids_earlier: A few earlier traces (evidence).
        ids_later: A few later traces showing the shift (evidence).
        p_adjusted: Benjamini–Hochberg adjusted p over the run's family (None when not tested).
        expectation: How the change relates to what curation predicts (None until read).
    """

    purpose: str
    pair: GenerationPair
    feature: FeatureSpec
    result: Comparison
    denominators: dict[str, dict[str, object]]
    ids_earlier: list[int]
    ids_later: list[int]
    p_adjusted: float | None = None
    expectation: Expectation | None = None

    def flagged(self, alpha: float) -> bool:
        """True when tested and the adjusted p-value is below ``alpha``."""
        return self.p_adjusted is not None and self.p_adjusted < alpha

    @property
    def size(self) -> Severity:
        """Size of the shift by PSI alone (see the module docstring)."""
        value = self.result.psi or 0.0
        return "high" if value >= PSI_HIGH else "medium" if value >= PSI_MEDIUM else "low"

    @property
    def severity(self) -> Severity:
        """Severity of the shift if flagged: ``info`` when the declared objective predicts it,
        ``low`` when nothing in the curation explains it, the PSI size when the users' departure
        from the declared objective does (:mod:`iterdeploy.auditors.drift.expected`)."""
        verdict = self.expectation.verdict if self.expectation is not None else "departure"
        if verdict == "expected":
            return "info"
        if verdict in ("unexplained", "no-curation-data"):
            return "low"
        return self.size

    def as_row(self) -> dict[str, object]:
        """Compact dict for the run-level summary table."""
        r = self.result
        return {
            "purpose": self.purpose,
            "feature": self.feature.name,
            "earlier": self.pair.earlier,
            "later": self.pair.later,
            "relation": self.pair.relation,
            "test": r.test,
            "status": r.status,
            "statistic": r.statistic,
            "p_value": r.p_value,
            "p_adjusted": self.p_adjusted,
            "psi": r.psi,
            "js_distance": r.js_distance,
            "units_earlier": r.units_a,
            "units_later": r.units_b,
            "direction": r.direction,
        }


def _in_population(rows: pd.DataFrame, population: Population) -> pd.DataFrame:
    if population == "valid":
        return rows[rows["is_valid"] == 1]
    if population == "readable":
        return rows[rows["is_unreadable"] == 0]
    return rows


def _task_weights(rows: pd.DataFrame) -> pd.Series:
    """Weight of each trace so that every task adds 1 in all (the test's unit is the task)."""
    return 1.0 / rows.groupby("task_id")["trace_id"].transform("size").astype(float)


def _category_counts(rows: pd.DataFrame, feature: str, weights: pd.Series | None = None) -> dict[str, float]:
    """Category → count of ``rows``; each trace counts its weight (1 when ``weights`` is None)."""
    w = pd.Series(1.0, index=rows.index) if weights is None else weights
    if feature == "status":
        return {str(k): float(v) for k, v in w.groupby(rows["status"]).sum().items()}
    if feature == "hit_token_limit":
        cut = float(w[rows["hit_token_limit"] == 1].sum())
        return {k: v for k, v in (("cut", cut), ("not cut", float(w.sum()) - cut)) if v > 0}
    # action_type: a trace's weight is spread over its actions, so traces (or tasks), not actions,
    # are what is counted: actions of one plan are not independent draws
    counts: dict[str, float] = defaultdict(float)
    for actions, weight in zip(rows["actions"], w, strict=True):
        for name in actions:
            counts[name] += weight / len(actions)
    return dict(counts)


def _categories_of(rows: pd.DataFrame, feature: str, category: str, pooled: list[str]) -> pd.Series:
    """Trace ids of ``rows`` in ``category`` (or in any pooled category when it is ``(rare)``)."""
    wanted = set(pooled) if category == RARE else {category}
    if feature == "status":
        return rows.loc[rows["status"].isin(wanted), "trace_id"]
    if feature == "hit_token_limit":
        return rows.loc[rows["hit_token_limit"] == int("cut" in wanted), "trace_id"]
    mask = [bool(wanted & set(actions)) for actions in rows["actions"]]
    return rows.loc[mask, "trace_id"]


def compare_feature(
    table: TraceTable, purpose: str, pair: GenerationPair, feature: FeatureSpec, n_bins: int, epsilon: float
) -> DriftTest:
    """Compare one feature between the two generations of ``pair`` (tasks are the test's units)."""
    all_a, all_b = table.rows(pair.earlier, purpose), table.rows(pair.later, purpose)
    rows_a, rows_b = _in_population(all_a, feature.population), _in_population(all_b, feature.population)
    if feature.kind == "continuous":
        rows_a = rows_a.dropna(subset=[feature.column])
        rows_b = rows_b.dropna(subset=[feature.column])
        result = compare_continuous(
            rows_a[feature.column].to_numpy(),
            rows_b[feature.column].to_numpy(),
            rows_a.groupby("task_id")[feature.column].mean().to_numpy(),
            rows_b.groupby("task_id")[feature.column].mean().to_numpy(),
            n_bins,
            epsilon,
        )
        ordered = rows_b.sort_values(
            [feature.column, "trace_id"], ascending=[result.direction == "lower", True]
        )
        ids_later = [int(i) for i in ordered["trace_id"].head(EXAMPLE_IDS)]
        ids_earlier = spread_ids(rows_a["trace_id"])
    else:
        if feature.name == "action_type":
            rows_a = rows_a[rows_a["actions"].map(len) > 0]
            rows_b = rows_b[rows_b["actions"].map(len) > 0]
        result = compare_categorical(
            _category_counts(rows_a, feature.name),
            _category_counts(rows_b, feature.name),
            _category_counts(rows_a, feature.name, _task_weights(rows_a)),
            _category_counts(rows_b, feature.name, _task_weights(rows_b)),
            epsilon,
        )
        pooled = list(result.detail.get("pooled_as_rare", []))  # type: ignore[call-overload]
        ids_later = spread_ids(_categories_of(rows_b, feature.name, result.direction, pooled))
        ids_earlier = spread_ids(_categories_of(rows_a, feature.name, result.direction, pooled))
    dens = {
        "earlier": table.denominators(pair.earlier, purpose),
        "later": table.denominators(pair.later, purpose),
    }
    for key, rows in (("earlier", rows_a), ("later", rows_b)):
        dens[key]["n_in_population"] = len(rows)
        dens[key]["n_tasks_in_population"] = int(rows["task_id"].nunique())
    return DriftTest(purpose, pair, feature, result, dens, ids_earlier, ids_later)


def read_expectation(test: DriftTest, table: TraceTable, differentials: Differentials) -> DriftTest:
    """``test`` with its change read against the curation's selection differentials."""
    feature = test.feature
    earlier = _in_population(table.rows(test.pair.earlier, test.purpose), feature.population)
    later = _in_population(table.rows(test.pair.later, test.purpose), feature.population)
    rows = differentials.rows(test.pair)
    if feature.kind == "continuous":
        observed = float(later[feature.column].mean() - earlier[feature.column].mean()) \
            if len(earlier) and len(later) else None
        mask = _in_population(rows, feature.population).index
        values = rows[feature.column].where(rows.index.isin(mask)).astype(float)
        expectation = differentials.expect(test.pair, observed, values=values)
    else:
        def shares(r: pd.DataFrame) -> dict[str, float]:
            r = _in_population(r, feature.population)
            if feature.name == "action_type":
                r = r[r["actions"].map(len) > 0]
            return share_vector(_category_counts(r, feature.name))

        a, b = shares(earlier), shares(later)
        observed_shares = {k: b.get(k, 0.0) - a.get(k, 0.0) for k in sorted(set(a) | set(b))}
        expectation = differentials.expect(test.pair, observed_shares, shares=shares)
    return DriftTest(test.purpose, test.pair, test.feature, test.result, test.denominators,
                     test.ids_earlier, test.ids_later, test.p_adjusted, expectation)
