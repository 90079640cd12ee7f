"""A planner backed by a Hugging Face causal LM, fine-tuned per generation with peft LoRA.

Sampling is batched with a KV cache, prompts left-padded, each row leaving the batch when it ends:
through :mod:`iterdeploy.simulator.models.lean_decoder` (the Llama written directly in torch, a static
KV cache) where it computes the model exactly, else :mod:`iterdeploy.simulator.models.decoding`.
Fine-tuning follows the paper by default: every generation trains a *fresh* LoRA adapter on the
fixed base model over the accumulated curated data; ``mode="chained"`` continues from the previous
generation's adapter instead, and ``method="full"`` fine-tunes all weights. Adapters are saved as
safetensors; nothing is ever loaded with pickle.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from peft import LoraConfig, PeftModel, get_peft_model
from transformers import AutoModelForCausalLM, PreTrainedModel, PreTrainedTokenizerFast

from iterdeploy.simulator.errors import ModelError
from iterdeploy.simulator.models._hf_logging import quiet_transformers
from iterdeploy.simulator.models.decoding import sample_pruned
from iterdeploy.simulator.models.device import DTypeName, resolve_device, resolve_dtype
from iterdeploy.simulator.models.lean_decoder import extract, lean_supported, sample_lean
from iterdeploy.simulator.models.lean_kernel import pad_left

# The plain types live in protocol.py (importable without torch) and stay importable from here.
from iterdeploy.simulator.models.protocol import (
    BatchStream,
    Completion,
    Example,
    PromptFormat,
    SampledByStreaming,
    TrainConfig,
    TrainStats,
)
from iterdeploy.simulator.models.sampling_pool import configured_workers, decode_batches
from iterdeploy.simulator.models.training import encode_example, epoch_batches, train_sft

quiet_transformers()

Decoder = Literal["auto", "lean", "pruned", "generate"]
"""How a batch is sampled: ``lean`` is :func:`~iterdeploy.simulator.models.lean_decoder.sample_lean`
(the model's Llama written directly in torch with a static KV cache; on the embedded model about
half the CPU time per token of ``pruned``); ``pruned`` runs the transformers model and drops each
row as soon as it ends (:func:`~iterdeploy.simulator.models.decoding.sample_pruned`); ``auto``
(the default) is ``lean`` where :func:`~iterdeploy.simulator.models.lean_decoder.lean_supported`
accepts the model and no shared-prefix cache is passed, else ``pruned``; ``generate`` is
transformers' ``model.generate``, which computes every row until the batch's longest ends. The
three draw from the same distribution; ``lean`` and ``pruned`` draw the same random stream too.
All but ``auto`` are kept to compare."""

POOL_MAX_PARAMETERS = 50_000_000
"""Models up to this size sample through worker processes on the CPU. The pool is for models too
small for torch's own threads to use a second core (the embedded base has 0.86 M parameters); a
larger model's matmuls use the threads well, and its weights would be written out for the workers
on every call (hundreds of MB for a 135 M-parameter model)."""

LLAMA_LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
"""The linear layers LoRA adapts in Llama-style models (attention and MLP)."""


class HfPlanner(SampledByStreaming):
    """Loads a base model directory and samples from / fine-tunes it.

    Follows :class:`~iterdeploy.simulator.models.protocol.PlannerModel` and, since it samples in
    batches, :class:`~iterdeploy.simulator.models.protocol.StreamsBatches`.
    """

    batch_size: int = 64
    """Rows (prompt copies) decoded together by :meth:`sample`. Each batch is seeded with the
    call's seed plus its first row's index, so this size is part of the random stream: a run
    samples the same completions only under the same batch size, and 64 is what every run has
    used. Set it on an instance (or, in a test, on the class) to trade memory for speed."""

    def __init__(
        self,
        base_dir: str | Path,
        *,
        name: str | None = None,
        prompt_format: PromptFormat = "compact",
        device: str = "auto",
        dtype: DTypeName = "auto",
    ) -> None:
        self.base_dir = Path(base_dir)
        self.device = resolve_device(device)
        """Where the weights and every batch live
        (:func:`~iterdeploy.simulator.models.device.resolve_device`)."""
        self.dtype = resolve_dtype(dtype, self.device)
        """The weights' precision."""
        self.name = name if name is not None else self.base_dir.name
        """What the registry (or the caller) calls this model; recorded as the base's name."""
        self.prompt_format: PromptFormat = prompt_format
        """The prompt format the model reads: the embedded model's ``compact`` towers, or
        ``pddl`` for real LLMs (see :mod:`iterdeploy.simulator.models.pddl_format`)."""
        self._model: PreTrainedModel | None = None
        self._tok: PreTrainedTokenizerFast | None = None
        self.sort_prompts_by_length = True
        """Batch the shortest prompts together (see :meth:`sample`); off only for comparisons."""
        self.decoder: Decoder = "auto"
        """How batches are decoded (:data:`Decoder`); anything but ``auto`` only for comparisons."""

    def _load_base(self) -> PreTrainedModel:
        if not (self.base_dir / "config.json").is_file():
            raise ModelError(
                f"{self.base_dir}: no model here (config.json missing); pass a directory written "
                "by save_pretrained"
            )
        model = AutoModelForCausalLM.from_pretrained(self.base_dir, dtype=self.dtype)
        model.to(self.device)
        model.eval()
        return model

    @property
    def tokenizer(self) -> PreTrainedTokenizerFast:
        """The tokenizer (loaded on first use)."""
        if self._tok is None:
            from transformers import AutoTokenizer

            tok = AutoTokenizer.from_pretrained(self.base_dir)
            if tok.pad_token_id is None:
                raise ModelError(
                    f"{self.base_dir}: tokenizer has no pad token; set one (e.g. pad = eos) "
                    "and save it again"
                )
            self._tok = tok
        return self._tok

    @property
    def model(self) -> PreTrainedModel:
        """The current model (base, or base + adapter); loaded on first use."""
        if self._model is None:
            self._model = self._load_base()
        return self._model

    def reset_to_base(self) -> None:
        """Forget any fine-tuning: the next use loads the base weights again."""
        self._model = None

    def load_adapter(self, adapter_dir: str | Path) -> None:
        """Deploy base + the LoRA adapter (or full weights) saved in ``adapter_dir``."""
        path = Path(adapter_dir)
        if (path / "adapter_config.json").is_file():
            self._model = PeftModel.from_pretrained(self._load_base(), path)
        elif (path / "config.json").is_file():
            self._model = AutoModelForCausalLM.from_pretrained(path, dtype=self.dtype).to(self.device)
        else:
            raise ModelError(f"{path}: neither a LoRA adapter nor a model directory")
        self._model.eval()

    def save(self, out_dir: str | Path) -> None:
        """Save the adapter (LoRA) or the full weights as safetensors."""
        self.model.save_pretrained(out_dir, safe_serialization=True)

    def train(
        self,
        examples: Sequence[Example],
        config: TrainConfig,
        *,
        seed: int,
        on_step: Callable[[int, float], None] | None = None,
    ) -> TrainStats:
        """Fine-tune on ``examples`` (fresh from the base, or chained from the current model)."""
        if config.mode == "fresh":
            self.reset_to_base()
        model = self.model
        if config.method == "lora":
            if isinstance(model, PeftModel):
                for name, param in model.named_parameters():
                    param.requires_grad = "lora_" in name
            else:
                lora = LoraConfig(
                    r=config.lora_r,
                    lora_alpha=config.lora_alpha,
                    lora_dropout=0.0,
                    target_modules=self.lora_target_modules(model),
                    task_type="CAUSAL_LM",
                )
                torch.manual_seed(seed)
                model = get_peft_model(model, lora)
        else:
            if isinstance(model, PeftModel):
                model = model.merge_and_unload()
            for param in model.parameters():
                param.requires_grad = True
        self._model = model
        if not examples:
            return TrainStats(0, 0, None, 0.0)
        rng = np.random.default_rng(seed)
        batches, n_steps = epoch_batches(
            examples, batch_size=config.batch_size, n_epochs=config.n_epochs, rng=rng
        )
        return train_sft(
            model, self.tokenizer, batches, n_steps=n_steps, lr=config.lr, seed=seed,
            max_len=config.max_len, warmup_steps=min(10, n_steps // 10), on_step=on_step,
            encode=self.encode_example, pack=config.pack,
        )

    # -- hooks a subclass for another kind of model overrides ----------------------------------
    def lora_target_modules(self, model: torch.nn.Module) -> list[str] | str:
        """Module names LoRA adapts; the embedded model is a Llama, so its projections."""
        return list(LLAMA_LORA_TARGETS)

    def _encode_prompt(self, prompt: str) -> list[int]:
        """Prompt token ids as sampling feeds them: BOS, then the prompt (the embedded layout,
        which :func:`iterdeploy.simulator.models.training.encode_example` mirrors for training)."""
        tok = self.tokenizer
        return [tok.bos_token_id, *tok(prompt, add_special_tokens=False)["input_ids"]]

    def encode_example(
        self, tok: PreTrainedTokenizerFast, ex: Example, max_len: int
    ) -> tuple[list[int], list[int]]:
        """A training pair as (ids, labels); must agree with :meth:`_encode_prompt`."""
        return encode_example(tok, ex, max_len)

    def _lean(self, model: PreTrainedModel, cache: Any = None) -> bool:
        """Whether batches go through the lean decoder (:data:`Decoder`)."""
        return self.decoder == "lean" or (self.decoder == "auto" and cache is None and lean_supported(model))

    def _decode(
        self, model: PreTrainedModel, ids: torch.Tensor, mask: torch.Tensor, *, max_new_tokens: int,
        temperature: float, cache: Any = None,
    ) -> list[list[int]]:
        """New tokens per row of a padded batch (``cache``: its prefix, already computed), with
        :attr:`decoder`; rows end at the end-of-sequence token or the limit."""
        tok = self.tokenizer
        if self._lean(model, cache):
            if cache is not None or not lean_supported(model):
                raise ModelError(f"decoder 'lean' cannot sample {type(model).__name__} with this "
                                 "configuration or with a prefix cache; use 'auto'")
            return sample_lean(
                model, ids, mask, max_new_tokens=max_new_tokens, temperature=temperature,
                eos_token_id=tok.eos_token_id,
            )
        if self.decoder in ("auto", "pruned"):
            return sample_pruned(
                model, ids, mask, max_new_tokens=max_new_tokens, temperature=temperature,
                eos_token_id=tok.eos_token_id, cache=cache,
            )
        kwargs: dict[str, object] = {"do_sample": temperature > 0}
        if temperature > 0:
            kwargs.update(temperature=temperature, top_k=0, top_p=1.0)
        if cache is not None:
            kwargs["past_key_values"] = cache
        with warnings.catch_warnings():
            # transformers 5 renames generate's past_key_values to cache; 4.x knows only the former
            warnings.filterwarnings("ignore", message=".*past_key_values.*", category=FutureWarning)
            gen = model.generate(
                input_ids=ids, attention_mask=mask, max_new_tokens=max_new_tokens,
                pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id, **kwargs,
            )
        rows: list[list[int]] = gen[:, ids.shape[1]:].tolist()
        return rows

    def _generate(
        self, model: PreTrainedModel, encoded: list[list[int]], *, max_new_tokens: int, temperature: float
    ) -> list[list[int]]:
        """New tokens per row for one batch of encoded prompts: left-padded, KV-cached."""
        ids, mask = pad_left(encoded, self.tokenizer.pad_token_id)
        return self._decode(
            model, ids.to(self.device), mask.to(self.device), max_new_tokens=max_new_tokens,
            temperature=temperature,
        )

    def _batches_decoded(
        self, model: PreTrainedModel, batches: list[tuple[int, list[list[int]]]], *, seed: int,
        max_new_tokens: int, temperature: float,
    ) -> Iterator[list[list[int]]]:
        """Each batch's new tokens per row, in order, each batch seeded with ``seed`` plus its
        first row: on the CPU with the lean decoder, by worker processes
        (:mod:`~iterdeploy.simulator.models.sampling_pool`: same tokens, one core each) when the
        model is small (:data:`POOL_MAX_PARAMETERS`), else here."""
        workers = configured_workers() if self.device.type == "cpu" and len(batches) > 1 else 1
        small = sum(p.numel() for p in model.parameters()) <= POOL_MAX_PARAMETERS
        if workers > 1 and small and self._lean(model):
            yield from decode_batches(
                extract(model), batches, seed=seed, workers=workers,
                pad_token_id=self.tokenizer.pad_token_id, eos_token_id=self.tokenizer.eos_token_id,
                max_new_tokens=max_new_tokens, temperature=temperature,
            )
            return
        for start, encoded in batches:
            torch.manual_seed(seed + start)
            yield self._generate(model, encoded, max_new_tokens=max_new_tokens, temperature=temperature)

    @torch.no_grad()
    def sample_batches(
        self,
        prompts: Sequence[str],
        *,
        n: int,
        temperature: float,
        max_new_tokens: int,
        seed: int,
    ) -> BatchStream:
        """:meth:`sample`, yielding each finished batch's row count (for progress bars).

        Prompts are repeated ``n`` times and generated in left-padded batches of
        :attr:`batch_size` rows with a KV cache. They are batched shortest first: a batch runs
        until its longest row ends, and prompt length follows task size, so batching similar
        tasks together wastes less compute on rows that have already finished (the results come
        back in the caller's order).

        ``torch.no_grad`` as a decorator restores the caller's grad mode at every ``yield``,
        which a ``with`` block inside a generator would not.
        """
        tok = self.tokenizer
        model = self.model
        model.eval()
        batch_size = self.batch_size
        encoded_prompts = [self._encode_prompt(p) for p in prompts]
        order = list(range(len(prompts)))
        if self.sort_prompts_by_length:
            order.sort(key=lambda i: len(encoded_prompts[i]))
        flat = [encoded_prompts[i] for i in order for _ in range(n)]
        out: list[Completion] = []
        batches = [(start, flat[start : start + batch_size]) for start in range(0, len(flat), batch_size)]
        decoded = self._batches_decoded(
            model, batches, seed=seed, max_new_tokens=max_new_tokens, temperature=temperature
        )
        for (_, encoded), rows in zip(batches, decoded, strict=True):
            for row in rows:
                ended = tok.eos_token_id in row
                body = row[: row.index(tok.eos_token_id)] if ended else row
                body = [t for t in body if t != tok.pad_token_id]
                out.append(Completion(
                    text=tok.decode(body, skip_special_tokens=False),
                    n_tokens=len(body),
                    hit_token_limit=not ended,
                ))
            yield len(encoded)
        results: list[list[Completion]] = [[] for _ in prompts]
        for rank, i in enumerate(order):
            results[i] = out[rank * n : (rank + 1) * n]
        return results

    def close(self) -> None:
        """Drop the weights; safe to call twice."""
        self._model = None
