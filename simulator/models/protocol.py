"""The interface the deployment loop needs from a planner model.

The loop samples plans, fine-tunes a generation, saves and reloads adapters, and frees the weights;
it never needs to know whether the model is the embedded 0.86 M-parameter Llama or a real LLM read
from a GGUF file. Writing that down as a :class:`typing.Protocol` (rather than a base class) lets
any backend satisfy it structurally, including test doubles, without importing torch.

``prompt_format`` tells the caller which prompt renderer and plan extractor go with the model:
``"compact"`` (:mod:`simulator.models._format`, the embedded model's towers) or ``"pddl"``
(:mod:`simulator.models.pddl_format`, domain and problem PDDL for real LLMs).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from simulator.models.hf_planner import Completion, PromptFormat, TrainConfig
    from simulator.models.training import Example, TrainStats


@runtime_checkable
class PlannerModel(Protocol):
    """A model that writes plans and can be fine-tuned on curated ones.

    :class:`simulator.models.hf_planner.HfPlanner` (the embedded model, any local Hugging Face
    directory) and :class:`simulator.models.llm_planner.LlmPlanner` (real LLMs, GGUF files)
    implement it.
    """

    name: str
    """The model's name as the registry knows it (recorded as the base model of a run)."""
    prompt_format: PromptFormat
    """``"compact"`` or ``"pddl"``: which prompt renderer and plan extractor to use."""

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
        """``n`` completions for each prompt (temperature 0 = greedy), seeded by ``seed``."""
        ...

    def train(
        self,
        examples: Sequence[Example],
        config: TrainConfig,
        *,
        seed: int,
        on_step: Callable[[int, float], None] | None = None,
    ) -> TrainStats:
        """Fine-tune on (prompt, completion) pairs as ``config`` says (fresh or chained LoRA, full)."""
        ...

    def save(self, out_dir: str | Path) -> None:
        """Write the adapter (or full weights) as safetensors to ``out_dir``."""
        ...

    def load_adapter(self, adapter_dir: str | Path) -> None:
        """Deploy the base model plus the adapter saved in ``adapter_dir``."""
        ...

    def close(self) -> None:
        """Free the weights; safe to call twice."""
        ...
