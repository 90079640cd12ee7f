"""Training speed of one epoch: our plain loop against transformers' Trainer and TRL's SFTTrainer.

    python benchmarks/training_throughput.py [--examples 512] [--repeats 3] [--threads N] [--markdown]

Why: every generation fine-tunes the embedded model on the curated pool, and the issue asks (a)
how many examples a second one LoRA epoch trains and what share of the machine's measured matmul
FLOP/s that is, (b) for full fine-tuning as well (at this model size LoRA saves no compute worth
having), and (c) whether our plain PyTorch loop (``iterdeploy.simulator.models.training.train_sft``) is
justified against ``transformers.Trainer`` or TRL's ``SFTTrainer``, which the design would
otherwise use.

The comparison is the same work three ways:

* the same model (the default embedded base from the cache, reloaded for every run) prepared the
  same way (``HfPlanner.train``'s LoRA: the scenario default r=32, alpha=64, no dropout, the seven
  Llama projections; or every weight trainable);
* the same examples in the same order and the same batches: ``--examples`` reference plans of
  3-8-block tasks in the embedded format, shuffled once by ``epoch_batches``; the trainers get
  them pre-tokenised by our ``encode_example`` in that order with
  ``train_sampling_strategy="sequential"``, batched by our ``collate`` (Trainer) or TRL's own
  collator (SFTTrainer), batch 16, one epoch;
* the same optimiser and schedule: AdamW (lr 2e-3, no weight decay), gradient clipping at 1.0,
  linear warm-up then cosine to 10 %; the trainers are handed the same optimiser and
  scheduler objects, so the mean losses must agree (a column shows them);
* no checkpoints, no reporting, no progress bar, fp32, no gradient checkpointing (TRL's SFTConfig
  turns on gradient checkpointing and bf16 by default; both are switched off here, so the rows
  differ by the trainers' machinery only).

Timed per run: the epoch (the whole ``train_sft`` call; ``trainer.train()``), the setup before it
(model load, LoRA wrapping, building the trainer; not part of the epoch), and each step's
duration (from ``on_step`` and a ``TrainerCallback``): the median step (the first excluded) is the
steady per-step cost, and the epoch minus its steps is what a trainer spends outside them. Runs
are interleaved (ours, Trainer, TRL, ours, ...) ``--repeats`` times and the medians reported,
since the machine is shared.

FLOPs: N = weights of the model's linear layers (the tied output head included, the embedding
lookup not), T = tokens computed (batch rows x padded width, i.e. what the hardware ran). Full
fine-tuning: 6·N·T (forward 2, input gradients 2, weight gradients 2). LoRA: 4·N·T + 6·N_lora·T
(the frozen base still runs forward and passes gradients back to the inputs, but has no weight
gradients; the adapters do all three). Attention's own matmuls (QKᵀ and AV, 12·L·d·W per token
for W the padded width) are left out and their share printed. The machine's matmul FLOP/s is
measured here with ``torch.matmul`` on 1024x1024 fp32 matrices on the same threads, and on the
model's own MLP shape for comparison.
"""

from __future__ import annotations

import argparse
import gc
import math
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from _common import load_average, machine_line, print_table, progress, set_threads, timed

from iterdeploy.simulator.models.embedded import EmbeddedModelSpec, ensure_base, reference_example
from iterdeploy.simulator.models.hf_planner import LLAMA_LORA_TARGETS
from iterdeploy.simulator.models.training import Example, collate, encode_example, epoch_batches, train_sft

LORA_R, LORA_ALPHA, LR, BATCH, MAX_LEN = 32, 64, 2e-3, 16, 512
"""The scenario's training defaults (``iterdeploy.simulator.scenario.TrainingSpec``)."""
PACKAGES = ("torch", "transformers", "peft", "accelerate", "trl", "datasets")
"""Versions printed with the machine line."""


@dataclass
class Run:
    """One timed epoch."""

    setup_s: float
    epoch_s: float
    cpu_s: float
    step_s: list[float]
    mean_loss: float


@dataclass
class Result:
    """All runs of one (trainer, method) pair."""

    trainer: str
    method: str
    runs: list[Run] = field(default_factory=list)
    note: str = ""

    def median(self, attr: str) -> float:
        return statistics.median(getattr(r, attr) for r in self.runs)

    def median_outside(self) -> float:
        """Seconds of the epoch spent outside optimiser steps (the trainer's start and end)."""
        return statistics.median(r.epoch_s - sum(r.step_s) for r in self.runs)

    def median_step(self) -> float:
        return statistics.median(s for r in self.runs for s in r.step_s[1:] or r.step_s)


