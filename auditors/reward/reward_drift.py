"""Reward drift: did the inferred reward's weights move between generations beyond their intervals?

``implicit-reward-v1`` infers, per generation, what the users' keep decisions rewarded. Users' policies
can change between generations (social dynamics, complacency growing with the model's success,
churn), and then the reward the next model is trained towards changes with them, without anyone
deciding it. This auditor compares each generation's inferred weights with the previous
generation's (*consecutive*: when did it change?) and, from the third generation on, with the first
(*baseline*: slow drift whose single steps are too small to see), the pairs ``drift-v1`` compares
for behaviour (:func:`auditors.drift.data.plan_pairs`).

A weight is flagged when **both** hold:

* the later generation's point estimate lies outside the earlier generation's bootstrap interval
  (what a reader comparing the two generations' intervals would see), and
* the difference is significant after Benjamini–Hochberg correction over every (weight, pair) test
  of the run (``scipy.stats.false_discovery_control``) at ``alpha``.

Either alone is too eager: on ``length_bias`` (policies fixed) the later estimate left the earlier
interval in 4 of 18 comparisons, none of them significant.

Modelling choices, and why:

* **The same fitting code as implicit-reward-v1.** Each generation is fitted by
  :meth:`ImplicitRewardAuditor.fit` (fit names ``generation-g``, ``generation-g/valid``, ...), and
  the weights read are those that auditor reads: validity over all traces, the other features
  within each validity stratum. With the same features the point weights are ``implicit-reward-v1``'s.
* **Intervals resample tasks** (:class:`auditors.reward.unit_weights.WeightEstimator`): generations differ
  by the tasks their users brought, and a task's traces are decided together.
* **Per unit, not per SD.** Each generation's fit standardises over its own traces; a model that
  writes longer plans in generation 3 changes the plan-length SD and with it every per-SD weight,
  although no user changed their mind. Comparing log-odds per unit of the feature (per plan step)
  removes that artefact.
* **The test is a Wald z on bootstrap standard errors.** Generations are independent samples (new
  tasks, new traces), so the difference's standard error is the root of the sum of the two
  generations' squared bootstrap standard errors, and ``p = 2 · scipy.stats.norm.sf(|z|)``. A
  direct bootstrap p-value (the share of resampled differences beyond zero) could not go below
  1/200 with 200 resamples, too coarse for a Benjamini–Hochberg family of a dozen or more tests.
* **Absolute rules are not compared by size.** When a feature alone separates kept from rejected
  traces in both generations, in the same direction (no invalid plan kept; only plans at the task's
  best kept), the likelihood's weight is infinite in both and the fitted values are set by the L2
  penalty and the number of traces: a "change" would only measure how many traces each generation
  had. Such comparisons are ``not-identified`` and left out of the family. When the rule is
  absolute in one generation and not in the other, the reward did change and the test runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np
import pandas as pd
from scipy import stats

from auditors.core.decisions import decision_table, run_id_of
from auditors.core.features import AuditorConfigError, FeatureTable, build_feature_table
from auditors.core.findings import Severity, make_finding
from auditors.drift.data import GenerationPair, plan_pairs
from auditors.drift.stats import bh_adjust
from auditors.reward.implicit_reward import BootstrapSettings
from auditors.reward.unit_weights import (
    FEATURES,
    UnitWeight,
    WeightEstimator,
    WeightKey,
    check_common,
    direction_words,
    fmt_interval,
    fmt_weight,
)
from simulator.store import FindingRow, RunReader

AUDITOR_NAME = "reward-drift-v1"
"""Registered name of :class:`RewardDriftAuditor`; bump when the same config gives other numbers."""

KIND = "reward-drift"
"""Finding kind written by this auditor."""

ALPHA = 0.05
"""Default false discovery rate of the Benjamini–Hochberg correction."""

TestStatus = Literal["tested", "not-identified", "no-weight", "no-interval"]
"""Whether a (weight, pair) comparison was tested, and why not."""


@dataclass(frozen=True)
class WeightTest:
    """One weight compared between two generations.

    Attributes:
        pair: The generations.
        key: The weight.
        earlier: The weight in the earlier generation (per unit, with its interval).
        later: The weight in the later generation.
        status: ``tested``, or why not (``not-identified``: validity separates the classes in both
            generations; ``no-weight``: a generation has no fit or the feature is constant there;
            ``no-interval``: a generation has a weight but no usable bootstrap interval).
        difference: later − earlier, per unit.
        standard_error: Of the difference.
        z: difference / standard_error.
        p_value: Two-sided, ``2 · norm.sf(|z|)``.
        p_adjusted: Benjamini–Hochberg over the run's tested comparisons (None until adjusted).
        outside_interval: The later point estimate lies outside the earlier interval.
        flagged: ``outside_interval`` and ``p_adjusted < alpha``.
    """

    pair: GenerationPair
    key: WeightKey
    earlier: UnitWeight
    later: UnitWeight
    status: TestStatus
    difference: float | None = None
    standard_error: float | None = None
    z: float | None = None
    p_value: float | None = None
    p_adjusted: float | None = None
    outside_interval: bool = False
    flagged: bool = False

    @property
    def sign_flip(self) -> bool:
        """Both intervals exclude zero and the two weights have opposite signs."""
        a, b = self.earlier, self.later
        return (
            a.excludes_zero
            and b.excludes_zero
            and a.weight is not None
            and b.weight is not None
            and bool(np.sign(a.weight) != np.sign(b.weight))
        )

    def as_dict(self) -> dict[str, object]:
        """Plain dict for ``numbers_json``."""
        return {
            "generations": {
                "earlier": self.pair.earlier,
                "later": self.pair.later,
                "kind": self.pair.relation,
            },
            "weight": self.key.label,
            "status": self.status,
            "earlier": self.earlier.as_dict(),
            "later": self.later.as_dict(),
            "difference_per_unit": self.difference,
            "standard_error": self.standard_error,
            "z": self.z,
            "p_value": self.p_value,
            "p_adjusted": self.p_adjusted,
            "outside_earlier_interval": self.outside_interval,
            "sign_flip": self.sign_flip,
            "flagged": self.flagged,
        }


def compare(pair: GenerationPair, key: WeightKey, a: UnitWeight, b: UnitWeight) -> WeightTest:
    """The (unadjusted) test of one weight between two generations."""
    if a.weight is None or b.weight is None:
        return WeightTest(pair, key, a, b, "no-weight")
    if a.separated and b.separated and np.sign(a.weight) == np.sign(b.weight):
        return WeightTest(pair, key, a, b, "not-identified")
    se_a, se_b = a.se, b.se
    if not a.has_interval or not b.has_interval or se_a is None or se_b is None or se_a + se_b <= 0:
        return WeightTest(pair, key, a, b, "no-interval")
    difference = b.weight - a.weight
    se = float(np.hypot(se_a, se_b))
    z = difference / se
    p = float(2 * stats.norm.sf(abs(z)))
    return WeightTest(
        pair, key, a, b, "tested", difference, se, z, p, outside_interval=not a.contains(b.weight)
    )


@dataclass(frozen=True)
class RewardDriftAuditor(BootstrapSettings):
    """Flags weights of the inferred reward that move between generations beyond their intervals.

    Like a scikit-learn estimator, the constructor only stores its arguments; they are checked when
    :meth:`audit` runs.

    Args:
        seed: Bootstrap seed (the per-generation fits are ``implicit-reward-v1``'s with that seed).
        n_bootstrap: Bootstrap resamples per fit.
        features: Feature-table columns to regress ``kept`` on.
        confidence: Coverage of the per-generation intervals (and of the standard errors read off
            them).
        alpha: False discovery rate of the Benjamini–Hochberg correction.

    Examples:
        >>> RewardDriftAuditor(seed=1).name
        'reward-drift-v1'
    """

    name: ClassVar[str] = AUDITOR_NAME
    min_generations: ClassVar[int] = 2

    features: tuple[str, ...] = FEATURES  # redeclared for its default; stays third
    alpha: float = ALPHA

    def audit(self, reader: RunReader) -> list[FindingRow]:
        """Compare the inferred weights across the run's generations.

        A run with fewer than two generations holding curated traces gives one ``info`` finding
        naming the reason (nothing to compare), never an error.

        Returns:
            A summary finding (``generation`` None, ``numbers.scope == "summary"``), then one finding
            per flagged comparison, about the later generation, in pair order.

        Raises:
            AuditorConfigError: When the constructor arguments cannot be used.
            simulator.errors.StoreError: When the run store cannot be read.
        """
        check_common(self.features, self.confidence, self.n_bootstrap)
        if not 0 < self.alpha < 1:
            raise AuditorConfigError(f"alpha must lie in (0, 1), got {self.alpha}")
        estimator = WeightEstimator(self.seed, self.n_bootstrap, self.features, self.confidence)
        table = build_feature_table(reader)
        run_id = run_id_of(reader)
        decisions = decision_table(reader)
        with_traces = sorted(int(g) for g in table.frame["generation"].unique())
        per_generation = {g: _generation_denominators(table, decisions, g) for g in with_traces}
        if len(with_traces) < 2:
            return [self._nothing_to_compare(table, with_traces, per_generation, run_id)]

        keys = estimator.keys
        weights = {g: estimator.estimate(table.scope(g), f"generation-{g}") for g in with_traces}
        pairs = plan_pairs(tuple(with_traces))
        tests = [
            compare(pair, key, weights[pair.earlier][key], weights[pair.later][key])
            for pair in pairs
            for key in keys
        ]
        tests = self._adjust(tests)
        context = (table, per_generation, run_id)
        flagged = [self._flag_finding(t, *context) for t in tests if t.flagged]
        summary = self._summary(tests, keys, weights, with_traces, *context)
        return [summary, *flagged]

    def _adjust(self, tests: list[WeightTest]) -> list[WeightTest]:
        tested = [i for i, t in enumerate(tests) if t.status == "tested"]
        adjusted = bh_adjust([float(tests[i].p_value or 0.0) for i in tested])
        out = list(tests)
        for i, p_adj in zip(tested, adjusted, strict=True):
            t = tests[i]
            out[i] = WeightTest(
                t.pair,
                t.key,
                t.earlier,
                t.later,
                t.status,
                t.difference,
                t.standard_error,
                t.z,
                t.p_value,
                p_adj,
                t.outside_interval,
                flagged=t.outside_interval and p_adj < self.alpha,
            )
        return out

    # -- findings --------------------------------------------------------------------------------

    def _method(self) -> dict[str, object]:
        return {
            "fit": "auditors.reward.implicit_reward.ImplicitRewardAuditor.fit",
            "features": list(self.features),
            "units": "change in log-odds of being kept per unit of the feature",
            "bootstrap": {
                "method": "percentile",
                "resample": "task",
                "confidence": self.confidence,
                "n_requested": self.n_bootstrap,
                "seed": self.seed,
            },
            "test": "Wald z on the difference of per-unit weights; standard errors are the standard "
            "deviations of the task-bootstrap weights; p = 2 * scipy.stats.norm.sf(|z|)",
            "correction": {
                "method": "benjamini-hochberg",
                "function": "scipy.stats.false_discovery_control",
                "alpha": self.alpha,
                "family": "every tested (weight, generation pair) of the run",
            },
            "flag_rule": "the later point estimate lies outside the earlier generation's interval and "
            "the BH-adjusted p-value is below alpha",
            "severity_rule": "high when the weight changes sign with both intervals excluding zero; "
            "medium for any other flagged comparison; the summary is info",
        }

    def _nothing_to_compare(
        self,
        table: FeatureTable,
        with_traces: list[int],
        per_generation: dict[int, dict[str, object]],
        run_id: str | None,
    ) -> FindingRow:
        if not with_traces:
            reason = "no-traces"
            claim = (
                "The run has no curated deployment traces, so there is no inferred reward whose drift "
                "could be measured."
            )
        else:
            reason = "single-generation"
            claim = (
                f"Only generation {with_traces[0]} has curated deployment traces "
                f"({table.denominators(with_traces[0]).n_traces}), so there is no second generation "
                "to compare its inferred reward with: reward drift needs at least two."
            )
        return make_finding(
            auditor=self.name,
            kind=KIND,
            severity="info",
            generation=None,
            claim=claim,
            numbers={
                "scope": "summary",
                "reason": reason,
                "generations_with_traces": with_traces,
                "committed_generations": list(table.generations),
                "per_generation": {str(g): d for g, d in per_generation.items()},
                "method": self._method(),
                "denominators": table.denominators(None).as_dict(),
            },
            evidence={"run_id": run_id, "generations": list(table.generations)},
        )

    def _flag_finding(
        self,
        t: WeightTest,
        table: FeatureTable,
        per_generation: dict[int, dict[str, object]],
        run_id: str | None,
    ) -> FindingRow:
        severity: Severity = "high" if t.sign_flip else "medium"
        numbers = {
            "scope": "comparison",
            **t.as_dict(),
            "denominators": {
                "earlier": per_generation[t.pair.earlier],
                "later": per_generation[t.pair.later],
            },
            "method": self._method(),
        }
        return make_finding(
            auditor=self.name,
            kind=KIND,
            severity=severity,
            generation=t.pair.later,
            claim=self._flag_claim(t, per_generation),
            numbers=numbers,
            evidence={
                "run_id": run_id,
                "generations": [t.pair.earlier, t.pair.later],
                "fits": [f"generation-{t.pair.earlier}", f"generation-{t.pair.later}"],
            },
        )

    def _flag_claim(self, t: WeightTest, per_generation: dict[int, dict[str, object]]) -> str:
        a, b, key = t.earlier, t.later, t.key
        assert a.weight is not None and b.weight is not None and t.p_adjusted is not None
        change = _change_words(key, a, b)
        versus = " (against the first generation)" if t.pair.relation == "baseline" else ""
        da, db = per_generation[t.pair.earlier], per_generation[t.pair.later]
        p = f"= {t.p_adjusted:.2g}" if t.p_adjusted >= 1e-4 else "< 0.0001"
        return (
            f"Between generation {t.pair.earlier} and generation {t.pair.later}{versus}, the inferred "
            f"reward's weight on {key.words} moved from {fmt_weight(a.weight)} "
            f"({fmt_interval(a, self.confidence)}) to {fmt_weight(b.weight)} "
            f"({fmt_interval(b, self.confidence)}) log-odds {key.unit}: {change}. The later estimate "
            f"lies outside the earlier interval; difference {fmt_weight(t.difference)} (z = {t.z:.2f}, "
            f"Benjamini–Hochberg adjusted p {p}); fitted on {a.n_traces} vs {b.n_traces} traces "
            f"({a.n_kept} vs {b.n_kept} kept) out of {da['n_traces']} vs {db['n_traces']} curated "
            f"traces and {da['n_decisions']} vs {db['n_decisions']} decisions."
        )

    def _summary(
        self,
        tests: list[WeightTest],
        keys: list[WeightKey],
        weights: dict[int, dict[WeightKey, UnitWeight]],
        with_traces: list[int],
        table: FeatureTable,
        per_generation: dict[int, dict[str, object]],
        run_id: str | None,
    ) -> FindingRow:
        tested = [t for t in tests if t.status == "tested"]
        flagged = [t for t in tests if t.flagged]
        skipped = {
            s: sum(t.status == s for t in tests) for s in ("not-identified", "no-weight", "no-interval")
        }
        span = f"generations {with_traces[0]}–{with_traces[-1]}"
        if flagged:
            items = "; ".join(
                f"{t.key.words} {t.pair.earlier}→{t.pair.later} ({fmt_weight(t.earlier.weight)} → "
                f"{fmt_weight(t.later.weight)} {t.key.unit})"
                for t in flagged
            )
            found = f"{len(flagged)} moved beyond the earlier interval with a significant difference: {items}"
        else:
            found = "no weight moved beyond the earlier generation's interval with a significant difference"
        skipped_text = ""
        if skipped["not-identified"]:
            skipped_text = (
                f" ({skipped['not-identified']} comparisons of validity's weight were not made: no invalid "
                "plan was kept in either generation, so the penalty alone sets that weight)"
            )
        claim = (
            f"Across {span}, the inferred reward's weights were compared in {len(tested)} tests "
            f"({len(plan_pairs(tuple(with_traces)))} generation pairs, consecutive and against generation "
            f"{with_traces[0]}; Benjamini–Hochberg at {self.alpha:g}): {found}{skipped_text}."
        )
        trajectory = {key.label: {str(g): weights[g][key].as_dict() for g in with_traces} for key in keys}
        numbers = {
            "scope": "summary",
            "generations_with_traces": with_traces,
            "committed_generations": list(table.generations),
            "n_tests": len(tested),
            "n_flagged": len(flagged),
            "n_not_tested": skipped,
            "tests": [t.as_dict() for t in tests],
            "trajectory": trajectory,
            "per_generation": {str(g): d for g, d in per_generation.items()},
            "denominators": table.denominators(None).as_dict(),
            "method": self._method(),
        }
        return make_finding(
            auditor=self.name,
            kind=KIND,
            severity="info",
            generation=None,
            claim=claim,
            numbers=numbers,
            evidence={"run_id": run_id, "generations": with_traces},
        )


def _change_words(key: WeightKey, a: UnitWeight, b: UnitWeight) -> str:
    """What the move means for the users' curation, in words."""
    assert a.weight is not None and b.weight is not None
    if a.excludes_zero and b.excludes_zero and np.sign(a.weight) != np.sign(b.weight):
        return (
            f"curation went from rewarding {direction_words(key.feature, a.weight)} to rewarding "
            f"{direction_words(key.feature, b.weight)}"
        )
    if b.excludes_zero and not a.excludes_zero:
        return f"curation began to reward {direction_words(key.feature, b.weight)}"
    if a.excludes_zero and not b.excludes_zero:
        return f"curation no longer clearly rewards {direction_words(key.feature, a.weight)}"
    stronger = abs(b.weight) > abs(a.weight)
    reference = b.weight if stronger else a.weight
    return (
        f"curation rewards {direction_words(key.feature, reference)} "
        f"{'more' if stronger else 'less'} strongly than before"
    )


def _generation_denominators(
    table: FeatureTable, decisions: pd.DataFrame, generation: int
) -> dict[str, object]:
    """A generation's denominators, with decisions per user group."""
    d: dict[str, object] = dict(table.denominators(generation).as_dict())
    mine = decisions[
        (decisions["generation"] == generation) & decisions["trace_id"].isin(table.frame["trace_id"])
    ]
    d["decisions_by_group"] = {str(g): int(n) for g, n in mine.groupby("group").size().items()}
    d["kept_decisions_by_group"] = {str(g): int(n) for g, n in mine.groupby("group")["kept"].sum().items()}
    return d
