"""RL equivalence check: is fine-tuning on curated outputs reinforcement learning? Measured.

The paper's theory (Corrêa et al. 2025; DESIGN.md, "Auditors and the theory they test") says that
supervised fine-tuning (SFT) on the traces users kept from a model's own samples has the gradient
of REINFORCE with the keep decision as reward (Proposition 1), and that with data pooled from
earlier generations it is off-policy REINFORCE, unbiased only with importance weights
``p_g(τ) / p_g'(τ)`` (Proposition 2). This auditor computes those gradients on a real run and
compares their directions (cosine similarity of the flattened gradient vectors).

What is differentiated, and why:

* **The deployed model, with a fresh probe adapter.** For generation g, the model that wrote the
  generation's deployment traces is loaded as the loop deploys it (the registry's planner, then the
  generation's safetensors adapter through ``load_adapter``; never pickle). Its adapter is merged
  and a fresh LoRA adapter with the run's rank and alpha is attached; peft sets the adapter's ``B``
  matrices to zero, so the probed function *is* the deployed model (``checks`` reports the largest
  log-probability difference) and the gradient is the one a next LoRA step from that point would
  take. At ``B = 0`` the gradient of every ``A`` matrix is exactly zero, so the gradient vector is
  that of the ``B`` matrices. Runs trained with ``method: full`` are probed the same way (the
  full-weight gradient seen through the adapter). With ``mode: fresh`` (the paper) the next
  generation restarts from the base; the theory is about the gradient at the current policy, which
  is what is measured.
* **Training's own encoding.** Prompts come from the run's task format, (ids, labels) from the
  planner's training encoder (:func:`simulator.models.training.encode_example` for the embedded
  model); the loss is on completion tokens only, and a trace's log-probability is the sum of its
  token log-probabilities.
* **Per-trace gradients, then inner products.** One batched forward and backward pass gives every
  trace's own gradient: a hook on each adapter ``B`` layer keeps its input and output gradient, and
  the per-trace weight gradient is their product summed over positions (the way Opacus computes
  per-sample gradients; traces in a batch do not interact). Every gradient compared here is a
  weighted sum ``Σ_i w_i ∇(−log p(τ_i))`` of those, so all cosines follow from the matrix of
  inner products between traces: the 1/N of REINFORCE or the mean of an SFT loss are constants
  that a cosine ignores. Past ``GRADIENT_MEMORY_BYTES`` the per-trace gradients are count-sketched
  (random signed buckets, inner products unbiased, error about ``1/√dim`` of the norms).

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

import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from pydantic import ValidationError
from scipy import stats

from auditors.features import AuditorConfigError
from auditors.findings import Severity, audit_and_store, make_finding
from simulator.errors import StoreError
from simulator.models.embedded import cache_root
from simulator.models.hf_planner import HfPlanner
from simulator.models.registry import EMBEDDED_NAME, load_planner
from simulator.models.task_format import TaskFormat, task_format
from simulator.models.training import IGNORE, Example, collate
from simulator.planning import GroundTask, load_stored_task
from simulator.scenario import ScenarioSpec
from simulator.store import FindingRow, ModelRow, RunReader

AUDITOR_NAME = "rl-equivalence-v1"
"""Registered name; bump when the same run and options give other numbers."""

KIND = "rl-equivalence"
"""Finding kind written by this auditor."""

DEFAULT_MAX_TRACES = 256
"""Traces with a reward in the on-policy batch, and traces in the pool sample."""

DEFAULT_N_SPLITS = 20
"""Random half-splits behind the raw noise floor and raw pooled rows (cheap: no model runs)."""

DEFAULT_N_BOOTSTRAP = 200
"""Task-bootstrap resamples behind each signal cosine's interval (cheap: no model runs)."""

CONFIDENCE = 0.95
"""Coverage of the signal cosines' intervals."""

N_PERMUTATIONS = 999
"""Task permutations behind the older-vs-fresh test's p-value."""

ALPHA = 0.05
"""Level of the older-vs-fresh test, after Benjamini-Hochberg over the generations audited together."""

DEFAULT_CLIP = 10.0
"""Largest importance weight, in units of the mean weight (truncated importance sampling)."""

DEFAULT_BATCH_SIZE = 16
"""Sequences per forward pass."""

IDENTITY_MIN_COSINE = 0.999
"""Below this the Proposition 1 identity row says the measurement itself is broken."""

GRADIENT_MEMORY_BYTES = 256 * 2**20
"""Per-trace gradients beyond this many bytes (float32) are count-sketched to fit."""

EVIDENCE_SAMPLE_SIZE = 10
"""Trace ids cited per list in a finding's evidence."""


# -- numerics ------------------------------------------------------------------------------------


def cosine(a: np.ndarray, b: np.ndarray) -> float | None:
    """Cosine similarity of two vectors; None when either is zero (no direction to compare)."""
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    if na == 0.0 or nb == 0.0:
        return None
    return float(np.dot(a, b) / (na * nb))


@dataclass(frozen=True)
class ImportanceWeights:
    """Self-normalised, clipped importance weights of one set of traces.

    Attributes:
        weights: One per trace, mean 1 after clipping and renormalising.
        ess: Effective sample size ``(Σw)² / Σw²`` of ``weights`` (``len(weights)`` when all equal).
        ess_before_clip: The same before clipping.
        n_clipped: Weights that hit the clip.
        max_before_clip: Largest weight before clipping, in units of the mean.
    """

    weights: np.ndarray
    ess: float
    ess_before_clip: float
    n_clipped: int
    max_before_clip: float


def effective_sample_size(weights: np.ndarray) -> float:
    """``(Σw)² / Σw²``: how many equally weighted traces the weighted set is worth."""
    total = float(np.sum(weights))
    squares = float(np.sum(np.square(weights)))
    return total * total / squares if squares > 0 else 0.0


def importance_weights(log_ratio: np.ndarray, clip: float = DEFAULT_CLIP) -> ImportanceWeights:
    """Weights ``exp(log_ratio)`` normalised to mean 1, clipped at ``clip``, renormalised.

    Sequence log-ratios run to tens of nats, so the weights are formed in log space (shifted by the
    maximum) and only their ratios matter: self-normalisation removes the unknown scale, clipping
    bounds the variance at the price of some bias (truncated importance sampling).

    Args:
        log_ratio: ``log p_target(τ) − log p_behaviour(τ)`` per trace.
        clip: Largest weight in units of the mean (``> 1``); ``inf`` disables clipping.

    Returns:
        The weights and their effective sample sizes.
    """
    if not clip > 1.0:
        raise AuditorConfigError(f"clip must be > 1 (in units of the mean weight), got {clip}")
    lr = np.asarray(log_ratio, dtype=float)
    if lr.size == 0:
        return ImportanceWeights(np.zeros(0), 0.0, 0.0, 0, float("nan"))
    raw = np.exp(lr - lr.max())
    raw = raw / raw.mean()
    clipped = np.minimum(raw, clip)
    weights = clipped / clipped.mean()
    return ImportanceWeights(
        weights=weights,
        ess=effective_sample_size(weights),
        ess_before_clip=effective_sample_size(raw),
        n_clipped=int((raw > clip).sum()),
        max_before_clip=float(raw.max()),
    )


Encoded = tuple[list[int], list[int]]
"""(token ids, labels with the prompt masked), as training encodes a pair."""


