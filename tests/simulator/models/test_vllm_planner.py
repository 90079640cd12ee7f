"""The optional vLLM backend (``vllm:DIR``): its error path, and its bookkeeping with a fake engine.

vLLM is CUDA-only and lives in its own environment (docs/models.md), so these tests never run
vLLM. What they check is what does not need it:

- without vllm installed (or without a CUDA device) loading a ``vllm:`` model fails at once with
  a :class:`ModelError` that names the fix, while resolving the name (scenario validation) works;
- the mapping of the planner's sampling arguments to ``vllm.SamplingParams``;
- the path around the engine, with a fake engine injected in place of ``vllm.LLM``: prompts go in
  as the token ids the transformers backend would feed, completions come back decoded by the
  same tokenizer, cut at EOS or at vLLM's stop token, flagged at the token limit, and the PDDL
  plan extracted from them validates;
- which weights the engine serves after training (a LoRA adapter through a ``LoRARequest``, full
  weights by rebuilding the engine) and after ``load_adapter``.

This is bookkeeping testing for an optional backend: it shows that our side of the calls is right
under the documented vLLM API, not that vLLM behaves as documented. Running it on a GPU is the
check that is still missing (no GPU was available where it was written).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from iterdeploy.simulator.errors import ModelError
from iterdeploy.simulator.models import vllm_planner
from iterdeploy.simulator.models.hf_planner import TrainConfig
from iterdeploy.simulator.models.pddl_format import PddlPromptFormat, domain_pddl_text, render_pddl_completion
from iterdeploy.simulator.models.progress import sample_with_progress
from iterdeploy.simulator.models.protocol import PlannerModel
from iterdeploy.simulator.models.registry import load_planner, resolve_model
from iterdeploy.simulator.models.training import Example
from iterdeploy.simulator.models.vllm_planner import VllmApi, VllmPlanner, sampling_kwargs
from iterdeploy.simulator.planning import generate_tasks, validate_plan

TASKS = list(generate_tasks("blocksworld", {"n_blocks": 3}, seed=0, n=3))


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 1-layer Llama with a byte-level BPE tokenizer (exact round trip of PDDL text)."""
    texts = [domain_pddl_text("blocksworld")] + [
        g.problem_pddl + "\n" + "\n".join(g.witness_plan)
        for g in generate_tasks("blocksworld", {"n_blocks": 3}, seed=1, n=10)
    ]
    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    core.train_from_iterator(
        texts,
        trainers.BpeTrainer(
            vocab_size=300,
            special_tokens=["<|end|>", "<|stop|>"],
            show_progress=False,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        ),
    )
    tok = PreTrainedTokenizerFast(tokenizer_object=core, eos_token="<|end|>")
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        eos_token_id=tok.eos_token_id,
    )
    out = tmp_path_factory.mktemp("vllm-test") / "tiny-llama"
    LlamaForCausalLM(config).save_pretrained(out, safe_serialization=True)
    tok.save_pretrained(out)
    return out


