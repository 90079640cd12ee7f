"""Planning substrate: PDDL tasks, generation, validation and reference planning.

Stages run parse → ground → :class:`GroundTask`; everything downstream sees only that. Task
generators for the ten IPC-2023 learning-track domains sit behind one registry
(:func:`generate`); the reference planner is Fast Downward in a subprocess
(:func:`fast_downward_plan`), its plans validated before they are trusted.

The names below are imported on first use (PEP 562), so that ``iterdeploy validate``, which needs
the reader and the validator only, does not import numpy and the ten generators with them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from iterdeploy.simulator.planning._fast_downward import (
        PlannerResult,
        PlannerStatus,
        fast_downward_plan,
        find_fast_downward,
        optimal_length,
        plan_task,
    )
    from iterdeploy.simulator.planning._pddl import (
        TYPE_PREFIX,
        build_task,
        domain_constants,
        domain_path,
        load_domain_schemas,
        load_stored_task,
        load_task,
        normalised_pddl,
        problem_to_pddl,
        shipped_domain_constants,
    )
    from iterdeploy.simulator.planning._search import breadth_first_plan
    from iterdeploy.simulator.planning._task import ActionSchema, Atom, GroundAction, GroundTask, State
    from iterdeploy.simulator.planning._validate import Verdict, validate_plan
    from iterdeploy.simulator.planning.generators import (
        DomainSpec,
        GeneratedTask,
        GeneratorParamError,
        ParamSpec,
        count_distinct_tasks,
        describe_generators,
        domain_names,
        domain_spec,
        generate,
        generate_sized,
        generate_tasks,
        main_param,
        registry_name,
        resolve_params,
        tag_optimal_length,
        task_rng,
    )
    from iterdeploy.simulator.planning.plan_text import parse_action_line, split_plan_lines

_LAZY: dict[str, str] = {
    "ActionSchema": "iterdeploy.simulator.planning._task",
    "Atom": "iterdeploy.simulator.planning._task",
    "DomainSpec": "iterdeploy.simulator.planning.generators",
    "GeneratedTask": "iterdeploy.simulator.planning.generators",
    "GeneratorParamError": "iterdeploy.simulator.planning.generators",
    "GroundAction": "iterdeploy.simulator.planning._task",
    "GroundTask": "iterdeploy.simulator.planning._task",
    "ParamSpec": "iterdeploy.simulator.planning.generators",
    "PlannerResult": "iterdeploy.simulator.planning._fast_downward",
    "PlannerStatus": "iterdeploy.simulator.planning._fast_downward",
    "State": "iterdeploy.simulator.planning._task",
    "TYPE_PREFIX": "iterdeploy.simulator.planning._pddl",
    "Verdict": "iterdeploy.simulator.planning._validate",
    "breadth_first_plan": "iterdeploy.simulator.planning._search",
    "build_task": "iterdeploy.simulator.planning._pddl",
    "count_distinct_tasks": "iterdeploy.simulator.planning.generators",
    "describe_generators": "iterdeploy.simulator.planning.generators",
    "domain_constants": "iterdeploy.simulator.planning._pddl",
    "domain_names": "iterdeploy.simulator.planning.generators",
    "domain_path": "iterdeploy.simulator.planning._pddl",
    "domain_spec": "iterdeploy.simulator.planning.generators",
    "fast_downward_plan": "iterdeploy.simulator.planning._fast_downward",
    "find_fast_downward": "iterdeploy.simulator.planning._fast_downward",
    "generate": "iterdeploy.simulator.planning.generators",
    "generate_sized": "iterdeploy.simulator.planning.generators",
    "generate_tasks": "iterdeploy.simulator.planning.generators",
    "load_domain_schemas": "iterdeploy.simulator.planning._pddl",
    "load_stored_task": "iterdeploy.simulator.planning._pddl",
    "load_task": "iterdeploy.simulator.planning._pddl",
    "main_param": "iterdeploy.simulator.planning.generators",
    "normalised_pddl": "iterdeploy.simulator.planning._pddl",
    "optimal_length": "iterdeploy.simulator.planning._fast_downward",
    "parse_action_line": "iterdeploy.simulator.planning.plan_text",
    "plan_task": "iterdeploy.simulator.planning._fast_downward",
    "problem_to_pddl": "iterdeploy.simulator.planning._pddl",
    "registry_name": "iterdeploy.simulator.planning.generators",
    "resolve_params": "iterdeploy.simulator.planning.generators",
    "shipped_domain_constants": "iterdeploy.simulator.planning._pddl",
    "split_plan_lines": "iterdeploy.simulator.planning.plan_text",
    "tag_optimal_length": "iterdeploy.simulator.planning.generators",
    "task_rng": "iterdeploy.simulator.planning.generators",
    "validate_plan": "iterdeploy.simulator.planning._validate",
}
"""Public name → the module that defines it."""


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # the next access is an ordinary attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "TYPE_PREFIX",
    "ActionSchema",
    "Atom",
    "DomainSpec",
    "GeneratedTask",
    "GeneratorParamError",
    "GroundAction",
    "GroundTask",
    "ParamSpec",
    "PlannerResult",
    "PlannerStatus",
    "State",
    "Verdict",
    "breadth_first_plan",
    "build_task",
    "count_distinct_tasks",
    "describe_generators",
    "domain_constants",
    "domain_names",
    "domain_path",
    "domain_spec",
    "fast_downward_plan",
    "find_fast_downward",
    "generate",
    "generate_sized",
    "generate_tasks",
    "load_domain_schemas",
    "load_stored_task",
    "load_task",
    "main_param",
    "normalised_pddl",
    "optimal_length",
    "parse_action_line",
    "plan_task",
    "problem_to_pddl",
    "registry_name",
    "resolve_params",
    "shipped_domain_constants",
    "split_plan_lines",
    "tag_optimal_length",
    "task_rng",
    "validate_plan",
]
