"""Drawing tasks that a run has not used yet, and the reference plans of drawn tasks.

The loop never repeats a task: evaluation, deployment and reference tasks are all new. Sizes that
hold too few distinct tasks would therefore be drawn from forever; a draw gives up after
:data:`MAX_REPEATED_DRAWS` repeats in a row and says how many tasks exist.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from iterdeploy.simulator.errors import TaskSupplyError
from iterdeploy.simulator.models.embedded import ParamRange, draw_params
from iterdeploy.simulator.planning import (
    GeneratedTask,
    GroundTask,
    breadth_first_plan,
    count_distinct_tasks,
    domain_path,
    generate_sized,
    optimal_length,
    parse_action_line,
    plan_task,
    registry_name,
)
from iterdeploy.simulator.planning.blocksworld import canonical_plan
from iterdeploy.simulator.users.spec import TaskDistributionSpec

TaskKey = tuple[object, ...]
"""What makes two tasks the same task: domain, initial state and goal (names aside)."""

OPTIMAL_LENGTH_MAX_SIZE = 6
"""Blocksworld tasks up to this size get a proven optimal plan length (breadth-first search)."""

OPTIMAL_LENGTH_TIME_S = 2.0
"""Other domains: the reference planner's optimal configuration gets this long per task."""

MAX_REPEATED_DRAWS = 10_000
"""Draws in a row that may all give tasks already used before a task draw gives up
(:class:`TaskSupplyError`). The loop never repeats a task, so sizes that hold too few distinct
tasks would otherwise be drawn from forever. At about a millisecond a draw this is seconds; with
k of C possible tasks still unused, a draw that could go on gives up with probability
(1 - k/C) ** 10000, which is negligible unless the sizes are all but used up. Blocksworld sizes
that hold too few tasks are refused exactly before the run starts (the scenario counts them)."""

_POOL_NAMES = {"eval": "the evaluation pool", "pool": "the fixed deployment pool"}


def task_key(task: GroundTask) -> TaskKey:
    """The key under which a task counts as used."""
    return (task.domain, tuple(sorted(task.init)), tuple(sorted(task.goal)))


def _pool_name(prefix: str) -> str:
    """What a task prefix names, for messages: ``g3`` → generation 3's deployment tasks."""
    if prefix in _POOL_NAMES:
        return _POOL_NAMES[prefix]
    if prefix.startswith("ref"):
        return f"generation {prefix[3:]}'s reference tasks"
    return f"generation {prefix.removeprefix('g')}'s deployment tasks"


def _out_of_tasks(
    distribution: TaskDistributionSpec, prefix: str, found: int, n: int
) -> TaskSupplyError:
    """The error of a draw that found only ``found`` of ``n`` new tasks in ``distribution``."""
    parts: list[str] = []
    counts: list[int | None] = []
    for name, sizes in distribution.domains.items():
        span = f"{sizes.min}" if sizes.min == sizes.max else f"{sizes.min}-{sizes.max}"
        parts.append(f"{name} size{'s' if sizes.min != sizes.max else ''} {span}")
        counts += [count_distinct_tasks(name, k) for k in range(sizes.min, sizes.max + 1)]
    known = [c for c in counts if c is not None]
    exist = f"; {sum(known)} distinct tasks exist there" if len(known) == len(counts) else ""
    return TaskSupplyError(
        f"{_pool_name(prefix)}: found only {found} of the {n} tasks needed in "
        f"{'; '.join(parts)}: {MAX_REPEATED_DRAWS} draws in a row gave tasks already used (the "
        f"run never repeats a task){exist}; widen the sizes, or ask for fewer tasks "
        "(deploy.tasks_per_generation, generations, evaluation.n_tasks, pool.reference_share)")


def draw_tasks(
    rng: np.random.Generator, n: int,
    distribution: TaskDistributionSpec | Sequence[TaskDistributionSpec],
    prefix: str, exclude: set[TaskKey],
) -> list[GroundTask]:
    """``n`` new tasks, none in ``exclude`` (which gains them); one distribution for all or one
    per task (:func:`draw_generated`, without the generators' witnesses)."""
    return [generated.task for generated in draw_generated(rng, n, distribution, prefix, exclude)]


def draw_generated(
    rng: np.random.Generator, n: int,
    distribution: TaskDistributionSpec | Sequence[TaskDistributionSpec],
    prefix: str, exclude: set[TaskKey],
    params: Mapping[str, Mapping[str, ParamRange]] | None = None,
) -> list[GeneratedTask]:
    """``n`` new generated tasks, none in ``exclude`` (which gains them); one distribution for
    all or one per task. The witness plans come along for reference data that teaches the plan a
    corpus teaches (:meth:`TaskFormat.teaching_plan`). ``params``: per domain, generator
    parameters besides the size drawn for each task after it, as a pretraining corpus draws them
    (replayed corpus tasks); a domain without any spends no draw on them.

    A one-domain distribution spends one draw on the size and none on the domain, so Blocksworld
    runs draw the same tasks as before scenarios could name several domains. Counting repeated
    draws changes no draw, so every run that finished before finishes the same.

    Raises:
        TaskSupplyError: After :data:`MAX_REPEATED_DRAWS` draws in a row of tasks already used.
    """
    per_slot = [distribution] * n if isinstance(distribution, TaskDistributionSpec) else list(distribution)
    tasks: list[GeneratedTask] = []
    repeated = 0
    while len(tasks) < n:
        domain, size = per_slot[len(tasks)].draw(rng)
        tag = "" if domain == "blocksworld" else f"{domain}-"
        ranges = (params or {}).get(domain)
        generated = generate_sized(domain, size, rng, name=f"{prefix}-{len(tasks)}-{tag}n{size}",
                                   params=draw_params(ranges, rng) if ranges else None)
        key = task_key(generated.task)
        if key in exclude:
            repeated += 1
            if repeated >= MAX_REPEATED_DRAWS:
                raise _out_of_tasks(per_slot[len(tasks)], prefix, len(tasks), n)
            continue
        repeated = 0
        exclude.add(key)
        tasks.append(generated)
    return tasks


def optimal_length_of(task: GroundTask) -> int | None:
    """The task's optimal plan length where it can be had cheaply (None elsewhere): proven by
    breadth-first search for small Blocksworld tasks, the reference planner's optimal
    configuration within :data:`OPTIMAL_LENGTH_TIME_S` for other domains."""
    domain = registry_name(task.domain)
    if domain != "blocksworld":
        return optimal_length(task, domain_path(domain), time_limit_s=OPTIMAL_LENGTH_TIME_S,
                              bfs_nodes=200)
    if task.size > OPTIMAL_LENGTH_MAX_SIZE:
        return None
    plan = breadth_first_plan(task, max_nodes=60_000)
    return None if plan is None else len(plan)


def reference_plan(task: GroundTask) -> list[tuple[str, tuple[str, ...]]] | None:
    """The reference planner's plan: Blocksworld's canonical one (instant, what the embedded
    model was pretrained on), Fast Downward's for the other domains (None if it finds none)."""
    domain = registry_name(task.domain)
    if domain == "blocksworld":
        return [(a.name, a.args) for a in canonical_plan(task)]
    result = plan_task(task, domain_path(domain), time_limit_s=10.0)
    if not result.solved:
        return None
    steps = [parse_action_line(step) for step in result.plan]  # validated plans: all parse
    return [step for step in steps if step is not None]
