"""Shared plumbing of the users package: the frozen spec base and readable validation errors.

Every user-facing parameter goes through pydantic so that a scenario file fails at load time, with
the dotted path of the offending field (``users.1.policy.stages.0.noisy_validator.false_accept``),
instead of failing generations later inside the loop.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from iterdeploy.simulator.errors import ScenarioError

M = TypeVar("M", bound=BaseModel)


class FrozenSpec(BaseModel):
    """Base of every spec: immutable (specs are shared between populations) and strict about keys
    (a misspelt parameter must be an error, not a silently ignored default)."""

    model_config = ConfigDict(frozen=True, extra="forbid")


def describe_validation_error(err: ValidationError, where: str = "") -> str:
    """One line per problem, each starting with the dotted path of the field it concerns."""
    lines = []
    for e in err.errors():
        path = ".".join(str(p) for p in (where, *e["loc"]) if str(p) != "")
        lines.append(f"{path or '(top level)'}: {e['msg']}")
    return "; ".join(lines)


def validate_spec(model: type[M], data: Any, where: str = "") -> M:
    """``model.model_validate(data)`` with failures raised as :class:`ScenarioError` naming fields."""
    if isinstance(data, model):
        return data
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise ScenarioError(describe_validation_error(err, where)) from None


def format_value(value: object) -> str:
    """Compact, exact text of a parameter value for policy names (``0.2``, ``unstack``)."""
    if isinstance(value, float):
        return repr(value)
    return str(value)
