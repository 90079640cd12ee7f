"""Seeded task generators for the ten IPC-2023 learning-track domains, in one registry.

``generate(domain, params, rng)`` is the one entry point: it resolves and range-checks the
parameters (unknown names and out-of-range values are errors that name the domain and the
parameter), builds the task from ``rng`` alone, replays the domain's witness plan to prove the task
solvable, and renders the PDDL problem for the shipped domain file. Each domain module states how
its tasks mirror the IPC-2023 generators (object names, types, predicate usage) and why they are
solvable.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import re
import zlib
from collections.abc import Iterator, Mapping

import numpy as np

from iterdeploy.simulator.planning._fast_downward import optimal_length
from iterdeploy.simulator.planning._pddl import domain_path, problem_to_pddl, shipped_domain_constants
from iterdeploy.simulator.planning.generators import (
    blocksworld,
    childsnack,
    ferry,
    floortile,
    miconic,
    rovers,
    satellite,
    sokoban,
    spanner,
    transport,
)
from iterdeploy.simulator.planning.generators._spec import (
    DomainSpec,
    GeneratedTask,
    GeneratorParamError,
    ParamSpec,
    PlanBuilder,
    UnknownDomainError,
)
from iterdeploy.simulator.registry import Registry

GENERATORS: Registry[DomainSpec] = Registry("domain", error=UnknownDomainError)
"""Registry name → generator, in alphabetical order: one line per domain."""
GENERATORS.register("blocksworld", blocksworld.SPEC)
GENERATORS.register("childsnack", childsnack.SPEC)
GENERATORS.register("ferry", ferry.SPEC)
GENERATORS.register("floortile", floortile.SPEC)
GENERATORS.register("miconic", miconic.SPEC)
GENERATORS.register("rovers", rovers.SPEC)
GENERATORS.register("satellite", satellite.SPEC)
GENERATORS.register("sokoban", sokoban.SPEC)
GENERATORS.register("spanner", spanner.SPEC)
GENERATORS.register("transport", transport.SPEC)

__all__ = [
    "GENERATORS",
    "DomainSpec",
    "GeneratedTask",
    "GeneratorParamError",
    "ParamSpec",
    "PlanBuilder",
    "UnknownDomainError",
    "count_distinct_tasks",
    "describe_generators",
    "domain_names",
    "domain_spec",
    "generate",
    "generate_sized",
    "generate_tasks",
    "main_param",
    "registry_name",
    "resolve_params",
    "tag_optimal_length",
    "task_rng",
]


def domain_names() -> tuple[str, ...]:
    """Names of the registered generators (``blocksworld`` ... ``transport``)."""
    return GENERATORS.names()


def _did_you_mean(word: str, options: list[str]) -> str:
    close = difflib.get_close_matches(word, options, n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def domain_spec(domain: str) -> DomainSpec:
    """The generator registered as ``domain``.

    Raises:
        UnknownDomainError: (a :class:`GeneratorParamError`) naming the unknown domain, the
            closest and the known ones.
    """
    return GENERATORS[domain]


def resolve_params(domain: str, params: Mapping[str, int] | None = None) -> dict[str, int]:
    """All parameters of ``domain``: the given ones checked, the rest filled with their defaults.

    Raises:
        GeneratorParamError: for an unknown domain or parameter, a value that is not an integer or
            is out of range, or values that contradict each other (the message names them).
    """
    spec = domain_spec(domain)
    given = dict(params or {})
    names = [p.name for p in spec.params]
    for key in given:
        if key not in names:
            raise GeneratorParamError(
                f"{domain}: unknown parameter {key!r}{_did_you_mean(key, names)} "
                f"Parameters: {', '.join(names)}"
            )
    resolved: dict[str, int] = {}
    for param in spec.params:
        if param.name not in given:
            resolved[param.name] = param.default_for(resolved)
            continue
        value = given[param.name]
        if isinstance(value, bool) or not isinstance(value, int | np.integer):
            raise GeneratorParamError(f"{domain}: {param.name}={value!r} is not an integer")
        if not param.low <= value <= param.high:
            raise GeneratorParamError(
                f"{domain}: {param.name}={value} is out of range; expected "
                f"{param.low} <= {param.name} <= {param.high}"
            )
        resolved[param.name] = int(value)
    problem = spec.check(resolved)
    if problem:
        raise GeneratorParamError(f"{domain}: {problem}")
    return resolved


def generate(
    domain: str,
    params: Mapping[str, int] | None,
    rng: np.random.Generator,
    *,
    name: str | None = None,
) -> GeneratedTask:
    """A random solvable task of ``domain`` with the given size parameters.

    Args:
        domain: registry name (see :func:`domain_names`).
        params: size parameters; missing ones take their defaults (see :func:`describe_generators`).
        rng: the generator all randomness comes from (same state, same task).
        name: problem name; defaults to one derived from the parameters.

    Returns:
        The task tagged with its parameters, its PDDL problem text and a witness plan.

    Raises:
        GeneratorParamError: for an unknown domain, unknown parameters or out-of-range values.
    """
    spec = domain_spec(domain)
    resolved = resolve_params(domain, params)
    task, witness = spec.build(dict(resolved), rng, name)
    builder = PlanBuilder(task)
    witness(builder)
    if not task.goal_reached(builder.state):  # a generator bug, never a user error
        raise RuntimeError(f"{domain} {resolved}: the witness plan does not reach the goal")
    text = problem_to_pddl(task, constants=shipped_domain_constants(domain))
    return GeneratedTask(domain, task, text, resolved, tuple(builder.actions))


def main_param(domain: str) -> str:
    """The name of ``domain``'s main size parameter (its first: ``n_blocks``, ``n_rovers``, ...)."""
    return domain_spec(domain).params[0].name


