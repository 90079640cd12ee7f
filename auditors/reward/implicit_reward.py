"""White-box implicit-reward inference: what did the users' keep decisions reward?

Fine-tuning on curated on-policy samples has the gradient of REINFORCE with reward A(τ), the
population's acceptance probability (DESIGN.md, "Auditors and the theory they test"). With the
curation log in hand, an auditor estimates that reward without knowing the policies: the log-odds
of being kept, as a function of the trace's features, *compared within each task*.

Modelling choices, and why:

* **Within tasks.** A(τ) compares the traces of one task ("the shortest valid plan" is a statement
  about siblings), so the model is a conditional logit with a fixed effect per task
  (:mod:`iterdeploy.auditors.reward.choice_model`). A fit across tasks confounds preference with task size:
  on the quickstart it gave plan length a *positive* weight (+0.39 per SD) under a rule that keeps
  the *shortest* plan; within tasks the weight is about −3.9.
* **Features relative to the task's best.** A rule such as "shortest valid plan, then fewest
  tokens" is lexicographic, not linear in raw lengths, so the default features say where a trace
  stands among its siblings (:data:`iterdeploy.auditors.core.features.FIT_FEATURES`): steps and tokens above
  the task's best, at the task's shortest or longest valid length, validity, unreadable or cut-off
  plans, and the action mix.
* **Severity is the distance from the declared objective, not the size of a weight.** Curation
  that follows the declared rule has large weights (deterministic rules separate kept from rejected
  traces), and they are expected. The same model is fitted to what a user following the declared
  objective keeps on the same candidates, and only the *difference* is a finding
  (:mod:`iterdeploy.auditors.reward.within_task`,
  :func:`iterdeploy.auditors.reward.claims.departure_severity`).
* **Standardised within tasks, penalised, bootstrapped over tasks.** Weights are log-odds per
  standard deviation of the feature around its task's mean; an L2 penalty (``c``, as scikit-learn's
  ``C``) keeps them finite under separation; intervals resample whole tasks, since a task's traces
  are decided together.
* **A mixed population's A(τ) is a mixture.** The findings compare the pooled reward with the
  declared one (the attribution auditor splits that by group), but the reward a finding publishes
  as the inferred A(τ) carries, where several groups decided, each group's own within-task reward
  and share (:mod:`iterdeploy.auditors.reward.keep_model`): one log-linear reward cannot rank an invalid
  plan, which a 5% minority keeps, above a valid one that nobody keeps, while the majority keeps
  valid plans.
* **Determinism.** Each scope draws from ``SeedSequence([seed, crc32(scope)])``, so a generation's
  interval does not change when other generations are added; the feature table is sorted by
  ``trace_id``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd

from iterdeploy.auditors.core.decisions import run_id_of
from iterdeploy.auditors.core.features import (
    WITHIN_TASK_FEATURES,
    AuditorConfigError,
    FeatureTable,
    build_feature_table,
)
from iterdeploy.auditors.core.features import check_features as _check_features
from iterdeploy.auditors.core.findings import Severity, make_finding
from iterdeploy.auditors.core.recovery import recovery_numbers
from iterdeploy.auditors.core.settings import BootstrapSettings
from iterdeploy.auditors.payloads import ImplicitRewardNumbers
from iterdeploy.auditors.reward.claims import (
    SEVERITY_RULE,
    claims_from,
    departure_severity,
    departure_text,
    label,
)
from iterdeploy.auditors.reward.keep_model import (
    KEEP_MODEL_C,
    GroupKeepModel,
    fit_keep_model,
    keep_probability,
)
from iterdeploy.auditors.reward.within_task import RewardComparison, apply_reward, compare_with_declared
from iterdeploy.simulator.store import FindingRow, RunReader

AUDITOR_NAME = "implicit-reward-v2"
"""Registered name of :class:`ImplicitRewardAuditor`; bump when the same config gives other numbers."""

KIND = "implicit-reward"
"""Finding kind written by this auditor."""

DEFAULT_FEATURES: tuple[str, ...] = WITHIN_TASK_FEATURES
"""Features fitted when none are given (``action_shares`` expands to one column per action)."""

EVIDENCE_SAMPLE_SIZE = 10
"""Trace ids cited per list in a finding's evidence."""

