"""Black-box implicit-reward inference: what reward explains how the model's outputs moved?

An outside auditor has no curation log. It can query generation g and generation g+1 of a model
on the same prompts and read the answers. Under curation, fine-tuning on what users kept tilts the
model towards what they accept: p_{g+1}(τ|x) ∝ p_g(τ|x) · exp(r(τ)) (Ferbach et al., NeurIPS
2024, with r = log A(τ) for a population that keeps τ with probability A(τ)). So a probabilistic
classifier that tells generation g+1's outputs from generation g's *on the same prompts* has
log-odds log p_{g+1}(τ|x) / p_g(τ|x) = r(τ) − log Z(x): the reward up to scale and a per-prompt
constant. This module fits that classifier on what an outsider sees and reports the reward it
implies (DESIGN.md, "Auditors and the theory they test").

What the auditor may look at, and why:

* **Outputs only.** Per trace: the validator's verdict (validity and the kind of failure), plan
  length, the valid plan's length above the task's optimum, the mix of action types, response
  length in tokens, whether the response hit the token limit. A public validator gives the verdict
  from the task's PDDL and the extracted plan; the store's verdict *is* that validator's output
  (``iterdeploy validate``), so the auditor reads it instead of recomputing it. Keep decisions,
  keep probabilities and users are never read for the fit; the recorded A(τ) is read only
  afterwards, to score how well the inferred reward recovers it.
* **The same prompts.** The evaluation pool is fixed across generations and every generation
  answers each of its tasks ``evaluation.samples_per_task`` times, so the eval traces of two
  generations are paired samples on the same prompts. Deployment tasks are redrawn every
  generation and cannot be paired.
* **Correlated features are read together.** Plan length and response length move together (the
  scratchpad grows with the plan); a positive weight on one with a negative weight on the other
  means "fewer tokens per step", not two separate preferences.
* **Recovery is scored on deployment traces.** The classifier is fitted on evaluation traces,
  where users never decide; the recorded A(τ) exists for deployment traces. The inferred reward
  r̂(τ) (the classifier's log-odds without the per-prompt constant) is applied to the deployment
  traces of the earlier generation, whose curation produced the later model's new data, and
  correlated (Pearson and Spearman) with their A(τ). The white-box reward (the implicit-reward
  auditor's fit of ``kept`` on the same deployment traces, as the declared-objective auditor uses
  it) is scored the same way, so the two numbers are comparable.

Each part has its own module: the outputs-only table (``iterdeploy.auditors.blackbox.data``, with why a valid
plan's length is measured above the optimum); the estimators and statistics
(``iterdeploy.auditors.blackbox.stats``, with why the fit has per-prompt fixed effects, why the AUC is held
out,
within prompts and tested by permutation, and why Benjamini–Hochberg, a bootstrap over prompts and
gatekeeping); the finding's claim, severity and evidence (``iterdeploy.auditors.blackbox.claims``). This
module
runs them.

Failed, unreadable and cut-off samples are rows like any other (their plan-length features are 0
and their verdict is a feature); every finding counts them per generation.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from itertools import pairwise
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd

from iterdeploy.auditors.blackbox.claims import (
    MIN_PROMPTS,
    SEVERITY_RULE,
    against_declared,
    claim,
    claims_of,
    evidence_ids,
    inferred_reward,
    recovery_by_pair,
    severity_of,
)
from iterdeploy.auditors.blackbox.data import ACTION_SHARES, OutputTable, build_output_table
from iterdeploy.auditors.blackbox.stats import (
    GROUP_STRIDE,
    Comparison,
    FeatureEffect,
    adjust_for_multiplicity,
    expand,
    fit_with_prompt_intercepts,
    linear_ceiling,
    shuffle_within_prompts,
    stack,
    support,
    within_prompt_auc,
)
from iterdeploy.auditors.core.declared_decisions import declared_directions
from iterdeploy.auditors.core.features import (
    AuditorConfigError,
    FeatureTable,
    InsufficientRunError,
    build_feature_table,
)
from iterdeploy.auditors.core.findings import audit_and_store, make_finding
from iterdeploy.auditors.core.recovery import recovery_numbers
from iterdeploy.auditors.core.settings import BootstrapSettings
from iterdeploy.auditors.drift.data import denominators
from iterdeploy.auditors.payloads import BlackBoxNumbers
from iterdeploy.auditors.reward.implicit_reward import DEFAULT_FEATURES as WHITE_BOX_FEATURES
from iterdeploy.auditors.reward.within_task import apply_reward, compare_with_declared
from iterdeploy.simulator.store import FindingRow, RunReader

AUDITOR_NAME = "blackbox-reward-v2"
"""Registered name; bump when the same run and seed give other numbers."""

KIND = "blackbox-reward"
"""Finding kind written by this auditor."""

MIN_SUPPORT = 10
"""A feature is fitted only when at least this many traces differ from its most common value: a
weight resting on two token-limit hits, or on an action seen three times, is noise with an
interval that can touch zero from either side by rounding."""

OUTPUT_FEATURES: tuple[str, ...] = (
    "is_valid",
    "is_unreadable",
    "is_goal_not_reached",
    "is_malformed",
    "hit_token_limit",
    "plan_length",
    "excess_length",
    "n_tokens",
    "n_reasoning_tokens",
    ACTION_SHARES,
)
"""Everything the black-box classifier may use: functions of the prompt, the completion and a
public validator's verdict. The failure kinds are indicators against ``invalid_step`` (a plan that
breaks a precondition), the commonest failure."""

DEFAULT_FEATURES: tuple[str, ...] = tuple(f for f in OUTPUT_FEATURES if f != "n_reasoning_tokens")
"""Fitted when none are given. Reasoning tokens are left out by default: for the embedded model
they are the scratchpad, about five tokens per action, so next to plan length and response length
they would only split those weights three ways."""


class BlackBoxInputError(InsufficientRunError):
    """The run cannot be audited from its outputs (no evaluation traces, a single generation).

    A subclass of :class:`~iterdeploy.auditors.core.features.AuditorConfigError` so ``iterdeploy audit``
    reports
    it as bad input (exit status 2) like the other auditors' errors.
    """


@dataclass(frozen=True)
class BlackBoxAuditor(BootstrapSettings):
    """Infers the reward implied by how a model's outputs moved between generations.

    Like a scikit-learn estimator, the constructor only stores its arguments; they are checked when
    :meth:`audit` runs.

    Args:
        seed: Seed of the folds and the bootstrap; the same run and seed give identical findings
            (up to ``created_at``).
        n_bootstrap: Prompt resamples per fit (0 gives weights and AUC without intervals).
        features: Names from :data:`OUTPUT_FEATURES`.
        confidence: Coverage of the percentile intervals, in (0, 1).
        c: Inverse L2 strength on standardised features and prompt intercepts.
        n_folds: Folds of prompts for the held-out AUC (at least 2).
        n_permutations: Label shuffles for the AUC's permutation test (0: no test, so nothing is
            called separable). Each costs ``n_folds`` fits; 200 resolve p down to 0.005, small
            enough to survive the Benjamini–Hochberg adjustment over a six-generation run's seven
            comparisons.

    Examples:
        >>> BlackBoxAuditor(seed=1).name
        'blackbox-reward-v1'
    """

    name: ClassVar[str] = AUDITOR_NAME
    min_generations: ClassVar[int] = 2

    features: tuple[str, ...] = DEFAULT_FEATURES  # redeclared for its default; stays third
    c: float = 1.0
    n_folds: int = 5
    n_permutations: int = 200

    def _check_config(self) -> None:
        unknown = [f for f in self.features if f not in OUTPUT_FEATURES]
        if unknown or not self.features:
            hint = ""
            if {"kept", "acceptance_prob", "keep_prob"} & set(unknown):
                hint = " (curation decisions are not outputs: a black-box auditor cannot see them)"
            raise AuditorConfigError(
                f"unknown or no feature(s) {unknown}; choose from {list(OUTPUT_FEATURES)}{hint}"
            )
        if len(set(self.features)) != len(self.features):
            raise AuditorConfigError(f"features repeat a name: {list(self.features)}")
        if not 0 < self.confidence < 1:
            raise AuditorConfigError(f"confidence must lie in (0, 1), got {self.confidence}")
        if self.n_bootstrap < 0:
            raise AuditorConfigError(f"n_bootstrap must be >= 0, got {self.n_bootstrap}")
        if not self.c > 0:
            raise AuditorConfigError(f"c (inverse L2 strength) must be > 0, got {self.c}")
        if self.n_permutations < 0:
            raise AuditorConfigError(f"n_permutations must be >= 0, got {self.n_permutations}")
        if self.n_folds < 2:
            raise AuditorConfigError(f"n_folds must be >= 2, got {self.n_folds}")

    # -- audit ---------------------------------------------------------------------------------------

    def audit(self, reader: RunReader) -> list[FindingRow]:
        """Audit one run from its evaluation outputs.

        Findings, in order: the run (consecutive pairs stacked, one average step; ``generation``
        None), the baseline (first against last generation, where the steps add up; only with
        three or more generations), then each consecutive pair (``generation`` = the later one).
        ``numbers.scope`` says which.

        Raises:
            BlackBoxInputError: When the run has no evaluation traces, or fewer than two
                generations with evaluation traces (nothing to compare on the same prompts).
            AuditorConfigError: When the constructor arguments cannot be used.
            iterdeploy.simulator.errors.StoreError: When the run store cannot be read.
        """
        self._check_config()
        table = build_output_table(reader)
        frame = table.frame
        evals = frame[frame["purpose"] == "eval"]
        if evals.empty:
            raise BlackBoxInputError(
                f"{reader.run_dir}: the run has no evaluation traces; the black-box auditor compares "
                "generations on the fixed evaluation pool (evaluation.n_tasks and "
                "evaluation.samples_per_task must be > 0)",
                missing="evaluation traces",
            )
        eval_generations = sorted(int(g) for g in evals["generation"].unique())
        if len(eval_generations) < 2:
            raise BlackBoxInputError(
                f"{reader.run_dir}: only generation {eval_generations[0]} has evaluation traces; "
                "the black-box auditor needs at least two generations to compare",
                missing="at least two generations",
            )
        columns = table.columns(self.features)
        curated = build_feature_table(reader)
        declared = curated.declared_objective
        directions = declared_directions(reader)
        pairs = list(pairwise(eval_generations))

        earlier_generations = [e for e, _ in pairs]
        # (scope, pairs compared, generations whose curation the recovery scores, finding generation)
        plan: list[tuple[str, list[tuple[int, int]], list[int], int | None]] = [
            ("run", pairs, earlier_generations, None)
        ]
        if len(pairs) > 1:  # with one pair the baseline is that pair
            first, last = eval_generations[0], eval_generations[-1]
            plan.append(("baseline", [(first, last)], earlier_generations, last))
        plan += [("pair", [(a, b)], [a], b) for a, b in pairs]
        comparisons = adjust_for_multiplicity(
            [
                self.compare(
                    evals,
                    columns,
                    compared,
                    "run" if scope == "run" else f"{scope}-{compared[0][0]}-{compared[0][1]}",
                )
                for scope, compared, _, _ in plan
            ]
        )
        recoveries = [
            self._recovery(c, table, curated, columns, curated_generations)
            for c, (_, _, curated_generations, _) in zip(comparisons, plan, strict=True)
        ]
        per_pair = [
            (c, r) for c, r, (scope, *_) in zip(comparisons, recoveries, plan, strict=True) if scope == "pair"
        ]
        return [
            self._finding(c, r, table, evals, columns, declared, generation, scope, per_pair,
                          directions)
            for c, r, (scope, _, _, generation) in zip(comparisons, recoveries, plan, strict=True)
        ]

    def compare(
        self, evals: pd.DataFrame, columns: Sequence[str], pairs: Sequence[tuple[int, int]], name: str
    ) -> Comparison:
        """Fit "later vs earlier" on the shared prompts of ``pairs`` (stacked when several).

        Args:
            evals: Evaluation rows of the output table, sorted by ``trace_id``.
            columns: Feature columns (action shares expanded).
            pairs: (earlier, later) generations; a prompt's rows of each pair form one group.
            name: Stable name; the fold, bootstrap and permutation generators derive from it and
                the seed (each its own stream, so changing one count leaves the others' draws).
        """
        generations = sorted({g for pair in pairs for g in pair})
        rows = evals[evals["generation"].isin(generations)]
        generation = rows["generation"].to_numpy(dtype=int)
        task = rows["task_id"].to_numpy(dtype=int)
        positions, y, pair_index, n_unpaired = stack(generation, task, pairs)
        n_prompts = len(np.unique(task[positions]))
        base = Comparison(name, tuple(pairs), n_prompts, len(positions), n_unpaired, "too-few-prompts")
        if n_prompts < max(MIN_PROMPTS, self.n_folds):
            return base

        raw = rows[list(columns)].to_numpy(dtype=float)
        mean, sd = raw[positions].mean(axis=0), raw[positions].std(axis=0)
        varying = support(raw[positions]) >= MIN_SUPPORT
        if not varying.any():
            return replace(base, status="no-varying-feature")
        standard = (raw[:, varying] - mean[varying]) / sd[varying]
        x, units = standard[positions], task[positions]
        groups = pair_index * GROUP_STRIDE + units
        weights = fit_with_prompt_intercepts(x, y, groups, self.c)
        unit_ids = np.unique(units)
        folds = np.array_split(self._rng(f"{name}/folds").permutation(unit_ids), self.n_folds)
        auc = self._held_out_auc(x, y, groups, units, folds)
        null = self._permutation_null(standard, generation, task, pairs, folds, name)
        boot = self._bootstrap_weights(x, y, groups, units, unit_ids, len(pairs), name)
        alpha = 1 - self.confidence
        interval = None
        if boot:
            stacked = np.vstack(boot)
            interval = (
                expand(np.percentile(stacked, 100 * alpha / 2, axis=0), varying),
                expand(np.percentile(stacked, 100 * (1 - alpha / 2), axis=0), varying),
            )
        full = expand(weights, varying)
        effects = tuple(
            FeatureEffect(
                column,
                float(full[i]) if varying[i] else None,
                float(interval[0][i]) if interval is not None and varying[i] else None,
                float(interval[1][i]) if interval is not None and varying[i] else None,
                float(mean[i]),
                float(sd[i]),
            )
            for i, column in enumerate(columns)
        )
        return replace(
            base,
            status="ok",
            effects=effects,
            auc=auc,
            auc_null_quantile=float(np.quantile(null, self.confidence)) if null else None,
            auc_p=(1 + sum(v >= auc for v in null)) / (1 + len(null)) if null else None,
            alpha=alpha,
            n_permutations=len(null),
            n_bootstrap_used=len(boot),
            mean=tuple(float(v) for v in mean),
            sd=tuple(float(v) for v in sd),
            weights=tuple(float(v) for v in full),
        )

    def _held_out_auc(
        self, x: np.ndarray, y: np.ndarray, groups: np.ndarray, units: np.ndarray, folds: list[np.ndarray]
    ) -> float:
        """Within-prompt AUC of out-of-fold scores (folds of prompts)."""
        scores = np.empty(len(y))
        for fold in folds:
            held = np.isin(units, fold)
            scores[held] = x[held] @ fit_with_prompt_intercepts(x[~held], y[~held], groups[~held], self.c)
        return within_prompt_auc(scores, y, groups)

    def _permutation_null(
        self,
        standard: np.ndarray,
        generation: np.ndarray,
        task: np.ndarray,
        pairs: Sequence[tuple[int, int]],
        folds: list[np.ndarray],
        name: str,
    ) -> list[float]:
        """Held-out AUCs with the generation labels shuffled within each prompt.

        When nothing moved, which of a prompt's samples came from which generation is
        exchangeable; shuffling it and redoing the held-out fit gives the AUC's distribution
        under "nothing moved", refits included.
        """
        rng = self._rng(f"{name}/permutations")
        null = []
        for _ in range(self.n_permutations):
            pos, y_null, k_null, _ = stack(shuffle_within_prompts(generation, task, rng), task, pairs)
            null.append(
            self._held_out_auc(standard[pos], y_null, k_null * GROUP_STRIDE + task[pos], task[pos], folds)
            )
        return null

    def _bootstrap_weights(
        self,
        x: np.ndarray,
        y: np.ndarray,
        groups: np.ndarray,
        units: np.ndarray,
        unit_ids: np.ndarray,
        n_pairs: int,
        name: str,
    ) -> list[np.ndarray]:
        """Weights refitted on resamples of the prompts, each drawn prompt with all its traces."""
        rng = self._rng(f"{name}/bootstrap")
        rows_of = {u: np.flatnonzero(units == u) for u in unit_ids}
        boot = []
        for _ in range(self.n_bootstrap):
            pick = rng.choice(unit_ids, size=len(unit_ids), replace=True)
            idx = np.concatenate([rows_of[u] for u in pick])
            copy = np.repeat(np.arange(len(pick)), [len(rows_of[u]) for u in pick])
            boot.append(
            fit_with_prompt_intercepts(
                x[idx], y[idx], copy * GROUP_STRIDE * n_pairs + groups[idx], self.c
            )
            )
        return boot

    def _rng(self, name: str) -> np.random.Generator:
        return np.random.default_rng(np.random.SeedSequence([self.seed, zlib.crc32(name.encode())]))

    # -- recovery of the recorded A(τ) ----------------------------------------------------------------

    def _recovery(
        self,
        comparison: Comparison,
        table: OutputTable,
        curated: FeatureTable,
        columns: Sequence[str],
        generations: Sequence[int],
    ) -> dict[str, object]:
        """How well the black-box and the white-box reward order traces as the recorded A(τ) does.

        Scored within tasks on the curated deployment traces of ``generations`` (those whose
        curation fed the later models; :func:`iterdeploy.auditors.core.recovery.recovery_numbers`). The
        white-box reward is the implicit-reward auditor's within-task fit of ``kept`` on exactly
        these traces (in-sample, it saw their decisions); the black-box one never saw a decision or
        a deployment trace.
        """
        rows = curated.frame[curated.frame["generation"].isin(list(generations))].reset_index(drop=True)
        out: dict[str, object] = {
            "generations": list(generations),
            "n_traces": len(rows),
            "n_undecided": sum(curated.n_undecided_by_generation.get(g, 0) for g in generations),
        }
        if rows.empty or comparison.status != "ok":
            return {**out, "blackbox": None, "whitebox": None}
        outputs = table.frame.set_index("trace_id").loc[rows["trace_id"].to_numpy(), list(columns)]
        blackbox = comparison.reward(outputs.reset_index(drop=True), columns)
        white = compare_with_declared(rows, curated.expand(WHITE_BOX_FEATURES), seed=self.seed,
                                      name="recovery", n_bootstrap=0, confidence=self.confidence)
        z = outputs.to_numpy(dtype=float)
        return {
            **out,
            "blackbox": recovery_numbers(rows, blackbox),
            "whitebox": recovery_numbers(rows, apply_reward(white.per_unit, rows)),
            "ceiling_linear_output_features": linear_ceiling(
                z, rows["acceptance_prob"].to_numpy(dtype=float)),
            "note": "blackbox: the classifier's log-odds from evaluation outputs only; whitebox: the "
            "within-task fit of kept on these traces' curation decisions (in-sample); both scored "
            "within tasks against A(tau). Read the blackbox numbers only when held_out_auc.separable: "
            "otherwise the weights are fitted noise",
        }

    # -- findings ------------------------------------------------------------------------------------

    def _finding(
        self,
        comparison: Comparison,
        recovery: dict[str, object],
        table: OutputTable,
        evals: pd.DataFrame,
        columns: Sequence[str],
        declared: str,
        generation: int | None,
        scope: str,
        per_pair: Sequence[tuple[Comparison, dict[str, object]]],
        directions: dict[str, int],
    ) -> FindingRow:
        """The finding of one comparison (a pair of generations, or the run's steps stacked).

        Its severity follows :data:`SEVERITY_RULE` from the clear weights that run against the
        declared objective (judged only when the generations are separable); its numbers hold the
        fit, the held-out AUC test, how the model and bootstrap were set up, the inferred reward
        and the recovery of A(τ) (per pair too, for the run-level finding).
        """
        against = against_declared(comparison, directions) if comparison.separable else {}
        severity = severity_of(against)
        gens = sorted({g for pair in comparison.pairs for g in pair})
        numbers: dict[str, object] = {
            "scope": scope,
            "pairs": [list(p) for p in comparison.pairs],
            "fit_status": comparison.status,
            "n_prompts": comparison.n_prompts,
            "n_traces": comparison.n_traces,
            "n_unpaired_traces": comparison.n_unpaired,
            "features": {
                e.feature: {**e.as_dict(), "clear": e in comparison.clear_effects()}
                for e in comparison.effects
            },
            "reference_action": table.reference_action,
            "held_out_auc": self._auc_numbers(comparison),
            "model": self._model_description(),
            "bootstrap": self._bootstrap_description(comparison),
            "declared_objective": declared,
            "declared_directions": directions,
            "against_declared": against,
            "claims": claims_of(comparison, against, generation) if severity == "medium" else [],
            "inferred_reward": inferred_reward(comparison),
            "severity_rule": SEVERITY_RULE,
            "denominators": {str(g): denominators(evals[evals["generation"] == g]) for g in gens},
            "recovery": recovery,
        }
        if scope == "run":
            numbers["recovery_by_pair"] = recovery_by_pair(per_pair)
        evidence = {
            "run_id": table.traces.run_id,
            "generations": gens,
            "purpose": "eval",
            **evidence_ids(comparison, evals, columns),
        }
        return make_finding(
            auditor=self.name,
            kind=KIND,
            severity=severity,
            generation=generation,
            claim=claim(comparison, recovery, evals, against, declared, self.confidence),
            numbers=BlackBoxNumbers.build(numbers),
            evidence=evidence,
        )

    def _auc_numbers(self, comparison: Comparison) -> dict[str, object]:
        """The held-out AUC and its permutation test: what decides whether the generations are
        separable, and so whether any weight is read."""
        return {
            "auc": comparison.auc,
            "permutation_p": comparison.auc_p,
            "permutation_p_bh": comparison.auc_p_adjusted,
            "n_comparisons": comparison.n_comparisons,
            "null_quantile": comparison.auc_null_quantile,
            "alpha": comparison.alpha,
            "n_permutations": comparison.n_permutations,
            "separable": comparison.separable,
            "folds": self.n_folds,
            "note": "out-of-fold scores (folds of prompts); only traces of the same prompt are "
            "compared, so 0.5 = the generations cannot be told apart on the same prompt; "
            "p from shuffling which generation wrote each of a prompt's samples and redoing "
            "the folds; permutation_p_bh is Benjamini-Hochberg adjusted over the audit's "
            "n_comparisons comparisons and decides 'separable' (< alpha); null_quantile is the "
            "AUC chance reaches at the 1 - alpha level",
        }

    def _model_description(self) -> dict[str, object]:
        """What the classifier is, so a reader can refit it: estimator, penalty, scaling, label, units."""
        return {
            "estimator": "iterdeploy.auditors.blackbox.stats.fit_with_prompt_intercepts: the minimiser of "
            "sklearn.linear_model.LogisticRegression(C) on the features plus one-hot prompt "
            "intercepts, by Newton steps through the intercepts' diagonal block",
            "penalty": "l2 on weights and prompt intercepts; common intercept unpenalised",
            "C": self.c,
            "standardized": True,
            "prompt_fixed_effects": True,
            "label": "1 = the later generation of the pair",
            "units": "change in log-odds of 'later generation' per SD of the feature over the "
            "traces fitted; the inferred reward is these log-odds without the prompt constants",
        }

    def _bootstrap_description(self, comparison: Comparison) -> dict[str, object]:
        """How the weights' intervals were drawn, and how many resamples could be used."""
        return {
            "method": "percentile",
            "resample": "prompt",
            "confidence": self.confidence,
            "n_requested": self.n_bootstrap,
            "n_used": comparison.n_bootstrap_used,
            "seed": self.seed,
        }


def audit_blackbox(
    run_dir: str | Path,
    *,
    seed: int = 0,
    n_bootstrap: int = 200,
    features: tuple[str, ...] = DEFAULT_FEATURES,
    confidence: float = 0.95,
    n_permutations: int = 200,
) -> list[FindingRow]:
    """``audit_and_store(run_dir, BlackBoxAuditor(...))``: audit the run in ``run_dir`` from its
    outputs and store the findings, replacing this auditor's earlier ones (kept for callers of the
    former API).

    Raises:
        iterdeploy.simulator.errors.StoreError: When ``run_dir`` is not a readable run store.
        BlackBoxInputError: When the run has no evaluation traces or only one generation of them.
        AuditorConfigError: When the arguments cannot be used.
    """
    auditor = BlackBoxAuditor(
        seed=seed,
        n_bootstrap=n_bootstrap,
        features=features,
        confidence=confidence,
        n_permutations=n_permutations,
    )
    return audit_and_store(run_dir, auditor)
