"""Synthetic run stores for the auditor tests.

The rows are made up (no model, no planner): each trace gets a validity, a plan length and a token
count from a seeded generator, and a known curation rule decides what users keep. That is enough to
test the auditor's bookkeeping and that it recovers the rule's direction.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pytest

from iterdeploy.auditors.conformance import ConformanceStores
from iterdeploy.simulator.store import (
    DB_NAME,
    CurationRow,
    GenerationBundle,
    GenerationRow,
    RunRow,
    RunWriter,
    TaskRow,
    TraceRow,
)

Rule = Literal[
    "shortest", "longest", "validity", "random_valid", "accept_all", "reject_all", "length_bias", "sloppy"
]
"""How a synthetic user decides one task's traces (:func:`keep_by_rule`)."""

INVALID_STATUSES = ("invalid_step", "goal_not_reached", "unknown_action", "unparseable")


def run_row() -> RunRow:
    """A run row with fixed values."""
    return RunRow(
        run_id="00000000-0000-4000-8000-000000000000",
        name="synthetic",
        seed=0,
        scenario_yaml="name: synthetic\n",
        scenario_json="{}",
        status="completed",
        created_at="2025-01-01T00:00:00+00:00",
        package_versions="{}",
    )


def generation_row(generation: int, n_tasks: int, n_traces: int, n_published: int) -> GenerationRow:
    """A generation row with fixed bookkeeping values."""
    return GenerationRow(
        generation=generation,
        model_id=generation,
        n_deploy_tasks=n_tasks,
        n_deploy_traces=n_traces,
        n_published=n_published,
        train_size=n_published,
        wall_time_s=1.0,
        committed_at="2025-01-01T00:00:00+00:00",
    )


def task_row(task_id: int, generation: int | None, size: int, pool: str = "deploy") -> TaskRow:
    """A Blocksworld-like task row."""
    return TaskRow(
        task_id=task_id,
        pool=pool,  # type: ignore[arg-type]
        generation=generation,
        domain="blocksworld",
        name=f"task-{task_id}",
        size=size,
        params_json="{}",
        optimal_length=2 * size,
        problem_pddl="(define (problem p))",
    )


def trace_row(
    trace_id: int,
    generation: int,
    task_id: int,
    *,
    status: str,
    plan_length: int,
    n_tokens: int,
    sample_index: int = 0,
    purpose: str = "deploy",
) -> TraceRow:
    """A trace row; ``is_valid`` follows from ``status``."""
    return TraceRow(
        trace_id=trace_id,
        generation=generation,
        task_id=task_id,
        purpose=purpose,  # type: ignore[arg-type]
        sample_index=sample_index,
        completion="(completion text)",
        plan_text="(plan)",
        n_tokens=n_tokens,
        n_reasoning_tokens=0,
        hit_token_limit=False,
        status=status,
        is_valid=status == "valid",
        plan_length=plan_length,
        verdict_json="{}",
    )


def decision_row(
    decision_id: int, trace: TraceRow, *, kept: bool, user: str = "alice", prob: float | None = None
) -> CurationRow:
    """One user's decision; the acceptance probability defaults to the decision itself."""
    return CurationRow(
        decision_id=decision_id,
        generation=trace.generation,
        trace_id=trace.trace_id,
        user=user,
        policy="synthetic-v1",
        kept=kept,
        reason="kept" if kept else "rejected",
        acceptance_prob=float(kept) if prob is None else prob,
        keep_prob=float(kept) if prob is None else prob,
        group_probs_json=json.dumps({user: float(kept) if prob is None else prob}),
    )


def draw_siblings(
    rng: np.random.Generator,
    generation: int,
    task_id: int,
    first_trace_id: int,
    size: int,
    n_samples: int,
    p_valid: float,
    invalid_statuses: Sequence[str] | None = None,
    purpose: str = "deploy",
) -> list[TraceRow]:
    """The ``n_samples`` traces of one task: valid with probability ``p_valid``, at the task's
    optimal length (2 x size) plus an even detour of 0 to 8 steps; otherwise invalid, with a
    status drawn from ``invalid_statuses`` (None: always ``invalid_step``, drawing nothing) and a
    random length (0 when unparseable). Tokens grow with the length."""
    siblings = []
    for k in range(n_samples):
        if rng.random() < p_valid:
            status, length = "valid", 2 * size + 2 * int(rng.integers(0, 5))
        else:
            status = "invalid_step" if invalid_statuses is None else str(rng.choice(invalid_statuses))
            length = 0 if status == "unparseable" else int(rng.integers(1, 4 * size))
        siblings.append(
            trace_row(
                first_trace_id + k,
                generation,
                task_id,
                status=status,
                plan_length=length,
                n_tokens=12 * length + int(rng.integers(5, 30)),
                sample_index=k,
                purpose=purpose,
            )
        )
    return siblings


