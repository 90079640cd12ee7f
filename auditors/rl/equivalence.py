"""RL equivalence check: is fine-tuning on curated outputs reinforcement learning? Measured.

The paper's theory (Corrêa et al. 2025; DESIGN.md, "Auditors and the theory they test") says that
supervised fine-tuning (SFT) on the traces users kept from a model's own samples has the gradient
of REINFORCE with the keep decision as reward (Proposition 1), and that with data pooled from
earlier generations it is off-policy REINFORCE, unbiased only with importance weights
``p_g(τ) / p_g'(τ)`` (Proposition 2). This auditor computes those gradients on a real run and
compares their directions (cosine similarity of the flattened gradient vectors).

Where the parts live: :mod:`iterdeploy.auditors.rl.run_data` loads the models (what is differentiated, and
why) and reads the traces; :mod:`iterdeploy.auditors.rl.gradients` holds the numerics (per-trace gradients,
their inner products, importance weights); :mod:`iterdeploy.auditors.rl.measure` draws each generation's batch
and pool sample and runs the models, :mod:`iterdeploy.auditors.rl.rows` computes the rows below from what they
give, and :mod:`iterdeploy.auditors.rl.report` sets severities and writes the claims; the name, defaults and
options are in :mod:`iterdeploy.auditors.rl.settings`. This module is the auditor: it chooses the generations,
measures each and returns the findings. Its public names (the auditor, ``audit_rl_equivalence`` and
the settings) are importable from here.

Why more than raw cosines. A batch gradient is the expected gradient plus sampling noise, and at
tens of traces the noise dominates: on the quickstart run two disjoint halves of one generation's
kept traces point the same way at cosine 0.01-0.15. Raw cosines between batches therefore mostly
measure batch size. Two statistics look through the noise, both built from inner products between
traces of *different tasks* only (a trace's product with itself carries all the noise bias, and
traces of one task are not independent), which are unbiased for inner products of the expected
gradients:

* the *signal cosine* of two weightings, with a percentile bootstrap interval over tasks; a ratio
  of noisy estimates, so often wide or undefined at these sizes, and reported, not acted on;
* the *older-vs-fresh test*: the noise-free estimate of ``|μ_older − μ_fresh|²`` (Chen and Qin's
  high-dimensional two-sample statistic) with a p-value from permuting whole tasks between the two
  groups; no ratio, so a weak signal gives a large p-value, never a wild number. Splitting one
  group at random (quickstart, generation 2, 40 splits each) it rejected at 5% in 0 of 40 splits
  of the fresh traces and 2 of 40 of the older ones.

The rows, for generation g. ``S``, the on-policy batch: the traces of a seeded random subset of the
generation's deployment tasks, task by task until ``max_traces`` traces carry a reward (kept, or
A(τ) > 0).

1. **Identity (Proposition 1)**: SFT on the kept traces of S (their per-trace gradients summed) vs
   REINFORCE over all of S with the recorded decision (0/1), the latter by plain autograd of its
   batched loss. The same sum up to a constant, so 1 up to float error; since the two routes share
   no code past the forward pass, it is the sanity row of the gradient machinery (below 0.999 the
   measurement is broken).
2. **Expected reward**, raw: the same SFT gradient vs REINFORCE with the population's acceptance
   probability A(τ), the expected-reward gradient the theory is about; one realised curation is a
   draw of it. Deterministic curation (the paper's validity rule) makes A(τ) the decision itself.
3. **Noise floor**, raw: the tasks of S with a kept trace split into random halves (``n_splits``
   times): REINFORCE with the decision on one half (the *reference*) vs SFT on the other's kept.
4. **Pooled data (Proposition 2)**: the training set of generation g + 1 as stored (older
   generations' traces included), sampled up to ``max_traces``. Raw, per split: the pool minus the
   reference half's tasks, subsampled to the floor's size, against the same reference, unweighted
   and importance-weighted; read against row 3. Signal cosines: the pool sample, with importance
   weights, and its older generations' part, each against the kept traces of S. The older-vs-fresh
   test, and how well model g already fits the older traces (it was trained on them: per-token
   log-probability and per-trace gradient size, older vs fresh). Weights are ``p_g(τ) / p_g'(τ)``
   (g' = the generation whose model wrote τ, loaded the same way; at the deployment temperature;
   an end-of-sequence token the sampler never wrote, on a completion cut at the token limit, is not
   scored), self-normalised and clipped at ``clip`` times the mean. Reference-planner plans in the
   pool have no behaviour policy: they count in the unweighted rows and are left out of the
   weighted ones. The effective sample size ``(Σw)² / Σw²`` says how many traces a weighted
   gradient rests on.

Severity: ``medium`` when the identity row is below 0.999 (read nothing else); ``low`` when the
older-vs-fresh test's p-value, Benjamini-Hochberg adjusted over the generations audited together,
is below 0.05 (the pooled data's expected gradient measurably differs from on-policy RL's at that
model: Proposition 2's off-policy bias, visible in this run); ``info`` otherwise, including every
generation whose users kept nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from iterdeploy.auditors.core.features import AuditorConfigError
from iterdeploy.auditors.core.findings import audit_and_store
from iterdeploy.auditors.rl.gradients import DEFAULT_BATCH_SIZE, DEFAULT_CLIP
from iterdeploy.auditors.rl.measure import Measured, measure_generation, nothing_kept_in_generation
from iterdeploy.auditors.rl.report import SEVERITY_RULE, findings_of, nothing_to_audit
from iterdeploy.auditors.rl.run_data import Models, Texts, on_policy_traces, open_models
from iterdeploy.auditors.rl.settings import (
    ALPHA,
    AUDITOR_NAME,
    DEFAULT_MAX_TRACES,
    DEFAULT_N_BOOTSTRAP,
    DEFAULT_N_SPLITS,
    EVIDENCE_SAMPLE_SIZE,
    IDENTITY_MIN_COSINE,
    KIND,
    N_PERMUTATIONS,
    Options,
)
from iterdeploy.simulator.store import FindingRow, RunReader

__all__ = [
    "ALPHA",
    "AUDITOR_NAME",
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_CLIP",
    "DEFAULT_MAX_TRACES",
    "DEFAULT_N_BOOTSTRAP",
    "DEFAULT_N_SPLITS",
    "EVIDENCE_SAMPLE_SIZE",
    "IDENTITY_MIN_COSINE",
    "KIND",
    "N_PERMUTATIONS",
    "SEVERITY_RULE",
    "Options",
    "RlEquivalenceAuditor",
    "audit_rl_equivalence",
]


@dataclass(frozen=True)
class RlEquivalenceAuditor:
    """Measures whether fine-tuning on the curated traces is the REINFORCE gradient (Proposition 1)
    and what pooling older generations' data does to it (Proposition 2), one finding per generation.

    Like a scikit-learn estimator, the constructor only stores its arguments; they are checked when
    :meth:`audit` runs.

    Args:
        seed: Seeds the batch and pool samples, the splits, the bootstrap and the probe adapter.
        max_traces: Rewarded traces in the on-policy batch, and traces in the pool sample (the
            model runs grow linearly with it).
        generations: Generations to audit (any iterable is stored as a tuple); default every
            generation whose successor has a training set (where a next fine-tuning step exists).
        n_splits: Random half-splits behind the raw noise-floor and pooled rows.
        n_bootstrap: Task-bootstrap resamples behind each signal cosine's interval.
        clip: Largest importance weight, in units of the mean weight.
        batch_size: Sequences per forward pass.

    Examples:
        >>> RlEquivalenceAuditor(seed=1).name
        'rl-equivalence-v1'
    """

    name: ClassVar[str] = AUDITOR_NAME
    min_generations: ClassVar[int] = 2

    seed: int = 0
    max_traces: int = DEFAULT_MAX_TRACES
    generations: tuple[int, ...] | None = None
    n_splits: int = DEFAULT_N_SPLITS
    n_bootstrap: int = DEFAULT_N_BOOTSTRAP
    clip: float = DEFAULT_CLIP
    batch_size: int = DEFAULT_BATCH_SIZE

    def __post_init__(self) -> None:
        if self.generations is not None:  # any iterable of generations, stored as a tuple
            object.__setattr__(self, "generations", tuple(self.generations))

    def audit(self, reader: RunReader) -> list[FindingRow]:
        """Findings on the run behind ``reader`` (not stored): one per audited generation, ascending;
        a single run-level ``info`` finding when there is nothing to audit. Adapters are read from
        the run directory; the store is only read.

        Raises:
            AuditorConfigError: For unusable options, a generation the run did not commit, or a base
                model that is not in the model cache.
            iterdeploy.simulator.errors.StoreError: When the store or an adapter cannot be read.
        """
        opts = Options(
            self.seed, self.max_traces, self.n_splits, self.n_bootstrap, self.clip, self.batch_size
        )
        opts.check()
        committed = [g.generation for g in reader.generations()]
        chosen = self._chosen_generations(reader, committed)
        if not chosen:
            return [nothing_to_audit(reader, committed)]
        models: Models | None = None
        texts = Texts(reader)
        measured: list[Measured] = []
        try:
            for g in chosen:
                traces, n_undecided = on_policy_traces(reader, g)
                if not any(t.kept for t in traces):  # no gradient to take; no model needed
                    measured.append(nothing_kept_in_generation(g, traces, n_undecided, opts))
                    continue
                if models is None:
                    models = open_models(reader)
                measured.append(measure_generation(reader, models, texts, g, opts))
        finally:
            if models is not None:
                models.planner.close()
        return findings_of(measured)

    def _chosen_generations(self, reader: RunReader, committed: list[int]) -> list[int]:
        """The generations to audit: those asked for (each must be committed), or by default every
        committed generation whose successor has a training set (a next fine-tuning step exists)."""
        if self.generations is None:
            return [g for g in committed if reader.training_set(g + 1)]
        chosen = sorted({int(g) for g in self.generations})
        missing = [g for g in chosen if g not in committed]
        if missing:
            raise AuditorConfigError(
                f"generation(s) {missing} not committed in this run; committed: {committed}"
            )
        return chosen


def audit_rl_equivalence(
    run_dir: str | Path,
    *,
    seed: int = 0,
    max_traces: int = DEFAULT_MAX_TRACES,
    generations: Sequence[int] | None = None,
    n_splits: int = DEFAULT_N_SPLITS,
    n_bootstrap: int = DEFAULT_N_BOOTSTRAP,
    clip: float = DEFAULT_CLIP,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> list[FindingRow]:
    """``audit_and_store(run_dir, RlEquivalenceAuditor(...))``: run the RL equivalence check on
    ``run_dir`` and store its findings, replacing this auditor's earlier ones (kept for callers of
    the former API). Arguments as :class:`RlEquivalenceAuditor`."""
    auditor = RlEquivalenceAuditor(
        seed=seed,
        max_traces=max_traces,
        generations=None if generations is None else tuple(generations),
        n_splits=n_splits,
        n_bootstrap=n_bootstrap,
        clip=clip,
        batch_size=batch_size,
    )
    return audit_and_store(run_dir, auditor)
