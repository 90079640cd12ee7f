"""PDDL reading and writing: the one module that talks to pddlgym.

pddlgym's parser (0.0.7) is the project's PDDL front end, but it has traps, all contained here:

* it reports malformed input with bare ``assert``/``IndexError``/``AttributeError`` and no line
  numbers, so every file is first read by a small s-expression reader of our own that checks the
  structure pddlgym relies on (balanced parentheses, known requirements, the sections and action
  keys it expects, declared predicates with the right arity, declared objects, matching domain
  name) and reports problems as :class:`PddlError` naming file and line; whatever pddlgym still
  rejects is turned into a :class:`PddlError` naming the file;
* it strips comments only when a newline follows them, reads ``?a ?b - t`` parameters as an
  untyped ``?a``, and matches sections with regexes that assume a particular spacing, so it is
  handed a normalised copy of the checked text (see :func:`_render`);
* it returns an untyped problem's ``b1 b2 - object`` as the objects ``-``, ``b1``, ``b2``,
  ``object`` (sorted), so object names are read by our own reader instead;
* it needs ``operators_as_actions=True`` and ``expect_action_preds=False`` for standard IPC files;
* it prints to stdout, so it runs with stdout and stderr captured (and always restored);
* it, and our checks, recurse once per level of nesting, so the reader refuses nesting deeper
  than :data:`MAX_DEPTH` (a ``RecursionError`` otherwise) before anything recursive runs;
* importing it drags in ``gym`` and matplotlib, so the import is deferred to the first parse.

The result is converted at once into our own :class:`ActionSchema` / :class:`GroundTask` values;
only STRIPS constructs are accepted (conjunctive preconditions, negated atoms allowed;
conjunctive positive goals; add/delete effects). PDDL types are compiled away into static
``(type:T o)`` atoms and matching preconditions (see :data:`TYPE_PREFIX`). Nothing of pddlgym
leaks out, and pddlgym is never on the validation hot path.
"""

from __future__ import annotations

import bisect
import contextlib
import functools
import io
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from iterdeploy.simulator.errors import PddlError
from iterdeploy.simulator.planning._task import ActionSchema, Atom, GroundTask

_KNOWN_REQUIREMENTS = {
    ":strips", ":typing", ":negative-preconditions", ":equality", ":adl", ":conditional-effects",
    ":universal-preconditions", ":existential-preconditions", ":quantified-preconditions",
    ":disjunctive-preconditions", ":action-costs", ":derived-predicates",
}
_PARAMS_COMMENT = re.compile(r"^;+\s*iterdeploy-params:(.*)$", re.MULTILINE)
_TOKEN = re.compile(r"[()]|[^\s()]+")
_CONNECTIVES = {"and", "or", "not", "imply", "forall", "exists", "when", "probabilistic"}

MAX_DEPTH = 64
"""Deepest nesting of parentheses a PDDL file may have. The reader is iterative, but the checks
after it, pddlgym's parser and the renderer recurse once per level, and Python stops at about a
thousand frames: a file nested 1,000 levels deep would end in a ``RecursionError``. The shipped
IPC domains nest 5 levels deep; 64 leaves room for any hand-written formula."""


def domain_path(domain: str) -> Path:
    """Path of a PDDL domain file shipped with the package (e.g. ``"blocksworld"``)."""
    path = Path(str(resources.files("iterdeploy.simulator.planning") / "domains" / f"{domain}.pddl"))
    if not path.exists():
        shipped = sorted(p.stem for p in path.parent.glob("*.pddl"))
        raise PddlError(f"no shipped domain {domain!r}; shipped domains: {shipped}")
    return path


# --------------------------------------------------------------------------- s-expression reader


@dataclass(frozen=True)
class _Sym:
    text: str
    line: int


@dataclass(frozen=True)
class _List:
    items: tuple[_Sym | _List, ...]
    line: int

    @property
    def head(self) -> str | None:
        """The first item's text when it is a symbol (``define``, ``:init``, a predicate)."""
        return self.items[0].text if self.items and isinstance(self.items[0], _Sym) else None

    def sections(self, key: str) -> list[_List]:
        """Child lists whose head is ``key``."""
        return [i for i in self.items if isinstance(i, _List) and i.head == key]


def _strip_comments(text: str) -> str:
    return re.sub(r";[^\n]*", "", text)


