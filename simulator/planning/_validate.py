"""Plan parsing and validation with a structured verdict.

A plan is judged by replaying it on the :class:`GroundTask`, never by trusting what a model says
about it. The verdict says *why* a plan fails (which step, which action, which precondition or goal
atom), because curation policies, auditors and people all need the reason, not just a bit.

Plan text is whatever a model wrote: one action a line or ``;``-separated, with or without
parentheses, any case, numbered lines, trailing comments. Lines that are clearly not actions
(blank, comments) are ignored and reported; a line that looks like an attempt but cannot be read as
an action makes the plan ``unparseable``. No input raises.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from simulator.planning._task import Atom, GroundTask

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

_NUMBERING = re.compile(r"^\s*(?:step\s*)?\d+\s*[:.)\-]\s*", re.IGNORECASE)
_COMMENT = re.compile(r"\s*(?:;;|#|//).*$")
_ACTION = re.compile(r"^\(?\s*([a-z][a-z0-9_\-]*)((?:\s+[a-z0-9_\-]+)*)\s*\)?$")


@dataclass(frozen=True)
class Verdict:
    """What the validator concluded about one plan.

    ``plan_length`` counts the parsed actions; ``failed_step`` is 0-based into ``actions``.
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


def split_plan_lines(text: str) -> tuple[list[str], list[str]]:
    """Split plan text into candidate action lines and ignored lines.

    Returns:
        ``(action_lines, ignored)``: action lines stripped of numbering and comments, and the raw
        lines that carried nothing (blank or comment only).
    """
    lines: list[str] = []
    ignored: list[str] = []
    for raw in text.replace("\r", "\n").split("\n"):
        # ``)(`` on one line and ``;`` separated actions both mean several actions
        for piece in re.split(r"\)\s*\(|(?<!;);(?!;)", raw):
            chunk = piece
            if piece is not raw and raw.count("(") > 1:
                chunk = "(" + piece.strip().strip("()") + ")"
            cleaned = _COMMENT.sub("", chunk)
            cleaned = _NUMBERING.sub("", cleaned).strip()
            if not cleaned:
                if piece.strip():
                    ignored.append(piece.strip())
                continue
            lines.append(cleaned)
    return lines, ignored


def parse_action_line(line: str) -> tuple[str, tuple[str, ...]] | None:
    """Read ``(name arg ...)`` or ``name arg ...`` (any case); None if it is not an action."""
    match = _ACTION.match(line.strip().lower())
    if match is None:
        return None
    return match.group(1), tuple(match.group(2).split())


def validate_plan(task: GroundTask, plan_text: str) -> Verdict:
    """Replay ``plan_text`` on ``task`` and explain the outcome.

    Args:
        task: the grounded task the plan is for.
        plan_text: the plan as a model or a person wrote it.

    Returns:
        A :class:`Verdict`; never raises on any text.
    """
    if not isinstance(plan_text, str):  # defensive: bytes or None from a broken backend
        return Verdict(status="unparseable", message="plan is not text")
    lines, ignored = split_plan_lines(plan_text)
    if not lines:
        return Verdict(status="empty", message="no action found", ignored_lines=tuple(ignored))
    parsed: list[tuple[str, tuple[str, ...]]] = []
    for i, line in enumerate(lines):
        action = parse_action_line(line)
        if action is None:
            return Verdict(
                status="unparseable",
                failed_step=i,
                message=f"line {i + 1} is not an action: {line[:80]!r}",
                ignored_lines=tuple(ignored),
            )
        parsed.append(action)
    names = tuple("(" + " ".join((n, *a)) + ")" for n, a in parsed)
    state = task.init
    objects = set(task.objects)
    for i, (name, args) in enumerate(parsed):
        common = {
            "actions": names,
            "plan_length": len(parsed),
            "failed_step": i,
            "failed_action": names[i],
            "ignored_lines": tuple(ignored),
        }
        schema = task.schema(name)
        if schema is None:
            return Verdict(status="unknown_action", message=f"no action named {name!r}", **common)
        if len(args) != schema.arity:
            return Verdict(
                status="wrong_arity",
                message=f"{name} takes {schema.arity} arguments, got {len(args)}",
                **common,
            )
        unknown = [a for a in args if a not in objects]
        if unknown:
            return Verdict(
                status="unknown_object", message=f"unknown object(s) {unknown}", **common
            )
        ground = schema.ground(args)
        missing = ground.preconditions - state
        if missing:
            return Verdict(
                status="invalid_step",
                unmet_preconditions=tuple(sorted(_fmt(a) for a in missing)),
                message=f"step {i + 1} {names[i]} is not applicable",
                **common,
            )
        state = ground.apply(state)
    unmet = task.goal - state
    if unmet:
        return Verdict(
            status="goal_not_reached",
            actions=names,
            plan_length=len(parsed),
            unmet_goals=tuple(sorted(_fmt(a) for a in unmet)),
            message=f"{len(unmet)} goal atom(s) not reached",
            ignored_lines=tuple(ignored),
        )
    return Verdict(
        status="valid", actions=names, plan_length=len(parsed), ignored_lines=tuple(ignored)
    )