def keep_by_rule(rule: Rule, traces: list[TraceRow], rng: np.random.Generator | None = None) -> set[int]:
    """Trace ids a synthetic user keeps of one task's traces. ``shortest``/``longest``: one valid
    plan, ties by tokens then id; ``validity``: every valid plan; ``random_valid``: one valid plan
    at random; ``length_bias``: the longest on 30% of tasks (by id), else the shortest;
    ``sloppy``: the shortest, plus each invalid plan with probability 0.3. The last two rules that
    draw need ``rng``; the others draw nothing."""
    if rule == "accept_all":
        return {t.trace_id for t in traces}
    if rule == "reject_all":
        return set()
    if rule == "sloppy":
        assert rng is not None
        sloppy = {t.trace_id for t in traces if not t.is_valid and rng.random() < 0.3}
        return sloppy | keep_by_rule("shortest", traces)
    valid = [t for t in traces if t.is_valid]
    if not valid:
        return set()
    if rule == "validity":
        return {t.trace_id for t in valid}
    if rule == "random_valid":
        assert rng is not None
        return {valid[int(rng.integers(len(valid)))].trace_id}
    if rule == "longest" or (rule == "length_bias" and traces[0].task_id % 10 < 3):
        return {max(valid, key=lambda t: (t.plan_length, -t.n_tokens, -t.trace_id)).trace_id}
    return {min(valid, key=lambda t: (t.plan_length, t.n_tokens, t.trace_id)).trace_id}


def make_bundles(
    *,
    seed: int = 0,
    n_generations: int = 3,
    n_tasks: int = 30,
    n_samples: int = 4,
    rules: Rule | Sequence[Rule] = "shortest",
    p_valid: float = 0.5,
    users: Sequence[str] = ("alice",),
    n_eval_tasks: int = 0,
) -> list[GenerationBundle]:
    """Synthetic generations curated by a known rule (one rule, or one per generation).

    Valid plans are the task's optimal length plus an even detour of 0 to 8 steps, so "shortest
    valid plan wins" is a rule about length; invalid plans have random lengths, unparseable ones
    length 0. Trace ``i`` is decided by ``users[i % len(users)]`` (each user its own group, as in
    a store without population records). With ``n_eval_tasks``, every generation also answers the
    same evaluation tasks ``n_samples`` times, valid more often each generation (drawn from their
    own generator, so the deployment rows do not depend on it).
    """
    rng = np.random.default_rng(seed)
    eval_rng = np.random.default_rng([seed, 1])
    eval_tasks = [task_row(100_000 + i, None, int(eval_rng.integers(4, 6)), pool="eval")
                  for i in range(n_eval_tasks)]
    eval_trace_id = 1_000_000
    per_gen = [rules] * n_generations if isinstance(rules, str) else list(rules)
    bundles = []
    task_id = trace_id = decision_id = 0
    for g in range(n_generations):
        tasks, traces, decisions = [], [], []
        for _ in range(n_tasks):
            task_id += 1
            size = int(rng.integers(4, 6))
            tasks.append(task_row(task_id, g, size))
            siblings = draw_siblings(rng, g, task_id, trace_id + 1, size, n_samples, p_valid,
                                     INVALID_STATUSES)
            trace_id += n_samples
            kept = keep_by_rule(per_gen[g], siblings)
            for t in siblings:
                decision_id += 1
                user = users[t.trace_id % len(users)]
                decisions.append(decision_row(decision_id, t, kept=t.trace_id in kept, user=user))
            traces += siblings
        n_published = sum(d.kept for d in decisions)
        n_deploy = len(traces)
        for task in eval_tasks:
            traces += draw_siblings(eval_rng, g, task.task_id, eval_trace_id, task.size, n_samples,
                                    min(0.95, p_valid + 0.15 * g), INVALID_STATUSES, purpose="eval")
            eval_trace_id += n_samples
        bundles.append(
            GenerationBundle(
                generation=generation_row(g, n_tasks, n_deploy, n_published),
                tasks=(eval_tasks if g == 0 else []) + tasks,
                traces=traces,
                decisions=decisions,
            )
        )
    return bundles