def _read_text(path: str | Path) -> str:
    """File text as UTF-8 (a leading byte-order mark dropped, as editors on Windows write one);
    undecodable bytes are an error naming the line."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise PddlError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise PddlError(f"{path}:{line}: not UTF-8 text (byte {data[exc.start]:#04x}); "
                        "expected a PDDL file") from exc


def _check_ascii(body: str, source: str) -> None:
    """PDDL is ASCII: names are letters, digits, ``-`` and ``_``, and compared without case.

    Only comments may hold other characters (they are gone from ``body``). Refusing the rest
    here keeps names comparable as PDDL compares them: Python's ``str.lower`` would turn the
    Kelvin sign (U+212A) into the ASCII ``k`` and so make a non-ASCII name equal to an ASCII one,
    and ``\\s`` would read a no-break space as a separator.
    """
    if body.isascii():
        return
    at = next(i for i, c in enumerate(body) if not c.isascii())
    line = body.count("\n", 0, at) + 1
    char = body[at]
    raise PddlError(
        f"{source}:{line}: non-ASCII character {char!r} (U+{ord(char):04X}); PDDL names and "
        "keywords are ASCII letters, digits, '-' and '_' (other text may only stand in ';' "
        "comments)"
    )


def _read_sexpr(text: str, source: str) -> _List:
    """Read the one top-level s-expression of a PDDL file (lower-cased, comments removed).

    Iterative, and it refuses nesting deeper than :data:`MAX_DEPTH`, so nothing after it (our
    checks, pddlgym, the renderer) can exceed Python's recursion limit.

    Raises:
        PddlError: on unbalanced parentheses, text outside the top-level expression, nesting
            deeper than :data:`MAX_DEPTH`, or a character outside ASCII (outside comments).
    """
    body = _strip_comments(text)
    _check_ascii(body, source)
    body = body.lower()
    newlines = [m.start() for m in re.finditer("\n", body)]
    stack: list[tuple[int, list[_Sym | _List]]] = []
    top: list[_List] = []
    for match in _TOKEN.finditer(body):
        line = bisect.bisect_left(newlines, match.start()) + 1
        tok = match.group()
        if tok == "(":
            if len(stack) >= MAX_DEPTH:
                raise PddlError(
                    f"{source}:{line}: nested more than {MAX_DEPTH} levels deep; PDDL formulas "
                    "this deep are not supported, flatten them (an 'and' inside an 'and' can be "
                    "one 'and')"
                )
            stack.append((line, []))
        elif tok == ")":
            if not stack:
                raise PddlError(f"{source}:{line}: unexpected ')' with no matching '('")
            opened, items = stack.pop()
            node = _List(tuple(items), opened)
            if stack:
                stack[-1][1].append(node)
            else:
                top.append(node)
        elif not stack:
            raise PddlError(f"{source}:{line}: unexpected {tok[:40]!r} outside '(define ...)'")
        else:
            stack[-1][1].append(_Sym(tok, line))
    if stack:
        raise PddlError(
            f"{source}:{stack[-1][0]}: '(' opened here is never closed "
            f"({len(stack)} unclosed at end of file); expected ')'"
        )
    if not top:
        raise PddlError(f"{source}:1: empty file; expected '(define (domain ...)' or '(define (problem ...)'")
    if len(top) > 1:
        raise PddlError(f"{source}:{top[1].line}: a second top-level expression; expected one '(define ...)'")
    root = top[0]
    if root.head != "define":
        raise PddlError(f"{source}:{root.line}: expected '(define (domain ...)' or '(define (problem ...)'")
    return root


def _check_requirements(root: _List, source: str) -> None:
    for section in root.sections(":requirements"):
        for req in section.items[1:]:
            if isinstance(req, _List) or req.text not in _KNOWN_REQUIREMENTS:
                text = req.text if isinstance(req, _Sym) else "(...)"
                raise PddlError(
                    f"{source}:{req.line}: unknown requirement {text!r}; "
                    f"expected one of {sorted(_KNOWN_REQUIREMENTS)}"
                )


def _name_of(root: _List, key: str, source: str) -> str:
    """The name in ``(define (KEY name) ...)``."""
    if len(root.items) < 2 or not isinstance(root.items[1], _List) or root.items[1].head != key:
        raise PddlError(f"{source}:{root.line}: expected '(define ({key} NAME) ...)'")
    header = root.items[1]
    if len(header.items) != 2 or not isinstance(header.items[1], _Sym):
        raise PddlError(f"{source}:{header.line}: expected '({key} NAME)'")
    return header.items[1].text


def _one_section(root: _List, key: str, source: str, *, required: bool) -> _List | None:
    found = root.sections(key)
    if len(found) > 1:
        raise PddlError(f"{source}:{found[1].line}: '({key} ...)' appears twice")
    if not found and required:
        raise PddlError(f"{source}: no '({key} ...)' section")
    return found[0] if found else None


def _typed_pairs(items: tuple[_Sym | _List, ...], source: str, what: str) -> list[tuple[_Sym, str]]:
    """(name, type) pairs of a PDDL typed list ``a b - t c`` (untyped names get ``object``)."""
    pairs: list[tuple[_Sym, str]] = []
    pending: list[_Sym] = []
    expect_type = False
    for item in items:
        if isinstance(item, _List):
            where = "'(either ...)' types are not supported" if item.head == "either" else "expected names"
            raise PddlError(f"{source}:{item.line}: unexpected '(' in {what}; {where}")
        if expect_type:
            pairs += [(name, item.text) for name in pending]
            pending, expect_type = [], False
        elif item.text == "-":
            if not pending:
                raise PddlError(f"{source}:{item.line}: '-' with no name before it in {what}")
            expect_type = True
        else:
            pending.append(item)
    if expect_type:
        raise PddlError(f"{source}:{items[-1].line}: '-' at the end of {what}; expected a type name")
    return pairs + [(name, "object") for name in pending]


TYPE_PREFIX = "type:"
"""Predicate prefix of the static type atoms that compile PDDL types away, e.g.
``("type:man", "bob")``. Not a legal PDDL name, so it cannot clash with a domain predicate."""


@dataclass(frozen=True)
class _DomainInfo:
    name: str
    schemas: tuple[ActionSchema, ...]
    predicates: dict[str, int]
    constants: tuple[str, ...]
    parser: Any
    type_parents: dict[str, str]
    """Declared type → its supertype (``object`` at the top); empty for untyped domains."""
    constant_types: tuple[tuple[str, str], ...] = ()

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


def _check_domain_tree(
    root: _List, source: str
) -> tuple[str, dict[str, int], list[tuple[str, str]], dict[str, str]]:
    """Structure pddlgym needs; returns (name, predicate arities, typed constants, type parents)."""
    name = _name_of(root, "domain", source)
    _check_requirements(root, source)
    types = _one_section(root, ":types", source, required=False)
    parents: dict[str, str] = {}
    if types is not None:
        for sym, parent in _typed_pairs(types.items[1:], source, ":types"):
            if sym.text != "object":
                parents[sym.text] = parent
        for parent in list(parents.values()):
            if parent != "object" and parent not in parents:
                parents[parent] = "object"
    declared = set(parents) | {"object"}
    preds = _one_section(root, ":predicates", source, required=True)
    assert preds is not None
    predicates: dict[str, int] = {}
    for decl in preds.items[1:]:
        if not isinstance(decl, _List) or decl.head is None:
            raise PddlError(f"{source}:{decl.line}: expected a predicate declaration '(name ?x ...)'")
        if decl.head in predicates:
            raise PddlError(f"{source}:{decl.line}: predicate {decl.head!r} declared twice")
        predicates[decl.head] = sum(
            1 for i in decl.items[1:] if isinstance(i, _Sym) and i.text.startswith("?")
        )
    consts = _one_section(root, ":constants", source, required=False)
    typed_constants = _typed_pairs(consts.items[1:], source, ":constants") if consts else []
    param_pairs: list[tuple[_Sym, str]] = list(typed_constants)
    constants = [c.text for c, _ in typed_constants]
    for action in root.sections(":action"):
        keys = [i.text for i in action.items[1:] if isinstance(i, _Sym) and i.text.startswith(":")]
        if len(action.items) < 2 or not isinstance(action.items[1], _Sym):
            raise PddlError(f"{source}:{action.line}: expected '(:action NAME :parameters ...)'")
        act_name = action.items[1].text
        if keys != [":parameters", ":precondition", ":effect"]:
            raise PddlError(
                f"{source}:{action.line}: action {act_name!r} has keys {keys}; expected "
                "':parameters (...) :precondition (...) :effect (...)' in that order"
            )
        if act_name in predicates:
            raise PddlError(f"{source}:{action.line}: action {act_name!r} has the name of a predicate")
        typed_params = _typed_pairs(_section_body(action, ":parameters", source), source, "parameters")
        param_pairs += typed_params
        params = {p.text for p, _ in typed_params}
        for key in (":precondition", ":effect"):
            for formula in _section_body(action, key, source):
                where = f"action {act_name!r} {key}"
                _check_formula(formula, predicates, params | set(constants), source, where)
                _check_strips(formula, source, where, effect=key == ":effect")
    for sym, typ in param_pairs:
        if typ not in declared:
            raise PddlError(f"{source}:{sym.line}: {sym.text!r} has undeclared type {typ!r}")
    return name, predicates, [(c.text, t) for c, t in typed_constants], parents


def _section_body(action: _List, key: str, source: str) -> tuple[_Sym | _List, ...]:
    """What follows ``key`` in an action: the parameter list's items or the one formula."""
    items = action.items
    for i, item in enumerate(items):
        if isinstance(item, _Sym) and item.text == key:
            if i + 1 >= len(items) or not isinstance(items[i + 1], _List):
                raise PddlError(f"{source}:{item.line}: expected '(...)' after {key}")
            value = items[i + 1]
            assert isinstance(value, _List)
            return value.items if key == ":parameters" else (value,)
    raise PddlError(f"{source}:{action.line}: missing {key}")  # pragma: no cover - checked before


