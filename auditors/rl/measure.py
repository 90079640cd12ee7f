"""One generation of the RL equivalence check, measured: the draws and the model work.

:func:`measure_generation` draws the on-policy batch and the pool sample from the traces that
:mod:`iterdeploy.auditors.rl.run_data` reads, encodes the traces as training does, scores the pool's traces
under the models that wrote them and under model g, and differentiates every trace at generation
g's probe (:mod:`iterdeploy.auditors.rl.gradients`); :mod:`iterdeploy.auditors.rl.rows` turns the results
into the
finding's numbers. The severities and claims, which need every audited generation's p-value, are
set afterwards by :mod:`iterdeploy.auditors.rl.report`.

Every random draw of a generation comes from generators seeded by the options' seed and the
generation (:meth:`iterdeploy.auditors.rl.settings.Options.rng`); the generation's own generator is consumed
in a fixed order: the batch, the pool sample, the probe adapter's seed, then the half-splits. The
same run and options therefore give the same numbers.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from iterdeploy.auditors.rl.gradients import (
    Encoded,
    GradientGeometry,
    cosine,
    importance_weights,
    per_trace_gradients,
    sequence_logprobs,
    weighted_gradient,
)
from iterdeploy.auditors.rl.rows import (
    Gradients,
    Inputs,
    OnPolicy,
    Pool,
    Table,
    checks_numbers,
    noise_numbers,
    prop1_numbers,
    prop2_numbers,
    split_rows,
)
from iterdeploy.auditors.rl.run_data import Models, Texts, Trace, on_policy_traces, pool_traces, select_batch
from iterdeploy.auditors.rl.settings import EVIDENCE_SAMPLE_SIZE, Options
from iterdeploy.simulator.models.training import IGNORE
from iterdeploy.simulator.store import RunReader, TraceRow


def _spread(ids: Sequence[int], n: int = EVIDENCE_SAMPLE_SIZE) -> list[int]:
    ids = sorted(ids)
    if len(ids) <= n:
        return list(ids)
    return [ids[round(float(k))] for k in np.linspace(0, len(ids) - 1, n)]


@dataclass
class Measured:
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


def nothing_kept_in_generation(
    generation: int, traces: list[Trace], n_undecided: int, opts: Options
) -> Measured:
    """The result for a generation whose users kept none of its deployment traces: there is no
    fine-tuning gradient, so the auditor records the counts without loading a model."""
    return Measured(
        generation,
        {
            "generation": generation,
            "status": "no-kept-traces",
            "options": opts.recorded(),
            "on_policy": {
                "n_traces_in_generation": len(traces),
                "n_kept_in_generation": 0,
                "n_undecided": n_undecided,
            },
        },
        {"generation": generation},
        claim=f"In generation {generation} users kept none of the {len(traces)} deployment "
        "traces, so there is no fine-tuning gradient to compare with reinforcement "
        "learning.",
    )


# -- encoding and scoring the traces -------------------------------------------------------------


def encode_all(
    models: Models, texts: Texts, ids: Iterable[int]
) -> tuple[dict[int, Encoded], dict[int, TraceRow], int]:
    """Training's encoding of each trace; also the number whose stored plan cannot be read back
    from the completion with the rebuilt prompt's object names (0: prompts rebuilt as sampled)."""
    rows = texts.rows(ids)
    encoded: dict[int, Encoded] = {}
    mismatches = 0
    for trace_id, r in rows.items():
        task = texts.task(r.task_id)
        completion = r.completion
        if models.fmt.extract(completion, task)[0] != r.plan_text:
            mismatches += 1
        encoded[trace_id] = models.encode(models.fmt.prompt(task), completion)
    return encoded, rows, mismatches


def log_ratios(
    models: Models,
    generation: int,
    behaviour: list[Trace],
    encoded: dict[int, Encoded],
    rows: dict[int, TraceRow],
    opts: Options,
) -> tuple[dict[int, float], dict[int, float]]:
    """``log p_g(τ)`` and ``log p_g'(τ)`` of each model-written pool trace, at the deployment
    temperature, scoring only tokens the sampler wrote."""
    temperature = float(models.spec.deploy.temperature)

    def as_sampled(trace_id: int) -> Encoded:
        ids, labels = encoded[trace_id]
        if rows[trace_id].hit_token_limit and labels and labels[-1] == models.eos_id:
            return ids, [*labels[:-1], IGNORE]
        return ids, labels

    target: dict[int, float] = {}
    source: dict[int, float] = {}
    by_gen: dict[int, list[Trace]] = {}
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


# -- the draws and the gradients -----------------------------------------------------------------


def _draw_on_policy(reader: RunReader, generation: int, opts: Options, rng: np.random.Generator) -> OnPolicy:
    """Read the generation's deployment traces and draw the batch (the first use of ``rng``)."""
    all_traces, n_undecided = on_policy_traces(reader, generation)
    batch = select_batch(all_traces, opts.max_traces, rng)
    kept = [t for t in batch if t.kept]
    rewarded = [t for t in batch if t.kept or t.acceptance > 0]
    return OnPolicy(all_traces, n_undecided, batch, kept, rewarded)


