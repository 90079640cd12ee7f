"""PDDL and plans nested deep, outside ASCII, or in another case: read as PDDL reads them.

A PDDL file nested past :data:`MAX_DEPTH` levels is refused by the (iterative) reader in one line
naming the file and the line, before anything recursive sees it, so no depth ends in a
``RecursionError``. PDDL names are ASCII and compared without case: a name outside ASCII is
refused (in a PDDL file) or makes the plan ``unparseable`` (in plan text), with the character
named; a difference of case changes nothing.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from iterdeploy.simulator.cli import app
from iterdeploy.simulator.errors import PddlError
from iterdeploy.simulator.planning import domain_path, generate_sized, load_task, validate_plan
from iterdeploy.simulator.planning._pddl import MAX_DEPTH
from tests.simulator.cli_output import error_line

runner = CliRunner()
HYPOTHESIS = settings(max_examples=30, deadline=None,
                      suppress_health_check=[HealthCheck.function_scoped_fixture])
DOMAIN = domain_path("blocksworld").read_text(encoding="utf-8")
GENERATED = generate_sized("blocksworld", 4, np.random.default_rng(7))
PROBLEM = GENERATED.problem_pddl
PLAN = "\n".join(GENERATED.witness_plan) + "\n"


def _files(tmp_path: Path, domain: str = DOMAIN, problem: str = PROBLEM,
           plan: str | bytes = PLAN) -> list[str]:
    paths = [tmp_path / "domain.pddl", tmp_path / "problem.pddl", tmp_path / "plan.txt"]
    paths[0].write_text(domain, encoding="utf-8")
    paths[1].write_text(problem, encoding="utf-8")
    if isinstance(plan, bytes):
        paths[2].write_bytes(plan)
    else:
        paths[2].write_text(plan, encoding="utf-8")
    return [str(p) for p in paths]


def _nested_precondition(depth: int) -> str:
    """The domain with ``depth`` ``and``s around pickup's first precondition."""
    return DOMAIN.replace("(clear ?ob)", "(and " * depth + "(clear ?ob)" + ")" * depth, 1)


def _nested_goal(depth: int) -> str:
    return PROBLEM.replace("(:goal (and", "(:goal " + "(and " * depth + "(and", 1).replace(
        ")))\n", ")))" + ")" * depth + "\n")


DEEP: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "domain-1000": (_nested_precondition(1000), PROBLEM, ("domain.pddl:15", "more than 64 levels")),
    "domain-100000": (_nested_precondition(100_000), PROBLEM, ("domain.pddl:", "64 levels")),
    "problem-goal-1000": (DOMAIN, _nested_goal(1000), ("problem.pddl:", "more than 64 levels")),
    "problem-init-parens": (DOMAIN, PROBLEM.replace("(arm-empty)", "(" * 1000 + ")" * 1000),
                            ("problem.pddl:", "more than 64 levels")),
    "unclosed-deep": (DOMAIN, PROBLEM + "(" * 5000, ("problem.pddl:", "more than 64 levels")),
    "non-ascii-object": (DOMAIN, PROBLEM.replace("b1", "b\u00e9"),
                         ("problem.pddl:", "non-ASCII character 'é' (U+00E9)", "ASCII")),
    "kelvin-sign-lowers-to-k": (DOMAIN.replace("(:action stack", "(:action stac\u212a"), PROBLEM,
                                ("domain.pddl:", "U+212A")),
    "no-break-space": (DOMAIN, PROBLEM.replace("(on-table b1)", "(on-table\u00a0b1)"),
                       ("problem.pddl:", "U+00A0")),
    "fullwidth-letters": (DOMAIN, PROBLEM.replace(":domain blocksworld", ":domain ｂlocksworld"),
                          ("problem.pddl:3", "U+FF42")),
}
"""PDDL the validator must refuse: (domain text, problem text, what the one line holds)."""


@pytest.mark.parametrize("case", sorted(DEEP))
def test_validate_refuses_deep_or_non_ascii_pddl_in_one_line(tmp_path: Path, case: str) -> None:
    domain, problem, needles = DEEP[case]
    started = time.monotonic()
    result = runner.invoke(app, ["validate", *_files(tmp_path, domain, problem)])
    assert time.monotonic() - started < 20
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and "RecursionError" not in result.output
    line = error_line(result.stderr)
    for needle in needles:
        assert needle in line, line


@pytest.mark.parametrize("case", ["domain-1000", "problem-goal-1000", "non-ascii-object"])
def test_plan_command_refuses_the_same_files(tmp_path: Path, case: str) -> None:
    domain, problem, _ = DEEP[case]
    files = _files(tmp_path, domain, problem)[:2]
    result = runner.invoke(app, ["plan", *files])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    error_line(result.stderr)


def test_load_task_reads_nesting_up_to_the_limit(tmp_path: Path) -> None:
    # define, action, precondition's and: three levels, then the ands, then the atom
    at_limit = MAX_DEPTH - 4
    domain, problem, _ = _files(tmp_path, _nested_precondition(at_limit))
    task = load_task(domain, problem)
    assert validate_plan(task, PLAN).is_valid
    Path(domain).write_text(_nested_precondition(at_limit + 1), encoding="utf-8")
    with pytest.raises(PddlError, match=f"more than {MAX_DEPTH} levels"):
        load_task(domain, problem)


