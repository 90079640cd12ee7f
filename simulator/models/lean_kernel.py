"""The lean decoder's arithmetic: a Llama's weights as plain tensors, a static KV cache, and the
decoding loop, in torch alone.

Why a module of its own: it is what a sampling worker process runs
(:mod:`iterdeploy.simulator.models.sampling_pool`), and a worker that imports only torch and this
module starts in about a second, where one that imports transformers takes several. Which models
it computes exactly, and how their weights are taken out of transformers and peft, is
:mod:`iterdeploy.simulator.models.lean_decoder`'s business.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

GROW_COLUMNS = 128
"""The KV cache grows by this many columns at a time, so its memory follows the longest row still
writing instead of the token limit (most rows end long before it)."""

COMPACT_WHEN_DEAD = 0.25
"""Rows that ended stay in the batch (computed, not read) until this share of it has ended;
then the cache is compacted. Compacting every time a row ends copies the cache almost every step;
never compacting computes ended rows to the end."""


@dataclass(frozen=True)
class LeanLayer:
    """One decoder block's weights, laid out for ``x @ w`` (input features first)."""

    input_norm: torch.Tensor
    qkv: torch.Tensor
    o: torch.Tensor
    post_norm: torch.Tensor
    gate_up: torch.Tensor
    down: torch.Tensor


@dataclass(frozen=True)
class LeanLlama:
    """A Llama's weights and shape, extracted once per sampling call."""

    embed: torch.Tensor
    layers: tuple[LeanLayer, ...]
    norm: torch.Tensor
    lm_head: torch.Tensor
    n_heads: int
    n_kv_heads: int
    head_dim: int
    intermediate: int
    eps: float
    inv_freq: torch.Tensor

    @property
    def hidden(self) -> int:
        return int(self.embed.shape[1])

    @property
    def vocab(self) -> int:
        return int(self.lm_head.shape[1])


def _rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    """transformers' ``LlamaRMSNorm`` (computed in float32, then scaled)."""
    return weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


