"""Rovers: rovers navigate between waypoints, sample soil and rock, calibrate cameras, take
images and send the data to the lander.

As the IPC-2023 generator: one lander (``general``) and three modes (``colour high_res
low_res``); a random connected visibility graph whose spanning tree every rover can traverse
(plus 30% of the other edges, per rover); each equipment kind on at least one rover; samples at
about half the waypoints; cameras on imaging rovers, each with a random calibration target and
1-3 modes, every mode supported by some camera; every objective visible from at least one
waypoint. Goals are random subsets of the sample and image data to communicate, never empty.
Always solvable: every rover reaches every waypoint, and the lander's waypoint has a visible
neighbour to transmit from (the witness serves goal after goal with the first able rover).

One parameter is not IPC's: ``split_equipment`` (default 0). At 1, each equipment kind (soil,
rock, imaging) is on exactly one rover and the kinds are dealt so that two or three rovers each
get some, so a two-rover task whose goals ask for kinds of both rovers needs both. IPC's draw puts
each kind on a random number of rovers, and at small sizes one rover mostly has all a task asks
for: a corpus of such tasks seldom shows a plan that must pick the rover by its equipment, and
the embedded model then gives work to rovers that cannot do it (docs/model-card.md).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import TypeVar

import numpy as np

from iterdeploy.simulator.planning._task import Atom, GroundTask
from iterdeploy.simulator.planning.generators._build import (
    new_task,
    numbered,
    pick,
    random_connected_graph_with_tree,
    shortest_path,
    shuffled,
    typed,
)
from iterdeploy.simulator.planning.generators._spec import DomainSpec, ParamSpec, PlanBuilder, Witness

T = TypeVar("T")
DOMAIN = "rovers"
MODES = ["colour", "high_res", "low_res"]
KINDS = ("soil", "rock", "imaging")


def _build(p: dict[str, int], rng: np.random.Generator, name: str | None) -> tuple[GroundTask, Witness]:
    rovers = numbered("rover", p["n_rovers"])
    stores = {r: f"{r}store" for r in rovers}
    wps = numbered("waypoint", p["n_waypoints"])
    cams = numbered("camera", p["n_cameras"])
    objs = numbered("objective", p["n_objectives"])
    lander_at = pick(rng, wps)
    init: set[Atom] = {("at_lander", "general", lander_at)} | {("at", r, pick(rng, wps)) for r in rovers}
    equipped = (_split_equipment if p["split_equipment"] else _ipc_equipment)(rovers, rng)
    for kind in KINDS:
        pred = f"equipped_for_{kind}_analysis" if kind != "imaging" else "equipped_for_imaging"
        init |= {(pred, r) for r in equipped[kind]}
    init |= {("empty", s) for s in stores.values()} | {("store_of", s, r) for r, s in stores.items()}
    rock = [w for w in wps if rng.random() < 0.5]
    soil = [w for w in wps if rng.random() < 0.5]
    init |= {("at_rock_sample", w) for w in rock} | {("at_soil_sample", w) for w in soil}
    visible, tree, extra = random_connected_graph_with_tree(wps, rng)
    init |= {("visible", a, b) for a, b in visible}
    traverse: dict[str, set[tuple[str, str]]] = {}
    for r in rovers:
        undirected = tree + [e for e in extra if rng.random() < 0.3]
        traverse[r] = {d for a, b in undirected for d in ((a, b), (b, a))}
        init |= {("can_traverse", r, a, b) for a, b in traverse[r]}
    calib: dict[str, str] = {}
    carrier: dict[str, str] = {}
    supports: set[tuple[str, str]] = set()
    for cam in cams:
        calib[cam] = pick(rng, objs)
        carrier[cam] = pick(rng, equipped["imaging"])
        supports |= {(cam, m) for m in shuffled(rng, MODES)[: int(rng.integers(1, 3, endpoint=True))]}
    for m in MODES:  # modes no camera supports go to random cameras
        if not any(mode == m for _, mode in supports):
            n_cams = int(rng.integers(1, len(cams), endpoint=True))
            supports |= {(c, m) for c in shuffled(rng, cams)[:n_cams]}
    init |= {("calibration_target", c, o) for c, o in calib.items()}
    init |= {("on_board", c, r) for c, r in carrier.items()} | {("supports", c, m) for c, m in supports}
    seen_from = {o: sorted(shuffled(rng, wps)[: int(rng.integers(1, len(wps), endpoint=True))]) for o in objs}
    init |= {("visible_from", o, w) for o, ws in seen_from.items() for w in ws}
    goal: set[Atom] = set()
    images = [(o, m) for o in objs for m in MODES]
    while not goal:  # IPC draws may leave the goal empty; a task needs one
        goal |= {("communicated_rock_data", w) for w in _some(rng, rock)}
        goal |= {("communicated_soil_data", w) for w in _some(rng, soil)}
        goal |= {("communicated_image_data", o, m) for o, m in _some(rng, images)}
    objects = [("general", "lander"), *typed(MODES, "mode"), *typed(rovers, "rover"),
               *typed(list(stores.values()), "store"), *typed(wps, "waypoint"), *typed(cams, "camera"),
               *typed(objs, "objective")]
    task = new_task(DOMAIN, name or f"rover-{len(rovers)}-{len(wps)}-{len(cams)}-{len(objs)}",
                    objects, init, goal, p)
    uplinks = sorted(a for a, b in visible if b == lander_at)

    def witness(b: PlanBuilder) -> None:
        def go(rover: str, targets: list[str]) -> str:
            (here,) = b.the("at", rover, None)[1:]
            path = min((shortest_path(traverse[rover], here, t) for t in targets), key=len)
            for a, c in itertools.pairwise(path):
                b.do("navigate", rover, a, c)
            return path[-1]

        for kind in ("soil", "rock"):
            for _, w in sorted(a for a in goal if a[0] == f"communicated_{kind}_data"):
                rover = equipped[kind][0]
                go(rover, [w])
                if b.holds("full", stores[rover]):
                    b.do("drop", rover, stores[rover])
                b.do(f"sample_{kind}", rover, stores[rover], w)
                x = go(rover, uplinks)
                b.do(f"communicate_{kind}_data", rover, "general", w, x, lander_at)
        for _, o, m in sorted(a for a in goal if a[0] == "communicated_image_data"):
            cam = min(c for c, mode in supports if mode == m)
            rover = carrier[cam]
            w = go(rover, seen_from[calib[cam]])
            b.do("calibrate", rover, cam, calib[cam], w)
            w = go(rover, seen_from[o])
            b.do("take_image", rover, w, o, cam, m)
            x = go(rover, uplinks)
            b.do("communicate_image_data", rover, "general", o, m, x, lander_at)

    return task, witness


def _ipc_equipment(rovers: list[str], rng: np.random.Generator) -> dict[str, list[str]]:
    """Each kind on a random number of rovers (at least one), as IPC's generator deals them."""
    return {kind: sorted(shuffled(rng, rovers)[: int(rng.integers(1, len(rovers), endpoint=True))])
            for kind in KINDS}


