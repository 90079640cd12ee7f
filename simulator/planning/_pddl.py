"""PDDL reading and writing: files to :class:`GroundTask` and back, with our own reader.

A file is read by :mod:`~iterdeploy.simulator.planning._sexpr` (lower case, comments removed,
every node with its line), checked by :mod:`~iterdeploy.simulator.planning._pddl_checks` (errors
name file and line) and converted here. Only STRIPS constructs are accepted: conjunctive
preconditions with negated atoms allowed, conjunctive positive goals, add and delete effects.
PDDL types are compiled away into static ``(type:T o)`` atoms and matching preconditions (see
:data:`TYPE_PREFIX`); equality, where a domain uses it, into ``(= o o)`` atoms for every object.

Why not a PDDL library: until issue 21 pddlgym parsed the checked files. Importing it takes
seconds (it drags in gym, matplotlib and scikit-image) and its regular expressions needed a
normalised copy of every file written to disk, which made ``iterdeploy validate`` take two seconds
for one plan. Once a tree has passed our checks, building a task from it is a few lines. pddlgym
stays the oracle: the tests build every task of the ten domains, the IPC files and corrupted
files both ways and demand the same result (``tests/simulator/planning/pddlgym_loader.py``).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from iterdeploy.simulator.errors import PddlError
from iterdeploy.simulator.planning._pddl_checks import (
    check_domain_tree,
    check_problem_tree,
    check_requirements,
    section_body,
    typed_pairs,
)
from iterdeploy.simulator.planning._pddl_render import normalised_pddl
from iterdeploy.simulator.planning._sexpr import MAX_DEPTH, SList, Sym, read_sexpr, read_text, strip_comments
from iterdeploy.simulator.planning._task import ActionSchema, Atom, GroundTask

__all__ = [
    "MAX_DEPTH",
    "TYPE_PREFIX",
    "build_task",
    "domain_constants",
    "domain_path",
    "load_domain_schemas",
    "load_stored_task",
    "load_task",
    "normalised_pddl",
    "problem_to_pddl",
    "shipped_domain_constants",
]

_PARAMS_COMMENT = re.compile(r"^;+\s*iterdeploy-params:(.*)$", re.MULTILINE)

TYPE_PREFIX = "type:"
"""Predicate prefix of the static type atoms that compile PDDL types away, e.g.
``("type:man", "bob")``. Not a legal PDDL name, so it cannot clash with a domain predicate."""


@functools.cache
def domain_path(domain: str) -> Path:
    """Path of a PDDL domain file shipped with the package (e.g. ``"blocksworld"``).

    Cached per process (an unknown name raises every time): every generated task and every
    stored task asks for it, and the package's files do not move while it runs."""
    path = Path(str(resources.files("iterdeploy.simulator.planning") / "domains" / f"{domain}.pddl"))
    if not path.exists():
        shipped = sorted(p.stem for p in path.parent.glob("*.pddl"))
        raise PddlError(f"no shipped domain {domain!r}; shipped domains: {shipped}")
    return path


@dataclass(frozen=True)
class DomainInfo:
    """A checked domain file, converted: what every problem of the domain is built with."""

    name: str
    schemas: tuple[ActionSchema, ...]
    predicates: dict[str, int]
    constants: tuple[str, ...]
    type_parents: dict[str, str]
    """Declared type → its supertype (``object`` at the top); empty for untyped domains."""
    constant_types: tuple[tuple[str, str], ...] = ()
    equality: bool = False
    """Whether the domain uses ``=``: each problem's initial state then holds ``(= o o)`` for
    every object, so that ``(= ?a ?b)`` and ``(not (= ?a ?b))`` are ordinary atoms to replay."""

    def type_atoms(self, typed: list[tuple[str, str]]) -> set[Atom]:
        """Static atoms ``(type:T o)`` for each object's type and its supertypes but ``object``."""
        atoms: set[Atom] = set()
        for obj, typ in typed:
            seen: set[str] = set()
            while typ != "object" and typ not in seen:
                seen.add(typ)
                atoms.add((TYPE_PREFIX + typ, obj))
                typ = self.type_parents.get(typ, "object")
        return atoms


def _atom(node: SList, source: str) -> Atom:
    """A checked atom's words (predicate, then arguments)."""
    words: list[str] = []
    for item in node.items:
        if not isinstance(item, Sym):  # checked for declared predicates; '=' is checked here
            raise PddlError(f"{source}:{item.line}: unexpected '(' in an atom's arguments")
        words.append(item.text)
    return tuple(words)


