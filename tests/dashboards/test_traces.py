"""The trace browser's data (``iterdeploy.dashboards.traces``) on real stores: synthetic ones written
through the real writer, and the small real run written by the loop and the auditors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from iterdeploy.dashboards.traces import (
    TRACE_COLUMNS,
    TraceFilter,
    cited_trace_ids,
    denominators,
    filter_choices,
    finding_statistics,
    parse_verdict,
    plan_diff,
    sibling_traces,
    trace_detail,
    trace_table,
)
from iterdeploy.simulator.errors import StoreError
from iterdeploy.simulator.store import FindingRow, RunReader, TraceRow
from tests.dashboards.conftest import DEPLOY_SIZES, EVAL_SIZES, SOLVED, MakeRun

N_GENERATIONS = len(SOLVED)
EVAL_PER_GENERATION = len(EVAL_SIZES)
DEPLOY_PER_GENERATION = 2 * len(DEPLOY_SIZES)


@pytest.fixture
def two_groups(make_run: MakeRun) -> Path:
    families = {"fans-1": "fans", "checkers-1": "checkers"}
    return make_run("groups", groups=tuple(families), families=families)


def test_every_trace_is_listed_with_its_curation(two_groups: Path) -> None:
    with RunReader(two_groups) as reader:
        table = trace_table(reader)
        decisions = {d.trace_id: d for d in reader.decisions()}
    assert list(table.columns) == list(TRACE_COLUMNS)
    assert len(table) == N_GENERATIONS * (EVAL_PER_GENERATION + DEPLOY_PER_GENERATION)
    assert table["trace_id"].is_monotonic_increasing
    deploy = table[table["purpose"] == "deploy"]
    assert deploy["user"].notna().all() and table[table["purpose"] == "eval"]["user"].isna().all()
    for row in deploy.itertuples():
        assert row.user == decisions[row.trace_id].user
        assert bool(row.kept) == decisions[row.trace_id].kept
        assert row.group == {"fans-1": "fans", "checkers-1": "checkers"}[row.user]


def test_filters_narrow_the_list(two_groups: Path) -> None:
    with RunReader(two_groups) as reader:
        every = trace_table(reader)

        def count(**kwargs: object) -> int:
            return len(trace_table(reader, TraceFilter(**kwargs)))  # type: ignore[arg-type]

        assert count(generations=(1,)) == EVAL_PER_GENERATION + DEPLOY_PER_GENERATION
        assert count(purposes=("eval",)) == N_GENERATIONS * EVAL_PER_GENERATION
        assert count(groups=("fans",)) == count(users=("fans-1",)) == N_GENERATIONS * 2
        assert count(groups=("nobody",)) == 0
        assert count(statuses=("valid",)) == int(every["is_valid"].sum())
        assert count(task_id=1) == N_GENERATIONS  # one evaluation sample per generation
        assert count(sizes=(6,)) == N_GENERATIONS  # the one size-6 evaluation task
        assert count(kept=True) == int((every["kept"] == True).sum()) > 0  # noqa: E712
        assert count(kept=False, purposes=("eval",)) == 0  # nobody decided on evaluation samples
        assert count(generations=(0,), groups=("checkers",), statuses=("valid",)) == 1


def test_filter_choices_name_what_the_run_holds(two_groups: Path) -> None:
    with RunReader(two_groups) as reader:
        choices = filter_choices(reader)
    assert choices["generations"] == list(range(N_GENERATIONS))
    assert choices["purposes"] == ["deploy", "eval"]
    assert choices["users"] == ["checkers-1", "fans-1"] and choices["groups"] == ["checkers", "fans"]
    assert choices["statuses"] == ["goal_not_reached", "valid"]
    assert choices["sizes"] == sorted(set(EVAL_SIZES) | set(DEPLOY_SIZES))


def test_a_kept_trace_knows_who_kept_it_and_where_it_went(two_groups: Path) -> None:
    with RunReader(two_groups) as reader:
        kept = next(d for d in reader.decisions(0) if d.kept)
        detail = trace_detail(reader, kept.trace_id)
        rejected = next(d for d in reader.decisions(0) if not d.kept)
        not_trained = trace_detail(reader, rejected.trace_id)
    assert detail.trace.trace_id == kept.trace_id and detail.task.task_id == detail.trace.task_id
    assert [d.decision_id for d in detail.decisions] == [kept.decision_id]
    assert detail.groups == {kept.user: "fans" if kept.user == "fans-1" else "checkers"}
    # published in generation 0: in the training set of every later generation (accumulate)
    assert detail.training_generations == tuple(range(1, N_GENERATIONS))
    assert [m.generation for m in detail.models] == list(range(1, N_GENERATIONS))
    assert detail.verdict.is_valid and detail.verdict.failed_step is None
    assert not_trained.training_generations == () and not_trained.models == ()
    assert not_trained.decisions[0].kept is False


def test_an_unknown_trace_is_a_clear_error(run_dir: Path) -> None:
    with RunReader(run_dir) as reader, pytest.raises(StoreError, match="trace 99999 is not in this run"):
        trace_detail(reader, 99999)


def _trace(verdict_json: str, status: str = "invalid_step", valid: bool = False) -> TraceRow:
    return TraceRow(trace_id=1, generation=0, task_id=1, purpose="deploy", sample_index=0, completion="x",
                    plan_text="x", n_tokens=1, n_reasoning_tokens=0, hit_token_limit=False, status=status,
                    is_valid=valid, plan_length=1, verdict_json=verdict_json)


def test_verdict_names_the_failing_step_counted_from_one() -> None:
    verdict = parse_verdict(_trace(json.dumps({
        "failed_step": 0, "failed_action": "(unstack b4 b5)", "message": "step 1 (unstack b4 b5) is "
        "not applicable", "unmet_preconditions": ["(clear b4)"], "unmet_goals": [], "actions": ["(a)"]})))
    assert verdict.failed_step == 1 and verdict.failed_action == "(unstack b4 b5)"
    assert verdict.unmet_preconditions == ("(clear b4)",) and verdict.actions == ("(a)",)
    # a verdict of another shape still gives the trace's own status
    odd = parse_verdict(_trace("[1, 2]", status="unparseable"))
    assert (odd.status, odd.message, odd.failed_step, odd.unmet_goals) == (
        "unparseable", "unparseable", None, ())
    assert parse_verdict(_trace("not json")).message == "invalid_step"


def test_plan_diff_shows_where_two_plans_part() -> None:
    a = "(unstack a b)\n(putdown a)\n(pickup b)\n"
    b = "(unstack a b)\n(putdown a)\n(pickup c)\n(stack c b)\n"
    lines = plan_diff(a, b, name_a="trace 1", name_b="trace 2")
    assert lines[:2] == ["--- trace 1", "+++ trace 2"]
    assert "-(pickup b)" in lines and "+(pickup c)" in lines and "+(stack c b)" in lines
    assert plan_diff(a, "  (unstack a b)\n\n(putdown a)  \n(pickup b)") == []


@given(st.lists(st.sampled_from(["(pickup a)", "(putdown a)", "(stack a b)", "(unstack b a)"]), max_size=8),
       st.lists(st.sampled_from(["(pickup a)", "(putdown a)", "(stack a b)", "(unstack b a)"]), max_size=8))
def test_plan_diff_is_empty_exactly_for_equal_plans(a: list[str], b: list[str]) -> None:
    lines = plan_diff("\n".join(a), "\n".join(b))
    assert (lines == []) == (a == b)
    removed = [ln[1:] for ln in lines if ln.startswith("-") and not ln.startswith("---")]
    added = [ln[1:] for ln in lines if ln.startswith("+") and not ln.startswith("+++")]
    assert len(a) - len(removed) == len(b) - len(added)  # what is kept is common to both


def _finding(evidence: object, numbers: object) -> FindingRow:
    return FindingRow(finding_id=1, auditor="a-v1", kind="k", severity="info", generation=None, claim="c",
                      numbers_json=json.dumps(numbers), evidence_json=json.dumps(evidence),
                      created_at="2025-06-01T12:00:00+00:00")


def test_a_finding_cites_its_traces_and_counts_its_denominators() -> None:
    finding = _finding({"kept_trace_ids_sample": [5, 3, True, "7"], "repeated_plan_trace_ids": [3, 9],
                        "departing_task_keys": ["1/0"], "generations": [0, 1]},
                       {"denominators": {"n_tasks": 96, "by_group": {"fans": {"n_tasks": 30}}},
                        "p_value": 0.01})
    assert cited_trace_ids(finding) == [5, 3, 9]  # ints only, each once, in the order listed
    assert denominators(finding) == {"n_tasks": 96, "by_group.fans.n_tasks": 30}
    assert finding_statistics(finding) == {"p_value": 0.01}
    odd = _finding([1, 2], "no object")
    assert cited_trace_ids(odd) == [] and denominators(odd) == {} and finding_statistics(odd) == {}


def test_on_the_real_run(small_real_run: Path) -> None:
    """What the loop and the auditors wrote: every cited trace opens, with a prompt (rendered for
    the embedded model's compact format), and the traces the auditors say were kept were kept."""
    with RunReader(small_real_run) as reader:
        findings = reader.findings()
        cited = [(f, i) for f in findings for i in cited_trace_ids(f)]
        assert cited, "the auditors cite traces"
        for _, trace_id in cited[:20]:
            detail = trace_detail(reader, trace_id)
            assert detail.prompt, trace_id
            assert detail.trace.plan_text is not None
        kept_ids = [i for f in findings for k, v in json.loads(f.evidence_json).items()
                    if k == "kept_trace_ids_sample" for i in v]
        for trace_id in kept_ids[:10]:
            assert any(d.kept for d in trace_detail(reader, trace_id).decisions)
        table = trace_table(reader)
        assert len(table) == len(reader.trace_facts())
        invalid = table[~table["is_valid"]].iloc[0]
        assert int(invalid["trace_id"]) not in sibling_traces(reader, trace_detail(
            reader, int(invalid["trace_id"])).trace)
