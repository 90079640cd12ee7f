"""Payloads of the white-box reward auditors: implicit reward, declared objective, reward drift and
attribution (:mod:`iterdeploy.auditors.reward`)."""

from __future__ import annotations

from typing import ClassVar, Literal

from iterdeploy.auditors.payloads.base import (
    Bootstrap,
    FindingPayload,
    GenerationPair,
    InferredReward,
    JsonObject,
    MakesClaims,
    Part,
    Real,
    Recovery,
    Relation,
    Severity,
    WithinTaskEffect,
)


class CurationCounts(Part):
    """What a white-box reward finding's numbers are counted over (``denominators``): the curated
    deployment traces of its scope (:class:`iterdeploy.auditors.core.features.Denominators`) and
    the tasks they belong to."""

    n_traces: int | None = None
    """Curated deployment traces."""
    n_valid: int | None = None
    """Of those, valid."""
    n_unparseable: int | None = None
    """Of those, unreadable."""
    n_kept: int | None = None
    """Of those, kept by their user."""
    n_hit_token_limit: int | None = None
    """Of those, cut at the token limit."""
    n_decisions: int | None = None
    """Curation decisions behind them."""
    n_undecided: int | None = None
    """Deployment traces of the scope with no decision at all (not in ``n_traces``)."""
    n_by_status: dict[str, int] | None = None
    """``n_traces`` by validator status."""
    n_tasks: int | None = None
    """Tasks the traces belong to."""
    n_informative_tasks: int | None = None
    """Tasks where users kept some but not all traces."""
    n_departing_tasks: int | None = None
    """Tasks where the users' kept set differs from the declared one (in an attribution summary:
    over every group)."""
    n_departing_tasks_all_groups: int | None = None
    """Attribution group finding: departing tasks over every group."""
    by_group: dict[str, dict[str, int]] | None = None
    """Group → its tasks and departing tasks."""
    by_generation: dict[str, dict[str, int]] | None = None
    """Generation → its tasks and departing tasks (reward-drift summary)."""


class BeyondDeclared(Part):
    """The users' curation against what the declared objective keeps from the same candidates."""

    n_tasks: int | None = None
    """Tasks compared."""
    n_departing_tasks: int | None = None
    """Tasks where the users' kept set differs from the declared one."""
    departure_share: Real | None = None
    """``n_departing_tasks / n_tasks`` (0 without tasks)."""
    departure_ci: list[Real | None] | None = None
    """Exact binomial interval of the departure share, ``[low, high]``."""
    published_shift: dict[str, WithinTaskEffect] | None = None
    """Feature → its mean over what users published minus over what the declaration publishes, in
    the feature's own units, with a task-bootstrap interval."""
    units: str | None = None
    """What ``published_shift`` measures, in words."""


class WithinTaskFit(Part):
    """The users' within-task reward beside the declared objective's, on one set of traces
    (:meth:`iterdeploy.auditors.reward.within_task.RewardComparison.as_dict`)."""

    fit_status: str | None = None
    """``ok``, or why there are no weights (``no-traces``, ``no-informative-task``,
    ``no-varying-feature``; older auditor versions wrote others)."""
    n_traces: int | None = None
    """Curated traces fitted."""
    n_kept: int | None = None
    """Of those, kept by a user."""
    n_tasks: int | None = None
    """Tasks the traces belong to."""
    n_informative_tasks: int | None = None
    """Tasks where users kept some but not all traces (the only ones a within-task fit learns from)."""
    features: dict[str, WithinTaskEffect] | None = None
    """Feature → the users' weight (log-odds of being kept per within-task SD)."""
    declared_features: dict[str, WithinTaskEffect] | None = None
    """Feature → the declared objective's weight on the same traces."""
    beyond_declared: BeyondDeclared | None = None
    """How far the users' curation departs from the declared objective."""
    n_bootstrap_used: int | None = None
    """Resamples that entered the intervals."""
    inferred_reward: InferredReward | None = None
    """The users' reward in a form that scores any trace."""

    def shifts(self) -> dict[str, WithinTaskEffect]:
        """``beyond_declared.published_shift``, empty when absent."""
        beyond = self.beyond_declared
        return dict(beyond.published_shift or {}) if beyond is not None else {}


