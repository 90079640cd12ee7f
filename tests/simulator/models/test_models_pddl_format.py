"""The ``pddl`` prompt format and plan extraction from real-LLM output.

Extraction is what stands between a chatty model and the validator, so it is tested two ways:
examples of what models actually write (fences, numbering, prose, thinking blocks, upper case),
and hypothesis fuzzing: no text makes it raise, whatever it returns the validator can read, and a
plan wrapped in any mix of decorations comes back exactly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from iterdeploy.simulator.models.pddl_format import (
    PLAN_INSTRUCTION,
    SYSTEM_PROMPT,
    PddlPromptFormat,
    extract_llm_plan,
    few_shot_examples,
    pddl_messages,
    render_messages,
    render_pddl_prompt,
    split_reasoning,
    strip_pddl_comments,
)
from iterdeploy.simulator.planning import (
    domain_names,
    generate,
    load_task,
    parse_action_line,
    split_plan_lines,
    validate_plan,
)

BW_ACTIONS = frozenset({"pickup", "putdown", "stack", "unstack"})
BW_PREDICATES = frozenset({"clear", "on-table", "arm-empty", "holding", "on"})


def bw(text: str):
    return extract_llm_plan(text, actions=BW_ACTIONS, predicates=BW_PREDICATES)


class _ChatTok:
    """A stand-in tokenizer with a chat template (renders messages as tagged turns)."""

    chat_template = "stub"

    def apply_chat_template(self, messages, tokenize, add_generation_prompt):
        assert tokenize is False and add_generation_prompt is True
        body = "".join(f"<{m['role']}>{m['content']}</{m['role']}>" for m in messages)
        return body + "<assistant>"

    def __call__(self, text, add_special_tokens=False):
        return {"input_ids": list(range(len(text.split())))}


# -- prompts ---------------------------------------------------------------------------------
def test_strip_pddl_comments_drops_comments_and_blank_lines() -> None:
    text = ";; source: x\n(define (domain d) ; trailing\n\n  (:predicates (p ?x)))\n"
    assert strip_pddl_comments(text) == "(define (domain d)\n  (:predicates (p ?x)))"


def test_few_shot_examples_are_solved_small_distinct_and_exclude_the_task() -> None:
    shots = few_shot_examples("blocksworld", 3, seed=1)
    assert len(shots) == 3
    for shot in shots:
        assert shot.task is not None and len(shot.task.objects) == 3  # main size one above minimum
        assert validate_plan(shot.task, "\n".join(shot.plan)).is_valid
        assert ";" not in shot.problem_pddl
    assert len({shot.problem_pddl.split("\n", 1)[1] for shot in shots}) == 3
    again = few_shot_examples("blocksworld", 3, seed=1, exclude=[shots[0].task])
    assert all(s.task != shots[0].task for s in again)
    assert again[0].plan == shots[1].plan


def test_few_shot_examples_exist_and_are_valid_for_every_domain() -> None:
    for domain in domain_names():
        (shot,) = few_shot_examples(domain, 1)
        assert shot.task is not None
        assert validate_plan(shot.task, "\n".join(shot.plan)).is_valid, domain


def test_messages_show_domain_once_then_examples_then_the_task() -> None:
    shots = few_shot_examples("blocksworld", 2)
    msgs = pddl_messages("(define (domain blocksworld))", "(define (problem target))", shots)
    assert [m["role"] for m in msgs] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert msgs[0]["content"] == SYSTEM_PROMPT
    assert sum("(define (domain blocksworld))" in m["content"] for m in msgs) == 1
    assert msgs[-1]["content"].startswith("Problem:\n(define (problem target))")
    assert all(m["content"].endswith(PLAN_INSTRUCTION) for m in msgs if m["role"] == "user")
    assert msgs[2]["content"] == "\n".join(shots[0].plan)
    zero = pddl_messages("(d)", "(p)", ())
    assert zero[1]["content"].startswith("Domain:\n(d)\n\nProblem:\n(p)")


def test_prompt_uses_the_chat_template_when_there_is_one() -> None:
    gen = generate("ferry", {"n_cars": 2}, np.random.default_rng(0))
    shots = few_shot_examples("ferry", 1)
    chat = render_pddl_prompt("ferry", gen.problem_pddl, tokenizer=_ChatTok(), shots=shots)
    assert chat.startswith(f"<system>{SYSTEM_PROMPT}</system><user>Domain:\n(define (domain ferry)")
    assert chat.endswith("</user><assistant>")
    assert chat.count("<assistant>") == 2  # one example answer, then the generation prompt
    plain = render_pddl_prompt("ferry", gen.problem_pddl, shots=shots)
    assert plain.startswith(SYSTEM_PROMPT) and plain.endswith("\n\nPlan:\n")
    assert "Plan:\n" + "\n".join(shots[0].plan) in plain
    assert ";; iterdeploy-params" not in plain  # comments stripped from the problem too


def test_format_object_never_shows_a_task_as_its_own_example() -> None:
    fmt = PddlPromptFormat(n_shots=2)
    first = fmt._shots("blocksworld", None)[0]
    assert first.task is not None
    prompt = fmt.prompt_for_task("blocksworld", first.task)
    assert prompt.count("Plan:\n") == 3  # two examples (the task itself skipped) and the cue
    assert "\n".join(first.plan) not in prompt.split("Problem:")[1]
    assert render_messages([{"role": "user", "content": "x"}]) == "x\n\nPlan:\n"


def test_format_extracts_with_the_domain_vocabulary_and_counts_reasoning_tokens() -> None:
    fmt = PddlPromptFormat(_ChatTok())
    acts, preds = fmt.vocabulary("rovers")
    assert "navigate" in acts and "at" in preds and not acts & preds
    got = fmt.extract("<think>a b c d</think>navigate rover1 waypoint1 waypoint2\n(at rover1 w)", "rovers")
    assert got.plan_text == "(navigate rover1 waypoint1 waypoint2)"
    assert got.n_reasoning_tokens == 4
    assert got.ignored_lines == ("(at rover1 w)",)


def test_generated_problem_and_prompt_round_trip_through_the_validator(tmp_path: Path) -> None:
    gen = generate("blocksworld", {"n_blocks": 3}, np.random.default_rng(3))
    problem = tmp_path / "p.pddl"
    problem.write_text(gen.problem_pddl)
    reread = load_task(gen.domain_file, problem)
    answer = "Sure! Here is the plan:\n```pddl\n" + "\n".join(gen.witness_plan).upper() + "\n```\nDone."
    extracted = bw(answer)
    assert validate_plan(reread, extracted.plan_text).is_valid


# -- extraction: what models write ------------------------------------------------------------
def test_fenced_plan_wins_over_prose_around_it() -> None:
    text = ("To solve this, first (pickup b1).\n```\n1. (Unstack B2 B1)  ; take it off\n"
            "2. (PUTDOWN b2)\n```\nThis plan works. (pickup b1)\n")
    got = bw(text)
    assert got.plan_text == "(unstack b2 b1)\n(putdown b2)"
    assert "This plan works. (pickup b1)" in got.ignored_lines
    assert "To solve this, first (pickup b1)." in got.ignored_lines


def test_numbered_steps_bullets_bold_and_trailing_comments() -> None:
    text = ("Here is the plan:\nStep 1: (unstack b2 b1) - frees b1\nStep 2: putdown b2\n"
            "The goal (on b1 b2) is reached.\n3) **(pickup b1)**, (stack b1 b2)\n"
            "- `(pickup b3)` # why not\nAction 6 - (stack b3 b1) // last\n")
    got = bw(text)
    assert got.plan_text.splitlines() == [
        "(unstack b2 b1)", "(putdown b2)", "(pickup b1)", "(stack b1 b2)", "(pickup b3)", "(stack b3 b1)",
    ]
    assert got.ignored_lines == ("Here is the plan:", "- frees b1", "The goal (on b1 b2) is reached.")


def test_plan_ends_at_a_new_section_or_a_continued_problem() -> None:
    text = ("(pickup b1)\n(stack b1 b2)\n\nExplanation:\n1. (pickup b1) lifts b1\n"
            "Problem:\n(define (problem next)\n(pickup b3)\n")
    got = bw(text)
    assert got.plan_text == "(pickup b1)\n(stack b1 b2)"
    assert got.ignored_lines[0] == "Explanation:" and got.ignored_lines[-1] == "(pickup b3)"
    cont = bw("(pickup b1)\n<|im_start|>user\n(pickup b2)")
    assert cont.plan_text == "(pickup b1)"


def test_facts_are_not_steps_but_unknown_actions_are() -> None:
    got = bw("(on b1 b2)\n(arm-empty)\n(pick-up b1)\n(stack b1 b2)")
    assert got.plan_text == "(pick-up b1)\n(stack b1 b2)"
    assert got.ignored_lines == ("(on b1 b2)", "(arm-empty)")
    assert validate_plan(generate("blocksworld", {"n_blocks": 2}, np.random.default_rng(0)).task,
                         got.plan_text).status == "unknown_action"


def test_bare_actions_need_the_domain_vocabulary_or_a_fence() -> None:
    assert bw("pickup b1\nstack b1 b2").plan_text == "(pickup b1)\n(stack b1 b2)"
    assert extract_llm_plan("pickup b1\nstack b1 b2").plan_text == ""
    assert extract_llm_plan("```\npickup b1\n```\nstack b1 b2").plan_text == "(pickup b1)"
    assert extract_llm_plan("(pickup b1)\nand more").plan_text == "(pickup b1)"
    assert bw("Pick up b1 and stack it").plan_text == ""


def test_semicolon_separated_actions_on_one_line() -> None:
    assert bw("pickup b1; stack b1 b2").plan_text == "(pickup b1)\n(stack b1 b2)"
    assert bw("(pickup b1); (stack b1 b2)").plan_text == "(pickup b1)\n(stack b1 b2)"


def test_reasoning_blocks_are_cut_out_and_counted() -> None:
    got = bw("<think>I should (pickup b1) first.\nYes.</think>\n(pickup b2)\n(stack b2 b1)")
    assert got.plan_text == "(pickup b2)\n(stack b2 b1)"
    assert got.reasoning == "I should (pickup b1) first.\nYes."
    assert got.n_reasoning_tokens == 6


def test_unclosed_thinking_at_the_token_limit_leaves_no_plan() -> None:
    got = bw("<think>Let me see: (pickup b1)\n(stack b1")
    assert got.plan_text == "" and got.ignored_lines == ()
    assert got.n_reasoning_tokens == 7  # words, without a tokenizer
    assert validate_plan(generate("blocksworld", {"n_blocks": 2}, np.random.default_rng(0)).task,
                         got.plan_text).status == "empty"


def test_closing_tag_without_opening_one_and_other_tag_names() -> None:
    assert split_reasoning("plan it</think>(pickup b1)") == ("(pickup b1)", "plan it")
    assert split_reasoning("a<THINKING>x</Thinking>b<reasoning>y") == ("a\nb", "x\ny")
    got = bw("(pickup b1)<think>hm</think>(stack b1 b2)")
    assert got.plan_text == "(pickup b1)\n(stack b1 b2)"


def test_count_tokens_hook_and_non_text_input() -> None:
    got = extract_llm_plan("<think>abc</think>", count_tokens=len)
    assert got.n_reasoning_tokens == 3
    assert extract_llm_plan(None).plan_text == ""  # type: ignore[arg-type]


# -- extraction: fuzzing ----------------------------------------------------------------------
def _assert_readable(plan_text: str) -> None:
    lines, ignored = split_plan_lines(plan_text)
    assert not ignored
    assert lines == plan_text.splitlines()
    for line in lines:
        assert parse_action_line(line) is not None


@settings(max_examples=400, deadline=None)
@given(st.text())
def test_fuzz_any_text_never_raises_and_gives_readable_plan_text(text: str) -> None:
    for got in (bw(text), extract_llm_plan(text)):
        _assert_readable(got.plan_text)
        assert got.n_reasoning_tokens >= 0


_CHARS = st.sampled_from([*"()`*#;:-_.,<>/|\n\t abAB12", "<think>", "</think>", "```", "Step 1:"])


@settings(max_examples=400, deadline=None)
@given(st.lists(_CHARS | st.sampled_from(sorted(BW_ACTIONS)) | st.sampled_from(["b1", "b2"]), max_size=40))
def test_fuzz_plan_like_noise_never_raises(parts: list[str]) -> None:
    text = " ".join(parts)
    got = bw(text)
    _assert_readable(got.plan_text)
    task = generate("blocksworld", {"n_blocks": 2}, np.random.default_rng(0)).task
    assert validate_plan(task, got.plan_text).status != "unparseable"


_OBJECTS = ["b1", "b2", "b3", "b10"]
_ACTION = st.one_of(
    st.tuples(st.sampled_from(["pickup", "putdown"]), st.sampled_from(_OBJECTS).map(lambda o: (o,))),
    st.tuples(st.sampled_from(["stack", "unstack"]),
              st.tuples(st.sampled_from(_OBJECTS), st.sampled_from(_OBJECTS))),
)
_PROSE = st.sampled_from([
    "Here is the plan:", "Sure! Let's solve it.", "The goal (on b1 b2) must hold.",
    "I hope this helps.", "Plan:", "**Solution**", "This satisfies every goal.", "",
])


@st.composite
def _decorated(draw: st.DrawFn) -> tuple[list[str], str]:
    plan = draw(st.lists(_ACTION, min_size=1, max_size=8))
    expected = ["(" + " ".join((name, *args)) + ")" for name, args in plan]
    lines = []
    for i, (name, args) in enumerate(plan):
        body = " ".join((name, *args))
        paren = draw(st.booleans())
        text = f"({body})" if paren else body
        if draw(st.booleans()):
            text = text.upper()
        prefix = draw(st.sampled_from(["", f"{i + 1}. ", f"{i + 1}) ", f"Step {i + 1}: ", "- ", "* "]))
        wrap = draw(st.sampled_from(["", "`", "**"]))
        suffix = draw(st.sampled_from(["", "  ; because", "  # note", "  // so"]))
        if paren:
            suffix = draw(st.sampled_from([suffix, " - moves a block", " , then"]))
        lines.append(f"{prefix}{wrap}{text}{wrap}{suffix}")
        if draw(st.integers(0, 5)) == 0:
            lines.append("")
    fence = draw(st.booleans())
    if fence:
        lines = ["```" + draw(st.sampled_from(["", "pddl", "lisp"])), *lines, "```"]
    before = draw(st.lists(_PROSE, max_size=3))
    after = draw(st.lists(_PROSE, max_size=3))
    if not fence:  # without a fence, prose after the plan must not restate actions to be safe
        after = [a for a in after if "(" not in a]
    think = draw(st.sampled_from(["", "<think>maybe (pickup b9) first\n</think>\n"]))
    return expected, think + "\n".join([*before, *lines, *after])


@settings(max_examples=300, deadline=None)
@given(_decorated())
def test_fuzz_decorated_plans_come_back_exactly(case: tuple[list[str], str]) -> None:
    expected, text = case
    got = bw(text)
    assert got.plan_text.splitlines() == expected, text