def _check_formula(
    formula: _Sym | _List, predicates: dict[str, int], names: set[str], source: str, where: str
) -> None:
    """Every atom in ``formula`` uses a declared predicate with its arity and declared names.

    Quantified sub-formulas are left to pddlgym (their variables are not tracked here).
    """
    if isinstance(formula, _Sym):
        raise PddlError(f"{source}:{formula.line}: in {where}: expected '(...)', got {formula.text!r}")
    head = formula.head
    if head is None:
        if not formula.items:
            return  # ``()``: an empty condition
        raise PddlError(f"{source}:{formula.line}: in {where}: expected a predicate name after '('")
    if head in ("forall", "exists"):
        return
    if head in _CONNECTIVES:
        for sub in formula.items[1:]:
            _check_formula(sub, predicates, names, source, where)
        return
    if head == "=":
        return
    args = formula.items[1:]
    if head not in predicates:
        raise PddlError(
            f"{source}:{formula.line}: in {where}: undefined predicate {head!r}; "
            f"declared predicates: {sorted(predicates)}"
        )
    if len(args) != predicates[head]:
        raise PddlError(
            f"{source}:{formula.line}: in {where}: predicate {head!r} takes "
            f"{predicates[head]} argument(s), got {len(args)}"
        )
    for arg in args:
        if isinstance(arg, _List):
            raise PddlError(f"{source}:{arg.line}: in {where}: unexpected '(' in an atom's arguments")
        if arg.text not in names:
            kind = "parameter" if arg.text.startswith("?") else "object"
            raise PddlError(f"{source}:{arg.line}: in {where}: undeclared {kind} {arg.text!r}")


