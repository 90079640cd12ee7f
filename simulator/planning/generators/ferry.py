"""Ferry: one ferry carries cars, one at a time, between locations.

As the IPC-2023 generator: the ferry starts empty at a random location, each car at a random
location, and each car's goal is a different random location. Always solvable (sail, board, sail,
debark for each car in turn: the witness).
"""

from __future__ import annotations

import numpy as np

from iterdeploy.simulator.planning._task import Atom, GroundTask
from iterdeploy.simulator.planning.generators._build import new_task, numbered, pick, typed
from iterdeploy.simulator.planning.generators._spec import DomainSpec, ParamSpec, PlanBuilder, Witness

DOMAIN = "ferry"


def _build(p: dict[str, int], rng: np.random.Generator, name: str | None) -> tuple[GroundTask, Witness]:
    cars = numbered("car", p["n_cars"])
    locs = numbered("loc", p["n_locations"])
    ferry_at = pick(rng, locs)
    origin = {car: pick(rng, locs) for car in cars}
    dest = {car: pick(rng, [loc for loc in locs if loc != origin[car]]) for car in cars}
    init: set[Atom] = {("empty-ferry",), ("at-ferry", ferry_at)} | {("at", c, origin[c]) for c in cars}
    goal: set[Atom] = {("at", c, dest[c]) for c in cars}
    task = new_task(DOMAIN, name or f"ferry-{len(cars)}-{len(locs)}",
                    typed(cars, "car") + typed(locs, "location"), init, goal, p)

    def witness(b: PlanBuilder) -> None:
        for car in cars:
            for stop, act in ((origin[car], "board"), (dest[car], "debark")):
                (here,) = b.the("at-ferry", None)
                if here != stop:
                    b.do("sail", here, stop)
                b.do(act, car, stop)

    return task, witness


SPEC = DomainSpec(
    name=DOMAIN,
    summary="a ferry moves cars between locations, one car at a time",
    params=(
        ParamSpec("n_cars", "cars to move (IPC: cars)", 1, 20, 3),
        ParamSpec("n_locations", "locations (IPC: locations)", 2, 20,
                  lambda p: p["n_cars"] + 1, "n_cars + 1"),
    ),
    build=_build,
)
