"""Plan validation with a structured verdict.

A plan is judged by replaying it on the :class:`GroundTask`, never by trusting what a model says
about it. The verdict says *why* a plan fails (which step, which action, which precondition or goal
atom), because curation policies, auditors and people all need the reason, not just a bit.

Plan text is whatever a model wrote; it is read by the rules of :mod:`iterdeploy.simulator.planning.plan_text`
(lines, comments, separators, numbering, parenthesised groups, ASCII names without regard to
case), the one reader of plan text that the LLM extractor builds on too. Lines that carry nothing
are reported in :attr:`Verdict.ignored_lines`. A candidate that cannot be read as ``name arg ...``
makes the plan ``unparseable``, and a candidate with a character outside ASCII in it (other than
white space) is ``unparseable`` with a message that names the character. No input raises.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal, cast

from iterdeploy.simulator.planning._replay import Refusal, replay_of
from iterdeploy.simulator.planning._task import Atom, GroundTask
from iterdeploy.simulator.planning.plan_text import (
    Action,
    action_text,
    first_non_ascii,
    parse_action_line,
    split_plan_lines,
)

VerdictStatus = Literal[
    "valid",
    "invalid_step",
    "goal_not_reached",
    "unknown_action",
    "wrong_arity",
    "unknown_object",
    "unparseable",
    "empty",
]


@dataclass(frozen=True)
class Verdict:
    """What the validator concluded about one plan.

    ``plan_length`` counts the parsed actions; ``failed_step`` is 0-based into ``actions`` (for
    ``unparseable``, into the candidate action lines, and ``failed_action`` is the unreadable text).
    ``unmet_preconditions`` lists atoms that had to hold, and ``(not ...)`` for atoms that had to
    be false.
    """

    status: VerdictStatus
    actions: tuple[str, ...] = ()
    plan_length: int = 0
    failed_step: int | None = None
    failed_action: str | None = None
    unmet_preconditions: tuple[str, ...] = ()
    unmet_goals: tuple[str, ...] = ()
    message: str = ""
    ignored_lines: tuple[str, ...] = field(default=())

    @property
    def is_valid(self) -> bool:
        """True only for a plan that is executable and reaches the goal."""
        return self.status == "valid"

    @property
    def is_parsed(self) -> bool:
        """True when every action line could be read (the plan may still be invalid)."""
        return self.status not in ("unparseable", "empty")

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form (tuples become lists)."""
        return {
            "status": self.status,
            "is_valid": self.is_valid,
            "actions": list(self.actions),
            "plan_length": self.plan_length,
            "failed_step": self.failed_step,
            "failed_action": self.failed_action,
            "unmet_preconditions": list(self.unmet_preconditions),
            "unmet_goals": list(self.unmet_goals),
            "message": self.message,
            "ignored_lines": list(self.ignored_lines),
        }


def _fmt(atom: Atom) -> str:
    return "(" + " ".join(atom) + ")"


_CANONICAL_PLAN = re.compile(r"[ \t\r\n]*(?:\([a-z][a-z0-9_\-]*(?: [a-z0-9_\-]+)*\)[ \t\r\n]*)*")
"""Plan text (lower-cased ASCII) made only of ``(name arg ...)`` groups with one space between
words, separated by blanks and line breaks: what the loop's extractors and the task generators
write. :mod:`~iterdeploy.simulator.planning.plan_text` reads such text as exactly these groups,
each its own action in canonical form (rules 1, 5 and 6 leave it alone, nothing in it is a
comment or a separator), so the validator takes them as they stand instead of running every
rule on every line. Anything else goes through the general reader."""

_GROUP = re.compile(r"\([^()]*\)")


def _canonical_actions(text: str) -> tuple[str, ...] | None:
    """The actions of ``text`` when it is in the canonical form above, else None."""
    if not text.isascii():  # checked first: ``str.lower`` maps some non-ASCII letters to ASCII
        return None
    low = text.lower()
    if _CANONICAL_PLAN.fullmatch(low) is None:
        return None
    return tuple(_GROUP.findall(low))


