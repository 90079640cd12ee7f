"""Simulated users: curation policies, the population, its social graph and dynamics.

A user group = (task distribution, curation policy, weight, node in a social graph). Each task is
brought by one group (drawn by weight); that group's policy decides which of the model's traces are
published. Every decision records the policy's exact keep probability and the population's
acceptance probability A(τ) = Σ_u w_u · a_u(τ), the scenario's ground-truth implicit reward.

Modules, one concern each:

- ``traces``: :class:`CandidateTrace`, :class:`CurationContext`, :class:`Decision`;
- ``stages``: per-trace checks (validity, noisy_validator, complacent, action_bias, adversarial);
- ``selectors``: per-task selection (all, shortest, longest) and the exact keep-probability formula;
- ``policy_spec``: stages + selector as a spec, the named presets, canonical policy names, the
  declared objective as a policy (:func:`declared_policy`);
- ``curation``: :class:`ComposedPolicy`, :class:`ValidityCuration` (``validity-v1``, the paper's),
  :func:`make_policy`, :data:`POLICIES`;
- ``spec``: the YAML schema of ``users:`` and ``dynamics:``;
- ``group`` / ``population``: :class:`UserGroup` (one member), :class:`Population`,
  :class:`PopulationDecision`;
- ``graph`` / ``dynamics``: the social graph and what happens on it between generations.

A scenario's ``declared_objective`` is a policy too: :func:`declared_policy` reads it (a name,
``none``, or a policy mapping) from the scenario or the run store.

YAML (full reference with every parameter and the exact keep probabilities: ``docs/users.md``)::

    users:
      - name: validators
        weight: 0.95
        policy: validity                  # a bare name = that preset with defaults
        tasks: {blocksworld: {min: 3, max: 8}}
      - name: sloppy
        weight: 0.5
        count: 10                         # ten members sloppy-0..sloppy-9, weight split evenly
        policy: {noisy_validator: {false_accept: 0.2}}   # preset + parameters of its main stage
      - name: trolls
        weight: 0.05
        policy: {stages: [{adversarial: {rate: 0.3}}], select: all}   # full form
    dynamics:
      graph: {kind: two_cluster, p_in: 0.5, p_out: 0.0}  # complete | two_cluster | erdos_renyi
                                                         # | small_world | empty
      influence: {kind: degroot, self_weight: 0.5}       # none | degroot | threshold
      churn: {leave: 0.05, join: 0.05}                   # joiners copy a random group or `template`
      schedule:                                          # planted changes, applied after churn
        - {generation: 2, group: sloppy, policy: longest}
"""

from iterdeploy.simulator.users.curation import (
    POLICIES,
    ComposedPolicy,
    CurationPlan,
    CurationPolicy,
    ValidityCuration,
    make_policy,
)
from iterdeploy.simulator.users.dynamics import describe_population, policy_params, step
from iterdeploy.simulator.users.group import UserGroup
from iterdeploy.simulator.users.policy_spec import (
    NO_OBJECTIVE,
    PRESETS,
    PolicySpec,
    declared_policy,
    describe_policy,
    policy_name,
)
from iterdeploy.simulator.users.population import Population, PopulationDecision, TaskRequest
from iterdeploy.simulator.users.selectors import Selector
from iterdeploy.simulator.users.spec import (
    ChurnSpec,
    DomainTasks,
    DynamicsSpec,
    GraphSpec,
    InfluenceSpec,
    PopulationSpec,
    ScheduledChange,
    TaskDistributionSpec,
    UserGroupSpec,
)
from iterdeploy.simulator.users.stages import (
    STAGES,
    ActionBiasStage,
    AdversarialStage,
    ComplacentStage,
    NoisyValidatorStage,
    Outcome,
    Stage,
    StageSpec,
    ValidityStage,
)
from iterdeploy.simulator.users.traces import CandidateTrace, CurationContext, Decision, parse_actions

__all__ = [
    "NO_OBJECTIVE",
    "POLICIES",
    "PRESETS",
    "STAGES",
    "ActionBiasStage",
    "AdversarialStage",
    "CandidateTrace",
    "ChurnSpec",
    "ComplacentStage",
    "ComposedPolicy",
    "CurationContext",
    "CurationPlan",
    "CurationPolicy",
    "Decision",
    "DomainTasks",
    "DynamicsSpec",
    "GraphSpec",
    "InfluenceSpec",
    "NoisyValidatorStage",
    "Outcome",
    "PolicySpec",
    "Population",
    "PopulationDecision",
    "PopulationSpec",
    "ScheduledChange",
    "Selector",
    "Stage",
    "StageSpec",
    "TaskDistributionSpec",
    "TaskRequest",
    "UserGroup",
    "UserGroupSpec",
    "ValidityCuration",
    "ValidityStage",
    "declared_policy",
    "describe_policy",
    "describe_population",
    "make_policy",
    "parse_actions",
    "policy_name",
    "policy_params",
    "step",
]
