"""Gradient numerics of the RL equivalence check: per-trace gradients, their geometry, importance weights.

Nothing here reads a run: every function takes a model and encoded (ids, labels) pairs, a matrix
of inner products or log-ratios, so the numerical pieces can be checked on their own against
autograd and finite differences on a tiny model in memory. :mod:`iterdeploy.auditors.rl.measure` and
:mod:`iterdeploy.auditors.rl.rows` apply them to the models and traces that
:mod:`iterdeploy.auditors.rl.run_data` reads
from a run.

**Per-trace gradients, then inner products.** One batched forward and backward pass gives every
trace's own gradient: a hook on each adapter ``B`` layer keeps its input and output gradient, and
the per-trace weight gradient is their product summed over positions (the way Opacus computes
per-sample gradients; traces in a batch do not interact). Every gradient compared here is a
weighted sum ``Σ_i w_i ∇(−log p(τ_i))`` of those, so all cosines follow from the matrix of
inner products between traces: the 1/N of REINFORCE or the mean of an SFT loss are constants
that a cosine ignores. Past ``GRADIENT_MEMORY_BYTES`` the per-trace gradients are count-sketched
(random signed buckets, inner products unbiased, error about ``1/√dim`` of the norms).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from iterdeploy.auditors.core.features import AuditorConfigError
from iterdeploy.simulator.models.training import IGNORE, collate

CONFIDENCE = 0.95
"""Coverage of the signal cosines' intervals."""

DEFAULT_CLIP = 10.0
"""Largest importance weight, in units of the mean weight (truncated importance sampling)."""

DEFAULT_BATCH_SIZE = 16
"""Sequences per forward pass."""

GRADIENT_MEMORY_BYTES = 256 * 2**20
"""Per-trace gradients beyond this many bytes (float32) are count-sketched to fit."""


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


def _count_sketch(
    sizes: Sequence[int], n_traces: int, max_bytes: int, seed: int
) -> tuple[int | None, list[torch.Tensor], list[torch.Tensor]]:
    """The count sketch for ``n_traces`` gradients of layers with ``sizes`` weights, when their
    float32 values would exceed ``max_bytes``: its dimension, and per layer each weight's seeded
    random bucket and sign (drawn layer by layer, bucket then sign, from one generator), which keep
    inner products unbiased. ``(None, [], [])`` when the exact gradients fit."""
    buckets: list[torch.Tensor] = []
    signs: list[torch.Tensor] = []
    if n_traces * int(sum(sizes)) * 4 <= max_bytes:
        return None, buckets, signs
    sketch_dim = max(1024, int(max_bytes // (4 * max(1, n_traces))))
    gen = torch.Generator().manual_seed(seed)
    for size in sizes:
        buckets.append(torch.randint(0, sketch_dim, (size,), generator=gen))
        signs.append(torch.randint(0, 2, (size,), generator=gen).float() * 2 - 1)
    return sketch_dim, buckets, signs


def _weight_gradients(
    n_rows: int, sizes: Sequence[int], inputs: dict[int, torch.Tensor], deltas: dict[int, torch.Tensor]
) -> list[torch.Tensor]:
    """Per layer, the ``(n_rows, size)`` weight gradient of each row of one mini-batch from what the
    hooks kept: ``Σ_t δ[b, t]ᵀ h[b, t]`` for row b, flattened; zeros for a layer the forward pass
    never used (no input or no output gradient was recorded)."""
    parts = []
    for k in range(len(sizes)):
        if k not in inputs or k not in deltas:  # a layer this model never used
            parts.append(torch.zeros((n_rows, sizes[k])))
            continue
        h = inputs[k].reshape(n_rows, -1, inputs[k].shape[-1])
        d = deltas[k].reshape(n_rows, -1, deltas[k].shape[-1])
        parts.append(torch.einsum("bto,bti->boi", d, h).reshape(n_rows, -1))
    return parts


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
    sketch_dim, buckets, signs = _count_sketch(sizes, len(encoded), max_bytes, seed)
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
            parts = _weight_gradients(len(idx), sizes, inputs, deltas)
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

