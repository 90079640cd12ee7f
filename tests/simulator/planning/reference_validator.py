"""The validator as it was before issue 21, kept verbatim as the reference the fast one is held to.

``validate_plan`` replays a plan by grounding each step's schema anew (new frozensets at every
step) and updating a frozenset state. It is slow (the reason for the rewrite) but obviously
right, and it is what every earlier agreement test (pddlgym, unified-planning, VAL) checked. The
differential tests (``test_validator_fast_path.py``) demand that the fast validator gives exactly
its verdict, message included, and ``benchmarks/validator_throughput.py`` times the two side by
side.
"""

from __future__ import annotations

from iterdeploy.simulator.planning._task import ActionSchema, Atom, GroundTask
from iterdeploy.simulator.planning._validate import Verdict, VerdictStatus
from iterdeploy.simulator.planning.plan_text import (
    Action,
    action_text,
    first_non_ascii,
    parse_action_line,
    split_plan_lines,
)


def _fmt(atom: Atom) -> str:
    return "(" + " ".join(atom) + ")"


def _ground(
    schema: ActionSchema, args: tuple[str, ...]
) -> tuple[frozenset[Atom], frozenset[Atom], frozenset[Atom], frozenset[Atom]]:
    """(preconditions, add, delete, negative preconditions), substituted anew on every call."""
    binding = dict(zip(schema.parameters, args, strict=True))

    def subst(templates: tuple[Atom, ...]) -> frozenset[Atom]:
        return frozenset((t[0], *(binding.get(a, a) for a in t[1:])) for t in templates)

    return (subst(schema.preconditions), subst(schema.add_effects), subst(schema.delete_effects),
            subst(schema.negative_preconditions))


def reference_validate_plan(task: GroundTask, plan_text: str) -> Verdict:
    """The pre-issue-21 ``validate_plan``, line for line."""
    if isinstance(plan_text, bytes | bytearray):
        plan_text = bytes(plan_text).decode("utf-8", errors="replace")
    if not isinstance(plan_text, str):
        return Verdict(status="unparseable", message=f"plan is not text but {type(plan_text).__name__}")
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
    names = tuple(action_text(action) for action in parsed)
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
        pre, add, delete, negative = _ground(schema, args)
        missing = pre - state
        violated = negative & state
        if missing or violated:
            unmet_text = sorted(_fmt(a) for a in missing) + sorted(f"(not {_fmt(a)})" for a in violated)
            return failure(
                "invalid_step", i, f"step {i + 1} {names[i]} is not applicable", tuple(unmet_text)
            )
        state = (state - delete) | add
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
