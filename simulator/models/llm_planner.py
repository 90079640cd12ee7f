"""Real LLMs as planners: any local Hugging Face causal LM directory, or a GGUF file.

:class:`LlmPlanner` is :class:`~iterdeploy.simulator.models.hf_planner.HfPlanner` (same batched sampling,
same LoRA/full training, same safetensors adapters) with the differences a pretrained chat model
brings:

- **Tokenizer conventions.** The embedded model's tokenizer is ours; a real one is not. Many have
  no pad token (pad = eos then: padded positions are masked, so the choice only has to be a valid
  id). A chat-templated prompt already starts with whatever the template puts first, so BOS is
  prepended only when the tokenizer itself would add one and the prompt does not already begin
  with it. The completion follows the prompt directly (the template ends with the assistant
  header) and ends with EOS, which for chat models is the end-of-turn token.
- **GGUF files** are read by transformers (``gguf_file=``), dequantised to float32. transformers
  then marks the model as quantised by its ``gguf`` quantizer, and ``save_pretrained`` refuses to
  write such a model ("quantized with gguf and is not serializable"). The weights are plain float32
  tensors after dequantisation, so the marks are cleared at load and adapters and full weights
  save as safetensors like any other model's.
- **Loading is slow** (dequantising SmolLM2-135M takes about 16-25 s here) and every generation
  trains a *fresh* adapter on the base, so the pristine base is loaded once and copied in memory
  for each fresh start rather than read again from disk.
- **Shared prompt prefixes** (few-shot examples) are prefilled once per batch; see
  :meth:`LlmPlanner._generate`.
- **LoRA targets** are the Llama projections when the model has them, else peft's
  ``"all-linear"`` (GPT-2's fused ``c_attn``, and other architectures).

Nothing here reaches the network: every load passes ``local_files_only=True``.
"""

from __future__ import annotations

import copy
import warnings
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerFast

from iterdeploy.simulator.errors import ModelError
from iterdeploy.simulator.models._hf_logging import quiet_transformers
from iterdeploy.simulator.models.decoding import forward_last
from iterdeploy.simulator.models.device import DTypeName
from iterdeploy.simulator.models.hf_planner import LLAMA_LORA_TARGETS, HfPlanner
from iterdeploy.simulator.models.protocol import Example, PromptFormat
from iterdeploy.simulator.models.training import IGNORE

quiet_transformers()


def clear_gguf_quantizer(model: PreTrainedModel) -> None:
    """Drop the "quantised with gguf" marks of a model whose GGUF weights were dequantised.

    Why: transformers keeps the GGUF quantizer on the model after dequantising to float32, and
    ``save_pretrained`` then raises ``ValueError: The model is quantized with gguf and is not
    serializable``; the config would also carry a ``quantization_config`` pointing at the GGUF
    file into every saved directory. The tensors are ordinary float32 parameters, so nothing is
    lost by clearing the marks.
    """
    model.hf_quantizer = None
    for attr, value in (("is_quantized", False), ("quantization_method", None)):
        if attr in vars(model):
            setattr(model, attr, value)
    if getattr(model.config, "quantization_config", None) is not None:
        del model.config.quantization_config


MIN_SHARED_PREFIX = 32
"""Shortest shared prompt prefix (tokens) worth a prefill of its own."""


def _common_prefix_length(rows: list[list[int]]) -> int:
    """Length of the longest token prefix every row shares."""
    first = rows[0]
    length = min(len(r) for r in rows)
    for row in rows[1:]:
        i = 0
        while i < length and row[i] == first[i]:
            i += 1
        length = i
    return length