def _split_equipment(rovers: list[str], rng: np.random.Generator) -> dict[str, list[str]]:
    """Each kind on one rover, dealt round the shuffled rovers: with two rovers one gets two
    kinds and the other one, with three each gets one (rovers past the third get none)."""
    owners = shuffled(rng, rovers)
    return {kind: [owners[i % len(owners)]] for i, kind in enumerate(shuffled(rng, list(KINDS)))}


def _some(rng: np.random.Generator, items: Sequence[T]) -> list[T]:
    """A random subset of random size (0..all), as the IPC generator draws goals."""
    k = int(rng.integers(0, len(items), endpoint=True))
    return shuffled(rng, items)[:k]


SPEC = DomainSpec(
    name=DOMAIN,
    summary="rovers sample soil and rock, photograph objectives and send the data to a lander",
    params=(
        ParamSpec("n_waypoints", "waypoints (IPC: waypoints)", 2, 15, 4),
        ParamSpec("n_rovers", "rovers (IPC: rovers)", 1, 5, lambda p: 1 + p["n_waypoints"] // 6,
                  "1 + n_waypoints // 6"),
        ParamSpec("n_cameras", "cameras (IPC: cameras)", 1, 6, lambda p: p["n_rovers"], "n_rovers"),
        ParamSpec("n_objectives", "objectives (IPC: objectives)", 1, 8,
                  lambda p: max(1, p["n_waypoints"] // 3), "max(1, n_waypoints // 3)"),
        ParamSpec("split_equipment", "1: each equipment kind on exactly one rover (not in IPC)",
                  0, 1, 0),
    ),
    build=_build,
)
