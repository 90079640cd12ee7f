"""Our own PDDL conversion builds the very task pddlgym's parser built, on every file pddlgym reads.

``load_task`` no longer calls pddlgym (importing it took seconds); the tree our reader checked is
converted directly. ``pddlgym_loader.pddlgym_task`` is the conversion as it was, through pddlgym,
and these tests hold ours to it: generated problems of the ten domains, the IPC-2023 files,
problems and domains with random damage (where pddlgym accepts a file, ours must accept it and
agree; where ours refuses one, the error names the file), plus the refusals the conversion adds.
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
    domain_names,
    domain_path,
    domain_spec,
    generate,
    load_stored_task,
    load_task,
    problem_to_pddl,
)
from tests.simulator.planning.pddlgym_loader import pddlgym_task

pytest.importorskip("pddlgym", reason="pddlgym (the oracle) is not installed")

IPC = Path(__file__).resolve().parents[3] / ".." / "shared" / "ipc2023"


def write(directory: Path, text: str | bytes, name: str = "problem.pddl") -> Path:
    path = directory / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def same_task(domain_file: Path, problem_file: Path) -> None:
    ours = load_task(domain_file, problem_file)
    theirs = pddlgym_task(domain_file, problem_file)
    assert ours == theirs
    assert ours.schemas == theirs.schemas  # compared field by field above; named for the message


@pytest.mark.parametrize("domain", domain_names())
def test_generated_problems_load_as_pddlgym_loads_them(tmp_path: Path, domain: str) -> None:
    spec = domain_spec(domain).params[0]
    for seed, size in enumerate((spec.low, spec.low + 1, spec.low + 2)):
        generated = generate(domain, {spec.name: min(size, spec.high)}, np.random.default_rng(seed))
        problem = write(tmp_path, generated.problem_pddl, f"{domain}-{seed}.pddl")
        same_task(domain_path(domain), problem)
        assert load_task(domain_path(domain), problem) == generated.task
        assert load_stored_task(domain, generated.problem_pddl) == generated.task


@pytest.mark.skipif(not IPC.is_dir(), reason=f"IPC-2023 files not found at {IPC}")
@pytest.mark.parametrize("domain", domain_names())
def test_ipc_files_load_as_pddlgym_loads_them(domain: str) -> None:
    folder = IPC / domain
    problems = sorted((folder / "base_cases").glob("*.pddl")) + sorted(
        (folder / "training" / "easy").glob("*.pddl"))[:10]
    assert problems
    for problem in problems:
        same_task(folder / "domain.pddl", problem)


PROBLEM = problem_to_pddl(generate("ferry", {"n_cars": 2}, np.random.default_rng(0)).task)
FERRY = domain_path("ferry").read_text()


def _both(domain_file: Path, problem_file: Path) -> None:
    """Where pddlgym reads the pair, ours gives its task; where ours refuses it, the error names a
    file; neither writes to standard output."""
    stdout = sys.stdout
    try:
        theirs = pddlgym_task(domain_file, problem_file)
    except PddlError:
        theirs = None
    try:
        ours = load_task(domain_file, problem_file)
    except PddlError as exc:
        assert theirs is None, f"pddlgym reads it, we refuse it: {exc}"
        assert domain_file.name in str(exc) or problem_file.name in str(exc), str(exc)
    else:
        if theirs is not None:
            assert ours == theirs
    assert sys.stdout is stdout


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.integers(0, len(PROBLEM)), length=st.integers(0, 12),
       insert=st.text(alphabet="() ;-?:\nabcdeflort1234=", max_size=8))
def test_damaged_problems_load_as_pddlgym_loads_them_or_are_refused(
    tmp_path: Path, cut: int, length: int, insert: str
) -> None:
    problem = write(tmp_path, PROBLEM[:cut] + insert + PROBLEM[cut + length:], "fuzz.pddl")
    _both(domain_path("ferry"), problem)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.integers(0, len(FERRY)), length=st.integers(0, 12),
       insert=st.text(alphabet="() ;-?:\nabcdeflort=", max_size=8))
def test_damaged_domains_load_as_pddlgym_loads_them_or_are_refused(
    tmp_path: Path, cut: int, length: int, insert: str
) -> None:
    domain = write(tmp_path, FERRY[:cut] + insert + FERRY[cut + length:], "fuzz-domain.pddl")
    _both(domain, write(tmp_path, PROBLEM))


EQUALITY_DOMAIN = """(define (domain eq)
 (:requirements :strips :equality :negative-preconditions)
 (:predicates (at ?x) (link ?x ?y))
 (:action move :parameters (?from ?to)
  :precondition (and (at ?from) (link ?from ?to) (not (= ?from ?to)))
  :effect (and (at ?to) (not (at ?from)))))
