"""Blocksworld in the compact format: towers bottom to top, the towers again after each action
that frees the hand (:mod:`iterdeploy.simulator.models._format` holds the format itself)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from iterdeploy.simulator.models._format import (
    ExtractedPlan,
    extract_plan,
    name_map,
    render_plan,
    render_prompt,
    vocabulary,
)
from iterdeploy.simulator.models.compact import PlanSteps
from iterdeploy.simulator.models.protocol import Example
from iterdeploy.simulator.planning import GeneratedTask, GroundTask, load_domain_schemas
from iterdeploy.simulator.planning.blocksworld import canonical_plan, generate_task, with_detour


class BlocksworldFormat:
    """The embedded model's first format; its words and corpus are those of every cached base."""

    domain = "blocksworld"
    version = 1

    def words(self) -> list[str]:
        schemas = load_domain_schemas("blocksworld")
        predicates = sorted({a[0] for s in schemas for a in (*s.preconditions, *s.add_effects)})
        return vocabulary(predicates, sorted(s.name for s in schemas))

    def prompt(self, task: GroundTask) -> str:
        return render_prompt(task, name_map(task))

    def completion(self, task: GroundTask, plan: PlanSteps) -> str:
        return render_plan(task, list(plan), name_map(task))

    def extract(self, completion: str, task: GroundTask) -> ExtractedPlan:
        return extract_plan(completion, name_map(task))

    def teaching_plan(self, generated: GeneratedTask) -> PlanSteps:
        return [(a.name, a.args) for a in canonical_plan(generated.task)]

    def corpus_example(
        self, size: int, rng: np.random.Generator, detour_share: float = 0.0,
        params: Mapping[str, int] | None = None,
        new_tower_chance: tuple[float, float] | None = None,
    ) -> Example:
        """The protocol's pretraining pair; with ``new_tower_chance`` (low, high), each task first
        draws its generator's chance of a new tower uniformly from that range (taller towers than
        deployment tasks have, on the lower end), else it has the generator's own. Blocksworld's
        one parameter is its size, so ``params`` must be empty."""
        if params:
            raise ValueError(f"blocksworld: a corpus task has no parameters besides its size, not "
                             f"{sorted(params)}")
        # no extra draw without a range, so older corpora (and cached weights) are reproduced
        task = (generate_task(size, rng) if new_tower_chance is None
                else generate_task(size, rng, new_tower_chance=float(rng.uniform(*new_tower_chance))))
        names = name_map(task, rng)
        steps = canonical_plan(task)
        # no extra draw when the share is 0, so older corpora (and cached weights) are reproduced
        if detour_share > 0 and rng.random() < detour_share:
            steps = with_detour(task, steps, rng)
        plan = [(a.name, a.args) for a in steps]
        return Example(render_prompt(task, names), render_plan(task, plan, names))


FORMAT = BlocksworldFormat()
