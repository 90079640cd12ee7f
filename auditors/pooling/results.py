"""What pooling the audits of several seeds gives: the typed results, and what each number means.

These are the objects ``iterdeploy audit RUN_DIR... --json`` prints and a dashboard or a report
reads. They are frozen pydantic models, so they serialise to JSON with the same field names.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from iterdeploy.simulator.store import ShownStatus
from iterdeploy.simulator.studies import Spread

Recurrence = Literal["every seed", "recurs", "once", "none", "one seed audited"]
"""How often a finding or claim turns up among the seeds whose runs its auditor audited:

* ``every seed``: in all of them (at least two);
* ``recurs``: in at least two, but not all;
* ``once``: in exactly one of several: **not recurring**, read it as a single seed's chance result
  until another seed repeats it;
* ``none``: in none of them (a weight whose interval excludes zero in no seed);
* ``one seed audited``: only one seed was audited by that auditor, so recurrence cannot be told.
"""

Sign = Literal[1, -1]
"""+1: more of the feature or concept (a weight above zero, a drift towards higher values, users
keeping more of it than declared); -1: less."""


def recurrence_of(n_present: int, n_audited: int) -> Recurrence:
    """The :data:`Recurrence` of something present in ``n_present`` of ``n_audited`` seeds.

    Examples:
        >>> [recurrence_of(k, 5) for k in (5, 3, 1, 0)], recurrence_of(1, 1)
        (['every seed', 'recurs', 'once', 'none'], 'one seed audited')
    """
    if not 0 <= n_present <= n_audited:
        raise ValueError(f"present in {n_present} of {n_audited} seeds is impossible")
    if n_audited < 2:
        return "one seed audited"
    if n_present == n_audited:
        return "every seed"
    if n_present == 0:
        return "none"
    return "recurs" if n_present >= 2 else "once"


class PooledRun(BaseModel):
    """One run (one seed) of a pooled scenario."""

    model_config = ConfigDict(frozen=True)

    run_dir: str
    run_id: str
    seed: int
    status: ShownStatus
    """As ``iterdeploy summary`` reports it; an unfinished run pools what its audit found."""
    n_findings: int
    """Findings pooled from this run (each auditor's newest stored version, after ``--only``)."""
    auditors: list[str]
    """The auditors (with versions) whose findings this run holds, sorted."""


class WeightAcrossSeeds(BaseModel):
    """One feature's implicit-reward weight in one generation, across the seeds of a scenario.

    The weight is the implicit-reward auditor's within-task estimate in log-odds of being kept per
    within-task standard deviation of the feature (what ``iterdeploy audit`` prints per run), so
    seeds whose features spread differently are on one scale.
    """

    model_config = ConfigDict(frozen=True)

    auditor: str
    """The implicit-reward auditor's stored name (with version)."""
    generation: int | None
    """The generation fitted; None for the fit over the whole run."""
    feature: str
    n_seeds: int
    """Seeds in the scenario."""
    n_fitted: int
    """Seeds whose fit of this generation succeeded (``fit_status`` ``ok``)."""
    weight: Spread
    """Mean, sample sd, min–max and 95% t interval of the weights over the seeds that have one
    (``weight.n``; a feature constant within every task of a seed has none), and each seed's
    weight in the order of :attr:`PooledScenario.runs` (None: no weight)."""
    n_interval: int
    """Seeds whose weight has a bootstrap interval."""
    n_above_zero: int
    """Seeds whose interval lies entirely above zero: keeping rises with the feature there."""
    n_below_zero: int
    """Seeds whose interval lies entirely below zero."""
    sign: Sign | None
    """The sign every seed with a clear interval agrees on: set when ``n_above_zero`` or
    ``n_below_zero`` is positive and the other is zero; None when no seed is clear or seeds
    disagree."""
    recurrence: Recurrence
    """How often the more frequent clear sign turns up among the :attr:`n_fitted` seeds
    (:data:`Recurrence` of ``max(n_above_zero, n_below_zero)``): a weight clearly above zero in 5
    of 5 seeds is ``every seed``, in 1 of 5 ``once``, in none ``none``."""


class FindingRecurrence(BaseModel):
    """One finding, identified across seeds by its key, and the seeds it turns up in.

    A finding's key is its auditor (with version), kind, generation and the subject its payload
    names (:attr:`subject`): a user group, a drift test's feature, purpose and pair of
    generations, a collapse signal, a task size. Within one run no two findings share a key.
    """

    model_config = ConfigDict(frozen=True)

    auditor: str
    kind: str
    generation: int | None
    """None: about the whole run."""
    subject: str
    """``name=value`` pairs from the finding's numbers (empty for a run's one finding of its
    kind)."""
    n_audited: int
    """Seeds whose run holds findings of this auditor: the denominator of the recurrence."""
    n_present: int
    """Seeds in which this finding turns up (never more than :attr:`n_audited`)."""
    seeds: list[int]
    """Those seeds."""
    severities: dict[str, int]
    """Severity → seeds in which the finding has it (info, low, medium, high)."""
    n_alarm: int
    """Seeds in which it is an alarm (medium or high)."""
    n_up: int
    """Seeds in which the finding states a direction of +1 (``numbers.direction``: 1, or
    ``higher`` for a drift test)."""
    n_down: int
    """Seeds in which it states -1 (or ``lower``)."""
    recurrence: Recurrence
    claim: str
    """The claim of the first seed in which it turns up, as an example of what it says."""


class ClaimRecurrence(BaseModel):
    """One directional claim across seeds: a concept (``validity``, ``length``,
    ``action:<name>``) on which an auditor says the users' curation departs from the declared
    objective, for a user group and generation where the auditor tells them apart.

    Within one seed, one auditor may state the same claim through several features (plan length
    above the best, being the longest): it counts once, with every direction it was stated in.
    """

    model_config = ConfigDict(frozen=True)

    auditor: str
    kind: str
    concept: str
    group: str | None
    """None: the auditor pools the user groups."""
    generation: int | None
    """None: about the whole run."""
    n_audited: int
    """Seeds whose run holds findings of this auditor."""
    n_present: int
    """Seeds in which the claim is made."""
    seeds: list[int]
    n_up: int
    """Seeds in which it is made only with +1 (users keep more of the concept than declared)."""
    n_down: int
    """Seeds in which it is made only with -1."""
    n_mixed: int
    """Seeds in which it is made with both signs (by different features)."""
    sign: Sign | None
    """The sign every seed agrees on; None when seeds (or a seed's features) disagree."""
    severities: dict[str, int]
    """Severity → seeds in which the strongest finding making the claim has it."""
    n_alarm: int
    """Seeds in which it is made by an alarm (a medium or high finding)."""
    features: list[str]
    """The features the claim was read off, over every seed, sorted."""
    recurrence: Recurrence


class PooledScenario(BaseModel):
    """The pooled audit of one scenario's seeds (runs grouped as ``iterdeploy compare`` groups
    them: by stored scenario, seed and generations aside)."""

    model_config = ConfigDict(frozen=True)

    label: str
    """The scenario name, with the differing settings for a second group of the same name."""
    name: str
    runs: list[PooledRun]
    """One per seed, by seed."""
    reward: list[WeightAcrossSeeds]
    """The inferred reward across seeds, by generation (the whole run first) and feature."""
    findings: list[FindingRecurrence]
    """Every finding key of any seed, by auditor, kind, generation and subject."""
    claims: list[ClaimRecurrence]
    """Every claim key of any seed, by auditor, kind, concept, group and generation."""


class PooledAudit(BaseModel):
    """Every scenario of a pooled audit, by scenario name then label."""

    model_config = ConfigDict(frozen=True)

    groups: list[PooledScenario]
