"""The calibration suite file: which scenarios, which seeds, and the truth each one plants.

A suite is data (YAML, validated on load, like a scenario). Each case names a scenario file and
says what a correct auditor should find there:

* ``follows_declared: true`` (a null case): users do exactly what the operator declared, so every
  medium or high finding on it is a false alarm;
* ``planted``: a user group whose curation departs from the declaration, and the direction of the
  departure on each *concept* it touches (``validity``, ``length``, ``action:<name>``), e.g.
  ``{group: long_plan_fans, signs: {length: 1}}``: that group keeps longer plans than declared;
* ``drift``: the generation from which a group's policy changed, and in which direction, for the
  auditors of reward drift.

Concepts rather than feature names, because each auditor measures a concept with its own features
(the white-box auditors: plan length above the task's best valid plan; the black-box auditor: valid
plan length above the optimum) and says which in its findings' ``claims``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from iterdeploy.simulator.errors import IterdeployError, ScenarioError
from iterdeploy.simulator.scenario_yaml import load_yaml_file

CONCEPT = re.compile(r"^(validity|length|action:[a-z][a-z0-9_-]*)$")
"""What a planted preference can be about."""

class SuiteError(IterdeployError, ValueError):
    """A suite file that cannot be used; the message names the file and the key."""


class _Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


Sign = Literal[-1, 1]


def _check_concepts(signs: dict[str, int]) -> dict[str, int]:
    bad = [c for c in signs if not CONCEPT.match(c)]
    if bad:
        raise ValueError(f"unknown concept(s) {bad}; use validity, length or action:<name>")
    if not signs:
        raise ValueError("signs: name at least one concept and its direction (1 or -1)")
    return signs


class Planted(_Spec):
    """A group whose curation departs from the declared objective, and in which direction."""

    group: str
    """The user group (the scenario's ``users[].name``) that holds the preference."""
    signs: dict[str, Sign]
    """Concept → direction of the departure: 1 = keeps more of it than declared, -1 = less."""

    _concepts = field_validator("signs")(_check_concepts)


class Drift(_Spec):
    """A known change of a group's curation during the run."""

    generation: int = Field(ge=1)
    """First generation whose deployment traces were curated under the changed policy."""
    group: str
    """The group whose policy changed."""
    signs: dict[str, Sign]
    """Concept → direction in which the reward moved at that generation."""

    _concepts = field_validator("signs")(_check_concepts)


class Case(_Spec):
    """One scenario of the suite with its truth."""

    scenario: Path
    """Scenario file, relative to the suite file."""
    follows_declared: bool = False
    """A null case: users follow the declared objective, so any medium or high finding is a false
    alarm. (Not called ``null``: YAML reads that key as nothing.)"""
    planted: tuple[Planted, ...] = ()
    """Preferences that depart from the declared objective."""
    drift: Drift | None = None
    """A change of policy during the run."""
    note: str = ""
    """What a reader should know to read this case's scores (printed under its rows; words, never
    numbers: the numbers come from the runs)."""
    overrides: dict[str, Any] = Field(default_factory=dict)
    """``--set`` overrides for this case only, applied after the suite's (e.g. the quickstart
    calibrated on new tasks every generation while its own file deploys on a fixed pool)."""

    @model_validator(mode="after")
    def _one_truth(self) -> Case:
        if self.follows_declared and (self.planted or self.drift):
            raise ValueError("a null case plants nothing: drop planted/drift or follows_declared")
        if not self.follows_declared and not self.planted:
            raise ValueError("say what the case plants (planted: ...) or mark it follows_declared: true")
        return self

    @property
    def null(self) -> bool:
        """True for a null case."""
        return self.follows_declared


class Suite(_Spec):
    """A calibration suite."""

    name: str = "calibration"
    """Name shown in the report."""
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    """Seeds every case runs with."""
    overrides: dict[str, Any] = Field(default_factory=dict)
    """``--set`` overrides applied to every case (the calibration scale: generations, sizes)."""
    n_bootstrap: int = Field(200, ge=0, le=10_000)
    """Bootstrap resamples the auditors use."""
    cases: tuple[Case, ...]
    """The scenarios and their truth."""

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, seeds: tuple[int, ...]) -> tuple[int, ...]:
        if not seeds:
            raise ValueError("give at least one seed")
        if len(set(seeds)) != len(seeds):
            raise ValueError(f"seeds repeat: {list(seeds)}")
        if min(seeds) < 0:
            raise ValueError("seeds must be >= 0")
        return seeds


def load_suite(path: str | Path) -> tuple[Suite, Path]:
    """Read and validate a suite file; returns it and the directory its scenario paths are
    relative to.

    Raises:
        SuiteError: For a missing file, bad YAML, an unknown key, a bad value, or a scenario file
            that does not exist, naming the file and the key.
    """
    file = Path(path)
    if not file.is_file():
        raise SuiteError(f"{file}: no such suite file")
    try:
        data = load_yaml_file(file)  # the scenarios' reader: the same refusals, one line each
    except ScenarioError as exc:
        raise SuiteError(str(exc)) from None
    try:
        suite = Suite.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(top level)'}: {e['msg']}" for e in exc.errors()
        )
        raise SuiteError(f"{file}: invalid suite: {problems}") from None
    base = file.parent
    missing = [str(c.scenario) for c in suite.cases if not (base / c.scenario).is_file()]
    if missing:
        raise SuiteError(f"{file}: scenario file(s) not found (relative to {base}): {missing}")
    return suite, base
