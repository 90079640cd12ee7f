"""Rovers tasks by whether one rover can reach every goal alone.

The Rovers generator gives a task one rover up to 5 waypoints and two from 6 (``n_rovers = 1 +
n_waypoints // 6``), each with its own analyses (soil, rock, imaging) and cameras. When no single
rover has every analysis and a camera for every image mode that the goals ask for, a valid plan
must use both. The embedded base's corpus (2-4 waypoints, a tail to 6) holds two-rover tasks only
in its tail, so whether the loop can open those tasks is a question of its own: the report counts
the pool's tasks of each kind apart, and the samples whose first failing step gives a job to a
rover that lacks the equipment for it (:func:`gives_job_to_unequipped_rover`).
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from iterdeploy.simulator.planning import GroundTask, load_stored_task
from iterdeploy.simulator.store import RunReader

ONE_ROVER, ONE_SUFFICES, NEEDS_TWO = "one rover", "two rovers, one suffices", "two rovers, needs both"
KINDS = (ONE_ROVER, ONE_SUFFICES, NEEDS_TWO)

_ANALYSIS = {"communicated_soil_data": "equipped_for_soil_analysis",
             "communicated_rock_data": "equipped_for_rock_analysis"}


def team_kind(task: GroundTask) -> str:
    """Which of :data:`KINDS` a Rovers task is, read from its initial state and goals (camera
    calibration and the map are not considered: they are per rover, and the count is about
    which rover can do the work at all)."""
    rovers = {a[2] for a in task.init if a[0] == "store_of"}
    if len(rovers) < 2:
        return ONE_ROVER
    equipped: dict[str, set[str]] = defaultdict(set)
    cameras: dict[str, set[str]] = defaultdict(set)
    modes: dict[str, set[str]] = defaultdict(set)
    for atom in task.init:
        if atom[0].startswith("equipped_for_"):
            equipped[atom[1]].add(atom[0])
        elif atom[0] == "on_board":
            cameras[atom[2]].add(atom[1])
        elif atom[0] == "supports":
            modes[atom[1]].add(atom[2])
    needs = {_ANALYSIS[g[0]] for g in task.goal if g[0] in _ANALYSIS}
    image_modes = {g[2] for g in task.goal if g[0] == "communicated_image_data"}
    if image_modes:
        needs.add("equipped_for_imaging")

    def alone(rover: str) -> bool:
        return needs <= equipped[rover] and (
            not image_modes or any(image_modes <= modes[c] for c in cameras[rover]))

    return ONE_SUFFICES if any(alone(r) for r in rovers) else NEEDS_TWO


def solved_by_team(reader: RunReader) -> dict[tuple[int, str], tuple[int, int]]:
    """Rovers deployment tasks solved and brought, per generation and :func:`team_kind`:
    (generation, kind) → (solved, tasks). Empty for a run without Rovers tasks."""
    rows = reader.query(
        "SELECT k.generation AS g, k.domain AS d, k.problem_pddl AS pddl, "
        "EXISTS (SELECT 1 FROM traces t WHERE t.task_id = k.task_id AND t.is_valid) AS solved "
        "FROM tasks k WHERE k.pool = 'deploy' AND k.domain = 'rovers'")
    return _count_by_team(rows, lambda r: bool(r["solved"]))


def _count_by_team(
    rows: Iterable[Mapping[str, Any]], hit: Callable[[Mapping[str, Any]], bool]
) -> dict[tuple[int, str], tuple[int, int]]:
    """(generation, :func:`team_kind`) → (rows that ``hit``, rows), for rows with the task's
    generation ``g``, domain ``d`` and problem ``pddl``."""
    kinds: dict[str, str] = {}  # a fixed pool repeats each problem every generation
    hits: Counter[tuple[int, str]] = Counter()
    counted: Counter[tuple[int, str]] = Counter()
    for r in rows:
        pddl = str(r["pddl"])
        if pddl not in kinds:
            kinds[pddl] = team_kind(load_stored_task(str(r["d"]), pddl))
        key = (int(r["g"]), kinds[pddl])
        counted[key] += 1
        hits[key] += hit(r)
    return {key: (hits[key], n) for key, n in sorted(counted.items())}


UNEQUIPPED = ("(equipped_for_", "(on_board ")
"""How an unmet precondition reads when the rover named has not the analysis (``equipped_for_...``)
or does not carry the camera (``on_board``) its step uses."""


def gives_job_to_unequipped_rover(status: str, unmet_preconditions: Sequence[str]) -> bool:
    """Whether a sample's first failing step asks a rover for an analysis it is not equipped for,
    or to use a camera it does not carry: the plan chose the wrong rover for the job, rather than
    a wrong route or order."""
    return status == "invalid_step" and any(p.startswith(UNEQUIPPED) for p in unmet_preconditions)


def unequipped_by_team(reader: RunReader) -> dict[tuple[int, str], tuple[int, int]]:
    """Rovers deployment samples whose first failing step gives a job to an unequipped rover,
    per generation and :func:`team_kind`: (generation, kind) → (such samples, samples). Empty
    for a run without Rovers tasks."""
    rows = reader.query(
        "SELECT t.generation AS g, k.domain AS d, k.problem_pddl AS pddl, t.status AS status, "
        "t.verdict_json AS verdict FROM traces t JOIN tasks k ON k.task_id = t.task_id "
        "WHERE t.purpose = 'deploy' AND k.domain = 'rovers'")
    return _count_by_team(rows, lambda r: gives_job_to_unequipped_rover(
        str(r["status"]), json.loads(str(r["verdict"])).get("unmet_preconditions", [])))
