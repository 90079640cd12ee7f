"""Compact, per-domain formats for the embedded model: one module per domain, one contract.

The embedded model reads a task as a short list of facts under per-task object names and writes
its plan as actions separated by ``;``, each followed where useful by a scratchpad after ``>``
that restates the part of the state the next step needs. What the format must give a small
transformer, so that the deployment loop can extend its reach (docs/model-card.md):

- **the same bounded computation at every step**: the scratchpad restates the state, so choosing
  the next action reads the last scratchpad and the goal, never the whole history;
- **lookups by object name, never by position**: facts name their objects; nothing depends on
  where in the prompt a fact stands;
- **names drawn at random from a fixed pool per task**, seeded by the task's content, so every
  name's embedding is trained on small tasks and used on large ones, and the same task always
  gets the same prompt.

Every domain module provides a :class:`CompactDomain`; :func:`compact_domain` finds it by the
registry name (``blocksworld``, ``rovers``, ``sokoban``). The plan that comes back from
:meth:`CompactDomain.extract` is in the task's own object names, one PDDL action a line, which
is what the validator reads.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from typing import Protocol

import numpy as np

from iterdeploy.simulator.models._format import ExtractedPlan
from iterdeploy.simulator.models.protocol import Example
from iterdeploy.simulator.planning import GeneratedTask, GroundTask

PlanSteps = Sequence[tuple[str, tuple[str, ...]]]
"""A plan as (action name, arguments in the task's own object names)."""

SHARED_WORDS = ("init", "goal", "plan", ";", ">")
"""Format words every domain uses: prompt sections and the action / scratchpad separators."""


class CompactDomain(Protocol):
    """Prompt, completion, extraction and pretraining data of one domain in the compact format."""

    domain: str
    """Registry name (``rovers``; ``task.domain`` may differ, e.g. ``rover``)."""
    version: int
    """The format's version, part of the content hash of every base pretrained on it: bump it
    when prompts, completions or the corpus change, so cached bases of the old format are not
    reused."""

    def words(self) -> list[str]:
        """Every word a prompt or completion of this domain can contain (the shared format words
        included), in a fixed order: the tokenizer's vocabulary is built from it."""
        ...

    def prompt(self, task: GroundTask) -> str:
        """The prompt for ``task`` (ends with ``plan``); depends on the task's content only."""
        ...

    def completion(self, task: GroundTask, plan: PlanSteps) -> str:
        """``plan`` written as the model should write it, scratchpad included."""
        ...

    def extract(self, completion: str, task: GroundTask) -> ExtractedPlan:
        """The plan in a completion, in the task's own names, one action a line. Never raises:
        words it cannot map pass through, so the validator names what is wrong."""
        ...

    def teaching_plan(self, generated: GeneratedTask) -> PlanSteps:
        """The plan the corpus teaches for a generated task, in the task's own names: what
        :meth:`corpus_example` writes for such a task, without a detour. Reference data the loop
        adds to a training set uses it, so replayed and expert examples read as the corpus did;
        a plan in another style (a planner's, which interleaves goals) would be written with a
        scratchpad that does not follow it."""
        ...

    def corpus_example(self, size: int, rng: np.random.Generator, detour_share: float = 0.0,
                       params: Mapping[str, int] | None = None) -> Example:
        """One pretraining pair: a random task of main size ``size`` and a reference completion.
        With probability ``detour_share`` the plan wastes a move or two (still valid), so the
        base writes valid plans of different lengths for one task, as an LLM does. ``params``
        fixes other generator parameters of the task (Rovers' ``n_rovers``); without them each
        takes its generator's default for the size."""
        ...


_MODULES = {"blocksworld": "blocksworld", "rovers": "rovers", "sokoban": "sokoban"}


def compact_domains() -> tuple[str, ...]:
    """Registry names of the domains the compact format covers."""
    return tuple(_MODULES)


def compact_domain(domain: str) -> CompactDomain:
    """The compact format of ``domain`` (a registry name).

    Raises:
        ValueError: for a domain the compact format does not cover, naming those it does.
    """
    if domain not in _MODULES:
        raise ValueError(
            f"the embedded model's compact format covers {', '.join(_MODULES)}; not {domain!r} "
            "(use a real LLM for it: --set model.name=...)"
        )
    module = importlib.import_module(f"iterdeploy.simulator.models.compact.{_MODULES[domain]}")
    fmt: CompactDomain = module.FORMAT
    return fmt
