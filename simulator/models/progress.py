"""Progress reporting around any :class:`~iterdeploy.simulator.models.protocol.PlannerModel`.

Why here and not in the protocol: ``PlannerModel.sample`` says what is sampled, not how the work
is cut up or who watches it. A backend that samples in batches says so by following
:class:`~iterdeploy.simulator.models.protocol.StreamsBatches`; everything else (a test double, a
remote API) is a plain ``sample``. The code in this module bridges the two, in the manner of
gymnasium's ``Wrapper``: the wrapped object is left as it is, the wrapper changes one behaviour
and forwards the rest of the interface by name, and ``unwrapped`` reaches the innermost backend
for anything else (no ``__getattr__`` forwarding, which gymnasium 1.0 dropped because it hid
typos and escaped type checking).

- :func:`stream_batches`: any planner as a :data:`~iterdeploy.simulator.models.protocol.BatchStream`
  (its own batches where it streams, one batch of every row when ``sample`` returns otherwise);
- :func:`sample_with_progress`: ``sample``, calling ``on_rows`` as rows finish (the loop's bars);
- :class:`ProgressPlanner`: a planner whose ``sample`` does that, for code that takes a planner.

None of them changes what is sampled: the same seed gives the same completions with and
without them (``tests/simulator/models/test_progress.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from iterdeploy.simulator.models.protocol import (
    BatchStream,
    Completion,
    Example,
    PlannerModel,
    PromptFormat,
    SampledByStreaming,
    StreamsBatches,
    TrainConfig,
    TrainStats,
    drain,
)


def stream_batches(
    planner: PlannerModel,
    prompts: Sequence[str],
    *,
    n: int,
    temperature: float,
    max_new_tokens: int,
    seed: int,
) -> BatchStream:
    """``planner``'s completions as a stream: per batch where it streams, else all rows at once
    when its ``sample`` returns (counting the completions it returned)."""
    if isinstance(planner, StreamsBatches):
        return (yield from planner.sample_batches(
            prompts, n=n, temperature=temperature, max_new_tokens=max_new_tokens, seed=seed
        ))
    results = planner.sample(prompts, n=n, temperature=temperature, max_new_tokens=max_new_tokens, seed=seed)
    yield sum(len(row) for row in results)
    return results


def _reported(stream: BatchStream, on_rows: Callable[[int], None]) -> BatchStream:
    """``stream`` passed on unchanged, each batch's row count also given to ``on_rows``."""
    while True:
        try:
            rows = next(stream)
        except StopIteration as done:
            result: list[list[Completion]] = done.value
            return result
        on_rows(rows)
        yield rows


def sample_with_progress(
    planner: PlannerModel,
    prompts: Sequence[str],
    *,
    n: int,
    temperature: float,
    max_new_tokens: int,
    seed: int,
    on_rows: Callable[[int], None],
) -> list[list[Completion]]:
    """``planner.sample(...)``, calling ``on_rows(k)`` as ``k`` more rows (completions) finish:
    after each batch of a :class:`~iterdeploy.simulator.models.protocol.StreamsBatches`
    backend, once at the end for any other. Every row is reported exactly once."""
    stream = stream_batches(
        planner, prompts, n=n, temperature=temperature, max_new_tokens=max_new_tokens, seed=seed
    )
    return drain(_reported(stream, on_rows))


class ProgressPlanner(SampledByStreaming):
    """``planner`` with a ``sample`` that reports finished rows to ``on_rows``; the rest of
    :class:`~iterdeploy.simulator.models.protocol.PlannerModel` is forwarded unchanged.

    It streams too (``sample_batches``, reporting as it passes each batch on), so wrappers
    stack: each layer's ``on_rows`` sees every batch. Attributes outside the protocol (a
    backend's ``batch_size``, say) are read and set on :attr:`unwrapped`.

    Args:
        planner: the backend (or another wrapper) to wrap.
        on_rows: called with each batch's row count as it finishes.
    """

    def __init__(self, planner: PlannerModel, on_rows: Callable[[int], None]) -> None:
        self.planner = planner
        """The wrapped planner (possibly another wrapper)."""
        self.on_rows = on_rows

    @property
    def unwrapped(self) -> PlannerModel:
        """The backend beneath every :class:`ProgressPlanner` layer (gymnasium's ``unwrapped``)."""
        inner = self.planner
        while isinstance(inner, ProgressPlanner):
            inner = inner.planner
        return inner

    @property
    def name(self) -> str:
        """The wrapped planner's name."""
        return self.planner.name

    @name.setter
    def name(self, value: str) -> None:
        self.planner.name = value

    @property
    def prompt_format(self) -> PromptFormat:
        """The wrapped planner's prompt format."""
        return self.planner.prompt_format

    @prompt_format.setter
    def prompt_format(self, value: PromptFormat) -> None:
        self.planner.prompt_format = value

    def sample_batches(
        self,
        prompts: Sequence[str],
        *,
        n: int,
        temperature: float,
        max_new_tokens: int,
        seed: int,
    ) -> BatchStream:
        """:func:`stream_batches` of the wrapped planner, each batch reported on the way."""
        stream = stream_batches(
            self.planner, prompts, n=n, temperature=temperature, max_new_tokens=max_new_tokens, seed=seed
        )
        return (yield from _reported(stream, self.on_rows))

    def train(
        self,
        examples: Sequence[Example],
        config: TrainConfig,
        *,
        seed: int,
        on_step: Callable[[int, float], None] | None = None,
    ) -> TrainStats:
        """The wrapped planner's ``train``."""
        return self.planner.train(examples, config, seed=seed, on_step=on_step)

    def save(self, out_dir: str | Path) -> None:
        """The wrapped planner's ``save``."""
        self.planner.save(out_dir)

    def load_adapter(self, adapter_dir: str | Path) -> None:
        """The wrapped planner's ``load_adapter``."""
        self.planner.load_adapter(adapter_dir)

    def close(self) -> None:
        """The wrapped planner's ``close``."""
        self.planner.close()

    def __repr__(self) -> str:
        return f"ProgressPlanner({self.planner!r})"
