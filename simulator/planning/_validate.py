"""Plan parsing and validation with a structured verdict.

A plan is judged by replaying it on the :class:`GroundTask`, never by trusting what a model says
about it. The verdict says *why* a plan fails (which step, which action, which precondition or goal
atom), because curation policies, auditors and people all need the reason, not just a bit.

Plan text is whatever a model wrote: one action a line or several on a line, with or without
parentheses, any case, numbered or bulleted lines, trailing comments. The rules, in order:

1. Lines split on any line break. Blank lines and Markdown code fences are skipped silently.
2. A line whose first non-blank character is ``;`` or ``#`` (or that starts with ``//``) is a
   comment: ignored and reported in :attr:`Verdict.ignored_lines`.
3. Inside a line, ``;;``, ``#`` and ``//`` start a comment that runs to the end of the line.
4. A single ``;`` separates actions (``pickup b1; stack b1 b2``), except in a line written with
   parentheses, where ``;`` starts a PDDL comment unless the next non-blank character is ``(``:
   ``(pickup b1) ; then stack`` is one action and a comment, ``(pickup b1); (stack b1 b2)`` is two.
5. Each piece loses its numbering (``1.``, ``1)``, ``1:``, ``Step 1:``) or bullet (``-``, ``*``).
6. A piece made only of parenthesised groups, ``(a x)(b y)`` or ``(a x), (b y)``, is one action a
   group; anything else is one candidate action.
7. A piece that carries nothing after steps 3-5 (``2.`` alone) is ignored and reported.

A candidate that cannot be read as ``name arg ...`` makes the plan ``unparseable``. No input raises.

Names are compared as PDDL compares them: ASCII, without regard to case (``(PICKUP B1)`` is
``(pickup b1)``). A candidate with a character outside ASCII in it, other than white space, is
``unparseable`` and the message names the character: ``str.lower`` would otherwise turn the
Kelvin sign (U+212A) into ``k`` and let a non-ASCII name pass for an ASCII one. White space
outside ASCII (a no-break space) still separates, as models write it. The reader is a few
linear regular expressions with no recursion, so no nesting of parentheses or length of text can
exhaust the stack; text nested in parentheses is ``unparseable``.
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

_FENCE = re.compile(r"^`{3,}[\w+\-]*$")
_INLINE_COMMENT = re.compile(r"(?:;;|#|//).*$")
_PDDL_COMMENT = re.compile(r";(?!\s*\().*$")
_NUMBERING = re.compile(r"^\s*(?:(?:step\s*)?\d+\s*[:.)\-]|[-*\u2022])\s*", re.IGNORECASE)
_GROUP = re.compile(r"\(([^()]*)\)")
_GROUP_JOINER = re.compile(r"[\s,]+")
_ACTION = re.compile(r"([a-z][a-z0-9_\-]*)((?:\s+[a-z0-9_\-]+)*)")


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


def split_plan_lines(text: str) -> tuple[list[str], list[str]]:
    """Split plan text into candidate action lines and ignored lines (rules in the module doc).

    Returns:
        ``(action_lines, ignored)``: candidate actions stripped of numbering and comments, and the
        stripped lines or pieces that carried nothing (comment-only lines, bare numbering).
    """
    lines: list[str] = []
    ignored: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or _FENCE.match(line):
            continue
        if line.startswith((";", "#", "//")):
            ignored.append(line)
            continue
        line = _INLINE_COMMENT.sub("", line)
        if "(" in line:
            line = _PDDL_COMMENT.sub("", line)
        for piece in line.split(";"):
            cleaned = _NUMBERING.sub("", piece).strip()
            if not cleaned:
                if piece.strip():
                    ignored.append(piece.strip())
                continue
            groups = _GROUP.findall(cleaned)
            if len(groups) > 1 and not _GROUP_JOINER.sub("", _GROUP.sub("", cleaned)):
                lines.extend(f"({g.strip()})" for g in groups)
            else:
                lines.append(cleaned)
    return lines, ignored


def _non_ascii(line: str) -> str | None:
    """The first character of ``line`` outside ASCII that is not white space, or None."""
    if line.isascii():
        return None
    return next((c for c in line if not c.isascii() and not c.isspace()), None)


def parse_action_line(line: str) -> tuple[str, tuple[str, ...]] | None:
    """Read ``(name arg ...)`` or ``name arg ...`` (any case); None if it is not an action.

    Names are PDDL names: a letter, then letters, digits, ``-`` and ``_``, all ASCII (a name with
    any other character is no action, whatever ``str.lower`` would make of it). Parentheses must
    come as one enclosing pair or not at all.
    """
    if _non_ascii(line) is not None:
        return None
    body = line.strip().lower()
    if body.startswith("(") and body.endswith(")"):
        body = body[1:-1].strip()
    if "(" in body or ")" in body:
        return None
    match = _ACTION.fullmatch(body)
    if match is None:
        return None
    return match.group(1), tuple(match.group(2).split())


def validate_plan(task: GroundTask, plan_text: str) -> Verdict:
    """Replay ``plan_text`` on ``task`` and explain the outcome.

    The plan is read whole first (an unreadable line makes it ``unparseable``), then replayed step
    by step; the first step that fails decides the status (unknown action, wrong arity, unknown
    object, or unmet preconditions), and a plan that runs to the end without reaching the goal is
    ``goal_not_reached``. Lines are read by the rules in the module docstring.

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
    lines, ignored_list = split_plan_lines(plan_text)
    ignored = tuple(ignored_list)
    if not lines:
        return Verdict(status="empty", message="no action found", ignored_lines=ignored)
    parsed: list[tuple[str, tuple[str, ...]]] = []
    for i, line in enumerate(lines):
        action = parse_action_line(line)
        if action is None:
            odd = _non_ascii(line)
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
    names = tuple("(" + " ".join((n, *a)) + ")" for n, a in parsed)
    n_steps = len(parsed)

    def failure(status: VerdictStatus, step: int, message: str, unmet: tuple[str, ...] = ()) -> Verdict:
        return Verdict(
            status=status, actions=names, plan_length=n_steps, failed_step=step,
            failed_action=names[step], unmet_preconditions=unmet, message=message,
            ignored_lines=ignored,
        )

    state = task.init
    objects = task.object_set
    for i, (name, args) in enumerate(parsed):
        schema = task.schema(name)
        if schema is None:
            known = sorted(s.name for s in task.schemas)
            return failure("unknown_action", i, f"step {i + 1}: no action named {name!r}; known: {known}")
        if len(args) != schema.arity:
            return failure(
                "wrong_arity", i, f"step {i + 1}: {name} takes {schema.arity} arguments, got {len(args)}"
            )
        unknown = [a for a in args if a not in objects]
        if unknown:
            return failure("unknown_object", i, f"step {i + 1}: unknown object(s) {unknown}")
        ground = schema.ground(args)
        missing = ground.preconditions - state
        violated = ground.negative_preconditions & state
        if missing or violated:
            unmet_text = sorted(_fmt(a) for a in missing) + sorted(f"(not {_fmt(a)})" for a in violated)
            return failure(
                "invalid_step", i, f"step {i + 1} {names[i]} is not applicable", tuple(unmet_text)
            )
        state = ground.apply(state)
    unmet = task.goal - state
    if unmet:
        return Verdict(
            status="goal_not_reached",
            actions=names,
            plan_length=n_steps,
            unmet_goals=tuple(sorted(_fmt(a) for a in unmet)),
            message=f"{len(unmet)} goal atom(s) not reached",
            ignored_lines=ignored,
        )
    return Verdict(status="valid", actions=names, plan_length=n_steps, ignored_lines=ignored)