"""
EQUALITY_PROBLEM = """(define (problem p) (:domain eq) (:objects a b)
 (:init (at a) (link a b) (link a a) (= a a))
 (:goal (and (at b))))
"""


def test_equality_loads_as_pddlgym_loads_it(tmp_path: Path) -> None:
    domain = write(tmp_path, EQUALITY_DOMAIN, "domain.pddl")
    problem = write(tmp_path, EQUALITY_PROBLEM)
    same_task(domain, problem)
    task = load_task(domain, problem)
    assert {("=", "a", "a"), ("=", "b", "b")} <= task.init
    assert task.schemas[0].negative_preconditions == (("=", "?from", "?to"),)


@pytest.mark.parametrize(("change", "pattern"), [
    (("(:action move", "(:action move :parameters (?a) :precondition (at ?a) :effect (at ?a))\n"
      " (:action move"), r"domain\.pddl:5: action 'move' declared twice"),
    (("(:action move :parameters", "(:action move = :parameters"),
     r"domain\.pddl:4: action 'move': unexpected '='"),
    (("(?from ?to)", "(from ?to)"), r"domain\.pddl:4: action 'move' parameter 'from' must start with '\?'"),
    (("(not (= ?from ?to))", "(not (= ?from))"), r"domain\.pddl:5: .*'=' takes 2 arguments, got 1"),
    (("(not (= ?from ?to))", "(not (= ?from ?nowhere))"),
     r"domain\.pddl:5: .*undeclared parameter '\?nowhere'"),
    # a mistyped section is refused, never skipped (pddlgym read this one as an action ': move')
    (("(:action move", "(:action: move"), r"domain\.pddl:4: unexpected ':action:'; expected one of"),
    (("(:predicates", "(:predicate"), r"domain\.pddl:3: unexpected ':predicate'"),
])
def test_refusals_the_conversion_adds_name_file_and_line(
    tmp_path: Path, change: tuple[str, str], pattern: str
) -> None:
    domain = write(tmp_path, EQUALITY_DOMAIN.replace(*change), "domain.pddl")
    with pytest.raises(PddlError) as err:
        load_task(domain, write(tmp_path, EQUALITY_PROBLEM))
    assert re.search(pattern, str(err.value)), str(err.value)


def test_a_mistyped_problem_section_is_refused_naming_its_line(tmp_path: Path) -> None:
    domain = write(tmp_path, EQUALITY_DOMAIN, "domain.pddl")
    problem = write(tmp_path, EQUALITY_PROBLEM.replace("(:init", "(:inti"))
    with pytest.raises(PddlError, match=r"problem\.pddl:2: unexpected ':inti'; expected one of"):
        load_task(domain, problem)


def test_a_stored_problem_that_is_malformed_is_refused_in_one_line() -> None:
    with pytest.raises(PddlError, match=r"^stored ferry problem:1: '\(' opened here is never closed"):
        load_stored_task("ferry", "(define (problem p)")


def test_a_shipped_domain_is_read_once_and_a_users_file_at_every_load(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Drawing tasks and rebuilding stored ones read no file once the domain is parsed; a
    user's domain file may change between loads, so it is read again each time."""
    from iterdeploy.simulator.planning import _pddl, generate, load_stored_task, load_task

    first = generate("rovers", {"n_waypoints": 4}, np.random.default_rng(0))
    reads: list[str] = []
    real_read = _pddl.read_text
    monkeypatch.setattr(_pddl, "read_text", lambda path: reads.append(str(path)) or real_read(path))
    for seed in range(3):
        task = generate("rovers", {"n_waypoints": 4}, np.random.default_rng(seed))
        load_stored_task("rovers", task.problem_pddl)
    assert reads == []
    assert generate("rovers", {"n_waypoints": 4}, np.random.default_rng(0)).problem_pddl == first.problem_pddl
    domain = tmp_path / "domain.pddl"
    domain.write_text(_pddl.domain_path("rovers").read_text())
    problem = tmp_path / "p.pddl"
    problem.write_text(first.problem_pddl)
    load_task(domain, problem)
    load_task(domain, problem)
    assert reads.count(str(domain.resolve())) == 2