class LlmPlanner(HfPlanner):
    """A pretrained causal LM from a local directory or a GGUF file.

    Args:
        source: a directory written by ``save_pretrained`` (model and tokenizer), or a ``.gguf``
            file (model and tokenizer both read from it).
        name: the registry name (defaults to the directory or file name).
        prompt_format: ``"pddl"`` for real LLMs.
    """

    def __init__(
        self,
        source: str | Path,
        *,
        name: str | None = None,
        prompt_format: PromptFormat = "pddl",
        device: str = "auto",
        dtype: DTypeName = "auto",
    ) -> None:
        source = Path(source)
        self.gguf_file: Path | None = source if source.suffix.lower() == ".gguf" else None
        base_dir = source.parent if self.gguf_file is not None else source
        super().__init__(base_dir, name=name or source.name, prompt_format=prompt_format,
                         device=device, dtype=dtype)
        self.source = source
        self._pristine: PreTrainedModel | None = None
        self._adds_bos: bool | None = None
        self.disable_prefix_cache = False
        """Set to sample without the shared-prefix cache (for comparisons)."""

    def _from_pretrained_kwargs(self) -> dict[str, object]:
        kwargs: dict[str, object] = {"local_files_only": True}
        if self.gguf_file is not None:
            kwargs["gguf_file"] = str(self.gguf_file)
        return kwargs

    def _check_source(self) -> None:
        if self.gguf_file is not None:
            if not self.gguf_file.is_file():
                raise ModelError(f"{self.gguf_file}: no such GGUF file")
        elif not (self.base_dir / "config.json").is_file():
            raise ModelError(
                f"{self.base_dir}: no model here (config.json missing); pass a directory written "
                "by save_pretrained (model and tokenizer) or a .gguf file"
            )

    def _load_base(self) -> PreTrainedModel:
        """A fresh copy of the base weights (read from disk once, then copied in memory)."""
        if self._pristine is None:
            self._check_source()
            try:
                model = AutoModelForCausalLM.from_pretrained(
                    self.base_dir, dtype=self.dtype, **self._from_pretrained_kwargs()
                )
            except (OSError, ValueError, ImportError) as exc:
                hint = " (GGUF needs the 'gguf' package: pip install gguf)" if self.gguf_file else ""
                raise ModelError(f"{self.source}: cannot load the model{hint}: {exc}") from exc
            clear_gguf_quantizer(model)
            model.to(self.device)
            model.eval()
            self._pristine = model
        model = copy.deepcopy(self._pristine)
        model.eval()
        return model

    @property
    def tokenizer(self) -> PreTrainedTokenizerFast:
        """The model's tokenizer, with pad = eos when it has no pad token, left padding."""
        if self._tok is None:
            self._check_source()
            try:
                tok = AutoTokenizer.from_pretrained(self.base_dir, **self._from_pretrained_kwargs())
            except (OSError, ValueError, ImportError) as exc:
                raise ModelError(f"{self.source}: cannot load the tokenizer: {exc}") from exc
            if tok.eos_token_id is None:
                raise ModelError(f"{self.source}: tokenizer has no EOS token; completions could not end")
            if tok.pad_token_id is None:
                tok.pad_token = tok.eos_token
            tok.padding_side = "left"
            self._tok = tok
        return self._tok

    @property
    def has_chat_template(self) -> bool:
        """True when the tokenizer carries a chat template (instruct models)."""
        return bool(getattr(self.tokenizer, "chat_template", None))

    def lora_target_modules(self, model: torch.nn.Module) -> list[str] | str:
        present = {name.rsplit(".", 1)[-1] for name, mod in model.named_modules()
                   if isinstance(mod, torch.nn.Linear)}
        wanted = [t for t in LLAMA_LORA_TARGETS if t in present]
        return wanted or "all-linear"

    def _bos_prefix(self, ids: list[int]) -> list[int]:
        """``[bos]`` when the tokenizer adds a BOS of its own and ``ids`` do not start with it."""
        tok = self.tokenizer
        if self._adds_bos is None:
            probe = tok("a")["input_ids"]
            self._adds_bos = tok.bos_token_id is not None and probe[:1] == [tok.bos_token_id]
        if self._adds_bos and ids[:1] != [tok.bos_token_id]:
            return [tok.bos_token_id]
        return []

    def _encode_prompt(self, prompt: str) -> list[int]:
        ids = [int(i) for i in self.tokenizer(prompt, add_special_tokens=False)["input_ids"]]
        return [*self._bos_prefix(ids), *ids]

    def encode_example(
        self, tok: PreTrainedTokenizerFast, ex: Example, max_len: int
    ) -> tuple[list[int], list[int]]:
        """Prompt then completion then EOS; an over-long pair loses the *start* of its prompt.

        Why from the start: cutting the end would cut the completion, the only part with a loss,
        and a batch whose labels are all masked has a NaN loss. Few-shot PDDL prompts run to
        thousands of tokens, so set ``TrainConfig.max_len`` above the prompt length to train on
        exactly what sampling sees; this only keeps a too-small limit from silently breaking
        training.
        """
        prompt_ids = self._encode_prompt(ex.prompt)
        comp_ids = [*(int(i) for i in tok(ex.completion, add_special_tokens=False)["input_ids"]),
                    int(tok.eos_token_id)]
        comp_ids = comp_ids[:max_len]
        room = max_len - len(comp_ids)
        prompt_ids = prompt_ids[max(0, len(prompt_ids) - room):] if room > 0 else []
        return prompt_ids + comp_ids, [IGNORE] * len(prompt_ids) + comp_ids

    def _generate(
        self, model: PreTrainedModel, encoded: list[list[int]], *, max_new_tokens: int, temperature: float
    ) -> list[list[int]]:
        """Like the base class, but the prompts' shared prefix is run through the model once.

        Why: few-shot PDDL prompts of one domain share everything up to the task's own problem
        (system message, domain, examples: about 750 of 870 tokens for 2-block Blocksworld with
        two examples), and on a CPU prefilling that for every sample costs far more than writing
        the plan. The prefix's KV cache is computed once and repeated across the batch; each row
        continues with its own suffix, padded *between* prefix and suffix (positions follow the
        attention mask, so padding in the middle is as harmless as on the left).
        """
        shared = _common_prefix_length(encoded)
        shared = min(shared, min(len(e) for e in encoded) - 1)  # every row feeds at least one token
        if shared < MIN_SHARED_PREFIX or self.disable_prefix_cache:
            return super()._generate(model, encoded, max_new_tokens=max_new_tokens, temperature=temperature)
        tok = self.tokenizer
        prefix = torch.tensor([encoded[0][:shared]], dtype=torch.long)
        cache = self._prefill(model, prefix.to(self.device))
        cache.batch_repeat_interleave(len(encoded))
        tails = [e[shared:] for e in encoded]
        width = max(len(t) for t in tails)
        ids = torch.full((len(encoded), shared + width), tok.pad_token_id, dtype=torch.long)
        mask = torch.zeros_like(ids)
        ids[:, :shared] = prefix
        mask[:, :shared] = 1
        for row, tail in enumerate(tails):
            ids[row, shared + width - len(tail):] = torch.tensor(tail)
            mask[row, shared + width - len(tail):] = 1
        return self._decode(
            model, ids.to(self.device), mask.to(self.device), max_new_tokens=max_new_tokens,
            temperature=temperature, cache=cache,
        )

    @staticmethod
    def _prefill(model: PreTrainedModel, prefix: torch.Tensor) -> Any:
        """The KV cache of ``prefix`` (logits of its last position only, where the model allows:
        the full logits of a long prefix are a vocabulary-sized row per token, all unused)."""
        return forward_last(model, input_ids=prefix, attention_mask=torch.ones_like(prefix)).past_key_values

    def save(self, out_dir: str | Path) -> None:
        """Save the adapter (or full weights) as safetensors.

        peft looks for a ``config.json`` beside the base model to decide whether the vocabulary
        was resized and warns when there is none, which is always the case for a GGUF file; the
        vocabulary is never resized here, so that warning is silenced.
        """
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Could not find a config file", category=UserWarning)
            super().save(out_dir)

    def close(self) -> None:
        """Drop the weights (the pristine base copy too); safe to call twice."""
        super().close()
        self._pristine = None
