"""The one reader of plan text (``iterdeploy.simulator.planning.plan_text``), shared by the validator and the
LLM extractor.

The line rules and :func:`parse_action_line` have their examples in ``test_planning_validator.py``;
here are the pieces the extractor builds on (leading groups, the action's text, the non-ASCII
check) and properties that tie the two readers together: an action written out is read back as
itself, and a plan written by the rules both readers share gives the same actions to both.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iterdeploy.simulator.models.pddl_format import extract_llm_plan
from iterdeploy.simulator.planning import generate, validate_plan
from iterdeploy.simulator.planning.plan_text import (
    action_text,
    first_non_ascii,
    leading_actions,
    parse_action_line,
    split_plan_lines,
)

BW_ACTIONS = frozenset({"pickup", "putdown", "stack", "unstack"})
BW_TASK = generate("blocksworld", {"n_blocks": 3}, np.random.default_rng(0)).task


def test_leading_actions_reads_the_groups_a_piece_starts_with() -> None:
    assert leading_actions("(pickup b1)") == ([("pickup", ("b1",))], "")
    assert leading_actions("(Pickup B1) (stack b1 b2), then done ") == (
        [("pickup", ("b1",)), ("stack", ("b1", "b2"))], "then done",
    )
    assert leading_actions("( a x ) , ( b y ),") == ([("a", ("x",)), ("b", ("y",))], "")


@pytest.mark.parametrize("piece", ["", "pickup b1", ", (pickup b1)", "x (pickup b1)", "(1 a) (b y)",
                                   "(a x) (\u212a y)", "((a x))", "()"])
def test_leading_actions_is_none_without_a_leading_action_group(piece: str) -> None:
    assert leading_actions(piece) is None


def test_only_a_line_of_groups_alone_is_split_into_actions() -> None:
    # the strict rule (validator) splits groups only when nothing follows them; the extractor's
    # reading of the same piece takes the groups and reports the rest
    assert split_plan_lines("(a x), (b y)") == (["(a x)", "(b y)"], [])
    assert split_plan_lines("(a x) (b y) done") == (["(a x) (b y) done"], [])
    assert leading_actions("(a x) (b y) done") == ([("a", ("x",)), ("b", ("y",))], "done")


def test_action_text_and_non_ascii() -> None:
    assert action_text(("stack", ("b1", "b2"))) == "(stack b1 b2)"
    assert action_text(("arm-empty", ())) == "(arm-empty)"
    assert first_non_ascii("pickup b1") is None
    assert first_non_ascii("pickup\u00a0b1") is None  # white space outside ASCII separates
    assert first_non_ascii("pic\u212aup b1 \u00e9") == "\u212a"
    assert parse_action_line("pickup\u00a0B1") == ("pickup", ("b1",))


_NAME = st.from_regex(r"[a-zA-Z][a-zA-Z0-9_\-]{0,8}", fullmatch=True)


@settings(max_examples=300, deadline=None)
@given(_NAME, st.lists(_NAME, max_size=4), st.booleans())
def test_an_action_written_out_reads_back_as_itself(name: str, args: list[str], parens: bool) -> None:
    action = (name.lower(), tuple(a.lower() for a in args))
    words = " ".join((name, *args))
    assert parse_action_line(f"({words})" if parens else words) == action
    assert parse_action_line(action_text(action)) == action
    assert split_plan_lines(action_text(action)) == ([action_text(action)], [])


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_any_text_splits_into_stripped_pieces_without_raising(text: str) -> None:
    lines, ignored = split_plan_lines(text)
    for piece in [*lines, *ignored]:
        assert piece and piece == piece.strip() and not any(c in piece for c in "\n\r")
    for line in lines:
        parsed = parse_action_line(line)
        assert parsed is None or parse_action_line(action_text(parsed)) == parsed
        lead = leading_actions(line)
        assert lead is None or line.startswith("(")


_OBJ = st.sampled_from(["b1", "b2", "b3"])
_STEP = st.one_of(
    st.tuples(st.sampled_from(["pickup", "putdown"]), st.tuples(_OBJ)),
    st.tuples(st.sampled_from(["stack", "unstack"]), st.tuples(_OBJ, _OBJ)),
)


@st.composite
def _shared_rule_plans(draw: st.DrawFn) -> tuple[list[str], str]:
    """A plan written only with the rules both readers share (no Markdown, no prose)."""
    steps = draw(st.lists(_STEP, min_size=1, max_size=6))
    layout = draw(st.sampled_from(["lines", "semicolons", "groups"]))
    # in a line with parentheses, ';' before a bare word starts a comment: one style a line
    all_parens = layout == "groups" or draw(st.booleans())
    items = []
    for name, args in steps:
        words = " ".join((name, *args))
        parens = all_parens if layout != "lines" else draw(st.booleans())
        text = f"({words})" if parens else words
        items.append(draw(st.sampled_from([str.lower, str.upper, str.title]))(text))
    if layout == "semicolons":
        text = "; ".join(items)
    elif layout == "groups":
        text = draw(st.sampled_from(["", " ", ", ", " ,\t"])).join(items)
    else:
        numbering = draw(st.sampled_from(["", "{i}. ", "{i}) ", "Step {i}: ", "- ", "* "]))
        comment = draw(st.sampled_from(["", " ;; c", " # c", " // c"]))
        text = "\n".join(numbering.format(i=i + 1) + item + comment for i, item in enumerate(items))
    return [action_text(s) for s in steps], text


@settings(max_examples=200, deadline=None)
@given(_shared_rule_plans())
def test_validator_and_extractor_read_the_same_actions(case: tuple[list[str], str]) -> None:
    expected, text = case
    assert list(validate_plan(BW_TASK, text).actions) == expected, text
    assert extract_llm_plan(text, actions=BW_ACTIONS).plan_text.splitlines() == expected, text
