"""vLLM as the sampler of a local Hugging Face model on a CUDA GPU (optional backend).

Why: on a GPU, sampling K completions for every deployed task is where a real LLM spends its
time, and vLLM (paged KV cache, continuous batching, prefix caching) samples many times faster
than ``transformers.generate``. It is optional: vLLM runs on CUDA only, and installing it replaces
the default CPU torch with a CUDA build and pins transformers, numpy and pillow to versions the
default install does not use (pillow >= 13 against pddlgym's < 10), so it lives in its own extra
and its own environment (``docs/models.md``, "vLLM"). Nothing in the default install or the
tests needs it; ``vllm`` is imported lazily, and a machine without it (or without a CUDA device)
gets a :class:`~iterdeploy.simulator.errors.ModelError` that says how to get it or what to use instead.

A scenario selects it with ``model: {name: "vllm:/path/to/model-dir"}`` (see
:mod:`iterdeploy.simulator.models.registry`): the same local directory the default backend reads with
``hf:``, in the ``pddl`` prompt format.

Scope: **sampling only.** :class:`VllmPlanner` is an
:class:`~iterdeploy.simulator.models.llm_planner.LlmPlanner`
whose :meth:`~VllmPlanner.sample_batches` (and so ``sample``) goes through a ``vllm.LLM`` engine.
Training, saving and loading adapters are LlmPlanner's own (transformers + peft, safetensors),
unchanged; they run where that code puts the model, which today is the CPU. The engine serves what the planner
holds:

- the base model, until something is trained or loaded;
- a LoRA adapter (``enable_lora``) through a ``LoRARequest``: after :meth:`train` the new adapter
  is written to a scratch directory on the next :meth:`sample`; after :meth:`load_adapter` the
  directory given is served as it is;
- full fine-tuned weights, which vLLM cannot swap in: the engine is rebuilt on the saved
  directory (slow, and the old engine's GPU memory is freed as far as vLLM allows).

Sampling settings match :meth:`HfPlanner.sample <iterdeploy.simulator.models.hf_planner.HfPlanner.sample>`:
pure sampling at the given temperature (``top_k`` off, ``top_p`` 1.0, no penalties) or greedy at
temperature 0, ``max_new_tokens``, stop at the tokenizer's EOS; prompts are given as the same
token ids (:meth:`LlmPlanner._encode_prompt`) and completions decoded by the same tokenizer, so
prompt rendering and plan extraction do not change. The random streams differ: the same seed
gives different samples than the transformers backend (each prompt's request is seeded with
``seed + its index``).

Not verified on hardware: no GPU was available where this was written. The sampling-parameter
mapping, the prompt and completion handling and the adapter bookkeeping are tested with a fake
engine (``tests/simulator/models/test_vllm_planner.py``); the calls into vLLM follow its
documented offline API (``LLM.generate`` with token prompts, ``SamplingParams``,
``LoRARequest``).
"""

from __future__ import annotations

import gc
import importlib.util
import json
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from iterdeploy.simulator.errors import ModelError
from iterdeploy.simulator.models.device import DTypeName
from iterdeploy.simulator.models.llm_planner import LlmPlanner
from iterdeploy.simulator.models.protocol import (
    BatchStream,
    Completion,
    Example,
    PromptFormat,
    TrainConfig,
    TrainStats,
)

VLLM_DOCS = "docs/models.md, section 'vLLM (optional, CUDA only)'"
"""Where the separate environment is described."""

VLLM_NOT_INSTALLED = (
    "the 'vllm:' model backend needs the vllm package, which is not installed in this environment. "
    "vLLM is optional and CUDA-only, and it installs into its own environment (it replaces the CPU "
    "torch with a CUDA build and pins transformers and pillow): create it as described in "
    f"{VLLM_DOCS} (python -m venv .venv-vllm; .venv-vllm/bin/pip install -e '.[dev]'; "
    ".venv-vllm/bin/pip install 'vllm==0.33.0'), or drop the 'vllm:' prefix (hf:DIR) to sample "
    "the same model with transformers"
)

LORA_RANKS = (8, 16, 32, 64, 128, 256, 320, 512)
"""The ``max_lora_rank`` values vLLM accepts."""

ROWS_PER_CALL = 1024
"""Completions asked of the engine per ``generate`` call (vLLM batches internally; the calls only
pace the progress reports: one per call)."""


