"""Drawing tasks that a run has not used yet, and the reference plans of drawn tasks.

The loop never repeats a task: evaluation, deployment and reference tasks are all new. Sizes that
hold too few distinct tasks would therefore be drawn from forever; a draw gives up after
:data:`MAX_REPEATED_DRAWS` repeats in a row and says how many tasks exist.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from iterdeploy.simulator.cpus import usable_cpus
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

@dataclass(frozen=True)
class SearchBudget:
    """How far the reference planner may search for a task's optimal plan length."""

    expansions: int
    """The optimum counts when the search proves it expanding at most this many states: a count,
    not a time, so that the stored ``optimal_length`` is the same on a busy machine as on a quiet
    one (Fast Downward's search is deterministic)."""
    cpu_s: float
    """CPU seconds the search may take. It ends the searches that pass the budget without saying
    so for long (a progress line comes at each new f-layer, and one layer of a Rovers search can
    take a minute), and it is three or more times what the budget costs here, so a search within
    its budget is not cut unless the CPU is that much slower than this machine's."""


OPTIMAL_LENGTH_BUDGETS: Mapping[str, SearchBudget] = {"sokoban": SearchBudget(1_000, 5.0)}
"""Per domain; :data:`OPTIMAL_LENGTH_DEFAULT_BUDGET` for a domain not named. LM-cut costs 0.4-1.4
ms a state in Sokoban (~900 ground actions a task) and 40-80 us in Rovers on the 2-core
development machine, so each budget is at most about 1.4 s of search there. Measured on the
fixed pools of the paper's scenarios (``benchmarks/pool_optima.py``): Rovers' provable optima
mostly need under 7,000 states, and the rest far more than 20,000; Sokoban's mostly under 800."""

OPTIMAL_LENGTH_DEFAULT_BUDGET = SearchBudget(10_000, 3.0)
"""The budget of a domain :data:`OPTIMAL_LENGTH_BUDGETS` does not name."""

OPTIMAL_LENGTH_TIME_S = 60.0
"""A wall-clock safety net behind the CPU limit (a search that waits on a busy machine is not
cut by it)."""

_optima: dict[TaskKey, int | None] = {}
"""Optimal lengths already found in this process, by task: the fixed pool meets the same tasks
every generation, and each would otherwise be searched again."""

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
    breadth-first search for small Blocksworld tasks, by the reference planner's optimal
    configuration within the domain's expansion budget (:data:`OPTIMAL_LENGTH_BUDGETS`) for
    other domains. The same task gets the same answer on every run and machine load."""
    key = task_key(task)
    if key not in _optima:
        _optima[key] = _search_optimal_length(task)
    return _optima[key]


def forget_optima() -> None:
    """Forget every optimal length found in this process, so the next call searches again (a
    benchmark timing the searches, a test that must not see another test's answers)."""
    _optima.clear()


def optimal_lengths(tasks: Sequence[GroundTask]) -> list[int | None]:
    """:func:`optimal_length_of` for each task, the reference planner's searches run side by
    side, one per usable CPU (each is a process; the answers do not depend on the order)."""
    keys = [task_key(task) for task in tasks]
    todo = {key: task for key, task in zip(keys, tasks, strict=True) if key not in _optima}
    with ThreadPoolExecutor(max_workers=max(1, min(usable_cpus(), len(todo)))) as pool:
        _optima.update(zip(todo, pool.map(_search_optimal_length, todo.values()), strict=True))
    return [_optima[key] for key in keys]


def _search_optimal_length(task: GroundTask) -> int | None:
    """The search behind :func:`optimal_length_of`, without its memory."""
    domain = registry_name(task.domain)
    if domain != "blocksworld":
        budget = OPTIMAL_LENGTH_BUDGETS.get(domain, OPTIMAL_LENGTH_DEFAULT_BUDGET)
        # no breadth-first search first: grounding a state's actions in Python takes 70 ms in a
        # 4-box Sokoban task (200 states: 8 s), and Fast Downward proves small tasks in 0.2 s
        return optimal_length(task, domain_path(domain), time_limit_s=OPTIMAL_LENGTH_TIME_S,
                              cpu_limit_s=budget.cpu_s, bfs_nodes=0, max_expansions=budget.expansions)
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