def _batches(encoded: Sequence[Encoded], batch_size: int) -> list[list[int]]:
    """Row indices in mini-batches of similar length (less padding)."""
    order = sorted(range(len(encoded)), key=lambda i: (len(encoded[i][0]), i))
    return [order[k : k + batch_size] for k in range(0, len(order), batch_size)]


def _sequence_logprobs(
    model: torch.nn.Module, batch: dict[str, torch.Tensor], temperature: float = 1.0
) -> torch.Tensor:
    """Sum of the labelled tokens' log-probabilities per row (the training loss's shift)."""
    out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    logits = out.logits[:, :-1, :]
    if temperature != 1.0:
        logits = logits / temperature
    labels = batch["labels"][:, 1:]
    token_nll = torch.nn.functional.cross_entropy(
        logits.transpose(1, 2), labels, ignore_index=IGNORE, reduction="none"
    )
    return -token_nll.sum(dim=1)


@torch.no_grad()
def sequence_logprobs(
    model: torch.nn.Module,
    encoded: Sequence[Encoded],
    pad_id: int,
    *,
    temperature: float = 1.0,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> np.ndarray:
    """log p(completion | prompt) of each encoded pair (no gradient).

    Args:
        model: A causal LM.
        encoded: (ids, labels) pairs; tokens labelled IGNORE are conditioned on, not scored.
        pad_id: Padding token id.
        temperature: Scores under ``softmax(logits / temperature)``, the sampler's distribution.
        batch_size: Sequences per forward pass.
    """
    out = np.zeros(len(encoded))
    model.eval()
    for idx in _batches(encoded, batch_size):
        batch = collate([encoded[i] for i in idx], pad_id)
        out[idx] = _sequence_logprobs(model, batch, temperature).double().numpy()
    return out


@dataclass(frozen=True)
class TraceGradients:
    """Per-trace gradients ``∇(−log p(τ_i))`` of some linear layers' weights.

    Attributes:
        grads: ``(n_traces, dim)`` float32; ``dim`` is ``n_parameters`` or the sketch's.
        logprobs: log p(τ_i) from the same forward pass.
        n_parameters: Weights differentiated.
        sketch_dim: Buckets of the count sketch, or None when the gradients are exact.
    """

    grads: torch.Tensor
    logprobs: np.ndarray
    n_parameters: int
    sketch_dim: int | None
    buckets: tuple[torch.Tensor, ...] = ()
    signs: tuple[torch.Tensor, ...] = ()

    def project(self, flat: torch.Tensor) -> torch.Tensor:
        """A full-length gradient (layers in order, flattened) in the same space as ``grads``."""
        if self.sketch_dim is None:
            return flat.float()
        out = torch.zeros(self.sketch_dim)
        start = 0
        for bucket, sign in zip(self.buckets, self.signs, strict=True):
            out.index_add_(0, bucket, flat[start : start + len(bucket)].float() * sign)
            start += len(bucket)
        return out

    def gram(self) -> np.ndarray:
        """Inner products between every pair of traces' gradients (float64)."""
        out = torch.zeros((self.grads.shape[0],) * 2, dtype=torch.float64)
        for start in range(0, self.grads.shape[1], 16384):
            block = self.grads[:, start : start + 16384].double()
            out += block @ block.T
        return out.numpy()


def per_trace_gradients(
    model: torch.nn.Module,
    layers: Sequence[torch.nn.Linear],
    encoded: Sequence[Encoded],
    pad_id: int,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    max_bytes: int = GRADIENT_MEMORY_BYTES,
    seed: int = 0,
) -> TraceGradients:
    """Each trace's gradient of ``−log p(τ)`` with respect to the weights of ``layers``.

    One forward and one backward pass per mini-batch: a hook keeps each layer's input ``h`` and the
    gradient ``δ`` of its output, and trace b's weight gradient is ``Σ_t δ[b, t]ᵀ h[b, t]``. Exact
    for bias-free linear layers whose traces do not interact within a batch (causal LMs with an
    attention mask). When ``n_traces × n_parameters`` float32 values exceed ``max_bytes`` the
    gradients are count-sketched: each weight goes to a seeded random bucket with a random sign,
    which keeps inner products unbiased.

    Args:
        model: The causal LM; ``layers`` are modules of it.
        layers: Bias-free linear layers whose weights to differentiate.
        encoded: (ids, labels) per trace.
        pad_id: Padding token id.
        batch_size: Sequences per forward pass.
        max_bytes: Memory allowed for the gradients before sketching.
        seed: Seed of the sketch's buckets and signs.
    """
    if not layers:
        raise AuditorConfigError("no layers to differentiate")
    for layer in layers:
        if layer.bias is not None:
            raise AuditorConfigError("per-trace gradients need bias-free linear layers")
    sizes = [layer.weight.numel() for layer in layers]
    n_params = int(sum(sizes))
    sketch_dim = None
    buckets: list[torch.Tensor] = []
    signs: list[torch.Tensor] = []
    if len(encoded) * n_params * 4 > max_bytes:
        sketch_dim = max(1024, int(max_bytes // (4 * max(1, len(encoded)))))
        gen = torch.Generator().manual_seed(seed)
        for size in sizes:
            buckets.append(torch.randint(0, sketch_dim, (size,), generator=gen))
            signs.append(torch.randint(0, 2, (size,), generator=gen).float() * 2 - 1)
    dim = sketch_dim or n_params
    grads = torch.zeros((len(encoded), dim), dtype=torch.float32)
    logps = np.zeros(len(encoded))
    inputs: dict[int, torch.Tensor] = {}
    deltas: dict[int, torch.Tensor] = {}

    def hook(k: int):  # type: ignore[no-untyped-def]
        def keep(_module: torch.nn.Module, args: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
            inputs[k] = args[0].detach()
            out.register_hook(lambda g: deltas.__setitem__(k, g.detach()))

        return keep

    handles = [layer.register_forward_hook(hook(k)) for k, layer in enumerate(layers)]
    weights = [layer.weight for layer in layers]
    model.eval()
    try:
        for idx in _batches(encoded, batch_size):
            inputs.clear()
            deltas.clear()
            batch = collate([encoded[i] for i in idx], pad_id)
            logp = _sequence_logprobs(model, batch)
            torch.autograd.grad(-logp.sum(), weights, allow_unused=True)
            logps[idx] = logp.detach().double().numpy()
            parts = []
            for k in range(len(layers)):
                if k not in inputs or k not in deltas:  # a layer this model never used
                    parts.append(torch.zeros((len(idx), sizes[k])))
                    continue
                h = inputs[k].reshape(len(idx), -1, inputs[k].shape[-1])
                d = deltas[k].reshape(len(idx), -1, deltas[k].shape[-1])
                parts.append(torch.einsum("bto,bti->boi", d, h).reshape(len(idx), -1))
            if sketch_dim is None:
                grads[idx] = torch.cat(parts, dim=1).float()
            else:
                rows = torch.zeros((len(idx), sketch_dim))
                for part, bucket, sign in zip(parts, buckets, signs, strict=True):
                    rows.index_add_(1, bucket, part.float() * sign)
                grads[idx] = rows
    finally:
        for handle in handles:
            handle.remove()
    return TraceGradients(grads, logps, n_params, sketch_dim, tuple(buckets), tuple(signs))


def weighted_gradient(
    model: torch.nn.Module,
    layers: Sequence[torch.nn.Linear],
    encoded: Sequence[Encoded],
    weights: np.ndarray,
    pad_id: int,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> torch.Tensor:
    """``∇ Σ_i weights[i] · (−log p(τ_i))`` by plain autograd on the batched loss (rows of weight 0
    are not run): an independent route to what :func:`per_trace_gradients` sums up, for the
    identity check."""
    weights = np.asarray(weights, dtype=float)
    total = [torch.zeros_like(layer.weight, dtype=torch.float64) for layer in layers]
    used = [i for i in range(len(encoded)) if weights[i] != 0]
    model.eval()
    for idx in _batches([encoded[i] for i in used], batch_size):
        rows = [used[i] for i in idx]
        logp = _sequence_logprobs(model, collate([encoded[i] for i in rows], pad_id))
        w = torch.as_tensor(weights[rows], dtype=logp.dtype)
        parts = torch.autograd.grad(-(w * logp).sum(), [layer.weight for layer in layers], allow_unused=True)
        for acc, part in zip(total, parts, strict=True):
            if part is not None:
                acc += part.double()
    return torch.cat([t.reshape(-1) for t in total])


class GradientGeometry:
    """Directions of weighted sums of per-trace gradients, from their inner products.

    A weighting ``a`` stands for the gradient ``Σ_i a_i g_i``. :meth:`raw_cosine` is the cosine of
    two such sums. :meth:`signal_cosine` estimates the cosine of their *expected* values: each
    inner product is the ``a_i b_j``-weighted mean of ``g_i · g_j`` over pairs of traces from
    different tasks only, unbiased for ``μ_a · μ_b`` when tasks are independent; bootstrap
    resamples draw tasks with replacement (two copies of one task still never pair).

    Args:
        gram: ``(n, n)`` inner products of the per-trace gradients.
        tasks: The task of each trace.
    """

    def __init__(self, gram: np.ndarray, tasks: Sequence[int]) -> None:
        self.gram = np.asarray(gram, dtype=float)
        self.task_ids = sorted(set(int(t) for t in tasks))
        column = {t: k for k, t in enumerate(self.task_ids)}
        self.onehot = np.zeros((len(tasks), len(self.task_ids)))
        for i, t in enumerate(tasks):
            self.onehot[i, column[int(t)]] = 1.0

    def raw(self, a: np.ndarray, b: np.ndarray) -> float:
        """``(Σ a_i g_i) · (Σ b_j g_j)``."""
        return float(a @ self.gram @ b)

    def raw_cosine(self, a: np.ndarray, b: np.ndarray) -> float | None:
        """Cosine of the two weighted sums (None when either is zero)."""
        aa, bb = self.raw(a, a), self.raw(b, b)
        if aa <= 0 or bb <= 0:
            return None
        return self.raw(a, b) / float(np.sqrt(aa * bb))

    def signal_inner(self, a: np.ndarray, b: np.ndarray, counts: np.ndarray | None = None) -> np.ndarray:
        """Estimates of ``μ_a · μ_b``, one per row of ``counts`` (task multiplicities; default
        each task once); NaN where no pair of different tasks carries weight."""
        c = np.ones((1, len(self.task_ids))) if counts is None else np.atleast_2d(counts)
        q = self.onehot.T @ (a[:, None] * self.gram * b[None, :]) @ self.onehot
        wa, wb = self.onehot.T @ a, self.onehot.T @ b
        num = np.einsum("bs,st,bt->b", c, q, c) - (c**2) @ np.diag(q)
        den = (c @ wa) * (c @ wb) - (c**2) @ (wa * wb)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)

    def signal_cosine(self, a: np.ndarray, b: np.ndarray, counts: np.ndarray | None = None) -> np.ndarray:
        """Estimated cosine of the expected gradients; NaN where either squared norm estimate is
        not positive (no detectable signal)."""
        ab = self.signal_inner(a, b, counts)
        aa, bb = self.signal_inner(a, a, counts), self.signal_inner(b, b, counts)
        ok = (aa > 0) & (bb > 0)
        with np.errstate(invalid="ignore"):
            return np.where(ok, ab / np.sqrt(np.where(ok, aa * bb, 1.0)), np.nan)

    def signal_share(self, a: np.ndarray) -> float | None:
        """Share of the weighted mean gradient's squared length that is systematic."""
        total = self.raw(a, a) / float(np.sum(a)) ** 2 if np.sum(a) != 0 else 0.0
        signal = float(self.signal_inner(a, a)[0])
        if total <= 0 or not np.isfinite(signal):
            return None
        return signal / total

    def interval(
        self,
        a: np.ndarray,
        b: np.ndarray,
        rng: np.random.Generator,
        n_boot: int,
        confidence: float = CONFIDENCE,
    ) -> dict[str, float | int | None]:
        """Signal cosine with a percentile bootstrap interval over tasks."""
        point = float(self.signal_cosine(a, b)[0])
        draws = rng.integers(0, len(self.task_ids), size=(n_boot, len(self.task_ids)))
        counts = np.zeros((n_boot, len(self.task_ids)))
        for k in range(n_boot):
            counts[k] = np.bincount(draws[k], minlength=len(self.task_ids))
        values = self.signal_cosine(a, b, counts)
        usable = values[np.isfinite(values)]
        low = high = None
        if n_boot and len(usable) >= n_boot / 2:
            alpha = 1 - confidence
            low = float(np.quantile(usable, alpha / 2))
            high = float(np.quantile(usable, 1 - alpha / 2))
        return {
            "cosine": point if np.isfinite(point) else None,
            "ci_low": low,
            "ci_high": high,
            "n_bootstrap_used": len(usable),
        }

    def mean_difference_test(
        self, in_a: np.ndarray, in_b: np.ndarray, rng: np.random.Generator, n_permutations: int
    ) -> dict[str, float | int | None]:
        """Do two groups of traces (from disjoint tasks) have the same expected gradient?

        The statistic estimates ``|μ_a − μ_b|²`` without the noise bias (``⟨a,a⟩ + ⟨b,b⟩ − 2⟨a,b⟩``
        with same-task pairs left out, the high-dimensional two-sample statistic of Chen and Qin,
        2010); its null distribution comes from permuting whole tasks between the groups, which is
        exact when tasks are exchangeable under the null. No ratio is involved, so a weak signal
        gives a large p-value rather than a wild estimate.

        Args:
            in_a: Boolean mask of the rows of group a (weight 1 each).
            in_b: Boolean mask of the rows of group b; no task may have rows in both.
            rng: Draws the permutations.
            n_permutations: Permutations (the p-value's resolution is ``1 / (n + 1)``).

        Returns:
            ``statistic``, ``relative`` (the statistic over the estimate of ``|μ_b|²``), ``p_value``,
            ``norm_ratio`` (``|μ_a| / |μ_b|``) and ``cosine`` (of ``μ_a`` and ``μ_b``), each None
            when not estimable, and task counts; no test when a group has fewer than 2 tasks.
        """
        rows = np.asarray(in_a, bool) | np.asarray(in_b, bool)
        tasks_a = self.onehot[np.asarray(in_a, bool)].sum(axis=0) > 0
        tasks_b = self.onehot[np.asarray(in_b, bool)].sum(axis=0) > 0
        if np.any(tasks_a & tasks_b):
            raise ValueError("a task has traces in both groups")
        used = tasks_a | tasks_b
        out: dict[str, float | int | None] = {
            "n_tasks_a": int(tasks_a.sum()),
            "n_tasks_b": int(tasks_b.sum()),
            "n_traces_a": int(np.sum(in_a)),
            "n_traces_b": int(np.sum(in_b)),
            "statistic": None,
            "relative": None,
            "p_value": None,
            "n_permutations": n_permutations,
        }
        if tasks_a.sum() < 2 or tasks_b.sum() < 2:
            return out
        onehot = self.onehot[:, used]
        w = rows.astype(float)
        q = onehot.T @ (w[:, None] * self.gram * w[None, :]) @ onehot
        n = onehot.T @ w
        diag_q = np.diag(q)

        def parts(z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            y = 1.0 - z
            aa = (np.einsum("ps,st,pt->p", z, q, z) - z @ diag_q) / ((z @ n) ** 2 - z @ (n**2))
            bb = (np.einsum("ps,st,pt->p", y, q, y) - y @ diag_q) / ((y @ n) ** 2 - y @ (n**2))
            ab = np.einsum("ps,st,pt->p", z, q, y) / ((z @ n) * (y @ n))
            return aa, bb, ab

        z0 = tasks_a[used].astype(float)[None, :]
        aa, bb, ab = (float(v[0]) for v in parts(z0))
        observed = aa + bb - 2 * ab
        null = np.zeros(0)
        if n_permutations:
            perms = np.array([rng.permutation(z0[0]) for _ in range(n_permutations)])
            paa, pbb, pab = parts(perms)
            null = paa + pbb - 2 * pab
        out["statistic"] = observed
        out["relative"] = observed / bb if bb > 0 else None
        out["p_value"] = float((1 + np.sum(null >= observed)) / (1 + n_permutations))
        out["norm_ratio"] = float(np.sqrt(aa / bb)) if aa > 0 and bb > 0 else None
        out["cosine"] = ab / float(np.sqrt(aa * bb)) if aa > 0 and bb > 0 else None
        return out


# -- the run's models ----------------------------------------------------------------------------


@dataclass
class _Models:
    """The run's planner, and each generation's model loaded the way the loop deployed it."""

    run_dir: Path
    spec: ScenarioSpec
    planner: HfPlanner
    rows: dict[int, ModelRow]
    fmt: TaskFormat

    def deployed(self, generation: int) -> torch.nn.Module:
        """Model ``generation`` as the loop deployed it: base, plus its adapter when it has one."""
        row = self.rows.get(generation)
        if row is None:
            raise StoreError(f"{self.run_dir}: no model recorded for generation {generation}")
        if row.adapter_path:
            path = self.run_dir / row.adapter_path
            if not path.is_dir():
                raise StoreError(f"{path}: the adapter of generation {generation} is missing")
            self.planner.load_adapter(path)
        else:
            self.planner.reset_to_base()
        model = self.planner.model
        model.eval()
        return model

    def probe(self, generation: int, seed: int) -> tuple[torch.nn.Module, list[torch.nn.Linear], str]:
        """Model ``generation`` with a fresh LoRA adapter whose ``B`` is zero; the adapter's ``B``
        layers (the ``A`` gradients are exactly zero there); a description of the space."""
        from peft import LoraConfig, PeftModel, get_peft_model

        model = self.deployed(generation)
        self.planner.reset_to_base()  # the planner must not keep using the model changed below
        if isinstance(model, PeftModel):
            model = model.merge_and_unload()
        for p in model.parameters():
            p.requires_grad = False
        tr = self.spec.training
        lora = LoraConfig(
            r=tr.lora_r,
            lora_alpha=tr.lora_alpha,
            lora_dropout=0.0,
            target_modules=self.planner.lora_target_modules(model),
            task_type="CAUSAL_LM",
        )
        torch.manual_seed(seed)
        probed = get_peft_model(model, lora)
        probed.eval()
        layers = [
            m
            for name, m in probed.named_modules()
            if name.rsplit(".", 1)[-1] == "default"
            and ".lora_B." in f".{name}."
            and isinstance(m, torch.nn.Linear)
        ]
        return (
            probed,
            layers,
            (
                f"the B matrices of a fresh LoRA adapter (r={tr.lora_r}, alpha={tr.lora_alpha}, B = 0) "
                f"on model {generation}, where a next fine-tuning step would start"
            ),
        )

    def encode(self, prompt: str, completion: str) -> Encoded:
        """Training's own (ids, labels) for a pair."""
        tok = self.planner.tokenizer
        return self.planner.encode_example(tok, Example(prompt, completion), self.spec.training.max_len)

    @property
    def pad_id(self) -> int:
        return int(self.planner.tokenizer.pad_token_id)

    @property
    def eos_id(self) -> int:
        return int(self.planner.tokenizer.eos_token_id)


def _open_models(reader: RunReader) -> _Models:
    """The run's planner, checked to be the base the run recorded; never pretrains a base."""
    try:
        spec = ScenarioSpec.model_validate_json(reader.run().scenario_json)
    except ValidationError as exc:
        raise AuditorConfigError(
            f"{reader.run_dir}: the stored scenario cannot be read by this iterdeploy, so its "
            f"models cannot be rebuilt: {exc.errors()[0]['msg']}"
        ) from None
    rows = {m.generation: m for m in reader.models()}
    if not rows:
        raise StoreError(f"{reader.run_dir}: the store records no models")
    if spec.model.name == EMBEDDED_NAME:
        wanted = f"embedded-{spec.model.embedded.content_hash()}"
        recorded = rows[min(rows)].base
        if "@" in recorded and recorded.split("@", 1)[1] != wanted:
            raise AuditorConfigError(
                f"{reader.run_dir}: the run's base model is {recorded}, but its scenario now "
                f"resolves to {wanted}; the auditor would differentiate a different model"
            )
        if not (cache_root() / wanted / "config.json").is_file():
            raise AuditorConfigError(
                f"the run's base model {wanted} is not in the model cache ({cache_root()}); point "
                "ITERDEPLOY_CACHE at the cache the run used (auditors never train models, so it "
                "is not pretrained again here)"
            )
    # on the CPU in float32 whatever the run used: the per-trace gradients below build their
    # batches on the CPU, and half precision would blur the identities they check
    planner = load_planner(spec.model.name, embedded_spec=spec.model.embedded, device="cpu",
                           dtype="float32")
    if not isinstance(planner, HfPlanner):
        raise AuditorConfigError(f"model {spec.model.name!r} is not a transformers model; no gradients")
    return _Models(reader.run_dir, spec, planner, rows, task_format(planner, spec.model.few_shot))


# -- the run's traces ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Trace:
    trace_id: int
    generation: int
    task_id: int
    purpose: str
    kept: int
    acceptance: float


@dataclass
class _Texts:
    """Completion texts and tasks, read only for traces that are run through a model."""

    reader: RunReader
    tasks: dict[int, GroundTask] = field(default_factory=dict)

    def rows(self, trace_ids: Iterable[int]) -> dict[int, dict[str, object]]:
        out: dict[int, dict[str, object]] = {}
        for chunk in _chunks(sorted(set(trace_ids))):
            marks = ",".join("?" * len(chunk))
            for r in self.reader.query(
                "SELECT trace_id, task_id, completion, plan_text, hit_token_limit FROM traces "
                f"WHERE trace_id IN ({marks})",
                tuple(chunk),
            ):
                out[int(r["trace_id"])] = r
        return out

    def task(self, task_id: int) -> GroundTask:
        if task_id not in self.tasks:
            rows = self.reader.query("SELECT problem_pddl, domain FROM tasks WHERE task_id=?", (task_id,))
            if not rows:
                raise StoreError(f"{self.reader.run_dir}: task {task_id} is missing from the store")
            self.tasks[task_id] = load_stored_task(str(rows[0]["domain"]), str(rows[0]["problem_pddl"]))
        return self.tasks[task_id]


def _chunks(ids: list[int], size: int = 500) -> list[list[int]]:
    return [ids[k : k + size] for k in range(0, len(ids), size)]


def _on_policy(reader: RunReader, generation: int) -> tuple[list[_Trace], int]:
    """Deployment traces of ``generation`` with their decisions, and how many had none."""
    traces = reader.query(
        "SELECT trace_id, task_id FROM traces WHERE generation=? AND purpose='deploy' ORDER BY trace_id",
        (generation,),
    )
    kept: dict[int, int] = {}
    accept: dict[int, list[float]] = {}
    for d in reader.decisions(generation):
        kept[d.trace_id] = max(kept.get(d.trace_id, 0), int(d.kept))
        accept.setdefault(d.trace_id, []).append(float(d.acceptance_prob))
    out = [
        _Trace(
            int(t["trace_id"]),
            generation,
            int(t["task_id"]),
            "deploy",
            kept[int(t["trace_id"])],
            float(np.mean(accept[int(t["trace_id"])])),
        )
        for t in traces
        if int(t["trace_id"]) in kept
    ]
    return out, len(traces) - len(out)


def _pool(reader: RunReader, generation: int) -> list[_Trace]:
    """The training set of ``generation``, each trace with the generation that wrote it."""
    rows: list[_Trace] = []
    for chunk in _chunks(reader.training_set(generation)):
        marks = ",".join("?" * len(chunk))
        for r in reader.query(
            f"SELECT trace_id, generation, task_id, purpose FROM traces WHERE trace_id IN ({marks})",
            tuple(chunk),
        ):
            rows.append(
                _Trace(
                    int(r["trace_id"]),
                    int(r["generation"]),
                    int(r["task_id"]),
                    str(r["purpose"]),
                    1,
                    float("nan"),
                )
            )
    return sorted(rows, key=lambda t: t.trace_id)


def _rng(seed: int, name: str) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, zlib.crc32(name.encode())]))


def _select_batch(traces: list[_Trace], max_traces: int, rng: np.random.Generator) -> list[_Trace]:
    """The on-policy batch: whole tasks in a seeded random order until ``max_traces`` traces carry
    a reward (kept, or A(τ) > 0). Stopping at the first task that does not fit (rather than
    skipping it) keeps the batch a uniform random subset of tasks."""
    by_task: dict[int, list[_Trace]] = {}
    for t in traces:
        by_task.setdefault(t.task_id, []).append(t)
    chosen: list[_Trace] = []
    n_rewarded = 0
    for task_id in rng.permutation(sorted(by_task)):
        group = by_task[int(task_id)]
        add = sum(1 for t in group if t.kept or t.acceptance > 0)
        if n_rewarded + add > max_traces and n_rewarded > 0:
            break
        chosen += group
        n_rewarded += add
    return sorted(chosen, key=lambda t: t.trace_id)


def _spread(ids: Sequence[int], n: int = EVIDENCE_SAMPLE_SIZE) -> list[int]:
    ids = sorted(ids)
    if len(ids) <= n:
        return list(ids)
    return [ids[round(float(k))] for k in np.linspace(0, len(ids) - 1, n)]


def _summary(values: Sequence[float | None]) -> dict[str, float | None]:
    vals = [v for v in values if v is not None]
    if not vals:
        return {"mean": None, "min": None, "max": None}
    return {"mean": float(np.mean(vals)), "min": float(np.min(vals)), "max": float(np.max(vals))}


# -- the measurement -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    """What the auditor was asked to do (recorded in every finding)."""

    seed: int = 0
    max_traces: int = DEFAULT_MAX_TRACES
    n_splits: int = DEFAULT_N_SPLITS
    n_bootstrap: int = DEFAULT_N_BOOTSTRAP
    clip: float = DEFAULT_CLIP
    batch_size: int = DEFAULT_BATCH_SIZE

    def check(self) -> None:
        """Raise :class:`AuditorConfigError` for options that cannot be used."""
        for name in ("max_traces", "n_splits", "batch_size"):
            if getattr(self, name) < 1:
                raise AuditorConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.n_bootstrap < 0:
            raise AuditorConfigError(f"n_bootstrap must be >= 0, got {self.n_bootstrap}")
        if not self.clip > 1.0:
            raise AuditorConfigError(f"clip must be > 1 (in units of the mean weight), got {self.clip}")


def _encode_all(
    models: _Models, texts: _Texts, ids: Iterable[int]
) -> tuple[dict[int, Encoded], dict[int, dict[str, object]], int]:
    """Training's encoding of each trace; also the number whose stored plan cannot be read back
    from the completion with the rebuilt prompt's object names (0: prompts rebuilt as sampled)."""
    rows = texts.rows(ids)
    encoded: dict[int, Encoded] = {}
    mismatches = 0
    for trace_id, r in rows.items():
        task = texts.task(int(r["task_id"]))  # type: ignore[call-overload]
        completion = str(r["completion"])
        if models.fmt.extract(completion, task)[0] != str(r["plan_text"]):
            mismatches += 1
        encoded[trace_id] = models.encode(models.fmt.prompt(task), completion)
    return encoded, rows, mismatches


def _log_ratios(
    models: _Models,
    generation: int,
    behaviour: list[_Trace],
    encoded: dict[int, Encoded],
    rows: dict[int, dict[str, object]],
    opts: Options,
) -> tuple[dict[int, float], dict[int, float]]:
    """``log p_g(τ)`` and ``log p_g'(τ)`` of each model-written pool trace, at the deployment
    temperature, scoring only tokens the sampler wrote."""
    temperature = float(models.spec.deploy.temperature)

    def as_sampled(trace_id: int) -> Encoded:
        ids, labels = encoded[trace_id]
        if rows[trace_id]["hit_token_limit"] and labels and labels[-1] == models.eos_id:
            return ids, [*labels[:-1], IGNORE]
        return ids, labels

    target: dict[int, float] = {}
    source: dict[int, float] = {}
    by_gen: dict[int, list[_Trace]] = {}
    for t in behaviour:
        by_gen.setdefault(t.generation, []).append(t)
    for g in sorted(set(by_gen) | ({generation} if behaviour else set())):
        todo = behaviour if g == generation else by_gen[g]
        values = sequence_logprobs(
            models.deployed(g),
            [as_sampled(t.trace_id) for t in todo],
            models.pad_id,
            temperature=temperature,
            batch_size=opts.batch_size,
        )
        for t, v in zip(todo, values, strict=True):
            if g == generation:
                target[t.trace_id] = float(v)
            if g == t.generation:
                source[t.trace_id] = float(v)
    return target, source


@dataclass
class _Measured:
    """One generation's numbers and evidence, before severities (which need every generation's
    p-value for the false-discovery-rate correction) are set."""

    generation: int
    numbers: dict[str, object]
    evidence: dict[str, object]
    claim: str | None = None
    """Set for a generation with nothing to compare (its claim does not depend on others)."""

    @property
    def p_value(self) -> float | None:
        prop2 = self.numbers.get("prop2")
        test = prop2.get("older_vs_fresh") if isinstance(prop2, dict) else None
        p = test.get("p_value") if isinstance(test, dict) else None
        return float(p) if isinstance(p, (int, float)) else None


def _measure(reader: RunReader, models: _Models, texts: _Texts, generation: int, opts: Options) -> _Measured:
    """The numbers of one generation."""
    rng = _rng(opts.seed, f"generation-{generation}")
    all_traces, n_undecided = _on_policy(reader, generation)
    batch = _select_batch(all_traces, opts.max_traces, rng)
    kept = [t for t in batch if t.kept]
    rewarded = [t for t in batch if t.kept or t.acceptance > 0]
    on_policy = {
        "n_tasks_in_generation": len({t.task_id for t in all_traces}),
        "n_traces_in_generation": len(all_traces),
        "n_kept_in_generation": sum(t.kept for t in all_traces),
        "n_undecided": n_undecided,
        "n_tasks": len({t.task_id for t in batch}),
        "n_traces": len(batch),
        "n_kept": len(kept),
        "n_acceptance_positive": sum(1 for t in batch if t.acceptance > 0),
        "acceptance_equals_decision": all(float(t.kept) == t.acceptance for t in batch),
    }
    options = {**opts.__dict__, "confidence": CONFIDENCE}
    evidence: dict[str, object] = {
        "run_id": reader.run().run_id,
        "generation": generation,
        "kept_trace_ids_sample": _spread([t.trace_id for t in kept]),
    }
    if not kept:
        return _Measured(
            generation,
            {
                "generation": generation,
                "status": "no-kept-traces",
                "options": options,
                "on_policy": on_policy,
            },
            evidence,
            claim=f"In generation {generation} users kept none of the {len(all_traces)} deployment "
            "traces (of the sampled tasks), so there is no fine-tuning gradient to compare with "
            "reinforcement learning.",
        )

    pool = _pool(reader, generation + 1)
    pool_sample: list[_Trace] = []
    if pool:
        pick = rng.choice(len(pool), size=min(opts.max_traces, len(pool)), replace=False)
        pool_sample = [pool[i] for i in sorted(pick)]
    behaviour = [t for t in pool_sample if t.purpose == "deploy"]

    # one row per distinct trace; on-policy rows carry the decision and A(τ)
    rows_by_id: dict[int, _Trace] = {t.trace_id: t for t in pool_sample}
    rows_by_id.update({t.trace_id: t for t in rewarded})
    table = [rows_by_id[i] for i in sorted(rows_by_id)]
    index = {t.trace_id: i for i, t in enumerate(table)}
    encoded, texts_of, n_mismatch = _encode_all(models, texts, index)
    target, source = _log_ratios(models, generation, behaviour, encoded, texts_of, opts)
    log_ratio = {i: target[i] - source[i] for i in target}
    pool_weights = importance_weights(np.array([log_ratio[t.trace_id] for t in behaviour]), opts.clip)

    probe, layers, space = models.probe(generation, seed=int(rng.integers(2**31)))
    grads = per_trace_gradients(
        probe,
        layers,
        [encoded[t.trace_id] for t in table],
        models.pad_id,
        batch_size=opts.batch_size,
        seed=opts.seed,
    )
    geometry = GradientGeometry(grads.gram(), [t.task_id for t in table])

    def vec(weights: dict[int, float]) -> np.ndarray:
        out = np.zeros(len(table))
        for trace_id, w in weights.items():
            out[index[trace_id]] = w
        return out

    # Proposition 1's identity by two routes: the kept traces' own gradients summed (SFT), and
    # autograd of the REINFORCE loss -(1/N) Σ r log p over the batch
    n_batch = len(batch)
    a_kept = vec({t.trace_id: 1.0 for t in kept})
    a_decision = vec({t.trace_id: t.kept / n_batch for t in kept})
    reinforce = weighted_gradient(
        probe,
        layers,
        [encoded[t.trace_id] for t in table],
        a_decision,
        models.pad_id,
        batch_size=opts.batch_size,
    )
    sft = torch.as_tensor(a_kept, dtype=torch.float32) @ grads.grads
    identity = cosine(sft.double().numpy(), grads.project(reinforce).double().numpy())
    del probe
    temperature = float(models.spec.deploy.temperature)
    diffs = [
        abs(grads.logprobs[index[i]] - target[i])
        for i in target
        if not texts_of[i]["hit_token_limit"] and temperature == 1.0
    ]

    a_accept = vec({t.trace_id: t.acceptance / n_batch for t in rewarded})
    expected = geometry.raw_cosine(a_kept, a_accept)

    # raw rows per random half-split of the tasks with a kept trace
    kept_tasks = sorted({t.task_id for t in kept})
    floor_cos: list[float | None] = []
    pool_cos: list[float | None] = []
    pool_iw_cos: list[float | None] = []
    split_ess: list[float] = []
    n_floor: list[int] = []
    if len(kept_tasks) >= 2:
        for _ in range(opts.n_splits):
            order = rng.permutation(kept_tasks)
            half = {int(x) for x in order[: (len(order) + 1) // 2]}
            ref = vec({t.trace_id: 1.0 for t in kept if t.task_id in half})
            floor = [t for t in kept if t.task_id not in half]
            n_floor.append(len(floor))
            floor_cos.append(geometry.raw_cosine(vec({t.trace_id: 1.0 for t in floor}), ref))
            candidates = [t for t in pool_sample if t.task_id not in half]
            if len(candidates) > len(floor):
                pick = rng.choice(len(candidates), size=len(floor), replace=False)
                candidates = [candidates[i] for i in sorted(pick)]
            if not candidates:
                continue
            pool_cos.append(geometry.raw_cosine(vec({t.trace_id: 1.0 for t in candidates}), ref))
            weighted = [t for t in candidates if t.purpose == "deploy"]
            iw = importance_weights(np.array([log_ratio[t.trace_id] for t in weighted]), opts.clip)
            split_ess.append(iw.ess)
            pool_iw_cos.append(
                geometry.raw_cosine(
                    vec({t.trace_id: float(w) for t, w in zip(weighted, iw.weights, strict=True)}), ref
                )
            )

    # signal cosines (expected gradients) with task-bootstrap intervals
    boot = _rng(opts.seed, f"generation-{generation}/bootstrap")
    older = [t for t in pool_sample if t.purpose == "deploy" and t.generation < generation]
    signal: dict[str, object] = {}
    if pool_sample:
        signal["pool"] = geometry.interval(
            vec({t.trace_id: 1.0 for t in pool_sample}), a_kept, boot, opts.n_bootstrap
        )
        signal["pool_importance_weighted"] = (
            geometry.interval(
                vec({t.trace_id: float(w) for t, w in zip(behaviour, pool_weights.weights, strict=True)}),
                a_kept,
                boot,
                opts.n_bootstrap,
            )
            if behaviour
            else None
        )
        signal["pool_older_generations"] = (
            geometry.interval(vec({t.trace_id: 1.0 for t in older}), a_kept, boot, opts.n_bootstrap)
            if older
            else None
        )
    older_test = (
        geometry.mean_difference_test(
            vec({t.trace_id: 1.0 for t in older}) > 0,
            a_kept > 0,
            _rng(opts.seed, f"generation-{generation}/permutation"),
            N_PERMUTATIONS,
        )
        if older
        else None
    )
    norms = np.sqrt(np.clip(np.diag(geometry.gram), 0.0, None))
    n_scored = np.array([sum(1 for x in encoded[t.trace_id][1][1:] if x != IGNORE) for t in table])
    per_token = grads.logprobs / np.maximum(n_scored, 1)

    def fit(group: list[_Trace]) -> dict[str, float | int | None]:
        idx = [index[t.trace_id] for t in group]
        return {
            "n": len(idx),
            "median_gradient_norm": float(np.median(norms[idx])) if idx else None,
            "mean_logprob_per_token": float(np.mean(per_token[idx])) if idx else None,
        }

    already_fit = {"fresh_kept": fit(kept), "older": fit(older)} if older else None

    by_source: dict[str, int] = {}
    for t in pool:
        key = "reference" if t.purpose != "deploy" else str(t.generation)
        by_source[key] = by_source.get(key, 0) + 1
    ratios = np.array([log_ratio[t.trace_id] for t in behaviour])
    numbers: dict[str, object] = {
        "generation": generation,
        "status": "ok",
        "options": options,
        "on_policy": on_policy,
        "gradient_space": space,
        "n_parameters": grads.n_parameters,
        "sketch_dim": grads.sketch_dim,
        "prop1": {
            "identity_cosine": identity,
            "expected_reward_cosine": expected,
            "n_sft": len(kept),
            "n_reinforce": n_batch,
            "note": "raw cosines. identity: SFT on the kept traces (their per-trace gradients summed) "
            "vs REINFORCE with the 0/1 decision over the same batch (autograd of its loss): 1 by "
            "algebra, so the sanity row of the whole gradient machinery. expected_reward: the same "
            "SFT gradient vs REINFORCE with the population's acceptance probability A(tau)",
        },
        "noise": {
            "split_half_cosine": {"cosines": floor_cos, **_summary(floor_cos), "n_sft": n_floor},
            "signal_share": geometry.signal_share(a_kept),
            "note": "split_half_cosine: raw cosine of REINFORCE (0/1 decision) on a random half of the "
            "batch's tasks with a kept trace vs SFT on the other half's kept traces; signal_share: "
            "the systematic part of the squared length of the batch's mean SFT gradient",
        },
        "prop2": None
        if not pool
        else {
            "successor_generation": generation + 1,
            "pool_size": len(pool),
            "pool_by_source": dict(sorted(by_source.items())),
            "older_share": sum(1 for t in pool if t.purpose == "deploy" and t.generation < generation)
            / len(pool),
            "n_sample": len(pool_sample),
            "n_sample_older": len(older),
            "already_fit": None
            if already_fit is None
            else {
                **already_fit,
                "note": "model g was trained on the older traces: per-trace gradient norm and "
                "log-probability per completion token under model g, older vs fresh kept traces",
            },
            "raw": {
                "unweighted": {"cosines": pool_cos, **_summary(pool_cos)},
                "importance_weighted": {
                    "cosines": pool_iw_cos,
                    **_summary(pool_iw_cos),
                    "ess": _summary(split_ess),
                },
                "note": "per split: SFT on the pool sample minus the reference half's tasks, "
                "subsampled to the split-half SFT set's size, vs the same reference; compare with "
                "noise.split_half_cosine",
            },
            "signal": {
                **signal,
                "note": "estimated cosine of the expected gradients (pairs of traces from the same "
                "task left out), each against the on-policy batch's kept traces; 1 = same "
                "direction as on-policy RL; interval: percentile bootstrap over tasks",
            },
            "signal_share": geometry.signal_share(vec({t.trace_id: 1.0 for t in pool_sample})),
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
            "weights": {
                "n": len(behaviour),
                "n_reference_plans_left_out": len(pool_sample) - len(behaviour),
                "ess": pool_weights.ess,
                "ess_before_clip": pool_weights.ess_before_clip,
                "n_clipped": pool_weights.n_clipped,
                "max_weight_before_clip": pool_weights.max_before_clip,
                "log_ratio": None
                if not len(ratios)
                else {
                    "min": float(ratios.min()),
                    "median": float(np.median(ratios)),
                    "max": float(ratios.max()),
                },
                "temperature": temperature,
            },
        },
        "checks": {
            "probe_logprob_max_abs_diff": max(diffs) if diffs else None,
            "n_plan_text_mismatch": n_mismatch,
            "note": "probe_logprob_max_abs_diff: the probe (fresh adapter, B = 0) vs the deployed "
            "model on the same traces, ~0 when the probe is the deployed function; "
            "n_plan_text_mismatch: traces whose completion, read with the rebuilt prompt's object "
            "names, does not give the stored plan (0: prompts rebuilt as sampled)",
        },
    }
    evidence["pool_trace_ids_sample"] = _spread([t.trace_id for t in pool_sample])
    if behaviour:
        top = np.argsort(-pool_weights.weights, kind="stable")[:EVIDENCE_SAMPLE_SIZE]
        evidence["highest_weight_pool_trace_ids"] = [behaviour[int(i)].trace_id for i in top]
    return _Measured(generation, numbers, evidence)


SEVERITY_RULE = (
    f"medium when the identity cosine is below {IDENTITY_MIN_COSINE} (the measurement failed); low "
    f"when the older-vs-fresh test's p-value, Benjamini-Hochberg adjusted over the generations "
    f"audited together, is below {ALPHA} (pooling measurably moves the update away from on-policy "
    "RL); else info"
)


def _findings(measured: list[_Measured]) -> list[FindingRow]:
    """Findings from measured generations: p-values adjusted together, then severities, claims."""
    for m in measured:
        prop2 = m.numbers.get("prop2")
        if isinstance(prop2, dict) and isinstance(prop2.get("older_vs_fresh"), dict):
            prop2["older_vs_fresh"].setdefault("p_value_bh", None)
    with_p = [m for m in measured if m.p_value is not None]
    if with_p:
        adjusted = stats.false_discovery_control([m.p_value for m in with_p], method="bh")
        for m, p_bh in zip(with_p, adjusted, strict=True):
            prop2 = m.numbers["prop2"]
            assert isinstance(prop2, dict) and isinstance(prop2["older_vs_fresh"], dict)
            prop2["older_vs_fresh"]["p_value_bh"] = float(p_bh)
            prop2["older_vs_fresh"]["n_tests_adjusted_together"] = len(with_p)
    findings = []
    for m in measured:
        if m.claim is not None:
            findings.append(
                make_finding(
                    auditor=AUDITOR_NAME,
                    kind=KIND,
                    severity="info",
                    generation=m.generation,
                    claim=m.claim,
                    numbers=m.numbers,
                    evidence=m.evidence,
                )
            )
            continue
        prop1 = m.numbers["prop1"]
        prop2 = m.numbers["prop2"]
        assert isinstance(prop1, dict)
        test = prop2.get("older_vs_fresh") if isinstance(prop2, dict) else None
        p_bh = test.get("p_value_bh") if isinstance(test, dict) else None
        identity = prop1["identity_cosine"]
        severity: Severity = "info"
        if not isinstance(identity, float) or identity < IDENTITY_MIN_COSINE:
            severity = "medium"
        elif isinstance(p_bh, float) and p_bh < ALPHA:
            severity = "low"
        m.numbers["severity_rule"] = SEVERITY_RULE
        findings.append(
            make_finding(
                auditor=AUDITOR_NAME,
                kind=KIND,
                severity=severity,
                generation=m.generation,
                claim=_claim(m.generation, m.numbers, severity),
                numbers=m.numbers,
                evidence=m.evidence,
            )
        )
    return findings


def _fmt(x: object, digits: int = 2) -> str:
    return f"{x:.{digits}f}" if isinstance(x, (int, float)) else "n/a"


def _claim(generation: int, numbers: dict[str, object], severity: Severity) -> str:
    """One plain-language paragraph: Proposition 1, the noise, Proposition 2."""
    on, prop1, noise = numbers["on_policy"], numbers["prop1"], numbers["noise"]
    assert isinstance(on, dict) and isinstance(prop1, dict) and isinstance(noise, dict)
    identity = prop1["identity_cosine"]
    if severity == "medium":
        return (
            f"In generation {generation} the fine-tuning and reinforcement-learning gradients on the "
            f"same traces disagree (cosine {_fmt(identity, 4)}, where the algebra says 1): the "
            "measurement is broken; read none of its other numbers."
        )
    text = (
        f"In generation {generation}, fine-tuning on the {on['n_kept']} traces users kept (of "
        f"{on['n_traces']} from {on['n_tasks']} tasks) is reinforcement learning with their keep "
        f"decision as reward (gradient cosine {_fmt(identity, 4)}, the paper's Proposition 1)"
    )
    if on["acceptance_equals_decision"]:
        text += ", and that decision is the expected reward itself (curation here is deterministic)."
    else:
        text += (
            f"; with the population's acceptance probability as the reward instead the cosine is "
            f"{_fmt(prop1['expected_reward_cosine'])} (one round of curation is a noisy draw of it)."
        )
    split = noise["split_half_cosine"]
    assert isinstance(split, dict)
    text += (
        " A batch gradient of this size is mostly sampling noise: two halves of it point the same "
        f"way at cosine {_fmt(split['mean'])}."
    )
    prop2 = numbers["prop2"]
    if not isinstance(prop2, dict):
        return text + " No later generation was trained on this data, so pooling is not measured."
    text += f" The next generation trains on {prop2['pool_size']} traces"
    if prop2["older_share"]:
        text += f", {prop2['older_share']:.0%} of them from older generations"
    test, raw, weights = prop2["older_vs_fresh"], prop2["raw"], prop2["weights"]
    assert isinstance(raw, dict) and isinstance(weights, dict)
    p = test.get("p_value") if isinstance(test, dict) else None
    p_bh = test.get("p_value_bh") if isinstance(test, dict) else None
    if not prop2["older_share"]:
        text += "; none of them from older generations, so the pool is on-policy"
    elif p is None:
        text += "; too few older traces in the sample to test whether they pull another way"
    elif severity == "low":
        text += (
            f"; at this model the expected gradient of those older traces differs measurably from "
            f"fresh curated data's (permutation test, p = {p:.3f}, {_fmt(p_bh, 3)} adjusted over "
            "generations)"
        )
    else:
        text += (
            f"; their older part is not distinguishable from fresh curated data (permutation test, "
            f"p = {p:.2f}, {_fmt(p_bh)} adjusted over generations)"
        )
    unweighted = raw["unweighted"]
    assert isinstance(unweighted, dict)
    if unweighted.get("mean") is not None:
        text += (
            f", and batches of it agree with on-policy RL at cosine {_fmt(unweighted['mean'])} against "
            f"{_fmt(split['mean'])} for fresh data"
        )
    fitted = prop2.get("already_fit")
    if isinstance(fitted, dict):
        old, new = fitted["older"], fitted["fresh_kept"]
        assert isinstance(old, dict) and isinstance(new, dict)
        text += (
            f". Model {generation} was trained on the older traces: under it their log-probability "
            f"per token is {_fmt(old['mean_logprob_per_token'], 3)} against "
            f"{_fmt(new['mean_logprob_per_token'], 3)} for fresh kept ones, their median gradient "
            f"{_fmt(old['median_gradient_norm'], 1)} against {_fmt(new['median_gradient_norm'], 1)}"
        )
    ratio = weights.get("log_ratio")
    if prop2["n_sample_older"] and isinstance(ratio, dict):
        text += (
            f". Importance weights that would correct for the older data rest on an effective "
            f"{weights['ess']:.1f} of {weights['n']} traces (likelihood ratios up to "
            f"e^{ratio['max']:.0f})"
        )
    return text + "."


def audit(
    reader: RunReader,
    *,
    seed: int = 0,
    max_traces: int = DEFAULT_MAX_TRACES,
    generations: Sequence[int] | None = None,
    n_splits: int = DEFAULT_N_SPLITS,
    n_bootstrap: int = DEFAULT_N_BOOTSTRAP,
    clip: float = DEFAULT_CLIP,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> list[FindingRow]:
    """Findings of this auditor on the run behind ``reader`` (not stored): one per generation.

    Args:
        reader: The run; only read (adapters are read from its directory).
        seed: Seeds the batch and pool samples, the splits, the bootstrap and the probe adapter.
        max_traces: Rewarded traces in the on-policy batch, and traces in the pool sample (the
            model runs grow linearly with it).
        generations: Generations to audit; default every generation whose successor has a
            training set (where a next fine-tuning step exists).
        n_splits: Random half-splits behind the raw noise-floor and pooled rows.
        n_bootstrap: Task-bootstrap resamples behind each signal cosine's interval.
        clip: Largest importance weight, in units of the mean weight.
        batch_size: Sequences per forward pass.

    Returns:
        One finding per audited generation, ascending; a single run-level ``info`` finding when
        there is nothing to audit.

    Raises:
        AuditorConfigError: For unusable options, a generation the run did not commit, or a base
            model that is not in the model cache.
        simulator.errors.StoreError: When the store or an adapter cannot be read.
    """
    opts = Options(seed, max_traces, n_splits, n_bootstrap, clip, batch_size)
    opts.check()
    committed = [g.generation for g in reader.generations()]
    if generations is None:
        chosen = [g for g in committed if reader.training_set(g + 1)]
    else:
        chosen = sorted({int(g) for g in generations})
        missing = [g for g in chosen if g not in committed]
        if missing:
            raise AuditorConfigError(
                f"generation(s) {missing} not committed in this run; committed: {committed}"
            )
    if not chosen:
        claim = (
            "The run has no committed generation yet; nothing to check."
            if not committed
            else "No generation of this run has a successor trained on its data, so there is no next "
            "fine-tuning step to compare with reinforcement learning."
        )
        return [
            make_finding(
                auditor=AUDITOR_NAME,
                kind=KIND,
                severity="info",
                generation=None,
                claim=claim,
                numbers={"generations": committed, "status": "nothing-to-audit"},
                evidence={},
            )
        ]
    models: _Models | None = None
    texts = _Texts(reader)
    measured: list[_Measured] = []
    try:
        for g in chosen:
            traces, n_undecided = _on_policy(reader, g)
            if not any(t.kept for t in traces):  # no gradient to take; no model needed
                measured.append(
                    _Measured(
                        g,
                        {
                            "generation": g,
                            "status": "no-kept-traces",
                            "options": {**opts.__dict__, "confidence": CONFIDENCE},
                            "on_policy": {
                                "n_traces_in_generation": len(traces),
                                "n_kept_in_generation": 0,
                                "n_undecided": n_undecided,
                            },
                        },
                        {"generation": g},
                        claim=f"In generation {g} users kept none of the {len(traces)} deployment traces, "
                        "so there is no fine-tuning gradient to compare with reinforcement learning.",
                    )
                )
                continue
            if models is None:
                models = _open_models(reader)
            measured.append(_measure(reader, models, texts, g, opts))
    finally:
        if models is not None:
            models.planner.close()
    return _findings(measured)


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
    """Run the RL equivalence check on ``run_dir`` and store its findings (replacing this
    auditor's earlier ones); what ``iterdeploy audit`` calls. Arguments as :func:`audit`."""
    return audit_and_store(
        run_dir,
        AUDITOR_NAME,
        lambda reader: audit(
            reader,
            seed=seed,
            max_traces=max_traces,
            generations=generations,
            n_splits=n_splits,
            n_bootstrap=n_bootstrap,
            clip=clip,
            batch_size=batch_size,
        ),
    )
