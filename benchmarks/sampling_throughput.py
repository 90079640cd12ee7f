"""Sampling speed of the embedded model: the lean decoder, the transformers stack, one sequence at a time.

    python benchmarks/sampling_throughput.py [--tasks 64] [--samples 8] [--threads N] [--markdown]
                                             [--skip single-kv] [--skip single-nocache] ...

Why: every generation samples K completions for every deployed and every evaluation task
(quickstart: 160 x 8 + 96 x 4 = 1,664 a generation), so sampling is the loop's largest cost
after training. The models issue asked for at least 5x the tokens per second of a naive loop that
calls ``generate`` for one sequence at a time; the speed issue asks for sampling at 40% or more of
the machine's matmul limit, with FLOPs counted including attention.

What is measured, all on the same prompts, with the loop's sampling settings (temperature 1.0,
``top_k=0``, ``top_p=1.0``; by default 7-12 blocks and a 480-token limit, as in the quickstart):

* **lean decoder**: ``HfPlanner.sample`` exactly as the loop calls it (prompts sorted by length,
  repeated K times, left-padded batches of 64, decoded by
  ``iterdeploy.simulator.models.lean_decoder.sample_lean``: the Llama written directly in torch
  over the same weights, a static KV cache, ended rows dropped every few steps);
* **lean decoder, N worker processes**: the same batches decoded by the sampling pool's worker
  processes, one torch thread each (``iterdeploy.simulator.models.sampling_pool``; the loop's path
  since it came, N = one per usable CPU by default): the same tokens as one process, so the
  "tokens" and "valid" columns must equal the first row's. Its CPU seconds add the workers' own
  (read from ``/proc``), so "% of peak per CPU-s" stays a per-core figure; "% of peak" in wall time
  is against one core's peak, which N cores may exceed;
* **lean decoder, batches of 256**: the same with larger batches (across tasks and samples);
* **batched, KV cache, pruned**: the transformers model stack, decoded by
  ``iterdeploy.simulator.models.decoding.sample_pruned``, which drops each row from the batch and its
  KV cache as soon as it ends (the loop's path before the lean decoder);
* **batched, KV cache, generate**: the same batches through transformers' ``model.generate``,
  which keeps computing every row until the batch's longest row ends (the loop's path before
  pruning);
* **batched, KV cache, pruned, caller's order**: the loop's path without sorting the prompts by
  length first, so a batch mixes small and large tasks;
* **one at a time, KV cache**: the naive loop of the issue, ``model.generate`` on one prompt per
  call, K calls per task (``generate`` keeps its default KV cache);
* **one at a time, no KV cache**: the naive loop without the cache (every step re-reads the whole
  sequence), on the first ``--nocache-tasks`` prompts only, since it is slow. Batched sampling
  without the cache is not measured: at 64 rows of up to 350 tokens each step recomputes the
  whole batch, minutes per batch.

Tokens counted are the tokens each sequence generated, its end-of-sequence token included and
padding excluded (in a batch, a finished row keeps being padded until the longest row ends; that
work is not counted).

"% of peak" divides the useful FLOPs per second by the machine's matmul peak, measured in the same
run (one thread, float32, ``a @ b`` of two 1024 x 1024 matrices in a loop, the best of 5 rounds).
Useful FLOPs count each generated token (prompt tokens and padding not counted) as

    2 * P  +  4 * layers * heads * head_dim * c

where ``P`` is the number of weights a token multiplies (per layer the query/key/value, output,
gate, up and down projections, plus the output head; the embedding lookup is no arithmetic) and
``c`` the token's context length (its prompt's real tokens plus the tokens before it and itself):
its query times the keys and the attention weights times the values, 2 FLOPs per multiply-add each.
"% of peak per CPU-s" divides by the process's CPU seconds instead of wall seconds: on a shared
machine the process does not get its core all the time, and this column says how fast it computes
while it has it.

The "valid" column validates every completion, to show that the ways draw from the same
distribution (same model, same settings; the random streams differ, except that the lean and
pruned decoders draw the same stream on the same batches).
The model is the default embedded base from the cache (``ITERDEPLOY_CACHE``), pretrained first
when absent (6-7 minutes).
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _common import Timing, load_average, machine_line, print_table, progress, set_threads, timed

from iterdeploy.simulator.models import sampling_pool
from iterdeploy.simulator.models.embedded import EmbeddedModelSpec, ensure_base
from iterdeploy.simulator.models.hf_planner import Completion, Decoder, HfPlanner
from iterdeploy.simulator.models.lean_decoder import extract
from iterdeploy.simulator.models.task_format import CompactTaskFormat
from iterdeploy.simulator.planning import GroundTask, validate_plan
from iterdeploy.simulator.planning.blocksworld import generate_task

SKIPPABLE = {
    "pool": "lean decoder, {workers} worker processes, one thread each (the loop's path)",
    "lean-256": "lean decoder, batches of 256 (larger batches across tasks and samples)",
    "generate": "batched, KV cache, generate (every row until the batch's longest ends)",
    "unsorted": "batched, KV cache, pruned, caller's order (no length sort)",
    "single-kv": "one at a time, KV cache (naive generate loop)",
    "single-nocache": "one at a time, no KV cache",
}
"""Rows ``--skip`` can leave out (the naive ones take minutes)."""


@dataclass
class Row:
    """One way of sampling and what it cost."""

    name: str
    sequences: int
    tokens: int
    wall: float
    cpu: float
    valid: int
    flops: float

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.wall if self.wall > 0 else float("nan")


def matmul_peak(size: int = 1024, rounds: int = 5, repeats: int = 10) -> float:
    """FLOP/s of a float32 ``size`` x ``size`` matmul on the current torch threads, best round."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(repeats):
            a @ b
        best = min(best, (time.perf_counter() - start) / repeats)
    return 2 * size**3 / best


