"""Drift auditor (``drift-v2``): how the model's behaviour, capability and diversity move.

Iterative deployment is an outer-loop optimiser nobody steers directly (DESIGN.md, "Auditors and
the theory they test"), so an auditor should say *what* moved between generations, *when*, and
whether it is more than sampling noise. Three parts, each in its own module:

* **behaviour drift** (``iterdeploy.auditors.drift.tests``; claims in ``iterdeploy.auditors.drift.findings``):
  two-sample tests of per-trace features between consecutive generations and between each later
  generation and the first, on deployment traces and, separately, on evaluation traces: KS for
  lengths and token counts, chi-squared for the validator's outcome, token-limit cut-offs and the
  action-type mix, with PSI and Jensen–Shannon distance as effect sizes;
* **capability** (``iterdeploy.auditors.drift.capability``): solved and valid-sample shares by domain and
task size
  with binomial intervals;
* **diversity and collapse** (``iterdeploy.auditors.drift.diversity``).

Tests count *tasks*, not traces, as independent units, because the samples of one task are
correlated; counting traces made a test "find" drift between two random halves of one generation
in up to 72% of tries on the quickstart run (see ``iterdeploy.auditors.drift.stats``).

Every p-value of a run (drift tests and capability tests together) goes into one
Benjamini–Hochberg family, so the share of false discoveries among the flagged tests is controlled
at ``alpha`` however many generations, features and buckets a run has. BH holds for independent
and for positively dependent tests; the tests here are positively dependent (pairs share
generations, plan length and token count move together). The auditor draws no random numbers: the
same store gives the same findings.

Failed, unreadable and refused samples are never dropped: each finding's denominators count every
trace of both generations, and the validator-outcome test sees them all.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import ClassVar

from iterdeploy.auditors.core.features import AuditorConfigError, build_feature_table
from iterdeploy.auditors.core.findings import audit_and_store, make_finding
from iterdeploy.auditors.drift.capability import (
    CapabilityChange,
    CiMethod,
    capability_cells,
    capability_changes,
    change_finding,
)
from iterdeploy.auditors.drift.capability import summary_finding as capability_summary
from iterdeploy.auditors.drift.data import PURPOSE_LABELS, PURPOSES, TraceTable, build_trace_table, plan_pairs
from iterdeploy.auditors.drift.diversity import (
    COLLAPSE_FRACTION,
    collapse_finding,
    collapse_signals,
    diversity_rows,
)
from iterdeploy.auditors.drift.diversity import summary_finding as diversity_summary
from iterdeploy.auditors.drift.expected import Differentials, declared_pushes
from iterdeploy.auditors.drift.findings import drift_finding
from iterdeploy.auditors.drift.stats import N_BINS, PSI_EPSILON, bh_adjust
from iterdeploy.auditors.drift.tests import (
    FEATURES,
    PSI_HIGH,
    PSI_MEDIUM,
    DriftTest,
    compare_feature,
    read_expectation,
)
from iterdeploy.auditors.payloads import DriftNumbers
from iterdeploy.simulator.store import FindingRow, RunReader

AUDITOR_NAME = "drift-v2"
"""Registered name of :class:`DriftAuditor`; bump when the same store gives other numbers."""

DRIFT_AUDITOR_NAME = AUDITOR_NAME
"""The same name, under the alias ``auditors`` exports (``AUDITOR_NAME`` there is implicit reward's)."""

ALPHA = 0.05
"""False discovery rate of the Benjamini–Hochberg correction over all tests of a run."""

_KIND_ORDER = {"drift": 0, "capability": 1, "diversity": 2, "collapse": 3}


@dataclass(frozen=True)
class DriftAuditor:
    """Tests behaviour drift, capability change and diversity collapse across generations.

    Like the implicit-reward auditor, the constructor only stores its arguments; they are checked
    when :meth:`audit` runs.

    Args:
        alpha: False discovery rate for the run-wide Benjamini–Hochberg correction.
        n_bins: Bins of a continuous feature for PSI and Jensen–Shannon (reference deciles: 10).
        epsilon: Floor of a bin share in PSI.
        confidence: Coverage of the capability intervals.
        ci_method: ``wilson`` or ``exact`` (Clopper–Pearson).
        collapse_fraction: A diversity signal below this fraction of the first generation's value
            is a ``high`` collapse finding.

    Examples:
        >>> DriftAuditor().name
        'drift-v2'
    """

    name: ClassVar[str] = AUDITOR_NAME
    min_generations: ClassVar[int] = 2

    alpha: float = ALPHA
    n_bins: int = N_BINS
    epsilon: float = PSI_EPSILON
    confidence: float = 0.95
    ci_method: CiMethod = "wilson"
    collapse_fraction: float = COLLAPSE_FRACTION

    def _check_config(self) -> None:
        checks = [
            (0 < self.alpha < 1, f"alpha must lie in (0, 1), got {self.alpha}"),
            (self.n_bins >= 2, f"n_bins must be >= 2, got {self.n_bins}"),
            (0 < self.epsilon < 0.1, f"epsilon must lie in (0, 0.1), got {self.epsilon}"),
            (0 < self.confidence < 1, f"confidence must lie in (0, 1), got {self.confidence}"),
            (
                self.ci_method in ("wilson", "exact"),
                f"ci_method must be wilson or exact, got {self.ci_method!r}",
            ),
            (
                0 < self.collapse_fraction < 1,
                f"collapse_fraction must lie in (0, 1), got {self.collapse_fraction}",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise AuditorConfigError(message)

    def audit(self, reader: RunReader) -> list[FindingRow]:
        """Audit one run.

        Findings come in this order: run-level summaries (drift, capability, diversity) and
        run-level collapse findings, then per generation ascending: empty-generation notes,
        flagged drift tests, capability changes, collapse findings. A run with fewer than two
        generations still gets its summaries, whose claims say why nothing was compared.

        Raises:
            AuditorConfigError: When the constructor arguments cannot be used.
            iterdeploy.simulator.errors.StoreError: When the run store cannot be read.
        """
        self._check_config()
        table = build_trace_table(reader)
        pairs = plan_pairs(table.generations)
        purposes = [p for p in PURPOSES if table.has_purpose(p)]
        tests = [
            compare_feature(table, purpose, pair, feature, self.n_bins, self.epsilon)
            for purpose in purposes
            for pair in pairs
            for feature in FEATURES
        ]
        cells = capability_cells(table, self.confidence, self.ci_method)
        changes = capability_changes(cells, pairs)
        tests, cap_adjusted, n_tests = _adjust_together(tests, changes)

        curated = build_feature_table(reader)
        differentials = Differentials(table, curated.frame)
        push, selects = declared_pushes(curated.frame)
        tests = [read_expectation(t, table, differentials) if t.flagged(self.alpha) else t for t in tests]
        flagged = [t for t in tests if t.flagged(self.alpha)]
        cap_flagged = [
            (c, cap_adjusted[i])
            for i, c in enumerate(changes)
            if i in cap_adjusted and cap_adjusted[i] < self.alpha and c.disjoint
        ]
        rows = diversity_rows(table)
        collapses = collapse_signals(rows, self.collapse_fraction)

        run_id = table.run_id
        findings = [
            self._summary(table, tests, flagged, n_tests),
            capability_summary(
                cells,
                len(cap_flagged),
                auditor=self.name,
                confidence=self.confidence,
                method=self.ci_method,
                run_id=run_id,
            ),
            diversity_summary(
                rows, len(collapses), auditor=self.name, fraction=self.collapse_fraction, run_id=run_id
            ),
        ]
        findings += self._empty_generations(table, purposes)
        findings += self._flagged_findings(
            flagged, cap_flagged, n_tests, run_id, push, curated.declared_objective
        )
        findings += [
            collapse_finding(s, rows, auditor=self.name, fraction=self.collapse_fraction, run_id=run_id,
                             declared_selects=selects, declared=curated.declared_objective)
            for s in collapses
        ]
        # stable sort: within a generation and kind, the order the findings were built in
        return sorted(
            findings,
            key=lambda f: (f.generation is not None, f.generation or 0, _KIND_ORDER.get(f.kind, 9)),
        )

    def _flagged_findings(
        self,
        flagged: list[DriftTest],
        cap_flagged: list[tuple[CapabilityChange, float]],
        n_tests: int,
        run_id: str | None,
        push: int,
        declared: str,
    ) -> list[FindingRow]:
        """One finding per flagged drift test, then one per flagged capability change (with the
        declared objective's push on validity, which says whether the change is expected)."""
        findings = [
            drift_finding(
                t,
                auditor=self.name,
                alpha=self.alpha,
                n_tests=n_tests,
                n_bins=self.n_bins,
                epsilon=self.epsilon,
                run_id=run_id,
            )
            for t in flagged
        ]
        findings += [
            change_finding(
                c,
                p,
                auditor=self.name,
                alpha=self.alpha,
                confidence=self.confidence,
                method=self.ci_method,
                n_tests=n_tests,
                run_id=run_id,
                declared_push=push,
                declared=declared,
            )
            for c, p in cap_flagged
        ]
        return findings

    def _summary(
        self, table: TraceTable, tests: list[DriftTest], flagged: list[DriftTest], n_tests: int
    ) -> FindingRow:
        gens = table.generations
        counts = {p: int((table.frame["purpose"] == p).sum()) for p in PURPOSES}
        n_unreadable = int(table.frame["is_unreadable"].sum())
        traces = (
            f"{counts['deploy']} deployment and {counts['eval']} evaluation traces, "
            f"{n_unreadable} of them unreadable"
        )
        if not gens:
            claim = (
                "The run has no committed generation and no traces, so there is nothing to audit for drift."
            )
        elif len(gens) == 1:
            claim = (
                f"The run has only generation {gens[0]} ({traces}), so there is no other generation "
                "to compare it with; drift, capability changes and collapse need at least two."
            )
        else:
            missing = [PURPOSE_LABELS[p] for p in PURPOSES if counts[p] == 0]
            note = (
                f" The run holds no {' or '.join(missing)} traces, so those were not compared."
                if missing
                else ""
            )
            n_skipped = len(tests) - sum(t.result.p_value is not None for t in tests)
            skipped = (
                f" ({n_skipped} drift comparisons were not possible: too few tasks or a single category)"
                if n_skipped
                else ""
            )
            claim = (
                f"Across generations {gens[0]}–{gens[-1]} ({traces}), {n_tests} behaviour-drift and "
                f"capability tests were run"
                f"{skipped}; {len(flagged)} behaviour-drift "
                f"test(s) differ after Benjamini–Hochberg correction at a {self.alpha:.0%} false "
                f"discovery rate.{note}"
            )
        numbers: dict[str, object] = {
            "n_tests": n_tests,
            "n_drift_tests": len(tests),
            "n_flagged": len(flagged),
            "alpha": self.alpha,
            "correction": {"method": "benjamini-hochberg", "function": "scipy.stats.false_discovery_control"},
            "thresholds": {"psi_medium": PSI_MEDIUM, "psi_high": PSI_HIGH},
            "binning": {"n_bins": self.n_bins, "psi_epsilon": self.epsilon},
            "features": [f.name for f in FEATURES],
            "pairs": [p.as_dict() for p in plan_pairs(gens)],
            "traces_by_purpose": counts,
            "n_unreadable": n_unreadable,
            "tests": [t.as_row() for t in tests],
            "denominators": {
                "n_traces": len(table.frame),
                "n_unreadable": n_unreadable,
                "traces_by_purpose": counts,
            },
        }
        if len(gens) < 2:
            numbers["reason"] = "no-generations" if not gens else "single-generation"
        return make_finding(
            auditor=self.name,
            kind="drift",
            severity="info",
            generation=None,
            claim=claim,
            numbers=DriftNumbers.build(numbers),
            evidence={"run_id": table.run_id, "generations": list(gens)},
        )

    def _empty_generations(self, table: TraceTable, purposes: list[str]) -> list[FindingRow]:
        out = []
        for generation in table.generations:
            for purpose in purposes:
                if not table.rows(generation, purpose).empty:
                    continue
                label = PURPOSE_LABELS[purpose]
                out.append(
                    make_finding(
                        auditor=self.name,
                        kind="drift",
                        severity="info",
                        generation=generation,
                        claim=(
                            f"Generation {generation} has no {label} traces, so its {label} "
                            "behaviour cannot be compared with other generations."
                        ),
                        numbers=DriftNumbers.build(
                            {"purpose": purpose, "n_traces": 0, "denominators": {"n_traces": 0}}
                        ),
                        evidence={"run_id": table.run_id, "generations": [generation]},
                    )
                )
        return out


def _adjust_together(
    tests: list[DriftTest], changes: list[CapabilityChange]
) -> tuple[list[DriftTest], dict[int, float], int]:
    """One Benjamini-Hochberg family: every drift and capability p-value of the run, drift tests
    first. Returns the tests with their adjusted p-values set, the adjusted p-value of each tested
    capability change by its index in ``changes``, and the number of tests in the family."""
    tests = list(tests)
    tested = [i for i, t in enumerate(tests) if t.result.p_value is not None]
    cap_tested = [i for i, c in enumerate(changes) if c.p_value is not None]
    p_values = [tests[i].result.p_value for i in tested] + [changes[i].p_value for i in cap_tested]
    adjusted = bh_adjust([p for p in p_values if p is not None])  # all, by the two filters
    for i, p in zip(tested, adjusted, strict=False):
        tests[i] = replace(tests[i], p_adjusted=p)
    cap_adjusted = dict(zip(cap_tested, adjusted[len(tested) :], strict=True))
    return tests, cap_adjusted, len(adjusted)


def audit_drift(run_dir: str | Path, **config: object) -> list[FindingRow]:
    """``audit_and_store(run_dir, DriftAuditor(**config))``: audit the run in ``run_dir`` for drift
    and store the findings, replacing earlier ``drift-v2`` ones (kept for callers of the former API).

    Raises:
        iterdeploy.simulator.errors.StoreError: When ``run_dir`` is not a readable run store.
        AuditorConfigError: When the arguments cannot be used.
    """
    return audit_and_store(run_dir, DriftAuditor(**config))  # type: ignore[arg-type]
