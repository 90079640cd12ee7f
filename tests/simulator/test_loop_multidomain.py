"""The loop on a scenario that mixes domains (Blocksworld, Rovers, Sokoban), with a real tiny model.

A randomly initialised Hugging Face model writes no valid plan, so these tests are about the
loop's handling of several domains (tasks drawn per domain, the evaluation pool split by weight,
the store's domain column, reference plans from the reference planner, resuming from the store),
not about learning: the learning evidence is the Blocksworld runs in ``docs/quickstart-results.md``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from iterdeploy.simulator.cli import app
from iterdeploy.simulator.loop import DeploymentLoop, run_scenario
from iterdeploy.simulator.planning import domain_path, load_task, validate_plan
from iterdeploy.simulator.scenario import parse_scenario
from iterdeploy.simulator.store import RunReader, summarize
from tests.simulator.models.test_models_local_hf import _save


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _save(tmp_path_factory.mktemp("hf-model"), "llama", chat=True)


def _scenario(model_dir: Path, generations: int) -> str:
    return f"""
name: three-domains
generations: {generations}
domains:
  blocksworld: {{min: 2, max: 3}}
  rovers: {{min: 2, max: 2}}
  sokoban: {{min: 1, max: 1}}
model: {{name: "hf:{model_dir}", few_shot: 0}}
deploy: {{tasks_per_generation: 6, samples_per_task: 1, max_new_tokens: 8}}
evaluation: {{n_tasks: 5, samples_per_task: 1}}
users: [{{name: everyone, policy: accept_all}}]
training: {{n_epochs: 1, batch_size: 4, max_len: 4096}}
pool: {{reference_share: 0.5}}
"""


def _fingerprint(run_dir: Path) -> list[tuple[object, ...]]:
    with RunReader(run_dir) as reader:
        tasks = [(t.task_id, t.domain, t.problem_pddl) for t in reader.tasks()]
        traces = [(t.trace_id, t.task_id, t.completion, t.status) for t in reader.traces()]
        sets = [tuple(reader.training_set(g)) for g in (1, 2)]
    return [*tasks, *traces, *sets]


def test_a_three_domain_scenario_runs_and_stores_every_domain(tmp_path: Path, model_dir: Path) -> None:
    text = _scenario(model_dir, generations=1)
    run_scenario(parse_scenario(text), text, tmp_path / "run")
    with RunReader(tmp_path / "run") as reader:
        tasks = reader.tasks()
        eval_domains = Counter(t.domain for t in tasks if t.pool == "eval")
        # 5 evaluation tasks over three equal weights: largest remainder gives 2, 2, 1
        assert eval_domains == {"blocksworld": 2, "rovers": 2, "sokoban": 1}
        assert {t.domain for t in tasks} <= {"blocksworld", "rovers", "sokoban"}
        for t in tasks:  # every stored problem is a valid problem of its domain's shipped file
            task = load_task(domain_path(t.domain), _write(tmp_path, t.task_id, t.problem_pddl))
            assert task.size == t.size
        rovers = [t for t in tasks if t.domain == "rovers"]
        assert rovers and all("(:domain rover)" in t.problem_pddl for t in rovers)
        # reference plans come from the reference planner for every domain drawn, and are valid
        reference = reader.traces(0, "reference")
        assert reference and all(t.is_valid for t in reference)
        by_id = {t.task_id: t for t in tasks}
        for trace in reference:
            row = by_id[trace.task_id]
            task = load_task(domain_path(row.domain), _write(tmp_path, row.task_id, row.problem_pddl))
            assert validate_plan(task, trace.plan_text).is_valid
        model_wrote_valid = any(t.is_valid for t in reader.traces(0) if t.purpose != "reference")
        summary = summarize(reader)
    assert summary[0].evaluated_by_domain == {"blocksworld": 2, "rovers": 2, "sokoban": 1}
    assert sum(summary[0].solved_by_domain.values()) == summary[0].solved
    # reference plans are training data, not plans the model wrote: they are not its longest plan
    if not model_wrote_valid:
        assert summary[0].longest_plan_length is None and summary[0].largest_solved_size is None
    printed = CliRunner().invoke(app, ["summary", str(tmp_path / "run")], env={"COLUMNS": "80"})
    assert printed.exit_code == 0, printed.output
    assert "solved tasks per domain (deploy; eval)" in printed.output
    assert all(d in printed.output for d in ("blocksworld", "rovers", "sokoban"))
    # per domain: deployment tasks solved of brought, evaluation tasks solved of evaluated, and
    # the largest evaluation size solved in the domain's own unit; no maximum across domains
    assert "largest size" not in printed.output
    first = [line for line in printed.output.splitlines() if line.strip().startswith("│   0")][-1]
    cells = [c.strip() for c in first.strip("│ ").split("│")][1:]
    r = summary[0]
    assert cells == [f"{r.deploy_solved_by_domain.get(d, 0)}/{r.deploy_tasks_by_domain.get(d, 0)}; "
                     f"{r.solved_by_domain.get(d, 0)}/{r.evaluated_by_domain.get(d, 0)} "
                     f"({r.largest_solved_size_by_domain.get(d, '-')})"
                     for d in ("blocksworld", "rovers", "sokoban")]
    # each domain's largest size is its own maximum, and the overall one is the largest of them
    with RunReader(tmp_path / "run") as reader:
        for g in summary:
            valid = [(t, by_id[t.task_id]) for t in reader.traces(g.generation) if t.is_valid]
            for purpose, field in (("eval", g.largest_solved_size_by_domain),
                                   ("deploy", g.deploy_largest_solved_size_by_domain)):
                expected: dict[str, int] = {}
                for trace, task in valid:
                    if trace.purpose == purpose:
                        expected[task.domain] = max(task.size, expected.get(task.domain, 0))
                assert field == expected
            assert g.largest_solved_size == max(g.largest_solved_size_by_domain.values(), default=None)


def test_a_multi_domain_run_resumes_from_its_store(tmp_path: Path, model_dir: Path) -> None:
    """Stop after generation 0 is committed, resume in a new loop (tasks of earlier generations
    come back from the store, rovers included) and end as an uninterrupted run."""
    text = _scenario(model_dir, generations=2)
    spec = parse_scenario(text)
    run_scenario(spec, text, tmp_path / "full")

    def stop_at_generation_1(description: str, total: int) -> Callable[[int], None]:
        if description.startswith("gen 1"):
            raise KeyboardInterrupt
        return lambda n: None

    with pytest.raises(KeyboardInterrupt):
        DeploymentLoop(spec, text, tmp_path / "resumed", phase=stop_at_generation_1).run()
    with RunReader(tmp_path / "resumed") as reader:
        assert [g.generation for g in reader.generations()] == [0]
    run_scenario(spec, text, tmp_path / "resumed")
    assert _fingerprint(tmp_path / "resumed") == _fingerprint(tmp_path / "full")


def _write(tmp: Path, task_id: int, text: str) -> Path:
    path = tmp / f"task-{task_id}.pddl"
    path.write_text(text)
    return path
