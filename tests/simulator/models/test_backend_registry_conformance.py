"""Every registered model backend conforms: it loads, samples and trains a tiny model.

Parametrised over :data:`iterdeploy.simulator.models.registry.BACKENDS`, so a backend added with one
registration line is checked with no test edit (a new backend also needs a way, below, to point it
at a tiny model: the test fails until it has one). The tiny model is the tests' embedded recipe
(``tiny_embedded_spec``, pretrained once and cached), reached through each backend's own kind of
name: the registered name, a local directory, an offline Hugging Face cache. Backends that need
what this machine may lack (a CUDA GPU, an optional package) are skipped with the reason, never
silently; the 135 M-parameter GGUF model is marked ``slow``.
"""

from __future__ import annotations

import importlib.util
import math
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from huggingface_hub import constants

from iterdeploy.simulator.errors import ModelError
from iterdeploy.simulator.models.embedded import EmbeddedModelSpec, ensure_base
from iterdeploy.simulator.models.protocol import Completion, Example, PlannerModel, TrainConfig
from iterdeploy.simulator.models.registry import (
    BACKENDS,
    REGISTERED,
    SMOLLM2_NAME,
    Backend,
    ModelInfo,
    UnknownModelError,
    load_planner,
    resolve_model,
)
from iterdeploy.simulator.models.task_format import CompactTaskFormat
from iterdeploy.simulator.planning import generate
from iterdeploy.simulator.registry import Registry, UnknownNameError
from iterdeploy.simulator.users import parse_actions

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def _embedded(spec: EmbeddedModelSpec, tmp: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    return "embedded-tiny-v1"


def _hf_dir(spec: EmbeddedModelSpec, tmp: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    return f"hf:{ensure_base(spec)}"


def _hub(spec: EmbeddedModelSpec, tmp: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """An offline Hugging Face cache holding the tiny model (the layout huggingface_hub writes)."""
    repo = tmp / "hf-cache" / "models--acme--tiny-planner"
    shutil.copytree(ensure_base(spec), repo / "snapshots" / COMMIT)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp / "hf-cache"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    return "hub:acme/tiny-planner"


def _gguf(spec: EmbeddedModelSpec, tmp: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    if importlib.util.find_spec("gguf") is None:
        pytest.skip("gguf backend: the gguf package is not installed (docs/models.md)")
    try:
        resolve_model(SMOLLM2_NAME)
    except ModelError as exc:
        pytest.skip(f"gguf backend: no GGUF file here ({exc})")
    return SMOLLM2_NAME


def _vllm(spec: EmbeddedModelSpec, tmp: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    import torch

    if not torch.cuda.is_available():
        pytest.skip("vllm backend: needs a CUDA GPU")
    if importlib.util.find_spec("vllm") is None:
        pytest.skip("vllm backend: the vllm package is not installed (its own environment)")
    return f"vllm:{ensure_base(spec)}"


TINY: dict[str, Callable[[EmbeddedModelSpec, Path, pytest.MonkeyPatch], str]] = {
    "embedded": _embedded, "hf_dir": _hf_dir, "hub": _hub, "gguf": _gguf, "vllm": _vllm,
}
"""Backend kind → the name of a tiny model it loads here (or a skip with the reason)."""

SLOW = {"gguf"}
"""Backends whose smallest model here takes minutes on a CPU."""


def test_every_named_model_has_a_known_kind_and_every_prefix_one_backend() -> None:
    prefixes = [b.prefix for b in BACKENDS.values() if b.prefix]
    assert len(prefixes) == len(set(prefixes)) == 3  # hf:, vllm:, hub:
    assert all(b.resolve is not None for b in BACKENDS.values() if b.prefix)
    assert not any(name.startswith(tuple(prefixes)) for name in REGISTERED)
    for name, entry in REGISTERED.items():
        assert entry.name == name and entry.kind in BACKENDS
    with pytest.raises(UnknownModelError) as caught:
        resolve_model("embeded-tiny-v1")
    assert isinstance(caught.value, ModelError) and isinstance(caught.value, UnknownNameError)
    assert caught.value.close[0] == "embedded-tiny-v1" and caught.value.known == REGISTERED.names()


@pytest.mark.parametrize(
    "kind", [pytest.param(k, marks=[pytest.mark.slow] if k in SLOW else []) for k in BACKENDS.names()]
)
def test_backend_samples_and_trains_a_tiny_model(
    kind: str, tiny_embedded_spec: EmbeddedModelSpec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert kind in TINY, f"backend {kind!r} has no tiny model to be checked with; add it to TINY"
    name = TINY[kind](tiny_embedded_spec, tmp_path, monkeypatch)
    assert resolve_model(name).kind == kind
    planner = load_planner(name, embedded_spec=tiny_embedded_spec, device="cpu")
    assert isinstance(planner, PlannerModel)
    assert planner.prompt_format == resolve_model(name).prompt_format

    fmt = CompactTaskFormat()
    tasks = [generate("blocksworld", {"n_blocks": n}, np.random.default_rng(n)) for n in (2, 3)]
    prompts = [fmt.prompt(g.task) for g in tasks]
    out = planner.sample(prompts, n=2, temperature=1.0, max_new_tokens=8, seed=0)
    assert [len(c) for c in out] == [2, 2]
    assert all(isinstance(c, Completion) and 0 <= c.n_tokens <= 8 for cs in out for c in cs)
    assert out == planner.sample(prompts, n=2, temperature=1.0, max_new_tokens=8, seed=0)  # seeded

    examples = [Example(p, fmt.completion(g.task, parse_actions(g.witness_plan)))
                for p, g in zip(prompts, tasks, strict=True)]
    stats = planner.train(examples, TrainConfig(n_epochs=1, batch_size=2, lora_r=2), seed=0)
    assert stats.n_examples == 2 and stats.n_steps >= 1
    assert stats.final_loss is not None and math.isfinite(stats.final_loss)
    planner.save(tmp_path / "adapter")
    assert any((tmp_path / "adapter").iterdir())
    planner.close()


def test_a_new_backend_is_one_registration(monkeypatch: pytest.MonkeyPatch) -> None:
    """A backend registered with a prefix is resolved and loaded by name with no other change."""
    from iterdeploy.simulator.models import registry

    loaded: list[ModelInfo] = []
    backends: Registry[Backend] = Registry("model backend")
    for kind, backend in BACKENDS.items():
        backends.register(kind, backend)
    backends.register("echo", Backend(
        lambda info, options: loaded.append(info) or "a planner",  # type: ignore[arg-type, func-returns-value]
        "a test backend", prefix="echo:",
        resolve=lambda target, text: ModelInfo(text, "echo", "pddl", None, repo=target),
    ))
    monkeypatch.setattr(registry, "BACKENDS", backends)
    assert registry.resolve_model("echo:anything").repo == "anything"
    assert registry.load_planner("echo:x", device="cpu") == "a planner"  # type: ignore[comparison-overlap]
    assert [i.kind for i in loaded] == ["echo"]
