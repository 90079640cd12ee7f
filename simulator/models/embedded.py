"""The embedded default base model: a small Llama pretrained here on reference plans.

No GPU and no model hub are available on a default machine, so the toolkit pretrains its own base
model on plans of *small* Blocksworld tasks written by the reference planner. Like the paper's base
model it solves small tasks and fails larger ones, which leaves the deployment loop room to show
its effect. The result is cached by a content hash of everything that determines it, so a second
run with the same settings loads it in a second.

The default recipe's base also ships inside the package (``simulator/models/shipped/``), built by
this module's own pretraining (``iterdeploy pretrain --check`` rebuilds it and compares it bit for
bit), so a first run on a new machine starts at once instead of pretraining for minutes. It is
checked against its recorded SHA-256 digests before every load; any other recipe still pretrains.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from iterdeploy.simulator.errors import ModelError
from iterdeploy.simulator.limits import MAX_SEED, MAX_WEIGHT
from iterdeploy.simulator.models.compact import compact_domain
from iterdeploy.simulator.models.protocol import Example
from iterdeploy.simulator.planning.blocksworld import NEW_TOWER_CHANCE

if TYPE_CHECKING:  # torch and transformers load only when a base is built: the scenario reads
    # the recipe from here, and validating a scenario should not cost seconds of imports
    from transformers import LlamaForCausalLM, PreTrainedTokenizerFast

    from iterdeploy.simulator.models.compact.blocksworld import BlocksworldFormat

GENERATOR_TOWERS = (NEW_TOWER_CHANCE, NEW_TOWER_CHANCE)
"""``pretrain_new_tower_chance`` at the generator's own chance: the corpus of every base before
the option (left out of their hashes), and of every deployment task."""

TALLER_TOWERS = (0.1, 0.5)
"""The default ``pretrain_new_tower_chance`` since 7 December 2026: a Blocksworld corpus with
taller towers than the deployment tasks' (docs/model-card.md)."""

FORMAT_VERSION = 2
"""Bump when the prompt format or the corpus generator changes (invalidates the cache)."""


class ParamRange(BaseModel):
    """An inclusive range of one generator parameter, drawn uniformly per corpus task (the
    generator's own range is checked by the recipe, which knows the domain)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    min: int = Field(ge=0, le=64)
    max: int = Field(ge=0, le=64)

    @model_validator(mode="after")
    def _ordered(self) -> ParamRange:
        if self.min > self.max:
            raise ValueError(f"min {self.min} > max {self.max}")
        return self

    def draw(self, rng: np.random.Generator) -> int:
        return int(rng.integers(self.min, self.max, endpoint=True))


def draw_params(ranges: Mapping[str, ParamRange], rng: np.random.Generator) -> dict[str, int]:
    """One value of each generator parameter, drawn in name order: the order in which every
    cached corpus drew them, so replayed corpus tasks are drawn as the corpus's are."""
    return {name: r.draw(rng) for name, r in sorted(ranges.items())}


class DomainCorpusSpec(BaseModel):
    """The pretraining corpus of one domain besides Blocksworld (sizes of its main parameter:
    waypoints in Rovers, boxes in Sokoban), the same shape as Blocksworld's: a uniform body and a
    tail that thins out, so the base solves fewer tasks the larger they are."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    min_size: int = Field(1, ge=1, le=20)
    """Smallest task in the corpus."""
    max_size: int = Field(3, ge=1, le=20)
    """Largest size of the uniform body."""
    tail_mass: float = Field(0.25, ge=0.0, lt=1.0)
    """Share of this domain's examples drawn from sizes above ``max_size``."""
    tail_decay: float = Field(0.6, gt=0.0, le=1.0)
    """Each tail size is this much rarer than the one below it."""
    tail_sizes: int = Field(2, ge=0, le=16)
    """How many sizes above ``max_size`` the tail spans."""
    detour_share: float = Field(0.3, ge=0.0, le=1.0)
    """Share of plans with a wasted (still valid) detour, so one task has valid plans of
    different lengths, as with Blocksworld's ``pretrain_detour_share``."""
    weight: float = Field(1.0, gt=0.0, le=MAX_WEIGHT, allow_inf_nan=False)
    """Weight of this domain in the corpus, against Blocksworld's ``pretrain_blocksworld_weight``."""
    steps: int | None = Field(None, ge=1, le=1_000_000)
    """Pretraining steps of this domain's own base, with ``per_domain: true`` only (default: the
    recipe's ``pretrain_steps``): domains need different budgets (Rovers' go took 3,000 steps;
    Blocksworld's default base is 2,000), and each part then hashes as the single-domain recipe
    it is, so bases measured alone are reused."""
    params: dict[str, ParamRange] = Field(default_factory=dict)
    """Other generator parameters than the size, each drawn uniformly from its range for every
    corpus task, e.g. ``{n_rovers: {min: 1, max: 2}}``: Rovers gives a task one rover up to 5
    waypoints and two from 6, so without this a corpus of 2-4 waypoints never shows two rovers
    sharing the work. Empty (the default): each parameter follows its generator's default for
    the size, and the corpus spends no draw on it."""

    def size_distribution(self) -> tuple[np.ndarray, np.ndarray]:
        """Sizes of this corpus and their probabilities (uniform body, geometric tail)."""
        return _size_distribution(self.min_size, self.max_size, self.tail_mass, self.tail_decay,
                                  self.tail_sizes)