MODEL = {
    "estimator": "iterdeploy.auditors.reward.choice_model.fit_choice: conditional (fixed-effects) logit over "
    "each task's kept set, L2-penalised, Newton's method",
    "penalty": "l2",
    "standardized": "within tasks: each feature minus its task's mean, over its within-task SD",
    "units": "change in log-odds of being kept per within-task SD of the feature",
}
"""What every finding of this auditor says about its model."""

MIXTURE_MODEL = (
    "the population's keep probability: each group's within-task reward fitted on its own tasks "
    f"(L2, C={KEEP_MODEL_C:g}), its within-task softmax times the group's mean kept traces per task "
    "(capped at 1), mixed by the group's share of the decided tasks "
    "(iterdeploy.auditors.reward.keep_model)"
)
"""How ``inferred_reward.mixture`` reads, stored with it."""


@dataclass(frozen=True)
class ImplicitRewardAuditor(BootstrapSettings):
    """Infers the reward implicit in users' keep decisions, within tasks.

    Like a scikit-learn estimator, the constructor only stores its arguments; they are checked when
    :meth:`audit` runs.

    Args:
        seed: Seed of the bootstrap; the same run and seed give identical findings (up to
            ``created_at``).
        n_bootstrap: Bootstrap resamples of tasks per scope (fewer than 20 give no intervals).
        features: Columns of :data:`iterdeploy.auditors.core.features.FIT_FEATURES`, ``share_<action>``
            columns, or ``action_shares`` for all of them.
        confidence: Coverage of the percentile intervals, in (0, 1).
        c: Inverse L2 strength on standardised features (scikit-learn's ``C``).

    Examples:
        >>> auditor = ImplicitRewardAuditor(seed=1, n_bootstrap=50)
        >>> auditor.name, auditor.features[:2]
        ('implicit-reward-v2', ('is_valid', 'length_above_best'))
    """

    name: ClassVar[str] = AUDITOR_NAME
    min_generations: ClassVar[int] = 1

    features: tuple[str, ...] = DEFAULT_FEATURES
    c: float = 1.0

    def check_config(self) -> None:
        """Raise :class:`AuditorConfigError` for settings the auditor cannot use."""
        _check_features(self.features)
        self.check_bootstrap()
        if not self.c > 0:
            raise AuditorConfigError(f"c (inverse L2 strength) must be > 0, got {self.c}")

    def audit(self, reader: RunReader) -> list[FindingRow]:
        """Audit one run: a finding for the whole run, then one per generation.

        An empty run gives a single ``info`` finding saying there is nothing to audit, so that
        re-auditing replaces stale findings and "audited, nothing there" differs from "never
        audited".

        Raises:
            AuditorConfigError: When the constructor arguments cannot be used.
            iterdeploy.simulator.errors.StoreError: When the run store cannot be read.
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

    def compare(self, table: FeatureTable, rows: pd.DataFrame, scope: str) -> RewardComparison:
        """The users' and the declared reward on ``rows`` (feature-table rows), within tasks."""
        return compare_with_declared(
            rows.reset_index(drop=True), table.expand(self.features), seed=self.seed, name=scope,
            n_bootstrap=self.n_bootstrap, confidence=self.confidence, c=self.c,
        )

    def keep_model(self, table: FeatureTable, rows: pd.DataFrame) -> list[GroupKeepModel]:
        """Each group's within-task reward on its own tasks, the parts of the inferred A(τ)
        (:mod:`iterdeploy.auditors.reward.keep_model`); one part when one group decided everything."""
        return fit_keep_model(rows.reset_index(drop=True), table.expand(self.features))

    def _finding(
        self, table: FeatureTable, generation: int | None, generations: list[int], run_id: str | None
    ) -> FindingRow:
        scope = "run" if generation is None else f"generation-{generation}"
        rows = table.scope(generation)
        comparison = self.compare(table, rows, scope)
        severity = departure_severity(comparison) if comparison.status == "ok" else (
            "info" if comparison.n_departing == 0 else "low")
        numbers: dict[str, object] = {
            "scope": "run" if generation is None else "generation",
            **comparison.as_dict(),
            "declared_objective": table.declared_objective,
            "model": {**MODEL, "C": self.c},
            "bootstrap": {"method": "percentile", "resample": "task", "confidence": self.confidence,
                          "n_requested": self.n_bootstrap, "seed": self.seed},
            "severity_rule": SEVERITY_RULE,
            "claims": claims_from(comparison.departure, generation=generation)
            if severity in ("medium", "high") else [],
            "denominators": {**table.denominators(generation).as_dict(),
                             "n_tasks": comparison.n_tasks,
                             "n_informative_tasks": comparison.n_informative,
                             "n_departing_tasks": comparison.n_departing},
        }
        reward: dict[str, object] = {"per_unit": comparison.per_unit, "centre": comparison.means,
                                     "table": "white-box"}
        mixture = self.keep_model(table, rows) if comparison.status == "ok" else []
        if len(mixture) > 1:
            reward["mixture"] = [m.as_dict() for m in mixture]
            reward["mixture_model"] = MIXTURE_MODEL
        numbers["inferred_reward"] = reward
        if comparison.status == "ok" and len(rows):
            numbers["recovery"] = recovery_numbers(
                rows, apply_reward(comparison.per_unit, rows),
                keep_probability(mixture, rows) if len(mixture) > 1 else None)
        if comparison.status == "no-traces":
            numbers["reason"] = "no-traces"
        departing = rows[(rows["kept"] == 1) & (rows["declared_kept"] == 0)]
        evidence = {
            "run_id": run_id,
            "generations": generations,
            "n_trace_ids": len(rows),
            "kept_trace_ids_sample": _spread(rows.loc[rows["kept"] == 1, "trace_id"]),
            "not_kept_trace_ids_sample": _spread(rows.loc[rows["kept"] == 0, "trace_id"]),
            "kept_against_declared_trace_ids": _spread(departing["trace_id"]),
            "departing_task_keys": list(comparison.departing_tasks[:EVIDENCE_SAMPLE_SIZE]),
        }
        return make_finding(
            auditor=self.name,
            kind=KIND,
            severity=severity,
            generation=generation,
            claim=_claim(generation, comparison, severity, self.confidence),
            numbers=ImplicitRewardNumbers.build(numbers),
            evidence=evidence,
        )


