"""Policy specs: stages plus a selector, the named presets, and canonical policy names.

A policy is written in YAML in one of three ways (all validate into the same :class:`PolicySpec`):

- a preset name: ``validity`` (that preset with its defaults);
- a preset with parameters for its main stage: ``{noisy_validator: {false_accept: 0.2}}``
  (optionally with ``select:`` beside it to change the selector);
- in full: ``{stages: [validity, {action_bias: {action: unstack}}], select: all}``.

The canonical name of a policy is a deterministic function of its behaviour, so that the run store
can record *exactly* what decided: the preset's versioned name (``validity-v1``) when the policy
is a preset with default parameters, the preset's name with its main stage's parameters
(``noisy_validator-v1(false_accept=0.2,false_reject=0.05)``) when only those differ, and otherwise
the stage tokens joined by ``+`` and the selector after ``>``
(``validity-v1+action_bias-v1(action=unstack,direction=avoid,strength=0.5)>all``). Equal names
mean equal behaviour; a change of behaviour bumps a version.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError, model_validator

from iterdeploy.simulator.errors import ScenarioError
from iterdeploy.simulator.registry import Registry, UnknownNameError
from iterdeploy.simulator.users._common import FrozenSpec, format_value, validate_spec
from iterdeploy.simulator.users.selectors import Selector
from iterdeploy.simulator.users.stages import STAGES, Stage, StageSpec, ValidityStage


@dataclass(frozen=True)
class Preset:
    """A named policy: stage kinds, the stage that takes the preset's parameters, a selector."""

    name: str
    stages: tuple[str, ...]
    main: str | None
    select: Selector
    summary: str
    version: int = 1
    """Bumped with any of its stages' versions."""


class UnknownPolicyError(UnknownNameError, ValueError):
    """A curation policy name no preset has (a ``ValueError``, so pydantic reports it in place)."""


PRESETS: Registry[Preset] = Registry("curation policy", plural="curation policies",
                                     error=UnknownPolicyError)
"""Policy name usable in YAML → preset; one line (a :class:`Preset`) each in the tuple below."""
for _preset in (
    Preset("validity", ("validity",), None, "shortest",
           "the paper's: keep valid plans, the shortest per task (ties: fewest tokens, lower id)"),
    Preset("shortest", ("validity",), None, "shortest",
           "alias of validity (same behaviour, so the same name validity-v1)"),
    Preset("longest", ("validity",), None, "longest", "keep the longest valid plan per task"),
    Preset("noisy_validator", ("noisy_validator",), "noisy_validator", "shortest",
           "a fallible validity check, then the shortest per task"),
    Preset("complacent", ("complacent",), "complacent", "shortest",
           "checks less as the model seems to succeed, then the shortest per task"),
    Preset("action_bias", ("validity", "action_bias"), "action_bias", "shortest",
           "valid plans, kept more or less often by an action/object they contain; shortest"),
    Preset("adversarial", ("adversarial",), "adversarial", "all",
           "publishes invalid or pathologically long plans at a rate"),
    Preset("accept_all", (), None, "all", "no curation: everything is published"),
):
    PRESETS.register(_preset.name, _preset)


def _preset_data(name: str, params: Any) -> dict[str, Any]:
    """The full-form input of preset ``name`` with ``params`` given to its main stage."""
    preset = PRESETS[name]  # an unknown name: UnknownPolicyError, a ValueError
    params = {} if params is None else params
    if not isinstance(params, Mapping):
        raise ValueError(f"parameters of policy {name!r} must be a mapping, got {params!r}")
    if params and preset.main is None:
        raise ValueError(f"policy {name!r} takes no parameters, got {sorted(params)}")
    stages = [{"kind": k, **(params if k == preset.main else {})} for k in preset.stages]
    return {"stages": stages, "select": preset.select}


