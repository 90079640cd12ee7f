"""Plan text: the one reader of actions in what a model or a person wrote.

Both readers of plan text build on this module. The validator
(:func:`~iterdeploy.simulator.planning.validate_plan`) reads a plan by exactly these rules; the extractor for
real LLMs (:func:`~iterdeploy.simulator.models.pddl_format.extract_llm_plan`) first removes what chat models
wrap around a plan (reasoning blocks, Markdown, fences, labels, later sections) and then reads each
line with :func:`split_plan_lines`, :func:`leading_actions` and :func:`parse_action_line`.

Plan text is one action a line or several on a line, with or without parentheses, any case,
numbered or bulleted lines, trailing comments. The rules, in order:

1. Lines split on any line break. Blank lines and Markdown code fences are skipped silently.
2. A line whose first non-blank character is ``;`` or ``#`` (or that starts with ``//``) is a
   comment: ignored and reported.
3. Inside a line, ``;;``, ``#`` and ``//`` start a comment that runs to the end of the line.
4. A single ``;`` separates actions (``pickup b1; stack b1 b2``), except in a line written with
   parentheses, where ``;`` starts a PDDL comment unless the next non-blank character is ``(``:
   ``(pickup b1) ; then stack`` is one action and a comment, ``(pickup b1); (stack b1 b2)`` is two.
5. Each piece loses its numbering (``1.``, ``1)``, ``1:``, ``Step 1:``) or bullet (``-``, ``*``).
6. A piece made only of parenthesised groups, ``(a x)(b y)`` or ``(a x), (b y)``, is one action a
   group; anything else is one candidate action.
7. A piece that carries nothing after steps 3-5 (``2.`` alone) is ignored and reported.

A candidate action is ``(name arg ...)`` or ``name arg ...`` (:func:`parse_action_line`). Names are
compared as PDDL compares them: ASCII, without regard to case (``(PICKUP B1)`` is
``(pickup b1)``). A candidate with a character outside ASCII in it, other than white space, is no
action (:func:`first_non_ascii` names the character): ``str.lower`` would otherwise turn the Kelvin
sign (U+212A) into ``k`` and let a non-ASCII name pass for an ASCII one. White space outside ASCII
(a no-break space) still separates, as models write it. The reader is a few linear regular
expressions with no recursion, so no nesting of parentheses or length of text can exhaust the
stack; text nested in parentheses is no action. No function here raises on any text.
"""

from __future__ import annotations

import re

Action = tuple[str, tuple[str, ...]]
"""One action as read: its name and its arguments, lower case, e.g. ``("stack", ("b1", "b2"))``."""

_FENCE = re.compile(r"^`{3,}[\w+\-]*$")
_INLINE_COMMENT = re.compile(r"(?:;;|#|//).*$")
_PDDL_COMMENT = re.compile(r";(?!\s*\().*$")
_NUMBERING = re.compile(r"^\s*(?:(?:step\s*)?\d+\s*[:.)\-]|[-*\u2022])\s*", re.IGNORECASE)
_GROUP = re.compile(r"\(([^()]*)\)")
_GROUPS = r"(?:\([^()]*\)[\s,]*)+"
"""One or more parenthesised groups, each followed by any blanks and commas."""
_ONLY_GROUPS = re.compile(r"[\s,]*" + _GROUPS)
_LEADING_GROUPS = re.compile("^(" + _GROUPS + ")(.*)$")
_ACTION = re.compile(r"([a-z][a-z0-9_\-]*)((?:\s+[a-z0-9_\-]+)*)")


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
            groups = _GROUP.findall(cleaned) if _ONLY_GROUPS.fullmatch(cleaned) else []
            if len(groups) > 1:
                lines.extend(f"({g.strip()})" for g in groups)
            else:
                lines.append(cleaned)
    return lines, ignored


def first_non_ascii(text: str) -> str | None:
    """The first character of ``text`` outside ASCII that is not white space, or None."""
    if text.isascii():
        return None
    return next((c for c in text if not c.isascii() and not c.isspace()), None)


def parse_action_line(line: str) -> Action | None:
    """Read ``(name arg ...)`` or ``name arg ...`` (any case); None if it is not an action.

    Names are PDDL names: a letter, then letters, digits, ``-`` and ``_``, all ASCII (a name with
    any other character is no action, whatever ``str.lower`` would make of it). Parentheses must
    come as one enclosing pair or not at all.
    """
    if first_non_ascii(line) is not None:
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


def leading_actions(piece: str) -> tuple[list[Action], str] | None:
    """The actions of the parenthesised groups ``piece`` starts with, and the text after them.

    ``(pickup b1) (stack b1 b2), then done`` gives both actions and ``then done``: groups may be
    separated by blanks and commas, and whatever follows the last one comes back stripped. None
    when ``piece`` does not start with ``(``, or when one of its leading groups is not an action
    (:func:`parse_action_line`). Rule 6 of the module doc is the strict form of this: there a
    piece is split into its groups only when nothing follows them.
    """
    match = _LEADING_GROUPS.match(piece)
    if match is None:
        return None
    found: list[Action] = []
    for group in _GROUP.finditer(match.group(1)):
        parsed = parse_action_line(group.group(0))
        if parsed is None:
            return None
        found.append(parsed)
    return found, match.group(2).strip()


def action_text(action: Action) -> str:
    """An action as one PDDL plan line, ``(name arg ...)``: the form the validator reports."""
    name, args = action
    return "(" + " ".join((name, *args)) + ")"
