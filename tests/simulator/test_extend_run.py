"""Extending a finished run with more generations, and resuming one that adds reference plans.

Both must end exactly as a run that asked for every generation from the start: same traces, same
training sets, same models. The scenarios add reference plans (``pool.reference_share``), the
path where the last generation's missing work and the tasks excluded from later draws matter.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import iterdeploy.simulator.loop
from iterdeploy.simulator.errors import StoreError
from iterdeploy.simulator.loop import run_scenario
from iterdeploy.simulator.scenario import parse_scenario
from iterdeploy.simulator.store import RunReader, summarize
from tests.conftest import killed_in_generation

YAML = "name: tiny\n"


def _spec(overrides: dict[str, object], generations: int):  # type: ignore[no-untyped-def]
    return parse_scenario(YAML, overrides={**overrides, "generations": generations,
                                           "pool.reference_share": 0.5})


def _fingerprint(run_dir: Path) -> dict[str, object]:
    """Everything a run produced, minus wall-clock times."""
    with RunReader(run_dir) as reader:
        gens = reader.generations()
        return {
            "scenario": json.loads(reader.run().scenario_json),
            "status": reader.run().status,
            "traces": [(t.trace_id, t.generation, t.task_id, t.purpose, t.completion, t.status)
                       for t in reader.traces()],
            "tasks": [(t.task_id, t.pool, t.generation, t.problem_pddl)
                      for pool in ("eval", "deploy", "reference") for t in reader.tasks(pool)],
            "training": {g.generation: reader.training_set(g.generation) for g in gens}
            | {len(gens): reader.training_set(len(gens))},
            "models": [(m.model_id, m.generation, m.parent_id, m.adapter_path, m.n_train_examples,
                        m.train_loss) for m in reader.models()],
            "summary": [r.model_dump() for r in summarize(reader)],
        }


Draws = dict[str, frozenset[object]]


def _record_draws(patch: pytest.MonkeyPatch) -> Draws:
    """Record, per task draw (``g1`` = generation 1's deployment tasks, ``ref0`` = generation
    0's reference tasks), the tasks it had to avoid: the pools' disjointness, as the loop saw it."""
    draws: Draws = {}
    real = iterdeploy.simulator.loop.task_supply.draw_generated  # every draw goes through it

    def spy(rng, n, distribution, prefix, exclude, **kwargs):  # type: ignore[no-untyped-def]
        draws[prefix] = frozenset(exclude)
        return real(rng, n, distribution, prefix, exclude, **kwargs)

    patch.setattr(iterdeploy.simulator.loop.task_supply, "draw_generated", spy)
    return draws


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, object], Draws]:
    """A two-generation run, start to end, as the reference: what it wrote, what it avoided."""
    from tests.conftest import TINY_OVERRIDES

    run_dir = tmp_path_factory.mktemp("uninterrupted") / "run"
    with pytest.MonkeyPatch.context() as patch:
        draws = _record_draws(patch)
        run_scenario(_spec(TINY_OVERRIDES, 2), YAML, run_dir)
    return _fingerprint(run_dir), draws


def test_extending_a_finished_run_equals_running_all_generations(
    tmp_path: Path, tiny_overrides: dict[str, object],
    uninterrupted: tuple[dict[str, object], Draws], monkeypatch: pytest.MonkeyPatch,
) -> None:
    run_dir = tmp_path / "run"
    run_scenario(_spec(tiny_overrides, 1), YAML, run_dir)
    with RunReader(run_dir) as reader:
        assert [m.generation for m in reader.models()] == [0, 1]
        assert reader.training_set(2) == []  # the last generation trains no model
    before = _fingerprint(run_dir)

    # a crash while training the model the last generation never trained leaves the run as it was
    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("killed while training")

    with monkeypatch.context() as patch:
        patch.setattr(iterdeploy.simulator.loop.stages, "train", boom)
        with pytest.raises(RuntimeError, match="killed while training"):
            run_scenario(_spec(tiny_overrides, 2), YAML, run_dir)
    after_crash = _fingerprint(run_dir)
    assert after_crash["status"] == "error"
    assert {**after_crash, "status": "completed"} == before

    logs: list[str] = []
    with monkeypatch.context() as patch:
        draws = _record_draws(patch)
        rows = run_scenario(_spec(tiny_overrides, 2), YAML, run_dir, log=logs.append)
    assert "extended from 1 to 2 generations" in logs
    assert [r.generation for r in rows] == [0, 1, 2]
    expected, expected_draws = uninterrupted
    assert _fingerprint(run_dir) == expected
    # generation 1's reference tasks, drawn late, avoided what they would have avoided
    assert draws["ref1"] == expected_draws["ref1"] and draws["g2"] == expected_draws["g2"]


def test_resume_after_a_crash_excludes_earlier_reference_tasks(
    tmp_path: Path, tiny_overrides: dict[str, object],
    uninterrupted: tuple[dict[str, object], Draws], monkeypatch: pytest.MonkeyPatch,
) -> None:
    run_dir = tmp_path / "run"
    with killed_in_generation(monkeypatch, 1):
        run_scenario(_spec(tiny_overrides, 2), YAML, run_dir)
    with RunReader(run_dir) as reader:
        assert [g.generation for g in reader.generations()] == [0]
        assert reader.tasks("reference"), "generation 0 drew reference tasks"
    with monkeypatch.context() as patch:
        draws = _record_draws(patch)
        run_scenario(_spec(tiny_overrides, 2), YAML, run_dir)
    expected, expected_draws = uninterrupted
    assert _fingerprint(run_dir) == expected
    # the resumed run rebuilt what generation 1's users had to avoid: the evaluation pool,
    # generation 0's deployment tasks and its reference tasks (so a repeat cannot slip in)
    assert draws["g1"] == expected_draws["g1"]
    assert expected_draws["ref0"] < expected_draws["g1"]


def test_a_run_cannot_be_cut_or_changed_beyond_generations(
    tmp_path: Path, tiny_overrides: dict[str, object]
) -> None:
    run_dir = tmp_path / "run"
    spec = _spec({**tiny_overrides, "deploy.tasks_per_generation": 2,
                  "evaluation.n_tasks": 2}, 1)
    run_scenario(spec, YAML, run_dir)
    before = _fingerprint(run_dir)
    shorter = spec.model_copy(update={"generations": 0})
    with pytest.raises(StoreError, match="can be extended, not cut to 0"):
        run_scenario(shorter, YAML, run_dir)
    other = parse_scenario(YAML, overrides={**tiny_overrides, "generations": 2,
                                            "deploy.tasks_per_generation": 3,
                                            "evaluation.n_tasks": 2,
                                            "pool.reference_share": 0.5})
    with pytest.raises(StoreError, match="only --generations may change"):
        run_scenario(other, YAML, run_dir)
    assert _fingerprint(run_dir) == before

