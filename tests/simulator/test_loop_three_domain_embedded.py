"""The paper's protocol end to end with the embedded model planning three domains at tiny sizes.

A real (small) model is pretrained on Blocksworld, Rovers and Sokoban reference plans in their
compact formats, then runs two generations of the fixed-pool protocol through the real loop:
every domain's tasks are prompted in its own format, sampled, extracted, validated, curated and
trained on, and solved tasks are counted per domain on the pool. Both ways the recipe can build
the model run: one model for the three domains, and one model per domain behind the router
(``per_domain: true``), whose generations save one part per domain.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from iterdeploy.simulator.loop import run_scenario
from iterdeploy.simulator.models.compact import compact_domain
from iterdeploy.simulator.planning import load_stored_task, registry_name
from iterdeploy.simulator.scenario import parse_scenario
from iterdeploy.simulator.store import RunReader, summarize

SCENARIO = """
name: three-domains-embedded
generations: 2
domains:
  blocksworld: {min: 2, max: 3}
  rovers: {min: 2, max: 2}
  sokoban: {min: 1, max: 1}
model:
  embedded:
    per_domain: {per_domain}
    n_layers: 2
    hidden_size: 64
    intermediate_size: 128
    pretrain_steps: 300
    pretrain_max_blocks: 3
    pretrain_tail_sizes: 1
    pretrain_detour_share: 0.0
    pretrain_domains:
      rovers: {min_size: 2, max_size: 2, tail_sizes: 0}
      sokoban: {min_size: 1, max_size: 1, tail_sizes: 0}
deploy: {pool: fixed, tasks_per_generation: 9, samples_per_task: 3, max_new_tokens: 200}
evaluation: {n_tasks: 6, samples_per_task: 2}
training: {n_epochs: 2}
"""


@pytest.mark.parametrize("per_domain", [False, True], ids=["one-model", "model-per-domain"])
def test_three_domains_two_generations_of_the_fixed_pool(tmp_path: Path, per_domain: bool) -> None:
    text = SCENARIO.replace("{per_domain}", str(per_domain).lower())
    if per_domain:  # three bases to pretrain: fewer steps each keep the test short
        text = text.replace("pretrain_steps: 300", "pretrain_steps: 120")
    spec = parse_scenario(text)
    run_scenario(spec, text, tmp_path / "run")
    with RunReader(tmp_path / "run") as reader:
        rows = summarize(reader)
        tasks = {t.task_id: t for t in reader.tasks()}
        traces = reader.traces()
    assert [r.generation for r in rows] == [0, 1, 2]
    for r in rows:
        assert sum(r.deploy_tasks_by_domain.values()) == 9
        assert set(r.deploy_tasks_by_domain) == {"blocksworld", "rovers", "sokoban"}
    # the same pool every generation, each task prompted in its own domain's compact format
    pools = {g: sorted(t.name for t in tasks.values() if t.pool == "deploy" and t.generation == g)
             for g in (0, 1, 2)}
    assert pools[0] == pools[1] == pools[2]
    # each completion was read by its own domain's extractor (the stored plan is what it gives)
    by_domain: dict[str, int] = {}
    for t in traces:
        task = tasks[t.task_id]
        domain = registry_name(task.domain)
        stored = load_stored_task(task.domain, task.problem_pddl)
        assert compact_domain(domain).extract(t.completion, stored).plan_text == t.plan_text
        by_domain[domain] = by_domain.get(domain, 0) + 1
    assert set(by_domain) == {"blocksworld", "rovers", "sokoban"}
    # the model was trained on what was published (generation 1 and 2 adapters exist)
    with RunReader(tmp_path / "run") as reader:
        models = reader.query("SELECT generation, n_train_examples FROM models ORDER BY generation")
    assert [m["generation"] for m in models] == [0, 1, 2]
    parts = sorted(p.name for p in (tmp_path / "run" / "adapters" / "gen-2").iterdir())
    if per_domain:
        assert parts == ["blocksworld", "rovers", "sokoban"]
    else:
        assert "blocksworld" not in parts


def test_a_ten_domain_scenario_runs_the_three_the_embedded_model_reads(tmp_path: Path) -> None:
    """``unreadable_domains: skip`` through the command a user types: the run says which domains
    it skips, and every stored task, deployed or evaluated, is of the three it reads."""
    from typer.testing import CliRunner

    from iterdeploy.simulator.cli import app

    others = "".join(f"  {d}: {{min: 1, max: 2}}\n" for d in
                     ("childsnack", "ferry", "floortile", "miconic", "satellite", "spanner", "transport"))
    text = (SCENARIO.replace("{per_domain}", "false").replace("generations: 2", "generations: 1")
            .replace("domains:\n", "unreadable_domains: skip\ndomains:\n" + others, 1))
    file = tmp_path / "ten.yaml"
    file.write_text(text)
    result = CliRunner().invoke(app, ["run", str(file), "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert ("skipping 7 of the scenario's domains, which embedded-tiny-v1 has no prompt format for "
            "(unreadable_domains: skip): childsnack, ferry, floortile, miconic, satellite, spanner, "
            "transport; running blocksworld, rovers, sokoban") in said
    with RunReader(tmp_path / "run") as reader:
        rows = summarize(reader)
        stored = {(t.pool, registry_name(t.domain)) for t in reader.tasks()}
    assert [r.generation for r in rows] == [0, 1]
    assert stored == {(pool, d) for pool in ("deploy", "eval") for d in ("blocksworld", "rovers", "sokoban")}


def test_replay_writes_the_corpus_plans_not_the_planners(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Replaying the base's corpus (``pool.reference_sizes: pretraining``) adds the plans the
    corpus teaches, written in each domain's compact format: valid, and never asked of the
    reference planner, whose interleaved Rovers and Sokoban plans the compact scratchpads could
    not follow."""
    from iterdeploy.simulator.loop import stages

    def no_planner(task: object) -> None:
        raise AssertionError(f"the reference planner was asked for {getattr(task, 'name', task)}")

    monkeypatch.setattr(stages, "reference_plan", no_planner)
    text = (SCENARIO.replace("{per_domain}", "false").replace("generations: 2", "generations: 1")
            + "pool: {reference_share: 1.0, reference_sizes: pretraining}\n"
            # every sample published, so the pool the share is taken of is never empty
            + "users: [{name: everyone, policy: accept_all}]\ndeclared_objective: none\n")
    run_scenario(parse_scenario(text), text, tmp_path / "run")
    with RunReader(tmp_path / "run") as reader:
        tasks = {t.task_id: t for t in reader.tasks() if t.pool == "reference"}
        reference = reader.traces(0, "reference")
    assert reference and len(reference) == len(tasks)
    assert {registry_name(t.domain) for t in tasks.values()} == {"blocksworld", "rovers", "sokoban"}
    # the corpus sizes of the recipe: Blocksworld 2-3, Rovers 2, Sokoban 1
    assert {(registry_name(t.domain), t.size) for t in tasks.values()} <= {
        ("blocksworld", 2), ("blocksworld", 3), ("rovers", 2), ("sokoban", 1)}
    for trace in reference:
        task = tasks[trace.task_id]
        stored = load_stored_task(task.domain, task.problem_pddl)
        assert trace.is_valid, trace.completion
        assert compact_domain(registry_name(task.domain)).extract(trace.completion, stored).plan_text \
            == trace.plan_text
