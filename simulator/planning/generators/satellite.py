"""Satellite: satellites turn between directions, power and calibrate instruments, and take
images in the instruments' modes.

As the IPC-2023 generator: every satellite points at a random direction with power available,
every instrument has a random calibration target, each satellite carries at least one instrument
(the rest are spread at random), supported modes are added until every instrument supports one
and every mode is supported; goals are images of random (direction, mode) pairs and a final
pointing direction for about half the satellites. Always solvable: every mode has an instrument
(switch it on, calibrate, turn, take each image, then turn to the final directions: the witness).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from iterdeploy.simulator.planning._task import Atom, GroundTask
from iterdeploy.simulator.planning.generators._build import new_task, numbered, pick, shuffled, typed
from iterdeploy.simulator.planning.generators._spec import DomainSpec, ParamSpec, PlanBuilder, Witness

DOMAIN = "satellite"


def _build(p: dict[str, int], rng: np.random.Generator, name: str | None) -> tuple[GroundTask, Witness]:
    sats = numbered("sat", p["n_satellites"])
    instruments = numbered("ins", p["n_instruments"])
    modes = numbered("mod", p["n_modes"])
    dirs = numbered("dir", p["n_directions"])
    init: set[Atom] = {("pointing", s, pick(rng, dirs)) for s in sats} | {("power_avail", s) for s in sats}
    target = {i: pick(rng, dirs) for i in instruments}
    init |= {("calibration_target", i, target[i]) for i in instruments}
    owner = dict(zip(instruments, shuffled(rng, sats), strict=False))  # one instrument per satellite
    owner |= {i: pick(rng, sats) for i in instruments[len(sats):]}
    init |= {("on_board", i, owner[i]) for i in instruments}
    uncovered_i, uncovered_m = set(instruments), set(modes)
    supports: set[tuple[str, str]] = set()
    for i, m in shuffled(rng, [(i, m) for i in instruments for m in modes]):
        if not (uncovered_i or uncovered_m):
            break
        supports.add((i, m))
        uncovered_i.discard(i)
        uncovered_m.discard(m)
    init |= {("supports", i, m) for i, m in supports}
    goal: set[Atom] = {("pointing", s, pick(rng, dirs)) for s in sats if rng.random() < 0.5}
    images = shuffled(rng, [(d, m) for d in dirs for m in modes])
    goal |= {("have_image", d, m) for d, m in images[: int(rng.integers(1, len(images), endpoint=True))]}
    objects = (typed(sats, "satellite") + typed(instruments, "instrument") + typed(modes, "mode")
               + typed(dirs, "direction"))
    task = new_task(DOMAIN, name or f"satellite-{len(sats)}-{len(instruments)}-{len(modes)}-{len(dirs)}",
                    objects, init, goal, p)

    def witness(b: PlanBuilder) -> None:
        def turn(sat: str, to: str) -> None:
            (now,) = b.the("pointing", sat, None)[1:]
            if now != to:
                b.do("turn_to", sat, to, now)

        for atom in sorted(a for a in goal if a[0] == "have_image"):
            _, d, m = atom
            ins = min(i for i, mode in supports if mode == m)
            sat = owner[ins]
            if not b.holds("power_on", ins):
                for other in sorted(i for i in instruments if owner[i] == sat and b.holds("power_on", i)):
                    b.do("switch_off", other, sat)
                b.do("switch_on", ins, sat)
            if not b.holds("calibrated", ins):
                turn(sat, target[ins])
                b.do("calibrate", sat, ins, target[ins])
            turn(sat, d)
            b.do("take_image", sat, d, ins, m)
        for _, sat, d in sorted(a for a in goal if a[0] == "pointing"):
            turn(sat, d)

    return task, witness


def _check(p: Mapping[str, int]) -> str | None:
    if p["n_instruments"] < p["n_satellites"]:
        return (f"n_instruments ({p['n_instruments']}) must be at least n_satellites "
                f"({p['n_satellites']}): every satellite carries an instrument")
    return None


SPEC = DomainSpec(
    name=DOMAIN,
    summary="satellites turn, power and calibrate instruments, and take images in given modes",
    params=(
        ParamSpec("n_satellites", "satellites (IPC: satellites)", 1, 8, 1),
        ParamSpec("n_instruments", "instruments, >= n_satellites (IPC: instruments)", 1, 16,
                  lambda p: 2 * p["n_satellites"] - 1, "2 * n_satellites - 1"),
        ParamSpec("n_modes", "observation modes (IPC: modes)", 1, 4, lambda p: 1 + p["n_satellites"] // 3,
                  "1 + n_satellites // 3"),
        ParamSpec("n_directions", "directions (IPC: directions)", 2, 12, lambda p: p["n_satellites"] + 2,
                  "n_satellites + 2"),
    ),
    build=_build,
    check=_check,
)
