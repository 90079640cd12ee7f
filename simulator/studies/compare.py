"""Results across runs: each generation's summary numbers as mean and spread over seeds.

A study runs one scenario under several seeds (``iterdeploy run --seeds``), and often several
scenarios. :func:`compare_runs` reads every run's per-generation rows with
:func:`iterdeploy.simulator.store.summarize` (the numbers ``iterdeploy summary`` prints, defined once there),
groups the runs by scenario and gives, per group, generation and quantity, the mean, the sample
standard deviation, the minimum and maximum and a 95% Student-t interval for the mean
(:func:`spread`). ``iterdeploy compare`` prints it; a dashboard can build on the same objects.

**Which runs are one scenario.** Runs are grouped by the scenario each one stored, read through
today's :class:`~iterdeploy.simulator.scenario.ScenarioSpec` (so a field added since a run was written takes
its default and does not split a group) with its ``seed`` and ``generations`` left out: the seeds
of a scenario, and a run extended to more generations, are one group. Runs made with different
settings under the same name (``--set pool.mode=replace`` on the quickstart) are separate groups;
the first keeps the scenario's name as its label, and each other one is labelled with the settings
in which it differs from the first (``quickstart [pool.mode="replace"]``), so an ablation is never
averaged into the seeds it is compared with.

**Unfinished runs.** A run whose status is not ``completed`` (interrupted, still running,
cancelled, ended in an error) contributes every generation it committed and is flagged
(:attr:`ComparedRun.flagged`); each generation says how many runs, and which seeds, it averages
(:attr:`GenerationStats.seeds`), so a late generation that fewer runs reached is visible as such.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from iterdeploy.simulator.errors import IterdeployError
from iterdeploy.simulator.store import SIZE_FIELDS, GenerationSummary, RunReader, ShownStatus, summarize

INTERVAL = "95% Student-t interval for the mean over runs (mean ± t(0.975, n-1)·sd/√n); none for n < 2"
"""What :attr:`Spread.ci95_low` and :attr:`Spread.ci95_high` are."""

IGNORED_SETTINGS = ("seed", "generations")
"""Scenario settings that do not make runs different scenarios: the seed (the point of a study
across seeds) and the number of generations (a run extended to more is the same study)."""


class Spread(BaseModel):
    """One quantity of one generation over the runs of a group."""

    model_config = ConfigDict(frozen=True)

    n: int
    """Runs with a value (a run that has not reached the generation, or wrote no valid plan for a
    plan-length quantity, has none)."""
    mean: float | None
    sd: float | None
    """Sample standard deviation (n - 1 in the denominator); None for fewer than two values."""
    min: float | None
    max: float | None
    ci95_low: float | None
    """Lower end of the 95% Student-t interval for the mean (:data:`INTERVAL`)."""
    ci95_high: float | None
    values: list[float | None]
    """Each run's value, in the order of :attr:`ScenarioGroup.runs` (None: no value)."""


class ComparedRun(BaseModel):
    """One run of a comparison and where it stands."""

    model_config = ConfigDict(frozen=True)

    run_dir: str
    run_id: str
    name: str
    """The scenario name the run stored."""
    seed: int
    status: ShownStatus
    """As ``iterdeploy summary`` reports it (``interrupted`` for a writer that died)."""
    last_generation: int | None
    """The last committed generation (None before the first commit)."""
    planned_generations: int | None
    """The scenario's fine-tuned generations: a finished run has generations 0 to this."""
    flagged: bool
    """True when the run is not ``completed``: it counts with what it committed so far."""


class GenerationStats(BaseModel):
    """One generation of a group: every quantity as a :class:`Spread`."""

    model_config = ConfigDict(frozen=True)

    generation: int
    n_runs: int
    """Runs that committed this generation."""
    seeds: list[int]
    """Their seeds, in run order."""
    quantities: dict[str, Spread]
    """Quantity name (a :class:`~iterdeploy.simulator.store.GenerationSummary` field, or
    ``solved_by_domain.rovers`` style names for the per-domain counts of a multi-domain group)
    → its spread."""