def write_store(
    run_dir: Path, bundles: Sequence[GenerationBundle], scenario: dict[str, Any] | None = None
) -> Path:
    """Write a run row and ``bundles`` to a new store in ``run_dir`` (``scenario``: the stored
    scenario JSON; none means the defaults, whose declared objective is ``validity``)."""
    writer = RunWriter(run_dir)
    try:
        row = run_row()
        if scenario is not None:
            row = row.model_copy(update={"scenario_json": json.dumps(scenario)})
        writer.create_run(row)
        for bundle in bundles:
            writer.commit_generation(bundle)
    finally:
        writer.close()
    return run_dir


def dump_tables(run_dir: Path, *, skip: tuple[str, ...] = ()) -> dict[str, list[tuple[object, ...]]]:
    """Every table's rows (sorted), for before/after comparisons."""
    conn = sqlite3.connect(f"file:{run_dir / DB_NAME}?mode=ro", uri=True)
    try:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {
            name: sorted(conn.execute(f"SELECT * FROM {name}").fetchall(), key=repr)
            for name in sorted(names)
            if name not in skip
        }
    finally:
        conn.close()


def conformance_stores(root: Path) -> ConformanceStores:
    """The three stores :func:`iterdeploy.auditors.conformance.check_auditor` audits, written under ``root``:
    three generations (each curated by another rule, decided by two users, with evaluation
    traces), the same with one generation, and a run with no generation."""
    kwargs: dict[str, Any] = {"n_tasks": 12, "users": ("checkers", "fans"), "n_eval_tasks": 10}
    rules: list[Rule] = ["shortest", "length_bias", "longest"]
    return ConformanceStores(
        full=write_store(root / "full", make_bundles(seed=0, n_generations=3, rules=rules, **kwargs)),
        one_generation=write_store(root / "one", make_bundles(seed=1, n_generations=1, **kwargs)),
        empty=write_store(root / "empty", []),
    )


class SyntheticRuns:
    """The helpers above, handed to tests through the ``synthetic`` fixture.

    Tests get them from a fixture rather than ``from conftest import ...`` so they work under any
    pytest import mode.
    """

    run_row = staticmethod(run_row)
    generation_row = staticmethod(generation_row)
    task_row = staticmethod(task_row)
    trace_row = staticmethod(trace_row)
    decision_row = staticmethod(decision_row)
    draw_siblings = staticmethod(draw_siblings)
    keep_by_rule = staticmethod(keep_by_rule)
    make_bundles = staticmethod(make_bundles)
    write_store = staticmethod(write_store)
    dump_tables = staticmethod(dump_tables)
    conformance_stores = staticmethod(conformance_stores)


@pytest.fixture(scope="session")
def synthetic() -> SyntheticRuns:
    """Builders of synthetic run stores."""
    return SyntheticRuns()


@pytest.fixture
def make_store(tmp_path: Path) -> Callable[..., Path]:
    """Factory: ``make_store(name, **make_bundles_kwargs)`` writes a synthetic store."""

    def factory(name: str = "run", **kwargs: object) -> Path:
        return write_store(tmp_path / name, make_bundles(**kwargs))  # type: ignore[arg-type]

    return factory


BLOCKS = ("b1", "b2", "b3", "b4", "b5", "b6")


def blocksworld_plan(rng: np.random.Generator, n_steps: int) -> str:
    """A plan text of ``n_steps`` Blocksworld-like steps (pairs of pick/unstack then put/stack),
    with a random mix of actions, so action features and an action preference have something to
    read. Only the action names and their counts matter to the auditors."""
    lines = []
    for k in range(n_steps):
        a, b = rng.choice(BLOCKS, size=2, replace=False)
        if k % 2 == 0:
            lines.append(f"unstack {a} {b}" if rng.random() < 0.5 else f"pickup {a}")
        else:
            lines.append(f"stack {a} {b}" if rng.random() < 0.5 else f"putdown {a}")
    return "\n".join(lines)