class EmbeddedModelSpec(BaseModel):
    """Architecture and pretraining recipe of the embedded base model."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    n_layers: int = Field(4, ge=1, le=12)
    """Transformer blocks."""
    hidden_size: int = Field(128, ge=32, le=1024)
    """Model width."""
    n_heads: int = Field(4, ge=1, le=16)
    """Attention heads (RoPE positions)."""
    intermediate_size: int = Field(384, ge=32, le=4096)
    """MLP width."""
    position_encoding: Literal["rope", "none"] = "rope"
    """``rope``: Llama's rotary positions. ``none``: no position signal at all (NoPE), which
    studies of length generalisation found to extrapolate past the trained lengths better than
    RoPE (Kazemnejad et al. 2023; Zhou et al. 2024): the causal mask alone tells the model the
    order. It is written as RoPE with every frequency divided by 1e9 (``rope_type: linear``), so
    a saved model loads in stock transformers and peft; at the loop's lengths (under 1,024
    positions) the largest rotation is 1e-6 rad, below float32's resolution of a cosine."""
    pretrain_min_blocks: int = Field(2, ge=2, le=20)
    """Smallest task in the pretraining corpus."""
    pretrain_max_blocks: int = Field(4, ge=2, le=20)
    """Largest task in the pretraining corpus: the base model's reach."""
    pretrain_tail_mass: float = Field(0.25, ge=0.0, lt=1.0)
    """Share of the corpus drawn from sizes above ``pretrain_max_blocks`` (a tail that thins out,
    so the base model solves fewer tasks the larger they are, as a pretrained LLM would, and the
    loop has a frontier to push; 0 gives a hard cliff at ``pretrain_max_blocks``). The default
    (0.25 over 5-9 blocks, each size 0.6 times as common as the one below) is the first recipe
    whose base solves some tasks of a size it never saw (10 blocks), docs/model-card.md."""
    pretrain_tail_decay: float = Field(0.6, gt=0.0, le=1.0)
    """Each size above the maximum is this much rarer than the one below it."""
    pretrain_tail_sizes: int = Field(5, ge=1, le=16)
    """How many sizes above ``pretrain_max_blocks`` the tail spans. A size the corpus never
    shows is one the base rarely solves, and a size shown rarely needs pretraining long enough
    to be learnt: a tail over 5-10 blocks gave no valid sample at 7 blocks and above after 1,200
    steps; over 5-9 blocks after 2,000-3,000 steps the base writes valid plans up to 10-11
    blocks (docs/model-card.md)."""
    pretrain_detour_share: float = Field(0.3, ge=0.0, le=1.0)
    """Share of pretraining plans with one redundant move (a block lifted and put straight back):
    the base then sometimes wastes two steps, so valid plans of one task differ in length and a
    curation rule about plan length has something to select. It also made the base stronger at
    every size from 5 blocks up; in the default recipe since 25 November 2026."""
    pretrain_new_tower_chance: tuple[float, float] = TALLER_TOWERS
    """Range of the Blocksworld corpus's chance that a block starts a new tower rather than going
    on top of the last one, drawn per task (0.5 is the generator's own and every deployment
    task's: towers of 2 blocks on average). Lower values show taller towers. Why: at 11-12
    blocks half the step failures are the first action, a block unstacked from the middle of a
    tower, and more so the taller the towers; a corpus drawn from (0.1, 0.5) made that first
    action right more often at 8-13 blocks, and the quickstart on its base doubled the pool in
    all three seeds, against one of three at (0.5, 0.5) (docs/changelog.md, 7 December 2026).
    The default since then; ``[0.5, 0.5]`` rebuilds the earlier default base
    (``e7d7ddf5ecdde358``, pretrained on 2 torch threads). It means nothing without Blocksworld
    in the corpus, and is then left out of the recipe's hash."""
    pretrain_steps: int = Field(2000, ge=1, le=1_000_000)
    """Optimiser steps of pretraining (each on freshly generated tasks). 2,000 packed steps take
    about 5 minutes on a 2-core CPU; 3,000 make a stronger base (docs/model-card.md) but would
    break the quickstart's 15-minute budget."""
    pretrain_batch_size: int = Field(32, ge=1, le=4096)
    """Examples per pretraining step."""
    pretrain_lr: float = Field(2e-3, gt=0, le=1.0, allow_inf_nan=False)
    """Peak learning rate of pretraining."""
    pretrain_packed: bool = True
    """Pack each step's examples into rows instead of padding them to the longest (the same
    gradients up to floating-point order, 2.2-2.5x faster: a padded pretraining batch of 2-7-block
    tasks is 63% padding). ``False`` reproduces the base models cached before packing."""
    pretrain_domains: dict[str, DomainCorpusSpec] = {}
    """Domains pretrained besides Blocksworld (``rovers``, ``sokoban``: the compact format's
    domains, :mod:`iterdeploy.simulator.models.compact`), each with its corpus. One model plans them all
    unless ``per_domain`` asks for one model per domain."""
    pretrain_blocksworld_weight: float = Field(1.0, ge=0.0, le=MAX_WEIGHT, allow_inf_nan=False)
    """Weight of Blocksworld in the corpus against the ``pretrain_domains`` (0: none)."""
    per_domain: bool = False
    """One base model per domain (:meth:`split`) instead of one model for all of them: each
    domain gets the whole capacity and pretraining budget, and
    :class:`iterdeploy.simulator.models.routed.DomainRoutedPlanner` sends every prompt and training example
    to its domain's model. With one domain it changes nothing."""
    seed: int = Field(0, ge=0, le=MAX_SEED)
    """Seed of the corpus and the initial weights."""

    @model_validator(mode="after")
    def _known_domains(self) -> EmbeddedModelSpec:
        low, high = self.pretrain_new_tower_chance
        if not 0.05 <= low <= high <= 0.95:
            raise ValueError(f"pretrain_new_tower_chance: [{low}, {high}] must be a range with "
                             "0.05 <= low <= high <= 0.95")
        for name in self.pretrain_domains:
            try:
                compact_domain(name)
            except ValueError as exc:  # names the domains the format covers
                raise ValueError(f"pretrain_domains.{name}: {exc}") from None
        if name_clash := sorted(set(self.pretrain_domains) & {"blocksworld"}):
            raise ValueError(f"{name_clash[0]} is configured by the pretrain_* fields, not "
                             "pretrain_domains")
        for name, corpus in self.pretrain_domains.items():
            _check_corpus_params(name, corpus)
        if self.pretrain_blocksworld_weight == 0 and not self.pretrain_domains:
            raise ValueError("pretrain_blocksworld_weight 0 leaves no domain to pretrain on")
        own_steps = sorted(n for n, c in self.pretrain_domains.items() if c.steps is not None)
        if own_steps and not self.per_domain and len(self.corpora()) > 1:
            raise ValueError(f"pretrain_domains.{own_steps[0]}.steps: a domain has steps of its own "
                             "only with per_domain: true (one model trains all domains together)")
        return self

    def corpora(self) -> dict[str, DomainCorpusSpec]:
        """Every domain this base is pretrained on, with its corpus, Blocksworld first: its
        ``pretrain_*`` fields read as a :class:`DomainCorpusSpec` (the fields stay as they are,
        so cached bases keep their hashes), then the ``pretrain_domains`` by name."""
        head = {}
        if self.pretrain_blocksworld_weight > 0:
            head["blocksworld"] = DomainCorpusSpec(
                min_size=self.pretrain_min_blocks, max_size=self.pretrain_max_blocks,
                tail_mass=self.pretrain_tail_mass, tail_decay=self.pretrain_tail_decay,
                tail_sizes=self.pretrain_tail_sizes, detour_share=self.pretrain_detour_share,
                weight=self.pretrain_blocksworld_weight)
        return head | dict(sorted(self.pretrain_domains.items()))

    def domains(self) -> tuple[str, ...]:
        """The registry names of the domains this base plans."""
        return tuple(self.corpora())

    def split(self) -> dict[str, EmbeddedModelSpec]:
        """One single-domain recipe per domain, same architecture and seed: Blocksworld's keeps its
        ``pretrain_*`` corpus and steps (so the default recipe's Blocksworld part is the default
        base, cached once), every other domain its own corpus at weight 1, with its own ``steps``
        where it names them."""
        out = {}
        for name, corpus in self.corpora().items():
            if name == "blocksworld":
                update: dict[str, object] = {"pretrain_domains": {}, "pretrain_blocksworld_weight": 1.0}
            else:
                update = {"pretrain_domains": {name: corpus.model_copy(update={"weight": 1.0,
                                                                               "steps": None})},
                          "pretrain_blocksworld_weight": 0.0,
                          "pretrain_steps": corpus.steps or self.pretrain_steps}
            out[name] = self.model_copy(update={**update, "per_domain": False})
        return out

    def content_hash(self) -> str:
        """Hash of everything that determines the weights."""
        spec = self.model_dump()
        for name, neutral in _ADDED_LATER.items():  # older caches stay valid
            if spec[name] == neutral:
                del spec[name]
        if self.pretrain_blocksworld_weight == 0:  # a Blocksworld option changes no weight then
            spec.pop("pretrain_new_tower_chance", None)
        for corpus in spec.get("pretrain_domains", {}).values():  # likewise for a corpus's fields
            if corpus.get("steps") is None:
                corpus.pop("steps", None)
            if not corpus.get("params"):
                corpus.pop("params", None)
        content: dict[str, object] = {"spec": spec, "format": FORMAT_VERSION, "vocab": _vocab(self)}
        if revised := {name: v for name in self.domains()
                       if (v := compact_domain(name).version) != 1}:
            content["domain_formats"] = revised  # bases of first versions keep their hashes
        payload = json.dumps(content, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


_ADDED_LATER: dict[str, object] = {
    "position_encoding": "rope",
    "pretrain_detour_share": 0.0,
    "pretrain_tail_sizes": 3,
    "pretrain_packed": False,
    "pretrain_domains": {},
    "pretrain_blocksworld_weight": 1.0,
    "per_domain": False,
    "pretrain_new_tower_chance": GENERATOR_TOWERS,
}
"""Fields added after models were cached, with the value that reproduces the older weights; at that
value they are left out of the content hash."""


def _vocab(spec: EmbeddedModelSpec) -> list[str]:
    """The tokenizer's words: Blocksworld's first, in the order every cached base has them (even
    when Blocksworld's weight is 0, so a domain's words keep their ids), then each other domain's
    new words in the order its format lists them."""
    words = compact_domain("blocksworld").words()
    seen = set(words)
    for name in sorted(spec.pretrain_domains):
        for word in compact_domain(name).words():
            if word not in seen:
                seen.add(word)
                words.append(word)
    return words


def cache_root() -> Path:
    """Where pretrained base models are cached (``ITERDEPLOY_CACHE`` overrides)."""
    default = Path.home() / ".cache" / "iterdeploy"
    return Path(os.environ.get("ITERDEPLOY_CACHE", default)) / "models"


SHIPPED_ROOT = Path(__file__).parent / "shipped"
"""Pretrained bases that ship with the package, one ``embedded-<content hash>`` directory each."""

DIGESTS = "SHA256SUMS"
"""A shipped base's digests, ``sha256sum`` format: one ``<hex digest>  <file name>`` line a file."""

REPRODUCED_FILES = ("model.safetensors", "config.json", "generation_config.json",
                    "tokenizer.json", "tokenizer_config.json")
"""What pretraining must rebuild bit for bit for a shipped base to count as reproduced
(``iterdeploy_spec.json`` records the recipe as the writing version spelled it, and is left out)."""


def file_digest(path: Path) -> str:
    """SHA-256 of a file, hex."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_digests(directory: Path) -> dict[str, str]:
    """A shipped base's recorded digests, file name → hex digest."""
    out: dict[str, str] = {}
    for line in (directory / DIGESTS).read_text(encoding="ascii").splitlines():
        digest, _, name = line.partition("  ")
        if line.strip():
            out[name.strip()] = digest.strip()
    return out


def verified_shipped(name: str) -> Path | None:
    """The shipped base ``name`` (``embedded-<hash>``) after checking every file against its
    digests, or None when the package ships no base of that name.

    Raises:
        ModelError: When a shipped file is missing or its digest differs (a damaged install).
    """
    directory = SHIPPED_ROOT / name
    if not (directory / DIGESTS).is_file():
        return None
    for file, digest in read_digests(directory).items():
        path = directory / file
        actual = file_digest(path) if path.is_file() else "missing"
        if actual != digest:
            raise ModelError(
                f"{path}: the shipped base model is damaged (sha256 {actual[:16]}, recorded "
                f"{digest[:16]}); reinstall iterdeploy")
    return directory


def base_directory(name: str) -> Path | None:
    """Where the pretrained base ``name`` (``embedded-<hash>``) can be loaded from without
    pretraining: the cache first, then the package's shipped bases; None when it must be
    pretrained."""
    cached = cache_root() / name
    if (cached / "config.json").is_file():
        return cached
    return verified_shipped(name)


def reference_example(
    n_blocks: int, rng: np.random.Generator, detour_share: float = 0.0
) -> Example:
    """One Blocksworld pretraining pair: a random task and its reference plan, under random
    object names."""
    return compact_domain("blocksworld").corpus_example(n_blocks, rng, detour_share)


def _check_corpus_params(name: str, corpus: DomainCorpusSpec) -> None:
    """Refuse, naming the key, corpus parameters the domain's generator does not take, the size
    itself, and values it refuses at any of the corpus's sizes (checked at each end of each
    range, with the other parameters at theirs)."""
    from iterdeploy.simulator.planning.generators import main_param, resolve_params

    if not corpus.params:
        return
    where = f"pretrain_domains.{name}.params"
    if main_param(name) in corpus.params:
        raise ValueError(f"{where}: {main_param(name)} is the corpus's size (min_size, max_size, "
                         "tail_sizes), not a parameter")
    sizes, _ = corpus.size_distribution()
    for size in sizes:
        for end in ("min", "max"):
            values = {k: getattr(r, end) for k, r in corpus.params.items()}
            try:
                resolve_params(name, {**values, main_param(name): int(size)})
            except ValueError as exc:
                raise ValueError(f"{where}: {exc}") from None


def _size_distribution(
    low: int, high: int, tail_mass: float, tail_decay: float, tail_sizes: int, cap: int = 20,
) -> tuple[np.ndarray, np.ndarray]:
    body = np.arange(low, high + 1)
    tail = np.arange(high + 1, high + 1 + tail_sizes)
    tail = tail[tail <= cap]
    body_p = np.full(len(body), (1.0 - tail_mass) / len(body))
    tail_w = tail_decay ** np.arange(len(tail))
    tail_p = tail_mass * tail_w / tail_w.sum() if len(tail) else tail_w
    sizes = np.concatenate([body, tail])
    probs = np.concatenate([body_p, tail_p])
    return sizes, probs / probs.sum()


def pretrain_size_distribution(spec: EmbeddedModelSpec) -> tuple[np.ndarray, np.ndarray]:
    """Sizes of the Blocksworld corpus and their probabilities (uniform body, geometric tail)."""
    return _size_distribution(spec.pretrain_min_blocks, spec.pretrain_max_blocks,
                              spec.pretrain_tail_mass, spec.pretrain_tail_decay,
                              spec.pretrain_tail_sizes)


def corpus_sampler(spec: EmbeddedModelSpec) -> Callable[[np.random.Generator], Example]:
    """Draws one pretraining example: a domain by weight, a size from its distribution, a task
    and its reference plan. A Blocksworld-only recipe spends no draw on the domain, so the
    corpora (and the cached weights) of older recipes are reproduced exactly."""

    towers = spec.pretrain_new_tower_chance

    def sampler(name: str, corpus: DomainCorpusSpec) -> Callable[[np.random.Generator], Example]:
        sizes, probs = corpus.size_distribution()
        fmt = compact_domain(name)
        if name == "blocksworld" and towers != GENERATOR_TOWERS:  # the one domain with the option
            bw = cast("BlocksworldFormat", fmt)
            return lambda rng: bw.corpus_example(int(rng.choice(sizes, p=probs)), rng,
                                                 corpus.detour_share, new_tower_chance=towers)
        if corpus.params:  # drawn after the size
            return lambda rng: fmt.corpus_example(
                int(rng.choice(sizes, p=probs)), rng, corpus.detour_share,
                params=draw_params(corpus.params, rng))
        return lambda rng: fmt.corpus_example(int(rng.choice(sizes, p=probs)), rng,
                                              corpus.detour_share)

    corpora = spec.corpora()
    samplers = [sampler(name, corpus) for name, corpus in corpora.items()]
    if not spec.pretrain_domains:
        return samplers[0]
    weights = [corpus.weight for corpus in corpora.values()]
    p = np.asarray(weights) / sum(weights)

    def mixed(rng: np.random.Generator) -> Example:
        return samplers[int(rng.choice(len(samplers), p=p))](rng)

    return mixed


NO_POSITIONS_FACTOR = 1e9
"""The linear RoPE scaling that stands for no positions (``position_encoding: none``)."""


def _rope_parameters(spec: EmbeddedModelSpec) -> dict[str, Any] | None:
    """The config's ``rope_parameters`` for the spec's position encoding: None (transformers'
    default RoPE, the config every cached base was built with) unless it is ``none``."""
    if spec.position_encoding == "rope":
        return None
    return {"rope_type": "linear", "factor": NO_POSITIONS_FACTOR, "rope_theta": 10000.0}


def build_base(spec: EmbeddedModelSpec) -> tuple[LlamaForCausalLM, PreTrainedTokenizerFast]:
    """A freshly initialised (untrained) model and its tokenizer."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from iterdeploy.simulator.models._tokenizer import build_tokenizer

    tok = build_tokenizer(_vocab(spec))
    config = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=spec.hidden_size,
        intermediate_size=spec.intermediate_size,
        num_hidden_layers=spec.n_layers,
        num_attention_heads=spec.n_heads,
        num_key_value_heads=spec.n_heads,
        max_position_embeddings=1024,
        tie_word_embeddings=True,
        pad_token_id=tok.pad_token_id,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        rope_parameters=_rope_parameters(spec),
    )
    torch.manual_seed(spec.seed)
    return LlamaForCausalLM(config), tok


def pretrain(
    spec: EmbeddedModelSpec, on_step: Callable[[int, float], None] | None = None
) -> tuple[LlamaForCausalLM, PreTrainedTokenizerFast, float | None]:
    """Pretrain the base model on freshly generated reference plans; returns (model, tok, loss)."""
    from iterdeploy.simulator.models.training import train_sft

    model, tok = build_base(spec)
    rng = np.random.default_rng([spec.seed, 17])
    draw = corpus_sampler(spec)

    def batch(step: int) -> Sequence[Example]:
        # one batch mixes every size, padded to its longest example. Batches cut by length
        # (similar sizes together, each slice weighted by its share of the tokens) pretrained
        # 1.5-2x faster but measurably worse bases: with the detour recipe, 23 of 160 five-block
        # samples valid against 48 (docs/model-card.md)
        return [draw(rng) for _ in range(spec.pretrain_batch_size)]

    stats = train_sft(
        model, tok, batch, n_steps=spec.pretrain_steps, lr=spec.pretrain_lr, seed=spec.seed,
        warmup_steps=min(50, spec.pretrain_steps // 10), on_step=on_step, pack=spec.pretrain_packed,
    )
    return model, tok, stats.final_loss


def ensure_base(
    spec: EmbeddedModelSpec, on_step: Callable[[int, float], None] | None = None
) -> Path:
    """Directory of the pretrained base for ``spec``: the cache's, else the package's shipped
    one, else a new one, pretrained into the cache."""
    target = cache_root() / f"embedded-{spec.content_hash()}"
    ready = base_directory(target.name)
    if ready is not None:
        return ready
    with _pretraining_lock(target):
        ready = base_directory(target.name)  # pretrained by another process while this one waited
        if ready is not None:
            return ready
        return pretrain_into(spec, target, on_step)


@contextlib.contextmanager
def _pretraining_lock(target: Path) -> Iterator[None]:
    """Hold ``<target>.lock`` (an OS lock) while pretraining ``target``.

    Why: runs started together on one cache (a sweep's parallel runs, test workers) would each
    pretrain the same missing base for minutes, one result kept; with the lock the first
    pretrains and the others wait for it, then load what it wrote. The lock goes with the holder
    if it dies; the file itself stays (empty, harmless)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(target.with_name(target.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def pretraining_provenance(seconds: float) -> dict[str, object]:
    """What besides the recipe shaped a base's weights, for its ``iterdeploy_spec.json``.

    Why: the content hash names the recipe, but floating-point reductions follow torch's thread
    count, so one recipe pretrained on one thread and on two gives different weights (over the
    6,000 steps of the Sokoban recipe, bases of visibly different reach, docs/model-card.md). The
    hash stays as it is (adding the count would orphan every cached and shipped base); the file
    records the count so that a base's reach can be traced to how it was made. The instruction
    set torch's CPU kernels use (``cpu``: ``AVX2``, ``AVX512``, ...) is recorded for the same
    reason: kernels for another one round differently, so the same recipe on the same thread
    count gave other weights on an AVX2 machine than on the AVX-512 one the shipped base was
    built on (docs/model-card.md).
    """
    import torch

    return {"torch_threads": torch.get_num_threads(), "torch": torch.__version__,
            "cpu": torch.backends.cpu.get_cpu_capability(), "seconds": round(seconds, 1)}


def recorded_cpu(directory: Path) -> str | None:
    """The instruction set torch's CPU kernels used when a base was pretrained (None:
    unrecorded, as in bases written before 8 December 2026, the shipped one included)."""
    cpu = _provenance(directory).get("cpu")
    return cpu if isinstance(cpu, str) else None


def _provenance(directory: Path) -> dict[str, Any]:
    """A base directory's ``pretrained_with`` record; empty when missing or unreadable."""
    try:
        record = json.loads((directory / "iterdeploy_spec.json").read_text(encoding="utf-8"))
        provenance = record["pretrained_with"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    return provenance if isinstance(provenance, dict) else {}


def recorded_threads(directory: Path) -> int | None:
    """The torch thread count a base directory says it was pretrained with (None: unrecorded,
    as in bases written before 7 December 2026, or unreadable)."""
    threads = _provenance(directory).get("torch_threads")
    return threads if isinstance(threads, int) else None


def pretrain_into(
    spec: EmbeddedModelSpec, target: Path, on_step: Callable[[int, float], None] | None = None
) -> Path:
    """Pretrain ``spec`` and save it as ``target`` with its digests (:data:`DIGESTS`).

    The directory appears atomically (written aside, then renamed), so an interrupted
    pretraining never leaves a half-written entry behind; if another process finished the same
    entry first, theirs is kept (the same recipe: identical weights when pretrained on the
    same number of torch threads, which ``iterdeploy_spec.json`` records).
    """
    started = time.perf_counter()
    model, tok, loss = pretrain(spec, on_step)
    tmp = target.with_name(target.name + f".tmp{os.getpid()}")
    model.save_pretrained(tmp, safe_serialization=True)
    tok.save_pretrained(tmp)
    (tmp / "iterdeploy_spec.json").write_text(json.dumps({
        "spec": spec.model_dump(), "final_loss": loss,
        "pretrained_with": pretraining_provenance(time.perf_counter() - started),
    }, indent=2))
    (tmp / DIGESTS).write_text("".join(f"{file_digest(tmp / f)}  {f}\n" for f in REPRODUCED_FILES),
                               encoding="ascii")
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        tmp.rename(target)
    except OSError:  # another process finished first: the same recipe, kept
        if not (target / "config.json").is_file():
            raise
    return target