def _rope_tables(m: LeanLlama, positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin of every position, ``(*positions.shape, head_dim)``, as transformers builds them."""
    freqs = positions.float()[..., None] * m.inv_freq
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos(), emb.sin()


def _rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    rotated = torch.cat((-x[..., half:], x[..., :half]), dim=-1)
    return x * cos + rotated * sin


class _Batch:
    """The decoding state: the KV cache ``(layers, 2, rows, kv_heads, capacity, head_dim)``, the
    additive key mask ``(rows, capacity)`` (0 where a real token sits, -inf at padding), and how
    many columns are filled (the same for every row: all rows write their next token there)."""

    def __init__(self, m: LeanLlama, rows: int, capacity: int, device: torch.device) -> None:
        self.m = m
        self.kv = torch.empty(
            (len(m.layers), 2, rows, m.n_kv_heads, capacity, m.head_dim), dtype=m.embed.dtype, device=device
        )
        self.bias = torch.zeros((rows, capacity), dtype=m.embed.dtype, device=device)
        self.filled = 0

    @property
    def capacity(self) -> int:
        return int(self.kv.shape[4])

    def keep(self, index: torch.Tensor, capacity: int) -> None:
        """Keep only the rows ``index`` (in that order), with room for ``capacity`` columns."""
        n = int(index.shape[0])
        if capacity == self.capacity:
            self.kv[:, :, :n, :, : self.filled] = self.kv[:, :, index, :, : self.filled]
            self.bias[:n, : self.filled] = self.bias[index, : self.filled]
            self.kv, self.bias = self.kv[:, :, :n], self.bias[:n]
            return
        kv = self.kv.new_empty((*self.kv.shape[:2], n, self.kv.shape[3], capacity, self.kv.shape[5]))
        kv[:, :, :, :, : self.filled] = self.kv[:, :, index, :, : self.filled]
        bias = self.bias.new_zeros((n, capacity))
        bias[:, : self.filled] = self.bias[index, : self.filled]
        self.kv, self.bias = kv, bias

    def forward(self, tokens: torch.Tensor, positions: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Last-position logits after feeding ``tokens`` ``(rows, width)`` at ``positions`` into
        the next ``width`` columns; ``mask`` is additive, broadcastable to ``(rows, 1, width,
        filled + width)``."""
        m = self.m
        rows, width = tokens.shape
        start, end = self.filled, self.filled + width
        cos, sin = _rope_tables(m, positions)
        cos, sin = cos[:, None], sin[:, None]  # (rows, 1, width, head_dim)
        q_size, kv_size = m.n_heads * m.head_dim, m.n_kv_heads * m.head_dim
        x = F.embedding(tokens, m.embed)
        for li, layer in enumerate(m.layers):
            h = _rms_norm(x, layer.input_norm, m.eps)
            q, k, v = (h @ layer.qkv).split((q_size, kv_size, kv_size), dim=-1)
            q = _rotate(q.view(rows, width, m.n_heads, m.head_dim).transpose(1, 2), cos, sin)
            k = _rotate(k.view(rows, width, m.n_kv_heads, m.head_dim).transpose(1, 2), cos, sin)
            self.kv[li, 0, :, :, start:end] = k
            self.kv[li, 1, :, :, start:end] = v.view(rows, width, m.n_kv_heads, m.head_dim).transpose(1, 2)
            att = F.scaled_dot_product_attention(
                q, self.kv[li, 0, :, :, :end], self.kv[li, 1, :, :, :end], attn_mask=mask,
                enable_gqa=m.n_heads != m.n_kv_heads,
            )
            x = x + att.transpose(1, 2).reshape(rows, width, q_size) @ layer.o
            h = _rms_norm(x, layer.post_norm, m.eps)
            gate, up = (h @ layer.gate_up).split((m.intermediate, m.intermediate), dim=-1)
            x = x + (F.silu(gate) * up) @ layer.down
        self.filled = end
        return _rms_norm(x[:, -1], m.norm, m.eps) @ m.lm_head

    def step(self, tokens: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """Logits after one more token per row (``tokens`` and ``positions``: ``(rows,)``)."""
        if self.filled == self.capacity:
            self.keep(torch.arange(self.bias.shape[0], device=self.bias.device), self.capacity + GROW_COLUMNS)
        mask = self.bias[:, None, None, : self.filled + 1]
        return self.forward(tokens[:, None], positions[:, None], mask)

    def prefill(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Logits after the left-padded prompts. A query attends to earlier real tokens and to
        itself: a padding position has no earlier real token, and a query with every key masked
        would give NaN, which would then reach real rows through the cache."""
        width = input_ids.shape[1]
        device = input_ids.device
        self.bias[:, :width] = 0
        self.bias[:, :width].masked_fill_(attention_mask == 0, float("-inf"))
        upper = torch.ones((width, width), dtype=torch.bool, device=device).triu(1)
        mask = self.bias[:, None, :width].expand(-1, width, -1).masked_fill(upper, float("-inf"))
        mask.diagonal(dim1=1, dim2=2).zero_()
        positions = (attention_mask.cumsum(-1) - 1).clamp(min=0)
        return self.forward(input_ids, positions, mask[:, None])


def _capacity(needed: int) -> int:
    return -(-needed // GROW_COLUMNS) * GROW_COLUMNS


@torch.no_grad()
def decode(
    m: LeanLlama,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    *,
    max_new_tokens: int,
    temperature: float,
    eos_token_id: int,
) -> list[list[int]]:
    """New tokens for each row of a left-padded batch, each row ending at its end-of-sequence
    token (included) or after ``max_new_tokens``: the contract of
    :func:`iterdeploy.simulator.models.decoding.sample_pruned`, over weights
    :func:`iterdeploy.simulator.models.lean_decoder.extract` took from a model. The caller seeds
    ``torch``'s generator."""
    n_rows, width = input_ids.shape
    rows: list[list[int]] = [[] for _ in range(n_rows)]
    if max_new_tokens < 1:
        return rows
    device = input_ids.device
    batch = _Batch(m, n_rows, _capacity(width + 1), device)
    logits = batch.prefill(input_ids, attention_mask)
    next_position = (attention_mask.cumsum(-1) - 1).clamp(min=0)[:, -1] + 1
    slots = list(range(n_rows))  # batch slot -> original row
    live = list(slots)  # the slots still writing, in order
    live_index = torch.arange(n_rows, device=device)
    for step in range(max_new_tokens):
        picked = logits if len(live) == len(slots) else logits[live_index]
        if temperature > 0:
            probs = torch.softmax(picked.float() / temperature, dim=-1)
            drawn = torch.multinomial(probs, 1).squeeze(1)
        else:
            drawn = picked.argmax(dim=-1)
        kept: list[int] = []  # positions in ``live`` of the rows that go on
        for i, token in enumerate(drawn.tolist()):
            rows[slots[live[i]]].append(token)
            if token != eos_token_id:
                kept.append(i)
        if not kept or step == max_new_tokens - 1:
            break
        if len(kept) < len(live):
            drawn = drawn[torch.tensor(kept, device=device)]
            live = [live[i] for i in kept]
            live_index = torch.tensor(live, device=device)
        if len(live) == len(slots):
            tokens = drawn
        else:  # ended rows are fed a token too (any will do: nothing reads what they compute)
            tokens = torch.full((len(slots),), eos_token_id, dtype=torch.long, device=device)
            tokens[live_index] = drawn
            full = batch.filled == batch.capacity
            if full or len(slots) - len(live) >= COMPACT_WHEN_DEAD * len(slots):
                batch.keep(live_index, batch.capacity + GROW_COLUMNS if full else batch.capacity)
                tokens, next_position = drawn, next_position[live_index]
                slots = [slots[s] for s in live]
                live = list(range(len(slots)))
                live_index = torch.arange(len(slots), device=device)
        logits = batch.step(tokens, next_position)
        next_position = next_position + 1
    return rows


def pad_left(encoded: list[list[int]], pad_token_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch of token lists as left-padded ``input_ids`` and ``attention_mask`` (rows end at
    the same column, so every row writes its next token at the same cache column)."""
    width = max(len(e) for e in encoded)
    ids = torch.full((len(encoded), width), pad_token_id, dtype=torch.long)
    mask = torch.zeros((len(encoded), width), dtype=torch.long)
    for row, e in enumerate(encoded):
        ids[row, width - len(e):] = torch.tensor(e)
        mask[row, width - len(e):] = 1
    return ids, mask
