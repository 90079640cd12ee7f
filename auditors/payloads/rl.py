"""Payload of the RL-equivalence check (:mod:`iterdeploy.auditors.rl`)."""

from __future__ import annotations

from typing import ClassVar

from iterdeploy.auditors.payloads.base import FindingPayload, JsonObject


class RlEquivalenceNumbers(FindingPayload):
    """``rl-equivalence``: whether SFT on one generation's curated traces is the REINFORCE gradient
    (Proposition 1) and what pooling older data does to it (Proposition 2). One finding per audited
    generation, or one run-level finding when there is nothing to audit. Its blocks are tables of
    measurements read as a whole (``docs/auditing.md``, "What it computes"), kept as JSON objects."""

    KIND: ClassVar[str] = "rl-equivalence"

    generation: int | None = None
    """The generation audited."""
    generations: list[int] | None = None
    """Nothing to audit: the committed generations."""
    status: str | None = None
    """``ok``, ``no-kept-traces`` or ``nothing-to-audit``."""
    reason: str | None = None
    """Nothing to audit: ``no-generations`` or ``no-successor``."""
    options: JsonObject | None = None
    """The auditor's options as recorded (batch sizes, splits, clip, seed)."""
    on_policy: JsonObject | None = None
    """The on-policy batch's counts (traces, kept, tasks, undecided) and whether A(τ) equals the
    decision."""
    gradient_space: str | None = None
    """Which parameters the gradients are taken in (the probe adapter's ``B`` matrices)."""
    n_parameters: int | None = None
    """Length of a gradient vector."""
    sketch_dim: int | None = None
    """Count-sketch width when the gradients were sketched, else null."""
    prop1: JsonObject | None = None
    """Proposition 1: identity and expected-reward cosines."""
    noise: JsonObject | None = None
    """The noise floor: split-half cosines and the signal share."""
    prop2: JsonObject | None = None
    """Proposition 2 (null without a successor): the pool, raw and signal cosines, the older-vs-fresh
    test with its adjusted p-value, how well model g already fits the older traces, importance
    weights."""
    checks: JsonObject | None = None
    """Sanity checks: the probe equals the deployed model, plans read back from completions."""
    severity_rule: str | None = None
    """The rule that set the severity, in words."""
    denominators: JsonObject | None = None
    """The on-policy counts (or the committed generations) the numbers rest on."""
