"""Tasks built by pddlgym's parser, as the project built them before issue 21: the oracle for ours.

``pddlgym_task(domain_file, problem_file)`` reads both files through the same structural checks,
hands pddlgym the normalised copy it needs (``normalised_pddl``'s rendering), and converts
pddlgym's operators and literals into a :class:`GroundTask`, exactly as ``load_task`` did when it
was built on pddlgym. ``test_pddl_own_parser.py`` demands that our own conversion gives the same
task on every file pddlgym reads.
"""

from __future__ import annotations

import contextlib
import functools
import io
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from iterdeploy.simulator.errors import PddlError
from iterdeploy.simulator.planning._pddl import TYPE_PREFIX, DomainInfo, _read_params
from iterdeploy.simulator.planning._pddl_checks import (
    check_domain_tree,
    check_problem_tree,
    check_requirements,
)
from iterdeploy.simulator.planning._pddl_render import render
from iterdeploy.simulator.planning._sexpr import SList, Sym, read_sexpr, read_text
from iterdeploy.simulator.planning._task import ActionSchema, Atom, GroundTask


@contextlib.contextmanager
def _contained(source: str) -> Iterator[None]:
    """Run pddlgym code with stdout/stderr captured and its errors turned into :class:`PddlError`."""
    sink = io.StringIO()
    try:
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            yield
    except PddlError:
        raise
    except Exception as exc:  # pddlgym signals bad input with assorted built-in errors
        detail = str(exc) or "no detail"
        raise PddlError(
            f"{source}: pddlgym could not parse it ({type(exc).__name__}: {detail[:200]})"
        ) from exc

@contextlib.contextmanager
def _normalised_copy(root: SList) -> Iterator[str]:
    """A temporary file holding the checked tree as canonical text, for pddlgym to read."""
    with tempfile.TemporaryDirectory(prefix="iterdeploy-pddl-") as tmp:
        path = Path(tmp) / "input.pddl"
        path.write_text(render(root) + "\n", encoding="utf-8")
        yield str(path)


def _atom_template(literal: Any) -> Atom:
    return (str(literal.predicate.name), *(str(v.name) if hasattr(v, "name") else str(v)
                                           for v in literal.variables))


def _positive_literals(formula: Any, source: str, what: str) -> list[Any]:
    """Flatten a conjunction of positive literals; anything else is unsupported."""
    from pddlgym.structs import Literal, LiteralConjunction

    if isinstance(formula, LiteralConjunction):
        out: list[Any] = []
        for sub in formula.literals:
            out.extend(_positive_literals(sub, source, what))
        return out
    if isinstance(formula, Literal) and not formula.is_negative and not formula.is_anti:
        return [formula]
    raise PddlError(
        f"{source}: {what}: only conjunctions of positive atoms are supported (STRIPS), "
        f"got {formula}"
    )


def _precondition_literals(formula: Any, source: str, what: str) -> tuple[list[Any], list[Any]]:
    """(positive, negative) literals of a conjunctive precondition."""
    from pddlgym.structs import Literal, LiteralConjunction

    if isinstance(formula, LiteralConjunction):
        pos: list[Any] = []
        neg: list[Any] = []
        for sub in formula.literals:
            p, n = _precondition_literals(sub, source, what)
            pos += p
            neg += n
        return pos, neg
    if isinstance(formula, Literal) and not formula.is_anti:
        return ([], [formula]) if formula.is_negative else ([formula], [])
    raise PddlError(
        f"{source}: {what}: only conjunctions of atoms and negated atoms are supported, got {formula}"
    )


def _effect_literals(formula: Any, source: str, what: str) -> list[Any]:
    from pddlgym.structs import Literal, LiteralConjunction

    if isinstance(formula, LiteralConjunction):
        out: list[Any] = []
        for sub in formula.literals:
            out.extend(_effect_literals(sub, source, what))
        return out
    if isinstance(formula, Literal) and not formula.is_negative:
        return [formula]
    raise PddlError(
        f"{source}: {what}: only add and delete effects are supported (STRIPS), got {formula}"
    )


@functools.cache
def _parse_domain(path: str, text: str) -> tuple[DomainInfo, Any]:
    """Domain file → schemas (cached by path *and* content, so an edited file is re-read)."""
    root = read_sexpr(text, path)
    name, predicates, typed_constants, parents = check_domain_tree(root, path)
    with _contained(path), _normalised_copy(root) as clean:
        from pddlgym.parser import PDDLDomainParser

        parser = PDDLDomainParser(clean, expect_action_preds=False, operators_as_actions=True)
        schemas = []
        for op_name, op in sorted(parser.operators.items()):
            params = tuple(str(p.name) for p in op.params)
            where = f"action {op_name!r}"
            positive, negative = _precondition_literals(op.preconds, path, f"{where} precondition")
            effects = _effect_literals(op.effects, path, f"{where} effect")
            adds = tuple(_atom_template(lit) for lit in effects if not lit.is_anti)
            deletes = tuple(_atom_template(lit) for lit in effects if lit.is_anti)
            # types compiled away: a typed parameter needs its object's static type atom
            typing = tuple(
                (TYPE_PREFIX + str(p.var_type), str(p.name)) for p in op.params
                if str(p.var_type) not in ("object", "default")
            )
            schemas.append(ActionSchema(
                op_name, params, tuple(_atom_template(lit) for lit in positive) + typing, adds,
                deletes, tuple(_atom_template(lit) for lit in negative),
            ))
    info = DomainInfo(
        name, tuple(schemas), predicates, tuple(c for c, _ in typed_constants), parents,
        tuple(typed_constants), equality="=" in parser.predicates,
    )
    return info, parser


def pddlgym_task(domain_file: str | Path, problem_file: str | Path) -> GroundTask:
    """The task pddlgym's parser makes of the two files (``load_task`` before issue 21).

    Raises:
        PddlError: if either file is missing, fails our checks, or pddlgym cannot parse it.
    """
    for f in (domain_file, problem_file):
        if not Path(f).is_file():
            raise PddlError(f"{f}: no such file")
    domain, parser = _parse_domain(str(Path(domain_file).resolve()), read_text(domain_file))
    source = str(problem_file)
    text = read_text(problem_file)
    root = read_sexpr(text, source)
    check_requirements(root, source)
    name, typed = check_problem_tree(root, source, domain.name, domain.predicates, domain.type_parents,
                                     domain.constant_types)
    objects = tuple(sorted({o for o, _ in typed}))
    if not root.sections(":objects"):  # legal PDDL, but pddlgym needs the section
        root = SList((*root.items, SList((Sym(":objects", root.line),), root.line)), root.line)
    with _contained(source), _normalised_copy(root) as clean:
        from pddlgym.parser import PDDLProblemParser

        problem = PDDLProblemParser(
            clean, domain.name, parser.types, parser.predicates, parser.actions, parser.constants,
        )
        init = frozenset(
            _atom_template(lit) for lit in problem.initial_state if lit.predicate.name != "="
        )
        if domain.equality:  # pddlgym's equality: (= o o) for every object
            init |= {("=", o, o) for o in objects}
        init |= domain.type_atoms(typed)
        goal = frozenset(_atom_template(lit) for lit in _positive_literals(problem.goal, source, "goal"))
    return GroundTask(
        domain=domain.name, name=name, objects=objects, init=init, goal=goal,
        schemas=domain.schemas, params=_read_params(text, source),
        object_types=tuple(sorted(typed)) if domain.type_parents else (),
    )