def vllm_unavailable_reason() -> str | None:
    """Why vLLM cannot run here (not installed, no CUDA device), or None when it can.

    Checked without importing vllm (its import initialises CUDA and takes seconds).
    """
    if importlib.util.find_spec("vllm") is None:
        return VLLM_NOT_INSTALLED
    import torch

    if not torch.cuda.is_available():
        return (
            f"the 'vllm:' model backend runs on CUDA GPUs only, and torch {torch.__version__} sees "
            "none here (torch.cuda.is_available() is False). Run it on a machine with an NVIDIA GPU "
            f"in the environment of {VLLM_DOCS}, or drop the 'vllm:' prefix (hf:DIR) to sample the "
            "same model with transformers on this machine"
        )
    return None


def sampling_kwargs(
    *, n: int, temperature: float, max_new_tokens: int, seed: int, eos_token_id: int
) -> dict[str, Any]:
    """``vllm.SamplingParams`` arguments that sample as ``HfPlanner.sample`` does.

    Temperature 0 is greedy (vLLM's own convention). Otherwise pure sampling: ``top_k=-1`` (vLLM's
    "off"; ``HfPlanner`` passes transformers' ``top_k=0``), ``top_p=1.0``, ``min_p=0``, and the
    penalties at their neutral values, set explicitly so that a model's ``generation_config.json``
    cannot change them. Token ids are returned undecoded (``detokenize=False``): the planner
    decodes them with the tokenizer the transformers backend uses, so the text is the same.
    """
    kwargs: dict[str, Any] = {
        "n": n,
        "max_tokens": max_new_tokens,
        "seed": seed,
        "stop_token_ids": [eos_token_id],
        "repetition_penalty": 1.0,
        "presence_penalty": 0.0,
        "frequency_penalty": 0.0,
        "detokenize": False,
        "skip_special_tokens": False,
    }
    if temperature > 0:
        kwargs.update(temperature=temperature, top_k=-1, top_p=1.0, min_p=0.0)
    else:
        kwargs.update(temperature=0.0)
    return kwargs


@dataclass(frozen=True)
class VllmApi:
    """The three things of vLLM the planner calls; tests inject fakes.

    Attributes:
        make_engine: ``vllm.LLM`` (keyword arguments: model, tokenizer, dtype, seed, enable_lora,
            max_lora_rank, max_loras, gpu_memory_utilization, max_model_len).
        sampling_params: ``vllm.SamplingParams``.
        lora_request: ``vllm.lora.request.LoRARequest`` (name, integer id, path).
    """

    make_engine: Callable[..., Any]
    sampling_params: Callable[..., Any]
    lora_request: Callable[..., Any]


def import_vllm() -> VllmApi:
    """vLLM's classes, imported now.

    Raises:
        ModelError: vLLM is not installed or there is no CUDA device (the message says what to do).
    """
    reason = vllm_unavailable_reason()
    if reason is not None:
        raise ModelError(reason)
    import vllm
    from vllm.lora.request import LoRARequest

    return VllmApi(vllm.LLM, vllm.SamplingParams, LoRARequest)


def _served_kind(path: Path) -> str:
    """``"lora"`` for a peft adapter directory, ``"full"`` for a model directory."""
    if (path / "adapter_config.json").is_file():
        return "lora"
    if (path / "config.json").is_file():
        return "full"
    raise ModelError(f"{path}: neither a LoRA adapter nor a model directory")