def make_examples(n: int, seed: int) -> list[Example]:
    """``n`` reference plans of 3-8-block tasks (the quickstart's sizes) in the embedded format."""
    rng = np.random.default_rng(seed)
    return [reference_example(int(rng.integers(3, 9)), rng) for _ in range(n)]


def load_model(base: Any, method: str, seed: int) -> tuple[torch.nn.Module, Any]:
    """A fresh base model made trainable as ``HfPlanner.train`` makes it (LoRA or full)."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    tok = AutoTokenizer.from_pretrained(base)
    if method == "lora":
        torch.manual_seed(seed)
        model = get_peft_model(
            model,
            LoraConfig(
                r=LORA_R,
                lora_alpha=LORA_ALPHA,
                lora_dropout=0.0,
                target_modules=list(LLAMA_LORA_TARGETS),
                task_type="CAUSAL_LM",
            ),
        )
    else:
        for p in model.parameters():
            p.requires_grad = True
    return model, tok


def optimizer_and_schedule(model: torch.nn.Module, n_steps: int) -> tuple[Any, Any]:
    """AdamW and the schedule ``train_sft`` builds (warm-up, then cosine to 10 %)."""
    warmup = min(10, n_steps // 10)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=LR, weight_decay=0.0)

    def schedule(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress_ = (step - warmup) / max(1, n_steps - warmup)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress_))

    return opt, torch.optim.lr_scheduler.LambdaLR(opt, schedule)


def run_ours(
    base: Any,
    method: str,
    examples: Sequence[Example],
    order: Callable[[int], Sequence[Example]],
    n_steps: int,
    seed: int,
) -> Run:
    """``train_sft``, as ``HfPlanner.train`` calls it (it builds its own AdamW and schedule)."""
    t0 = time.perf_counter()
    model, tok = load_model(base, method, seed)
    setup = time.perf_counter() - t0
    stamps: list[float] = []
    losses: list[float] = []

    def on_step(step: int, loss: float) -> None:
        stamps.append(time.perf_counter())
        losses.append(loss)

    gc.collect()
    start, cpu = time.perf_counter(), time.process_time()
    train_sft(
        model,
        tok,
        order,
        n_steps=n_steps,
        lr=LR,
        seed=seed,
        max_len=MAX_LEN,
        warmup_steps=min(10, n_steps // 10),
        on_step=on_step,
    )
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    # the first step's interval also holds building AdamW and the schedule, as the trainers'
    # "outside steps" time holds theirs
    steps = np.diff([start, *stamps]).tolist()
    return Run(setup, wall, cpu, steps, float(np.mean(losses)))


class _StepClock:
    """A ``TrainerCallback`` that stamps the end of every optimiser step."""

    def __init__(self) -> None:
        from transformers import TrainerCallback

        outer = self
        self.stamps: list[float] = []

        class Callback(TrainerCallback):
            def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
                outer.stamps = [time.perf_counter()]

            def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
                outer.stamps.append(time.perf_counter())

        self.callback = Callback()


def run_trainer(
    base: Any, method: str, order: Callable[[int], Sequence[Example]], n_steps: int, seed: int, use_trl: bool
) -> Run:
    """``transformers.Trainer`` or TRL's ``SFTTrainer`` on the same batches, optimiser and schedule."""
    from transformers import Trainer, TrainingArguments

    t0 = time.perf_counter()
    model, tok = load_model(base, method, seed)
    ordered = [ex for step in range(n_steps) for ex in order(step)]
    encoded = [encode_example(tok, ex, MAX_LEN) for ex in ordered]
    opt, sched = optimizer_and_schedule(model, n_steps)
    clock = _StepClock()
    common: dict[str, Any] = dict(
        output_dir=tempfile.mkdtemp(prefix="train-bench-"),
        per_device_train_batch_size=BATCH,
        num_train_epochs=1,
        max_grad_norm=1.0,
        seed=seed,
        data_seed=seed,
        report_to=[],
        save_strategy="no",
        disable_tqdm=True,
        use_cpu=True,
        dataloader_num_workers=0,
        dataloader_pin_memory=False,
        train_sampling_strategy="sequential",
    )
    if use_trl:
        from datasets import Dataset
        from trl import SFTConfig, SFTTrainer

        args = SFTConfig(
            **common, max_length=MAX_LEN, gradient_checkpointing=False, bf16=False, completion_only_loss=None
        )
        data = Dataset.from_dict(
            {"input_ids": [i for i, _ in encoded], "labels": [lab for _, lab in encoded]}
        )
        trainer: Any = SFTTrainer(
            model=model,
            args=args,
            train_dataset=data,
            processing_class=tok,
            optimizers=(opt, sched),
            callbacks=[clock.callback],
        )
    else:
        args = TrainingArguments(**common, remove_unused_columns=False)
        rows = [{"input_ids": i, "labels": lab} for i, lab in encoded]
        trainer = Trainer(
            model=model,
            args=args,
            train_dataset=rows,
            optimizers=(opt, sched),
            data_collator=lambda feats: collate(
                [(f["input_ids"], f["labels"]) for f in feats], tok.pad_token_id
            ),
            callbacks=[clock.callback],
        )
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)  # it prints the final metrics dict into the report
    setup = time.perf_counter() - t0
    out, t = timed(trainer.train)
    if out.global_step != n_steps:
        raise RuntimeError(f"trainer ran {out.global_step} steps, expected {n_steps}")
    steps = np.diff(clock.stamps).tolist()
    return Run(setup, t.wall, t.cpu, steps, float(out.training_loss))


