"""PDDL reading and writing: the one module that talks to pddlgym.

pddlgym's parser (0.0.7) is the project's PDDL front end, but it has traps, all contained here:

* it reports malformed input with bare ``assert``/``IndexError``/``AttributeError`` and can loop on
  unbalanced parentheses, so files are checked lexically first and every parser error is turned
  into a :class:`PddlError` naming the file, line and what was expected;
* it needs ``operators_as_actions=True`` and ``expect_action_preds=False`` for standard IPC files;
* importing it drags in ``gym`` and matplotlib, so the import is deferred to the first parse.

The result is converted at once into our own :class:`ActionSchema` / :class:`GroundTask` values;
nothing of pddlgym leaks out, and pddlgym is never on the validation hot path.
"""

from __future__ import annotations

import contextlib
import functools
import io
import re
from importlib import resources
from pathlib import Path
from typing import Any

from simulator.errors import PddlError
from simulator.planning._task import ActionSchema, Atom, GroundTask

_KNOWN_REQUIREMENTS = {
    ":strips", ":typing", ":negative-preconditions", ":equality", ":adl", ":conditional-effects",
    ":universal-preconditions", ":existential-preconditions", ":quantified-preconditions",
    ":disjunctive-preconditions", ":action-costs", ":derived-predicates",
}


def domain_path(domain: str) -> Path:
    """Path of a PDDL domain file shipped with the package (e.g. ``"blocksworld"``)."""
    path = Path(str(resources.files("simulator.planning") / "domains" / f"{domain}.pddl"))
    if not path.exists():
        shipped = sorted(p.stem for p in path.parent.glob("*.pddl"))
        raise PddlError(f"no shipped domain {domain!r}; shipped domains: {shipped}")
    return path


def check_lexical(text: str, source: str) -> None:
    """Reject text pddlgym would mis-handle: unbalanced parentheses, unknown requirements.

    Raises:
        PddlError: naming ``source``, the line and what was expected.
    """
    depth = 0
    stripped = re.sub(r";[^\n]*", "", text)
    for lineno, line in enumerate(stripped.split("\n"), start=1):
        for ch in line:
            if ch == "(":
                depth += 1
            elif ch == ")":
                depth -= 1
                if depth < 0:
                    raise PddlError(f"{source}:{lineno}: unexpected ')' with no matching '('")
    if depth > 0:
        raise PddlError(f"{source}: {depth} unclosed '(' at end of file; expected ')'")
    if "(define" not in stripped.lower():
        raise PddlError(f"{source}:1: expected '(define (domain ...)' or '(define (problem ...)'")
    match = re.search(r"\(:requirements([^)]*)\)", stripped, flags=re.IGNORECASE)
    if match:
        for req in match.group(1).split():
            if req.lower() not in _KNOWN_REQUIREMENTS:
                lineno = stripped[: match.start()].count("\n") + 1
                raise PddlError(
                    f"{source}:{lineno}: unknown requirement {req!r}; "
                    f"expected one of {sorted(_KNOWN_REQUIREMENTS)}"
                )


@contextlib.contextmanager
def _contained(source: str) -> Any:
    """Run pddlgym code with stdout captured and its errors turned into :class:`PddlError`."""
    sink = io.StringIO()
    try:
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            yield
    except PddlError:
        raise
    except Exception as exc:  # pddlgym signals bad input with assorted built-in errors
        raise PddlError(
            f"{source}: pddlgym could not parse it ({type(exc).__name__}: {exc or 'no detail'})"
        ) from exc


def _atom_template(literal: Any) -> Atom:
    return (literal.predicate.name, *(str(v.name) if hasattr(v, "name") else str(v)
                                      for v in literal.variables))


@functools.cache
def _parse_domain_file(path: str) -> tuple[str, tuple[ActionSchema, ...], Any]:
    text = Path(path).read_text()
    check_lexical(text, path)
    with _contained(path):
        from pddlgym.parser import PDDLDomainParser

        parser = PDDLDomainParser(path, expect_action_preds=False, operators_as_actions=True)
        schemas = []
        for name, op in sorted(parser.operators.items()):
            params = tuple(str(p.name) for p in op.params)
            pre_lits = getattr(op.preconds, "literals", [op.preconds])
            for lit in pre_lits:
                if lit.is_negative or lit.is_anti:
                    raise PddlError(f"{path}: action {name}: negative preconditions are not supported")
            preconditions = tuple(_atom_template(lit) for lit in pre_lits)
            eff_lits = getattr(op.effects, "literals", [op.effects])
            adds = tuple(_atom_template(lit) for lit in eff_lits if not lit.is_anti)
            deletes = tuple(_atom_template(lit) for lit in eff_lits if lit.is_anti)
            schemas.append(ActionSchema(name, params, preconditions, adds, deletes))
    return parser.domain_name, tuple(schemas), parser


def load_domain_schemas(domain: str) -> tuple[ActionSchema, ...]:
    """Action schemas of a shipped domain (parsed once per process)."""
    return _parse_domain_file(str(domain_path(domain)))[1]


def load_task(domain_file: str | Path, problem_file: str | Path) -> GroundTask:
    """Parse a domain and a problem file into a :class:`GroundTask`.

    Raises:
        PddlError: if either file is missing or malformed (message names file and line).
    """
    for f in (domain_file, problem_file):
        if not Path(f).is_file():
            raise PddlError(f"{f}: no such file")
    domain_name, schemas, parser = _parse_domain_file(str(Path(domain_file).resolve()))
    text = Path(problem_file).read_text()
    check_lexical(text, str(problem_file))
    with _contained(str(problem_file)):
        from pddlgym.parser import PDDLProblemParser

        problem = PDDLProblemParser(
            str(problem_file), domain_name, parser.types, parser.predicates,
            parser.actions, parser.constants,
        )
        objects = _object_names(problem)
        init = frozenset(_atom_template(lit) for lit in problem.initial_state)
        goal_lits = getattr(problem.goal, "literals", [problem.goal])
        goal = frozenset(_atom_template(lit) for lit in goal_lits)
    return GroundTask(
        domain=domain_name, name=str(problem.problem_name), objects=objects,
        init=init, goal=goal, schemas=schemas,
    )


def _object_names(problem: Any) -> tuple[str, ...]:
    """Object names, also for untyped domains whose problems write ``b1 b2 - object``.

    pddlgym splits such a list on whitespace and returns ``-`` and the type as objects.
    """
    names = [str(o.name) for o in problem.objects]
    if "-" not in names:
        return tuple(sorted(set(names)))
    kept: list[str] = []
    skip_next = False
    for name in names:
        if skip_next:
            skip_next = False
        elif name == "-":
            skip_next = True
        else:
            kept.append(name)
    return tuple(sorted(set(kept)))


def problem_to_pddl(task: GroundTask) -> str:
    """Render ``task`` as a PDDL problem file (untyped objects, as the IPC Blocksworld files)."""
    def fmt(atom: Atom) -> str:
        return "(" + " ".join(atom) + ")"

    init = "\n    ".join(fmt(a) for a in sorted(task.init))
    goal = "\n    ".join(fmt(a) for a in sorted(task.goal))
    return (
        f"(define (problem {task.name})\n (:domain {task.domain})\n"
        f" (:objects {' '.join(task.objects)})\n"
        f" (:init\n    {init}\n )\n (:goal (and\n    {goal}\n )))\n"
    )