@HYPOTHESIS
@given(depth=st.integers(MAX_DEPTH - 3, 20_000),
       where=st.sampled_from(["precondition", "goal", "init", "unclosed"]))
def test_any_depth_is_read_or_refused_in_one_line(tmp_path: Path, depth: int, where: str) -> None:
    domain, problem = DOMAIN, PROBLEM
    if where == "precondition":
        domain = _nested_precondition(depth)
    elif where == "goal":
        problem = _nested_goal(depth)
    elif where == "init":
        problem = PROBLEM.replace("(arm-empty)", "(" * depth + ")" * depth)
    else:
        problem = PROBLEM + "(" * depth
    files = _files(tmp_path, domain, problem)
    limit = sys.getrecursionlimit()
    try:
        load_task(files[0], files[1])
    except PddlError as exc:
        assert "\n" not in str(exc)
        assert "RecursionError" not in str(exc)
    assert sys.getrecursionlimit() == limit, "no one raises the limit to get by"


def test_comments_and_a_byte_order_mark_may_hold_anything(tmp_path: Path) -> None:
    domain = "\ufeff; domaine « blocs » — ü\n" + DOMAIN
    problem = PROBLEM.replace("(:init", "(:init ; état initial ✓")
    files = _files(tmp_path, domain, problem)
    result = runner.invoke(app, ["validate", *files])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("valid")


def test_pddl_names_are_compared_without_case(tmp_path: Path) -> None:
    files = _files(tmp_path, DOMAIN.upper().replace(";; SOURCE", ";; source"), PROBLEM.upper(),
                   PLAN.upper())
    result = runner.invoke(app, ["validate", *files])
    assert result.exit_code == 0, result.output
    mixed = PLAN.replace("(unstack", "(UnStack").replace("b1", "B1")
    assert validate_plan(load_task(files[0], files[1]), mixed).is_valid


# --------------------------------------------------------------------------- plan text

@pytest.mark.parametrize(("text", "char"), [
    ("(unstac\u212a b1 b2)", "U+212A"),      # Kelvin sign: str.lower() makes it 'k'
    ("(pickup b\u0130)", "U+0130"),          # capital I with dot: lower() is two characters
    ("(ｐｉｃｋｕｐ b1)", "U+FF50"),            # fullwidth letters
    ("(pickup b1\u200b)", "U+200B"),         # zero-width space is not white space
    ("(pickup \u017f1)", "U+017F"),          # long s: upper() is 'S'
])
def test_a_plan_name_outside_ascii_is_unparseable_and_named(tmp_path: Path, text: str,
                                                             char: str) -> None:
    result = runner.invoke(app, ["validate", *_files(tmp_path, plan=text + "\n")])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    first = result.output.splitlines()[0]
    assert first.startswith("invalid (unparseable): action 1 has the non-ASCII character")
    assert char in first


def test_a_plan_file_that_is_not_utf8_gets_a_verdict(tmp_path: Path) -> None:
    plan = PLAN.replace("b1", "b\xe9").encode("latin-1")
    result = runner.invoke(app, ["validate", *_files(tmp_path, plan=plan)])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert "U+FFFD" in result.output, "the undecodable byte is the character named"


def test_white_space_outside_ascii_still_separates() -> None:
    task = GENERATED.task
    spaced = PLAN.replace(" ", "\u00a0")
    assert validate_plan(task, spaced).is_valid


@pytest.mark.parametrize("depth", [1000, 100_000])
def test_a_deeply_nested_plan_is_unparseable_quickly(tmp_path: Path, depth: int) -> None:
    text = "(" * depth + GENERATED.witness_plan[0].strip("()") + ")" * depth + "\n"
    started = time.monotonic()
    result = runner.invoke(app, ["validate", *_files(tmp_path, plan=text)])
    assert time.monotonic() - started < 10
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert result.output.startswith("invalid (unparseable): action 1 is not of the form")
    assert len(result.output.splitlines()[0]) < 300


@HYPOTHESIS
@given(char=st.characters(min_codepoint=128).filter(
           lambda c: not c.isspace() and len(f"a{c}b".splitlines()) == 1),
       step=st.integers(0, 20), at=st.integers(0, 40))
def test_a_character_outside_ascii_in_any_step_makes_it_unparseable(char: str, step: int,
                                                                     at: int) -> None:
    lines = PLAN.splitlines()
    i = step % len(lines)
    pos = at % (len(lines[i]) + 1)
    lines[i] = lines[i][:pos] + char + lines[i][pos:]
    verdict = validate_plan(GENERATED.task, "\n".join(lines))
    assert verdict.status == "unparseable"
    assert verdict.failed_step == i
    assert f"U+{ord(char):04X}" in verdict.message


@HYPOTHESIS
@given(case=st.lists(st.booleans(), min_size=1, max_size=200))
def test_any_mix_of_case_is_the_same_plan(case: list[bool]) -> None:
    text = "".join(c.upper() if case[i % len(case)] else c for i, c in enumerate(PLAN))
    verdict = validate_plan(GENERATED.task, text)
    assert verdict.is_valid
    assert verdict.actions == validate_plan(GENERATED.task, PLAN).actions
