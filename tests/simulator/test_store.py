"""The run store: what is written reads back equal; generations commit atomically."""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from iterdeploy.simulator.errors import StoreError
from iterdeploy.simulator.store import (
    CurationRow,
    GenerationBundle,
    GenerationRow,
    RunReader,
    RunRow,
    RunWriter,
    TaskRow,
    TraceRow,
)

text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=60)


def _run_row() -> RunRow:
    return RunRow(run_id="r", name="t", seed=0, scenario_yaml="", scenario_json="{}",
                  status="started", created_at="2026-01-01T00:00:00+00:00", package_versions="{}")


def _gen(g: int, **kw: object) -> GenerationRow:
    base = dict(generation=g, model_id=g, n_deploy_tasks=0, n_deploy_traces=0, n_published=0,
                train_size=0, wall_time_s=0.0, committed_at="2026-01-01T00:00:00+00:00")
    base.update(kw)
    return GenerationRow.model_validate(base)


trace_rows = st.lists(
    st.builds(
        TraceRow,
        trace_id=st.integers(1, 10**6), generation=st.just(0), task_id=st.just(1),
        purpose=st.sampled_from(["deploy", "eval"]), sample_index=st.integers(0, 16),
        completion=text, plan_text=text, n_tokens=st.integers(0, 10**4),
        n_reasoning_tokens=st.integers(0, 10**4), hit_token_limit=st.booleans(),
        status=st.sampled_from(["valid", "invalid_step", "unparseable"]), is_valid=st.booleans(),
        plan_length=st.integers(0, 100), verdict_json=st.just("{}"),
    ),
    max_size=20, unique_by=lambda r: r.trace_id,
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(trace_rows)
def test_traces_round_trip(rows: list[TraceRow]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        writer = RunWriter(tmp)
        writer.create_run(_run_row())
        task = TaskRow(task_id=1, pool="deploy", generation=0, domain="blocksworld", name="t",
                       size=3, params_json="{}", optimal_length=None, problem_pddl="(define)")
        writer.commit_generation(GenerationBundle(generation=_gen(0), tasks=[task], traces=rows))
        writer.close()
        with RunReader(tmp) as reader:
            assert reader.traces() == sorted(rows, key=lambda r: r.trace_id)
            assert reader.tasks() == [task]


def test_a_failed_commit_writes_nothing(tmp_path: Path) -> None:
    writer = RunWriter(tmp_path)
    writer.create_run(_run_row())
    writer.commit_generation(GenerationBundle(generation=_gen(0)))
    dup = CurationRow(decision_id=1, generation=1, trace_id=1, user="u", policy="p", kept=True,
                      reason="", acceptance_prob=1.0, keep_prob=1.0, group_probs_json="{}")
    with pytest.raises(sqlite3.IntegrityError):
        # the generation row collides with an existing one after the decisions were inserted
        writer.commit_generation(GenerationBundle(generation=_gen(0), decisions=[dup]))
    with RunReader(tmp_path) as reader:
        assert reader.decisions() == []
        assert [g.generation for g in reader.generations()] == [0]


def test_reader_rejects_a_directory_without_a_store(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="not a run directory"):
        RunReader(tmp_path).run()


def test_reader_rejects_a_corrupt_store(tmp_path: Path) -> None:
    (tmp_path / "run.sqlite").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="not a readable run store"):
        RunReader(tmp_path).run()


def test_reader_rejects_another_schema_version(tmp_path: Path) -> None:
    writer = RunWriter(tmp_path)
    writer.create_run(_run_row())
    writer.conn.execute("UPDATE meta SET value='999' WHERE key='schema_version'")
    writer.conn.commit()
    writer.close()
    with pytest.raises(StoreError, match="schema version 999"):
        RunReader(tmp_path).run()


def test_close_twice_is_fine(tmp_path: Path) -> None:
    writer = RunWriter(tmp_path)
    writer.create_run(_run_row())
    writer.close()
    writer.close()
    reader = RunReader(tmp_path)
    reader.run()
    reader.close()
    reader.close()


def test_writer_refuses_a_corrupt_store_and_leaves_it_alone(tmp_path: Path) -> None:
    garbage = b"this is not sqlite" * 100
    (tmp_path / "run.sqlite").write_bytes(garbage)
    with pytest.raises(StoreError, match="not a readable run store"):
        RunWriter(tmp_path).create_run(_run_row())
    assert (tmp_path / "run.sqlite").read_bytes() == garbage
