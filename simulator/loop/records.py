"""Rows of the run store built from what a generation produced: tasks, sampled traces.

The validator's verdict is taken once per completion, here, and stored with the trace; every later
stage reads the trace row rather than validating or parsing again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from iterdeploy.simulator.models.protocol import Completion
from iterdeploy.simulator.planning import (
    GroundTask,
    Verdict,
    problem_to_pddl,
    registry_name,
    shipped_domain_constants,
    validate_plan,
)
from iterdeploy.simulator.store import TaskRow, TraceRow, dumps


@dataclass
class Sampled:
    """One completion of one task, with the plan the prompt format extracted from it."""

    task_index: int
    sample_index: int
    completion: Completion
    plan_text: str
    n_reasoning_tokens: int


def task_row(
    task: GroundTask, task_id: int, pool: str, g: int | None, prompt: str, optimal_length: int | None
) -> TaskRow:
    """The stored task: its PDDL problem, the prompt the model is given, size, parameters and
    optimal length (where cheap: :func:`iterdeploy.simulator.loop.task_supply.optimal_lengths`)."""
    domain = registry_name(task.domain)
    return TaskRow(
        task_id=task_id, pool=pool, generation=g, domain=domain,  # type: ignore[arg-type]
        name=task.name, size=task.size, params_json=dumps(task.param_dict()),
        optimal_length=optimal_length,
        problem_pddl=problem_to_pddl(task, constants=shipped_domain_constants(domain)),
        prompt=prompt,
    )


def trace_rows(
    sampled: Sequence[Sampled], tasks: Sequence[GroundTask], task_ids: Sequence[int],
    g: int, purpose: str, trace_ids: Sequence[int],
) -> list[TraceRow]:
    """The stored traces of ``sampled``, each validated against its task."""
    rows = []
    for trace_id, s in zip(trace_ids, sampled, strict=True):
        verdict = validate_plan(tasks[s.task_index], s.plan_text)
        rows.append(TraceRow(
            trace_id=trace_id, generation=g, task_id=task_ids[s.task_index],
            purpose=purpose, sample_index=s.sample_index,  # type: ignore[arg-type]
            completion=s.completion.text, plan_text=s.plan_text,
            n_tokens=s.completion.n_tokens, n_reasoning_tokens=s.n_reasoning_tokens,
            hit_token_limit=s.completion.hit_token_limit, **verdict_columns(verdict),
        ))
    return rows


def verdict_columns(verdict: Verdict) -> dict[str, Any]:
    """The trace row's columns the validator fills: ``status``, ``is_valid``, ``plan_length`` and
    the whole verdict as ``verdict_json`` (which :attr:`TraceRow.verdict` reads back typed). One
    place writes them, for sampled traces and reference plans alike."""
    return {"status": verdict.status, "is_valid": verdict.is_valid, "plan_length": verdict.plan_length,
            "verdict_json": dumps(verdict.to_dict())}
