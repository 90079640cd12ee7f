"""Packed training batches: each example computes exactly what it computes alone."""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from iterdeploy.simulator.models.embedded import EmbeddedModelSpec, build_base, reference_example
from iterdeploy.simulator.models.training import (
    IGNORE,
    collate,
    collate_packed,
    encode_example,
    pack_rows,
    train_sft,
)

SMALL = EmbeddedModelSpec(n_layers=2, hidden_size=64, intermediate_size=128)


def _encoded(n: int, seed: int = 0) -> list[tuple[list[int], list[int]]]:
    _, tok = build_base(SMALL)
    rng = np.random.default_rng(seed)
    return [encode_example(tok, reference_example(int(rng.integers(2, 7)), rng, 0.3), 512)
            for _ in range(n)]


@settings(max_examples=200, deadline=None)
@given(lengths=st.lists(st.integers(1, 60), min_size=1, max_size=40), width=st.integers(1, 80))
def test_pack_rows_keeps_every_example_once_and_within_width(lengths: list[int], width: int) -> None:
    encoded = [([i] * n, [i] * n) for i, n in enumerate(lengths)]
    rows = pack_rows(encoded, width)
    packed = sorted(ids[0] for row in rows for ids, _ in row)
    assert packed == list(range(len(lengths)))
    for row in rows:
        total = sum(len(ids) for ids, _ in row)
        assert total <= width or len(row) == 1  # only an over-long example overflows, alone


def test_pack_rows_fills_rows_first_fit() -> None:
    encoded = [([0] * n, [0] * n) for n in (5, 3, 2, 4, 6)]
    rows = pack_rows(encoded, 10)
    assert sorted(sum(len(i) for i, _ in row) for row in rows) == [10, 10]


def test_collate_packed_restarts_positions_and_masks_no_text() -> None:
    encoded = [([1, 2, 3], [IGNORE, 2, 3]), ([4, 5], [IGNORE, 5])]
    batch = collate_packed([encoded, [([6], [IGNORE])]], pad_id=0)
    assert batch["input_ids"].tolist() == [[1, 2, 3, 4, 5], [6, 0, 0, 0, 0]]
    assert batch["position_ids"].tolist() == [[0, 1, 2, 0, 1], [0, 1, 2, 3, 4]]
    assert batch["labels"].tolist() == [[IGNORE, 2, 3, IGNORE, 5], [IGNORE] * 5]
    assert "attention_mask" not in batch  # transformers builds the block-diagonal mask itself


def test_packed_example_gets_the_logits_it_gets_alone() -> None:
    model, tok = build_base(SMALL)
    encoded = _encoded(3)
    packed = model(**collate_packed([encoded], tok.pad_token_id), use_cache=False).logits[0]
    at = 0
    for ids, labs in encoded:
        alone = model(**collate([(ids, labs)], tok.pad_token_id), use_cache=False).logits[0]
        torch.testing.assert_close(packed[at : at + len(ids)], alone, rtol=1e-4, atol=1e-4)
        at += len(ids)


def test_packed_batch_gives_the_padded_batch_loss_and_gradients() -> None:
    model, tok = build_base(SMALL)
    encoded = _encoded(24, seed=1)
    width = max(len(ids) for ids, _ in encoded)

    def loss_and_grads(batch: dict[str, torch.Tensor]) -> tuple[float, list[torch.Tensor]]:
        model.zero_grad()
        loss = model(**batch, use_cache=False).loss
        loss.backward()
        return float(loss.detach()), [p.grad.clone() for p in model.parameters()]

    padded_loss, padded_grads = loss_and_grads(collate(encoded, tok.pad_token_id))
    packed = collate_packed(pack_rows(encoded, width), tok.pad_token_id)
    assert packed["input_ids"].numel() < 0.7 * len(encoded) * width  # packing did save padding
    packed_loss, packed_grads = loss_and_grads(packed)
    assert abs(packed_loss - padded_loss) < 1e-5
    for a, b in zip(padded_grads, packed_grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_train_sft_packed_and_padded_train_the_same_model() -> None:
    _, tok = build_base(SMALL)
    rng = np.random.default_rng(2)
    examples = [reference_example(int(rng.integers(2, 6)), rng, 0.3) for _ in range(32)]

    def trained(pack: bool) -> torch.nn.Module:
        model, _ = build_base(SMALL)
        train_sft(model, tok, lambda step: examples[step * 8 : (step + 1) * 8], n_steps=4, lr=1e-3,
                  seed=0, pack=pack)
        return model

    for a, b in zip(trained(False).parameters(), trained(True).parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-5)