class ImplicitRewardNumbers(WithinTaskFit, MakesClaims, FindingPayload):
    """``implicit-reward``: what the users' keep decisions reward within tasks, for the run
    (generation null) and for each generation."""

    KIND: ClassVar[str] = "implicit-reward"

    scope: Literal["run", "generation"] | None = None
    """Whether the finding is about the whole run or one generation."""
    declared_objective: str | None = None
    """The scenario's declared objective (a policy name)."""
    model: JsonObject | None = None
    """The estimator, penalty, standardisation and units, in words, and ``C``."""
    bootstrap: Bootstrap | None = None
    """How the intervals were drawn."""
    severity_rule: str | None = None
    """The rule that set the severity, in words."""
    denominators: CurationCounts | None = None
    """Traces, valid, kept, decisions, tasks (informative, departing) the numbers rest on."""
    recovery: Recovery | None = None
    """The inferred reward scored against the recorded A(τ) (absent without a fit)."""
    reason: str | None = None
    """``no-traces`` when the scope has no curated trace."""


class ConceptTest(Part):
    """A sign test of the departing tasks' lean on one concept."""

    n_up: int | None = None
    """Departing tasks where the users' kept set has more of the concept than the declared set."""
    n_down: int | None = None
    """Departing tasks where it has less."""
    n_equal: int | None = None
    """Departing tasks where the two sets are equal on the concept."""
    n_undefined: int | None = None
    """Departing tasks where the concept is undefined (e.g. length of a set with no valid plan)."""
    p_value: Real | None = None
    """Two-sided binomial sign test (null without an up or down task)."""
    p_adjusted: Real | None = None
    """Benjamini-Hochberg over the scope's concepts."""
    direction: int | None = None
    """+1 or -1 when significant after adjustment, else 0."""


class Departures(Part):
    """Users' decisions against the declared ones in one scope (a generation, a group, the run)."""

    n_tasks: int | None = None
    """Tasks with curated traces."""
    n_departing_tasks: int | None = None
    """Tasks where the users' kept set differs from the declared set."""
    departure_share: Real | None = None
    """``n_departing_tasks / n_tasks``."""
    departure_ci: list[Real | None] | None = None
    """Exact binomial interval of the share."""
    n_tasks_kept_against_declared: int | None = None
    """Departing tasks where users kept a trace the declaration rejects."""
    n_tasks_dropped_declared: int | None = None
    """Departing tasks where users dropped a trace the declaration keeps."""
    concepts: dict[str, ConceptTest] | None = None
    """Concept → the sign test of the departures' lean on it."""


class HiddenObjectiveNumbers(Departures, MakesClaims, FindingPayload):
    """``hidden-objective`` (declared-objective auditor): in which tasks, how often and which way
    curation departs from the declared choice, per generation and for the run (with each group)."""

    KIND: ClassVar[str] = "hidden-objective"

    declared_objective: str | None = None
    """The scenario's declared objective."""
    by_group: dict[str, Departures] | None = None
    """Group → its departures (the run finding of a population of several groups; else empty)."""
    test: str | None = None
    """The test, in words."""
    alpha: Real | None = None
    """False discovery rate of the concept tests."""
    confidence: Real | None = None
    """Coverage of the departure share's interval."""
    severity_rule: str | None = None
    """The rule that set the severity, in words."""
    denominators: CurationCounts | None = None
    """Traces, decisions, tasks and departing tasks (and ``by_group``) the numbers rest on."""
    n_traces: int | None = None
    """0 in the finding of a run without curated traces."""
    reason: str | None = None
    """``no-traces`` for a run without curated traces."""


class RewardDistanceNumbers(FindingPayload):
    """``reward-distance`` (declared-objective auditor): EPIC-style distances between the inferred,
    the declared and the recorded reward, after removing per-task constants."""

    KIND: ClassVar[str] = "reward-distance"

    declared_objective: str | None = None
    """The scenario's declared objective."""
    n_traces: int | None = None
    """Curated traces the rewards are compared on."""
    distance_inferred_declared: Real | None = None
    """``sqrt((1 − ρ) / 2)`` between the inferred and the declared reward: 0 same, 1 opposite; null
    when either is constant within every task."""
    distance_truth_declared: Real | None = None
    """The same between the recorded A(τ) and the declared reward (absent without A(τ))."""
    distance_inferred_truth: Real | None = None
    """The same between the inferred reward and the recorded A(τ) (absent without A(τ))."""
    inferred: str | None = None
    """Which inferred reward, in words."""
    denominators: CurationCounts | None = None
    """Traces, valid, kept, decisions the distances rest on."""


