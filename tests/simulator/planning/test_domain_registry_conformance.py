"""Every registered domain conforms: it generates, validates its witness and round-trips its PDDL.

Parametrised over :data:`iterdeploy.simulator.planning.generators.GENERATORS`, so a domain added with one
registration line is checked with no test edit. Here at the smallest main size, with a few seeds;
``test_planning_generators.py`` checks the same registry at the default size, with Hypothesis
over the parameters, and the parameter errors.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from iterdeploy.simulator.planning import (
    GeneratorParamError,
    domain_path,
    generate_sized,
    load_task,
    registry_name,
    validate_plan,
)
from iterdeploy.simulator.planning.generators import GENERATORS, UnknownDomainError, domain_names, domain_spec
from iterdeploy.simulator.registry import UnknownNameError

DOMAINS = GENERATORS.names()


@pytest.mark.parametrize("domain", DOMAINS)
def test_entry_is_named_consistently_and_ships_its_domain_file(domain: str) -> None:
    spec = GENERATORS[domain]
    assert spec.name == domain  # the registration name is the generator's own
    assert domain_spec(domain) is spec and domain in domain_names()
    assert domain_path(domain).is_file()
    assert spec.params, f"{domain}: a generator has at least its main size parameter"


@pytest.mark.parametrize("domain", DOMAINS)
@pytest.mark.parametrize("seed", [0, 1])
def test_smallest_task_validates_its_witness_and_round_trips(domain: str, seed: int, tmp_path: Path) -> None:
    main = GENERATORS[domain].params[0]
    generated = generate_sized(domain, main.low, np.random.default_rng(seed))
    task = generated.task
    assert generated.domain == domain and dict(generated.params)[main.name] == main.low
    assert registry_name(task.domain) == domain
    assert not task.goal_reached(task.init), "a generated task is never solved already"

    verdict = validate_plan(task, "\n".join(generated.witness_plan))
    assert verdict.is_valid, f"{domain}: witness invalid on the generated task: {verdict.message}"

    path = tmp_path / "problem.pddl"
    path.write_text(generated.problem_pddl)
    loaded = load_task(domain_path(domain), path)
    assert (loaded.init, loaded.goal) == (task.init, task.goal)
    assert frozenset(loaded.objects) == frozenset(task.objects) and loaded.schemas == task.schemas
    verdict = validate_plan(loaded, "\n".join(generated.witness_plan))
    assert verdict.is_valid, f"{domain}: witness invalid on the PDDL read back: {verdict.message}"


def test_an_unknown_domain_names_the_registry_the_closest_and_the_known_ones() -> None:
    with pytest.raises(UnknownDomainError) as caught:
        domain_spec("rover")
    err = caught.value
    assert isinstance(err, GeneratorParamError) and isinstance(err, UnknownNameError)
    assert isinstance(err, ValueError) and isinstance(err, KeyError)
    assert (err.kind, err.name, err.close[0], err.known) == ("domain", "rover", "rovers", DOMAINS)
    assert str(err).startswith("unknown domain 'rover'; did you mean 'rovers'? (known domains: blocksworld, ")
    assert GENERATORS.get("rover") is None and "rover" not in GENERATORS
