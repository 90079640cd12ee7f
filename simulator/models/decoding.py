"""Batched sampling with a KV cache that drops each row from the batch as soon as it ends.

Why not ``model.generate``: a ``generate`` batch runs until its *longest* row ends, and every
finished row keeps being computed (padded) until then. Completions of one batch differ a lot in
length (a valid 3-block plan ends after about 50 tokens, a rambling invalid one runs to the token
limit), so in the quickstart about half of the row-steps ``generate`` computes are padding. Here
a row that writes the end-of-sequence token leaves the batch, its KV cache entries with it
(``Cache.batch_select_indices``), and each step computes only rows still writing. On the embedded
model this samples the same completions 2-3x faster (``benchmarks/sampling_throughput.py``).

What is drawn is what ``generate`` draws with ``do_sample=True, top_k=0, top_p=1.0`` (plain
temperature sampling) or, at temperature 0, greedy decoding; the random stream differs, so a
sampled run is reproducible against itself, not against ``generate``. Greedy decoding gives the
same tokens as ``generate`` (a test checks it).
"""

from __future__ import annotations

import inspect
from typing import Any

import torch
from transformers import PreTrainedModel

from iterdeploy.simulator.models._hf_logging import quiet_transformers

quiet_transformers()


def _cache_argument(model: PreTrainedModel) -> str:
    """The name ``forward`` takes the KV cache under: ``cache`` from transformers 5.2x on,
    ``past_key_values`` before (the old name still works there, with a deprecation warning)."""
    core = model.get_base_model() if hasattr(model, "get_base_model") else model
    params = inspect.signature(core.forward).parameters
    return "cache" if "cache" in params else "past_key_values"


def forward_last(model: PreTrainedModel, **kwargs: Any) -> Any:
    """One forward pass keeping only the last position's logits where the model allows (a
    prompt's full logits are a vocabulary-sized row per token, all unused)."""
    try:
        return model(**kwargs, use_cache=True, logits_to_keep=1)
    except TypeError:
        return model(**kwargs, use_cache=True)


@torch.no_grad()
def sample_pruned(
    model: PreTrainedModel,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    *,
    max_new_tokens: int,
    temperature: float,
    eos_token_id: int,
    cache: Any = None,
) -> list[list[int]]:
    """New tokens for each row of a left-padded batch, each row ending at its end-of-sequence
    token (included) or after ``max_new_tokens``.

    Args:
        model: a causal LM (plain or peft-wrapped), in eval mode.
        input_ids: ``(rows, width)`` prompts; padding anywhere the mask is 0.
        attention_mask: 1 where ``input_ids`` holds a real token.
        max_new_tokens: the most tokens a row writes.
        temperature: softmax temperature; 0 decodes greedily.
        eos_token_id: the token that ends a row.
        cache: a KV cache already holding the first ``cache.get_seq_length()`` positions of every
            row (a shared prompt prefix computed once); ``None`` starts empty.

    The caller seeds ``torch``'s generator; the draws depend on it and on the batch. A cache type
    that cannot drop rows (no ``batch_select_indices``) keeps ended rows in the batch, as
    ``generate`` does, and ignores what they write.
    """
    if max_new_tokens < 1:
        return [[] for _ in range(input_ids.shape[0])]
    device = input_ids.device
    cache_arg = _cache_argument(model)
    positions = (attention_mask.cumsum(-1) - 1).clamp(min=0)
    cached = 0 if cache is None else int(cache.get_seq_length())
    kwargs: dict[str, Any] = {
        "input_ids": input_ids[:, cached:], "attention_mask": attention_mask,
        "position_ids": positions[:, cached:],
    }
    if cache is not None:
        kwargs[cache_arg] = cache
    out = forward_last(model, **kwargs)
    cache = out.past_key_values
    rows: list[list[int]] = [[] for _ in range(input_ids.shape[0])]
    alive = list(range(input_ids.shape[0]))  # batch slot -> original row
    ended: set[int] = set()  # rows that wrote the end token (still in the batch only if unprunable)
    prunable = True
    mask = attention_mask
    next_position = positions[:, -1] + 1
    logits = out.logits[:, -1, :]
    for step in range(max_new_tokens):
        if temperature > 0:
            probs = torch.softmax(logits.float() / temperature, dim=-1)
            tokens = torch.multinomial(probs, 1).squeeze(1)
        else:
            tokens = logits.argmax(dim=-1)
        keep: list[int] = []
        for slot, token in enumerate(tokens.tolist()):
            row = alive[slot]
            if row in ended:
                continue
            rows[row].append(token)
            if token == eos_token_id:
                ended.add(row)
            else:
                keep.append(slot)
        if not keep or step == max_new_tokens - 1:
            break
        if prunable and len(keep) < len(alive):
            index = torch.tensor(keep, device=device)
            try:
                cache.batch_select_indices(index)
            except (AttributeError, NotImplementedError):
                prunable = False  # this cache cannot drop rows: they stay, their tokens unread
            else:
                alive = [alive[slot] for slot in keep]
                mask, tokens, next_position = mask[index], tokens[index], next_position[index]
        mask = torch.cat([mask, mask.new_ones((len(alive), 1))], dim=1)
        out = model(
            input_ids=tokens[:, None], attention_mask=mask, position_ids=next_position[:, None],
            use_cache=True, **{cache_arg: cache},
        )
        next_position = next_position + 1
        logits = out.logits[:, -1, :]
    return rows
