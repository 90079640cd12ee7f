"""PDDL loading: the IPC-2023 Blocksworld files load and solve; malformed files fail cleanly.

"Cleanly" means a :class:`PddlError` that names the file (and the line where there is one), no
hang, and stdout/stderr put back as they were.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from iterdeploy.simulator.errors import PddlError
from iterdeploy.simulator.planning import (
    breadth_first_plan,
    domain_path,
    load_domain_schemas,
    load_task,
    problem_to_pddl,
    validate_plan,
)
from iterdeploy.simulator.planning.blocksworld import canonical_plan, generate_task

IPC = Path(__file__).resolve().parents[3] / ".." / "shared" / "ipc2023" / "blocksworld"
BASE_CASES = sorted((IPC / "base_cases").glob("*.pddl"))
EASY = sorted((IPC / "training" / "easy").glob("*.pddl"))

needs_ipc = pytest.mark.skipif(
    not (IPC / "domain.pddl").is_file(),
    reason=f"IPC-2023 Blocksworld files not found at {IPC} (the 'shared' folder beside the repo)",
)


def plan_text(actions: list) -> str:
    return "\n".join(a.to_pddl() for a in actions)


def declared_objects(problem: Path) -> list[str]:
    text = re.sub(r";[^\n]*", "", problem.read_text()).lower()
    body = re.search(r"\(:objects([^)]*)\)", text)
    assert body is not None
    return sorted(t for t in body.group(1).split() if t not in ("-", "object"))


# --------------------------------------------------------------------------- IPC files


@needs_ipc
def test_ipc_files_are_present() -> None:
    assert len(BASE_CASES) >= 10 and len(EASY) >= 10


@needs_ipc
@pytest.mark.timeout(60)
def test_base_cases_load_and_breadth_first_plans_validate() -> None:
    stdout = sys.stdout
    for problem in BASE_CASES:
        task = load_task(IPC / "domain.pddl", problem)
        assert sorted(task.objects) == declared_objects(problem), problem.name
        assert task.goal and not task.goal_reached(task.init), problem.name
        plan = breadth_first_plan(task)
        assert plan is not None, problem.name
        verdict = validate_plan(task, plan_text(plan))
        assert verdict.is_valid, (problem.name, verdict)
        assert len(plan) <= len(canonical_plan(task))
    assert sys.stdout is stdout


@needs_ipc
@pytest.mark.timeout(120)
def test_training_easy_problems_load_and_the_canonical_plan_solves_them() -> None:
    for problem in EASY:
        task = load_task(IPC / "domain.pddl", problem)
        assert sorted(task.objects) == declared_objects(problem), problem.name
        assert validate_plan(task, plan_text(canonical_plan(task))).is_valid, problem.name


@needs_ipc
def test_shipped_domain_is_the_ipc_domain() -> None:
    ipc_task = load_task(IPC / "domain.pddl", BASE_CASES[0])
    assert ipc_task.schemas == load_domain_schemas("blocksworld")
    assert load_task(domain_path("blocksworld"), BASE_CASES[0]) == ipc_task


def test_shipped_domain_schemas() -> None:
    schemas = {s.name: s for s in load_domain_schemas("blocksworld")}
    assert set(schemas) == {"pickup", "putdown", "stack", "unstack"}
    stack = schemas["stack"]
    assert stack.parameters == ("?ob", "?underob")
    assert set(stack.preconditions) == {("clear", "?underob"), ("holding", "?ob")}
    assert set(stack.delete_effects) == {("clear", "?underob"), ("holding", "?ob")}
    with pytest.raises(PddlError, match=r"no shipped domain 'nope'.*blocksworld"):
        domain_path("nope")


# --------------------------------------------------------------------------- good but unusual


PROBLEM = """;; a comment
(define (problem tiny)
 (:domain blocksworld)
 (:objects a b - object)
 (:init (arm-empty) (clear a) (on a b) (on-table b))
 (:goal (and (on b a) (on-table a))))"""


@pytest.fixture
def domain_file(tmp_path: Path) -> Path:
    path = tmp_path / "domain.pddl"
    path.write_text(domain_path("blocksworld").read_text())
    return path


def write(tmp_path: Path, text: str | bytes, name: str = "problem.pddl") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def test_problem_ending_in_a_comment_without_newline_loads(tmp_path: Path, domain_file: Path) -> None:
    task = load_task(domain_file, write(tmp_path, PROBLEM + " ; the end"))
    assert task.name == "tiny" and task.objects == ("a", "b")
    assert task.goal == {("on", "b", "a"), ("on-table", "a")}


def test_upper_case_and_single_atom_goal_load(tmp_path: Path, domain_file: Path) -> None:
    text = PROBLEM.upper().replace("(AND (ON B A) (ON-TABLE A))", "(ON B A)")
    task = load_task(domain_file, write(tmp_path, text))
    assert task.goal == {("on", "b", "a")}
    assert validate_plan(task, "unstack a b; putdown a; pickup b; stack b a").is_valid


def test_problem_to_pddl_round_trip_keeps_params(tmp_path: Path, domain_file: Path) -> None:
    task = generate_task(6, np.random.default_rng(4))
    text = problem_to_pddl(task)
    assert ";; iterdeploy-params: n_blocks=6" in text
    assert load_task(domain_file, write(tmp_path, text)) == task


def test_an_edited_domain_file_is_read_again(tmp_path: Path, domain_file: Path) -> None:
    problem = write(tmp_path, PROBLEM)
    assert load_task(domain_file, problem).schema("stack") is not None
    domain_file.write_text(domain_file.read_text().replace("(:action stack", "(:action put-on"))
    task = load_task(domain_file, problem)
    assert task.schema("stack") is None and task.schema("put-on") is not None


TYPED_DOMAIN = """(define (domain ferry)
 (:requirements :strips :typing :negative-preconditions)
 (:types car location - object
         port - location)
 (:constants home - port)
 (:predicates (at-ferry ?l - location) (at ?c - car ?l - location) (empty-ferry) (on ?c - car))
 (:action sail :parameters (?from ?to - location)
   :precondition (and (at-ferry ?from) (not (at-ferry ?to)))
   :effect (and (at-ferry ?to) (not (at-ferry ?from))))
 (:action board :parameters (?car - car ?loc - location)
   :precondition (and (at ?car ?loc) (at-ferry ?loc) (empty-ferry))
   :effect (and (on ?car) (not (at ?car ?loc)) (not (empty-ferry))))
 (:action debark :parameters (?car - car ?loc - location)
   :precondition (and (on ?car) (at-ferry ?loc))
   :effect (and (at ?car ?loc) (empty-ferry) (not (on ?car)))))"""

TYPED_PROBLEM = """(define (problem f1) (:domain ferry)
 (:objects c1 c2 - car l1 - location dock - port)
 (:init (at-ferry home) (empty-ferry) (at c1 l1) (at c2 dock))
 (:goal (and (at c1 home) (at c2 l1))))"""


def test_typed_domain_with_constants_and_negative_preconditions(tmp_path: Path) -> None:
    domain = write(tmp_path, TYPED_DOMAIN, name="ferry.pddl")
    task = load_task(domain, write(tmp_path, TYPED_PROBLEM))
    assert task.objects == ("c1", "c2", "dock", "home", "l1")
    assert task.object_types == (("c1", "car"), ("c2", "car"), ("dock", "port"), ("home", "port"),
                                 ("l1", "location"))
    # types are compiled into static atoms, supertypes included
    assert {("type:port", "dock"), ("type:location", "dock"), ("type:car", "c1")} <= task.init
    assert not any(a[0] == "type:object" for a in task.init)
    plan = breadth_first_plan(task)
    assert plan is not None and validate_plan(task, plan_text(plan)).is_valid
    # a wrongly typed argument is an inapplicable step naming the type atom
    verdict = validate_plan(task, "(board home l1)")
    assert verdict.status == "invalid_step"
    assert "(type:car home)" in verdict.unmet_preconditions
    # a violated negative precondition is reported as (not ...)
    verdict = validate_plan(task, "(sail home home)")
    assert verdict.status == "invalid_step"
    assert verdict.unmet_preconditions == ("(not (at-ferry home))",)
    # and the typed task survives a round trip through PDDL
    again = load_task(domain, write(tmp_path, problem_to_pddl(task), name="again.pddl"))
    assert again == task


def test_problem_without_objects_section_loads(tmp_path: Path, domain_file: Path) -> None:
    text = "(define (problem none) (:domain blocksworld) (:init (arm-empty)) (:goal (and (arm-empty))))"
    task = load_task(domain_file, write(tmp_path, text))
    assert task.objects == () and task.goal_reached(task.init)


def test_undeclared_types_are_reported(tmp_path: Path) -> None:
    domain = write(tmp_path, TYPED_DOMAIN, name="ferry.pddl")
    bad = write(tmp_path, TYPED_PROBLEM.replace("l1 - location", "l1 - harbour"), name="bad.pddl")
    with pytest.raises(PddlError, match=r"bad\.pddl:2: object 'l1' has undeclared type 'harbour'"):
        load_task(domain, bad)
    bad_domain = write(tmp_path, TYPED_DOMAIN.replace("?car - car ?loc", "?car - truck ?loc"),
                       name="bad-domain.pddl")
    with pytest.raises(PddlError, match=r"bad-domain\.pddl:10: '\?car' has undeclared type 'truck'"):
        load_task(bad_domain, write(tmp_path, TYPED_PROBLEM))


# --------------------------------------------------------------------------- malformed files

BAD_PROBLEMS: dict[str, tuple[str | bytes, str]] = {
    # name: (file content, regex the message must match after the file name)
    "unclosed paren": (PROBLEM[:-1], r":2: '\(' opened here is never closed"),
    "stray close paren": (PROBLEM + ")", r":6: unexpected '\)'"),
    "unknown requirement": (
        PROBLEM.replace("(:domain blocksworld)", "(:domain blocksworld)\n (:requirements :fluents)"),
        r":4: unknown requirement ':fluents'",
    ),
    "undefined predicate in init": (
        PROBLEM.replace("(clear a)", "(shiny a)"), r":5: in :init: undefined predicate 'shiny'"
    ),
    "wrong arity in init": (
        PROBLEM.replace("(on a b)", "(on a)"), r":5: in :init: predicate 'on' takes 2 argument"
    ),
    "undeclared object in init": (
        PROBLEM.replace("(on-table b)", "(on-table c)"), r":5: in :init: undeclared object 'c'"
    ),
    "undefined predicate in goal": (
        PROBLEM.replace("(on-table a))", "(above a b))"), r":6: in :goal: undefined predicate 'above'"
    ),
    "wrong domain": (PROBLEM.replace("(:domain blocksworld)", "(:domain gripper)"), r":3: .*'gripper'"),
    "no goal": (PROBLEM.replace("(:goal (and (on b a) (on-table a)))", ""), r": no '\(:goal \.\.\.\)'"),
    "negative goal": (
        PROBLEM.replace("(on-table a)", "(not (on a b))"),
        r":6: in :goal: '\(not \.\.\.\)' is not supported; only conjunctions of positive atoms",
    ),
    "garbage bytes": (b"\x00\xff\xfe(define\x80\x81 \xc3\x28", r":1: not UTF-8 text"),
    "binary junk": (bytes(range(256)) * 4, r"not UTF-8 text"),
    "empty": ("", r":1: empty file"),
    "prose": ("this is not pddl at all", r":1: unexpected 'this'"),
    "not define": ("(domain x)", r":1: expected '\(define"),
    "domain instead of problem": (
        domain_path("blocksworld").read_text(), r"expected '\(define \(problem NAME\)"
    ),
    "two top-level forms": (PROBLEM + "\n(define (problem again))", r":7: a second top-level"),
}

BAD_DOMAINS: dict[str, tuple[str, str]] = {
    "missing effect": (
        "(define (domain d) (:predicates (p ?x))\n(:action a :parameters (?x) :precondition (p ?x)))",
        r":2: action 'a' has keys",
    ),
    "undefined predicate in action": (
        "(define (domain d) (:predicates (p ?x))\n(:action a :parameters (?x)\n"
        " :precondition (q ?x) :effect (p ?x)))",
        r":3: in action 'a' :precondition: undefined predicate 'q'",
    ),
    "undeclared parameter": (
        "(define (domain d) (:predicates (p ?x))\n(:action a :parameters (?x)\n"
        " :precondition (p ?y) :effect (p ?x)))",
        r":3: .*undeclared parameter '\?y'",
    ),
    "disjunctive precondition": (
        "(define (domain d) (:requirements :disjunctive-preconditions) (:predicates (p ?x))\n"
        "(:action a :parameters (?x) :precondition (or (p ?x) (p ?x)) :effect (p ?x)))",
        r":2: in action 'a' :precondition: '\(or \.\.\.\)' is not supported",
    ),
    "conditional effect": (
        "(define (domain d) (:requirements :conditional-effects) (:predicates (p ?x))\n"
        "(:action a :parameters (?x) :precondition (p ?x)\n :effect (when (p ?x) (p ?x))))",
        r":3: in action 'a' :effect: '\(when \.\.\.\)' is not supported; only add and delete",
    ),
    "no predicates": ("(define (domain d))", r": no '\(:predicates \.\.\.\)'"),
    "unbalanced": ("(define (domain d) (:predicates (p ?x)", r":1: '\(' opened here is never closed"),
}


@pytest.mark.timeout(30)
@pytest.mark.parametrize("case", sorted(BAD_PROBLEMS))
def test_malformed_problem_raises_pddl_error(tmp_path: Path, domain_file: Path, case: str) -> None:
    content, pattern = BAD_PROBLEMS[case]
    problem = write(tmp_path, content, name="bad-problem.pddl")
    stdout, stderr = sys.stdout, sys.stderr
    with pytest.raises(PddlError) as err:
        load_task(domain_file, problem)
    assert sys.stdout is stdout and sys.stderr is stderr
    message = str(err.value)
    assert message.startswith(str(problem)), message
    assert re.search(pattern, message[len(str(problem)):]), message


@pytest.mark.timeout(30)
@pytest.mark.parametrize("case", sorted(BAD_DOMAINS))
def test_malformed_domain_raises_pddl_error(tmp_path: Path, case: str) -> None:
    content, pattern = BAD_DOMAINS[case]
    domain = write(tmp_path, content, name="bad-domain.pddl")
    problem = write(tmp_path, "(define (problem p) (:domain d) (:init) (:goal (and)))")
    stdout = sys.stdout
    with pytest.raises(PddlError) as err:
        load_task(domain, problem)
    assert sys.stdout is stdout
    message = str(err.value)
    assert "bad-domain.pddl" in message, message
    assert re.search(pattern, message), message


def test_missing_files_raise_pddl_error(tmp_path: Path, domain_file: Path) -> None:
    with pytest.raises(PddlError, match=r"nowhere\.pddl: no such file"):
        load_task(domain_file, tmp_path / "nowhere.pddl")
    with pytest.raises(PddlError, match=r"nodomain\.pddl: no such file"):
        load_task(tmp_path / "nodomain.pddl", write(tmp_path, PROBLEM))
    with pytest.raises(PddlError, match="no such file"):
        load_task(domain_file, tmp_path)  # a directory is not a problem file


VALID = problem_to_pddl(generate_task(4, np.random.default_rng(0)))


@pytest.mark.timeout(120)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    cut=st.integers(0, len(VALID)),
    length=st.integers(0, 12),
    insert=st.text(alphabet="() ;-?:\nabonclert1234\x00é", max_size=8),
)
def test_corrupted_problem_files_load_or_raise_pddl_error(
    tmp_path: Path, domain_file: Path, cut: int, length: int, insert: str
) -> None:
    text = VALID[:cut] + insert + VALID[cut + length:]
    problem = write(tmp_path, text, name="fuzz.pddl")
    stdout = sys.stdout
    try:
        task = load_task(domain_file, problem)
    except PddlError as exc:
        assert "fuzz.pddl" in str(exc)
    else:
        assert set(task.objects) <= {"b1", "b2", "b3", "b4"} | set(re.findall(r"[^\s()]+", text.lower()))
    assert sys.stdout is stdout


DOMAIN_TEXT = domain_path("blocksworld").read_text()


@pytest.mark.timeout(120)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    cut=st.integers(0, len(DOMAIN_TEXT)),
    length=st.integers(0, 12),
    insert=st.text(alphabet="() ;-?:\nabonclert:", max_size=8),
)
def test_corrupted_domain_files_load_or_raise_pddl_error(
    tmp_path: Path, cut: int, length: int, insert: str
) -> None:
    domain = write(tmp_path, DOMAIN_TEXT[:cut] + insert + DOMAIN_TEXT[cut + length:], name="fuzz-domain.pddl")
    problem = write(tmp_path, PROBLEM)
    stdout = sys.stdout
    try:
        load_task(domain, problem)
    except PddlError as exc:
        assert "fuzz-domain.pddl" in str(exc) or "problem.pddl" in str(exc)
    assert sys.stdout is stdout


IPC_ROOT = IPC.parent


@pytest.mark.skipif(not IPC_ROOT.is_dir(), reason=f"IPC-2023 files not found at {IPC_ROOT}")
@pytest.mark.timeout(120)
def test_every_ipc_domain_base_case_loads_and_p01_is_solved() -> None:
    domains = sorted(d for d in IPC_ROOT.iterdir() if (d / "domain.pddl").is_file())
    assert len(domains) == 10
    for domain in domains:
        for problem in sorted((domain / "base_cases").glob("*.pddl")):
            task = load_task(domain / "domain.pddl", problem)
            assert task.goal and task.objects, problem
        task = load_task(domain / "domain.pddl", domain / "base_cases" / "p01.pddl")
        plan = breadth_first_plan(task, max_nodes=50_000)
        assert plan is not None, domain.name
        assert validate_plan(task, plan_text(plan)).is_valid, domain.name
