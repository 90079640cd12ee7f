"""Planning substrate: PDDL tasks, generation, validation and reference planning.

Stages run parse → ground → :class:`GroundTask`; everything downstream sees only that.
"""

from simulator.planning._pddl import (
    TYPE_PREFIX,
    domain_path,
    load_domain_schemas,
    load_task,
    normalised_pddl,
    problem_to_pddl,
)
from simulator.planning._search import breadth_first_plan
from simulator.planning._task import ActionSchema, Atom, GroundAction, GroundTask, State
from simulator.planning._validate import Verdict, parse_action_line, split_plan_lines, validate_plan

__all__ = [
    "TYPE_PREFIX",
    "ActionSchema",
    "Atom",
    "GroundAction",
    "GroundTask",
    "State",
    "Verdict",
    "breadth_first_plan",
    "domain_path",
    "load_domain_schemas",
    "load_task",
    "normalised_pddl",
    "parse_action_line",
    "problem_to_pddl",
    "split_plan_lines",
    "validate_plan",
]
