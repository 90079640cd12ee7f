"""Where sampling's time goes, against the machine's two limits: arithmetic and memory.

    python benchmarks/decode_roofline.py [--tasks 64] [--samples 8] [--markdown]

Why: the speed issue asks for sampling at 40% or more of the machine's matmul limit.
``sampling_throughput.py`` measures the whole decoder at 8-11% per core. This script says why, by
splitting one run of the loop's own sampling (``HfPlanner.sample`` through the lean decoder, one
thread, the quickstart's 7-12-block tasks and 480-token limit) into its kernels with
``torch.profiler``, and setting each kernel against the limit that binds it:

* **projections** (``aten::mm``/``addmm``: query/key/value, output, MLP, output head): 2 FLOPs per
  weight per generated token. Their limit is the matmul peak (one thread, float32, 1024 x 1024,
  measured here).
* **attention** (the scaled-dot-product kernel): 4 FLOPs per layer, head and head dimension per
  position of context; it reads every cached key and value once per token, 2 x layers x kv_heads
  x head_dim x 4 bytes per position: about 0.5 FLOPs per byte. Its limit is memory bandwidth,
  measured here as a copy of a buffer the size of one layer's cache (``32 MB``, which stays in
  this machine's L3 cache) and of 1 GB (main memory): read plus write bytes over time.
* **the rest**: normalisation, rotary positions, sampling, indexing, the Python loop.

The "ceiling" row gives the tokens per second and % of the matmul peak the decoder would reach if
the projections ran at the matmul peak and attention at the L3 copy bandwidth, the rest as
measured; the "bound" row, if the rest took no time at all: no decoder of this model with a
float32 cache of keys and values gets past it on this machine. Kernel times come from the
profiler (which adds a little to each call); the decoder's own row is timed again without it.
Useful FLOPs and bytes count generated tokens only (prompt tokens and padding not counted), as
``sampling_throughput.py`` does.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch
from _common import load_average, machine_line, print_table, progress, set_threads
from sampling_throughput import (
    batched,
    count_tokens,
    draw_tasks,
    flops_per_token,
    matmul_peak,
    useful_flops,
)
from torch.profiler import ProfilerActivity, profile

from iterdeploy.simulator.models.hf_planner import HfPlanner
from iterdeploy.simulator.models.lean_decoder import extract
from iterdeploy.simulator.models.registry import load_planner
from iterdeploy.simulator.models.task_format import CompactTaskFormat

ATTENTION = ("scaled_dot_product", "_flash_attention")
PROJECTION = ("aten::mm", "aten::addmm", "aten::bmm")


def copy_bandwidth(n_bytes: int, rounds: int = 5) -> float:
    """Bytes per second of ``dst.copy_(src)`` (read plus write), best of ``rounds``."""
    src = torch.randn(n_bytes // 4)
    dst = torch.empty_like(src)
    dst.copy_(src)
    repeats = max(1, (256 << 20) // n_bytes)
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(repeats):
            dst.copy_(src)
        best = min(best, (time.perf_counter() - start) / repeats)
    return 2 * n_bytes / best


def kv_bytes_per_position(planner: HfPlanner) -> int:
    """Bytes of keys and values one generated token reads per position of its context."""
    m = extract(planner.model)
    return 2 * len(m.layers) * m.n_kv_heads * m.head_dim * m.embed.element_size()


def split_by_kernel(run: Callable[[], object]) -> dict[str, float]:
    """Self CPU seconds of ``run`` per kernel class (attention, projections, the rest)."""
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        run()
    seconds = {"attention": 0.0, "projections": 0.0, "rest": 0.0}
    for event in prof.key_averages():
        share = event.self_cpu_time_total / 1e6
        if any(a in event.key for a in ATTENTION):
            seconds["attention"] += share
        elif event.key in PROJECTION:
            seconds["projections"] += share
        else:
            seconds["rest"] += share
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=64, help="prompts (default 64)")
    parser.add_argument("--samples", type=int, default=8, help="completions per prompt (default 8)")
    parser.add_argument("--max-new-tokens", type=int, default=480)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    args = parser.parse_args(argv)
    threads = set_threads(1)
    print(f"machine: {machine_line(threads)}", flush=True)

    progress("limits: matmul peak, copy bandwidth")
    peak = matmul_peak()
    l3, dram = copy_bandwidth(32 << 20), copy_bandwidth(1 << 30)

    planner = load_planner("embedded-tiny-v1", device="cpu")
    assert isinstance(planner, HfPlanner)
    fmt = CompactTaskFormat()
    tasks = draw_tasks(args.tasks, 7, 12, args.seed)
    prompts = [fmt.prompt(t) for t in tasks]
    lengths = [len(planner._encode_prompt(p)) for p in prompts]
    common = {"k": args.samples, "max_new_tokens": args.max_new_tokens, "temperature": 1.0,
              "seed": args.seed, "batch_size": HfPlanner.batch_size, "decoder": "lean"}

    progress(f"sampling {args.tasks} x {args.samples}, timed")
    batched(planner, prompts[:2], **{**common, "k": 1})  # warm-up
    start = time.perf_counter()
    completions = batched(planner, prompts, **common)
    wall = time.perf_counter() - start
    progress("the same, profiled by kernel")
    seconds = split_by_kernel(lambda: batched(planner, prompts, **common))
    profiled = sum(seconds.values())

    tokens = count_tokens(completions)
    weights_flops, per_context = flops_per_token(planner)
    total_flops = useful_flops(completions, lengths, args.samples, (weights_flops, per_context))
    projection_flops = tokens * weights_flops
    attention_flops = total_flops - projection_flops
    attention_bytes = attention_flops / per_context * kv_bytes_per_position(planner)
    bound_time = projection_flops / peak + attention_bytes / l3
    ceiling_time = bound_time + seconds["rest"] * wall / profiled

    def pct(x: float, of: float) -> str:
        return f"{100 * x / of:.1f}%"

    rows = [
        ["matmul peak (1024 x 1024, one thread)", "", "", f"{peak / 1e9:.1f}", "100%", "", ""],
        ["copy, 32 MB (L3)", "", "", "", "", f"{l3 / 1e9:.1f}", "100%"],
        ["copy, 1 GB (memory)", "", "", "", "", f"{dram / 1e9:.1f}", ""],
        ["decoder, all of it", f"{tokens / wall:,.0f}", "100%", f"{total_flops / wall / 1e9:.1f}",
         pct(total_flops / wall, peak), "", ""],
        ["  attention", "", pct(seconds["attention"], profiled),
         f"{attention_flops / seconds['attention'] / 1e9:.1f}",
         pct(attention_flops / seconds["attention"], peak),
         f"{attention_bytes / seconds['attention'] / 1e9:.1f}",
         pct(attention_bytes / seconds["attention"], l3)],
        ["  projections", "", pct(seconds["projections"], profiled),
         f"{projection_flops / seconds['projections'] / 1e9:.1f}",
         pct(projection_flops / seconds["projections"], peak), "", ""],
        ["  the rest", "", pct(seconds["rest"], profiled), "", "", "", ""],
        ["ceiling: projections at peak, attention at L3 copy speed", f"{tokens / ceiling_time:,.0f}", "",
         f"{total_flops / ceiling_time / 1e9:.1f}", pct(total_flops / ceiling_time, peak), "", ""],
        ["bound: the same, and nothing else takes time", f"{tokens / bound_time:,.0f}", "",
         f"{total_flops / bound_time / 1e9:.1f}", pct(total_flops / bound_time, peak), "", ""],
    ]
    print_table(
        f"Sampling against the machine's limits ({args.tasks} tasks x {args.samples}, {tokens:,} tokens, "
        f"{wall:.1f} s unprofiled)",
        ["", "tokens/s", "time", "GFLOP/s", "% of matmul peak", "GB/s", "% of L3 copy"],
        rows, markdown=args.markdown,
    )
    print(f"- attention: {attention_flops / total_flops:.0%} of the useful FLOPs, "
          f"{attention_flops / attention_bytes:.2f} FLOPs per byte of keys and values read")
    print(f"- load average at the end: {load_average()} (1/5/15 min)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
