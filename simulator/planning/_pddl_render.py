"""Canonical PDDL text of a checked tree: no comments, single spaces, one section a line.

Written for pddlgym's regular expressions, which were the project's parser until issue 21 and
remain the oracle the tests compare our own reading with: each action parameter and predicate
argument is typed on its own (pddlgym reads ``?a ?b - t`` as an untyped ``?a``), and a space and a
newline follow each supertype in ``:types``.
"""

from __future__ import annotations

from pathlib import Path

from iterdeploy.simulator.planning._pddl_checks import check_requirements
from iterdeploy.simulator.planning._sexpr import SList, Sym, read_sexpr, read_text


def render(node: Sym | SList) -> str:
    """Canonical PDDL text of a checked tree, in the shape pddlgym's regexes expect.

    No comments, single spaces, one section a line, each action parameter and predicate argument
    typed on its own (pddlgym reads ``?a ?b - t`` as an untyped ``?a``), and a space and a newline
    after each supertype in ``:types``.
    """
    if isinstance(node, Sym):
        return node.text
    items = list(node.items)
    if node.head == ":action":
        for i, item in enumerate(items[:-1]):
            nxt = items[i + 1]
            if isinstance(item, Sym) and item.text == ":parameters" and isinstance(nxt, SList):
                items[i + 1] = SList(_each_typed(nxt.items), nxt.line)
    if node.head == ":predicates":  # pddlgym splits declarations on "?": type each one
        items = [items[0], *(
            SList((i.items[0], *_each_typed(i.items[1:])), i.line) if isinstance(i, SList) and i.items
            else i for i in items[1:]
        )]
    if node.head == ":types":
        # pddlgym finds a supertype's end with min(index(" "), index("\n")): both must follow
        groups: list[str] = []
        current: list[str] = []
        for item in items[1:]:
            current.append(render(item))
            if len(current) >= 2 and current[-2] == "-":
                groups.append(" ".join(current))
                current = []
        if current:
            groups.append(" ".join(current))
        return "(:types" + "".join(f" {g} \n" for g in groups) + ")"
    sep = "\n " if node.head == "define" else " "
    return "(" + sep.join(render(i) for i in items) + ")"


def _each_typed(items: tuple[Sym | SList, ...]) -> tuple[Sym | SList, ...]:
    """``?a ?b - t ?c`` → ``?a - t ?b - t ?c``."""
    out: list[Sym | SList] = []
    pending: list[Sym | SList] = []
    i = 0
    while i < len(items):
        item = items[i]
        if isinstance(item, Sym) and item.text == "-" and i + 1 < len(items):
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
    root = read_sexpr(read_text(path), str(path))
    check_requirements(root, str(path))
    return render(root) + "\n"
