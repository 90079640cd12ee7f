"""Miconic: an elevator serves passengers between floors.

As the IPC-2023 generator: the lift starts at a random floor, each passenger has a random origin
and a different random destination, and ``(above fi fj)`` holds for every i < j (the lift moves
between any two floors in one step). Always solvable (fetch and deliver each passenger in turn).
"""

from __future__ import annotations

import numpy as np

from iterdeploy.simulator.planning._task import Atom, GroundTask
from iterdeploy.simulator.planning.generators._build import new_task, numbered, pick, typed
from iterdeploy.simulator.planning.generators._spec import DomainSpec, ParamSpec, PlanBuilder, Witness

DOMAIN = "miconic"


def _build(p: dict[str, int], rng: np.random.Generator, name: str | None) -> tuple[GroundTask, Witness]:
    people = numbered("p", p["n_passengers"])
    floors = numbered("f", p["n_floors"])
    lift = pick(rng, floors)
    origin: dict[str, str] = {}
    destin: dict[str, str] = {}
    for person in people:  # origin then destination per passenger, as the IPC generator draws them
        origin[person] = pick(rng, floors)
        destin[person] = pick(rng, [f for f in floors if f != origin[person]])
    init: set[Atom] = {("lift-at", lift)}
    init |= {("origin", q, origin[q]) for q in people} | {("destin", q, destin[q]) for q in people}
    init |= {("above", a, b) for i, a in enumerate(floors) for b in floors[i + 1:]}
    goal: set[Atom] = {("served", q) for q in people}
    task = new_task(DOMAIN, name or f"miconic-{len(people)}-{len(floors)}",
                    typed(people, "passenger") + typed(floors, "floor"), init, goal, p)
    level = {f: i for i, f in enumerate(floors)}

    def witness(b: PlanBuilder) -> None:
        for person in people:
            for stop, act in ((origin[person], "board"), (destin[person], "depart")):
                (here,) = b.the("lift-at", None)
                if here != stop:
                    b.do("up" if level[stop] > level[here] else "down", here, stop)
                b.do(act, stop, person)

    return task, witness


SPEC = DomainSpec(
    name=DOMAIN,
    summary="an elevator picks passengers up at their floors and drops them at their destinations",
    params=(
        ParamSpec("n_passengers", "passengers to serve (IPC: passengers)", 1, 20, 3),
        ParamSpec("n_floors", "floors (IPC: floors)", 2, 30,
                  lambda p: 2 * p["n_passengers"], "2 * n_passengers"),
    ),
    build=_build,
)
