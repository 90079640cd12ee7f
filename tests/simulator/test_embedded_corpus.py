"""The embedded model's pretraining corpus and cache key."""

from __future__ import annotations

import numpy as np

from simulator.models.embedded import EmbeddedModelSpec, reference_example


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
