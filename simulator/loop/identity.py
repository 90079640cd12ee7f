"""Is a stored run the scenario asked for? Resume, extension and refusal decide on this.

The stored scenario is read through today's schema, so upgrading iterdeploy does not make a
half-finished run look like another scenario; a refusal names the settings that differ.
"""

from __future__ import annotations

import json

from iterdeploy.simulator.scenario import ScenarioSpec


def same_scenario(stored_json: str, spec: ScenarioSpec) -> bool:
    """Whether a stored resolved scenario is ``spec``, read through today's schema: a field added
    since the run was written takes its default on both sides (a stored key the schema no longer
    knows makes it another scenario)."""
    if stored_json == spec.to_json():
        return True
    try:
        return ScenarioSpec.model_validate(json.loads(stored_json)).to_json() == spec.to_json()
    except (ValueError, TypeError):
        return False


def _flat(value: object, prefix: str = "") -> dict[str, object]:
    """Nested settings as ``{"a.b.c": value}``."""
    if isinstance(value, dict):
        out: dict[str, object] = {}
        for k, v in value.items():
            out |= _flat(v, f"{prefix}{k}.")
        return out
    return {prefix[:-1]: value}


def scenario_differences(stored_json: str, spec: ScenarioSpec, most: int = 4) -> str:
    """What differs between a stored scenario and ``spec``, as ``key.path: old → new`` (the
    first ``most``), so a refused resume says which setting changed."""
    try:
        old = _flat(json.loads(stored_json))
    except ValueError:
        return "the stored scenario is unreadable"
    new = _flat(json.loads(spec.to_json()))
    changed = [f"{k}: {old.get(k, '(absent)')} → {new.get(k, '(absent)')}"
               for k in sorted(old.keys() | new.keys()) if old.get(k) != new.get(k)]
    more = f", and {len(changed) - most} more" if len(changed) > most else ""
    return "; ".join(changed[:most]) + more


def generations_apart(stored_json: str, spec: ScenarioSpec) -> int | None:
    """The stored run's number of generations when it is ``spec`` but for that number (the
    run can then be extended), else None."""
    try:
        stored = ScenarioSpec.model_validate(json.loads(stored_json))
    except (ValueError, TypeError):
        return None
    same = stored.model_copy(update={"generations": spec.generations}).to_json() == spec.to_json()
    return stored.generations if same else None
