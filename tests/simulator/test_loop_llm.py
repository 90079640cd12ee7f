"""The loop with a PDDL-prompted Hugging Face model (the real-LLM path), on a tiny local model."""

from __future__ import annotations

from pathlib import Path

from iterdeploy.simulator.loop import run_scenario
from iterdeploy.simulator.scenario import parse_scenario
from iterdeploy.simulator.store import RunReader
from tests.simulator.models.test_models_local_hf import _save


def test_a_local_hf_model_runs_the_loop_with_pddl_prompts(tmp_path: Path) -> None:
    model_dir = _save(tmp_path, "llama", chat=True)
    text = f"""
name: llm-path
generations: 1
model: {{name: "hf:{model_dir}", few_shot: 1}}
deploy: {{tasks_per_generation: 3, samples_per_task: 2, sizes: {{min: 2, max: 3}}, max_new_tokens: 12}}
evaluation: {{n_tasks: 2, samples_per_task: 1, sizes: {{min: 2, max: 3}}}}
users: [{{name: everyone, policy: accept_all}}]
training: {{n_epochs: 1, batch_size: 2, max_len: 2048}}
pool: {{reference_share: 0.5}}
"""
    spec = parse_scenario(text)
    run_scenario(spec, text, tmp_path / "run")
    with RunReader(tmp_path / "run") as reader:
        assert [g.generation for g in reader.generations()] == [0, 1]
        traces = reader.traces(0, "deploy")
        assert len(traces) == 6
        # a random model writes nothing valid, yet every completion is a recorded trace
        assert all(t.status for t in traces)
        models = reader.models()
        assert models[0].base == f"hf:{model_dir}"
        assert (tmp_path / "run" / models[1].adapter_path / "adapter_model.safetensors").is_file()
        reference = reader.traces(0, "reference")
        # reference plans are written the way this model is asked to write plans: PDDL actions
        assert reference and all(t.is_valid for t in reference)
        assert all(t.completion.lstrip().startswith("(") for t in reference)
        assert sorted(reader.training_set(1)) == sorted(
            [t.trace_id for t in traces] + [t.trace_id for t in reference]
        )
