"""End to end: the real loop (real small model, real LoRA training) into a real run store."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from iterdeploy.simulator.errors import StoreError
from iterdeploy.simulator.loop import run_scenario
from iterdeploy.simulator.models import hf_planner
from iterdeploy.simulator.models.hf_planner import HfPlanner
from iterdeploy.simulator.models.sampling_pool import sample_workers
from iterdeploy.simulator.scenario import parse_scenario
from iterdeploy.simulator.store import RunReader, summarize
from tests.conftest import killed_in_generation


def _run(tmp: Path, overrides: dict[str, object], name: str = "run") -> Path:
    spec = parse_scenario("name: tiny\n", overrides=overrides)
    run_scenario(spec, "name: tiny\n", tmp / name)
    return tmp / name


def test_two_generations_store_holds_what_the_loop_produced(
    tmp_path: Path, tiny_overrides: dict[str, object]
) -> None:
    run_dir = _run(tmp_path, tiny_overrides)
    with RunReader(run_dir) as reader:
        run = reader.run()
        assert run.status == "completed"
        gens = reader.generations()
        assert [g.generation for g in gens] == [0, 1]
        n_eval = tiny_overrides["evaluation.n_tasks"]
        n_deploy = tiny_overrides["deploy.tasks_per_generation"]
        k = tiny_overrides["deploy.samples_per_task"]
        assert len(reader.tasks("eval")) == n_eval
        assert len(reader.tasks("deploy")) == 2 * n_deploy
        for g in gens:
            deploy = reader.traces(g.generation, "deploy")
            assert len(deploy) == g.n_deploy_traces == n_deploy * k
            assert len(reader.traces(g.generation, "eval")) == n_eval * 2
            # every deploy trace has exactly one decision; kept ones are valid and the shortest
            decisions = reader.decisions(g.generation)
            assert sorted(d.trace_id for d in decisions) == sorted(t.trace_id for t in deploy)
            by_id = {t.trace_id: t for t in deploy}
            kept = [by_id[d.trace_id] for d in decisions if d.kept]
            assert all(t.is_valid for t in kept)
            assert g.n_published == len(kept)
            assert len({t.task_id for t in kept}) == len(kept), "one published trace per task"
        # the training set of generation 1 is exactly what generation 0 published
        published0 = sorted(d.trace_id for d in reader.decisions(0) if d.kept)
        assert reader.training_set(1) == published0
        models = reader.models()
        assert [m.generation for m in models] == [0, 1]
        assert models[1].parent_id == 0 and models[1].n_train_examples == len(published0)
        assert (run_dir / models[1].adapter_path / "adapter_model.safetensors").is_file()
        # eval pool and deploy tasks are disjoint
        eval_pddl = {t.problem_pddl.split("(:objects")[1] for t in reader.tasks("eval")}
        deploy_pddl = {t.problem_pddl.split("(:objects")[1] for t in reader.tasks("deploy")}
        assert not eval_pddl & deploy_pddl
        rows = summarize(reader)
        assert [r.generation for r in rows] == [0, 1]
        assert all(r.evaluated == n_eval for r in rows)
        # every trace's verdict is stored whole and agrees with its columns
        for t in reader.traces():
            verdict = json.loads(t.verdict_json)
            assert verdict["status"] == t.status and verdict["is_valid"] == t.is_valid


def test_same_seed_same_run_and_resume_after_a_crash(
    tmp_path: Path, tiny_overrides: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same scenario and seed give the same run: after a crash and a resume, and whether
    batches are decoded by worker processes or in the loop's own process."""
    monkeypatch.setattr(HfPlanner, "batch_size", 8)  # several batches per phase
    pooled: list[int] = []
    decode_batches = hf_planner.decode_batches

    def counted(*args: Any, **kwargs: Any) -> Any:
        pooled.append(kwargs["workers"])
        return decode_batches(*args, **kwargs)

    monkeypatch.setattr(hf_planner, "decode_batches", counted)
    with sample_workers(2):
        full = _run(tmp_path, tiny_overrides, "full")
    assert pooled and set(pooled) == {2}, "the first run's batches went through the worker pool"
    pooled.clear()

    # crash inside generation 1 (after generation 0 committed), then resume
    with sample_workers(1):
        with killed_in_generation(monkeypatch, 1):
            _run(tmp_path, tiny_overrides, "resumed")
        with RunReader(tmp_path / "resumed") as reader:
            assert reader.run().status == "error"
            assert [g.generation for g in reader.generations()] == [0]
        _run(tmp_path, tiny_overrides, "resumed")
    assert not pooled, "the resumed run decoded in its own process"

    def fingerprint(run_dir: Path) -> list[tuple[object, ...]]:
        with RunReader(run_dir) as reader:
            return [(t.trace_id, t.completion, t.status) for t in reader.traces()] + [
                (r.generation, r.solved, r.train_size) for r in summarize(reader)
            ]

    assert fingerprint(full) == fingerprint(tmp_path / "resumed")


def test_resume_refuses_a_different_scenario(tmp_path: Path, tiny_overrides: dict[str, object]) -> None:
    overrides = {**tiny_overrides, "generations": 0}
    _run(tmp_path, overrides)
    other = {**overrides, "seed": 99, "deploy.temperature": 0.5}
    with pytest.raises(StoreError, match="different scenario") as refused:
        _run(tmp_path, other)
    assert "deploy.temperature: 1.0 → 0.5; seed: 0 → 99)" in str(refused.value)


def _phases_of(spec, run_dir: Path) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """Each progress phase a run showed, with how far it advanced."""
    from iterdeploy.simulator.loop import DeploymentLoop

    phases: dict[str, int] = {}

    def phase(description: str, total: int):  # type: ignore[no-untyped-def]
        phases[description] = 0

        def advance(n: int) -> None:
            phases[description] += n

        return advance

    DeploymentLoop(spec, "name: tiny\n", run_dir, phase=phase).run()
    return phases


def test_pretraining_bar_only_when_the_base_is_pretrained(
    tmp_path: Path, tiny_overrides: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cached base shows no pretraining bar (it used to sit at 0 while its clock ran)."""
    monkeypatch.setenv("ITERDEPLOY_CACHE", str(tmp_path / "empty-cache"))
    spec = parse_scenario("name: tiny\n", overrides={
        **tiny_overrides, "generations": 0, "deploy.tasks_per_generation": 2,
        "evaluation.n_tasks": 2, "model.embedded.pretrain_steps": 20})
    first = _phases_of(spec, tmp_path / "first")
    assert first["pretraining base model (cached after the first run)"] == 20
    second = _phases_of(spec, tmp_path / "second")
    assert not [d for d in second if d.startswith("pretraining")], second
    assert first["gen 0: evaluating"] == second["gen 0: evaluating"] == 2 * 2
