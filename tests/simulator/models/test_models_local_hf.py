"""A local Hugging Face model directory through the registry: sample, train a LoRA step, save.

The model is built here (a 2-layer Llama, and a 2-layer GPT-2 for a non-Llama architecture) with a
small byte-level BPE tokenizer trained on PDDL text, so the test needs no download and runs in
seconds, yet goes through exactly the code a real LLM directory goes through.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from iterdeploy.simulator.models.hf_planner import TrainConfig
from iterdeploy.simulator.models.llm_planner import LlmPlanner
from iterdeploy.simulator.models.pddl_format import PddlPromptFormat, domain_pddl_text, render_pddl_completion
from iterdeploy.simulator.models.protocol import PlannerModel
from iterdeploy.simulator.models.registry import load_planner
from iterdeploy.simulator.models.training import IGNORE, Example
from iterdeploy.simulator.planning import generate_tasks, validate_plan

CHAT_TEMPLATE = (
    "{% for m in messages %}<|start|>{{ m['role'] }}\n{{ m['content'] }}<|end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|start|>assistant\n{% endif %}"
)


def _tokenizer(chat: bool) -> PreTrainedTokenizerFast:
    """Byte-level BPE over PDDL text; no pad token (the planner must fall back to EOS). With
    ``chat`` a chat template and no automatic BOS; without, no template and BOS added by the
    tokenizer (the two conventions the planner's BOS rule must handle)."""
    texts = [domain_pddl_text("blocksworld")] + [
        g.problem_pddl + "\n" + "\n".join(g.witness_plan)
        for g in generate_tasks("blocksworld", {"n_blocks": 3}, seed=0, n=20)
    ]
    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=["<|end|>", "<|start|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    core.train_from_iterator(texts, trainer)
    if not chat:
        core.post_processor = processors.TemplateProcessing(
            single="<|start|> $A", special_tokens=[("<|start|>", core.token_to_id("<|start|>"))]
        )
    tok = PreTrainedTokenizerFast(tokenizer_object=core, eos_token="<|end|>", bos_token="<|start|>")
    if chat:
        tok.chat_template = CHAT_TEMPLATE
    return tok


def _save(tmp: Path, arch: str, chat: bool) -> Path:
    tok = _tokenizer(chat)
    torch.manual_seed(0)
    if arch == "llama":
        config = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                             num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=4096,
                             bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
        model = LlamaForCausalLM(config)
    else:
        config = GPT2Config(vocab_size=len(tok), n_embd=32, n_layer=2, n_head=2, n_positions=4096,
                            bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
        model = GPT2LMHeadModel(config)
    out = tmp / f"{arch}-{'chat' if chat else 'plain'}"
    model.save_pretrained(out, safe_serialization=True)
    tok.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("hf-models")
    return {
        "llama-chat": _save(tmp, "llama", chat=True),
        "llama-plain": _save(tmp, "llama", chat=False),
        "gpt2-chat": _save(tmp, "gpt2", chat=True),
    }


def _prompts(planner: LlmPlanner, n_tasks: int = 2) -> tuple[list, list[str]]:
    fmt = PddlPromptFormat(planner.tokenizer, n_shots=2)
    tasks = list(generate_tasks("blocksworld", {"n_blocks": 2}, seed=5, n=n_tasks))
    return tasks, [fmt.prompt("blocksworld", g.problem_pddl, task=g.task) for g in tasks]


def test_local_llama_directory_samples_trains_one_lora_step_and_saves(
    model_dirs: dict[str, Path], tmp_path: Path
) -> None:
    planner = load_planner(f"hf:{model_dirs['llama-chat']}")
    assert isinstance(planner, LlmPlanner) and isinstance(planner, PlannerModel)
    assert planner.prompt_format == "pddl"
    tok = planner.tokenizer
    assert tok.pad_token == "<|end|>" == tok.eos_token  # no pad token saved: pad = eos
    tasks, prompts = _prompts(planner)
    assert prompts[0].startswith("<|start|>system\n") and prompts[0].endswith("<|start|>assistant\n")
    encoded = planner._encode_prompt(prompts[0])
    assert encoded[0] == tok.bos_token_id and encoded[1] != tok.bos_token_id  # from the template only

    greedy = planner.sample(prompts, n=2, temperature=0.0, max_new_tokens=6, seed=0)
    assert [len(c) for c in greedy] == [2, 2]
    for comps in greedy:
        assert comps[0] == comps[1]  # greedy: the same completion twice
        assert all(c.n_tokens <= 6 for c in comps)
    hot = planner.sample(prompts, n=3, temperature=1.0, max_new_tokens=6, seed=1)
    assert hot == planner.sample(prompts, n=3, temperature=1.0, max_new_tokens=6, seed=1)

    examples = [Example(p, render_pddl_completion(g.witness_plan))
                for g, p in zip(tasks, prompts, strict=True)]
    stats = planner.train(examples, TrainConfig(n_epochs=1, batch_size=2, max_len=4096, lora_r=4), seed=0)
    assert stats.n_steps == 1 and stats.final_loss is not None and math.isfinite(stats.final_loss)
    after = planner.sample(prompts, n=1, temperature=0.0, max_new_tokens=6, seed=0)

    out = tmp_path / "adapter"
    planner.save(out)
    assert (out / "adapter_model.safetensors").is_file() and (out / "adapter_config.json").is_file()
    assert not list(out.glob("*.bin"))
    fresh = load_planner(model_dirs["llama-chat"])
    fresh.load_adapter(out)
    assert fresh.sample(prompts, n=1, temperature=0.0, max_new_tokens=6, seed=0) == after
    for comps in after:  # whatever the untrained model writes, the pipeline reads it
        validate_plan(tasks[0].task, PddlPromptFormat().extract(comps[0].text, "blocksworld").plan_text)
    planner.close()
    planner.close()


@pytest.mark.parametrize("name", ["llama-chat", "llama-plain", "gpt2-chat"])
def test_shared_prefix_cache_gives_the_same_greedy_completions(
    model_dirs: dict[str, Path], name: str
) -> None:
    planner = load_planner(model_dirs[name])
    _, prompts = _prompts(planner, n_tasks=3)
    prefills: list[int] = []
    original = planner._prefill

    def counting(model: object, prefix: torch.Tensor) -> object:
        prefills.append(prefix.shape[1])
        return original(model, prefix)

    planner._prefill = counting  # type: ignore[method-assign]
    with_cache = planner.sample(prompts, n=2, temperature=0.0, max_new_tokens=8, seed=0)
    assert len(prefills) == 1 and prefills[0] > 200  # system, domain and examples: one prefill
    planner.disable_prefix_cache = True
    without = planner.sample(prompts, n=2, temperature=0.0, max_new_tokens=8, seed=0)
    assert [[c.text for c in cs] for cs in with_cache] == [[c.text for c in cs] for cs in without]


def test_plain_tokenizer_gets_exactly_one_bos_and_a_plan_cue(model_dirs: dict[str, Path]) -> None:
    planner = load_planner(model_dirs["llama-plain"])
    assert not planner.has_chat_template
    _, prompts = _prompts(planner, n_tasks=1)
    assert prompts[0].endswith("\n\nPlan:\n")
    tok = planner.tokenizer
    encoded = planner._encode_prompt(prompts[0])
    assert encoded[0] == tok.bos_token_id and encoded.count(tok.bos_token_id) == 1
    assert planner._encode_prompt("<|start|>x")[:2] != [tok.bos_token_id] * 2


def test_over_long_examples_keep_the_completion(model_dirs: dict[str, Path]) -> None:
    planner = load_planner(model_dirs["llama-chat"])
    tok = planner.tokenizer
    ex = Example("word " * 300, "(pickup b1)\n(stack b1 b2)")
    ids, labels = planner.encode_example(tok, ex, 64)
    assert len(ids) == len(labels) == 64
    comp = [int(i) for i in tok(ex.completion, add_special_tokens=False)["input_ids"]] + [tok.eos_token_id]
    assert ids[-len(comp):] == comp and labels[-len(comp):] == comp
    assert all(x == IGNORE for x in labels[: -len(comp)])
    ids, labels = planner.encode_example(tok, ex, 3)  # even a tiny limit keeps labels
    assert len(ids) == 3 and IGNORE not in labels


@pytest.mark.filterwarnings("ignore:fan_in_fan_out:UserWarning")
def test_gpt2_trains_lora_on_all_linear_layers_and_saves(model_dirs: dict[str, Path], tmp_path: Path) -> None:
    planner = load_planner(model_dirs["gpt2-chat"])
    assert planner.lora_target_modules(planner.model) == "all-linear"
    tasks, prompts = _prompts(planner, n_tasks=1)
    ex = [Example(prompts[0], render_pddl_completion(tasks[0].witness_plan))]
    stats = planner.train(ex, TrainConfig(n_epochs=1, batch_size=1, max_len=4096, lora_r=2), seed=0)
    assert stats.n_steps == 1 and np.isfinite(stats.final_loss)
    planner.save(tmp_path / "a")
    assert (tmp_path / "a" / "adapter_model.safetensors").is_file()
    llama = load_planner(model_dirs["llama-chat"])
    assert llama.lora_target_modules(llama.model) == [
        "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def test_fresh_training_starts_from_the_unchanged_base(model_dirs: dict[str, Path]) -> None:
    """The in-memory base copy must not pick up a previous generation's adapter or full update."""
    planner = load_planner(model_dirs["llama-chat"])
    tasks, prompts = _prompts(planner, n_tasks=1)
    before = planner.sample(prompts, n=1, temperature=0.0, max_new_tokens=6, seed=0)
    ex = [Example(prompts[0], render_pddl_completion(tasks[0].witness_plan))]
    planner.train(ex, TrainConfig(method="full", n_epochs=1, batch_size=1, max_len=4096, lr=0.05), seed=0)
    planner.reset_to_base()
    assert planner.sample(prompts, n=1, temperature=0.0, max_new_tokens=6, seed=0) == before


def test_bfloat16_weights_sample_train_and_save(model_dirs: dict[str, Path], tmp_path: Path) -> None:
    """The precision a GPU run uses by default, exercised on the CPU."""
    planner = load_planner(model_dirs["llama-chat"], device="cpu", dtype="bfloat16")
    assert planner.model.dtype == torch.bfloat16 and planner.model.device.type == "cpu"
    _, prompts = _prompts(planner)
    before = planner.sample(prompts, n=2, temperature=1.0, max_new_tokens=6, seed=0)
    assert [len(c) for c in before] == [2, 2]
    examples = [Example(p, "(pick-up b1)") for p in prompts]
    stats = planner.train(examples, TrainConfig(n_epochs=1, batch_size=2, max_len=4096, lora_r=4), seed=0)
    assert stats.final_loss is not None and math.isfinite(stats.final_loss)
    planner.save(tmp_path / "adapter")
    fresh = load_planner(model_dirs["llama-chat"], device="cpu", dtype="bfloat16")
    fresh.load_adapter(tmp_path / "adapter")
    assert fresh.model.dtype == torch.bfloat16
    assert len(fresh.sample(prompts, n=1, temperature=0.0, max_new_tokens=6, seed=0)) == 2
