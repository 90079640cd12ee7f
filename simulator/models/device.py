"""Where a planner's weights live, and in which precision.

A scenario says ``model.device: auto`` (the default), ``cpu``, ``cuda`` or ``cuda:N``; ``auto``
takes the first CUDA GPU when torch sees one. Why resolve it in one place: the planner moves the
weights, and every batch it builds (sampling, training) must follow them to the same device, so the
planner asks for the device once, when it is built, and a missing GPU is a clear error at the start
of a run rather than a CUDA traceback in the middle of one.

``model.dtype: auto`` is float32 on the CPU (the embedded model's cached weights and the tests are
float32, and CPUs gain little from half precision) and bfloat16 on a GPU (the precision Qwen3 and
most current LLMs are published in; it halves memory and is what the tensor cores run fastest).

torch is imported inside the two functions, not at the top: the scenario validates
``model.device`` against :data:`DEVICE_PATTERN` and names :data:`DTypeName`, and reading or
checking a scenario should not cost a torch import.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Literal

from iterdeploy.simulator.errors import ModelError

if TYPE_CHECKING:
    import torch

DTypeName = Literal["auto", "float32", "bfloat16", "float16"]
"""Precisions a scenario may ask for."""

DEVICE_PATTERN = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")
"""What ``model.device`` accepts."""


def resolve_device(requested: str = "auto") -> torch.device:
    """The torch device for ``requested`` (``auto``, ``cpu``, ``cuda`` or ``cuda:N``).

    Raises:
        ModelError: the string is none of those, or it names a GPU torch cannot see (with the
            reason: a CPU-only torch wheel, or fewer GPUs than the index).
    """
    import torch

    text = requested.strip().lower()
    if not DEVICE_PATTERN.match(text):
        raise ModelError(f"device {requested!r}: use auto, cpu, cuda or cuda:N")
    if text == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(text)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            why = ("this torch is a CPU-only build" if torch.version.cuda is None
                   else "torch sees no CUDA GPU (driver missing, or CUDA_VISIBLE_DEVICES empty)")
            raise ModelError(
                f"device {requested!r} asked for a GPU, but {why}; install a CUDA build of torch "
                "on a machine with a GPU, or set model.device: cpu"
            )
        index = device.index or 0
        if index >= torch.cuda.device_count():
            raise ModelError(
                f"device {requested!r}: torch sees {torch.cuda.device_count()} GPU(s), "
                f"so the highest index is cuda:{torch.cuda.device_count() - 1}"
            )
    return device


def resolve_dtype(requested: DTypeName, device: torch.device) -> torch.dtype:
    """The weights' precision: ``auto`` is float32 on the CPU and bfloat16 on a GPU."""
    import torch

    if requested == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    dtypes = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
    return dtypes[requested]