def _literals(formula: Sym | SList, source: str) -> tuple[list[Atom], list[Atom]]:
    """(positive, negated) atoms of a checked conjunction, in the order written (nested ``and``
    flattened, ``()`` empty)."""
    positive: list[Atom] = []
    negative: list[Atom] = []
    pending: list[Sym | SList] = [formula]
    while pending:
        node = pending.pop()
        if not isinstance(node, SList) or not node.items:
            continue
        if node.head == "and":
            pending.extend(reversed(node.items[1:]))
        elif node.head == "not":
            inner = node.items[1]
            assert isinstance(inner, SList)
            negative.append(_atom(inner, source))
        else:
            positive.append(_atom(node, source))
    return positive, negative


@functools.cache
def _parse_domain(path: str, text: str) -> DomainInfo:
    """Domain file → schemas (cached by path *and* content, so an edited file is re-read)."""
    root = read_sexpr(text, path)
    name, predicates, typed_constants, parents = check_domain_tree(root, path)
    schemas: dict[str, ActionSchema] = {}
    for action in root.sections(":action"):
        op_name = action.items[1]
        assert isinstance(op_name, Sym)
        params = typed_pairs(section_body(action, ":parameters", path), path, "parameters")
        [precondition] = section_body(action, ":precondition", path)
        [effect] = section_body(action, ":effect", path)
        positive, negative = _literals(precondition, path)
        adds, deletes = _literals(effect, path)
        # types compiled away: a typed parameter needs its object's static type atom
        typing = tuple((TYPE_PREFIX + typ, sym.text) for sym, typ in params if typ != "object")
        schemas[op_name.text] = ActionSchema(
            op_name.text, tuple(sym.text for sym, _ in params), (*positive, *typing), tuple(adds),
            tuple(deletes), tuple(negative),
        )
    return DomainInfo(
        name, tuple(schemas[n] for n in sorted(schemas)), predicates, tuple(c for c, _ in typed_constants),
        parents, tuple(typed_constants), equality="=" in strip_comments(text),
    )


def load_domain_schemas(domain: str) -> tuple[ActionSchema, ...]:
    """Action schemas of a shipped domain (parsed once per process)."""
    return shipped_domain(domain).schemas


@functools.cache
def shipped_domain(domain: str) -> DomainInfo:
    """A shipped domain (registry name), read and parsed once per process.

    A user's domain file is read again at every load (it may have changed); the package's own are
    not, so that drawing a task or rebuilding a stored one, thousands of times a run or a
    pretraining corpus, reads no file."""
    path = str(domain_path(domain))
    return _parse_domain(path, read_text(path))


def shipped_domain_constants(domain: str) -> tuple[str, ...]:
    """The constants a shipped domain declares (registry name)."""
    return shipped_domain(domain).constants


def _domain_of(domain_file: str | Path) -> DomainInfo:
    path = str(Path(domain_file).resolve())
    return _parse_domain(path, read_text(path))


def load_task(domain_file: str | Path, problem_file: str | Path) -> GroundTask:
    """Parse a domain and a problem file into a :class:`GroundTask`.

    Generator parameters written by :func:`problem_to_pddl` (a ``;; iterdeploy-params:`` comment)
    are read back into :attr:`GroundTask.params`.

    Raises:
        PddlError: if either file is missing or malformed (message names file and line).
    """
    for f in (domain_file, problem_file):
        if not Path(f).is_file():
            raise PddlError(f"{f}: no such file")
    domain = _domain_of(domain_file)
    return _problem(domain, read_text(problem_file), str(problem_file))


def _problem(domain: DomainInfo, text: str, source: str) -> GroundTask:
    """A problem's text, read and checked against ``domain``, as a task."""
    root = read_sexpr(text, source)
    check_requirements(root, source)
    name, typed = check_problem_tree(
        root, source, domain.name, domain.predicates, domain.type_parents, domain.constant_types,
    )
    objects = tuple(sorted({o for o, _ in typed}))
    [init_section] = root.sections(":init")
    [goal_section] = root.sections(":goal")
    init: set[Atom] = set()
    for node in init_section.items[1:]:
        assert isinstance(node, SList)
        if node.items and node.head != "=":  # equality is the domain's, compiled below
            init.add(_atom(node, source))
    if domain.equality:
        init |= {("=", o, o) for o in objects}
    init |= domain.type_atoms(typed)
    goal, _ = _literals(goal_section.items[1], source)  # checked: positive atoms only
    return GroundTask(
        domain=domain.name, name=name, objects=objects, init=frozenset(init), goal=frozenset(goal),
        schemas=domain.schemas, params=_read_params(text, source),
        object_types=tuple(sorted(typed)) if domain.type_parents else (),
    )


