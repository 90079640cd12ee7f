"""One embedded model per domain, driven by the loop as one :class:`PlannerModel`.

Why a router rather than one model or a loop that knows about domains: a single 0.86 M-parameter
model pretrained on Blocksworld, Rovers and Sokoban at once planned each of them worse than a
model of one domain (docs/model-card.md: Blocksworld lost every plan from 7 blocks up), and the
loop's contract (sample prompts, train on examples, save, reload) does not mention domains. So
the router keeps that contract and sends every prompt and every training example to the model of
its domain; each model samples, trains (fresh from its own base, as the paper trains), saves and
reloads on its own.

How a prompt finds its domain: by its words. Every compact format has a fixed vocabulary
(:meth:`iterdeploy.simulator.models.compact.CompactDomain.words`), and the formats' object names do not
overlap (Blocksworld's ``o1 …``, Rovers' ``uplink`` and ``w1 …``, Sokoban's ``robot`` and
``b1 …``), so exactly one domain's vocabulary holds all the words of a prompt. A prompt that no
vocabulary holds, or more than one, is an error that names the prompt, never a guess.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from iterdeploy.simulator.errors import ModelError
from iterdeploy.simulator.models.compact import compact_domain
from iterdeploy.simulator.models.progress import stream_batches
from iterdeploy.simulator.models.protocol import (
    BatchStream,
    Completion,
    Example,
    PromptFormat,
    SampledByStreaming,
    TrainConfig,
    TrainStats,
)

if TYPE_CHECKING:
    from iterdeploy.simulator.models.hf_planner import HfPlanner


class DomainRoutedPlanner(SampledByStreaming):
    """The models of several domains behind one planner (see the module docstring).

    Args:
        planners: Registry domain name → that domain's embedded planner.
        name: The name recorded as the run's base model.
    """

    def __init__(self, planners: Mapping[str, HfPlanner], *, name: str) -> None:
        if not planners:
            raise ModelError("a routed planner needs at least one domain's model")
        self.planners = dict(planners)
        self.name = name
        self.prompt_format: PromptFormat = "compact"
        self._words = {d: frozenset(compact_domain(d).words()) for d in self.planners}

    def domain_of(self, prompt: str) -> str:
        """The one domain whose format's vocabulary holds every word of ``prompt``."""
        words = set(prompt.split())
        matches = [d for d, vocabulary in self._words.items() if words <= vocabulary]
        if len(matches) != 1:
            head = prompt if len(prompt) <= 80 else prompt[:77] + "..."
            found = "no domain's" if not matches else f"the {' and '.join(matches)}"
            raise ModelError(f"prompt {head!r}: {found} vocabulary reads it; this planner routes "
                             f"{', '.join(self.planners)} prompts in the compact format")
        return matches[0]

    def _by_domain(self, texts: Sequence[str]) -> dict[str, list[int]]:
        out: dict[str, list[int]] = {}
        for i, text in enumerate(texts):
            out.setdefault(self.domain_of(text), []).append(i)
        return out

    def sample_batches(
        self,
        prompts: Sequence[str],
        *,
        n: int,
        temperature: float,
        max_new_tokens: int,
        seed: int,
    ) -> BatchStream:
        """:meth:`sample`, passing on each domain model's batches as they finish (each model
        batches by its own ``batch_size``)."""
        out: list[list[Completion]] = [[] for _ in prompts]
        for domain, index in self._by_domain(prompts).items():
            sampled = yield from stream_batches(
                self.planners[domain], [prompts[i] for i in index], n=n, temperature=temperature,
                max_new_tokens=max_new_tokens, seed=seed)
            for i, completions in zip(index, sampled, strict=True):
                out[i] = completions
        return out

    def train(
        self,
        examples: Sequence[Example],
        config: TrainConfig,
        *,
        seed: int,
        on_step: Callable[[int, float], None] | None = None,
    ) -> TrainStats:
        """Each domain's model on its own examples; a domain without any is reset to its base
        when training is fresh (the paper's protocol: every generation starts from the base)."""
        groups = self._by_domain([ex.prompt for ex in examples])
        stats: list[TrainStats] = []
        for domain, planner in self.planners.items():
            if domain in groups:
                stats.append(planner.train([examples[i] for i in groups[domain]], config, seed=seed,
                                           on_step=on_step))
            elif config.mode == "fresh":
                planner.reset_to_base()
        losses = [(s.final_loss, s.n_examples) for s in stats if s.final_loss is not None]
        weight = sum(k for _, k in losses)
        return TrainStats(
            n_examples=sum(s.n_examples for s in stats),
            n_steps=sum(s.n_steps for s in stats),
            final_loss=sum(loss * k for loss, k in losses) / weight if weight else None,
            train_time_s=sum(s.train_time_s for s in stats),
        )

    def save(self, out_dir: str | Path) -> None:
        """Each domain's adapter (or weights) in ``out_dir/<domain>``."""
        for domain, planner in self.planners.items():
            planner.save(Path(out_dir) / domain)

    def load_adapter(self, adapter_dir: str | Path) -> None:
        """Deploy what :meth:`save` wrote: every domain's part must be there."""
        for domain, planner in self.planners.items():
            part = Path(adapter_dir) / domain
            if not part.is_dir():
                raise ModelError(f"{adapter_dir}: no {domain} part ({part} is missing); it was not "
                                 "saved by a planner of the same domains")
            planner.load_adapter(part)

    def close(self) -> None:
        """Free every domain's weights; safe to call twice."""
        for planner in self.planners.values():
            planner.close()
