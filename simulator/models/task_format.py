"""One interface over the two prompt formats, so the loop never asks which model it is running.

The embedded model reads the compact tower format with per-task object names
(:mod:`iterdeploy.simulator.models._format`); real LLMs read domain and problem PDDL with few-shot examples
and a chat template (:mod:`iterdeploy.simulator.models.pddl_format`). Both turn a task into a prompt and a
completion into the plan text the validator reads plus a count of reasoning tokens.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from iterdeploy.simulator.models.compact import compact_domain
from iterdeploy.simulator.models.pddl_format import PddlPromptFormat, render_pddl_completion
from iterdeploy.simulator.models.protocol import PlannerModel
from iterdeploy.simulator.planning import GeneratedTask, GroundTask, registry_name


class TaskFormat(Protocol):
    """Prompt rendering and plan extraction for one model."""

    def prompt(self, task: GroundTask) -> str:
        """The prompt the model gets for ``task``."""
        ...

    def extract(self, completion: str, task: GroundTask) -> tuple[str, int]:
        """(plan text for the validator, reasoning tokens) of a completion for ``task``."""
        ...

    def completion(self, task: GroundTask, plan: Sequence[tuple[str, tuple[str, ...]]]) -> str:
        """How this model would write ``plan`` (reference data in its own format)."""
        ...

    def teaching_plan(self, generated: GeneratedTask) -> Sequence[tuple[str, tuple[str, ...]]] | None:
        """The plan reference data should teach this model for ``generated``, or None where the
        format has no plan style of its own and any valid plan serves (the reference planner's)."""
        ...


class CompactTaskFormat:
    """The embedded model's format: object names normalised per task, a scratchpad after ``>``;
    each task is read in its own domain's compact format (:mod:`iterdeploy.simulator.models.compact`)."""

    def prompt(self, task: GroundTask) -> str:
        return compact_domain(registry_name(task.domain)).prompt(task)

    def extract(self, completion: str, task: GroundTask) -> tuple[str, int]:
        extracted = compact_domain(registry_name(task.domain)).extract(completion, task)
        return extracted.plan_text, extracted.n_reasoning_tokens

    def completion(self, task: GroundTask, plan: Sequence[tuple[str, tuple[str, ...]]]) -> str:
        return compact_domain(registry_name(task.domain)).completion(task, plan)

    def teaching_plan(self, generated: GeneratedTask) -> Sequence[tuple[str, tuple[str, ...]]]:
        """The plan the embedded model's corpus teaches: its scratchpad follows goal after goal
        (Rovers) or box after box (Sokoban), which a planner's interleaved plan would not."""
        return compact_domain(generated.domain).teaching_plan(generated)


class PddlTaskFormat:
    """Real LLMs: domain + problem PDDL, ``few_shot`` solved examples, the model's chat template.

    The domain comes from each task, so one format serves a scenario that mixes domains (few-shot
    examples are drawn and cached per domain).
    """

    def __init__(self, planner: PlannerModel, few_shot: int) -> None:
        tokenizer = getattr(planner, "tokenizer", None)
        self._format = PddlPromptFormat(tokenizer, n_shots=few_shot)

    def prompt(self, task: GroundTask) -> str:
        return self._format.prompt_for_task(registry_name(task.domain), task)

    def extract(self, completion: str, task: GroundTask) -> tuple[str, int]:
        extracted = self._format.extract(completion, registry_name(task.domain))
        return extracted.plan_text, extracted.n_reasoning_tokens

    def completion(self, task: GroundTask, plan: Sequence[tuple[str, tuple[str, ...]]]) -> str:
        return render_pddl_completion([f"({name} {' '.join(args)})".replace(" )", ")")
                                       for name, args in plan])

    def teaching_plan(self, generated: GeneratedTask) -> None:
        """None: a real LLM writes plain PDDL actions, so the reference planner's plan serves."""
        return None


def task_format(planner: PlannerModel, few_shot: int = 2) -> TaskFormat:
    """The format ``planner`` reads (its ``prompt_format``)."""
    if planner.prompt_format == "pddl":
        return PddlTaskFormat(planner, few_shot)
    return CompactTaskFormat()
