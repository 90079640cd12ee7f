"""Transport: vehicles with a capacity drive a road network, picking up and dropping packages.

As the IPC-2023 generator: a random connected road graph (roads both ways), each vehicle at a
random location with a random capacity in 1..max_capacity (sizes ``c0 .. cK`` chained by
``capacity-predecessor``), each package at a random location with a different random goal.
Always solvable: the roads connect every location and every vehicle holds at least one package
(drive, pick up, drive, drop, package by package: the witness).
"""

from __future__ import annotations

import itertools

import numpy as np

from iterdeploy.simulator.planning._task import Atom, GroundTask
from iterdeploy.simulator.planning.generators._build import (
    new_task,
    numbered,
    pick,
    random_connected_graph,
    shortest_path,
    typed,
)
from iterdeploy.simulator.planning.generators._spec import DomainSpec, ParamSpec, PlanBuilder, Witness

DOMAIN = "transport"


def _build(p: dict[str, int], rng: np.random.Generator, name: str | None) -> tuple[GroundTask, Witness]:
    vehicles = numbered("v", p["n_vehicles"])
    packages = numbered("p", p["n_packages"])
    locs = numbered("l", p["n_locations"])
    sizes = numbered("c", p["max_capacity"] + 1, start=0)
    capacity = {v: sizes[int(rng.integers(1, p["max_capacity"], endpoint=True))] for v in vehicles}
    origin = {pkg: pick(rng, locs) for pkg in packages}
    start = {v: pick(rng, locs) for v in vehicles}
    roads = random_connected_graph(locs, rng)
    dest = {pkg: pick(rng, [loc for loc in locs if loc != origin[pkg]]) for pkg in packages}
    init: set[Atom] = {("capacity", v, capacity[v]) for v in vehicles}
    init |= {("capacity-predecessor", a, b) for a, b in itertools.pairwise(sizes)}
    init |= {("at", pkg, origin[pkg]) for pkg in packages} | {("at", v, start[v]) for v in vehicles}
    init |= {("road", a, b) for a, b in roads}
    goal: set[Atom] = {("at", pkg, dest[pkg]) for pkg in packages}
    objects = typed(vehicles, "vehicle") + typed(packages, "package") + typed(locs, "location") + typed(
        sizes, "size")
    task = new_task(DOMAIN, name or f"transport-{len(packages)}-{len(vehicles)}-{len(locs)}",
                    objects, init, goal, p)
    smaller = dict(zip(sizes[1:], sizes, strict=False))
    larger = dict(itertools.pairwise(sizes))

    def witness(b: PlanBuilder) -> None:
        truck = vehicles[0]

        def drive_to(target: str) -> None:
            (here,) = b.the("at", truck, None)[1:]
            path = shortest_path(roads, here, target)
            for a, c in itertools.pairwise(path):
                b.do("drive", truck, a, c)

        for pkg in packages:
            drive_to(origin[pkg])
            (cap,) = b.the("capacity", truck, None)[1:]
            b.do("pick-up", truck, origin[pkg], pkg, smaller[cap], cap)
            drive_to(dest[pkg])
            (cap,) = b.the("capacity", truck, None)[1:]
            b.do("drop", truck, dest[pkg], pkg, cap, larger[cap])

    return task, witness


SPEC = DomainSpec(
    name=DOMAIN,
    summary="vehicles of limited capacity carry packages across a connected road network",
    params=(
        ParamSpec("n_packages", "packages to deliver (IPC: packages)", 1, 15, 2),
        ParamSpec("n_vehicles", "vehicles (IPC: vehicles)", 1, 6, lambda p: 1 + p["n_packages"] // 4,
                  "1 + n_packages // 4"),
        ParamSpec("n_locations", "locations in the road graph (IPC: locations)", 2, 20,
                  lambda p: p["n_packages"] + 2, "n_packages + 2"),
        ParamSpec("max_capacity", "largest vehicle capacity; each vehicle gets 1..max (IPC: max_capacity)",
                  1, 5, 2),
    ),
    build=_build,
)