def _check_strips(
    formula: _Sym | _List, source: str, where: str, *, effect: bool, top_level_goal: bool = False
) -> None:
    """Only what :class:`GroundTask` can represent: conjunctions of atoms and negated atoms
    (negated atoms are delete effects in effects, negative preconditions in preconditions, and
    not allowed in goals)."""
    if not isinstance(formula, _List):
        return  # reported by _check_formula
    head = formula.head
    if head == "and":
        for sub in formula.items[1:]:
            _check_strips(sub, source, where, effect=effect, top_level_goal=top_level_goal)
    elif head == "not" and not top_level_goal:
        if len(formula.items) != 2 or not isinstance(formula.items[1], _List) or (
            formula.items[1].head in _CONNECTIVES
        ):
            raise PddlError(f"{source}:{formula.line}: in {where}: expected '(not (predicate ...))'")
    elif head in _CONNECTIVES:
        supported = (
            "add and delete effects" if effect
            else "conjunctions of positive atoms" if top_level_goal
            else "conjunctions of atoms and negated atoms"
        )
        raise PddlError(
            f"{source}:{formula.line}: in {where}: '({head} ...)' is not supported; "
            f"only {supported} (STRIPS)"
        )


# --------------------------------------------------------------------------- pddlgym, contained


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


def _render(node: _Sym | _List) -> str:
    """Canonical PDDL text of a checked tree, in the shape pddlgym's regexes expect.

    No comments, single spaces, one section a line, each action parameter and predicate argument
    typed on its own (pddlgym reads ``?a ?b - t`` as an untyped ``?a``), and a space and a newline
    after each supertype in ``:types``.
    """
    if isinstance(node, _Sym):
        return node.text
    items = list(node.items)
    if node.head == ":action":
        for i, item in enumerate(items[:-1]):
            nxt = items[i + 1]
            if isinstance(item, _Sym) and item.text == ":parameters" and isinstance(nxt, _List):
                items[i + 1] = _List(_each_typed(nxt.items), nxt.line)
    if node.head == ":predicates":  # pddlgym splits declarations on "?": type each one
        items = [items[0], *(
            _List((i.items[0], *_each_typed(i.items[1:])), i.line) if isinstance(i, _List) and i.items
            else i for i in items[1:]
        )]
    if node.head == ":types":
        # pddlgym finds a supertype's end with min(index(" "), index("\n")): both must follow
        groups: list[str] = []
        current: list[str] = []
        for item in items[1:]:
            current.append(_render(item))
            if len(current) >= 2 and current[-2] == "-":
                groups.append(" ".join(current))
                current = []
        if current:
            groups.append(" ".join(current))
        return "(:types" + "".join(f" {g} \n" for g in groups) + ")"
    sep = "\n " if node.head == "define" else " "
    return "(" + sep.join(_render(i) for i in items) + ")"