class PolicySpec(FrozenSpec):
    """Stages every kept trace must pass (independently drawn), then a per-task selector.

    The default is the paper's policy: the validity stage and the shortest plan per task.
    """

    stages: tuple[StageSpec, ...] = (ValidityStage(),)
    """Per-trace checks, all of which a trace must pass; empty = no checks."""
    select: Selector = "shortest"
    """``all`` that passed, or the ``shortest`` / ``longest`` one per task."""

    @model_validator(mode="before")
    @classmethod
    def _compact(cls, data: Any) -> Any:
        if isinstance(data, str):
            return _preset_data(data, None)
        if isinstance(data, Mapping):
            keys = set(data)
            named = sorted(k for k in keys if k in PRESETS)
            if named:
                if len(named) > 1 or keys - {named[0], "select"}:
                    raise ValueError(
                        "write a policy as a preset with parameters ({noisy_validator: {false_accept: "
                        f"0.2}}) or as {{stages: [...], select: ...}}, not both; got keys {sorted(keys)}"
                    )
                out = _preset_data(named[0], data[named[0]])
                if "select" in data:
                    out["select"] = data["select"]
                return out
            unknown = keys - {"stages", "select"}
            if unknown and not keys & {"stages", "select"}:
                raise ValueError(f"unknown curation policy {sorted(unknown)}; known: {sorted(PRESETS)}")
        return data


def _is_default(stage: Stage) -> bool:
    """Whether ``stage`` equals its kind with every parameter at its default."""
    try:
        return stage == STAGES[stage.kind].model_validate({})
    except ValidationError:  # a stage with required parameters (action_bias) has no default
        return False


def policy_name(spec: PolicySpec) -> str:
    """The canonical, versioned name of a policy (see the module docstring)."""
    kinds = tuple(s.kind for s in spec.stages)
    for preset in PRESETS.values():
        if preset.stages != kinds or preset.select != spec.select:
            continue
        if not all(_is_default(s) for s in spec.stages if s.kind != preset.main):
            continue
        main = next((s for s in spec.stages if s.kind == preset.main), None)
        suffix = ""
        if main is not None and not _is_default(main):
            suffix = "(" + ",".join(f"{k}={format_value(v)}" for k, v in main.params().items()) + ")"
        return f"{preset.name}-v{preset.version}{suffix}"
    return ("+".join(s.token for s in spec.stages) or "none") + ">" + spec.select


_SELECT_TEXT = {
    "all": "publish every one that passed",
    "shortest": "publish the shortest per task (ties: fewest tokens, lower trace id)",
    "longest": "publish the longest per task (ties: fewest tokens, lower trace id)",
}


def describe_policy(spec: PolicySpec) -> str:
    """One sentence for people, e.g. for the dashboard's legend."""
    if not spec.stages:
        checks = "no checks"
    else:
        checks = "keep a trace that passes " + " and ".join(s.describe() for s in spec.stages)
    return f"{checks}; {_SELECT_TEXT[spec.select]}"


NO_OBJECTIVE = "none"
"""The ``declared_objective`` that declares no curation; it means the same as ``accept_all``."""


def declared_policy(value: str | Mapping[str, Any] | PolicySpec) -> PolicySpec:
    """The policy a scenario's ``declared_objective`` declares, from the scenario file or from the
    run store's ``runs.scenario_json``.

    The declared objective is itself a curation policy (what a user following the declaration
    would keep), so auditors can run it on the same candidates the users saw. Accepted: a preset
    name (``validity``), ``none`` (no curation declared: ``accept_all``), or a mapping in any form
    a user's policy takes (``{noisy_validator: {false_accept: 0.2}}``, ``{stages: [validity],
    select: all}``, or the canonical ``{stages: [{kind: validity}], select: all}`` that the store
    holds). The store keeps a name as the string written (so stores from before mappings were
    allowed read the same) and a mapping as that canonical form.

    Raises:
        ScenarioError: for an unknown name (listing the known ones) or an invalid mapping.
    """
    if isinstance(value, PolicySpec):
        return value
    if isinstance(value, str):
        if value == NO_OBJECTIVE:
            return PolicySpec.model_validate("accept_all")
        if value not in PRESETS:
            raise ScenarioError(
                f"declared_objective: unknown policy {value!r}; known: "
                f"{sorted([*PRESETS, NO_OBJECTIVE])}, or a policy mapping as in users[].policy"
            )
        return PolicySpec.model_validate(value)
    if isinstance(value, Mapping):
        return validate_spec(PolicySpec, value, where="declared_objective")
    raise ScenarioError(
        f"declared_objective: expected a policy name or a policy mapping, got {value!r}"
    )
