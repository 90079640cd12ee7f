"""Reference planning by search on the :class:`GroundTask`.

Breadth-first search gives optimal plan lengths for small tasks (used to tag tasks with
``optimal_length`` and to report plan length relative to the optimum). It stops at a node budget
and says so by returning None, so callers carry on without an optimum instead of hanging.
"""

from __future__ import annotations

from collections import deque

from iterdeploy.simulator.planning._task import GroundAction, GroundTask, State


def breadth_first_plan(task: GroundTask, *, max_nodes: int = 200_000) -> list[GroundAction] | None:
    """Shortest plan by breadth-first search, or None if none is found within ``max_nodes``.

    Ties between equally short plans are broken deterministically (actions are expanded in sorted
    order), so the same task always yields the same plan.
    """
    if task.goal_reached(task.init):
        return []
    parents: dict[State, tuple[State, GroundAction] | None] = {task.init: None}
    frontier: deque[State] = deque([task.init])
    while frontier:
        state = frontier.popleft()
        actions = sorted(task.applicable_actions(state), key=lambda a: (a.name, a.args))
        for action in actions:
            nxt = action.apply(state)
            if nxt in parents:
                continue
            parents[nxt] = (state, action)
            if task.goal_reached(nxt):
                return _backtrack(parents, nxt)
            if len(parents) >= max_nodes:
                return None
            frontier.append(nxt)
    return None


def _backtrack(
    parents: dict[State, tuple[State, GroundAction] | None], state: State
) -> list[GroundAction]:
    plan: list[GroundAction] = []
    link = parents[state]
    while link is not None:
        prev, action = link
        plan.append(action)
        link = parents[prev]
    plan.reverse()
    return plan