def _each_typed(items: tuple[_Sym | _List, ...]) -> tuple[_Sym | _List, ...]:
    """``?a ?b - t ?c`` → ``?a - t ?b - t ?c``."""
    out: list[_Sym | _List] = []
    pending: list[_Sym | _List] = []
    i = 0
    while i < len(items):
        item = items[i]
        if isinstance(item, _Sym) and item.text == "-" and i + 1 < len(items):
            for name in pending:
                out += [name, item, items[i + 1]]
            pending = []
            i += 2
            continue
        pending.append(item)
        i += 1
    return (*out, *pending)


def normalised_pddl(path: str | Path) -> str:
    """A PDDL file as the canonical text pddlgym is given (after the structural checks).

    Raises:
        PddlError: if the file is missing or malformed.
    """
    root = _read_sexpr(_read_text(path), str(path))
    _check_requirements(root, str(path))
    return _render(root) + "\n"


@contextlib.contextmanager
def _normalised_copy(root: _List) -> Iterator[str]:
    """A temporary file holding the checked tree as canonical text, for pddlgym to read."""
    with tempfile.TemporaryDirectory(prefix="iterdeploy-pddl-") as tmp:
        path = Path(tmp) / "input.pddl"
        path.write_text(_render(root) + "\n", encoding="utf-8")
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
def _parse_domain(path: str, text: str) -> _DomainInfo:
    """Domain file → schemas (cached by path *and* content, so an edited file is re-read)."""
    root = _read_sexpr(text, path)
    name, predicates, typed_constants, parents = _check_domain_tree(root, path)
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
    return _DomainInfo(
        name, tuple(schemas), predicates, tuple(c for c, _ in typed_constants), parser, parents,
        tuple(typed_constants),
    )


def load_domain_schemas(domain: str) -> tuple[ActionSchema, ...]:
    """Action schemas of a shipped domain (parsed once per process)."""
    path = str(domain_path(domain))
    return _parse_domain(path, _read_text(path)).schemas


