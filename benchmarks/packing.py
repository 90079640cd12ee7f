"""Packed against padded training batches: the same steps, the same loss, less compute.

    python benchmarks/packing.py [--steps 40] [--repeats 3] [--threads N] [--markdown]

Why: ``train_sft`` pads each step's examples to the longest one unless asked to pack them
(``pack=True``: several examples per row, position ids restarting per example, so transformers
masks them apart). Mixed task sizes make padded batches mostly padding, and padding costs as much
compute as text. This times both ways on the same batches for the two kinds of training the
quickstart does:

* **pretraining**: ``--steps`` steps of the default embedded recipe's batches (32 reference plans
  of 2-7-block tasks each, from ``pretrain``'s size distribution), full training of a freshly
  initialised model, the recipe's learning rate;
* **one generation's LoRA epoch**: 512 reference plans of 3-8-block tasks (the quickstart's deploy
  sizes) in batches of 16, LoRA r=32 on the default base from the cache, as ``HfPlanner.train``
  does it.

Runs alternate (padded, packed, padded, ...) ``--repeats`` times and medians are reported. The
mean loss column must agree between the two rows of a kind: it shows they computed the same thing.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Sequence

import numpy as np
from _common import load_average, machine_line, print_table, progress, set_threads

from iterdeploy.simulator.models.embedded import (
    EmbeddedModelSpec,
    build_base,
    ensure_base,
    pretrain_size_distribution,
    reference_example,
)
from iterdeploy.simulator.models.hf_planner import HfPlanner, TrainConfig
from iterdeploy.simulator.models.training import Example, collate_step, encode_example, train_sft


def pretraining_batches(spec: EmbeddedModelSpec, n_steps: int, seed: int) -> list[list[Example]]:
    """``n_steps`` batches as ``pretrain`` draws them for ``spec``."""
    rng = np.random.default_rng(seed)
    sizes, probs = pretrain_size_distribution(spec)
    return [
        [reference_example(int(rng.choice(sizes, p=probs)), rng, spec.pretrain_detour_share)
         for _ in range(spec.pretrain_batch_size)]
        for _ in range(n_steps)
    ]


def tokens(batches: Sequence[Sequence[Example]], tok: object, pack: bool) -> tuple[int, int]:
    """(tokens of text, tokens computed) over ``batches``."""
    text = computed = 0
    for examples in batches:
        encoded = [encode_example(tok, ex, 512) for ex in examples]  # type: ignore[arg-type]
        text += sum(len(ids) for ids, _ in encoded)
        batch = collate_step(encoded, 0, pack=pack)
        computed += batch["input_ids"].numel()
    return text, computed


def time_pretraining(
    spec: EmbeddedModelSpec, batches: list[list[Example]], pack: bool
) -> tuple[float, float]:
    """(seconds, mean loss) of full training from fresh weights on ``batches``."""
    model, tok = build_base(spec)
    losses: list[float] = []
    start = time.perf_counter()
    train_sft(model, tok, lambda s: batches[s], n_steps=len(batches), lr=spec.pretrain_lr,
              seed=spec.seed, warmup_steps=min(50, len(batches) // 10),
              on_step=lambda _s, loss: losses.append(loss), pack=pack)
    return time.perf_counter() - start, float(np.mean(losses))


def time_lora_epoch(base: object, examples: list[Example], pack: bool) -> tuple[float, float]:
    """(seconds, mean loss) of one LoRA epoch as a generation trains it."""
    planner = HfPlanner(base, device="cpu")  # type: ignore[arg-type]
    losses: list[float] = []
    start = time.perf_counter()
    planner.train(examples, TrainConfig(lora_r=32, lora_alpha=64, lr=2e-3, n_epochs=1, batch_size=16,
                                        pack=pack), seed=0,
                  on_step=lambda _s, loss: losses.append(loss))
    return time.perf_counter() - start, float(np.mean(losses))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=40, help="pretraining steps timed (default 40)")
    parser.add_argument("--examples", type=int, default=512, help="examples in the LoRA epoch (512)")
    parser.add_argument("--repeats", type=int, default=3, help="alternating runs per row (default 3)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default 1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    args = parser.parse_args(argv)

    threads = set_threads(args.threads)
    print(f"machine: {machine_line(threads)}", flush=True)
    spec = EmbeddedModelSpec()
    _, tok = build_base(spec)
    pre_batches = pretraining_batches(spec, args.steps, args.seed)
    rng = np.random.default_rng(args.seed)
    lora_examples = [reference_example(int(rng.integers(3, 9)), rng, spec.pretrain_detour_share)
                     for _ in range(args.examples)]
    lora_batches = [lora_examples[i : i + 16] for i in range(0, len(lora_examples), 16)]
    progress(f"base {spec.content_hash()} (pretrained first if not cached)")
    base = ensure_base(spec)

    kinds: list[tuple[str, Sequence[Sequence[Example]], Callable[[bool], tuple[float, float]]]] = [
        (f"pretraining, {args.steps} steps of 32", pre_batches,
         lambda pack: time_pretraining(spec, pre_batches, pack)),
        (f"LoRA r=32 epoch, {args.examples} examples, batch 16", lora_batches,
         lambda pack: time_lora_epoch(base, lora_examples, pack)),
    ]
    rows = []
    for name, batches, run in kinds:
        times: dict[bool, list[float]] = {False: [], True: []}
        loss: dict[bool, float] = {}
        run(True)  # warm-up: first-call costs stay out
        for repeat in range(args.repeats):
            for pack in (False, True):
                seconds, loss[pack] = run(pack)
                times[pack].append(seconds)
                progress(f"{repeat + 1}/{args.repeats} {name}, {'packed' if pack else 'padded'}: "
                         f"{seconds:.2f} s")
        padded = statistics.median(times[False])
        for pack in (False, True):
            text, computed = tokens(batches, tok, pack)
            median = statistics.median(times[pack])
            rows.append([name, "packed" if pack else "padded", f"{median:.2f}", f"{padded / median:.2f}x",
                         f"{computed:,}", f"{text / computed:.0%}", f"{loss[pack]:.4f}"])
    print()
    print_table(
        "Packed against padded training batches (train_sft)",
        ["training", "batches", "seconds", "vs padded", "tokens computed", "of which text", "mean loss"],
        rows,
        args.markdown,
        notes=[
            f"median of {args.repeats} alternating runs after one warm-up run; {threads} torch thread(s)",
            "equal mean losses per kind show that both ways computed the same thing",
            f"load average at the end: {load_average()} (1/5/15 min)",
        ],
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
