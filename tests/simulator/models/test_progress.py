"""Progress around a planner: every row reported once, per batch where the backend streams, once
at the end where it does not, and never a different completion than the backend's own."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from iterdeploy.simulator.models.embedded import EmbeddedModelSpec
from iterdeploy.simulator.models.hf_planner import HfPlanner
from iterdeploy.simulator.models.progress import ProgressPlanner, sample_with_progress, stream_batches
from iterdeploy.simulator.models.protocol import (
    BatchStream,
    Completion,
    Example,
    PlannerModel,
    PromptFormat,
    StreamsBatches,
    TrainConfig,
    TrainStats,
    drain,
)
from iterdeploy.simulator.models.registry import load_planner
from iterdeploy.simulator.models.routed import DomainRoutedPlanner
from iterdeploy.simulator.models.task_format import CompactTaskFormat
from iterdeploy.simulator.planning.blocksworld import generate_task

SETTINGS: dict[str, Any] = {"n": 3, "temperature": 1.0, "max_new_tokens": 8, "seed": 5}


class Plain:
    """A backend with ``sample`` only (a test double, a remote API): nothing to stream."""

    def __init__(self) -> None:
        self.name = "plain"
        self.prompt_format: PromptFormat = "compact"
        self.calls: list[str] = []
        self.batch_size = 7  # a backend attribute outside the protocol

    def sample(
        self, prompts: Sequence[str], *, n: int, temperature: float, max_new_tokens: int, seed: int
    ) -> list[list[Completion]]:
        self.calls.append("sample")
        return [[Completion(f"{p}:{seed}:{k}", k, False) for k in range(n)] for p in prompts]

    def train(self, examples: Sequence[Example], config: TrainConfig, *, seed: int,
              on_step: object = None) -> TrainStats:
        self.calls.append(f"train:{len(examples)}:{seed}")
        return TrainStats(len(examples), 1, 0.5, 0.0)

    def save(self, out_dir: str | Path) -> None:
        self.calls.append(f"save:{out_dir}")

    def load_adapter(self, adapter_dir: str | Path) -> None:
        self.calls.append(f"load:{adapter_dir}")

    def close(self) -> None:
        self.calls.append("close")


class Batched(Plain):
    """A backend that streams batches of ``batch_size`` rows, as HfPlanner does."""

    def __init__(self, batch_size: int = 4) -> None:
        super().__init__()
        self.batch_size = batch_size

    def sample(
        self, prompts: Sequence[str], *, n: int, temperature: float, max_new_tokens: int, seed: int
    ) -> list[list[Completion]]:
        return drain(self.sample_batches(
            prompts, n=n, temperature=temperature, max_new_tokens=max_new_tokens, seed=seed))

    def sample_batches(
        self, prompts: Sequence[str], *, n: int, temperature: float, max_new_tokens: int, seed: int
    ) -> BatchStream:
        rows = [(p, k) for p in prompts for k in range(n)]
        for start in range(0, len(rows), self.batch_size):
            yield len(rows[start : start + self.batch_size])
        return [[Completion(f"{p}:{seed}:{k}", k, False) for k in range(n)] for p in prompts]


PROMPTS = [f"p{i}" for i in range(5)]  # 15 rows: batches of 4, 4, 4, 3


def test_the_doubles_follow_the_protocols() -> None:
    assert isinstance(Plain(), PlannerModel) and not isinstance(Plain(), StreamsBatches)
    assert isinstance(Batched(), PlannerModel) and isinstance(Batched(), StreamsBatches)
    assert isinstance(ProgressPlanner(Plain(), print), PlannerModel)


def test_a_streaming_backend_is_reported_per_batch() -> None:
    backend = Batched()
    seen: list[int] = []
    out = sample_with_progress(backend, PROMPTS, **SETTINGS, on_rows=seen.append)
    assert seen == [4, 4, 4, 3]
    assert out == backend.sample(PROMPTS, **SETTINGS)


def test_a_plain_backend_is_reported_once_at_the_end() -> None:
    backend = Plain()
    seen: list[int] = []
    out = sample_with_progress(backend, PROMPTS, **SETTINGS, on_rows=seen.append)
    assert seen == [15] and backend.calls == ["sample"]
    assert out == Plain().sample(PROMPTS, **SETTINGS)


def test_nothing_to_sample_reports_nothing() -> None:
    for backend in (Plain(), Batched()):
        seen: list[int] = []
        assert sample_with_progress(backend, [], **SETTINGS, on_rows=seen.append) == []
        assert sum(seen) == 0


@pytest.mark.parametrize("make", [Plain, Batched])
def test_the_wrapper_samples_what_the_backend_samples_and_reports_every_row(make: type[Plain]) -> None:
    seen: list[int] = []
    wrapped = ProgressPlanner(make(), seen.append)
    assert wrapped.sample(PROMPTS, **SETTINGS) == make().sample(PROMPTS, **SETTINGS)
    assert sum(seen) == len(PROMPTS) * 3
    assert len(seen) == (4 if make is Batched else 1)


def test_stacked_wrappers_each_see_every_batch() -> None:
    inner: list[int] = []
    outer: list[int] = []
    backend = Batched()
    wrapped = ProgressPlanner(ProgressPlanner(backend, inner.append), outer.append)
    assert wrapped.sample(PROMPTS, **SETTINGS) == backend.sample(PROMPTS, **SETTINGS)
    assert inner == outer == [4, 4, 4, 3]
    assert wrapped.unwrapped is backend


def test_the_wrapper_forwards_the_rest_of_the_interface(tmp_path: Path) -> None:
    backend = Plain()
    wrapped = ProgressPlanner(backend, lambda _: None)
    assert wrapped.name == "plain" and wrapped.prompt_format == "compact"
    wrapped.name = "renamed"
    assert backend.name == "renamed"
    stats = wrapped.train([Example("a", "b")], TrainConfig(), seed=3)
    assert stats == TrainStats(1, 1, 0.5, 0.0)
    wrapped.save(tmp_path / "out")
    wrapped.load_adapter(tmp_path / "in")
    wrapped.close()
    assert backend.calls == ["train:1:3", f"save:{tmp_path / 'out'}", f"load:{tmp_path / 'in'}", "close"]
    # anything outside the protocol is the backend's own, reached through ``unwrapped``
    assert wrapped.unwrapped is backend
    assert not hasattr(wrapped, "batch_size")


def test_a_router_passes_its_parts_batches_on() -> None:
    """The domain router streams whether its parts stream (each batch) or not (each part once)."""
    rng = np.random.default_rng(0)
    fmt = CompactTaskFormat()
    prompts = [fmt.prompt(generate_task(3, rng, name=f"t{k}")) for k in range(5)]
    for part, expected in ((Batched(), [4, 4, 4, 3]), (Plain(), [15])):
        router = DomainRoutedPlanner({"blocksworld": part}, name="r")  # type: ignore[dict-item]  # a stand-in
        seen: list[int] = []
        out = sample_with_progress(router, prompts, **SETTINGS, on_rows=seen.append)
        assert seen == expected
        assert out == part.sample(prompts, **SETTINGS) == router.sample(prompts, **SETTINGS)


def test_the_embedded_model_samples_the_same_with_and_without_progress(
    tiny_embedded_spec: EmbeddedModelSpec,
) -> None:
    planner = load_planner("embedded-tiny-v1", embedded_spec=tiny_embedded_spec, device="cpu")
    assert isinstance(planner, HfPlanner) and isinstance(planner, StreamsBatches)
    assert HfPlanner.batch_size == planner.batch_size == 64  # the default every run has used
    rng = np.random.default_rng(2)
    fmt = CompactTaskFormat()
    prompts = [fmt.prompt(generate_task(int(rng.integers(2, 5)), rng, name=f"t{k}")) for k in range(4)]
    settings: dict[str, Any] = {"n": 2, "temperature": 1.0, "max_new_tokens": 24, "seed": 9}
    planner.batch_size = 3  # 8 rows: batches of 3, 3, 2
    plain = planner.sample(prompts, **settings)
    seen: list[int] = []
    assert sample_with_progress(planner, prompts, **settings, on_rows=seen.append) == plain
    assert seen == [3, 3, 2]
    wrapped: list[int] = []
    assert ProgressPlanner(planner, wrapped.append).sample(prompts, **settings) == plain
    assert wrapped == [3, 3, 2]
    assert drain(stream_batches(planner, prompts, **settings)) == plain
