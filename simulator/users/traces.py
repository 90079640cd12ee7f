"""What a user sees of a trace, what they know when deciding, and what they decide.

These are plain frozen dataclasses rather than pydantic models: the loop builds thousands of them per
generation, they come from already-validated data (the validator's verdict), and policies must not
be able to modify them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

Action = tuple[str, tuple[str, ...]]
"""One plan step: the action name and its arguments, e.g. ``("stack", ("b1", "b2"))``."""


def parse_actions(steps: Iterable[str]) -> tuple[Action, ...]:
    """Turn the validator's action strings (``"(stack b1 b2)"``) into ``(name, args)`` pairs.

    Names and arguments are lower-cased so that a user's ``action_bias`` matches however the model
    capitalised the plan.

    Examples:
        >>> parse_actions(["(unstack b1 b2)", "put-down b1"])
        (('unstack', ('b1', 'b2')), ('put-down', ('b1',)))
    """
    out = []
    for step in steps:
        words = step.strip().strip("()").lower().split()
        if words:
            out.append((words[0], tuple(words[1:])))
    return tuple(out)


@dataclass(frozen=True)
class CandidateTrace:
    """What a user sees of one trace: the validator's verdict, the plan and the task.

    The first six fields are what the loop has always passed; the rest default to "unknown" so that
    callers that do not have them keep working. Policies that need them (``action_bias`` needs
    ``actions``; ``adversarial`` uses ``optimal_length`` when known) degrade gracefully: an empty
    plan has no occurrences of anything, an unknown optimum falls back to the task's shortest valid
    candidate.
    """

    trace_id: int
    task_id: int
    is_valid: bool
    status: str
    plan_length: int
    n_tokens: int
    actions: tuple[Action, ...] = ()
    """Plan steps as ``(name, args)``, lower case (see :func:`parse_actions`)."""
    domain: str = ""
    """PDDL domain of the task, e.g. ``"blocksworld"``."""
    task_size: int | None = None
    """Size parameter of the task (blocks for Blocksworld)."""
    optimal_length: int | None = None
    """Length of an optimal plan when the reference planner found one."""


@dataclass(frozen=True)
class CurationContext:
    """What a user knows beyond the candidates when deciding.

    ``success_rate`` is the model's success rate *as the user observed it in the previous
    generation* (share of their tasks with a valid answer); ``None`` before any observation, i.e.
    in generation 0. ``complacent`` users build trust from it.
    """

    generation: int = 0
    success_rate: float | None = None

    def __post_init__(self) -> None:
        if self.generation < 0:
            raise ValueError(f"generation must be >= 0, got {self.generation}")
        if self.success_rate is not None and not 0.0 <= self.success_rate <= 1.0:
            raise ValueError(f"success_rate must be in [0, 1], got {self.success_rate}")


@dataclass(frozen=True)
class Decision:
    """A user's verdict on one trace.

    ``keep_prob`` is the exact probability that this policy keeps the trace given all candidates of
    the task and the context (not a frequency): auditors need the true implicit reward, and a single
    random draw would only tell them 0 or 1. Left out, it is 1.0 for a kept and 0.0 for a rejected
    trace, which is right for deterministic policies.
    """

    trace_id: int
    kept: bool
    reason: str
    keep_prob: float = math.nan

    def __post_init__(self) -> None:
        if math.isnan(self.keep_prob):
            object.__setattr__(self, "keep_prob", 1.0 if self.kept else 0.0)
