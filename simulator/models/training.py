"""Supervised fine-tuning on (prompt, completion) pairs with the loss on the completion only.

One loop serves the embedded model's pretraining and every generation's fine-tuning (LoRA or
full). It is a plain PyTorch loop rather than ``transformers.Trainer``, but not for speed: measured
on the same batches, optimiser and schedule, the Trainer takes the same time per step (0.97x this
loop's throughput, TRL's SFTTrainer 0.92x, both about 0.3 s more per call; ``docs/benchmarks.md``).
It stays because (1) the embedded base model is cached under a hash of its recipe, so the code
that pretrains it must keep producing the same weights for the same recipe, and swapping the loop
would silently change what a cached hash means; (2) pretraining draws a fresh batch per step from a
generator, not from a dataset; and (3) the loop needs nothing the Trainer adds (no distributed
training, no checkpoints: a run is checkpointed per generation by the run store).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

import numpy as np
import torch
from transformers import PreTrainedModel, PreTrainedTokenizerFast

from iterdeploy.simulator.models._hf_logging import quiet_transformers

# The plain types live in protocol.py (importable without torch) and stay importable from here.
from iterdeploy.simulator.models.protocol import Example, TrainStats

quiet_transformers()

IGNORE = -100


def encode_example(tok: PreTrainedTokenizerFast, ex: Example, max_len: int) -> tuple[list[int], list[int]]:
    """Token ids and labels (prompt positions masked with -100), truncated to ``max_len``."""
    prompt_ids = [tok.bos_token_id, *tok(ex.prompt, add_special_tokens=False)["input_ids"]]
    comp_ids = [*tok(" " + ex.completion, add_special_tokens=False)["input_ids"], tok.eos_token_id]
    ids = (prompt_ids + comp_ids)[:max_len]
    labels = ([IGNORE] * len(prompt_ids) + comp_ids)[:max_len]
    return [int(i) for i in ids], [int(x) for x in labels]


Encoder = Callable[[PreTrainedTokenizerFast, Example, int], tuple[list[int], list[int]]]
"""How one example becomes (token ids, labels with the prompt masked)."""


def collate(batch: Sequence[tuple[list[int], list[int]]], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad a batch of (ids, labels)."""
    width = max(len(ids) for ids, _ in batch)
    input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for row, (ids, labs) in enumerate(batch):
        input_ids[row, : len(ids)] = torch.tensor(ids)
        labels[row, : len(labs)] = torch.tensor(labs)
        mask[row, : len(ids)] = 1
    return {"input_ids": input_ids, "labels": labels, "attention_mask": mask}


def pack_rows(
    encoded: Sequence[tuple[list[int], list[int]]], width: int
) -> list[list[tuple[list[int], list[int]]]]:
    """Group encoded examples into rows of at most ``width`` tokens (first fit, longest first).

    Why: a mixed batch padded to its longest example is mostly padding (the embedded model's
    pretraining batches of 2-7-block tasks are 37% real tokens), and padding costs as much compute
    as text. Packed rows carry several examples each; :func:`collate_packed` keeps them apart.
    An example longer than ``width`` gets a row of its own.
    """
    rows: list[list[tuple[list[int], list[int]]]] = []
    room: list[int] = []
    for pair in sorted(encoded, key=lambda p: -len(p[0])):
        size = len(pair[0])
        for i, left in enumerate(room):
            if size <= left:
                rows[i].append(pair)
                room[i] -= size
                break
        else:
            rows.append([pair])
            room.append(width - size)
    return rows


def collate_packed(
    rows: Sequence[Sequence[tuple[list[int], list[int]]]], pad_id: int
) -> dict[str, torch.Tensor]:
    """Packed rows as ``input_ids``, ``labels`` and ``position_ids`` that restart per example.

    No ``attention_mask``: given position ids that restart, transformers builds a block-diagonal
    causal mask (``masking_utils.find_packed_sequence_indices``), so no example attends to another
    and each one's logits are those it gets alone in a padded batch. The label of each example's
    first token is the masked prompt, so no example learns to predict its neighbour. Padding at a
    row's end continues the last example's positions (causal attention never lets the text see it)
    and carries no labels.
    """
    width = max(sum(len(ids) for ids, _ in row) for row in rows)
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    labels = torch.full((len(rows), width), IGNORE, dtype=torch.long)
    positions = torch.zeros((len(rows), width), dtype=torch.long)
    for r, row in enumerate(rows):
        at = 0
        for ids, labs in row:
            input_ids[r, at : at + len(ids)] = torch.tensor(ids)
            labels[r, at : at + len(labs)] = torch.tensor(labs)
            positions[r, at : at + len(ids)] = torch.arange(len(ids))
            at += len(ids)
        last = len(row[-1][0])
        positions[r, at:] = torch.arange(last, last + width - at)
    return {"input_ids": input_ids, "labels": labels, "position_ids": positions}