class VllmPlanner(LlmPlanner):
    """A local Hugging Face model directory, sampled by vLLM on a CUDA GPU.

    Args:
        source: a directory written by ``save_pretrained`` (model and tokenizer). GGUF files are
            not served by this backend.
        name: the registry name (``vllm:DIR``).
        prompt_format: ``"pddl"``.
        gpu_memory_utilization: share of GPU memory vLLM reserves for weights and KV cache
            (default: 0.85 when training runs on the CPU, 0.45 when it shares the GPU, leaving
            the trainer room for a second copy of the weights, the adapter and activations).
        max_model_len: longest prompt + completion in tokens (None: the model's own limit).
        dtype: precision of both copies; for vLLM, ``"auto"`` is the checkpoint's own.
        train_device: where the transformers copy that trains each generation's adapter lives
            (``auto``: the GPU when torch sees one; see :mod:`iterdeploy.simulator.models.device`).
        api: vLLM's classes; None imports vllm on first use. Tests pass fakes.

    Raises:
        ModelError: at construction, when vLLM is not installed or there is no CUDA device (unless
            ``api`` is given), or ``source`` is a GGUF file.
    """

    def __init__(
        self,
        source: str | Path,
        *,
        name: str | None = None,
        prompt_format: PromptFormat = "pddl",
        gpu_memory_utilization: float | None = None,
        max_model_len: int | None = None,
        dtype: DTypeName = "auto",
        train_device: str = "auto",
        api: VllmApi | None = None,
    ) -> None:
        if Path(source).suffix.lower() == ".gguf":
            raise ModelError(f"{source}: the vllm backend serves model directories, not GGUF files")
        if api is None:
            reason = vllm_unavailable_reason()  # fail at load, before a run does any work
            if reason is not None:
                raise ModelError(reason)
        super().__init__(source, name=name, prompt_format=prompt_format, device=train_device,
                         dtype=dtype)
        if gpu_memory_utilization is None:
            gpu_memory_utilization = 0.45 if self.device.type == "cuda" else 0.85
        self.gpu_memory_utilization = gpu_memory_utilization
        self.max_model_len = max_model_len
        self.vllm_dtype = dtype
        self._api = api
        self._engine: Any = None
        self._engine_key: tuple[Path, int] | None = None
        """(weights directory, max LoRA rank) the engine was built with."""
        self._served: tuple[str, Path | None] = ("base", None)
        """What sampling uses: ("base", None), ("lora", adapter dir) or ("full", model dir)."""
        self._lora_ids: dict[Path, int] = {}
        self._dirty = False
        """True after training: the weights in memory are not yet on disk for the engine."""
        self._pending_adapter: Path | None = None
        self._scratch: Path | None = None
        self._n_trained = 0

    # -- what the engine serves -----------------------------------------------------------------
    def train(
        self,
        examples: Sequence[Example],
        config: TrainConfig,
        *,
        seed: int,
        on_step: Callable[[int, float], None] | None = None,
    ) -> TrainStats:
        """Train as :class:`LlmPlanner` does; the next :meth:`sample` serves the result."""
        stats = super().train(examples, config, seed=seed, on_step=on_step)
        self._dirty = True
        return stats

    def load_adapter(self, adapter_dir: str | Path) -> None:
        """Serve ``adapter_dir`` (a LoRA adapter or full weights) from the next :meth:`sample`.

        The transformers copy (needed only to train on top of it, in chained mode) is loaded
        lazily, so a run that only samples never reads the weights into CPU memory.
        """
        path = Path(adapter_dir)
        self._served = (_served_kind(path), path)
        self._dirty = False
        self._model = None
        self._pending_adapter = path

    def reset_to_base(self) -> None:
        """Forget fine-tuning in the transformers copy (a fresh adapter starts from the base)."""
        self._pending_adapter = None
        super().reset_to_base()

    @property
    def model(self) -> Any:
        """The transformers model (base, or base + adapter); loaded on first use."""
        if self._model is None and self._pending_adapter is not None:
            path, self._pending_adapter = self._pending_adapter, None
            super().load_adapter(path)
        return super().model

    def _scratch_dir(self) -> Path:
        if self._scratch is None:
            self._scratch = Path(tempfile.mkdtemp(prefix="iterdeploy-vllm-"))
        return self._scratch

    def _publish_trained(self) -> None:
        """Write freshly trained weights where the engine can read them."""
        if not self._dirty:
            return
        self._n_trained += 1
        out = self._scratch_dir() / f"trained-{self._n_trained}"
        self.save(out)
        self._served = (_served_kind(out), out)
        self._dirty = False

    def _lora_rank_needed(self) -> int:
        kind, path = self._served
        if kind != "lora" or path is None:
            return LORA_RANKS[3]
        rank = int(json.loads((path / "adapter_config.json").read_text()).get("r", 16))
        for allowed in LORA_RANKS:
            if allowed >= max(rank, LORA_RANKS[3]):
                return allowed
        raise ModelError(f"{path}: LoRA rank {rank} exceeds what vLLM serves ({LORA_RANKS[-1]})")

    def _ready(self) -> tuple[Any, Any]:
        """The engine for what is served now, and the LoRA request to pass (or None)."""
        if self._api is None:
            self._api = import_vllm()
        self._publish_trained()
        kind, path = self._served
        weights = path if kind == "full" and path is not None else self.base_dir
        key = (weights, self._lora_rank_needed())
        if self._engine is None or self._engine_key != key:
            self._shutdown_engine()
            kwargs: dict[str, Any] = {
                "model": str(weights),
                "tokenizer": str(self.base_dir),
                "dtype": self.vllm_dtype,
                "seed": 0,
                "enable_lora": True,
                "max_lora_rank": key[1],
                "max_loras": 1,
                "gpu_memory_utilization": self.gpu_memory_utilization,
            }
            if self.max_model_len is not None:
                kwargs["max_model_len"] = self.max_model_len
            self._engine = self._api.make_engine(**kwargs)
            self._engine_key = key
        if kind != "lora" or path is None:
            return self._engine, None
        lora_id = self._lora_ids.setdefault(path, len(self._lora_ids) + 1)
        return self._engine, self._api.lora_request(f"adapter-{lora_id}", lora_id, str(path))

    # -- sampling ------------------------------------------------------------------------------
    def _completion(self, output: Any) -> Completion:
        """One vLLM ``CompletionOutput`` as the transformers backend would have returned it.

        The body ends before the first stop token (the EOS, or the token vLLM names in
        ``stop_reason`` when a model's generation config adds another); ``hit_token_limit`` is
        vLLM's ``finish_reason == "length"``.
        """
        tok = self.tokenizer
        ids = [int(t) for t in output.token_ids]
        stops = {tok.eos_token_id}
        if isinstance(getattr(output, "stop_reason", None), int):
            stops.add(int(output.stop_reason))
        end = next((i for i, t in enumerate(ids) if t in stops), None)
        body = ids if end is None else ids[:end]
        body = [t for t in body if t != tok.pad_token_id]
        reason = getattr(output, "finish_reason", None)
        hit_limit = reason == "length" if reason is not None else end is None
        return Completion(
            text=tok.decode(body, skip_special_tokens=False), n_tokens=len(body), hit_token_limit=hit_limit
        )

    def sample_batches(
        self,
        prompts: Sequence[str],
        *,
        n: int,
        temperature: float,
        max_new_tokens: int,
        seed: int,
    ) -> BatchStream:
        """``n`` completions for each prompt (temperature 0 = greedy), sampled by vLLM, yielding
        the row count of each engine call (:meth:`sample`, inherited, runs this to its end).

        :attr:`batch_size` does not bound vLLM's batches (it schedules its own); prompts are
        handed over ``max(batch_size, ROWS_PER_CALL)`` completions at a time so that progress is
        reported as the transformers backend reports it (completions per batch).
        """
        if not prompts:
            return []
        engine, lora = self._ready()
        api = self._api
        if api is None:  # _ready imported it
            raise ModelError("vllm: the engine is ready but its API is not")
        tok = self.tokenizer
        encoded = [self._encode_prompt(p) for p in prompts]
        per_call = max(1, max(self.batch_size, ROWS_PER_CALL) // max(1, n))
        out: list[list[Completion]] = []
        for start in range(0, len(encoded), per_call):
            chunk = encoded[start : start + per_call]
            params = [
                api.sampling_params(
                    **sampling_kwargs(
                        n=n,
                        temperature=temperature,
                        max_new_tokens=max_new_tokens,
                        seed=seed + start + i,
                        eos_token_id=int(tok.eos_token_id),
                    )
                )
                for i in range(len(chunk))
            ]
            results = engine.generate(
                [{"prompt_token_ids": ids} for ids in chunk], params, lora_request=lora, use_tqdm=False
            )
            if len(results) != len(chunk):
                raise ModelError(f"vllm returned {len(results)} results for {len(chunk)} prompts")
            for result in results:
                completions = [self._completion(o) for o in result.outputs]
                if len(completions) != n:
                    raise ModelError(f"vllm returned {len(completions)} completions, expected {n}")
                out.append(completions)
            yield len(chunk) * n
        return out

    # -- cleanup -------------------------------------------------------------------------------
    def _shutdown_engine(self) -> None:
        """Drop the engine and give its GPU memory back as far as vLLM lets a process."""
        if self._engine is None:
            return
        engine, self._engine, self._engine_key = self._engine, None, None
        shutdown = getattr(getattr(engine, "llm_engine", None), "shutdown", None)
        if callable(shutdown):
            shutdown()
        del engine
        gc.collect()
        try:
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except ImportError:  # pragma: no cover - torch is a dependency
            pass

    def close(self) -> None:
        """Drop the engine, the weights and the scratch directory; safe to call twice."""
        self._shutdown_engine()
        super().close()
        self._pending_adapter = None
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None
