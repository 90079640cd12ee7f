"""The trace browser's questions, as pure functions of a :class:`~iterdeploy.simulator.store.RunReader`.

Findings cite trace ids; a reader who cannot open them has to take the claim on trust. These
functions answer what the dashboard's Traces and Findings pages ask: which traces match a filter
(generation, user or group, verdict, task, size), what one trace is (prompt, completion, extracted
plan, verdict with its failing step), where it went (who kept it, which training sets and models
it entered: its provenance), how two plans for one task differ, and which traces a finding cites.
No Streamlit here, so every answer is testable on a real store; nothing here writes to a run.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from iterdeploy.auditors.core.decisions import user_groups
from iterdeploy.dashboards.data import finding_evidence, finding_numbers
from iterdeploy.simulator.errors import PddlError, StoreError
from iterdeploy.simulator.store import (
    CurationRow,
    FindingRow,
    ModelRow,
    RunReader,
    StoredVerdict,
    StoredVerdictError,
    TaskRow,
    TraceRow,
)

TRACE_COLUMNS: tuple[str, ...] = (
    "trace_id", "generation", "purpose", "task_id", "task", "domain", "size", "sample_index",
    "status", "is_valid", "plan_length", "user", "group", "kept",
)
"""Columns of :func:`trace_table`; ``user``, ``group`` and ``kept`` are empty for traces nobody
curated (evaluation samples, reference plans)."""


@dataclass(frozen=True)
class TraceFilter:
    """What the trace browser narrows the run's traces to; an empty collection (or None) means
    "any", so the default filter lists every trace."""

    generations: Collection[int] = ()
    purposes: Collection[str] = ()
    users: Collection[str] = ()
    groups: Collection[str] = ()
    statuses: Collection[str] = ()
    task_id: int | None = None
    sizes: Collection[int] = ()
    kept: bool | None = None


@dataclass(frozen=True)
class Verdict:
    """The validator's verdict on one trace, in the words a reader needs: the failing step (1-based,
    as the message counts), the action there, and what it lacked."""

    status: str
    is_valid: bool
    message: str
    failed_step: int | None
    failed_action: str | None
    unmet_preconditions: tuple[str, ...]
    unmet_goals: tuple[str, ...]
    actions: tuple[str, ...]


@dataclass(frozen=True)
class TraceDetail:
    """One trace with everything the browser shows about it."""

    trace: TraceRow
    task: TaskRow
    prompt: str | None
    """The prompt the model was given: stored, or rendered for the embedded model's compact format;
    None where neither is possible (a PDDL prompt needs the model's chat template)."""
    verdict: Verdict
    decisions: tuple[CurationRow, ...]
    groups: dict[str, str] = field(default_factory=dict)
    """User → group, for the users in :attr:`decisions`."""
    training_generations: tuple[int, ...] = ()
    """Generations whose training set holds this trace."""
    models: tuple[ModelRow, ...] = ()
    """The models trained on it (the models of those generations that are committed)."""


def _groups_of(reader: RunReader, users: Collection[str]) -> dict[str, str]:
    return user_groups(reader, sorted(set(users))) if users else {}


def trace_table(reader: RunReader, where: TraceFilter | None = None) -> pd.DataFrame:
    """The run's traces that match ``where``, one row each, in id order (columns
    :data:`TRACE_COLUMNS`).

    Completion texts are not read (:meth:`~iterdeploy.simulator.store.RunQueries.trace_facts`), so
    a run of many thousand traces lists quickly; :func:`trace_detail` reads one in full.
    """
    where = where or TraceFilter()
    generations = set(where.generations)
    purposes = set(where.purposes)
    facts = [f for f in reader.trace_facts()
             if (not generations or f.generation in generations)
             and (not purposes or f.purpose in purposes)
             and (where.task_id is None or f.task_id == where.task_id)
             and (not where.statuses or f.status in where.statuses)]
    tasks = reader.tasks_by_id({f.task_id for f in facts})
    if where.sizes:
        facts = [f for f in facts if f.task_id in tasks and tasks[f.task_id].size in set(where.sizes)]
    decided: dict[int, CurationRow] = {}
    for generation in sorted({f.generation for f in facts if f.purpose == "deploy"}):
        for decision in reader.decisions(generation):
            decided.setdefault(decision.trace_id, decision)
    groups = _groups_of(reader, {d.user for d in decided.values()})
    rows = []
    for f in facts:
        task = tasks.get(f.task_id)
        d = decided.get(f.trace_id)
        user = d.user if d is not None else None
        group = groups.get(user, user) if user is not None else None
        if where.users and user not in where.users:
            continue
        if where.groups and group not in where.groups:
            continue
        if where.kept is not None and (d is None or d.kept != where.kept):
            continue
        rows.append((f.trace_id, f.generation, f.purpose, f.task_id,
                     task.name if task else None, task.domain if task else None,
                     task.size if task else None, f.sample_index, f.status, f.is_valid,
                     f.plan_length, user, group, None if d is None else d.kept))
    frame = pd.DataFrame(rows, columns=list(TRACE_COLUMNS))
    frame["kept"] = frame["kept"].astype("boolean")
    return frame


def filter_choices(reader: RunReader) -> dict[str, list[Any]]:
    """The values each filter of the trace browser can take in this run: ``generations``,
    ``purposes``, ``users``, ``groups``, ``statuses`` and ``sizes``, each sorted."""
    facts = reader.trace_facts()
    counts = reader.decision_counts()
    users = sorted({user for _, user in counts})
    groups = _groups_of(reader, users)
    return {
        "generations": sorted({f.generation for f in facts}),
        "purposes": sorted({f.purpose for f in facts}),
        "users": users,
        "groups": sorted(set(groups.values())),
        "statuses": sorted({f.status for f in facts}),
        "sizes": sorted({t.size for t in reader.tasks()}),
    }


def parse_verdict(trace: TraceRow) -> Verdict:
    """The stored verdict of ``trace`` (:attr:`TraceRow.verdict`) in a reader's words, read
    defensively: a verdict the store cannot read (:class:`StoredVerdictError`: not a JSON object,
    a value of the wrong type) still gives the trace's own status, validity and message, with no
    failing step and no plan, so one damaged row does not take the page down."""
    try:
        stored = trace.verdict
    except StoredVerdictError:
        stored = StoredVerdict(status=trace.status, is_valid=trace.is_valid, plan_length=trace.plan_length)
    return Verdict(
        status=trace.status, is_valid=trace.is_valid, message=stored.message or trace.status,
        # the validator counts steps from 0; a reader counts from 1, as the message does
        failed_step=None if stored.failed_step is None else stored.failed_step + 1,
        failed_action=stored.failed_action, unmet_preconditions=stored.unmet_preconditions,
        unmet_goals=stored.unmet_goals, actions=stored.actions,
    )


def task_prompt(reader: RunReader, task: TaskRow) -> str | None:
    """The prompt the model was given for ``task``: the stored one, or, for a store that kept
    none, the embedded model's compact prompt rendered again (it needs no model); None for a
    PDDL prompt, whose chat template belongs to the model's tokenizer."""
    if task.prompt is not None:
        return task.prompt
    from iterdeploy.simulator.models.registry import REGISTERED, prompt_format_of

    model = reader.scenario().get("model")
    name = model.get("name") if isinstance(model, dict) else None
    if not isinstance(name, str) or name.strip() not in REGISTERED or prompt_format_of(name) != "compact":
        return None
    from iterdeploy.simulator.models.task_format import CompactTaskFormat
    from iterdeploy.simulator.planning import load_stored_task

    try:
        return CompactTaskFormat().prompt(load_stored_task(task.domain, task.problem_pddl))
    except (PddlError, KeyError, ValueError):
        return None


def trace_detail(reader: RunReader, trace_id: int) -> TraceDetail:
    """Everything the browser shows about one trace, provenance included.

    Raises:
        StoreError: The run has no trace ``trace_id`` (the message names it).
    """
    trace = reader.traces_by_id([trace_id]).get(trace_id)
    if trace is None:
        raise StoreError(f"{reader.run_dir}: trace {trace_id} is not in this run")
    task = reader.task(trace.task_id)
    decisions = tuple(reader.decisions_on_trace(trace_id))
    generations = tuple(reader.training_generations_of(trace_id))
    models = tuple(m for m in reader.models() if m.generation in set(generations))
    return TraceDetail(
        trace=trace, task=task, prompt=task_prompt(reader, task), verdict=parse_verdict(trace),
        decisions=decisions, groups=_groups_of(reader, {d.user for d in decisions}),
        training_generations=generations, models=models,
    )


def plan_diff(plan_a: str, plan_b: str, *, name_a: str = "a", name_b: str = "b") -> list[str]:
    """A unified diff (difflib) of two plans, one action a line, whitespace around each action
    ignored: where two answers to one task part ways. Empty when the plans are the same."""
    a = [line.strip() for line in plan_a.splitlines() if line.strip()]
    b = [line.strip() for line in plan_b.splitlines() if line.strip()]
    return [line.rstrip("\n") for line in
            difflib.unified_diff(a, b, fromfile=name_a, tofile=name_b, lineterm="", n=2)]


def sibling_traces(reader: RunReader, trace: TraceRow) -> list[int]:
    """The other traces of the same task and generation (the candidates it was curated among,
    or the other samples of an evaluation task), for the plan diff."""
    return [f.trace_id for f in reader.trace_facts(generation=trace.generation)
            if f.task_id == trace.task_id and f.trace_id != trace.trace_id]


# -- a finding's evidence --------------------------------------------------------------------------
def cited_trace_ids(finding: FindingRow) -> list[int]:
    """The trace ids a finding cites, in the order its evidence lists them, each once: every
    evidence key that names trace ids (``kept_trace_ids_sample``, ``repeated_plan_trace_ids``, …)."""
    out: list[int] = []
    for key, value in finding_evidence(finding).items():
        if "trace_id" in key and isinstance(value, list):
            out += [v for v in value if isinstance(v, int) and not isinstance(v, bool) and v not in out]
    return out


def denominators(finding: FindingRow) -> dict[str, Any]:
    """What a finding's numbers are counted over: its ``denominators`` block, flattened one level
    (``by_group.validators.n_tasks``), so a table shows "of how many"."""
    block = finding_numbers(finding).get("denominators")
    out: dict[str, Any] = {}

    def walk(prefix: str, value: Any, depth: int) -> None:
        if isinstance(value, dict) and depth < 3:
            for key, inner in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), inner, depth + 1)
        elif not isinstance(value, dict | list):
            out[prefix] = value

    walk("", block if isinstance(block, dict) else {}, 0)
    return out


def finding_statistics(finding: FindingRow) -> dict[str, Any]:
    """A finding's numbers without its denominators (shown apart): the estimates, intervals,
    p-values and test settings an auditor recorded."""
    return {k: v for k, v in finding_numbers(finding).items() if k != "denominators"}