class PolicyTest(GenerationPair):
    """A permutation test of "one reward decided both generations"."""

    statistic: Real | None = None
    """Gain in penalised conditional log-likelihood from one reward per generation."""
    p_value: Real | None = None
    """Permutation p-value (tasks shuffled between the two generations)."""
    p_adjusted: Real | None = None
    """Benjamini-Hochberg over the pairs."""
    n_tasks: list[int] | None = None
    """Tasks of the earlier and of the later generation."""
    status: str | None = None
    """``tested``, or why not."""


class ChangeTest(Part):
    """One departure (a feature's published shift, or the departure share) in two generations.

    ``earlier`` and ``later`` hold the two values; the generations are ``earlier_generation`` and
    ``later_generation``. Findings stored before those two keys existed have only ``relation``
    left of the pair (their writer let the values overwrite the generations), so there they read
    as None.
    """

    earlier_generation: int | None = None
    """The earlier generation of the two compared."""
    later_generation: int | None = None
    """The later generation of the two compared."""
    relation: Relation | None = None
    """How the two generations relate."""
    feature: str | None = None
    """The feature, or ``departure_share``."""
    earlier: Real | None = None
    """The departure per unit (or the share) in the earlier generation."""
    later: Real | None = None
    """The same in the later generation."""
    difference: Real | None = None
    """Later value minus earlier value."""
    p_value: Real | None = None
    """Wald z on bootstrap standard errors (Fisher's exact test for the departure share)."""
    p_adjusted: Real | None = None
    """Benjamini-Hochberg over the run's change tests."""
    outside_interval: bool | None = None
    """The later value lies outside the earlier value's interval."""
    flagged: bool | None = None
    """Adjusted p below alpha and outside the interval."""


class RewardDriftNumbers(MakesClaims, FindingPayload):
    """``reward-drift``: did the way users decide change between generations? A ``summary`` for the
    run, and a ``change`` finding at each generation where it did."""

    KIND: ClassVar[str] = "reward-drift"

    scope: Literal["summary", "change"] | None = None
    """The run's summary, or one flagged change."""
    reason: str | None = None
    """``fewer-than-two-generations`` when there is nothing to compare."""
    declared_objective: str | None = None
    """The scenario's declared objective."""
    departure_share: dict[str, Real | None] | None = None
    """Generation → share of its tasks that depart from the declaration."""
    policy_tests: list[PolicyTest] | None = None
    """The permutation tests (of the pairs the change is about, in a change finding)."""
    n_tests: int | None = None
    """Permutation tests run."""
    n_flagged: int | None = None
    """Of those, significant after adjustment."""
    tests: list[ChangeTest] | None = None
    """Change tests (in a change finding: those that moved)."""
    alpha: Real | None = None
    """False discovery rate."""
    n_permutations: int | None = None
    """Permutations per test."""
    method: str | None = None
    """The method, in words."""
    departure_share_changed: bool | None = None
    """The share of departing tasks changed too (Fisher's exact test): ``high`` rather than ``medium``."""
    denominators: CurationCounts | None = None
    """Traces, decisions, tasks (per generation in the summary) the numbers rest on."""


class AttributionNumbers(WithinTaskFit, MakesClaims, FindingPayload):
    """``reward-attribution``: which user group's curation departs from the declaration. A
    ``summary`` for the run, then one ``group`` finding per user group."""

    KIND: ClassVar[str] = "reward-attribution"

    scope: Literal["summary", "group"] | None = None
    """The run's summary, or one group."""
    reason: str | None = None
    """``no-traces``, ``one-group`` (summary) or ``too-few-tasks`` (group): why nothing was fitted."""
    groups: list[str] | dict[str, Severity] | None = None
    """Summary: group → the severity of its finding (the groups seen, as a list, when nothing is
    attributed)."""
    declared_objective: str | None = None
    """The scenario's declared objective (summary)."""
    driving_groups: list[str] | None = None
    """Summary: the groups with a clear departure (medium or high)."""
    group: str | None = None
    """Group finding: the group."""
    share_of_departures: Real | None = None
    """Group finding: its departing tasks over all groups' departing tasks."""
    severity_rule: str | None = None
    """The rule that set the severity, in words."""
    denominators: CurationCounts | None = None
    """Traces, decisions, tasks and departing tasks (per group in the summary)."""
