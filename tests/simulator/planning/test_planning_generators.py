"""The task generators of all ten domains: seeded, solvable, round-trip through PDDL, IPC-shaped.

Every task a generator returns carries a witness plan that :func:`generate` has already replayed;
these tests replay it again on the task *as loaded back from its PDDL text* (so the text, not only
the in-memory task, is solvable), check breadth-first search finds plans for small sizes, and check
the parameters are range-checked with messages that name the domain and the parameter.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iterdeploy.simulator.planning import (
    GeneratedTask,
    GeneratorParamError,
    GroundTask,
    ParamSpec,
    breadth_first_plan,
    describe_generators,
    domain_names,
    domain_path,
    domain_spec,
    generate,
    generate_sized,
    generate_tasks,
    load_task,
    problem_to_pddl,
    resolve_params,
    validate_plan,
)
from iterdeploy.simulator.planning.blocksworld import generate_task

DOMAINS = domain_names()
IPC = Path(__file__).resolve().parents[3] / ".." / "shared" / "ipc2023"
needs_ipc = pytest.mark.skipif(not IPC.is_dir(), reason=f"IPC-2023 files not found at {IPC}")

SMALL: dict[str, list[dict[str, int]]] = {
    "blocksworld": [{"n_blocks": 2}, {"n_blocks": 4}],
    "childsnack": [{"n_children": 1}, {"n_children": 2}],
    "ferry": [{"n_cars": 1}, {"n_cars": 2}, {"n_cars": 3}],
    "floortile": [{"n_rows": 1, "n_columns": 3}, {"n_rows": 2, "n_columns": 1}],
    "miconic": [{"n_passengers": 1}, {"n_passengers": 3}],
    "rovers": [{"n_waypoints": 2, "n_objectives": 1}],
    "satellite": [{"n_satellites": 1}, {"n_satellites": 2, "n_directions": 3, "n_modes": 1}],
    "sokoban": [{"n_boxes": 1, "grid_size": 6}, {"n_boxes": 1}],
    "spanner": [{"n_nuts": 1}, {"n_nuts": 2}],
    "transport": [{"n_packages": 1}, {"n_packages": 2}],
}
"""Sizes whose breadth-first search takes well under a second (seeds 1-3; Fast Downward checks
larger ones in test_planning_fast_downward.py)."""


def plan_text(plan: tuple[str, ...] | list[str]) -> str:
    return "\n".join(plan)


def load_back(generated: GeneratedTask, tmp_path: Path) -> GroundTask:
    path = tmp_path / f"{generated.name}.pddl"
    path.write_text(generated.problem_pddl)
    return load_task(domain_path(generated.domain), path)


def facts(task: GroundTask) -> tuple[object, ...]:
    """Everything a task says. Object order aside: Blocksworld's generate_task lists b1..b10 in
    numeric order (unchanged for compatibility), load_task sorts them."""
    return (task.domain, task.name, frozenset(task.objects), task.init, task.goal, task.schemas,
            task.params, task.object_types, task.optimal_length)


def test_a_parameter_must_document_a_derived_default() -> None:
    with pytest.raises(ValueError, match="needs default_doc"):
        ParamSpec("n_x", "x", 1, 5, lambda p: 2)
    with pytest.raises(ValueError, match=r"outside 1\.\.5"):
        ParamSpec("n_x", "x", 1, 5, 9)


def test_the_registry_has_the_ten_ipc_domains() -> None:
    assert DOMAINS == ("blocksworld", "childsnack", "ferry", "floortile", "miconic", "rovers",
                       "satellite", "sokoban", "spanner", "transport")
    text = describe_generators()
    for domain in DOMAINS:
        assert f"{domain}:" in text
        for param in domain_spec(domain).params:
            assert param.name in text


@needs_ipc
@pytest.mark.parametrize("domain", DOMAINS)
def test_shipped_domain_is_the_official_file(domain: str) -> None:
    assert domain_path(domain).read_bytes() == (IPC / domain / "domain.pddl").read_bytes()
    for problem in sorted((IPC / domain / "base_cases").glob("*.pddl"))[:3]:
        assert load_task(domain_path(domain), problem).goal  # the official problems load with it


@pytest.mark.parametrize("domain", DOMAINS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_default_task_loads_back_identically_and_its_witness_solves_it(
    domain: str, seed: int, tmp_path: Path
) -> None:
    generated = generate(domain, None, np.random.default_rng(seed))
    loaded = load_back(generated, tmp_path)
    assert facts(loaded) == facts(generated.task)  # objects, types, init, goal, schemas, params tags
    if domain != "blocksworld":
        assert loaded == generated.task  # object order included
    assert generated.task.params == tuple(generated.params.items())
    assert not generated.task.goal_reached(generated.task.init)
    verdict = validate_plan(loaded, plan_text(generated.witness_plan))
    assert verdict.is_valid, verdict.message


@pytest.mark.parametrize("domain", DOMAINS)
def test_small_tasks_are_solved_by_breadth_first_search(domain: str) -> None:
    for params in SMALL[domain]:
        for seed in range(1, 4):
            generated = generate(domain, params, np.random.default_rng(seed))
            plan = breadth_first_plan(generated.task, max_nodes=100_000)
            assert plan is not None, (domain, params, seed)
            assert len(plan) <= len(generated.witness_plan)
            assert validate_plan(generated.task, plan_text([a.to_pddl() for a in plan])).is_valid


@st.composite
def domain_and_params(draw: st.DrawFn) -> tuple[str, dict[str, int]]:
    """A domain and a random subset of its parameters within range (the rest default)."""
    domain = draw(st.sampled_from(DOMAINS))
    params = {}
    for param in domain_spec(domain).params:
        if draw(st.booleans()):
            params[param.name] = draw(st.integers(param.low, min(param.high, param.low + 6)))
    return domain, params


@settings(max_examples=80, deadline=None)
@given(choice=domain_and_params(), seed=st.integers(0, 2**32 - 1))
def test_any_valid_parameters_give_a_reproducible_solvable_task(
    choice: tuple[str, dict[str, int]], seed: int
) -> None:
    domain, params = choice
    try:
        resolved = resolve_params(domain, params)
    except GeneratorParamError as exc:  # parameters that contradict each other: a clear refusal
        assert str(exc).startswith(f"{domain}: ")
        return
    a = generate(domain, params, np.random.default_rng(seed))
    b = generate(domain, params, np.random.default_rng(seed))
    assert a.problem_pddl == b.problem_pddl and a.task == b.task and a.witness_plan == b.witness_plan
    assert dict(a.params) == resolved
    assert validate_plan(a.task, plan_text(a.witness_plan)).is_valid
    assert not a.task.goal_reached(a.task.init)


@pytest.mark.parametrize("domain", DOMAINS)
def test_different_seeds_give_different_tasks(domain: str) -> None:
    texts = {generate(domain, None, np.random.default_rng(seed)).problem_pddl for seed in range(12)}
    assert len(texts) >= 6, f"{domain}: only {len(texts)} distinct tasks from 12 seeds"


@settings(max_examples=25, deadline=None)
@given(domain=st.sampled_from(DOMAINS), seed=st.integers(0, 2**32 - 1))
def test_generated_tasks_load_back_through_pddl(
    domain: str, seed: int, tmp_path_factory: pytest.TempPathFactory
) -> None:
    generated = generate(domain, None, np.random.default_rng(seed))
    loaded = load_back(generated, tmp_path_factory.mktemp("gen"))
    assert facts(loaded) == facts(generated.task)


def test_medium_tasks_load_back_and_are_solved_by_their_witness(tmp_path: Path) -> None:
    medium = {"blocksworld": {"n_blocks": 12}, "childsnack": {"n_children": 8},
              "ferry": {"n_cars": 10}, "floortile": {"n_rows": 4, "n_columns": 5, "n_robots": 2},
              "miconic": {"n_passengers": 10}, "rovers": {"n_waypoints": 8}, "satellite": {"n_satellites": 4},
              "sokoban": {"n_boxes": 3}, "spanner": {"n_nuts": 5}, "transport": {"n_packages": 8}}
    for domain, params in medium.items():
        generated = generate(domain, params, np.random.default_rng(7))
        loaded = load_back(generated, tmp_path)
        assert facts(loaded) == facts(generated.task), domain
        assert validate_plan(loaded, plan_text(generated.witness_plan)).is_valid, domain


# --------------------------------------------------------------------------- parameters


@pytest.mark.parametrize(("domain", "param"), [(d, p.name) for d in DOMAINS for p in domain_spec(d).params])
def test_out_of_range_values_are_refused_naming_domain_and_parameter(domain: str, param: str) -> None:
    spec = next(p for p in domain_spec(domain).params if p.name == param)
    for value in (spec.low - 1, spec.high + 1):
        with pytest.raises(GeneratorParamError, match=rf"^{domain}: {param}={value} is out of range; "
                           rf"expected {spec.low} <= {param} <= {spec.high}$"):
            generate(domain, {param: value}, np.random.default_rng(0))


def test_unknown_domain_parameter_and_non_integers_are_refused() -> None:
    with pytest.raises(GeneratorParamError, match=r"unknown domain 'rover'; did you mean 'rovers'\?"):
        generate("rover", {}, np.random.default_rng(0))
    with pytest.raises(GeneratorParamError, match=r"^ferry: unknown parameter 'cars'; did you mean "
                       r"'n_cars'\? Parameters: n_cars, n_locations$"):
        resolve_params("ferry", {"cars": 3})
    with pytest.raises(GeneratorParamError, match=r"^ferry: n_cars='3' is not an integer$"):
        resolve_params("ferry", {"n_cars": "3"})  # type: ignore[dict-item]
    with pytest.raises(GeneratorParamError, match="is not an integer"):
        resolve_params("ferry", {"n_cars": True})
    assert isinstance(GeneratorParamError("x"), ValueError)


@pytest.mark.parametrize(("domain", "params", "message"), [
    ("spanner", {"n_nuts": 3, "n_spanners": 2}, r"n_spanners \(2\) must be at least n_nuts \(3\)"),
    ("childsnack", {"n_children": 2, "n_allergic": 3}, r"n_allergic \(3\) must not exceed n_children \(2\)"),
    ("childsnack", {"n_children": 4, "n_sandwiches": 3}, r"n_sandwiches \(3\) must be at least n_children"),
    ("floortile", {"n_columns": 2, "n_robots": 3}, r"n_robots \(3\) must not exceed n_columns \(2\)"),
    ("satellite", {"n_satellites": 3, "n_instruments": 2}, r"n_instruments \(2\) must be at least"),
    ("sokoban", {"n_boxes": 2, "grid_size": 6}, r"grid_size 6 leaves 4 cells .* n_boxes=2 \(need 6\)"),
    ("sokoban", {"n_boxes": 1, "grid_size": 6, "n_settled": 4},
     r"grid_size 6 has 16 inner cells, too few for 5 boxes \(n_boxes=1, n_settled=4; need 20\)"),
])
def test_contradicting_parameters_are_refused(domain: str, params: dict[str, int], message: str) -> None:
    with pytest.raises(GeneratorParamError, match=rf"^{domain}: {message}"):
        generate(domain, params, np.random.default_rng(0))


def test_defaults_follow_the_main_parameter() -> None:
    assert resolve_params("ferry", {"n_cars": 7}) == {"n_cars": 7, "n_locations": 8}
    assert resolve_params("spanner", {"n_nuts": 4}) == {"n_nuts": 4, "n_spanners": 5, "n_locations": 6}
    assert resolve_params("sokoban", {"n_boxes": 2}) == {"n_boxes": 2, "grid_size": 9, "n_settled": 0}
    # a derived default is clipped into its range and never contradicts the parameters before it
    assert resolve_params("miconic", {"n_passengers": 20})["n_floors"] == 30
    for domain in DOMAINS:
        main = domain_spec(domain).params[0]
        for value in range(main.low, main.high + 1):
            resolve_params(domain, {main.name: value})  # never raises


# --------------------------------------------------------------------------- blocksworld, batches


@settings(max_examples=30, deadline=None)
@given(n=st.integers(2, 12), seed=st.integers(0, 2**32 - 1))
def test_blocksworld_in_the_registry_is_generate_task_unchanged(n: int, seed: int) -> None:
    generated = generate("blocksworld", {"n_blocks": n}, np.random.default_rng(seed))
    direct = generate_task(n, np.random.default_rng(seed))
    assert generated.task == direct and generated.name == f"bw-{n}"
    assert generated.problem_pddl == problem_to_pddl(direct)


def test_batches_are_stable_per_index_and_named() -> None:
    five = list(generate_tasks("transport", {"n_packages": 2}, seed=3, n=5))
    three = list(generate_tasks("transport", {"n_packages": 2}, seed=3, n=3))
    assert [g.problem_pddl for g in three] == [g.problem_pddl for g in five[:3]]
    assert [g.name for g in five] == [f"transport-{i:03d}" for i in range(1, 6)]
    assert len({g.problem_pddl for g in five}) == 5
    other = next(generate_tasks("transport", {"n_packages": 2}, seed=4, n=1))
    assert other.problem_pddl != five[0].problem_pddl
    with pytest.raises(GeneratorParamError):
        next(generate_tasks("transport", {"n_packages": 0}, seed=3, n=1))


def test_generated_task_fields() -> None:
    generated = generate("satellite", {"n_satellites": 2}, np.random.default_rng(5), name="sat-x")
    assert generated.name == "sat-x" and generated.task.domain == "satellite"
    assert generated.domain_file == domain_path("satellite")
    assert generated.optimal_length is None
    assert dataclasses.replace(generated.task, optimal_length=3).optimal_length == 3
    assert generated.problem_pddl.startswith(";; iterdeploy-params: n_satellites=2 n_instruments=3")


# --------------------------------------------------------------------------- IPC look


def _shape(name: str) -> str:
    return re.sub(r"\d+", "#", name)


@needs_ipc
@pytest.mark.parametrize("domain", DOMAINS)
def test_generated_problems_use_the_ipc_names_types_and_predicates(domain: str, tmp_path: Path) -> None:
    official = [load_task(IPC / domain / "domain.pddl", p)
                for p in sorted((IPC / domain / "training" / "easy").glob("*.pddl"))[20:26]]
    generated = [generate(domain, None, np.random.default_rng(seed)).task for seed in range(4)]

    def shapes(task: object) -> set[tuple[str, str]]:
        pairs = task.object_types or [(o, "object") for o in task.objects]  # type: ignore[attr-defined]
        return {(t, _shape(o)) for o, t in pairs}

    def predicates(atoms: frozenset[tuple[str, ...]]) -> set[str]:
        return {a[0] for a in atoms if not a[0].startswith("type:")}

    ipc_shapes = set().union(*(shapes(t) for t in official))
    ipc_init = set().union(*(predicates(t.init) for t in official))
    ipc_goal = set().union(*(predicates(t.goal) for t in official))
    for task in generated:
        assert shapes(task) <= ipc_shapes, shapes(task) - ipc_shapes
        assert predicates(task.init) <= ipc_init, predicates(task.init) - ipc_init
        assert predicates(task.goal) <= ipc_goal
        # and the problem also loads with the official domain file
        path = tmp_path / "p.pddl"
        path.write_text(generate(domain, None, np.random.default_rng(0)).problem_pddl)
        assert load_task(IPC / domain / "domain.pddl", path).goal


@settings(max_examples=20, deadline=None)
@given(boxes=st.integers(1, 3), settled=st.integers(1, 2), seed=st.integers(0, 2**32 - 1))
def test_settled_sokoban_boxes_start_on_their_goals_and_stay_there(
    boxes: int, settled: int, seed: int
) -> None:
    generated = generate("sokoban", {"n_boxes": boxes, "n_settled": settled}, np.random.default_rng(seed))
    task = generated.task
    start = {a[1]: a[2] for a in task.init if a[0] == "at"}
    goal = {a[1]: a[2] for a in task.goal}
    assert len(start) == len(goal) == boxes + settled
    on_goal = sorted(b for b in start if start[b] == goal[b])
    assert len(on_goal) >= settled
    # the witness (checked by generate to reach the goal) pushes only the boxes it must move
    pushed = {line.split()[-1].rstrip(")") for line in generated.witness_plan if line.startswith("(push")}
    assert len(pushed) == boxes
    assert all(start[b] != goal[b] for b in pushed)


@pytest.mark.parametrize("boxes", [1, 2, 3, 4])
def test_no_settled_boxes_draw_the_tasks_they_always_drew(boxes: int) -> None:
    """``n_settled: 0`` takes no random draw of its own: every Sokoban task drawn before the
    parameter existed is drawn again (its PDDL differs only in the parameters comment)."""
    assert _body("sokoban", boxes, None) == _body("sokoban", boxes, {"n_settled": 0})
    # pinned: the task these seeds drew before n_settled existed
    assert _digest(_body("sokoban", boxes, None)) == PINNED_SOKOBAN[boxes]


def _body(domain: str, size: int, params: dict[str, int] | None) -> str:
    """The problem drawn at ``default_rng(size)``, its parameters comment left out."""
    text = generate_sized(domain, size, np.random.default_rng(size), params=params).problem_pddl
    return "\n".join(line for line in text.splitlines() if not line.startswith(";;"))


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


PINNED_SOKOBAN = {1: "861cd4dac1686fb5", 2: "be2768248a0756a4", 3: "e35b0e404b40cc08",
                  4: "5415cc8e3ae224cf"}
"""SHA-256 (first 16 hex digits) of the Sokoban problems drawn at ``default_rng(boxes)``, the
parameters comment left out, computed before ``n_settled`` existed."""


@settings(max_examples=20, deadline=None)
@given(rovers=st.integers(1, 4), waypoints=st.integers(2, 8), seed=st.integers(0, 2**32 - 1))
def test_split_equipment_puts_each_kind_on_one_rover(rovers: int, waypoints: int, seed: int) -> None:
    generated = generate("rovers", {"n_waypoints": waypoints, "n_rovers": rovers, "split_equipment": 1},
                         np.random.default_rng(seed))  # generate checks that the witness solves it
    init = generated.task.init
    owners = {kind: sorted(a[1] for a in init if a[0] == pred) for kind, pred in (
        ("soil", "equipped_for_soil_analysis"), ("rock", "equipped_for_rock_analysis"),
        ("imaging", "equipped_for_imaging"))}
    assert all(len(o) == 1 for o in owners.values())
    assert len({o[0] for o in owners.values()}) == min(rovers, 3)
    cameras_on = {a[2] for a in init if a[0] == "on_board"}
    assert cameras_on == set(owners["imaging"])


@pytest.mark.parametrize("waypoints", [2, 4, 6, 8, 10])
def test_unsplit_equipment_draws_the_tasks_it_always_drew(waypoints: int) -> None:
    """``split_equipment: 0`` takes no random draw of its own: every Rovers task drawn before the
    parameter existed is drawn again (its PDDL differs only in the parameters comment)."""
    assert _body("rovers", waypoints, None) == _body("rovers", waypoints, {"split_equipment": 0})
    assert _digest(_body("rovers", waypoints, None)) == PINNED_ROVERS[waypoints]


PINNED_ROVERS = {2: "f0ec63683d53d3c2", 4: "d6f68ab453b1f861", 6: "920e464a538bbefa",
                 8: "6e0073fed7923b3e", 10: "e853d254b9c5157f"}
"""SHA-256 (first 16 hex digits) of the Rovers problems drawn at ``default_rng(waypoints)``, the
parameters comment left out, computed before ``split_equipment`` existed."""
