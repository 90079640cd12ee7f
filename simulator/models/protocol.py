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

from collections.abc import Callable, Generator, Sequence
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
    ) -> list[list[Completion]]:
        """``n`` completions for each prompt (temperature 0 = greedy), seeded by ``seed``.

        How the rows are batched is the backend's own business (an attribute such as
        :attr:`HfPlanner.batch_size <iterdeploy.simulator.models.hf_planner.HfPlanner.batch_size>`),
        and so is reporting progress: a backend that can report rows as batches finish also
        follows :class:`StreamsBatches`, and
        :func:`iterdeploy.simulator.models.progress.sample_with_progress` uses it where it can.
        """
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


BatchStream = Generator[int, None, list[list[Completion]]]
"""Sampling as it happens: yields, per finished batch, how many rows (completions) it finished,
then returns what :meth:`PlannerModel.sample` returns. ``rows = yield from stream`` passes a
stream on (a router does), and :func:`drain` runs one to its end."""


@runtime_checkable
class StreamsBatches(Protocol):
    """A backend that can also sample batch by batch (optional, next to :class:`PlannerModel`).

    Why a second protocol rather than a callback in :meth:`PlannerModel.sample`: progress is the
    caller's concern, and most backends (test doubles, a remote API) have no batches to report;
    they implement ``sample`` alone and are reported on once, when it returns
    (:mod:`iterdeploy.simulator.models.progress`). A backend that batches implements
    ``sample_batches`` and defines ``sample`` as ``drain(self.sample_batches(...))``, so the two
    give the same completions for the same seed.
    """

    def sample_batches(
        self,
        prompts: Sequence[str],
        *,
        n: int,
        temperature: float,
        max_new_tokens: int,
        seed: int,
    ) -> BatchStream:
        """What :meth:`PlannerModel.sample` returns, announcing each batch's row count as it ends."""
        ...


def drain(stream: BatchStream) -> list[list[Completion]]:
    """Run ``stream`` to its end and return its completions (the batch counts are dropped)."""
    while True:
        try:
            next(stream)
        except StopIteration as done:
            result: list[list[Completion]] = done.value
            return result


class SampledByStreaming:
    """A mixin for backends that stream: ``sample`` is their ``sample_batches`` run to its end,
    written once here rather than in each of them."""

    def sample_batches(
        self, prompts: Sequence[str], *, n: int, temperature: float, max_new_tokens: int, seed: int,
    ) -> BatchStream:
        raise NotImplementedError

    def sample(
        self, prompts: Sequence[str], *, n: int, temperature: float, max_new_tokens: int, seed: int,
    ) -> list[list[Completion]]:
        """``n`` completions for each prompt (temperature 0 = greedy): :meth:`sample_batches`
        run to its end."""
        return drain(self.sample_batches(
            prompts, n=n, temperature=temperature, max_new_tokens=max_new_tokens, seed=seed
        ))
