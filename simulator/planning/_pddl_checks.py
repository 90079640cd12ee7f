"""Structural checks of a PDDL tree: what a task needs, reported as :class:`PddlError` with file and line.

Every file is checked here before anything is built from it: known requirements, the sections and
action keys in their places, declared types, predicates used with their declared arity, declared
parameters, objects and constants, a problem for the domain it names, and only the STRIPS
constructs a :class:`~iterdeploy.simulator.planning.GroundTask` can represent (conjunctions of
atoms and negated atoms; positive conjunctive goals). A tree that passes can be converted without
further checks.
"""

from __future__ import annotations

from iterdeploy.simulator.errors import PddlError
from iterdeploy.simulator.planning._sexpr import SList, Sym

KNOWN_REQUIREMENTS = {
    ":strips", ":typing", ":negative-preconditions", ":equality", ":adl", ":conditional-effects",
    ":universal-preconditions", ":existential-preconditions", ":quantified-preconditions",
    ":disjunctive-preconditions", ":action-costs", ":derived-predicates",
}
CONNECTIVES = {"and", "or", "not", "imply", "forall", "exists", "when", "probabilistic"}


def check_requirements(root: SList, source: str) -> None:
    for section in root.sections(":requirements"):
        for req in section.items[1:]:
            if isinstance(req, SList) or req.text not in KNOWN_REQUIREMENTS:
                text = req.text if isinstance(req, Sym) else "(...)"
                raise PddlError(
                    f"{source}:{req.line}: unknown requirement {text!r}; "
                    f"expected one of {sorted(KNOWN_REQUIREMENTS)}"
                )


def name_of(root: SList, key: str, source: str) -> str:
    """The name in ``(define (KEY name) ...)``."""
    if len(root.items) < 2 or not isinstance(root.items[1], SList) or root.items[1].head != key:
        raise PddlError(f"{source}:{root.line}: expected '(define ({key} NAME) ...)'")
    header = root.items[1]
    if len(header.items) != 2 or not isinstance(header.items[1], Sym):
        raise PddlError(f"{source}:{header.line}: expected '({key} NAME)'")
    return header.items[1].text


DOMAIN_SECTIONS = (":requirements", ":types", ":constants", ":predicates", ":action")
"""What a domain may hold after its name: a STRIPS domain's sections."""
PROBLEM_SECTIONS = (":domain", ":requirements", ":objects", ":init", ":goal")
"""What a problem may hold after its name."""


def check_sections(root: SList, source: str, allowed: tuple[str, ...]) -> None:
    """Every item after ``(define (... NAME)`` is a section this reader knows. A mistyped one
    (``(:action: sail ...)``, ``(:predicate ...)``) is refused naming its line, never skipped: a
    skipped section would silently drop an action or a fact from the task."""
    for item in root.items[2:]:
        head = item.head if isinstance(item, SList) else None
        if head not in allowed:
            what = repr(head) if head is not None else repr(getattr(item, "text", "(...)"))
            raise PddlError(f"{source}:{item.line}: unexpected {what}; expected one of the sections "
                            f"{', '.join(allowed)}")


def one_section(root: SList, key: str, source: str, *, required: bool) -> SList | None:
    found = root.sections(key)
    if len(found) > 1:
        raise PddlError(f"{source}:{found[1].line}: '({key} ...)' appears twice")
    if not found and required:
        raise PddlError(f"{source}: no '({key} ...)' section")
    return found[0] if found else None


def typed_pairs(items: tuple[Sym | SList, ...], source: str, what: str) -> list[tuple[Sym, str]]:
    """(name, type) pairs of a PDDL typed list ``a b - t c`` (untyped names get ``object``)."""
    pairs: list[tuple[Sym, str]] = []
    pending: list[Sym] = []
    expect_type = False
    for item in items:
        if isinstance(item, SList):
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


