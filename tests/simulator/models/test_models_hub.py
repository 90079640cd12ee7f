"""``hub:org/name``: a Hugging Face Hub model, from the local Hugging Face cache or the network.

The network is never used here: the cache is built by hand in the layout huggingface_hub writes
(``models--org--name/refs/main`` and ``snapshots/<commit>/``), holding the tests' small embedded
model, and the Hub is set offline, so a model that is not cached must fail with a clear message.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from huggingface_hub import constants

from iterdeploy.simulator.errors import ModelError, ScenarioError
from iterdeploy.simulator.models.embedded import EmbeddedModelSpec, ensure_base
from iterdeploy.simulator.models.llm_planner import LlmPlanner
from iterdeploy.simulator.models.registry import load_planner, resolve_model
from iterdeploy.simulator.scenario import parse_scenario

COMMIT = "0123456789abcdef0123456789abcdef01234567"



@pytest.fixture
def hub_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
              tiny_embedded_spec: EmbeddedModelSpec) -> Path:
    """An offline Hugging Face cache holding ``acme/tiny-planner`` at :data:`COMMIT`."""
    cache = tmp_path / "hf-cache"
    repo = cache / "models--acme--tiny-planner"
    snapshot = repo / "snapshots" / COMMIT
    shutil.copytree(ensure_base(tiny_embedded_spec), snapshot)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    return cache


def test_hub_names_resolve_by_syntax_only() -> None:
    info = resolve_model("hub:Qwen/Qwen3-4B@main")
    assert (info.kind, info.repo, info.revision) == ("hub", "Qwen/Qwen3-4B", "main")
    assert info.prompt_format == "pddl"
    assert resolve_model("hub:Qwen/Qwen3-4B").revision is None
    for bad in ("hub:", "hub:Qwen3-4B", "hub:a//b", "hub:org/na me"):
        with pytest.raises(ModelError, match="hub:Qwen/Qwen3-4B"):
            resolve_model(bad)
    assert parse_scenario("model: hub:Qwen/Qwen3-4B\n").model.name == "hub:Qwen/Qwen3-4B"
    with pytest.raises(ScenarioError, match=r"model\.name"):
        parse_scenario("model: hub:Qwen3-4B\n")


def test_a_cached_hub_model_loads_offline_and_samples(hub_cache: Path) -> None:
    planner = load_planner("hub:acme/tiny-planner", device="cpu")
    assert isinstance(planner, LlmPlanner)
    assert planner.base_dir == hub_cache / "models--acme--tiny-planner" / "snapshots" / COMMIT
    out = planner.sample(["init o1 | o2 goal o2 o1 plan"], n=2, temperature=1.0, max_new_tokens=8, seed=0)
    assert len(out) == 1 and len(out[0]) == 2
    assert load_planner(f"hub:acme/tiny-planner@{COMMIT}", device="cpu").base_dir == planner.base_dir


def test_an_uncached_hub_model_offline_names_the_fix(hub_cache: Path) -> None:
    with pytest.raises(ModelError, match=r"hub:acme/absent: not in the Hugging Face cache .*HF_HUB_OFFLINE"):
        load_planner("hub:acme/absent", device="cpu")
    with pytest.raises(ModelError, match="hf:/path/to/dir"):
        load_planner("hub:acme/tiny-planner@no-such-branch", device="cpu")