def generate_sized(
    domain: str, size: int, rng: np.random.Generator, *, name: str | None = None,
    params: Mapping[str, int] | None = None,
) -> GeneratedTask:
    """A task of ``domain`` whose main size parameter is ``size`` (the others at their defaults,
    which follow the main size): what a scenario's ``{min, max}`` size range per domain means.
    ``params`` fixes some of the others (a pretraining corpus's ``params``)."""
    return generate(domain, {**(params or {}), main_param(domain): size}, rng, name=name)


@functools.cache
def _pddl_names() -> dict[str, str]:
    names = {}
    for registered in GENERATORS:
        text = domain_path(registered).read_text(encoding="utf-8")
        match = re.search(r"\(\s*domain\s+([^\s()]+)", text, re.IGNORECASE)
        if match is None:  # a shipped file without a name is a packaging bug
            raise RuntimeError(f"{domain_path(registered)}: no (domain ...) name")
        names[match.group(1).lower()] = registered
    return names


def registry_name(pddl_domain: str) -> str:
    """The registry name of a task's PDDL domain (``rover`` → ``rovers``; most are equal).

    A :class:`GroundTask` carries the name its domain file declares, which the problem file must
    repeat; scenarios, the run store and the generators speak of the registry name.

    Raises:
        GeneratorParamError: for a domain no shipped file declares.
    """
    key = pddl_domain.lower()
    if key in GENERATORS:
        return key
    try:
        return _pddl_names()[key]
    except KeyError:
        raise GeneratorParamError(
            f"no shipped domain declares the name {pddl_domain!r}; domains: {', '.join(GENERATORS)}"
        ) from None


def count_distinct_tasks(domain: str, size: int) -> int | None:
    """How many distinct tasks :func:`generate_sized` can return for ``domain`` at main size
    ``size`` (tasks differ when their initial state or goal does), or None where that is not
    cheap to count exactly (every domain but Blocksworld). The deployment loop never repeats a
    task, so this bounds the tasks a size range can supply.

    Raises:
        GeneratorParamError: For an unknown domain or a size out of the generator's range.
    """
    spec = domain_spec(domain)
    if spec.count is None:
        return None
    return spec.count(resolve_params(domain, {main_param(domain): size}))


def task_rng(seed: int, domain: str, index: int) -> np.random.Generator:
    """The generator of task ``index`` in a seeded batch: stable per (seed, domain, index), so
    task 3 is the same whether 5 or 500 tasks are drawn."""
    return np.random.default_rng(np.random.SeedSequence([seed, zlib.crc32(domain.encode()), index]))


def generate_tasks(
    domain: str, params: Mapping[str, int] | None, *, seed: int, n: int
) -> Iterator[GeneratedTask]:
    """``n`` tasks named ``<domain>-001`` ..., task i drawn from :func:`task_rng` ``(seed, domain, i)``."""
    resolve_params(domain, params)  # fail before the first task, not after
    for i in range(n):
        yield generate(domain, params, task_rng(seed, domain, i), name=f"{domain}-{i + 1:03d}")


def tag_optimal_length(generated: GeneratedTask, *, time_limit_s: float = 5.0) -> GeneratedTask:
    """``generated`` with ``task.optimal_length`` set when a planner proves it within the limit
    (breadth-first search for tiny tasks, else Fast Downward's optimal configuration); unchanged
    when none does or no planner is installed."""
    length = optimal_length(generated.task, generated.domain_file, time_limit_s=time_limit_s)
    if length is None:
        return generated
    return dataclasses.replace(generated, task=dataclasses.replace(generated.task, optimal_length=length))


def describe_generators() -> str:
    """Every domain with its parameters, ranges and defaults (the ``tasks --help`` text)."""
    return "\n\n".join(spec.describe() for spec in GENERATORS.values())