class ScenarioGroup(BaseModel):
    """The runs of one scenario (its seeds) and their per-generation statistics."""

    model_config = ConfigDict(frozen=True)

    label: str
    """The scenario name, with the differing settings for a second group of the same name."""
    name: str
    differs: dict[str, Any]
    """Settings (``key.path`` → value) in which this group differs from the first group of the
    same name; empty for that first group."""
    fixed_pool: bool
    """``deploy.pool: fixed`` (the paper's protocol): deploy counts are on the same pool in every
    generation, and the evaluation pool is the held-out check."""
    runs: list[ComparedRun]
    quantities: list[str]
    """The quantity names, in table order."""
    generations: list[GenerationStats]


class Comparison(BaseModel):
    """Every group of a comparison, in the order their first run was given."""

    model_config = ConfigDict(frozen=True)

    interval: str = INTERVAL
    groups: list[ScenarioGroup]


def spread(values: Sequence[float | None]) -> Spread:
    """Mean, sample standard deviation, range and 95% t interval of the values that are not None.

    Examples:
        >>> s = spread([13, 15, 22, None])
        >>> (s.n, s.mean, s.min, s.max, round(s.sd, 3))
        (3, 16.6667, 13.0, 22.0, 4.726)
    """
    present = [float(v) for v in values if v is not None]
    n = len(present)
    if n == 0:
        return Spread(n=0, mean=None, sd=None, min=None, max=None, ci95_low=None, ci95_high=None,
                      values=list(values))
    mean = statistics.fmean(present)
    sd = low = high = None
    if n >= 2:
        from scipy.stats import t as student_t

        sd = statistics.stdev(present)
        half = float(student_t.ppf(0.975, n - 1)) * sd / math.sqrt(n)
        low, high = _round(mean - half), _round(mean + half)
    return Spread(n=n, mean=_round(mean), sd=None if sd is None else _round(sd), min=min(present),
                  max=max(present), ci95_low=low, ci95_high=high,
                  values=[None if v is None else float(v) for v in values])


def _round(x: float) -> float:
    return round(x, 4)


class RunRows(BaseModel):
    """A run as read: what the comparison says of it, its scenario and its summary rows."""

    run: ComparedRun
    scenario: dict[str, Any]
    rows: list[GenerationSummary]


def compare_runs(run_dirs: Sequence[str | Path]) -> Comparison:
    """Read every run in ``run_dirs`` (read-only) and compare them (:func:`compare_summaries`).

    Raises:
        IterdeployError: When no run is given, or one run is given twice (the same run id, e.g. a
            copy of a run directory: it would count twice in every mean).
        StoreError: When a path is not a run directory, holds no run yet, or its store is damaged
            or unreadable (the message names it).
    """
    if not run_dirs:
        raise IterdeployError("no run directories given; pass the directories `iterdeploy run` "
                              "wrote, e.g. runs/quickstart-seed0 runs/quickstart-seed1")
    read: list[RunRows] = []
    seen: dict[str, str] = {}
    for run_dir in run_dirs:
        with RunReader(run_dir) as reader:
            row = reader.run()
            if row.run_id in seen:
                raise IterdeployError(
                    f"{run_dir} and {seen[row.run_id]} are the same run (run id {row.run_id}); "
                    "a copied run directory would count twice in every mean: pass each run once")
            seen[row.run_id] = str(run_dir)
            scenario = reader.scenario()
            planned = scenario.get("generations")
            status = reader.run_status()
            run = ComparedRun(
                run_dir=str(run_dir), run_id=row.run_id, name=row.name, seed=row.seed,
                status=status, last_generation=reader.last_generation(),
                planned_generations=planned if isinstance(planned, int) else None,
                flagged=status != "completed")
            read.append(RunRows(run=run, scenario=scenario, rows=summarize(reader)))
    return compare_summaries(read)


