"""A trace row's typed verdict (``TraceRow.verdict``): the one reading of ``verdict_json``.

It must hold everything the validator stores (so no reader needs the JSON text), read stores whose
verdicts lack keys, and refuse, naming the trace, a verdict that is not one.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from iterdeploy.simulator.errors import StoreError
from iterdeploy.simulator.loop.records import verdict_columns
from iterdeploy.simulator.planning import GroundTask, Verdict, load_domain_schemas, validate_plan
from iterdeploy.simulator.store import RunReader, StoredVerdict, StoredVerdictError, TraceRow, dumps
from tests.golden.capture import RUN_DIR

PLANS: dict[str, str] = {
    "valid": "(unstack a b)\n(putdown a)\n(pickup b)\n(stack b a)",
    "invalid_step": "(unstack a b)\n(putdown a)\n(stack b a)\n(pickup b)",
    "goal_not_reached": "; only the first move\n(unstack a b)",
    "unknown_action": "(fly a b)",
    "unparseable": "(unstack a b)\n(((",
    "empty": "",
}
"""A plan the validator gives each status for :func:`_swap_task`."""


def _swap_task() -> GroundTask:
    """a on b, b on the table, c on the table; goal: b on a."""
    return GroundTask(
        domain="blocksworld", name="swap", objects=("a", "b", "c"),
        init=frozenset({("on", "a", "b"), ("on-table", "b"), ("on-table", "c"), ("clear", "a"),
                        ("clear", "c"), ("arm-empty",)}),
        goal=frozenset({("on", "b", "a"), ("on-table", "a")}),
        schemas=load_domain_schemas("blocksworld"),
    )


def _row(verdict_json: str, *, trace_id: int = 42, status: str = "invalid_step", is_valid: bool = False,
         plan_length: int = 3) -> TraceRow:
    return TraceRow(trace_id=trace_id, generation=0, task_id=1, purpose="deploy", sample_index=0,
                    completion="x", plan_text="x", n_tokens=1, n_reasoning_tokens=0, hit_token_limit=False,
                    status=status, is_valid=is_valid, plan_length=plan_length, verdict_json=verdict_json)


def _stored_row(verdict: Verdict) -> TraceRow:
    """The row the loop stores for a completion the validator judged ``verdict``."""
    return TraceRow(trace_id=7, generation=0, task_id=1, purpose="deploy", sample_index=0, completion="x",
                    plan_text="x", n_tokens=1, n_reasoning_tokens=0, hit_token_limit=False,
                    **verdict_columns(verdict))


@pytest.mark.parametrize("status", list(PLANS))
def test_a_real_verdict_round_trips(status: str) -> None:
    verdict = validate_plan(_swap_task(), PLANS[status])
    assert verdict.status == status
    row = _stored_row(verdict)
    stored = row.verdict
    # every key the validator writes is a field, with the validator's value and type
    assert set(StoredVerdict.model_fields) == set(verdict.to_dict())
    for name in StoredVerdict.model_fields:
        assert getattr(stored, name) == getattr(verdict, name), name
    # and it gives back the stored text byte for byte: nothing is lost or reordered
    assert dumps(stored.model_dump(mode="json")) == row.verdict_json


def test_the_verdict_is_parsed_once_and_is_not_a_column() -> None:
    verdict = validate_plan(_swap_task(), PLANS["invalid_step"])
    row, fresh = _stored_row(verdict), _stored_row(verdict)
    assert row.verdict is row.verdict
    assert row.verdict.failed_step == 2 and row.verdict.unmet_preconditions
    # the stored columns, the row's dump and its equality are the row's alone
    assert "verdict" not in row.model_dump() and "verdict" not in TraceRow.model_fields
    assert row == fresh and row.model_dump() == fresh.model_dump()


def test_an_old_style_verdict_takes_its_missing_keys_from_defaults_and_the_row() -> None:
    empty = _row("{}", status="goal_not_reached", is_valid=False, plan_length=5).verdict
    assert (empty.status, empty.is_valid, empty.plan_length) == ("goal_not_reached", False, 5)
    assert (empty.actions, empty.unmet_preconditions, empty.unmet_goals, empty.ignored_lines) == ((),) * 4
    assert (empty.failed_step, empty.failed_action, empty.message) == (None, None, "")
    # a partial verdict keeps what it has; keys it does not know are ignored
    partial = _row(json.dumps({"valid": True, "actions": ["(pickup b1)"], "failed_step": 0,
                               "status": "invalid_step"}), status="valid", is_valid=True).verdict
    assert partial.actions == ("(pickup b1)",) and partial.failed_step == 0
    assert partial.status == "invalid_step" and partial.is_valid  # the JSON's own value wins


@pytest.mark.parametrize(("text", "says"), [
    ("not json", "is not JSON"),
    ("[1, 2]", "is a JSON list, not an object"),
    ('"valid"', "is a JSON str, not an object"),
    ('{"failed_step": true}', "bad 'failed_step'"),
    ('{"failed_step": "2"}', "bad 'failed_step'"),
    ('{"actions": "(pickup b1)"}', "bad 'actions'"),
    ('{"unmet_goals": [1]}', "bad 'unmet_goals.0'"),
    ('{"message": null}', "bad 'message'"),
])
def test_a_garbled_verdict_is_a_clear_error_naming_the_trace(text: str, says: str) -> None:
    row = _row(text, trace_id=10004)
    with pytest.raises(StoredVerdictError, match="trace 10004") as raised:
        _ = row.verdict
    assert says in str(raised.value)
    assert isinstance(raised.value, StoreError) and isinstance(raised.value, ValueError)


def test_every_verdict_of_a_stored_run_reads_and_agrees_with_its_row(tmp_path: Path) -> None:
    """The committed golden run, as the loop wrote it (and the store's checks passed it)."""
    run = tmp_path / "run"
    shutil.copytree(RUN_DIR, run)
    with RunReader(run) as reader:
        traces = reader.traces()
    assert {t.status for t in traces} >= {"valid", "invalid_step"}
    for t in traces:
        v = t.verdict
        assert (v.status, v.is_valid, v.plan_length) == (t.status, t.is_valid, t.plan_length), t.trace_id
        assert len(v.actions) == t.plan_length or not v.is_valid, t.trace_id
        assert dumps(v.model_dump(mode="json")) == t.verdict_json, t.trace_id
