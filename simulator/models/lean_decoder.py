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
The arithmetic itself lives in :mod:`iterdeploy.simulator.models.lean_kernel` (torch alone, so that
sampling worker processes start fast); this module says which models it computes and takes their
weights out of transformers and peft.

The model computed is the one transformers computes (:func:`lean_supported` says which configs):
logits agree with ``LlamaForCausalLM`` up to float rounding, greedy decoding writes the tokens
``generate`` writes, and sampling draws from the same softmax. A LoRA adapter (peft) is merged
into the weights for sampling (``W + B A * scale``, equal to the adapter's forward up to
rounding). At each step only rows still writing are drawn from, in batch order, as
:func:`iterdeploy.simulator.models.decoding.sample_pruned` draws them, so the random stream is
the same as that decoder's for the same batch.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from transformers import LlamaForCausalLM, PreTrainedModel

from iterdeploy.simulator.models.lean_kernel import (
    COMPACT_WHEN_DEAD,
    GROW_COLUMNS,
    LeanLayer,
    LeanLlama,
    _Batch,
    decode,
)

__all__ = [
    "COMPACT_WHEN_DEAD", "GROW_COLUMNS", "LeanLayer", "LeanLlama", "decode", "extract", "lean_logits",
    "lean_supported", "sample_lean",
]

def _core(model: nn.Module) -> nn.Module:
    """The transformers model under a peft wrapper, if any."""
    unwrap: Any = getattr(model, "get_base_model", None)
    return unwrap() if unwrap is not None else model


def lean_supported(model: nn.Module) -> bool:
    """Whether :func:`sample_lean` computes exactly this model: a ``LlamaForCausalLM`` in float32
    with plain or linearly scaled RoPE, SiLU, no biases, and (if peft-wrapped) only LoRA adapters
    on linear layers. Anything else (other architectures, other RoPE scalings, half precision,
    where rounding would differ from transformers' kernels) samples through the general decoder
    instead."""
    core = _core(model)
    config = getattr(core, "config", None)
    if config is None or not isinstance(core, LlamaForCausalLM):
        return False
    rope = getattr(config, "rope_parameters", None) or getattr(config, "rope_scaling", None) or {}
    if rope.get("rope_type", "default") not in ("default", "linear"):
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
    if rope.get("rope_type", "default") == "linear":  # transformers scales the frequencies so
        inv_freq /= float(rope["factor"])  # (the embedded model's position_encoding: none)
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
    return decode(
        extract(model), input_ids, attention_mask, max_new_tokens=max_new_tokens,
        temperature=temperature, eos_token_id=eos_token_id,
    )
