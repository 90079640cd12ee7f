"""Device and precision of a planner: resolution, clear errors, and the half-precision path.

CUDA itself is not available here; what can be checked on a CPU is checked: how ``auto`` and
``cuda:N`` resolve (with torch's view of the GPUs patched), that a missing GPU stops a run before
any pretraining with a message naming the fix. That a model loaded in bfloat16 (a GPU run's
precision) samples, trains and saves is checked with the local models of ``test_models_local_hf``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from iterdeploy.simulator.errors import ModelError, ScenarioError
from iterdeploy.simulator.models import registry
from iterdeploy.simulator.models.device import resolve_device, resolve_dtype
from iterdeploy.simulator.scenario import parse_scenario


def _pretend_gpus(monkeypatch: pytest.MonkeyPatch, count: int) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: count > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: count)


def test_auto_takes_the_gpu_when_torch_sees_one(monkeypatch: pytest.MonkeyPatch) -> None:
    _pretend_gpus(monkeypatch, 2)
    assert resolve_device("auto") == torch.device("cuda")
    assert resolve_device("cuda:1") == torch.device("cuda:1")
    assert resolve_dtype("auto", torch.device("cuda")) is torch.bfloat16
    with pytest.raises(ModelError, match=r"sees 2 GPU\(s\).*cuda:1"):
        resolve_device("cuda:2")


def test_auto_is_the_cpu_without_a_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    _pretend_gpus(monkeypatch, 0)
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device(" CPU ") == torch.device("cpu")
    assert resolve_dtype("auto", torch.device("cpu")) is torch.float32
    assert resolve_dtype("float16", torch.device("cpu")) is torch.float16


def test_a_missing_gpu_names_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    _pretend_gpus(monkeypatch, 0)
    with pytest.raises(ModelError, match=r"'cuda' asked for a GPU.*model\.device: cpu"):
        resolve_device("cuda")
    with pytest.raises(ModelError, match="use auto, cpu, cuda or cuda:N"):
        resolve_device("gpu")


def test_a_missing_gpu_stops_before_pretraining(monkeypatch: pytest.MonkeyPatch) -> None:
    _pretend_gpus(monkeypatch, 0)

    def no_pretraining(*args: object, **kwargs: object) -> Path:
        raise AssertionError("pretrained before checking the device")

    monkeypatch.setattr("iterdeploy.simulator.models.embedded.ensure_base", no_pretraining)
    with pytest.raises(ModelError, match="asked for a GPU"):
        registry.load_planner("embedded-tiny-v1", device="cuda")


def test_scenario_device_and_dtype_are_validated_with_their_key() -> None:
    spec = parse_scenario("model:\n  device: cuda:0\n  dtype: bfloat16\n")
    assert spec.model.device == "cuda:0" and spec.model.dtype == "bfloat16"
    assert parse_scenario("").model.device == "auto"
    with pytest.raises(ScenarioError, match=r"model\.device"):
        parse_scenario("model:\n  device: gpu\n")
    with pytest.raises(ScenarioError, match=r"model\.dtype"):
        parse_scenario("model:\n  dtype: float8\n")
