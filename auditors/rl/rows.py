"""The rows of one generation's RL equivalence finding, from what the models gave.

:mod:`iterdeploy.auditors.rl.measure` draws the on-policy batch and the pool sample and runs the models (the
traces' encodings, the pool's log-likelihood ratios, the per-trace gradients at the probe); what
comes out is an :class:`Inputs`. Everything here is arithmetic on it, with no model and no store:
the rows that :mod:`iterdeploy.auditors.rl.equivalence` documents (Proposition 1's identity and the
expected-reward row, the noise floor, the pooled-data rows of Proposition 2) and the ``numbers``
dictionary of the finding, key by key.

The half-splits draw from the generation's generator after the probe's seed; the bootstrap of the
signal cosines and the permutation test each draw from their own generator
(:meth:`iterdeploy.auditors.rl.settings.Options.rng`), so adding a row never moves another's numbers.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from iterdeploy.auditors.rl.gradients import (
    Encoded,
    GradientGeometry,
    ImportanceWeights,
    TraceGradients,
    importance_weights,
)
from iterdeploy.auditors.rl.run_data import Trace
from iterdeploy.auditors.rl.settings import N_PERMUTATIONS, Options
from iterdeploy.simulator.models.training import IGNORE
from iterdeploy.simulator.store import TraceRow


def _summary(values: Sequence[float | None]) -> dict[str, float | None]:
    vals = [v for v in values if v is not None]
    if not vals:
        return {"mean": None, "min": None, "max": None}
    return {"mean": float(np.mean(vals)), "min": float(np.min(vals)), "max": float(np.max(vals))}


# -- what the rows are computed from -------------------------------------------------------------


@dataclass(frozen=True)
class OnPolicy:
    """Generation g's deployment traces and the on-policy batch S drawn from them: the batch's
    kept traces are SFT's data, its rewarded ones (kept, or A(τ) > 0) REINFORCE's non-zero rows."""

    all_traces: list[Trace]
    n_undecided: int
    batch: list[Trace]
    kept: list[Trace]
    rewarded: list[Trace]

    def counts(self) -> dict[str, object]:
        """The ``on_policy`` numbers: the generation's counts, then the batch's."""
        return {
            "n_tasks_in_generation": len({t.task_id for t in self.all_traces}),
            "n_traces_in_generation": len(self.all_traces),
            "n_kept_in_generation": sum(t.kept for t in self.all_traces),
            "n_undecided": self.n_undecided,
            "n_tasks": len({t.task_id for t in self.batch}),
            "n_traces": len(self.batch),
            "n_kept": len(self.kept),
            "n_acceptance_positive": sum(1 for t in self.batch if t.acceptance > 0),
            "acceptance_equals_decision": all(float(t.kept) == t.acceptance for t in self.batch),
        }


@dataclass(frozen=True)
class Pool:
    """The training set of generation g + 1 as stored and the sample of it that is measured; its
    model-written traces (``behaviour``, the ones with a behaviour policy for importance weights)
    and those of them from generations before g (``older``)."""

    pool: list[Trace]
    sample: list[Trace]
    behaviour: list[Trace]
    older: list[Trace]


@dataclass(frozen=True)
class Table:
    """Every distinct trace the numbers use, one row each in trace-id order: the pool sample and the
    batch's rewarded traces (an on-policy row carries the decision and A(τ)). Every gradient compared
    is a weighting of these rows, given as a vector over them."""

    traces: list[Trace]
    index: dict[int, int]

    @classmethod
    def of(cls, pool_sample: list[Trace], rewarded: list[Trace]) -> Table:
        """The table of the pool sample and the rewarded traces (one row for a trace in both)."""
        rows_by_id: dict[int, Trace] = {t.trace_id: t for t in pool_sample}
        rows_by_id.update({t.trace_id: t for t in rewarded})
        traces = [rows_by_id[i] for i in sorted(rows_by_id)]
        return cls(traces, {t.trace_id: i for i, t in enumerate(traces)})

    def vec(self, weights: dict[int, float]) -> np.ndarray:
        """Trace id → weight, as a vector over the rows (0 for the traces not named)."""
        out = np.zeros(len(self.traces))
        for trace_id, w in weights.items():
            out[self.index[trace_id]] = w
        return out

    def ones(self, traces: Iterable[Trace]) -> np.ndarray:
        """Weight 1 on each of ``traces``: SFT on them, or REINFORCE with a 0/1 reward."""
        return self.vec({t.trace_id: 1.0 for t in traces})

    def weighted(self, traces: Sequence[Trace], weights: np.ndarray) -> np.ndarray:
        """``weights[i]`` on ``traces[i]``: importance-weighted SFT on them."""
        return self.vec({t.trace_id: float(w) for t, w in zip(traces, weights, strict=True)})


@dataclass(frozen=True)
class Gradients:
    """The table's per-trace gradients at generation g's probe, their geometry, and Proposition 1's
    identity cosine (the one number that needs the probe itself, which is dropped after it)."""

    grads: TraceGradients
    geometry: GradientGeometry
    space: str
    identity: float | None


@dataclass(frozen=True)
class Inputs:
    """Everything one generation's rows are computed from once the models have run: the batch, the
    pool sample, the table of their traces with encodings and gradients, and the pool's
    log-likelihood ratios with the importance weights formed from them."""

    generation: int
    opts: Options
    on: OnPolicy
    pool: Pool
    table: Table
    encoded: dict[int, Encoded]
    gradients: Gradients
    log_ratio: dict[int, float]
    pool_weights: ImportanceWeights

    @property
    def geometry(self) -> GradientGeometry:
        return self.gradients.geometry

    @property
    def a_kept(self) -> np.ndarray:
        """SFT on the batch's kept traces, the on-policy side of most rows."""
        return self.table.ones(self.on.kept)