def compare_summaries(runs: Sequence[RunRows]) -> Comparison:
    """Group runs by scenario and compute every generation's spreads (see the module's text)."""
    by_key: dict[str, list[RunRows]] = {}
    identities: dict[str, dict[str, Any]] = {}
    for r in runs:
        identity = _identity(r.scenario)
        key = json.dumps(identity, sort_keys=True, default=str)
        by_key.setdefault(key, []).append(r)
        identities.setdefault(key, identity)
    first_of_name: dict[str, dict[str, Any]] = {}
    groups = []
    for key, members in by_key.items():
        identity = identities[key]
        name = members[0].run.name
        differs = _differences(first_of_name.setdefault(name, identity), identity)
        groups.append(_group(name, differs, identity, members))
    return Comparison(groups=groups)


def _identity(scenario: dict[str, Any]) -> dict[str, Any]:
    """The scenario as today's schema resolves it, without the settings a study varies."""
    try:
        from iterdeploy.simulator.scenario import ScenarioSpec

        resolved: dict[str, Any] = json.loads(ScenarioSpec.model_validate(scenario).to_json())
    except (ValueError, TypeError, IterdeployError):  # a scenario today's schema cannot read
        resolved = dict(scenario)
    for key in IGNORED_SETTINGS:
        resolved.pop(key, None)
    return resolved


def _leaves(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """``(key.path, value)`` for every setting below ``value`` (lists are one value)."""
    if isinstance(value, dict) and value:
        for k in sorted(value):
            yield from _leaves(value[k], f"{prefix}{k}.")
    else:
        yield prefix.rstrip("."), value


def _differences(first: dict[str, Any], other: dict[str, Any]) -> dict[str, Any]:
    a, b = dict(_leaves(first)), dict(_leaves(other))
    return {k: b.get(k) for k in sorted(a.keys() | b.keys()) if a.get(k) != b.get(k)}


def _label(name: str, differs: dict[str, Any], most: int = 3) -> str:
    if not differs:
        return name
    parts = []
    for key, value in list(differs.items())[:most]:
        text = json.dumps(value, default=str)
        parts.append(f"{key}={text}" if len(text) <= 24 else f"other {key}")
    if len(differs) > most:
        parts.append(f"+{len(differs) - most} more")
    return f"{name} [{', '.join(parts)}]"


def _quantities(rows: Sequence[GenerationSummary]) -> list[str]:
    """The numeric summary fields, then (for runs over several domains) the per-domain ones,
    the sizes read per domain only."""
    names = [f for f, info in GenerationSummary.model_fields.items()
             if f != "generation" and not str(info.annotation).startswith("dict")]
    domains = sorted({d for r in rows for d in r.evaluated_by_domain})
    if len(domains) > 1:
        names = [n for n in names if n not in SIZE_FIELDS]
        names += [f"{f}.{d}" for f, info in GenerationSummary.model_fields.items()
                  if str(info.annotation).startswith("dict") for d in domains]
    return names


def _value(row: GenerationSummary, quantity: str) -> float | None:
    field, _, domain = quantity.partition(".")
    value = getattr(row, field)
    if domain:
        value = value.get(domain, None if field in SIZE_FIELDS.values() else 0)
    return None if value is None else float(value)


def _group(name: str, differs: dict[str, Any], identity: dict[str, Any],
           members: list[RunRows]) -> ScenarioGroup:
    members = sorted(members, key=lambda r: (r.run.seed, r.run.run_dir))
    quantities = _quantities([row for m in members for row in m.rows])
    by_generation = [{row.generation: row for row in m.rows} for m in members]
    generations = []
    for g in sorted({g for rows in by_generation for g in rows}):
        present = [rows.get(g) for rows in by_generation]
        generations.append(GenerationStats(
            generation=g, n_runs=sum(row is not None for row in present),
            seeds=[m.run.seed for m, row in zip(members, present, strict=True) if row is not None],
            quantities={q: spread([None if row is None else _value(row, q) for row in present])
                        for q in quantities}))
    deploy = identity.get("deploy")
    return ScenarioGroup(
        label=_label(name, differs), name=name, differs=differs,
        fixed_pool=isinstance(deploy, dict) and deploy.get("pool") == "fixed",
        runs=[m.run for m in members], quantities=quantities, generations=generations)
