"""Sampling from a Llama written directly in torch over the model's own weights, with a static KV cache.

Why: the embedded base model is tiny (4 layers of width 128, a 43-token vocabulary), so a decode
step through transformers' module stack costs more in per-op overhead (dozens of small modules
per layer, mask building, the dynamic cache re-indexed whenever a row ends) than in arithmetic.
Here one step is a few dozen torch calls: a fused query/key/value matmul and a fused gate/up
matmul per layer, the RoPE angles computed once per step for all layers, keys and values written
into one preallocated cache at a shared column (every row writes its next token at the same
column; left padding and rows of different prompt lengths are handled by a mask), and rows that
end are only dropped when the cache is compacted, which happens when a quarter of the batch has
ended or the cache must grow. That keeps the batch large for the matmuls and copies the cache
rarely. Measured on the quickstart's batches it halves the CPU time per token of the pruned
transformers decoder; what is left is mostly attention reading the cache, which runs at the
memory's pace (docs/benchmarks.md, "The lean decoder, against the matmul limit").

The model computed is the one transformers computes (:func:`lean_supported` says which configs):
logits agree with ``LlamaForCausalLM`` up to float rounding, greedy decoding writes the tokens
``generate`` writes, and sampling draws from the same softmax. A LoRA adapter (peft) is merged
into the weights for sampling (``W + B A * scale``, equal to the adapter's forward up to
rounding). At each step only rows still writing are drawn from, in batch order, as
:func:`iterdeploy.simulator.models.decoding.sample_pruned` draws them, so the random stream is
the same as that decoder's for the same batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from transformers import LlamaForCausalLM, PreTrainedModel

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


def _core(model: nn.Module) -> nn.Module:
    """The transformers model under a peft wrapper, if any."""
    unwrap: Any = getattr(model, "get_base_model", None)
    return unwrap() if unwrap is not None else model


def lean_supported(model: nn.Module) -> bool:
    """Whether :func:`sample_lean` computes exactly this model: a ``LlamaForCausalLM`` in float32
    with plain RoPE, SiLU, no biases, and (if peft-wrapped) only LoRA adapters on linear layers.
    Anything else (other architectures, scaled RoPE, half precision, where rounding would
    differ from transformers' kernels) samples through the general decoder instead."""
    core = _core(model)
    config = getattr(core, "config", None)
    if config is None or not isinstance(core, LlamaForCausalLM):
        return False
    rope = getattr(config, "rope_parameters", None) or getattr(config, "rope_scaling", None) or {}
    if rope.get("rope_type", "default") != "default":
        return False
    if getattr(config, "attention_bias", False) or getattr(config, "mlp_bias", False):
        return False
    if getattr(config, "hidden_act", "silu") != "silu" or getattr(config, "pretraining_tp", 1) != 1:
        return False
    if any(p.dtype != torch.float32 for p in core.parameters()):
        return False
    peft_config = getattr(model, "peft_config", None)
    if peft_config:
        if any(type(c).__name__ != "LoraConfig" for c in peft_config.values()):
            return False
        if any(getattr(c, "use_dora", False) for c in peft_config.values()):
            return False
    return True


def _weight(module: Any) -> torch.Tensor:
    """A linear layer's effective weight ``(out, in)``: a peft LoRA layer's base weight plus its
    active adapters' deltas (what ``merge_and_unload`` would write), or the plain weight."""
    base = getattr(module, "base_layer", None)
    if base is None:
        return module.weight.detach()
    weight = base.weight.detach()
    if getattr(module, "merged", False) or getattr(module, "disable_adapters", False):
        return weight
    for name in module.active_adapters:
        if name in module.lora_A:
            weight = weight + module.get_delta_weight(name).detach()
    return weight


def extract(model: PreTrainedModel) -> LeanLlama:
    """The weights of a supported model (:func:`lean_supported`), LoRA merged in."""
    core: Any = _core(model)
    config: Any = core.config
    llama: Any = core.model
    layers = []
    for block in llama.layers:
        att, mlp = block.self_attn, block.mlp
        layers.append(LeanLayer(
            input_norm=block.input_layernorm.weight.detach(),
            qkv=torch.cat([_weight(att.q_proj), _weight(att.k_proj), _weight(att.v_proj)]).t().contiguous(),
            o=_weight(att.o_proj).t().contiguous(),
            post_norm=block.post_attention_layernorm.weight.detach(),
            gate_up=torch.cat([_weight(mlp.gate_proj), _weight(mlp.up_proj)]).t().contiguous(),
            down=_weight(mlp.down_proj).t().contiguous(),
        ))
    n_heads = int(config.num_attention_heads)
    head_dim = int(getattr(config, "head_dim", None) or config.hidden_size // n_heads)
    rope = getattr(config, "rope_parameters", None) or {}
    theta = float(rope.get("rope_theta", getattr(config, "rope_theta", 10000.0)))
    device = llama.embed_tokens.weight.device
    exponents = torch.arange(0, head_dim, 2, dtype=torch.int64).to(device).float() / head_dim
    inv_freq = 1.0 / (theta**exponents)
    return LeanLlama(
        embed=llama.embed_tokens.weight.detach(),
        layers=tuple(layers),
        norm=llama.norm.weight.detach(),
        lm_head=_weight(core.lm_head).t().contiguous(),
        n_heads=n_heads,
        n_kv_heads=int(config.num_key_value_heads),
        head_dim=head_dim,
        intermediate=int(config.intermediate_size),
        eps=float(config.rms_norm_eps),
        inv_freq=inv_freq,
    )


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
def lean_logits(
    model: PreTrainedModel, input_ids: torch.Tensor, attention_mask: torch.Tensor
) -> torch.Tensor:
    """The next-token logits of each row of a left-padded batch, computed as :func:`sample_lean`
    computes them (for checks against transformers' forward)."""
    batch = _Batch(extract(model), input_ids.shape[0], input_ids.shape[1], input_ids.device)
    return batch.prefill(input_ids, attention_mask)


@torch.no_grad()
def sample_lean(
    model: PreTrainedModel,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    *,
    max_new_tokens: int,
    temperature: float,
    eos_token_id: int,
) -> list[list[int]]:
    """New tokens for each row of a left-padded batch, each row ending at its end-of-sequence
    token (included) or after ``max_new_tokens``: the contract of
    :func:`iterdeploy.simulator.models.decoding.sample_pruned`, for a model :func:`lean_supported`
    accepts. The caller seeds ``torch``'s generator."""
    n_rows, width = input_ids.shape
    rows: list[list[int]] = [[] for _ in range(n_rows)]
    if max_new_tokens < 1:
        return rows
    device = input_ids.device
    batch = _Batch(extract(model), n_rows, _capacity(width + 1), device)
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