def _draw_pool(reader: RunReader, generation: int, opts: Options, rng: np.random.Generator) -> Pool:
    """Read the successor's training set and draw the sample of it (from ``rng``, after the batch)."""
    pool = pool_traces(reader, generation + 1)
    sample: list[Trace] = []
    if pool:
        pick = rng.choice(len(pool), size=min(opts.max_traces, len(pool)), replace=False)
        sample = [pool[i] for i in sorted(pick)]
    behaviour = [t for t in sample if t.purpose == "deploy"]
    older = [t for t in sample if t.purpose == "deploy" and t.generation < generation]
    return Pool(pool, sample, behaviour, older)


def _differentiate(
    models: Models,
    generation: int,
    table: Table,
    encoded: dict[int, Encoded],
    on: OnPolicy,
    opts: Options,
    rng: np.random.Generator,
) -> Gradients:
    """Per-trace gradients at the probe, and Proposition 1's identity by two routes: the kept
    traces' own gradients summed (SFT), and autograd of the REINFORCE loss -(1/N) Σ r log p over
    the batch. The routes share no code past the forward pass, so a cosine below 1 means the
    gradient machinery is broken. The probe is needed for nothing else and is freed on return."""
    probe, layers, space = models.probe(generation, seed=int(rng.integers(2**31)))
    rows = [encoded[t.trace_id] for t in table.traces]
    grads = per_trace_gradients(
        probe, layers, rows, models.pad_id, batch_size=opts.batch_size, seed=opts.seed
    )
    geometry = GradientGeometry(grads.gram(), [t.task_id for t in table.traces])
    n_batch = len(on.batch)
    a_kept = table.ones(on.kept)
    a_decision = table.vec({t.trace_id: t.kept / n_batch for t in on.kept})
    reinforce = weighted_gradient(probe, layers, rows, a_decision, models.pad_id, batch_size=opts.batch_size)
    sft = torch.as_tensor(a_kept, dtype=torch.float32) @ grads.grads
    identity = cosine(sft.double().numpy(), grads.project(reinforce).double().numpy())
    return Gradients(grads, geometry, space, identity)


def measure_generation(
    reader: RunReader, models: Models, texts: Texts, generation: int, opts: Options
) -> Measured:
    """The numbers of one generation (severity and claim still unset, unless the batch holds no
    kept trace). The model work happens here, in order: encoding, the pool's log-probabilities
    under each generation's model, the probe's per-trace gradients; the rows after it are
    arithmetic on their results."""
    rng = opts.rng(f"generation-{generation}")
    on = _draw_on_policy(reader, generation, opts, rng)
    evidence: dict[str, object] = {
        "run_id": reader.run().run_id,
        "generation": generation,
        "kept_trace_ids_sample": _spread([t.trace_id for t in on.kept]),
    }
    if not on.kept:
        return Measured(
            generation,
            {"generation": generation, "status": "no-kept-traces", "options": opts.recorded(),
             "on_policy": on.counts()},
            evidence,
            claim=f"In generation {generation} users kept none of the {len(on.all_traces)} deployment "
            "traces (of the sampled tasks), so there is no fine-tuning gradient to compare with "
            "reinforcement learning.",
        )
    pool = _draw_pool(reader, generation, opts, rng)
    table = Table.of(pool.sample, on.rewarded)
    encoded, texts_of, n_mismatch = encode_all(models, texts, table.index)
    target, source = log_ratios(models, generation, pool.behaviour, encoded, texts_of, opts)
    log_ratio = {i: target[i] - source[i] for i in target}
    pool_weights = importance_weights(np.array([log_ratio[t.trace_id] for t in pool.behaviour]), opts.clip)
    gradients = _differentiate(models, generation, table, encoded, on, opts, rng)
    m = Inputs(generation, opts, on, pool, table, encoded, gradients, log_ratio, pool_weights)
    splits = split_rows(m, rng)
    temperature = float(models.spec.deploy.temperature)
    numbers: dict[str, object] = {
        "generation": generation,
        "status": "ok",
        "options": opts.recorded(),
        "on_policy": on.counts(),
        "gradient_space": gradients.space,
        "n_parameters": gradients.grads.n_parameters,
        "sketch_dim": gradients.grads.sketch_dim,
        "prop1": prop1_numbers(m),
        "noise": noise_numbers(m, splits),
        "prop2": prop2_numbers(m, splits, temperature),
        "checks": checks_numbers(m, target, texts_of, n_mismatch, temperature),
    }
    evidence["pool_trace_ids_sample"] = _spread([t.trace_id for t in pool.sample])
    if pool.behaviour:
        top = np.argsort(-pool_weights.weights, kind="stable")[:EVIDENCE_SAMPLE_SIZE]
        evidence["highest_weight_pool_trace_ids"] = [pool.behaviour[int(i)].trace_id for i in top]
    return Measured(generation, numbers, evidence)