def population_bundles(
    users: Sequence[dict[str, Any]],
    *,
    seed: int = 0,
    n_generations: int = 3,
    n_tasks: int = 60,
    n_samples: int = 6,
    p_valid: float | Sequence[float] = 0.6,
    n_eval_tasks: int = 0,
    changes: dict[int, Sequence[dict[str, Any]]] | None = None,
) -> list[GenerationBundle]:
    """Synthetic generations curated by a real population (:class:`iterdeploy.simulator.users.Population`).

    ``changes`` maps a generation to the users in force from it on (a planted policy change);
    ``p_valid`` may be one share per generation (a model that improves).

    The traces are made up as in :func:`make_bundles` (valid plans at the optimum plus even detours,
    invalid ones of random length), with a Blocksworld-like plan text; who brings each task, what
    they keep and the acceptance probability A(τ) recorded with every decision come from the
    population's own code, so an auditor can be scored against the exact A(τ) of known policies.
    """
    from iterdeploy.simulator.users import CandidateTrace, Population, parse_actions

    population = Population(list(users), seed=seed)
    rng = np.random.default_rng(seed)
    eval_rng = np.random.default_rng([seed, 1])
    eval_tasks = [task_row(100_000 + i, None, int(eval_rng.integers(3, 6)), pool="eval")
                  for i in range(n_eval_tasks)]
    bundles = []
    task_id = trace_id = decision_id = 0
    eval_trace_id = 1_000_000
    for g in range(n_generations):
        if changes and g in changes:
            population = Population(list(changes[g]), seed=seed)
        tasks, traces, decisions = [], [], []
        share = p_valid if isinstance(p_valid, float) else p_valid[g]
        for owner in population.assign(n_tasks, rng):
            task_id += 1
            size = int(rng.integers(3, 6))
            tasks.append(task_row(task_id, g, size))
            siblings = []
            for k in range(n_samples):
                trace_id += 1
                if rng.random() < share:
                    status, length = "valid", 2 * size + 2 * int(rng.integers(0, 4))
                else:
                    status, length = "invalid_step", int(rng.integers(1, 4 * size))
                plan = blocksworld_plan(rng, length)
                t = trace_row(trace_id, g, task_id, status=status, plan_length=length,
                              n_tokens=12 * length + int(rng.integers(5, 30)), sample_index=k)
                siblings.append(t.model_copy(update={"plan_text": plan}))
            candidates = [CandidateTrace(t.trace_id, t.task_id, t.is_valid, t.status, t.plan_length,
                                         t.n_tokens, parse_actions(t.plan_text.splitlines()))
                          for t in siblings]
            for d in population.curate(owner, candidates, rng):
                decision_id += 1
                decisions.append(CurationRow(
                    decision_id=decision_id, generation=g, trace_id=d.trace_id, user=d.user,
                    policy=d.policy, kept=d.kept, reason=d.reason, acceptance_prob=d.acceptance_prob,
                    keep_prob=d.keep_prob, group_probs_json=json.dumps(list(d.group_probs))))
            traces += siblings
        n_deploy = len(traces)
        for task in eval_tasks:
            traces += draw_siblings(eval_rng, g, task.task_id, eval_trace_id, task.size, n_samples,
                                    min(0.95, share + 0.1 * g), INVALID_STATUSES, purpose="eval")
            eval_trace_id += n_samples
        bundles.append(GenerationBundle(
            generation=generation_row(g, n_tasks, n_deploy, sum(d.kept for d in decisions)),
            tasks=(eval_tasks if g == 0 else []) + tasks, traces=traces, decisions=decisions))
    return bundles


def write_population_store(
    run_dir: Path, users: Sequence[dict[str, Any]], *, declared: object = "validity", **kwargs: Any
) -> Path:
    """A store of :func:`population_bundles` whose scenario declares ``declared``."""
    writer = RunWriter(run_dir)
    try:
        scenario = {"name": "synthetic", "declared_objective": declared,
                    "users": [dict(u) for u in users]}
        writer.create_run(run_row().model_copy(update={"scenario_json": json.dumps(scenario)}))
        for bundle in population_bundles(users, **kwargs):
            writer.commit_generation(bundle)
    finally:
        writer.close()
    return run_dir


SyntheticRuns.population_bundles = staticmethod(population_bundles)  # type: ignore[attr-defined]
SyntheticRuns.write_population_store = staticmethod(write_population_store)  # type: ignore[attr-defined]
