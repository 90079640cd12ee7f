"""The feature table: one row per curated deployment trace, denominators that drop nothing."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from iterdeploy.auditors.core.features import (
    COLUMNS,
    AuditorConfigError,
    build_feature_table,
    check_features,
)
from iterdeploy.simulator.store import GenerationBundle, RunReader


@pytest.fixture
def hand_store(tmp_path: Path, synthetic: Any) -> Path:
    """One generation, one deploy task, every kind of trace, two users."""
    s = synthetic
    traces = [
        s.trace_row(1, 0, 1, status="valid", plan_length=6, n_tokens=70),
        s.trace_row(2, 0, 1, status="valid", plan_length=8, n_tokens=90),
        s.trace_row(3, 0, 1, status="invalid_step", plan_length=3, n_tokens=40),
        s.trace_row(4, 0, 1, status="unparseable", plan_length=0, n_tokens=300),
        s.trace_row(5, 0, 1, status="valid", plan_length=6, n_tokens=60),  # no decision
        s.trace_row(6, 0, 2, status="valid", plan_length=4, n_tokens=50, purpose="eval"),
    ]
    decisions = [
        s.decision_row(1, traces[0], kept=True, user="alice", prob=0.75),
        s.decision_row(2, traces[0], kept=False, user="bob", prob=0.25),
        s.decision_row(3, traces[1], kept=False, prob=0.5),
        s.decision_row(4, traces[2], kept=False),
        s.decision_row(5, traces[3], kept=False),
    ]
    bundle = GenerationBundle(
        generation=s.generation_row(0, 1, 5, 1),
        tasks=[s.task_row(1, 0, 3), s.task_row(2, None, 2, pool="eval")],
        traces=traces,
        decisions=decisions,
    )
    return s.write_store(tmp_path / "run", [bundle])


def test_one_row_per_curated_deploy_trace(hand_store: Path) -> None:
    with RunReader(hand_store) as reader:
        table = build_feature_table(reader)
    frame = table.frame
    assert list(frame.columns)[: len(COLUMNS)] == list(COLUMNS)
    assert list(frame.columns)[len(COLUMNS):] == list(table.action_columns)
    assert frame["trace_id"].tolist() == [1, 2, 3, 4]  # eval and undecided traces are not rows
    assert frame["kept"].tolist() == [1, 0, 0, 0]  # kept if any user kept it
    assert frame["n_decisions"].tolist() == [2, 1, 1, 1]
    assert frame["acceptance_prob"].tolist() == [0.5, 0.5, 0.0, 0.0]  # mean over decisions
    assert frame["rel_plan_length"].tolist() == [0.0, 2.0, 0.0, 0.0]  # invalid -> 0
    assert frame["is_unparseable"].tolist() == [0, 0, 0, 1]
    assert frame["task_size"].tolist() == [3.0] * 4


def test_within_task_features_and_the_declared_choice(hand_store: Path) -> None:
    """Relative to the task's other curated traces: the shortest valid plan (6 steps, 70 tokens)
    is the task's best, the 8-step one is 2 steps above it and the longest; the declared objective
    (validity: the shortest valid plan, then fewest tokens) keeps exactly the best."""
    with RunReader(hand_store) as reader:
        frame = build_feature_table(reader).frame
    assert frame["task_key"].tolist() == ["1/0"] * 4
    assert frame["length_above_best"].tolist() == [0.0, 2.0, 0.0, 0.0]
    assert frame["is_task_shortest"].tolist() == [1, 0, 0, 0]
    assert frame["is_task_longest"].tolist() == [0, 1, 0, 0]
    assert frame["tokens_above_best"].tolist() == [0.0, 0.0, 0.0, 0.0]
    assert frame["p_decl"].tolist() == [1.0, 0.0, 0.0, 0.0]
    assert frame["declared_kept"].tolist() == [1, 0, 0, 0]
    assert frame["user"].tolist() == ["alice", "alice", "alice", "alice"]  # the first decision's user


def test_action_shares_read_the_plan(tmp_path: Path, synthetic: Any) -> None:
    s = synthetic
    t1 = s.trace_row(1, 0, 1, status="valid", plan_length=4, n_tokens=50)
    t2 = s.trace_row(2, 0, 1, status="valid", plan_length=2, n_tokens=30)
    t1 = t1.model_copy(update={"plan_text": "unstack b1 b2\nputdown b1\nunstack b2 b3\nstack b2 b1"})
    t2 = t2.model_copy(update={"plan_text": "(pickup b1)\n(stack b1 b2)"})
    bundle = GenerationBundle(
        generation=s.generation_row(0, 1, 2, 1), tasks=[s.task_row(1, 0, 3)], traces=[t1, t2],
        decisions=[s.decision_row(1, t1, kept=False), s.decision_row(2, t2, kept=True)],
    )
    with RunReader(s.write_store(tmp_path / "run", [bundle])) as reader:
        table = build_feature_table(reader)
    assert table.action_columns == ("share_pickup", "share_putdown", "share_stack", "share_unstack")
    assert table.frame["share_unstack"].tolist() == [0.5, 0.0]
    assert table.frame["share_stack"].tolist() == [0.25, 0.5]
    assert table.expand(("is_valid", "action_shares")) == ("is_valid", *table.action_columns)


def test_denominators_count_failures_and_undecided(hand_store: Path) -> None:
    with RunReader(hand_store) as reader:
        table = build_feature_table(reader)
    for generation in (None, 0):
        d = table.denominators(generation)
        assert (d.n_traces, d.n_valid, d.n_unparseable, d.n_kept) == (4, 2, 1, 1)
        assert (d.n_decisions, d.n_undecided) == (5, 1)
        assert d.n_by_status == {"valid": 2, "invalid_step": 1, "unparseable": 1}
    assert table.denominators(7).n_traces == 0


def test_empty_store_gives_empty_table_with_columns(tmp_path: Path, synthetic: Any) -> None:
    run = synthetic.write_store(tmp_path / "empty", [])
    with RunReader(run) as reader:
        table = build_feature_table(reader)
    assert table.frame.empty
    assert list(table.frame.columns) == list(COLUMNS)
    assert table.action_columns == ()
    assert table.generations == ()
    d = table.denominators(None)
    assert (d.n_traces, d.n_kept, d.n_undecided) == (0, 0, 0)


def test_relative_length_is_zero_for_task_without_valid_plan(tmp_path: Path, synthetic: Any) -> None:
    s = synthetic
    traces = [s.trace_row(i, 0, 1, status="goal_not_reached", plan_length=i, n_tokens=9) for i in (1, 2)]
    bundle = GenerationBundle(
        generation=s.generation_row(0, 1, 2, 0),
        tasks=[s.task_row(1, 0, 3)],
        traces=traces,
        decisions=[s.decision_row(i, t, kept=False) for i, t in enumerate(traces, 1)],
    )
    with RunReader(s.write_store(tmp_path / "run", [bundle])) as reader:
        frame = build_feature_table(reader).frame
    assert frame["rel_plan_length"].tolist() == [0.0, 0.0]
    assert not any(math.isnan(v) for v in frame["rel_plan_length"])


@pytest.mark.parametrize("features", [("nope",), ("acceptance_prob",), ()])
def test_check_features_rejects_unusable_names(features: tuple[str, ...]) -> None:
    with pytest.raises(AuditorConfigError, match="choose from"):
        check_features(features)