def _spread(ids: pd.Series) -> list[int]:
    """Up to :data:`EVIDENCE_SAMPLE_SIZE` ids, evenly spread over the sorted list (no randomness)."""
    values = sorted(int(v) for v in ids)
    if len(values) <= EVIDENCE_SAMPLE_SIZE:
        return values
    picks = np.linspace(0, len(values) - 1, EVIDENCE_SAMPLE_SIZE).round().astype(int)
    return [values[i] for i in picks]


def join_words(parts: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def _reward_text(comparison: RewardComparison, top: int = 3) -> str:
    """The users' clearest weights in words: what keeping rises and falls with, within tasks."""
    clear = sorted((e for e in comparison.users if e.clear and e.weight is not None),
                   key=lambda e: -abs(e.weight or 0.0))[:top]
    if not clear:
        return "no feature clearly raises or lowers the chance of being kept within a task"
    rises = [f"{label(e.feature)} ({e.weight:+.2f})" for e in clear if (e.weight or 0) > 0]
    falls = [f"{label(e.feature)} ({e.weight:+.2f})" for e in clear if (e.weight or 0) < 0]
    parts = []
    if rises:
        parts.append("rises with " + join_words(rises))
    if falls:
        parts.append("falls with " + join_words(falls))
    return "keeping " + " and ".join(parts) + " (log-odds per SD)"


def _claim(generation: int | None, c: RewardComparison, severity: Severity, confidence: float) -> str:
    where = "Across the run" if generation is None else f"In generation {generation}"
    if c.status == "no-traces":
        subject = "The run" if generation is None else f"Generation {generation}"
        return f"{subject} has no curated deployment traces, so there is nothing to audit."
    if c.status == "no-informative-task":
        return (f"{where}, users kept all or none of the traces of each of the {c.n_tasks} tasks, so "
                "no within-task reward can be inferred; " + departure_text(c, confidence) + ".")
    if c.status == "no-varying-feature":
        return (f"{where}, no feature varies within a task, so no reward can be inferred; "
                + departure_text(c, confidence) + ".")
    head = (f"{where}, within the {c.n_informative} tasks where users kept some but not all of "
            f"{c.n_traces} curated traces, {_reward_text(c)}")
    tail = departure_text(c, confidence)
    if severity == "info":
        return f"{head}; {tail}, the declared objective explains it all."
    return f"{head}; {tail}."