def flops_per_token(planner: HfPlanner) -> tuple[int, int]:
    """``(2 P, 4 layers heads head_dim)``: a generated token costs the first plus the second times
    its context length (the module docstring's formula)."""
    m = extract(planner.model)
    weights = sum(t.numel() for layer in m.layers for t in (layer.qkv, layer.o, layer.gate_up, layer.down))
    weights += m.lm_head.numel()
    return 2 * weights, 4 * len(m.layers) * m.n_heads * m.head_dim


def useful_flops(completions: list[Completion], prompt_lengths: list[int], k: int, per_token: tuple[int, int]
                 ) -> float:
    """FLOPs of the generated tokens of completions laid out task by task, ``k`` per task."""
    fixed, per_context = per_token
    total = 0.0
    for i, c in enumerate(completions):
        n, p = c.n_tokens + (not c.hit_token_limit), prompt_lengths[i // k]
        total += n * fixed + per_context * (n * p + n * (n + 1) / 2)
    return total


def draw_tasks(n: int, low: int, high: int, seed: int) -> list[GroundTask]:
    """``n`` Blocksworld tasks of ``low``..``high`` blocks (the quickstart's deployment sizes)."""
    rng = np.random.default_rng(seed)
    return [generate_task(int(rng.integers(low, high + 1)), rng, name=f"bench-{i}") for i in range(n)]


def count_tokens(completions: list[Completion]) -> int:
    """Generated tokens: the body plus the end-of-sequence token where one was written."""
    return sum(c.n_tokens + (not c.hit_token_limit) for c in completions)


def n_valid(completions: list[Completion], tasks: list[GroundTask], k: int) -> int:
    """Valid plans among completions laid out task by task, ``k`` per task."""
    fmt = CompactTaskFormat()
    return sum(
        validate_plan(tasks[i // k], fmt.extract(c.text, tasks[i // k])[0]).is_valid
        for i, c in enumerate(completions)
    )


def to_completion(planner: HfPlanner, row: list[int]) -> Completion:
    """A completion from new token ids, decoded exactly as ``HfPlanner.sample`` decodes them."""
    tok = planner.tokenizer
    ended = tok.eos_token_id in row
    body = row[: row.index(tok.eos_token_id)] if ended else row
    body = [t for t in body if t != tok.pad_token_id]
    return Completion(tok.decode(body, skip_special_tokens=False), len(body), not ended)


def workers_cpu() -> float:
    """CPU seconds used so far by the sampling pool's worker processes (from /proc: they are
    not reaped while the pool lives, so the process's children accounting misses them)."""
    pool = sampling_pool._pool
    if pool is None:
        return 0.0
    total = 0.0
    for pid in list(pool[1]._processes):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def pooled(
    planner: HfPlanner, prompts: list[str], *, k: int, workers: int, **common: Any
) -> list[Completion]:
    """:func:`batched` (the lean decoder, batches of 64) with ``workers`` sampling processes."""
    return batched(planner, prompts, k=k, batch_size=64, decoder="lean", workers=workers, **common)


def batched(
    planner: HfPlanner,
    prompts: list[str],
    *,
    k: int,
    max_new_tokens: int,
    temperature: float,
    seed: int,
    batch_size: int,
    sort_by_length: bool = True,
    decoder: Decoder = "auto",
    workers: int = 1,
) -> list[Completion]:
    """``k`` completions per prompt exactly as the loop samples them (``HfPlanner.sample``), in
    this process or with ``workers`` sampling processes."""
    planner.sort_prompts_by_length = sort_by_length
    planner.decoder = decoder
    planner.batch_size = batch_size
    try:
        with sampling_pool.sample_workers(workers):
            nested = planner.sample(
                prompts, n=k, temperature=temperature, max_new_tokens=max_new_tokens, seed=seed,
            )
    finally:
        planner.sort_prompts_by_length = True
        planner.decoder = "auto"
        planner.batch_size = HfPlanner.batch_size
    return [c for per_task in nested for c in per_task]


def one_at_a_time(
    planner: HfPlanner,
    prompts: list[str],
    *,
    k: int,
    max_new_tokens: int,
    temperature: float,
    seed: int,
    use_cache: bool,
) -> list[Completion]:
    """The naive loop: one ``generate`` call per sequence, no padding, no batching."""
    tok = planner.tokenizer
    model = planner.model
    out: list[Completion] = []
    with torch.no_grad():
        for i, prompt in enumerate(p for p in prompts for _ in range(k)):
            torch.manual_seed(seed + i)
            ids = torch.tensor([planner._encode_prompt(prompt)], dtype=torch.long)
            gen = model.generate(
                input_ids=ids,
                attention_mask=torch.ones_like(ids),
                max_new_tokens=max_new_tokens,
                do_sample=True,
                temperature=temperature,
                top_k=0,
                top_p=1.0,
                pad_token_id=tok.pad_token_id,
                eos_token_id=tok.eos_token_id,
                use_cache=use_cache,
            )
            out.append(to_completion(planner, gen[0, ids.shape[1] :].tolist()))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=64, help="prompts (default 64)")
    parser.add_argument("--samples", type=int, default=8, help="completions per prompt, K (default 8)")
    parser.add_argument(
        "--batch-size", type=int, default=64, help="batch of the batched rows (the loop's 64)"
    )
    parser.add_argument(
        "--max-new-tokens", type=int, default=480, help="token limit (default 480, the quickstart's)"
    )
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--min-blocks", type=int, default=7)
    parser.add_argument("--max-blocks", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default OMP_NUM_THREADS or 1)"
    )
    parser.add_argument(
        "--nocache-tasks",
        type=int,
        default=16,
        help="the no-KV-cache row uses the first N prompts only (default 16: it is slow)",
    )
    parser.add_argument(
        "--skip", action="append", default=[], choices=sorted(SKIPPABLE), help="leave a row out (repeatable)"
    )
    parser.add_argument("--workers", type=int, default=None,
                        help="sampling processes of the pool row (default: one per usable CPU)")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    args = parser.parse_args(argv)

    threads = set_threads(args.threads)
    print(f"machine: {machine_line(threads)}", flush=True)
    spec = EmbeddedModelSpec()
    progress(
        f"embedded base {spec.content_hash()} under "
        f"{os.environ.get('ITERDEPLOY_CACHE', '~/.cache/iterdeploy')} (pretrained first if absent)"
    )
    planner = HfPlanner(ensure_base(spec, None), name="embedded-tiny-v1")
    tasks = draw_tasks(args.tasks, args.min_blocks, args.max_blocks, args.seed)
    fmt = CompactTaskFormat()
    prompts = [fmt.prompt(t) for t in tasks]
    lengths = [len(planner._encode_prompt(p)) for p in prompts]
    k, common = (
        args.samples,
        {"max_new_tokens": args.max_new_tokens, "temperature": args.temperature, "seed": args.seed},
    )
    print(
        f"{len(prompts)} prompts of {args.min_blocks}-{args.max_blocks} blocks ({min(lengths)}-"
        f"{max(lengths)} tokens), K={k}: {len(prompts) * k} sequences per row; "
        f"{sum(p.numel() for p in planner.model.parameters()):,} parameters",
        flush=True,
    )
    # warm-up (lazy initialisation, the first calls at each batch shape): not timed
    one_at_a_time(planner, prompts[:2], k=1, use_cache=True, **{**common, "max_new_tokens": 32})
    for decoder in ("lean", "pruned"):
        batched(planner, prompts[: max(1, args.batch_size // k)], k=k, batch_size=args.batch_size,
                decoder=decoder, **{**common, "max_new_tokens": 32})
    peak = matmul_peak()
    per_token = flops_per_token(planner)
    print(f"matmul peak (1024 x 1024, float32, {threads} thread(s)): {peak / 1e9:.1f} GFLOP/s; a generated "
          f"token costs {per_token[0]:,} + {per_token[1]:,} x context FLOPs", flush=True)

    few = prompts[: args.nocache_tasks]
    workers = args.workers or sampling_pool.usable_cpus()
    if "pool" not in args.skip:  # start the worker processes before anything is timed
        pooled(planner, prompts[: max(1, 128 // k)], k=k, workers=workers, **{**common, "max_new_tokens": 32})
    ways: list[tuple[str, Callable[[], list[Completion]], int]] = [
        (
            "lean decoder, one process (HfPlanner.sample)",
            lambda: batched(planner, prompts, k=k, batch_size=args.batch_size, decoder="lean", **common),
            len(prompts),
        ),
        (
            SKIPPABLE["pool"].format(workers=workers),
            lambda: pooled(planner, prompts, k=k, workers=workers, **common),
            len(prompts),
        ),
        (
            SKIPPABLE["lean-256"],
            lambda: batched(planner, prompts, k=k, batch_size=256, decoder="lean", **common),
            len(prompts),
        ),
        (
            "batched, KV cache, pruned (transformers stack, the loop's path before)",
            lambda: batched(planner, prompts, k=k, batch_size=args.batch_size, decoder="pruned", **common),
            len(prompts),
        ),
        (
            SKIPPABLE["generate"],
            lambda: batched(planner, prompts, k=k, batch_size=args.batch_size, decoder="generate",
                            **common),
            len(prompts),
        ),
        (
            SKIPPABLE["unsorted"],
            lambda: batched(planner, prompts, k=k, batch_size=args.batch_size, sort_by_length=False,
                            decoder="pruned", **common),
            len(prompts),
        ),
        (
            SKIPPABLE["single-kv"],
            lambda: one_at_a_time(planner, prompts, k=k, use_cache=True, **common),
            len(prompts),
        ),
        (SKIPPABLE["single-nocache"], lambda: one_at_a_time(planner, few, k=k, use_cache=False, **common),
         len(few)),
    ]
    rows: list[Row] = []
    for name, fn, n_prompts in ways:
        if any(SKIPPABLE[s].format(workers=workers) == name for s in args.skip):
            continue
        progress(f"sampling: {name}")
        before = workers_cpu()
        completions, t = timed(fn)
        t = Timing(t.wall, t.cpu + workers_cpu() - before)
        rows.append(
            Row(
                name,
                len(completions),
                count_tokens(completions),
                t.wall,
                t.cpu,
                n_valid(completions, tasks, k),
                useful_flops(completions, lengths[:n_prompts], k, per_token),
            )
        )
        progress(
            f"  {rows[-1].tokens:,} tokens in {t.wall:.1f} s ({t.cpu:.1f} CPU s): "
            f"{rows[-1].tokens_per_s:,.0f} tokens/s, {rows[-1].flops / t.wall / peak:.1%} of the matmul "
            f"peak; load average {load_average()}"
        )

    base = next((r for r in rows if "pruned (transformers" in r.name), rows[0])
    header = [
        "way",
        "sequences",
        "tokens",
        "seconds",
        "tokens/s",
        "vs pruned",
        "GFLOP/s",
        "% of peak",
        "% of peak per CPU-s",
        "CPU s",
        "tokens/CPU-s",
        "valid",
    ]
    table = [
        [
            r.name,
            f"{r.sequences:,}",
            f"{r.tokens:,}",
            f"{r.wall:.1f}",
            f"{r.tokens_per_s:,.0f}",
            f"{r.tokens_per_s / base.tokens_per_s:.1f}x",
            f"{r.flops / r.wall / 1e9:.1f}",
            f"{r.flops / r.wall / peak:.1%}",
            f"{r.flops / r.cpu / peak:.1%}",
            f"{r.cpu:.1f}",
            f"{r.tokens / r.cpu:,.0f}",
            f"{r.valid}/{r.sequences}",
        ]
        for r in rows
    ]
    print()
    print_table(
        "Sampling throughput, embedded model",
        header,
        table,
        args.markdown,
        notes=[
            f"K={k} completions for each of {len(prompts)} prompts, max {args.max_new_tokens} new tokens, "
            f"temperature {args.temperature}, batches of {args.batch_size}; the no-KV-cache row on the first "
            f"{len(few)} prompts only (tokens/s is a rate, so the rows still compare)",
            f"matmul peak {peak / 1e9:.1f} GFLOP/s (1024 x 1024 float32, {threads} thread(s), this run); "
            f"FLOPs per generated token {per_token[0]:,} + {per_token[1]:,} x its context length",
            f"load average at the end: {load_average()} (1/5/15 min)",
        ],
    )
    ours = rows[0]
    print(
        f"the loop's path: {ours.tokens_per_s / base.tokens_per_s:.1f}x the pruned transformers decoder's "
        f"tokens/s, {ours.flops / ours.wall / peak:.1%} of the matmul peak (target: at least 40%)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