def load_stored_task(domain: str, problem_pddl: str) -> GroundTask:
    """A task from the problem text a run store keeps with it, for the shipped domain ``domain``
    (registry name). The store is the source of truth for every task of a run: a resumed loop and
    an auditor that re-scores traces rebuild tasks this way, never by re-drawing them."""
    return _problem(shipped_domain(domain), problem_pddl, f"stored {domain} problem")


def build_task(
    domain_file: str | Path | DomainInfo,
    name: str,
    typed_objects: list[tuple[str, str]],
    init: set[Atom] | frozenset[Atom],
    goal: set[Atom] | frozenset[Atom],
    params: tuple[tuple[str, int], ...] = (),
) -> GroundTask:
    """A :class:`GroundTask` from objects and atoms, exactly as :func:`load_task` would build it.

    Task generators use this instead of writing PDDL and parsing it back (generators run in
    loops): type atoms, domain constants and equality are compiled in the same way, so
    ``load_task(domain_file, file_with(problem_to_pddl(task)))`` equals the result.

    Args:
        domain_file: the domain the task belongs to, a file or, for the shipped domains,
            the parsed domain itself (:func:`shipped_domain`: no file is read).
        name: problem name.
        typed_objects: ``(object, type)`` pairs (type ``object`` for untyped domains); domain
            constants are added here and need not be listed.
        init: initial atoms without type atoms.
        goal: goal atoms (positive).
        params: generator parameters to tag the task with.
    """
    domain = domain_file if isinstance(domain_file, DomainInfo) else _domain_of(domain_file)
    typed = list(typed_objects) + list(domain.constant_types)
    objects = tuple(sorted({o for o, _ in typed}))
    atoms = frozenset(init) | domain.type_atoms(typed)
    if domain.equality:
        atoms |= {("=", o, o) for o in objects}
    return GroundTask(
        domain=domain.name, name=name, objects=objects, init=atoms, goal=frozenset(goal),
        schemas=domain.schemas, params=params,
        object_types=tuple(sorted(set(typed))) if domain.type_parents else (),
    )


def domain_constants(domain_file: str | Path) -> tuple[str, ...]:
    """The constants a domain file declares (e.g. Childsnack's ``kitchen``)."""
    return _domain_of(domain_file).constants


def _read_params(text: str, source: str) -> tuple[tuple[str, int], ...]:
    match = _PARAMS_COMMENT.search(text)
    if match is None:
        return ()
    params: list[tuple[str, int]] = []
    for item in match.group(1).split():
        key, sep, value = item.partition("=")
        if not sep or not re.fullmatch(r"-?\d+", value):
            raise PddlError(f"{source}: bad iterdeploy-params entry {item!r}; expected key=integer")
        params.append((key, int(value)))
    return tuple(params)


def problem_to_pddl(task: GroundTask, *, constants: tuple[str, ...] | frozenset[str] = ()) -> str:
    """Render ``task`` as a PDDL problem file.

    Objects are untyped on one line (as in the IPC Blocksworld files) unless the task records
    :attr:`GroundTask.object_types`; typed objects are listed one type a line
    (``car1 car2 - car``), as in the IPC files. ``constants`` (the domain's, see
    :func:`domain_constants`) are left out of ``:objects``, since the domain declares them.
    Compiled-away atoms (equality, ``type:`` atoms) are left out. The generator parameters go into
    a ``;; iterdeploy-params:`` comment, so ``load_task(domain, file)`` gives back the same task,
    tags included.
    """
    def fmt(atom: Atom) -> str:
        return "(" + " ".join(atom) + ")"

    init = "\n    ".join(
        fmt(a) for a in sorted(task.init) if a[0] != "=" and not a[0].startswith(TYPE_PREFIX)
    )
    if task.object_types:
        by_type: dict[str, list[str]] = {}
        for obj, typ in task.object_types:
            if obj not in constants:
                by_type.setdefault(typ, []).append(obj)
        lines = [" ".join(sorted(objs, key=_natural_key)) + f" - {typ}" for typ, objs in by_type.items()]
        objects = "".join(f"\n    {line}" for line in lines) + "\n "
    else:
        objects = " " + " ".join(o for o in task.objects if o not in constants)
    goal = "\n    ".join(fmt(a) for a in sorted(task.goal))
    header = ""
    if task.params:
        header = ";; iterdeploy-params: " + " ".join(f"{k}={v}" for k, v in task.params) + "\n"
    return (
        f"{header}(define (problem {task.name})\n (:domain {task.domain})\n"
        f" (:objects{objects})\n"
        f" (:init\n    {init}\n )\n (:goal (and\n    {goal}\n )))\n"
    )


def _natural_key(name: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key that puts ``loc2`` before ``loc10`` (objects are listed as people number them)."""
    return tuple((0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", name))
