"""RL equivalence check: is fine-tuning on curated outputs reinforcement learning? Measured.

The paper's theory (Corrêa et al. 2025; DESIGN.md, "Auditors and the theory they test") says that
supervised fine-tuning (SFT) on the traces users kept from a model's own samples has the gradient
of REINFORCE with the keep decision as reward (Proposition 1), and that with data pooled from
earlier generations it is off-policy REINFORCE, unbiased only with importance weights
``p_g(τ) / p_g'(τ)`` (Proposition 2). This auditor computes those gradients on a real run and
compares their directions (cosine similarity of the flattened gradient vectors).

Where the parts live: :mod:`auditors.rl.run_data` loads the models (what is differentiated, and
why) and reads the traces; :mod:`auditors.rl.gradients` holds the numerics (per-trace gradients,
their inner products, importance weights); this module measures each generation and writes the
findings.

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
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
from scipy import stats

from auditors.core.decisions import run_id_of
from auditors.core.features import AuditorConfigError
from auditors.core.findings import Severity, audit_and_store, make_finding
from auditors.rl.gradients import (
    CONFIDENCE,
    DEFAULT_BATCH_SIZE,
    DEFAULT_CLIP,
    Encoded,
    GradientGeometry,
    cosine,
    importance_weights,
    per_trace_gradients,
    sequence_logprobs,
    weighted_gradient,
)
from auditors.rl.run_data import (
    Models,
    Texts,
    Trace,
    on_policy_traces,
    open_models,
    pool_traces,
    select_batch,
)
from simulator.models.training import IGNORE
from simulator.store import FindingRow, RunReader, TraceRow

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

N_PERMUTATIONS = 999
"""Task permutations behind the older-vs-fresh test's p-value."""

ALPHA = 0.05
"""Level of the older-vs-fresh test, after Benjamini-Hochberg over the generations audited together."""

IDENTITY_MIN_COSINE = 0.999
"""Below this the Proposition 1 identity row says the measurement itself is broken."""

EVIDENCE_SAMPLE_SIZE = 10
"""Trace ids cited per list in a finding's evidence."""


# -- the measurement -----------------------------------------------------------------------------


def _rng(seed: int, name: str) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, zlib.crc32(name.encode())]))


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


def _log_ratios(
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


def _measure(reader: RunReader, models: Models, texts: Texts, generation: int, opts: Options) -> _Measured:
    """The numbers of one generation."""
    rng = _rng(opts.seed, f"generation-{generation}")
    all_traces, n_undecided = on_policy_traces(reader, generation)
    batch = select_batch(all_traces, opts.max_traces, rng)
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

    pool = pool_traces(reader, generation + 1)
    pool_sample: list[Trace] = []
    if pool:
        pick = rng.choice(len(pool), size=min(opts.max_traces, len(pool)), replace=False)
        pool_sample = [pool[i] for i in sorted(pick)]
    behaviour = [t for t in pool_sample if t.purpose == "deploy"]

    # one row per distinct trace; on-policy rows carry the decision and A(τ)
    rows_by_id: dict[int, Trace] = {t.trace_id: t for t in pool_sample}
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
        if not texts_of[i].hit_token_limit and temperature == 1.0
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

    def fit(group: list[Trace]) -> dict[str, float | int | None]:
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
        m.numbers["denominators"] = _denominators(m.numbers)
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


def _denominators(numbers: dict[str, object]) -> dict[str, int]:
    """The on-policy counts a generation's numbers are out of (traces, kept, tasks, undecided)."""
    on_policy = numbers.get("on_policy")
    if not isinstance(on_policy, dict):
        return {}
    return {k: v for k, v in on_policy.items() if isinstance(v, int) and not isinstance(v, bool)}


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
            simulator.errors.StoreError: When the store or an adapter cannot be read.
        """
        opts = Options(
            self.seed, self.max_traces, self.n_splits, self.n_bootstrap, self.clip, self.batch_size
        )
        opts.check()
        committed = [g.generation for g in reader.generations()]
        if self.generations is None:
            chosen = [g for g in committed if reader.training_set(g + 1)]
        else:
            chosen = sorted({int(g) for g in self.generations})
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
                    numbers={
                        "generations": committed,
                        "status": "nothing-to-audit",
                        "reason": "no-generations" if not committed else "no-successor",
                        "denominators": {
                            "n_committed_generations": len(committed),
                            "n_generations_with_successor": 0,
                        },
                    },
                    evidence={"run_id": run_id_of(reader), "generations": committed},
                )
            ]
        models: Models | None = None
        texts = Texts(reader)
        measured: list[_Measured] = []
        try:
            for g in chosen:
                traces, n_undecided = on_policy_traces(reader, g)
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
                            claim=f"In generation {g} users kept none of the {len(traces)} deployment "
                            "traces, so there is no fine-tuning gradient to compare with reinforcement "
                            "learning.",
                        )
                    )
                    continue
                if models is None:
                    models = open_models(reader)
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