def collate_step(
    encoded: Sequence[tuple[list[int], list[int]]], pad_id: int, *, pack: bool
) -> dict[str, torch.Tensor]:
    """One training step's tensors: packed into rows as wide as its longest example
    (:func:`pack_rows`, :func:`collate_packed`), or every example padded to that width
    (:func:`collate`)."""
    if not pack:
        return collate(encoded, pad_id)
    width = max(len(ids) for ids, _ in encoded)
    return collate_packed(pack_rows(encoded, width), pad_id)


def train_sft(
    model: PreTrainedModel,
    tok: PreTrainedTokenizerFast,
    batches: Callable[[int], Sequence[Example]],
    *,
    n_steps: int,
    lr: float,
    seed: int,
    max_len: int = 512,
    warmup_steps: int = 0,
    on_step: Callable[[int, float], None] | None = None,
    encode: Encoder | None = None,
    pack: bool = False,
) -> TrainStats:
    """Train ``model`` (its trainable parameters) for ``n_steps`` AdamW steps.

    Args:
        model: a causal LM; only parameters with ``requires_grad`` are updated (LoRA or full).
        tok: its tokenizer.
        batches: step index → the examples of that step (the caller decides sampling/epochs).
        n_steps: optimiser steps.
        lr: peak learning rate; linear warm-up then cosine decay to 10%.
        seed: seeds torch for dropout and anything else stochastic.
        max_len: truncation length in tokens.
        warmup_steps: steps of linear warm-up.
        on_step: called with (step, loss) after every step (progress bars).
        encode: (tokenizer, example, max_len) → (ids, labels); defaults to :func:`encode_example`,
            the embedded model's layout. Chat-templated prompts of real LLMs need another layout
            (no extra BOS, no space before the completion), hence the hook.
        pack: pack each step's examples into rows as wide as its longest example instead of
            padding every example to it: the same loss and gradients up to floating-point order
            (tests/simulator/models/test_training_pack.py), without the compute spent on padding
            (:func:`pack_rows`; 2.2-2.5x faster a pretraining step, docs/benchmarks.md). ``False``
            pads, as the weights of older cached base models were trained.
    """
    encode = encode_example if encode is None else encode
    torch.manual_seed(seed)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)

    def schedule(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(1, n_steps - warmup_steps)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, schedule)
    device = params[0].device if params else torch.device("cpu")  # batches follow the weights
    model.train()
    start = time.perf_counter()
    recent: list[float] = []
    n_seen = 0
    for step in range(n_steps):
        examples = batches(step)
        n_seen += len(examples)
        batch = collate_step([encode(tok, ex, max_len) for ex in examples], tok.pad_token_id, pack=pack)
        # no KV cache: training never reuses it, and with one transformers skips the packed mask
        loss = model(**{k: v.to(device) for k, v in batch.items()}, use_cache=False).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        value = float(loss.detach())
        recent = [*recent, value][-20:]
        if on_step is not None:
            on_step(step, value)
    model.eval()
    return TrainStats(
        n_examples=n_seen,
        n_steps=n_steps,
        final_loss=float(np.mean(recent)) if recent else None,
        train_time_s=time.perf_counter() - start,
    )


def epoch_batches(
    examples: Sequence[Example], *, batch_size: int, n_epochs: int, rng: np.random.Generator
) -> tuple[Callable[[int], Sequence[Example]], int]:
    """Shuffled mini-batches over ``n_epochs`` passes; returns (step → batch, number of steps)."""
    order: list[int] = []
    for _ in range(n_epochs):
        order.extend(rng.permutation(len(examples)).tolist())
    n_steps = math.ceil(len(order) / batch_size) if order else 0

    def batch(step: int) -> Sequence[Example]:
        return [examples[i] for i in order[step * batch_size : (step + 1) * batch_size]]

    return batch, n_steps
