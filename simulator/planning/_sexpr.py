"""The s-expression reader under every PDDL file: our own, iterative, with errors naming file and line.

Why our own: a PDDL file is read at every ``iterdeploy validate`` and every task a run stores, and a
reader written for PDDL can say where a file is wrong (``problem.pddl:7: '(' opened here is never
closed``) instead of failing somewhere inside a general parser. It reads one top-level expression
into :class:`SList`/:class:`Sym` nodes, lower case, comments removed, each node with its line;
:mod:`iterdeploy.simulator.planning._pddl_checks` checks the structure and
:mod:`iterdeploy.simulator.planning._pddl` turns it into a task.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import NamedTuple

from iterdeploy.simulator.errors import PddlError

_TOKEN = re.compile(r"[()]|[^\s()]+")

MAX_DEPTH = 64
"""Deepest nesting of parentheses a PDDL file may have. The reader is iterative, but the checks
after it, the renderer (and pddlgym's parser, the tests' oracle) recurse once per level, and
Python stops at about a thousand frames: a file nested 1,000 levels deep would end in a
``RecursionError``. The shipped IPC domains nest 5 levels deep; 64 leaves room for any
hand-written formula."""


class Sym(NamedTuple):
    """A word of the file (a name, a keyword, a variable), lower case, with its line.

    Nodes are named tuples rather than dataclasses because a problem file has thousands of them
    and reading it is most of what ``iterdeploy validate`` does: a tuple is made several times
    faster than a frozen dataclass instance."""

    text: str
    line: int


class SList(NamedTuple):
    """A parenthesised list, with the line of its ``(``."""

    items: tuple[Sym | SList, ...]
    line: int

    @property
    def head(self) -> str | None:
        """The first item's text when it is a symbol (``define``, ``:init``, a predicate)."""
        return self.items[0].text if self.items and isinstance(self.items[0], Sym) else None

    def sections(self, key: str) -> list[SList]:
        """Child lists whose head is ``key``."""
        return [i for i in self.items if isinstance(i, SList) and i.head == key]


def strip_comments(text: str) -> str:
    return re.sub(r";[^\n]*", "", text)


def read_text(path: str | Path) -> str:
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


def read_sexpr(text: str, source: str) -> SList:
    """Read the one top-level s-expression of a PDDL file (lower-cased, comments removed).

    Iterative, and it refuses nesting deeper than :data:`MAX_DEPTH`, so nothing after it (our
    checks, the converter, the renderer) can exceed Python's recursion limit.

    Raises:
        PddlError: on unbalanced parentheses, text outside the top-level expression, nesting
            deeper than :data:`MAX_DEPTH`, or a character outside ASCII (outside comments).
    """
    body = strip_comments(text)
    _check_ascii(body, source)
    stack: list[tuple[int, list[Sym | SList]]] = []
    top: list[SList] = []
    items: list[Sym | SList] = []  # the innermost open list's items
    for line, text in enumerate(body.lower().split("\n"), start=1):
        for tok in _TOKEN.findall(text):
            if tok == "(":
                if len(stack) >= MAX_DEPTH:
                    raise PddlError(
                        f"{source}:{line}: nested more than {MAX_DEPTH} levels deep; PDDL formulas "
                        "this deep are not supported, flatten them (an 'and' inside an 'and' can be "
                        "one 'and')"
                    )
                items = []
                stack.append((line, items))
            elif tok == ")":
                if not stack:
                    raise PddlError(f"{source}:{line}: unexpected ')' with no matching '('")
                opened, done = stack.pop()
                node = SList(tuple(done), opened)
                if stack:
                    items = stack[-1][1]
                    items.append(node)
                else:
                    top.append(node)
            elif not stack:
                raise PddlError(f"{source}:{line}: unexpected {tok[:40]!r} outside '(define ...)'")
            else:
                items.append(Sym(tok, line))
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