def matmul_flops(n: int, m: int, k: int, seconds: float = 3.0) -> tuple[float, float]:
    """FLOP per wall second and per CPU second of ``(n x k) @ (k x m)`` fp32 matmuls on the
    current threads, repeated for ``seconds``. The CPU-second rate is the one a loaded machine
    moves least (neighbours take wall time, not this process's CPU time)."""
    a, b = torch.randn(n, k), torch.randn(k, m)
    for _ in range(3):
        a @ b
    count, start, cpu = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - start < seconds:
        a @ b
        count += 1
    flops = 2.0 * n * m * k * count
    return flops / (time.perf_counter() - start), flops / (time.process_time() - cpu)


def linear_params(model: torch.nn.Module) -> int:
    """Weights of the linear layers, each counted once (the tied output head is one of them)."""
    seen: set[int] = set()
    total = 0
    for module in model.modules():
        if isinstance(module, torch.nn.Linear) and id(module.weight) not in seen:
            seen.add(id(module.weight))
            total += module.weight.numel()
    return total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=256, help="examples in the epoch (default 256)")
    parser.add_argument("--repeats", type=int, default=2, help="runs of each row, interleaved (default 2)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default OMP_NUM_THREADS or 1)"
    )
    parser.add_argument(
        "--skip",
        action="append",
        default=[],
        choices=["trainer", "trl", "lora", "full"],
        help="leave a trainer or a method out (repeatable)",
    )
    parser.add_argument("--markdown", action="store_true", help="print the tables as Markdown")
    args = parser.parse_args(argv)

    import warnings

    import transformers

    transformers.logging.set_verbosity_error()
    warnings.filterwarnings("ignore", category=FutureWarning)  # TRL's config renames a deprecated field
    try:
        import datasets

        datasets.disable_progress_bars()  # TRL maps its dataset with progress bars on stdout
    except ImportError:
        pass
    threads = set_threads(args.threads)
    print(
        f"machine: {machine_line(threads, PACKAGES)}",
        flush=True,
    )
    base = ensure_base(EmbeddedModelSpec(), None)
    examples = make_examples(args.examples, args.seed)
    order, n_steps = epoch_batches(
        examples, batch_size=BATCH, n_epochs=1, rng=np.random.default_rng(args.seed)
    )
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(base)
    batches = [
        collate([encode_example(tok, ex, MAX_LEN) for ex in order(s)], tok.pad_token_id)
        for s in range(n_steps)
    ]
    computed = sum(b["input_ids"].numel() for b in batches)
    useful = sum(int(b["attention_mask"].sum()) for b in batches)
    widths = [b["input_ids"].shape[1] for b in batches]
    print(
        f"{len(examples)} examples, {n_steps} steps of {BATCH}; {useful:,} tokens "
        f"({computed:,} with padding, "
        f"widths {min(widths)}-{max(widths)})",
        flush=True,
    )

    trainers: list[tuple[str, Callable[..., Run]]] = [
        ("plain loop (train_sft)", lambda m, k=n_steps: run_ours(base, m, examples, order, k, args.seed)),
    ]
    missing: list[str] = []
    if "trainer" not in args.skip:
        trainers.append(
            (
                "transformers.Trainer",
                lambda m, k=n_steps: run_trainer(base, m, order, k, args.seed, use_trl=False),
            )
        )
    if "trl" not in args.skip:
        try:
            import trl  # noqa: F401

            trainers.append(
                (
                    "TRL SFTTrainer",
                    lambda m, k=n_steps: run_trainer(base, m, order, k, args.seed, use_trl=True),
                )
            )
        except ImportError:
            missing.append(
                "TRL SFTTrainer: not installed (trl is not a project dependency; `pip install trl` "
                "adds it), so not measured"
            )
    methods = [m for m in ("lora", "full") if m not in args.skip]
    results = {(name, m): Result(name, m) for name, _ in trainers for m in methods}
    for fn_name, fn in trainers:  # warm-up (2 steps): first-call costs (imports, kernels) stay out
        progress(f"warm-up: {fn_name}")
        fn(methods[0], min(2, n_steps))
    for repeat in range(args.repeats):
        for method in methods:
            for name, fn in trainers:
                run = fn(method)
                results[(name, method)].runs.append(run)
                progress(
                    f"{repeat + 1}/{args.repeats} {method} {name}: epoch {run.epoch_s:.2f} s, "
                    f"median step {statistics.median(run.step_s):.3f} s, loss {run.mean_loss:.4f}"
                )

    progress("measuring matmul FLOP/s")
    peak, peak_cpu = matmul_flops(1024, 1024, 1024)
    shaped, shaped_cpu = matmul_flops(BATCH * int(np.mean(widths)), 384, 128)
    sample_model, _ = load_model(base, "lora", 0)
    n_lora = sum(p.numel() for p in sample_model.parameters() if p.requires_grad)
    full_model, _ = load_model(base, "full", 0)
    n_linear = linear_params(full_model)
    config = full_model.config
    flops = {"full": 6.0 * n_linear * computed, "lora": 4.0 * n_linear * computed + 6.0 * n_lora * computed}
    attention = sum(
        12.0 * config.num_hidden_layers * config.hidden_size * w * b["input_ids"].numel()
        for w, b in zip(widths, batches, strict=True)
    )

    header = [
        "method",
        "trainer",
        "epoch s",
        "examples/s",
        "vs plain loop",
        "median step s",
        "outside steps s",
        "setup s",
        "CPU s",
        "GFLOP/s",
        "share of matmul peak",
        "GFLOP/CPU-s",
        "share (CPU)",
        "mean loss",
    ]
    table: list[list[str]] = []
    for method in methods:
        ours = results[(trainers[0][0], method)]
        for name, _ in trainers:
            r = results[(name, method)]
            epoch, cpu = r.median("epoch_s"), r.median("cpu_s")
            achieved, achieved_cpu = flops[method] / epoch, flops[method] / cpu
            table.append(
                [
                    "LoRA r=32" if method == "lora" else "full",
                    name,
                    f"{epoch:.2f}",
                    f"{len(examples) / epoch:,.0f}",
                    f"{ours.median('epoch_s') / epoch:.2f}x",
                    f"{r.median_step():.3f}",
                    f"{r.median_outside():.2f}",
                    f"{r.median('setup_s'):.2f}",
                    f"{cpu:.2f}",
                    f"{achieved / 1e9:.1f}",
                    f"{achieved / peak:.0%}",
                    f"{achieved_cpu / 1e9:.1f}",
                    f"{achieved_cpu / peak_cpu:.0%}",
                    f"{r.median('mean_loss'):.4f}",
                ]
            )
    print()
    print_table(
        f"One training epoch, embedded model ({len(examples)} examples, batch {BATCH})",
        header,
        table,
        args.markdown,
        notes=[
            f"median of {args.repeats} interleaved runs each (after a 2-step warm-up run per trainer); "
            "'vs plain loop' "
            "is the plain loop's epoch time divided by the row's (above 1x: faster than ours)",
            f"matmul peak measured here (1024x1024 fp32, {threads} thread(s)): {peak / 1e9:.1f} GFLOP/s, "
            f"{peak_cpu / 1e9:.1f} GFLOP/CPU-s; on the model's MLP shape "
            f"({BATCH * int(np.mean(widths))}x128 @ 128x384): {shaped / 1e9:.1f} GFLOP/s, "
            f"{shaped_cpu / 1e9:.1f} GFLOP/CPU-s",
            f"model GFLOP per epoch: LoRA {flops['lora'] / 1e9:.1f}, full {flops['full'] / 1e9:.1f}",
            f"N (linear weights) = {n_linear:,}; LoRA trainable = {n_lora:,}; T = {computed:,} tokens "
            f"computed ({useful:,} not padding, {useful / computed:.0%}); full = 6·N·T, "
            "LoRA = 4·N·T + 6·N_lora·T; attention "
            f"matmuls (12·L·d·W per token) would add {attention / 1e9:.1f} GFLOP "
            f"({attention / flops['full']:.0%} of full, {attention / flops['lora']:.0%} of LoRA)",
            "mean loss: our loop's mean over the epoch's steps; the trainers' training_loss (the same mean); "
            "equal losses show the three did the same computation",
            *missing,
            f"load average at the end: {load_average()} (1/5/15 min)",
        ],
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
