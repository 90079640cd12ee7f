"""Planning substrate: PDDL tasks, generation, validation and reference planning.

Stages run parse → ground → :class:`GroundTask`; everything downstream sees only that. Task
generators for the ten IPC-2023 learning-track domains sit behind one registry
(:func:`generate`); the reference planner is Fast Downward in a subprocess
(:func:`fast_downward_plan`), its plans validated before they are trusted.
"""

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
    "split_plan_lines",
    "tag_optimal_length",
    "task_rng",
    "validate_plan",
]
