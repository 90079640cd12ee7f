"""A planner backed by a Hugging Face causal LM, fine-tuned per generation with peft LoRA.

Sampling is batched with a KV cache (``generate``), prompts left-padded. Fine-tuning follows the
paper by default: every generation trains a *fresh* LoRA adapter on the fixed base model over the
accumulated curated data; ``mode="chained"`` continues from the previous generation's adapter
instead, and ``method="full"`` fine-tunes all weights. Adapters are saved as safetensors; nothing
is ever loaded with pickle.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from peft import LoraConfig, PeftModel, get_peft_model
from transformers import AutoModelForCausalLM, PreTrainedModel, PreTrainedTokenizerFast

from simulator.errors import ModelError
from simulator.models.training import Example, TrainStats, epoch_batches, train_sft


@dataclass(frozen=True)
class Completion:
    """One sampled completion."""

    text: str
    n_tokens: int
    hit_token_limit: bool


@dataclass(frozen=True)
class TrainConfig:
    """How a generation is fine-tuned."""

    method: Literal["lora", "full"] = "lora"
    mode: Literal["fresh", "chained"] = "fresh"
    lora_r: int = 16
    lora_alpha: int = 32
    lr: float = 1e-3
    n_epochs: int = 3
    batch_size: int = 16
    max_len: int = 512


class HfPlanner:
    """Loads a base model directory and samples from / fine-tunes it."""

    def __init__(self, base_dir: str | Path) -> None:
        self.base_dir = Path(base_dir)
        self._model: PreTrainedModel | None = None
        self._tok: PreTrainedTokenizerFast | None = None

    def _load_base(self) -> PreTrainedModel:
        if not (self.base_dir / "config.json").is_file():
            raise ModelError(
                f"{self.base_dir}: no model here (config.json missing); pass a directory written "
                "by save_pretrained"
            )
        model = AutoModelForCausalLM.from_pretrained(self.base_dir, dtype=torch.float32)
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
            self._model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
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
                    target_modules=["q_proj", "k_proj", "v_proj", "o_proj",
                                    "gate_proj", "up_proj", "down_proj"],
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
        )

    @torch.no_grad()
    def sample(
        self,
        prompts: Sequence[str],
        *,
        n: int,
        temperature: float,
        max_new_tokens: int,
        seed: int,
        batch_size: int = 64,
        on_batch: Callable[[int], None] | None = None,
    ) -> list[list[Completion]]:
        """``n`` completions for each prompt (temperature 0 = greedy).

        Prompts are repeated ``n`` times and generated in left-padded batches with a KV cache.
        """
        tok = self.tokenizer
        model = self.model
        model.eval()
        flat = [p for p in prompts for _ in range(n)]
        out: list[Completion] = []
        for start in range(0, len(flat), batch_size):
            chunk = flat[start : start + batch_size]
            torch.manual_seed(seed + start)
            encoded = [
                [tok.bos_token_id, *tok(p, add_special_tokens=False)["input_ids"]] for p in chunk
            ]
            width = max(len(e) for e in encoded)
            ids = torch.full((len(chunk), width), tok.pad_token_id, dtype=torch.long)
            mask = torch.zeros((len(chunk), width), dtype=torch.long)
            for row, e in enumerate(encoded):
                ids[row, width - len(e):] = torch.tensor(e)
                mask[row, width - len(e):] = 1
            kwargs: dict[str, object] = {"do_sample": temperature > 0}
            if temperature > 0:
                kwargs.update(temperature=temperature, top_k=0, top_p=1.0)
            gen = model.generate(
                input_ids=ids, attention_mask=mask, max_new_tokens=max_new_tokens,
                pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id, **kwargs,
            )
            for row in gen[:, width:].tolist():
                ended = tok.eos_token_id in row
                body = row[: row.index(tok.eos_token_id)] if ended else row
                body = [t for t in body if t != tok.pad_token_id]
                out.append(Completion(
                    text=tok.decode(body, skip_special_tokens=False),
                    n_tokens=len(body),
                    hit_token_limit=not ended,
                ))
            if on_batch is not None:
                on_batch(len(chunk))
        return [out[i * n : (i + 1) * n] for i in range(len(prompts))]

    def close(self) -> None:
        """Drop the weights; safe to call twice."""
        self._model = None
