"""Spanner: Bob walks a one-way corridor from the shed to the gate, picking up spanners, and
tightens the loose nuts at the gate; each spanner tightens one nut.

As the IPC-2023 generator: ``shed -> location1 -> ... -> locationN -> gate`` (links are one-way),
spanners at random corridor locations, all nuts at the gate. Solvable exactly when there are at
least as many spanners as nuts, which the parameters enforce (walk the corridor picking up every
spanner, then tighten: the witness).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping

import numpy as np

from iterdeploy.simulator.planning._task import Atom, GroundTask
from iterdeploy.simulator.planning.generators._build import new_task, numbered, pick, typed
from iterdeploy.simulator.planning.generators._spec import DomainSpec, ParamSpec, PlanBuilder, Witness

DOMAIN = "spanner"


def _build(p: dict[str, int], rng: np.random.Generator, name: str | None) -> tuple[GroundTask, Witness]:
    spanners = numbered("spanner", p["n_spanners"])
    nuts = numbered("nut", p["n_nuts"])
    corridor = numbered("location", p["n_locations"])
    where = {s: pick(rng, corridor) for s in spanners}
    init: set[Atom] = {("at", "bob", "shed")}
    init |= {("at", s, where[s]) for s in spanners} | {("usable", s) for s in spanners}
    init |= {("at", n, "gate") for n in nuts} | {("loose", n) for n in nuts}
    path = ["shed", *corridor, "gate"]
    init |= {("link", a, b) for a, b in itertools.pairwise(path)}
    goal: set[Atom] = {("tightened", n) for n in nuts}
    objects = [("bob", "man"), *typed(spanners, "spanner"), *typed(nuts, "nut"), *typed(path, "location")]
    task = new_task(DOMAIN, name or f"spanner-{len(nuts)}-{len(spanners)}-{len(corridor)}",
                    objects, init, goal, p)

    def witness(b: PlanBuilder) -> None:
        for here, nxt in itertools.pairwise(path):
            for obj, _ in b.find("at", None, here):
                if obj in where:
                    b.do("pickup_spanner", here, obj, "bob")
            b.do("walk", here, nxt, "bob")
        for nut, spanner in zip(nuts, spanners, strict=False):
            b.do("tighten_nut", "gate", spanner, "bob", nut)

    return task, witness


def _check(p: Mapping[str, int]) -> str | None:
    if p["n_spanners"] < p["n_nuts"]:
        return (f"n_spanners ({p['n_spanners']}) must be at least n_nuts ({p['n_nuts']}): "
                "a spanner tightens one nut")
    return None


SPEC = DomainSpec(
    name=DOMAIN,
    summary="a man walks a one-way corridor collecting spanners and tightens the nuts at the gate",
    params=(
        ParamSpec("n_nuts", "loose nuts at the gate (IPC: nuts)", 1, 10, 1),
        ParamSpec("n_spanners", "spanners along the corridor, >= n_nuts (IPC: spanners)", 1, 15,
                  lambda p: p["n_nuts"] + 1, "n_nuts + 1"),
        ParamSpec("n_locations", "corridor locations between shed and gate (IPC: locations)", 1, 15,
                  lambda p: p["n_nuts"] + 2, "n_nuts + 2"),
    ),
    build=_build,
    check=_check,
)
