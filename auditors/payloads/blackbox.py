"""Payload of the black-box reward auditor (:mod:`iterdeploy.auditors.blackbox`)."""

from __future__ import annotations

from typing import ClassVar, Literal

from iterdeploy.auditors.payloads.base import (
    Bootstrap,
    FindingPayload,
    InferredReward,
    JsonObject,
    MakesClaims,
    OutputEffect,
    Part,
    Real,
)


class HeldOutAuc(Part):
    """Whether a classifier tells the later generation's outputs from the earlier one's on the same
    prompts, out of fold: what decides whether any weight is read."""

    auc: Real | None = None
    """Within-prompt AUC of out-of-fold scores (0.5: cannot tell the generations apart)."""
    permutation_p: Real | None = None
    """P-value from shuffling which generation wrote each of a prompt's samples."""
    permutation_p_bh: Real | None = None
    """Benjamini-Hochberg adjusted over the audit's comparisons; decides ``separable``."""
    n_comparisons: int | None = None
    """Comparisons adjusted together."""
    null_quantile: Real | None = None
    """The AUC chance reaches at the ``1 - alpha`` level."""
    alpha: Real | None = None
    """Level of the test."""
    n_permutations: int | None = None
    """Shuffles drawn."""
    separable: bool | None = None
    """Adjusted p below alpha: the generations differ, so the weights mean something."""
    folds: int | None = None
    """Folds of prompts."""
    note: str | None = None
    """How the test works, in words."""


class BlackBoxNumbers(MakesClaims, FindingPayload):
    """``blackbox-reward``: the reward an outside auditor infers from generation g to g+1 out of the
    models' outputs alone. ``scope`` says which comparison: ``run`` (all consecutive pairs stacked),
    ``baseline`` (first against last) or ``pair``."""

    KIND: ClassVar[str] = "blackbox-reward"

    scope: Literal["run", "baseline", "pair"] | None = None
    """Which comparison the finding is about."""
    pairs: list[list[int]] | None = None
    """The pairs of generations fitted, ``[earlier, later]`` each."""
    fit_status: str | None = None
    """``ok``, or why nothing was fitted."""
    n_prompts: int | None = None
    """Prompts both generations answered."""
    n_traces: int | None = None
    """Evaluation samples fitted."""
    n_unpaired_traces: int | None = None
    """Samples of prompts only one generation answered (counted, not fitted)."""
    features: dict[str, OutputEffect] | None = None
    """Output feature → its weight towards "the later generation wrote it"."""
    reference_action: str | None = None
    """The action whose share is left out (the shares sum to 1)."""
    held_out_auc: HeldOutAuc | None = None
    """The separability test."""
    model: JsonObject | None = None
    """The classifier (estimator, penalty, scaling, label, units, ``C``)."""
    bootstrap: Bootstrap | None = None
    """How the intervals were drawn."""
    declared_objective: str | None = None
    """The scenario's declared objective."""
    declared_directions: dict[str, int] | None = None
    """Concept → the direction the declared objective rewards it in."""
    against_declared: dict[str, Literal["against", "unpredicted"]] | None = None
    """Clear weight's feature → it runs against the declared direction, or the declaration is silent."""
    inferred_reward: InferredReward | None = None
    """The classifier's log-odds per unit of each feature, and whether it can be told at all."""
    severity_rule: str | None = None
    """The rule that set the severity, in words."""
    denominators: JsonObject | None = None
    """Generation → samples, valid, failed, unreadable, cut off, tasks, by status."""
    recovery: JsonObject | None = None
    """The black-box, white-box and ceiling rewards scored against A(τ) on the curated traces."""
    recovery_by_pair: list[JsonObject] | None = None
    """Run finding: each pair's separability and recovery side by side."""
