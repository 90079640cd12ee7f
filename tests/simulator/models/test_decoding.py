"""The pruned decoder draws what ``generate`` draws, while dropping rows as they end."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import DynamicCache, LlamaConfig, LlamaForCausalLM

from iterdeploy.simulator.models.decoding import forward_last, sample_pruned
from iterdeploy.simulator.models.embedded import EmbeddedModelSpec
from iterdeploy.simulator.models.hf_planner import HfPlanner
from iterdeploy.simulator.models.registry import load_planner
from iterdeploy.simulator.models.task_format import CompactTaskFormat
from iterdeploy.simulator.planning.blocksworld import generate_task


@pytest.fixture
def embedded(tiny_embedded_spec: EmbeddedModelSpec) -> HfPlanner:
    planner = load_planner("embedded-tiny-v1", embedded_spec=tiny_embedded_spec, device="cpu")
    assert isinstance(planner, HfPlanner)
    planner.decoder = "pruned"  # the embedded model samples through the lean decoder by default
    return planner


def _prompts(n_tasks: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    fmt = CompactTaskFormat()
    return [fmt.prompt(generate_task(int(rng.integers(2, 6)), rng, name=f"t{k}")) for k in range(n_tasks)]


def test_greedy_pruned_decoding_writes_what_generate_writes(embedded: HfPlanner) -> None:
    prompts = _prompts(6, seed=1)
    settings = {"n": 2, "temperature": 0.0, "max_new_tokens": 60, "seed": 0}
    embedded.batch_size = 12
    pruned = embedded.sample(prompts, **settings)
    embedded.decoder = "generate"
    try:
        reference = embedded.sample(prompts, **settings)
    finally:
        embedded.decoder = "pruned"
    assert pruned == reference
    lengths = {c.n_tokens for comps in pruned for c in comps}
    ended = [c for comps in pruned for c in comps if not c.hit_token_limit]
    assert len(lengths) > 1 and ended  # rows ended at different steps: pruning was exercised


def test_sampled_completions_repeat_with_the_seed_and_vary_without_it(embedded: HfPlanner) -> None:
    prompts = _prompts(3, seed=2)
    first = embedded.sample(prompts, n=4, temperature=1.0, max_new_tokens=40, seed=7)
    assert first == embedded.sample(prompts, n=4, temperature=1.0, max_new_tokens=40, seed=7)
    other = embedded.sample(prompts, n=4, temperature=1.0, max_new_tokens=40, seed=8)
    assert first != other


def test_the_token_limit_ends_rows_and_is_reported(embedded: HfPlanner) -> None:
    prompts = _prompts(2, seed=3)
    for comps in embedded.sample(prompts, n=2, temperature=1.0, max_new_tokens=5, seed=0):
        for c in comps:
            assert c.n_tokens <= 5
            assert c.hit_token_limit == (c.n_tokens == 5)  # a plan never ends within 5 tokens
    model = embedded.model
    ids = torch.tensor([[embedded.tokenizer.bos_token_id]])
    assert sample_pruned(model, ids, torch.ones_like(ids), max_new_tokens=0, temperature=1.0,
                         eos_token_id=0) == [[]]


def _random_llama(vocab: int = 48) -> LlamaForCausalLM:
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=vocab, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=256)
    return LlamaForCausalLM(config).eval()


def _batch(rng: np.random.Generator, vocab: int, rows: int) -> tuple[torch.Tensor, torch.Tensor]:
    lengths = rng.integers(3, 9, size=rows)
    width = int(lengths.max())
    ids = torch.zeros((rows, width), dtype=torch.long)
    mask = torch.zeros_like(ids)
    for r, n in enumerate(lengths):
        ids[r, width - n:] = torch.from_numpy(rng.integers(1, vocab, size=n))
        mask[r, width - n:] = 1
    return ids, mask


@pytest.mark.parametrize("shared_prefix", [0, 5])
def test_rows_leaving_the_batch_do_not_change_the_others(shared_prefix: int) -> None:
    """With an end token the random model writes often, rows end at many different steps; every
    row's greedy continuation must still equal ``generate``'s, with and without a prefix already
    in the cache (the planner's shared few-shot prefix)."""
    vocab = 48
    model = _random_llama(vocab)
    rng = np.random.default_rng(0)
    ids, mask = _batch(rng, vocab, rows=8)
    if shared_prefix:
        prefix = torch.from_numpy(rng.integers(1, vocab, size=(1, shared_prefix)))
        ids = torch.cat([prefix.repeat(8, 1), ids], dim=1)
        mask = torch.cat([torch.ones((8, shared_prefix), dtype=torch.long), mask], dim=1)
    with torch.no_grad():
        free = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=12, do_sample=False,
                              pad_token_id=0, eos_token_id=None)[:, ids.shape[1]:]
    eos = int(torch.mode(free[:, 2:].flatten()).values)  # a token several rows write at some step

    def cache() -> DynamicCache | None:
        if not shared_prefix:
            return None
        out = forward_last(model, input_ids=ids[:1, :shared_prefix],
                           attention_mask=mask[:1, :shared_prefix])
        out.past_key_values.batch_repeat_interleave(8)
        return out.past_key_values

    pruned = sample_pruned(model, ids, mask, max_new_tokens=12, temperature=0.0, eos_token_id=eos,
                           cache=cache())
    with torch.no_grad():
        reference = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=12,
                                   do_sample=False, pad_token_id=0, eos_token_id=eos)[:, ids.shape[1]:]
    for row, tokens in zip(reference.tolist(), pruned, strict=True):
        expected = row[: row.index(eos) + 1] if eos in row else row
        assert tokens == expected
    assert len({len(t) for t in pruned}) > 2  # rows left the batch at several different steps