def check_domain_tree(
    root: SList, source: str
) -> tuple[str, dict[str, int], list[tuple[str, str]], dict[str, str]]:
    """Structure a domain must have; returns (name, predicate arities, typed constants, type
    parents)."""
    name = name_of(root, "domain", source)
    check_sections(root, source, DOMAIN_SECTIONS)
    check_requirements(root, source)
    types = one_section(root, ":types", source, required=False)
    parents: dict[str, str] = {}
    if types is not None:
        for sym, parent in typed_pairs(types.items[1:], source, ":types"):
            if sym.text != "object":
                parents[sym.text] = parent
        for parent in list(parents.values()):
            if parent != "object" and parent not in parents:
                parents[parent] = "object"
    declared = set(parents) | {"object"}
    preds = one_section(root, ":predicates", source, required=True)
    assert preds is not None
    predicates: dict[str, int] = {}
    for decl in preds.items[1:]:
        if not isinstance(decl, SList) or decl.head is None:
            raise PddlError(f"{source}:{decl.line}: expected a predicate declaration '(name ?x ...)'")
        if decl.head in predicates:
            raise PddlError(f"{source}:{decl.line}: predicate {decl.head!r} declared twice")
        predicates[decl.head] = sum(
            1 for i in decl.items[1:] if isinstance(i, Sym) and i.text.startswith("?")
        )
    consts = one_section(root, ":constants", source, required=False)
    typed_constants = typed_pairs(consts.items[1:], source, ":constants") if consts else []
    param_pairs: list[tuple[Sym, str]] = list(typed_constants)
    constants = [c.text for c, _ in typed_constants]
    actions: set[str] = set()
    for action in root.sections(":action"):
        keys = [i.text for i in action.items[1:] if isinstance(i, Sym) and i.text.startswith(":")]
        if len(action.items) < 2 or not isinstance(action.items[1], Sym):
            raise PddlError(f"{source}:{action.line}: expected '(:action NAME :parameters ...)'")
        act_name = action.items[1].text
        if act_name in actions:
            raise PddlError(f"{source}:{action.line}: action {act_name!r} declared twice")
        actions.add(act_name)
        if keys != [":parameters", ":precondition", ":effect"]:
            raise PddlError(
                f"{source}:{action.line}: action {act_name!r} has keys {keys}; expected "
                "':parameters (...) :precondition (...) :effect (...)' in that order"
            )
        for position, item in enumerate(action.items[2:], start=2):
            if (position % 2 == 0) != (isinstance(item, Sym) and item.text.startswith(":")):
                text = item.text if isinstance(item, Sym) else "(...)"
                raise PddlError(
                    f"{source}:{item.line}: action {act_name!r}: unexpected {text[:40]!r}; expected "
                    "'(:action NAME :parameters (...) :precondition (...) :effect (...))'"
                )
        if act_name in predicates:
            raise PddlError(f"{source}:{action.line}: action {act_name!r} has the name of a predicate")
        typed_params = typed_pairs(section_body(action, ":parameters", source), source, "parameters")
        for sym, _ in typed_params:
            if not sym.text.startswith("?"):
                raise PddlError(f"{source}:{sym.line}: action {act_name!r} parameter {sym.text!r} must "
                                "start with '?'")
        param_pairs += typed_params
        params = {p.text for p, _ in typed_params}
        for key in (":precondition", ":effect"):
            for formula in section_body(action, key, source):
                where = f"action {act_name!r} {key}"
                check_formula(formula, predicates, params | set(constants), source, where)
                check_strips(formula, source, where, effect=key == ":effect")
    for sym, typ in param_pairs:
        if typ not in declared:
            raise PddlError(f"{source}:{sym.line}: {sym.text!r} has undeclared type {typ!r}")
    return name, predicates, [(c.text, t) for c, t in typed_constants], parents


def section_body(action: SList, key: str, source: str) -> tuple[Sym | SList, ...]:
    """What follows ``key`` in an action: the parameter list's items or the one formula."""
    items = action.items
    for i, item in enumerate(items):
        if isinstance(item, Sym) and item.text == key:
            if i + 1 >= len(items) or not isinstance(items[i + 1], SList):
                raise PddlError(f"{source}:{item.line}: expected '(...)' after {key}")
            value = items[i + 1]
            assert isinstance(value, SList)
            return value.items if key == ":parameters" else (value,)
    raise PddlError(f"{source}:{action.line}: missing {key}")  # pragma: no cover - checked before


