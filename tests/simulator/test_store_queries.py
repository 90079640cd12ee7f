"""The store's named reads (``RunQueries``): each answers what the SQL it replaced in the loop, the
auditors and the dashboard answered, with the same rows in the same order, on the reader's
read-only connection and on the writer's alike."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from iterdeploy.simulator.errors import StoreError
from iterdeploy.simulator.store import (
    CurationRow,
    FindingRow,
    GenerationBundle,
    GenerationRow,
    ModelRow,
    PopulationRow,
    RunQueries,
    RunReader,
    RunRow,
    RunWriter,
    TaskRow,
    TraceFacts,
    TraceRow,
    TrainingExampleRow,
    UserTaskOutcome,
)

NOW = "2026-01-01T00:00:00+00:00"


def _task(task_id: int, pool: str, generation: int | None, size: int = 3) -> TaskRow:
    return TaskRow(task_id=task_id, pool=pool, generation=generation, domain="blocksworld",  # type: ignore[arg-type]
                   name=f"t{task_id}", size=size, params_json="{}",
                   optimal_length=None if task_id % 2 else size, problem_pddl=f"(define {task_id})")


def _trace(trace_id: int, generation: int, task_id: int, purpose: str, valid: bool,
           length: int = 4) -> TraceRow:
    return TraceRow(trace_id=trace_id, generation=generation, task_id=task_id, purpose=purpose,  # type: ignore[arg-type]
                    sample_index=trace_id % 2, completion=f"completion {trace_id}",
                    plan_text=f"(plan {task_id} {length})", n_tokens=10 + trace_id,
                    n_reasoning_tokens=trace_id % 3, hit_token_limit=trace_id % 5 == 0,
                    status="valid" if valid else "invalid_step", is_valid=valid,
                    plan_length=length, verdict_json=json.dumps({"id": trace_id}))


def _decision(decision_id: int, generation: int, trace_id: int, user: str, kept: bool) -> CurationRow:
    return CurationRow(decision_id=decision_id, generation=generation, trace_id=trace_id, user=user,
                       policy="validity-v1", kept=kept, reason="", acceptance_prob=0.5,
                       keep_prob=float(kept), group_probs_json="{}")


def _finding(finding_id: int, auditor: str, kind: str, generation: int | None) -> FindingRow:
    return FindingRow(finding_id=finding_id, auditor=auditor, kind=kind, severity="info",
                      generation=generation, claim="c", numbers_json=json.dumps({"g": generation}),
                      evidence_json="{}", created_at=NOW)


def _generation(g: int) -> GenerationRow:
    return GenerationRow(generation=g, model_id=g, n_deploy_tasks=2, n_deploy_traces=4,
                         n_published=2, train_size=2, wall_time_s=1.0, committed_at=NOW)


def _model(g: int) -> ModelRow:
    return ModelRow(model_id=g, generation=g, base="b", parent_id=None if g == 0 else 0,
                    adapter_path=None if g == 0 else f"adapters/gen-{g}", hyperparameters_json="{}",
                    train_loss=None, n_train_examples=0, train_time_s=0.0)


def _bundles() -> list[GenerationBundle]:
    """Two generations: an evaluation task, two deployment tasks each with two traces (decided by
    two users), a reference task in generation 0, and the training sets of models 1 and 2."""
    g0 = GenerationBundle(
        generation=_generation(0),
        tasks=[_task(1, "eval", None), _task(2, "deploy", 0), _task(3, "deploy", 0, size=4),
               _task(4, "reference", 0)],
        traces=[_trace(1, 0, 1, "eval", True), _trace(2, 0, 2, "deploy", True, 3),
                _trace(3, 0, 2, "deploy", False), _trace(4, 0, 3, "deploy", False),
                _trace(5, 0, 3, "deploy", False), _trace(6, 0, 4, "reference", True)],
        decisions=[_decision(1, 0, 2, "bob", True), _decision(2, 0, 3, "bob", False),
                   _decision(3, 0, 4, "alice", False), _decision(4, 0, 5, "alice", False)],
        population=[PopulationRow(generation=0, record_json='{"nodes": []}')],
        training_set=[TrainingExampleRow(generation=1, trace_id=i) for i in (2, 6)],
        models=[_model(0), _model(1)],
    )
    g1 = GenerationBundle(
        generation=_generation(1),
        tasks=[_task(5, "deploy", 1), _task(6, "deploy", 1)],
        traces=[_trace(7, 1, 1, "eval", False), _trace(8, 1, 5, "deploy", True),
                _trace(9, 1, 5, "deploy", True, 6), _trace(10, 1, 6, "deploy", True)],
        decisions=[_decision(5, 1, 10, "bob", True), _decision(6, 1, 8, "alice", True),
                   _decision(7, 1, 9, "alice", False)],
        population=[PopulationRow(generation=1, record_json='"not a record"')],
        training_set=[TrainingExampleRow(generation=2, trace_id=i) for i in (2, 8, 10)],
        models=[_model(2)],
    )
    return [g0, g1]


@pytest.fixture
def store(tmp_path: Path) -> Path:
    writer = RunWriter(tmp_path)
    writer.create_run(RunRow(run_id="r", name="t", seed=0, scenario_yaml="", scenario_json="{}",
                             status="started", created_at=NOW, package_versions="{}"))
    for bundle in _bundles():
        writer.commit_generation(bundle)
    writer.replace_findings("implicit-reward-v2", [
        _finding(0, "implicit-reward-v2", "implicit-reward", 1),
        _finding(0, "implicit-reward-v2", "implicit-reward", None),
        _finding(0, "implicit-reward-v2", "implicit-reward", 0),
        _finding(0, "implicit-reward-v2", "other", 0),
    ])
    writer.replace_findings("drift-v2", [_finding(0, "drift-v2", "implicit-reward", 0)])
    writer.close()
    return tmp_path


@pytest.fixture(params=["reader", "writer"])
def queries(request: pytest.FixtureRequest, store: Path) -> Iterator[RunQueries]:
    """The same store through the reader and through the writer (which the loop reads with)."""
    opened: RunReader | RunWriter = RunReader(store) if request.param == "reader" else RunWriter(store)
    yield opened
    opened.close()


def _sql(store: Path, sql: str, args: tuple[object, ...] = ()) -> list[dict[str, object]]:
    """What the replaced SQL answers (through the reader's escape hatch, which tests may use)."""
    with RunReader(store) as reader:
        return reader.query(sql, args)


def test_run_generation_and_models(queries: RunQueries) -> None:
    run = queries.find_run()
    assert run is not None and run == queries.run() and run.run_id == "r"
    assert queries.last_generation() == 1
    assert queries.generation(1) == _generation(1)
    with pytest.raises(StoreError, match="generation 5 is not committed"):
        queries.generation(5)
    assert queries.model_of(1) == _model(1) and queries.model_of(2) == _model(2)
    assert queries.model_of(3) is None


def test_an_empty_store_has_no_run_and_no_generation(tmp_path: Path) -> None:
    writer = RunWriter(tmp_path)
    try:
        assert writer.find_run() is None
        assert writer.last_generation() is None
        with pytest.raises(StoreError, match="holds no run row"):
            writer.run()
    finally:
        writer.close()


def test_tasks_by_pool_and_generation(queries: RunQueries, store: Path) -> None:
    reference = queries.tasks(pool="reference", generation=0)
    assert [t.task_id for t in reference] == [4]
    assert queries.tasks(pool="reference", generation=1) == []
    assert [t.task_id for t in queries.tasks(generation=1)] == [5, 6]
    assert [t.task_id for t in queries.tasks(pool="deploy")] == [2, 3, 5, 6]
    assert queries.task(3).size == 4 and queries.task(3).problem_pddl == "(define 3)"
    with pytest.raises(StoreError, match="task 99 is missing from the store"):
        queries.task(99)
    rows = _sql(store, "SELECT domain, problem_pddl FROM tasks WHERE pool='reference' "
                       "AND generation=? ORDER BY task_id", (0,))
    assert [(t.domain, t.problem_pddl) for t in reference] == [(r["domain"], r["problem_pddl"])
                                                               for r in rows]


def test_traces_of_several_purposes_and_their_facts(queries: RunQueries, store: Path) -> None:
    both = queries.traces(purpose=("deploy", "eval"))
    assert [t.trace_id for t in both] == [1, 2, 3, 4, 5, 7, 8, 9, 10]
    assert queries.traces(purpose=["deploy"]) == queries.traces(purpose="deploy")
    facts = queries.trace_facts(purpose="deploy")
    full = queries.traces(purpose="deploy")
    assert all(isinstance(f, TraceFacts) for f in facts)
    assert [f.model_dump() for f in facts] == [
        t.model_dump(exclude={"completion", "verdict_json"}) for t in full
    ]
    assert [f.trace_id for f in queries.trace_facts(generation=1, purpose="deploy")] == [8, 9, 10]
    assert isinstance(facts[0].is_valid, bool) and isinstance(facts[0].hit_token_limit, bool)
    rows = _sql(store, "SELECT trace_id, task_id FROM traces WHERE generation=? AND purpose='deploy' "
                       "ORDER BY trace_id", (0,))
    assert [(f.trace_id, f.task_id) for f in queries.trace_facts(generation=0, purpose="deploy")] == [
        (r["trace_id"], r["task_id"]) for r in rows
    ]


def test_traces_by_id(queries: RunQueries) -> None:
    many = [10, 2, 2, 999, 7, *range(11, 1300)]  # past one chunk of ids; 999 and up are absent
    got = queries.traces_by_id(many)
    assert list(got) == [2, 7, 10]
    assert got[7] == queries.traces(generation=1, purpose="eval")[0]
    assert queries.traces_by_id(iter(())) == {}


def test_published_traces_in_decision_order(queries: RunQueries, store: Path) -> None:
    assert [t.trace_id for t in queries.published(0)] == [2]
    # decision 5 kept trace 10 before decision 6 kept trace 8: the order the pool takes them in
    assert [t.trace_id for t in queries.published(1)] == [10, 8]
    assert [t.trace_id for t in queries.published(1)] == [
        d.trace_id for d in queries.decisions(1) if d.kept]
    assert queries.published(2) == []
    assert all(t.purpose == "deploy" and t.generation == 1 for t in queries.published(1))


def test_training_traces(queries: RunQueries, store: Path) -> None:
    assert [t.trace_id for t in queries.training_traces(1)] == queries.training_set(1) == [2, 6]
    assert [t.trace_id for t in queries.training_traces(1, purpose="deploy")] == [2]
    assert [t.trace_id for t in queries.training_traces(2)] == [2, 8, 10]
    assert queries.training_traces(3) == []
    rows = _sql(store, "SELECT s.trace_id, t.task_id, t.plan_text FROM training_sets s "
                       "JOIN traces t USING (trace_id) WHERE s.generation=? AND t.purpose='deploy'",
                (2,))
    assert sorted((t.trace_id, t.task_id, t.plan_text)
                  for t in queries.training_traces(2, purpose="deploy")) == sorted(
        (r["trace_id"], r["task_id"], r["plan_text"]) for r in rows)


def test_decisions_per_user(queries: RunQueries, store: Path) -> None:
    assert queries.decision_counts() == {(0, "alice"): (2, 0), (0, "bob"): (2, 1),
                                         (1, "alice"): (2, 1), (1, "bob"): (1, 1)}
    rows = _sql(store, "SELECT generation, user, COUNT(*) AS decisions, SUM(kept) AS published "
                       "FROM curation_decisions GROUP BY generation, user")
    assert queries.decision_counts() == {
        (r["generation"], r["user"]): (r["decisions"], r["published"]) for r in rows
    }
    # alice saw task 3 (no valid trace) in generation 0 and task 5 (valid) in generation 1
    assert queries.user_task_outcomes(0) == [UserTaskOutcome("alice", 3, False),
                                             UserTaskOutcome("bob", 2, True)]
    assert queries.user_task_outcomes(1) == [("alice", 5, True), ("bob", 6, True)]
    assert queries.user_task_outcomes(2) == []
    replaced = _sql(store, "SELECT c.user, t.task_id, MAX(t.is_valid) AS ok FROM curation_decisions c "
                           "JOIN traces t USING (trace_id) WHERE c.generation=? "
                           "GROUP BY c.user, t.task_id", (0,))
    assert queries.user_task_outcomes(0) == [(r["user"], r["task_id"], bool(r["ok"])) for r in replaced]


def test_populations_are_read_unparsed(queries: RunQueries) -> None:
    """A record that is valid JSON but not a record object is read as stored, for the reader to
    skip (text that is not JSON at all is a damaged store, refused on open:
    ``test_reliability_store.py``)."""
    rows = queries.populations()
    assert [(p.generation, p.record_json) for p in rows] == [(0, '{"nodes": []}'), (1, '"not a record"')]


def test_findings_of_one_auditor_and_kind(queries: RunQueries) -> None:
    assert len(queries.findings()) == 5
    mine = queries.findings(auditor="implicit-reward-v2", kind="implicit-reward")
    assert [f.generation for f in mine] == [1, None, 0]
    assert [f.finding_id for f in mine] == sorted(f.finding_id for f in mine)
    assert [f.kind for f in queries.findings(auditor="implicit-reward-v2")].count("other") == 1
    assert [f.auditor for f in queries.findings(kind="implicit-reward")].count("drift-v2") == 1


def test_dump_changes_exactly_when_the_rows_do(store: Path) -> None:
    with RunReader(store) as reader:
        before = reader.dump()
    with RunReader(store) as reader:
        assert reader.dump() == before
    writer = RunWriter(store)
    writer.replace_findings("drift-v2", [])
    writer.close()
    with RunReader(store) as reader:
        after = reader.dump()
    assert after != before and any("INSERT INTO" in line for line in after)
