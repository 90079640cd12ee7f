"""The embedded model's pretraining corpus and cache key."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.models.embedded import (
    EmbeddedModelSpec,
    length_bucketed_batches,
    pretrain_size_distribution,
    reference_example,
)
from simulator.models.training import Example


def test_the_default_recipe_keeps_the_cache_key_of_earlier_releases() -> None:
    # caches written before pretrain_direct_share existed must stay valid for the same recipe
    assert EmbeddedModelSpec().content_hash() == "f306cbfbcb9026ed"
    assert EmbeddedModelSpec(pretrain_direct_share=0.5).content_hash() != "f306cbfbcb9026ed"


def test_direct_share_mixes_plans_of_different_lengths() -> None:
    def lengths(share: float) -> list[int]:
        rng = np.random.default_rng(3)
        return [reference_example(7, rng, share).completion.count(";") for _ in range(60)]

    canonical, direct = lengths(0.0), lengths(1.0)
    assert sum(direct) < sum(canonical)
    rng_a, rng_b = np.random.default_rng(5), np.random.default_rng(5)
    # share 0 draws nothing extra: the corpus is the one older releases trained on
    assert [reference_example(5, rng_a).prompt for _ in range(5)] == [
        reference_example(5, rng_b, 0.0).prompt for _ in range(5)
    ]


def test_tail_sizes_set_how_far_the_corpus_reaches() -> None:
    sizes, probs = pretrain_size_distribution(EmbeddedModelSpec(pretrain_tail_sizes=6))
    assert sizes.tolist() == [2, 3, 4, 5, 6, 7, 8, 9, 10]
    assert abs(probs.sum() - 1) < 1e-12 and abs(probs[3:].sum() - 0.15) < 1e-12
    assert all(probs[k + 1] < probs[k] for k in range(3, 8))  # each tail size rarer than the last
    assert pretrain_size_distribution(EmbeddedModelSpec())[0].tolist() == [2, 3, 4, 5, 6, 7]
    assert EmbeddedModelSpec(pretrain_tail_sizes=6).content_hash() != EmbeddedModelSpec().content_hash()


@settings(max_examples=25, deadline=None)
@given(n_buckets=st.integers(1, 6), batch_size=st.integers(1, 5), seed=st.integers(0, 2**16))
def test_length_buckets_reorder_the_draws_without_losing_any(n_buckets: int, batch_size: int,
                                                             seed: int) -> None:
    counter = iter(range(10**6))

    def draw() -> Example:
        k = next(counter)
        return Example(f"p{k}", " ".join("x" * ((k * 7919) % 13)))

    batch = length_bucketed_batches(draw, batch_size, n_buckets, np.random.default_rng(seed))
    batches = [batch(step) for step in range(2 * n_buckets)]
    assert all(len(b) == batch_size for b in batches)
    for group in (batches[:n_buckets], batches[n_buckets:]):
        seen = [ex.prompt for b in group for ex in b]
        assert len(set(seen)) == len(seen) == n_buckets * batch_size  # each draw used once
        spans = sorted((min(map(_length, b)), max(map(_length, b))) for b in group)
        # slices of one sorted group: no two batches interleave in length
        assert all(spans[k][1] <= spans[k + 1][0] for k in range(len(spans) - 1))
        # each slice counts by its share of the completion tokens, so every token weighs the same
        weights = [getattr(b, "loss_weight", 1.0) for b in group]
        tokens = [sum(len(ex.completion.split()) + 1 for ex in b) for b in group]
        assert sum(weights) == pytest.approx(n_buckets)
        for weight, n_tokens in zip(weights, tokens, strict=True):
            assert weight * sum(tokens) == pytest.approx(n_tokens * n_buckets)
    if n_buckets == 1:  # one bucket: batch k is exactly draws k*B .. k*B+B-1, as before buckets
        assert [ex.prompt for ex in batches[1]] == [f"p{k}" for k in range(batch_size, 2 * batch_size)]


def _length(ex: Example) -> int:
    return len(ex.prompt) + len(ex.completion)
