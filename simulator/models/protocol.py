"""The interface the deployment loop needs from a planner model.

The loop samples plans, fine-tunes a generation, saves and reloads adapters, and frees the weights;
it never needs to know whether the model is the embedded 0.86 M-parameter Llama or a real LLM read
from a GGUF file. Writing that down as a :class:`typing.Protocol` (rather than a base class) lets
any backend satisfy it structurally, including test doubles, without importing torch.

``prompt_format`` tells the caller which prompt renderer and plan extractor go with the model:
``"compact"`` (:mod:`iterdeploy.simulator.models._format`, the embedded model's towers) or ``"pddl"``
(:mod:`iterdeploy.simulator.models.pddl_format`, domain and problem PDDL for real LLMs).

The plain values that cross this interface (:class:`Completion`, :class:`TrainConfig`,
:class:`Example`, :class:`TrainStats`, :data:`PromptFormat`) are defined here rather than next to
the torch code that produces or consumes them, so that the loop, the scenario, the task formats
and the auditors can name them without importing torch or transformers (seconds in every process
that only reads a scenario or a run). :mod:`iterdeploy.simulator.models.hf_planner` and
:mod:`iterdeploy.simulator.models.training` re-export them under their old names.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

PromptFormat = Literal["compact", "pddl"]
"""Which prompt/plan format a model reads and writes (see :mod:`iterdeploy.simulator.models.registry`)."""


@dataclass(frozen=True)
class Completion:
    """One sampled completion."""

    text: str
    n_tokens: int
    hit_token_limit: bool


@dataclass(frozen=True)
class TrainConfig:
    """How a generation is fine-tuned.

    These defaults serve direct library use (a planner trained outside a run). The loop always
    builds one from the scenario's ``training`` section (``iterdeploy.simulator.scenario.TrainingSpec``),
    whose defaults are the quickstart's: rank 32, alpha 64, lr 2e-3, 4 epochs, packed rows.
    """

    method: Literal["lora", "full"] = "lora"
    mode: Literal["fresh", "chained"] = "fresh"
    lora_r: int = 16
    lora_alpha: int = 32
    lr: float = 1e-3
    n_epochs: int = 3
    batch_size: int = 16
    max_len: int = 512
    pack: bool = False
    """Pack each step's examples into rows instead of padding (``train_sft``)."""


@dataclass(frozen=True)
class Example:
    """One training pair: the model learns to write ``completion`` after ``prompt``."""

    prompt: str
    completion: str


@dataclass(frozen=True)
class TrainStats:
    """What one training call did."""

    n_examples: int
    n_steps: int
    final_loss: float | None
    train_time_s: float


@runtime_checkable
class PlannerModel(Protocol):
    """A model that writes plans and can be fine-tuned on curated ones.

    :class:`iterdeploy.simulator.models.hf_planner.HfPlanner` (the embedded model, any local Hugging Face
    directory) and :class:`iterdeploy.simulator.models.llm_planner.LlmPlanner` (real LLMs, GGUF files)
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