def _check_problem_tree(
    root: _List, source: str, domain: _DomainInfo
) -> tuple[str, list[tuple[str, str]]]:
    """Structure pddlgym needs; returns (problem name, typed objects incl. domain constants)."""
    name = _name_of(root, "problem", source)
    dom = _one_section(root, ":domain", source, required=True)
    assert dom is not None
    if len(dom.items) != 2 or not isinstance(dom.items[1], _Sym):
        raise PddlError(f"{source}:{dom.line}: expected '(:domain NAME)'")
    if dom.items[1].text != domain.name:
        raise PddlError(
            f"{source}:{dom.line}: problem is for domain {dom.items[1].text!r}, "
            f"but the domain file defines {domain.name!r}"
        )
    objs = _one_section(root, ":objects", source, required=False)
    pairs = _typed_pairs(objs.items[1:], source, ":objects") if objs else []
    declared = set(domain.type_parents) | {"object"}
    for sym, typ in pairs:
        if typ not in declared:
            raise PddlError(
                f"{source}:{sym.line}: object {sym.text!r} has undeclared type {typ!r}; "
                f"the domain declares {sorted(declared)}"
            )
    typed = [(sym.text, typ) for sym, typ in pairs] + list(domain.constant_types)
    names = {o for o, _ in typed}
    init = _one_section(root, ":init", source, required=True)
    goal = _one_section(root, ":goal", source, required=True)
    assert init is not None and goal is not None
    for atom in init.items[1:]:
        if isinstance(atom, _List) and atom.head in _CONNECTIVES:
            raise PddlError(f"{source}:{atom.line}: ':init' lists ground atoms; got '({atom.head} ...)'")
        _check_formula(atom, domain.predicates, names, source, ":init")
    if len(goal.items) != 2:
        raise PddlError(f"{source}:{goal.line}: expected one formula in '(:goal ...)'")
    _check_formula(goal.items[1], domain.predicates, names, source, ":goal")
    _check_strips(goal.items[1], source, ":goal", effect=False, top_level_goal=True)
    return name, sorted(set(typed))


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
    domain = _parse_domain(str(Path(domain_file).resolve()), _read_text(domain_file))
    source = str(problem_file)
    text = _read_text(problem_file)
    root = _read_sexpr(text, source)
    _check_requirements(root, source)
    name, typed = _check_problem_tree(root, source, domain)
    objects = tuple(sorted({o for o, _ in typed}))
    if not root.sections(":objects"):  # legal PDDL, but pddlgym needs the section
        root = _List((*root.items, _List((_Sym(":objects", root.line),), root.line)), root.line)
    with _contained(source), _normalised_copy(root) as clean:
        from pddlgym.parser import PDDLProblemParser

        problem = PDDLProblemParser(
            clean, domain.name, domain.parser.types, domain.parser.predicates,
            domain.parser.actions, domain.parser.constants,
        )
        init = frozenset(
            _atom_template(lit) for lit in problem.initial_state if lit.predicate.name != "="
        )
        if "=" in domain.parser.predicates:  # pddlgym's equality: (= o o) for every object
            init |= {("=", o, o) for o in objects}
        init |= domain.type_atoms(typed)
        goal = frozenset(_atom_template(lit) for lit in _positive_literals(problem.goal, source, "goal"))
    return GroundTask(
        domain=domain.name, name=name, objects=objects, init=init, goal=goal,
        schemas=domain.schemas, params=_read_params(text, source),
        object_types=tuple(sorted(typed)) if domain.type_parents else (),
    )


def load_stored_task(domain: str, problem_pddl: str) -> GroundTask:
    """A task from the problem text a run store keeps with it, for the shipped domain ``domain``
    (registry name). The store is the source of truth for every task of a run: a resumed loop and
    an auditor that re-scores traces rebuild tasks this way, never by re-drawing them."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="iterdeploy-task-") as tmp:
        path = Path(tmp) / "problem.pddl"
        path.write_text(problem_pddl, encoding="utf-8")
        return load_task(domain_path(domain), path)


def build_task(
    domain_file: str | Path,
    name: str,
    typed_objects: list[tuple[str, str]],
    init: set[Atom] | frozenset[Atom],
    goal: set[Atom] | frozenset[Atom],
    params: tuple[tuple[str, int], ...] = (),
) -> GroundTask:
    """A :class:`GroundTask` from objects and atoms, exactly as :func:`load_task` would build it.

    Task generators use this instead of writing PDDL and parsing it back (pddlgym is slow and
    generators run in loops): type atoms, domain constants and equality are compiled in the same
    way, so ``load_task(domain_file, file_with(problem_to_pddl(task)))`` equals the result.

    Args:
        domain_file: the domain the task belongs to (parsed once per process).
        name: problem name.
        typed_objects: ``(object, type)`` pairs (type ``object`` for untyped domains); domain
            constants are added here and need not be listed.
        init: initial atoms without type atoms.
        goal: goal atoms (positive).
        params: generator parameters to tag the task with.
    """
    path = str(Path(domain_file).resolve())
    domain = _parse_domain(path, _read_text(path))
    typed = list(typed_objects) + list(domain.constant_types)
    objects = tuple(sorted({o for o, _ in typed}))
    atoms = frozenset(init) | domain.type_atoms(typed)
    if "=" in domain.parser.predicates:
        atoms |= {("=", o, o) for o in objects}
    return GroundTask(
        domain=domain.name, name=name, objects=objects, init=atoms, goal=frozenset(goal),
        schemas=domain.schemas, params=params,
        object_types=tuple(sorted(set(typed))) if domain.type_parents else (),
    )


def domain_constants(domain_file: str | Path) -> tuple[str, ...]:
    """The constants a domain file declares (e.g. Childsnack's ``kitchen``)."""
    path = str(Path(domain_file).resolve())
    return _parse_domain(path, _read_text(path)).constants


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