# -- the rows ------------------------------------------------------------------------------------


@dataclass
class SplitRows:
    """Raw cosines per random half-split of the batch's tasks with a kept trace: the noise floor
    (REINFORCE on one half vs SFT on the other's kept traces) and the pool sample against the same
    reference, unweighted and importance-weighted, with the sizes they rest on."""

    floor: list[float | None] = field(default_factory=list)
    pool: list[float | None] = field(default_factory=list)
    pool_iw: list[float | None] = field(default_factory=list)
    ess: list[float] = field(default_factory=list)
    n_floor: list[int] = field(default_factory=list)


def split_rows(m: Inputs, rng: np.random.Generator) -> SplitRows:
    """The raw rows over ``n_splits`` random half-splits (none with fewer than two kept tasks).
    The pool side leaves out the reference half's tasks and is subsampled to the floor's size, so
    the two rows are read against each other at equal sizes."""
    out = SplitRows()
    kept_tasks = sorted({t.task_id for t in m.on.kept})
    if len(kept_tasks) < 2:
        return out
    for _ in range(m.opts.n_splits):
        order = rng.permutation(kept_tasks)
        half = {int(x) for x in order[: (len(order) + 1) // 2]}
        ref = m.table.ones(t for t in m.on.kept if t.task_id in half)
        floor = [t for t in m.on.kept if t.task_id not in half]
        out.n_floor.append(len(floor))
        out.floor.append(m.geometry.raw_cosine(m.table.ones(floor), ref))
        candidates = [t for t in m.pool.sample if t.task_id not in half]
        if len(candidates) > len(floor):
            pick = rng.choice(len(candidates), size=len(floor), replace=False)
            candidates = [candidates[i] for i in sorted(pick)]
        if not candidates:
            continue
        out.pool.append(m.geometry.raw_cosine(m.table.ones(candidates), ref))
        weighted = [t for t in candidates if t.purpose == "deploy"]
        iw = importance_weights(np.array([m.log_ratio[t.trace_id] for t in weighted]), m.opts.clip)
        out.ess.append(iw.ess)
        out.pool_iw.append(m.geometry.raw_cosine(m.table.weighted(weighted, iw.weights), ref))
    return out


def _signal_cosines(m: Inputs) -> dict[str, object]:
    """Signal cosines (of the expected gradients) of the pool sample, importance-weighted, and of
    its older part, each against the batch's kept traces, with task-bootstrap intervals drawn in
    that order from the generation's own bootstrap generator."""
    boot = m.opts.rng(f"generation-{m.generation}/bootstrap")
    a_kept, n_boot = m.a_kept, m.opts.n_bootstrap
    signal: dict[str, object] = {}
    if m.pool.sample:
        signal["pool"] = m.geometry.interval(m.table.ones(m.pool.sample), a_kept, boot, n_boot)
        signal["pool_importance_weighted"] = (
            m.geometry.interval(
                m.table.weighted(m.pool.behaviour, m.pool_weights.weights), a_kept, boot, n_boot
            )
            if m.pool.behaviour
            else None
        )
        signal["pool_older_generations"] = (
            m.geometry.interval(m.table.ones(m.pool.older), a_kept, boot, n_boot) if m.pool.older else None
        )
    return signal


def _older_vs_fresh(m: Inputs) -> dict[str, float | int | None] | None:
    """The permutation test of equal expected gradients, the pool sample's older traces vs the
    batch's kept ones (None without older traces in the sample)."""
    if not m.pool.older:
        return None
    return m.geometry.mean_difference_test(
        m.table.ones(m.pool.older) > 0,
        m.a_kept > 0,
        m.opts.rng(f"generation-{m.generation}/permutation"),
        N_PERMUTATIONS,
    )


def _already_fit(m: Inputs) -> dict[str, dict[str, float | int | None]] | None:
    """How well model g already fits the older traces it was trained on, against fresh kept ones:
    median per-trace gradient norm and mean log-probability per scored completion token (None
    without older traces in the sample)."""
    if not m.pool.older:
        return None
    norms = np.sqrt(np.clip(np.diag(m.geometry.gram), 0.0, None))
    n_scored = np.array([sum(1 for x in m.encoded[t.trace_id][1][1:] if x != IGNORE) for t in m.table.traces])
    per_token = m.gradients.grads.logprobs / np.maximum(n_scored, 1)

    def fit(group: list[Trace]) -> dict[str, float | int | None]:
        idx = [m.table.index[t.trace_id] for t in group]
        return {
            "n": len(idx),
            "median_gradient_norm": float(np.median(norms[idx])) if idx else None,
            "mean_logprob_per_token": float(np.mean(per_token[idx])) if idx else None,
        }

    return {"fresh_kept": fit(m.on.kept), "older": fit(m.pool.older)}


# -- the numbers ---------------------------------------------------------------------------------


def prop1_numbers(m: Inputs) -> dict[str, object]:
    """Proposition 1's rows: the identity, and the expected-reward cosine (SFT on the kept traces
    vs REINFORCE with A(τ) over the batch's rewarded traces)."""
    n_batch = len(m.on.batch)
    a_accept = m.table.vec({t.trace_id: t.acceptance / n_batch for t in m.on.rewarded})
    return {
        "identity_cosine": m.gradients.identity,
        "expected_reward_cosine": m.geometry.raw_cosine(m.a_kept, a_accept),
        "n_sft": len(m.on.kept),
        "n_reinforce": n_batch,
        "note": "raw cosines. identity: SFT on the kept traces (their per-trace gradients summed) "
        "vs REINFORCE with the 0/1 decision over the same batch (autograd of its loss): 1 by "
        "algebra, so the sanity row of the whole gradient machinery. expected_reward: the same "
        "SFT gradient vs REINFORCE with the population's acceptance probability A(tau)",
    }


def noise_numbers(m: Inputs, splits: SplitRows) -> dict[str, object]:
    """The noise floor: split-half cosines, and how much of the batch gradient is systematic."""
    return {
        "split_half_cosine": {"cosines": splits.floor, **_summary(splits.floor), "n_sft": splits.n_floor},
        "signal_share": m.geometry.signal_share(m.a_kept),
        "note": "split_half_cosine: raw cosine of REINFORCE (0/1 decision) on a random half of the "
        "batch's tasks with a kept trace vs SFT on the other half's kept traces; signal_share: "
        "the systematic part of the squared length of the batch's mean SFT gradient",
    }


def _weights_numbers(m: Inputs, temperature: float) -> dict[str, object]:
    """The pool sample's importance weights: how many traces they rest on, clipping, log-ratios."""
    ratios = np.array([m.log_ratio[t.trace_id] for t in m.pool.behaviour])
    weights = m.pool_weights
    return {
        "n": len(m.pool.behaviour),
        "n_reference_plans_left_out": len(m.pool.sample) - len(m.pool.behaviour),
        "ess": weights.ess,
        "ess_before_clip": weights.ess_before_clip,
        "n_clipped": weights.n_clipped,
        "max_weight_before_clip": weights.max_before_clip,
        "log_ratio": None
        if not len(ratios)
        else {
            "min": float(ratios.min()),
            "median": float(np.median(ratios)),
            "max": float(ratios.max()),
        },
        "temperature": temperature,
    }


def prop2_numbers(m: Inputs, splits: SplitRows, temperature: float) -> dict[str, object] | None:
    """Proposition 2's rows, None when the successor has no training set: the pool's make-up, the
    raw rows per split, the signal cosines, the older-vs-fresh test, the fit of the older traces
    and the importance weights."""
    pool = m.pool.pool
    if not pool:
        return None
    by_source: dict[str, int] = {}
    for t in pool:
        key = "reference" if t.purpose != "deploy" else str(t.generation)
        by_source[key] = by_source.get(key, 0) + 1
    already_fit, older_test = _already_fit(m), _older_vs_fresh(m)
    return {
        "successor_generation": m.generation + 1,
        "pool_size": len(pool),
        "pool_by_source": dict(sorted(by_source.items())),
        "older_share": sum(1 for t in pool if t.purpose == "deploy" and t.generation < m.generation)
        / len(pool),
        "n_sample": len(m.pool.sample),
        "n_sample_older": len(m.pool.older),
        "already_fit": None
        if already_fit is None
        else {
            **already_fit,
            "note": "model g was trained on the older traces: per-trace gradient norm and "
            "log-probability per completion token under model g, older vs fresh kept traces",
        },
        "raw": {
            "unweighted": {"cosines": splits.pool, **_summary(splits.pool)},
            "importance_weighted": {
                "cosines": splits.pool_iw,
                **_summary(splits.pool_iw),
                "ess": _summary(splits.ess),
            },
            "note": "per split: SFT on the pool sample minus the reference half's tasks, "
            "subsampled to the split-half SFT set's size, vs the same reference; compare with "
            "noise.split_half_cosine",
        },
        "signal": {
            **_signal_cosines(m),
            "note": "estimated cosine of the expected gradients (pairs of traces from the same "
            "task left out), each against the on-policy batch's kept traces; 1 = same "
            "direction as on-policy RL; interval: percentile bootstrap over tasks",
        },
        "signal_share": m.geometry.signal_share(m.table.ones(m.pool.sample)),
        "older_vs_fresh": None
        if older_test is None
        else {
            **older_test,
            "note": "two-sample test of equal expected gradients: the pool sample's traces from "
            "older generations (a) vs the on-policy batch's kept traces (b); statistic: "
            "noise-free estimate of |mu_a - mu_b|^2; relative: over |mu_b|^2; p-value: "
            "permutation of whole tasks; norm_ratio |mu_a|/|mu_b| and cosine(mu_a, mu_b) say "
            "whether a difference is of size or of direction (model g was trained on the older "
            "traces, so they tend to have smaller gradients there)",
        },
        "weights": _weights_numbers(m, temperature),
    }


def checks_numbers(
    m: Inputs, target: dict[int, float], texts_of: dict[int, TraceRow], n_mismatch: int, temperature: float
) -> dict[str, object]:
    """Checks of the measurement itself: the probe is the deployed model (their log-probabilities of
    the same traces, comparable only at temperature 1 and on completions not cut at the token
    limit), and the prompts were rebuilt as sampled."""
    diffs = [
        abs(m.gradients.grads.logprobs[m.table.index[i]] - target[i])
        for i in target
        if not texts_of[i].hit_token_limit and temperature == 1.0
    ]
    return {
        "probe_logprob_max_abs_diff": max(diffs) if diffs else None,
        "n_plan_text_mismatch": n_mismatch,
        "note": "probe_logprob_max_abs_diff: the probe (fresh adapter, B = 0) vs the deployed "
        "model on the same traces, ~0 when the probe is the deployed function; "
        "n_plan_text_mismatch: traces whose completion, read with the rebuilt prompt's object "
        "names, does not give the stored plan (0: prompts rebuilt as sampled)",
    }