# -- without vllm ------------------------------------------------------------------------------
def _hide_vllm(monkeypatch: pytest.MonkeyPatch, *, installed: bool) -> None:
    """Make ``vllm`` look absent (or present) to the planner, whatever this environment has."""
    real = importlib.util.find_spec

    def find_spec(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "vllm":
            return object() if installed else None
        return real(name, *args, **kwargs)

    monkeypatch.setattr(vllm_planner.importlib.util, "find_spec", find_spec)


def test_without_vllm_loading_fails_at_once_and_names_the_fix(
    model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _hide_vllm(monkeypatch, installed=False)
    info = resolve_model(f"vllm:{model_dir}")  # a scenario naming it still validates here
    assert (info.kind, info.prompt_format, info.path) == ("vllm", "pddl", model_dir)
    with pytest.raises(ModelError) as err:
        load_planner(f"vllm:{model_dir}")
    message = str(err.value)
    assert "vllm package, which is not installed" in message
    assert "docs/models.md" in message and "pip install 'vllm==" in message
    assert "hf:DIR" in message  # and what to use on this machine instead
    with pytest.raises(ModelError, match="not installed"):
        vllm_planner.import_vllm()


def test_without_cuda_the_error_says_so(model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _hide_vllm(monkeypatch, installed=True)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ModelError, match=r"CUDA GPUs only.*torch\.cuda\.is_available\(\) is False"):
        load_planner(f"vllm:{model_dir}")


def test_the_vllm_prefix_needs_a_model_directory(model_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="vllm: needs a local model directory"):
        resolve_model("vllm:")
    with pytest.raises(ModelError, match="no such file or directory"):
        resolve_model("vllm:/no/such/model")
    (tmp_path / "m.gguf").write_bytes(b"GGUF")
    with pytest.raises(ModelError, match="vllm: needs a local model directory"):
        resolve_model(f"vllm:{tmp_path / 'm.gguf'}")


# -- sampling parameters -------------------------------------------------------------------------
def test_sampling_parameters_match_the_transformers_backend() -> None:
    sampled = sampling_kwargs(n=8, temperature=1.0, max_new_tokens=320, seed=7, eos_token_id=3)
    assert sampled["n"] == 8 and sampled["max_tokens"] == 320 and sampled["seed"] == 7
    assert (sampled["temperature"], sampled["top_k"], sampled["top_p"], sampled["min_p"]) == (
        1.0,
        -1,
        1.0,
        0.0,
    )
    assert sampled["stop_token_ids"] == [3]
    assert (sampled["repetition_penalty"], sampled["presence_penalty"], sampled["frequency_penalty"]) == (
        1.0,
        0.0,
        0.0,
    )
    assert sampled["detokenize"] is False and sampled["skip_special_tokens"] is False
    greedy = sampling_kwargs(n=1, temperature=0.0, max_new_tokens=16, seed=0, eos_token_id=3)
    assert greedy["temperature"] == 0.0 and "top_k" not in greedy and "top_p" not in greedy


# -- a fake engine ---------------------------------------------------------------------------------
@dataclass
class FakeOutput:
    token_ids: list[int]
    finish_reason: str
    stop_reason: int | str | None = None


@dataclass
class FakeResult:
    outputs: list[FakeOutput]


@dataclass
class FakeEngine:
    """Stands in for ``vllm.LLM``: answers each request with ``reply(prompt_ids, sample_index)``."""

    kwargs: dict[str, Any]
    reply: Any
    calls: list[tuple[list[dict[str, Any]], list[dict[str, Any]], Any]] = field(default_factory=list)

    def generate(
        self,
        prompts: list[dict[str, Any]],
        params: list[dict[str, Any]],
        *,
        lora_request: Any = None,
        use_tqdm: bool = True,
    ) -> list[FakeResult]:
        assert use_tqdm is False and len(prompts) == len(params)
        self.calls.append((prompts, params, lora_request))
        return [
            FakeResult([self.reply(p["prompt_token_ids"], j) for j in range(sp["n"])])
            for p, sp in zip(prompts, params, strict=True)
        ]


@dataclass
class FakeVllm:
    """The three vLLM names the planner uses, recording what it built."""

    reply: Any
    engines: list[FakeEngine] = field(default_factory=list)

    def make_engine(self, **kwargs: Any) -> FakeEngine:
        self.engines.append(FakeEngine(kwargs, self.reply))
        return self.engines[-1]

    def api(self) -> VllmApi:
        return VllmApi(self.make_engine, dict, lambda name, lora_id, path: ("lora", name, lora_id, path))


def test_prompts_and_plans_pass_through_the_engine_as_in_the_transformers_backend(model_dir: Path) -> None:
    fake = FakeVllm(reply=lambda ids, j: FakeOutput([], "stop"))
    planner = VllmPlanner(model_dir, name=f"vllm:{model_dir}", api=fake.api())
    assert isinstance(planner, PlannerModel) and planner.prompt_format == "pddl"
    tok = planner.tokenizer
    fmt = PddlPromptFormat(tok, n_shots=1)
    prompts = [fmt.prompt("blocksworld", g.problem_pddl, task=g.task) for g in TASKS]
    plan_ids = {
        tuple(planner._encode_prompt(p)): tok(
            render_pddl_completion(g.witness_plan), add_special_tokens=False
        )["input_ids"]
        for p, g in zip(prompts, TASKS, strict=True)
    }
    stop = tok.convert_tokens_to_ids("<|stop|>")

    def reply(ids: list[int], j: int) -> FakeOutput:
        plan = list(plan_ids[tuple(ids)])
        if j == 0:  # ended by EOS, which vLLM returns in token_ids
            return FakeOutput([*plan, tok.eos_token_id, 5, 6], "stop")
        if j == 1:  # ended by another stop token from the model's generation config
            return FakeOutput([*plan, stop], "stop", stop_reason=stop)
        return FakeOutput(plan[:3], "length")  # cut at the token limit

    fake.reply = reply
    progress: list[int] = []
    out = sample_with_progress(planner, prompts, n=3, temperature=1.0, max_new_tokens=40, seed=100,
                               on_rows=progress.append)

    (engine,) = fake.engines
    assert engine.kwargs["model"] == str(model_dir) and engine.kwargs["tokenizer"] == str(model_dir)
    assert engine.kwargs["enable_lora"] is True
    (call,) = engine.calls
    sent, params, lora = call
    assert [p["prompt_token_ids"] for p in sent] == [planner._encode_prompt(p) for p in prompts]
    assert [sp["seed"] for sp in params] == [100, 101, 102]
    assert all(sp["n"] == 3 and sp["max_tokens"] == 40 and sp["temperature"] == 1.0 for sp in params)
    assert lora is None  # nothing trained: the base model
    assert sum(progress) == 9

    assert [len(c) for c in out] == [3, 3, 3]
    for comps, g in zip(out, TASKS, strict=True):
        expected = render_pddl_completion(g.witness_plan)
        for comp in comps[:2]:
            assert comp.text == expected and not comp.hit_token_limit
            assert comp.n_tokens == len(
                plan_ids[
                    tuple(planner._encode_prompt(fmt.prompt("blocksworld", g.problem_pddl, task=g.task)))
                ]
            )
            plan_text = fmt.extract(comp.text, "blocksworld").plan_text
            assert validate_plan(g.task, plan_text).is_valid
        assert comps[2].hit_token_limit and comps[2].n_tokens == 3
    greedy = planner.sample(prompts[:1], n=1, temperature=0.0, max_new_tokens=40, seed=0)
    assert greedy[0][0].text == render_pddl_completion(TASKS[0].witness_plan)
    assert engine.calls[-1][1][0]["temperature"] == 0.0
    assert planner.sample([], n=2, temperature=1.0, max_new_tokens=8, seed=0) == []
    planner.close()
    planner.close()


def test_the_engine_serves_what_was_trained_or_loaded(model_dir: Path, tmp_path: Path) -> None:
    fake = FakeVllm(reply=lambda ids, j: FakeOutput([], "stop"))
    planner = VllmPlanner(model_dir, api=fake.api())
    examples = [Example(g.problem_pddl, render_pddl_completion(g.witness_plan)) for g in TASKS]

    def served() -> tuple[FakeEngine, Any]:
        planner.sample(["(define)"], n=1, temperature=1.0, max_new_tokens=2, seed=0)
        engine = fake.engines[-1]
        return engine, engine.calls[-1][2]

    planner.train(examples, TrainConfig(n_epochs=1, batch_size=3, lora_r=8, lora_alpha=16), seed=0)
    engine, lora = served()
    assert engine.kwargs["model"] == str(model_dir) and len(fake.engines) == 1
    kind, _, first_id, path = lora
    assert kind == "lora" and (Path(path) / "adapter_config.json").is_file()
    assert served()[1] == lora  # sampling again serves the same adapter, no new files

    planner.train(examples, TrainConfig(n_epochs=1, batch_size=3, lora_r=8, lora_alpha=16), seed=1)
    _, lora2 = served()
    assert lora2[2] == first_id + 1 and lora2[3] != path and len(fake.engines) == 1

    saved = tmp_path / "gen-2"
    planner.save(saved)
    planner.load_adapter(saved)  # resuming a run: the adapter is served from where it was saved
    _, lora3 = served()
    assert lora3[3] == str(saved)

    planner.train(examples, TrainConfig(method="full", n_epochs=1, batch_size=3), seed=2)
    engine, lora4 = served()  # full weights: a new engine on them, the tokenizer still the base's
    assert lora4 is None and len(fake.engines) == 2
    full_dir = Path(engine.kwargs["model"])
    assert (full_dir / "config.json").is_file() and engine.kwargs["tokenizer"] == str(model_dir)

    planner.load_adapter(full_dir)
    assert served()[0] is engine  # the same weights: the engine is kept
    scratch = full_dir.parent
    planner.close()
    assert not scratch.exists()
