"""The plan validator: structured verdicts, the plan formats models write, and fuzzing."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iterdeploy.simulator.planning import (
    GroundTask,
    Verdict,
    load_domain_schemas,
    parse_action_line,
    split_plan_lines,
    validate_plan,
)
from iterdeploy.simulator.planning.blocksworld import canonical_plan, generate_task

STATUSES = {
    "valid", "invalid_step", "goal_not_reached", "unknown_action", "wrong_arity",
    "unknown_object", "unparseable", "empty",
}


@pytest.fixture(scope="module")
def swap_task() -> GroundTask:
    """a on b, b on the table, c on the table; goal: b on a (shortest plan: 4 actions)."""
    return GroundTask(
        domain="blocksworld",
        name="swap",
        objects=("a", "b", "c"),
        init=frozenset({("on", "a", "b"), ("on-table", "b"), ("on-table", "c"), ("clear", "a"),
                        ("clear", "c"), ("arm-empty",)}),
        goal=frozenset({("on", "b", "a"), ("on-table", "a")}),
        schemas=load_domain_schemas("blocksworld"),
    )


SOLUTION = ["unstack a b", "putdown a", "pickup b", "stack b a"]


def test_reference_solution_is_valid(swap_task: GroundTask) -> None:
    verdict = validate_plan(swap_task, "\n".join(f"({a})" for a in SOLUTION))
    assert verdict.status == "valid" and verdict.is_valid and verdict.is_parsed
    assert verdict.actions == tuple(f"({a})" for a in SOLUTION)
    assert verdict.plan_length == 4
    assert verdict.failed_step is None and verdict.failed_action is None
    assert verdict.unmet_preconditions == () and verdict.unmet_goals == ()


# --------------------------------------------------------------------------- structured verdicts


def test_invalid_step_names_step_action_and_unmet_preconditions(swap_task: GroundTask) -> None:
    verdict = validate_plan(swap_task, "(unstack a b)\n(putdown a)\n(stack b a)\n(pickup b)")
    assert verdict.status == "invalid_step"
    assert not verdict.is_valid and verdict.is_parsed
    assert verdict.failed_step == 2
    assert verdict.failed_action == "(stack b a)"
    assert verdict.unmet_preconditions == ("(holding b)",)
    assert verdict.plan_length == 4
    assert "step 3" in verdict.message


def test_invalid_first_step_lists_every_unmet_precondition(swap_task: GroundTask) -> None:
    verdict = validate_plan(swap_task, "(unstack b a)")
    assert verdict.status == "invalid_step"
    assert verdict.failed_step == 0
    assert verdict.unmet_preconditions == ("(clear b)", "(on b a)")


def test_goal_not_reached_lists_unmet_goal_atoms(swap_task: GroundTask) -> None:
    verdict = validate_plan(swap_task, "(unstack a b)\n(putdown a)")
    assert verdict.status == "goal_not_reached"
    assert verdict.unmet_goals == ("(on b a)",)
    assert verdict.failed_step is None
    assert verdict.plan_length == 2


def test_unknown_action(swap_task: GroundTask) -> None:
    verdict = validate_plan(swap_task, "(unstack a b)\n(teleport a c)")
    assert verdict.status == "unknown_action"
    assert verdict.failed_step == 1 and verdict.failed_action == "(teleport a c)"
    assert "teleport" in verdict.message and "pickup" in verdict.message


def test_wrong_arity(swap_task: GroundTask) -> None:
    verdict = validate_plan(swap_task, "(unstack a)")
    assert verdict.status == "wrong_arity"
    assert verdict.failed_step == 0
    assert "2 arguments, got 1" in verdict.message


def test_unknown_object(swap_task: GroundTask) -> None:
    verdict = validate_plan(swap_task, "(unstack a b)\n(stack a zz)")
    assert verdict.status == "unknown_object"
    assert verdict.failed_step == 1 and "zz" in verdict.message


def test_first_failure_in_plan_order_decides(swap_task: GroundTask) -> None:
    # an invalid step before an unknown action: the invalid step is reported
    verdict = validate_plan(swap_task, "(pickup a)\n(teleport a)")
    assert verdict.status == "invalid_step" and verdict.failed_step == 0


def test_unparseable_line(swap_task: GroundTask) -> None:
    verdict = validate_plan(swap_task, "(unstack a b)\nnow put it down, please!\n(putdown a)")
    assert verdict.status == "unparseable"
    assert not verdict.is_parsed
    assert verdict.failed_step == 1
    assert verdict.failed_action == "now put it down, please!"


@pytest.mark.parametrize("text", ["(unstack a b", "unstack a b)", "((unstack a b))", "()", "(1 a)"])
def test_malformed_parentheses_or_names_are_unparseable(swap_task: GroundTask, text: str) -> None:
    assert validate_plan(swap_task, text).status == "unparseable"


@pytest.mark.parametrize("text", ["", "   \n\n\t", "; just a comment", "```\n```", "1.\n2."])
def test_empty(swap_task: GroundTask, text: str) -> None:
    verdict = validate_plan(swap_task, text)
    assert verdict.status == "empty"
    assert verdict.plan_length == 0


def test_non_text_input_gets_a_verdict(swap_task: GroundTask) -> None:
    assert validate_plan(swap_task, None).status == "unparseable"  # type: ignore[arg-type]
    assert validate_plan(swap_task, 42).status == "unparseable"  # type: ignore[arg-type]
    raw = b"(unstack a b)\n(putdown a)\n(pickup b)\n(stack b a)"
    assert validate_plan(swap_task, raw).is_valid  # type: ignore[arg-type]


def test_verdict_to_dict_is_json_ready(swap_task: GroundTask) -> None:
    verdict = validate_plan(swap_task, "# plan\n(unstack b a)")
    data = json.loads(json.dumps(verdict.to_dict()))
    assert data["status"] == "invalid_step" and data["is_valid"] is False
    assert data["failed_step"] == 0
    assert data["ignored_lines"] == ["# plan"]
    assert set(data) == {f.name for f in Verdict.__dataclass_fields__.values()} | {"is_valid"}


# --------------------------------------------------------------------------- plan formats


@pytest.mark.parametrize(
    "text",
    [
        "(unstack a b)\n(putdown a)\n(pickup b)\n(stack b a)",
        "unstack a b\nputdown a\npickup b\nstack b a",
        "(UNSTACK A B)\n(PutDown a)\n(pickup B)\n(Stack b A)",
        "1. (unstack a b)\n2. (putdown a)\n3. (pickup b)\n4. (stack b a)",
        "1) unstack a b\n2) putdown a\n3) pickup b\n4) stack b a",
        "Step 1: unstack a b\nstep 2: putdown a\nSTEP 3: pickup b\nStep 4: stack b a",
        "1: unstack a b\n2 - putdown a\n3. pickup b\n4) stack b a",
        "- unstack a b\n- putdown a\n* pickup b\n* stack b a",
        "(unstack a b) ; free b\n(putdown a) ;; table\n(pickup b) # grab\n(stack b a) // done",
        "unstack a b ;; first\nputdown a # second\npickup b\nstack b a",
        "unstack a b; putdown a; pickup b; stack b a",
        "unstack a b;putdown a;pickup b;stack b a;",
        "(unstack a b); (putdown a); (pickup b); (stack b a)",
        "(unstack a b)(putdown a)(pickup b)(stack b a)",
        "(unstack a b) (putdown a), (pickup b)  (stack b a)",
        "1. (unstack a b) (putdown a)\n2. (pickup b) (stack b a) ; build",
        "  (unstack   a   b)  \r\n\t(putdown a)\r\n(pickup b)\r(stack b a)",
        "```pddl\n(unstack a b)\n(putdown a)\n(pickup b)\n(stack b a)\n```",
        "; plan found by hand\n\n(unstack a b)\n\n(putdown a)\n; now build\n(pickup b)\n(stack b a)\n",
    ],
)
def test_plan_formats_models_write(swap_task: GroundTask, text: str) -> None:
    verdict = validate_plan(swap_task, text)
    assert verdict.status == "valid", verdict
    assert verdict.actions == tuple(f"({a})" for a in SOLUTION)


def test_ignored_lines_are_reported(swap_task: GroundTask) -> None:
    text = "; header\n(unstack a b)\n# note\n2.\n(putdown a)\n// c\n(pickup b)\n(stack b a)"
    verdict = validate_plan(swap_task, text)
    assert verdict.is_valid
    assert verdict.ignored_lines == ("; header", "# note", "2.", "// c")


def test_comment_and_separator_rule() -> None:
    # a line starting with ';' is a comment
    assert split_plan_lines("; pickup a") == ([], ["; pickup a"])
    # ';;' starts a comment inside a line; a single ';' separates actions
    assert split_plan_lines("pickup a;;stack a b;putdown a") == (["pickup a"], [])
    assert split_plan_lines("pickup a ; stack a b") == (["pickup a", "stack a b"], [])
    # with parentheses, ';' is a PDDL comment unless an action follows it
    assert split_plan_lines("(pickup a) ; stack it") == (["(pickup a)"], [])
    assert split_plan_lines("(pickup a) ; (stack a b) ; ok") == (["(pickup a)", "(stack a b)"], [])
    # several parenthesised actions on one line
    assert split_plan_lines("(a x)(b y)") == (["(a x)", "(b y)"], [])
    assert split_plan_lines("( a x ) , ( b y )") == (["(a x)", "(b y)"], [])
    # text between groups keeps the line whole (and so unparseable later)
    assert split_plan_lines("(a x) then (b y)") == (["(a x) then (b y)"], [])


def test_parse_action_line() -> None:
    assert parse_action_line("(Stack B1 b2)") == ("stack", ("b1", "b2"))
    assert parse_action_line("  arm-empty  ") == ("arm-empty", ())
    assert parse_action_line("( pick_up  x-1 )") == ("pick_up", ("x-1",))
    for bad in ("", "()", "(a", "a)", "((a))", "1abc", "a, b", "a (b)", "é b"):
        assert parse_action_line(bad) is None, bad


action_case = st.sampled_from([str.lower, str.upper, str.title])


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(2, 7),
    parens=st.booleans(),
    case=action_case,
    numbering=st.sampled_from(["", "{i}. ", "{i}) ", "Step {i}: ", "- "]),
    comment=st.sampled_from(["", " ;; c", " # c"]),
    one_line=st.booleans(),
)
def test_canonical_plans_stay_valid_in_any_format(
    seed: int, n: int, parens: bool, case, numbering: str, comment: str, one_line: bool
) -> None:
    task = generate_task(n, np.random.default_rng(seed))
    plan = canonical_plan(task)
    words = [" ".join((a.name, *a.args)) for a in plan]
    items = [case(f"({w})" if parens else w) for w in words]
    if one_line:
        text = "; ".join(items) + comment
    else:
        text = "\n".join(numbering.format(i=i + 1) + item + comment for i, item in enumerate(items))
    verdict = validate_plan(task, text)
    assert verdict.is_valid, (text, verdict)
    assert verdict.actions == tuple(a.to_pddl() for a in plan)


# --------------------------------------------------------------------------- fuzzing


def _assert_verdict(verdict: object) -> None:
    assert isinstance(verdict, Verdict)
    assert verdict.status in STATUSES
    json.dumps(verdict.to_dict())


FUZZ_TASK = generate_task(4, np.random.default_rng(1))
plan_words = st.sampled_from(
    ["(", ")", ";", ";;", "#", "\n", " ", "1.", "step", "2)", "pickup", "stack", "unstack",
     "putdown", "b1", "b2", "b3", "b4", "b9", "STACK", "-", ":", "(pickup b1)", "\r", "é", "\x00"]
)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=500))
def test_arbitrary_text_never_raises(text: str) -> None:
    _assert_verdict(validate_plan(FUZZ_TASK, text))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=500))
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    _assert_verdict(validate_plan(FUZZ_TASK, data.decode("utf-8", errors="replace")))
    _assert_verdict(validate_plan(FUZZ_TASK, data))  # type: ignore[arg-type]


@settings(max_examples=200, deadline=None)
@given(st.lists(plan_words, max_size=80).map("".join))
def test_plan_like_nonsense_never_raises(text: str) -> None:
    _assert_verdict(validate_plan(FUZZ_TASK, text))


def test_ten_thousand_tokens_of_nonsense_are_fast() -> None:
    rng = np.random.default_rng(0)
    vocab = ["on", "b3", ";", "stack", "zz", "(", ")", "1.", "#", "\n", "pickup", "b1", "é"]
    text = " ".join(rng.choice(vocab, 10_000))
    start = time.perf_counter()
    _assert_verdict(validate_plan(FUZZ_TASK, text))
    _assert_verdict(validate_plan(FUZZ_TASK, text.replace("\n", " ")))  # one huge line
    _assert_verdict(validate_plan(FUZZ_TASK, "a " * 50_000 + "!"))  # regex backtracking bait
    _assert_verdict(validate_plan(FUZZ_TASK, "(" * 20_000 + ")" * 20_000))
    assert time.perf_counter() - start < 2.0


def test_long_valid_plan_validates_quickly() -> None:
    task = generate_task(40, np.random.default_rng(5))
    text = "\n".join(a.to_pddl() for a in canonical_plan(task))
    start = time.perf_counter()
    for _ in range(20):
        assert validate_plan(task, text).is_valid
    assert (time.perf_counter() - start) / 20 < 0.05