def validate_plan(task: GroundTask, plan_text: str) -> Verdict:
    """Replay ``plan_text`` on ``task`` and explain the outcome.

    The plan is read whole first (an unreadable line makes it ``unparseable``), then replayed step
    by step; the first step that fails decides the status (unknown action, wrong arity, unknown
    object, or unmet preconditions), and a plan that runs to the end without reaching the goal is
    ``goal_not_reached``. Lines are read by the rules of :mod:`iterdeploy.simulator.planning.plan_text`.

    Args:
        task: the grounded task the plan is for.
        plan_text: the plan as a model or a person wrote it (bytes are decoded leniently).

    Returns:
        A :class:`Verdict`; never raises on any text.
    """
    if isinstance(plan_text, bytes | bytearray):
        plan_text = bytes(plan_text).decode("utf-8", errors="replace")
    if not isinstance(plan_text, str):  # defensive: None or worse from a broken backend
        return Verdict(status="unparseable", message=f"plan is not text but {type(plan_text).__name__}")
    names = _canonical_actions(plan_text)
    if names is not None:  # canonical text: no comments, nothing ignored
        if not names:
            return Verdict(status="empty", message="no action found")
        return _replay(task, names, ())
    lines, ignored_list = split_plan_lines(plan_text)
    ignored = tuple(ignored_list)
    if not lines:
        return Verdict(status="empty", message="no action found", ignored_lines=ignored)
    parsed: list[Action] = []
    for i, line in enumerate(lines):
        action = parse_action_line(line)
        if action is None:
            odd = first_non_ascii(line)
            why = (f"has the non-ASCII character {odd!r} (U+{ord(odd):04X}); PDDL names are ASCII"
                   if odd is not None else "is not of the form 'name arg ...'")
            return Verdict(
                status="unparseable",
                failed_step=i,
                failed_action=line[:80],
                message=f"action {i + 1} {why}: {line[:80]!r}",
                ignored_lines=ignored,
            )
        parsed.append(action)
    return _replay(task, tuple(action_text(action) for action in parsed), ignored)


def _replay(task: GroundTask, names: tuple[str, ...], ignored: tuple[str, ...]) -> Verdict:
    """Replay the canonical action lines ``names`` (see :mod:`~iterdeploy.simulator.planning._replay`)."""
    replay = replay_of(task)
    compiled = replay.steps
    state = replay.init
    for i, text in enumerate(names):
        step = compiled.get(text) or replay.compile(text)
        if isinstance(step, Refusal):
            return _failure(step.status, i, f"step {i + 1}{step.detail}", names, ignored)
        pre, negative, keep, add, schema, args = step
        if state & pre != pre or state & negative:
            ground = schema.ground(args)
            unmet = (sorted(_fmt(a) for a in ground.preconditions if not replay.holds(state, a))
                     + sorted(f"(not {_fmt(a)})" for a in ground.negative_preconditions
                              if replay.holds(state, a)))
            return _failure("invalid_step", i, f"step {i + 1} {names[i]} is not applicable", names,
                            ignored, tuple(unmet))
        state = state & keep | add
    if state & replay.goal != replay.goal:
        unmet_goals = [a for a in task.goal if not replay.holds(state, a)]
        return Verdict(
            status="goal_not_reached",
            actions=names,
            plan_length=len(names),
            unmet_goals=tuple(sorted(_fmt(a) for a in unmet_goals)),
            message=f"{len(unmet_goals)} goal atom(s) not reached",
            ignored_lines=ignored,
        )
    return Verdict(status="valid", actions=names, plan_length=len(names), ignored_lines=ignored)


def _failure(status: str, step: int, message: str, names: tuple[str, ...], ignored: tuple[str, ...],
             unmet: tuple[str, ...] = ()) -> Verdict:
    return Verdict(
        status=cast(VerdictStatus, status), actions=names, plan_length=len(names), failed_step=step,
        failed_action=names[step], unmet_preconditions=unmet, message=message, ignored_lines=ignored,
    )