def check_formula(
    formula: Sym | SList, predicates: dict[str, int], names: set[str], source: str, where: str
) -> None:
    """Every atom in ``formula`` uses a declared predicate with its arity and declared names.

    Quantified sub-formulas are not looked into: :func:`check_strips` refuses them anyway.
    """
    if isinstance(formula, Sym):
        raise PddlError(f"{source}:{formula.line}: in {where}: expected '(...)', got {formula.text!r}")
    head = formula.head
    if head is None:
        if not formula.items:
            return  # ``()``: an empty condition
        raise PddlError(f"{source}:{formula.line}: in {where}: expected a predicate name after '('")
    if head in ("forall", "exists"):
        return
    if head in CONNECTIVES:
        for sub in formula.items[1:]:
            check_formula(sub, predicates, names, source, where)
        return
    args = formula.items[1:]
    if head == "=":
        if len(args) != 2:
            raise PddlError(f"{source}:{formula.line}: in {where}: '=' takes 2 arguments, got {len(args)}")
    elif head not in predicates:
        raise PddlError(
            f"{source}:{formula.line}: in {where}: undefined predicate {head!r}; "
            f"declared predicates: {sorted(predicates)}"
        )
    elif len(args) != predicates[head]:
        raise PddlError(
            f"{source}:{formula.line}: in {where}: predicate {head!r} takes "
            f"{predicates[head]} argument(s), got {len(args)}"
        )
    for arg in args:
        if isinstance(arg, SList):
            raise PddlError(f"{source}:{arg.line}: in {where}: unexpected '(' in an atom's arguments")
        if arg.text not in names:
            kind = "parameter" if arg.text.startswith("?") else "object"
            raise PddlError(f"{source}:{arg.line}: in {where}: undeclared {kind} {arg.text!r}")


def check_strips(
    formula: Sym | SList, source: str, where: str, *, effect: bool, top_level_goal: bool = False
) -> None:
    """Only what :class:`GroundTask` can represent: conjunctions of atoms and negated atoms
    (negated atoms are delete effects in effects, negative preconditions in preconditions, and
    not allowed in goals)."""
    if not isinstance(formula, SList):
        return  # reported by check_formula
    head = formula.head
    if head == "and":
        for sub in formula.items[1:]:
            check_strips(sub, source, where, effect=effect, top_level_goal=top_level_goal)
    elif head == "not" and not top_level_goal:
        if len(formula.items) != 2 or not isinstance(formula.items[1], SList) or (
            formula.items[1].head in CONNECTIVES
        ):
            raise PddlError(f"{source}:{formula.line}: in {where}: expected '(not (predicate ...))'")
    elif head in CONNECTIVES:
        supported = (
            "add and delete effects" if effect
            else "conjunctions of positive atoms" if top_level_goal
            else "conjunctions of atoms and negated atoms"
        )
        raise PddlError(
            f"{source}:{formula.line}: in {where}: '({head} ...)' is not supported; "
            f"only {supported} (STRIPS)"
        )


def check_problem_tree(
    root: SList, source: str, domain_name: str, predicates: dict[str, int], type_parents: dict[str, str],
    constant_types: tuple[tuple[str, str], ...],
) -> tuple[str, list[tuple[str, str]]]:
    """Structure a problem of the domain must have; returns (problem name, typed objects incl.
    the domain's constants)."""
    name = name_of(root, "problem", source)
    check_sections(root, source, PROBLEM_SECTIONS)
    dom = one_section(root, ":domain", source, required=True)
    assert dom is not None
    if len(dom.items) != 2 or not isinstance(dom.items[1], Sym):
        raise PddlError(f"{source}:{dom.line}: expected '(:domain NAME)'")
    if dom.items[1].text != domain_name:
        raise PddlError(
            f"{source}:{dom.line}: problem is for domain {dom.items[1].text!r}, "
            f"but the domain file defines {domain_name!r}"
        )
    objs = one_section(root, ":objects", source, required=False)
    pairs = typed_pairs(objs.items[1:], source, ":objects") if objs else []
    declared = set(type_parents) | {"object"}
    for sym, typ in pairs:
        if typ not in declared:
            raise PddlError(
                f"{source}:{sym.line}: object {sym.text!r} has undeclared type {typ!r}; "
                f"the domain declares {sorted(declared)}"
            )
    typed = [(sym.text, typ) for sym, typ in pairs] + list(constant_types)
    names = {o for o, _ in typed}
    init = one_section(root, ":init", source, required=True)
    goal = one_section(root, ":goal", source, required=True)
    assert init is not None and goal is not None
    for atom in init.items[1:]:
        if isinstance(atom, SList) and atom.head in CONNECTIVES:
            raise PddlError(f"{source}:{atom.line}: ':init' lists ground atoms; got '({atom.head} ...)'")
        check_formula(atom, predicates, names, source, ":init")
    if len(goal.items) != 2:
        raise PddlError(f"{source}:{goal.line}: expected one formula in '(:goal ...)'")
    check_formula(goal.items[1], predicates, names, source, ":goal")
    check_strips(goal.items[1], source, ":goal", effect=False, top_level_goal=True)
    return name, sorted(set(typed))
