"""Blocksworld in the registry: a thin wrapper over :mod:`iterdeploy.simulator.planning.blocksworld`.

The wrapper calls ``generate_task`` unchanged (same draws, same task, same name ``bw-N``), because
the embedded model's corpus and recorded runs depend on its exact output for a seed. The witness
is the canonical "unstack misplaced blocks, then build" plan.
"""

from __future__ import annotations

import numpy as np

from iterdeploy.simulator.planning._task import GroundTask
from iterdeploy.simulator.planning.blocksworld import canonical_plan, count_tasks, generate_task
from iterdeploy.simulator.planning.generators._spec import DomainSpec, ParamSpec, PlanBuilder, Witness

DOMAIN = "blocksworld"


def _build(p: dict[str, int], rng: np.random.Generator, name: str | None) -> tuple[GroundTask, Witness]:
    task = generate_task(p["n_blocks"], rng, name=name)

    def witness(b: PlanBuilder) -> None:
        for action in canonical_plan(task):
            b.do(action.name, *action.args)

    return task, witness


SPEC = DomainSpec(
    name=DOMAIN,
    summary="rearrange towers of blocks with one arm (random towers to random towers)",
    params=(ParamSpec("n_blocks", "blocks (IPC: blocks)", 2, 40, 5),),
    build=_build,
    count=lambda p: count_tasks(p["n_blocks"]),
)