def test_sampling_follows_the_softmax_at_the_temperature() -> None:
    """First tokens drawn over many copies of one prompt match the model's softmax at the given
    temperature (a total-variation distance that a wrong temperature or top-k would exceed)."""
    vocab = 12
    model = _random_llama(vocab)
    with torch.no_grad():
        for p in model.lm_head.parameters():
            p.mul_(30.0)  # a peaked distribution, so temperature matters
    ids = torch.tensor([[3, 5, 7]]).repeat(4000, 1)
    mask = torch.ones_like(ids)
    with torch.no_grad():
        logits = model(input_ids=ids[:1]).logits[0, -1]
    for temperature in (0.5, 2.0):
        torch.manual_seed(0)
        rows = sample_pruned(model, ids, mask, max_new_tokens=1, temperature=temperature, eos_token_id=-1)
        counts = np.bincount([r[0] for r in rows], minlength=vocab) / len(rows)
        expected = torch.softmax(logits / temperature, dim=-1).numpy()
        assert 0.5 * np.abs(counts - expected).sum() < 0.03


def test_a_peft_wrapped_model_decodes_through_its_base(embedded: HfPlanner, tmp_path: Path) -> None:
    from iterdeploy.simulator.models.hf_planner import TrainConfig
    from iterdeploy.simulator.models.training import Example

    prompts = _prompts(2, seed=4)
    embedded.train([Example(prompts[0], "x")], TrainConfig(n_epochs=1, batch_size=1, lora_r=2), seed=0)
    try:
        pruned = embedded.sample(prompts, n=2, temperature=0.0, max_new_tokens=30, seed=0)
        embedded.decoder = "generate"
        assert pruned == embedded.sample(prompts, n=2, temperature=0.0, max_new_tokens=30, seed=0)
    finally:
        embedded.decoder = "pruned"
        embedded.reset_to_base()


class _CacheThatCannotDropRows(DynamicCache):
    def batch_select_indices(self, indices: torch.Tensor) -> None:
        raise NotImplementedError


def test_a_cache_that_cannot_drop_rows_keeps_them_and_ignores_what_they_write() -> None:
    """Caches of some architectures cannot select rows; decoding then computes ended rows to the
    end, as ``generate`` does, and must still return each row's tokens up to its end token."""
    vocab = 48
    model = _random_llama(vocab)
    rng = np.random.default_rng(1)
    ids, mask = _batch(rng, vocab, rows=6)
    prefix = torch.from_numpy(rng.integers(1, vocab, size=(1, 4)))
    ids = torch.cat([prefix.repeat(6, 1), ids], dim=1)
    mask = torch.cat([torch.ones((6, 4), dtype=torch.long), mask], dim=1)

    def cache(cls: type[DynamicCache]) -> DynamicCache:
        out = forward_last(model, input_ids=ids[:1, :4], attention_mask=mask[:1, :4])
        out.past_key_values.batch_repeat_interleave(6)
        out.past_key_values.__class__ = cls
        return out.past_key_values

    free = sample_pruned(model, ids, mask, max_new_tokens=12, temperature=0.0, eos_token_id=-1,
                         cache=cache(DynamicCache))
    eos = max({t for row in free for t in row[2:]}, key=lambda t: sum(r.count(t) for r in free))
    pruned = sample_pruned(model, ids, mask, max_new_tokens=12, temperature=0.0, eos_token_id=eos,
                           cache=cache(DynamicCache))
    kept = sample_pruned(model, ids, mask, max_new_tokens=12, temperature=0.0, eos_token_id=eos,
                         cache=cache(_CacheThatCannotDropRows))
    assert kept == pruned
    assert len({len(r) for r in kept}) > 1 and any(r[-1] == eos for r in kept)
