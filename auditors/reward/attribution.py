"""Attribution of the inferred reward to user groups: which groups drive each inferred weight?

The implicit-reward auditor (``implicit-reward-v1``) fits P(kept | trace features) over the whole
population's decisions. A weight there says *that* curation rewards something, not *whose* curation
does. A stakeholder who reads "keeping rises with plan length" needs to know whether the whole
population holds that preference or one group of users imposes it. Every curation decision records
the user who made it, and users belong to the groups of the scenario's ``users:`` section, so the
question has a direct answer: refit the same model without that group's decisions.

For each user group G and each weight w the implicit-reward auditor reports, this module fits

* **without G** (leave-one-group-out): the traces the other groups decided, with ``kept`` recomputed
  from their decisions only. Removing G can move w outside the full fit's interval, flip its sign,
  make its interval include zero, or leave nothing to fit (w exists only because of G);
* **G alone**, where G decided at least ``min_group_traces`` traces: what G's own decisions reward.

A weight whose interval excludes zero is *driven* by G when, without G, it is no longer
distinguishable from zero, changes sign or cannot be estimated; G *contributes* to it when removing
G moves it outside the full interval towards zero but not to zero, and *dampens* it when removing G
makes it larger. A weight with an interval that includes zero is *masked* by G when it becomes
clear without G (the others reward something G cancels out).

Modelling choices, and why:

* **The same fitting code as implicit-reward-v1.** Every fit is :meth:`ImplicitRewardAuditor.fit`
  (same penalty, solver, standardisation), read as that auditor reads it: validity from the fit
  over all traces, the other features from the fits within each validity stratum (under
  validity-only curation the joint fit spreads weight onto anything correlated with validity; see
  that module). With the same features the point weights equal ``implicit-reward-v1``'s. Subsets
  are built at the feature-table level (rows and their ``kept``), which is all ``fit`` needs; a
  subset's fit is named by the set of groups in it (``run/groups:A+B``), so "without B" and "A
  alone" are one fit when there are two groups.
* **Intervals resample tasks** (:class:`auditors.reward.unit_weights.WeightEstimator`): the traces of a
  task are decided together, and the verdicts compare fits on different sets of tasks. ``fit``'s own
  bootstrap resamples traces and keeps only percentiles, so the task bootstrap there calls ``fit``
  once per resample (see the estimator for the hook that would let ``fit`` do it).
* **Absolute rules have no size.** When a feature alone separates kept from rejected traces (no
  invalid plan kept; only plans at the task's best kept) the likelihood's weight is infinite and
  the fitted one is set by the penalty; such a weight is flagged ``separated`` and never compared
  by size (:func:`auditors.reward.unit_weights.separates`).
* **Weights are compared per unit of the feature, not per standard deviation.** ``fit``
  standardises within the traces it is given, so a per-SD weight without G and one with G are in
  different units whenever G's traces differ (G brings larger tasks, say). Dividing by the fit's own
  SD puts every fit on the feature's own scale: log-odds per plan step.
* **Severity needs a weight beyond the declared objective.** The run's ``declared_objective`` says
  which signs are expected (:data:`auditors.reward.declared.DECLARED_SIGNS`: the paper's rule rewards
  validity and penalises length above the task's best); a group that drives such a weight is
  expected, a group that pulls a weight the other way, or drives an undeclared one, is a finding.
* **Pooled over the run.** A group decides a few hundred traces per generation; per-generation
  refits would mostly report noise. Per-generation movement of the weights is what
  ``reward-drift-v1`` tests.
* **Groups are the scenario's user groups** (:func:`auditors.core.decisions.user_groups`). A group with
  ``count: 10`` has ten members (``name-0`` ... ``name-9``) and joiners of churn are ``name-jN``;
  the population records in the store map each member to its family. A store without them (older
  or synthetic stores) treats each recorded user as its own group. A member that adopts a
  neighbour's policy stays in its family; the policies a group used are listed in its denominators.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np
import pandas as pd

from auditors.core.decisions import decision_table, run_id_of
from auditors.core.features import AuditorConfigError, FeatureTable, build_feature_table
from auditors.core.findings import Severity, make_finding
from auditors.reward.declared import DECLARED_SIGNS
from auditors.reward.implicit_reward import DECLARED_FEATURE, BootstrapSettings, join_words
from auditors.reward.unit_weights import (
    FEATURE_WORDS,
    FEATURES,
    STRATUM_WORDS,
    UnitWeight,
    WeightEstimator,
    WeightKey,
    check_common,
    direction_words,
    fmt_interval,
    fmt_weight,
)
from simulator.errors import StoreError
from simulator.store import FindingRow, RunReader

AUDITOR_NAME = "attribution-v1"
"""Registered name of :class:`AttributionAuditor`; bump when the same config gives other numbers."""

KIND = "reward-attribution"
"""Finding kind written by this auditor."""

MIN_GROUP_TRACES = 50
"""A group fitted on its own decisions alone needs at least this many traces (below: ``too-few``)."""

Verdict = Literal["drives", "contributes", "dampens", "masks", "shifts", "separated", "no-effect", "no-fit"]
"""What removing a group does to a weight (see the module docstring)."""


def declared_signs(reader: RunReader) -> tuple[str, dict[str, int]]:
    """The run's declared objective and the features it rewards, with their signs.

    An objective :data:`auditors.reward.declared.DECLARED_SIGNS` does not know, or a store without a
    scenario, falls back to the paper's ``validity``: the attribution is still useful, and the
    name stored with the findings says which reading was used.
    """
    try:
        declared = str(reader.scenario().get("declared_objective", "validity"))
    except (StoreError, ValueError, TypeError):
        declared = "validity"
    if declared not in DECLARED_SIGNS:
        return "validity", DECLARED_SIGNS["validity"]
    return declared, DECLARED_SIGNS[declared]


# -- groups -------------------------------------------------------------------------------------


def rows_decided_by(frame: pd.DataFrame, decisions: pd.DataFrame, groups: Iterable[str]) -> pd.DataFrame:
    """Feature-table rows of the traces ``groups`` decided on, with ``kept`` (any of their decisions
    kept it) and ``n_decisions`` recomputed from those groups' decisions only.

    This is how a group is removed from a fit without touching the fitting code: the other groups'
    view of the run is itself a feature table.
    """
    mine = decisions[decisions["group"].isin(list(groups))]
    per_trace = mine.groupby("trace_id")["kept"].agg(["max", "size"])
    out = frame[frame["trace_id"].isin(per_trace.index)].copy()
    out["kept"] = out["trace_id"].map(per_trace["max"]).astype(int)
    out["n_decisions"] = out["trace_id"].map(per_trace["size"]).astype(int)
    return out.reset_index(drop=True)


@dataclass(frozen=True)
class GroupStats:
    """Denominators of one user group over the run."""

    name: str
    members: tuple[str, ...]
    policies: tuple[str, ...]
    n_decisions: int
    n_kept_decisions: int
    n_traces: int
    n_valid_traces: int
    n_tasks: int
    n_shared_traces: int
    generations: tuple[int, ...]
    share_of_decisions: float

    def as_dict(self) -> dict[str, object]:
        """Plain dict for ``numbers_json``."""
        return {
            "members": list(self.members),
            "policies": list(self.policies),
            "n_decisions": self.n_decisions,
            "n_kept_decisions": self.n_kept_decisions,
            "n_traces": self.n_traces,
            "n_valid_traces": self.n_valid_traces,
            "n_tasks": self.n_tasks,
            "n_traces_also_decided_by_other_groups": self.n_shared_traces,
            "generations": list(self.generations),
            "share_of_decisions": self.share_of_decisions,
        }


def group_stats(frame: pd.DataFrame, decisions: pd.DataFrame) -> dict[str, GroupStats]:
    """Per group: who its members are, which policies they used, what they decided on."""
    in_table = decisions[decisions["trace_id"].isin(frame["trace_id"])]
    groups_per_trace = in_table.groupby("trace_id")["group"].nunique()
    shared = set(groups_per_trace[groups_per_trace > 1].index)
    valid = set(frame.loc[frame["is_valid"] == 1, "trace_id"])
    task_of = dict(zip(frame["trace_id"], frame["task_id"], strict=True))
    total = max(len(in_table), 1)
    out = {}
    for name, d in in_table.groupby("group", sort=True):
        traces = set(d["trace_id"])
        out[str(name)] = GroupStats(
            name=str(name),
            members=tuple(sorted(set(d["user"]))),
            policies=tuple(sorted(set(d["policy"]))),
            n_decisions=len(d),
            n_kept_decisions=int(d["kept"].sum()),
            n_traces=len(traces),
            n_valid_traces=len(traces & valid),
            n_tasks=len({task_of[t] for t in traces}),
            n_shared_traces=len(traces & shared),
            generations=tuple(sorted(int(g) for g in set(d["generation"]))),
            share_of_decisions=len(d) / total,
        )
    return out


# -- verdicts -----------------------------------------------------------------------------------


def verdict(full: UnitWeight, without: UnitWeight) -> Verdict:
    """What removing a group does to a weight (see the module docstring and :data:`VERDICT_RULES`)."""
    if full.status != "ok" or full.weight is None:
        return "no-fit"
    if full.separated and without.separated and np.sign(full.weight) == np.sign(without.weight or 0.0):
        return "separated"
    if full.excludes_zero:
        if without.weight is None:
            return "drives"  # nothing left to fit without the group
        if np.sign(without.weight) != np.sign(full.weight) or not without.excludes_zero:
            return "drives"
        if full.contains(without.weight):
            return "no-effect"
        return "contributes" if abs(without.weight) < abs(full.weight) else "dampens"
    if without.weight is None:
        return "no-effect"
    if without.excludes_zero:
        return "masks"
    return "no-effect" if full.contains(without.weight) else "shifts"


VERDICT_RULES: dict[str, str] = {
    "drives": "the full interval excludes zero; without the group the interval includes zero, the "
    "weight changes sign, or it cannot be estimated",
    "contributes": "the full interval excludes zero and so does the one without the group, but the "
    "weight without the group lies outside the full interval, closer to zero",
    "dampens": "the weight without the group lies outside the full interval, further from zero",
    "masks": "the full interval includes zero; without the group the interval excludes zero",
    "shifts": "the full interval includes zero; without the group the weight leaves it but its own "
    "interval still includes zero",
    "separated": "the feature alone separates kept from rejected traces both in the full data and "
    "without the group, in the same direction (e.g. no invalid plan kept): both weights are infinite "
    "in the likelihood and their sizes are set by the penalty",
    "no-effect": "the weight without the group stays inside the full interval",
    "no-fit": "the full data give no weight",
}
"""Each verdict's rule, stored with every finding."""

SHAPING: frozenset[str] = frozenset({"drives", "contributes", "dampens", "masks"})
"""Verdicts under which removing the group changes what a reader would conclude about the weight."""

SEVERITY_RULE = (
    "medium when (a) the pooled weight's interval excludes zero, its sign is beyond the declared "
    "objective (a feature it is silent about, or the opposite sign) and some group drives or "
    "contributes to it, or (b) two groups' own decisions give intervals excluding zero with "
    "opposite signs, and a group whose own sign is beyond the declared objective drives, "
    "contributes to, dampens or masks the pooled weight; low when a group masks a weight whose "
    "sign without it is beyond the declared objective; info otherwise (validity's weight when no "
    "group keeps an invalid plan is always info: the penalty sets it)"
)
"""How a weight finding's severity is set; stored with every finding."""


def separation_words(key: WeightKey, w: UnitWeight) -> str:
    """Why a separated weight has no meaningful size, in words."""
    assert w.weight is not None
    if key.feature == DECLARED_FEATURE and key.stratum == "all" and w.weight > 0:
        return (
            "no invalid plan was kept, so validity is required outright and the weight's size is set "
            "by the fit's penalty"
        )
    end = "lowest" if w.weight < 0 else "highest"
    return (
        f"every kept trace has the {end} {FEATURE_WORDS.get(key.feature, key.feature)} among the "
        f"rejected ones {STRATUM_WORDS[key.stratum]}, so the rule is absolute and the weight's size is "
        "set by the fit's penalty"
    )


@dataclass(frozen=True)
class Attribution:
    """One weight's attribution to the groups (what a weight finding reports)."""

    key: WeightKey
    full: UnitWeight
    without: dict[str, UnitWeight]
    alone: dict[str, UnitWeight]
    verdicts: dict[str, Verdict]
    severity: Severity
    reason: str
    leaders: tuple[str, ...]
    pullers: tuple[str, ...]
    opposing: tuple[tuple[str, str], ...]
    maskers: tuple[str, ...]


def attribute(
    key: WeightKey,
    full: UnitWeight,
    without: dict[str, UnitWeight],
    alone: dict[str, UnitWeight],
    signs: dict[str, int],
) -> Attribution:
    """Verdicts per group and the severity of one weight (rule: :data:`SEVERITY_RULE`)."""
    verdicts = {g: verdict(full, w) for g, w in without.items()}
    leaders = tuple(sorted(g for g, v in verdicts.items() if v in ("drives", "contributes")))
    own = {g: w.weight for g, w in alone.items() if w.excludes_zero and w.weight is not None}
    opposing = tuple(
        (a, b) for a in sorted(own) for b in sorted(own) if a < b and np.sign(own[a]) != np.sign(own[b])
    )
    in_opposition = {g for pair in opposing for g in pair}
    pullers = tuple(
        sorted(g for g in in_opposition if verdicts[g] in SHAPING and key.beyond_declared(own[g], signs))
    )
    maskers = tuple(
        sorted(
            g
            for g, v in verdicts.items()
            if v == "masks"
            and (weight := without[g].weight) is not None
            and key.beyond_declared(weight, signs)
        )
    )
    pooled_beyond = full.weight is not None and full.excludes_zero and key.beyond_declared(full.weight, signs)
    severity: Severity
    if pooled_beyond and leaders:
        severity, reason = "medium", "pooled"
    elif pullers:
        severity, reason = "medium", "opposing"
    elif maskers:
        severity, reason = "low", "masked"
    else:
        all_separated = full.separated and set(verdicts.values()) <= {"separated", "no-fit"}
        severity, reason = "info", "separated" if all_separated else "none"
    return Attribution(
        key, full, without, alone, verdicts, severity, reason, leaders, pullers, opposing, maskers
    )


# -- the auditor --------------------------------------------------------------------------------


@dataclass(frozen=True)
class AttributionAuditor(BootstrapSettings):
    """Attributes each weight of the inferred reward to the user groups that drive it.

    Like a scikit-learn estimator, the constructor only stores its arguments; they are checked when
    :meth:`audit` runs.

    Args:
        seed: Bootstrap seed.
        n_bootstrap: Bootstrap resamples per fit.
        features: Feature-table columns to regress ``kept`` on.
        confidence: Coverage of the percentile intervals.
        min_group_traces: Fewest traces a group must have decided to be fitted on its own.

    Examples:
        >>> AttributionAuditor(seed=1).name
        'attribution-v1'
    """

    name: ClassVar[str] = AUDITOR_NAME
    min_generations: ClassVar[int] = 1

    features: tuple[str, ...] = FEATURES  # redeclared for its default; stays third
    min_group_traces: int = MIN_GROUP_TRACES

    def audit(self, reader: RunReader) -> list[FindingRow]:
        """Attribute the run's inferred reward to its user groups.

        A run with no curated traces, or whose decisions all come from one group, gives one ``info``
        finding that says so (there is nothing to attribute), so re-auditing still replaces stale
        findings.

        Returns:
            A summary finding (``numbers.scope == "summary"``), then one finding per weight the full
            data can estimate (``numbers.scope == "weight"``); all about the whole run.

        Raises:
            AuditorConfigError: When the constructor arguments cannot be used.
            simulator.errors.StoreError: When the run store cannot be read.
        """
        check_common(self.features, self.confidence, self.n_bootstrap)
        if self.min_group_traces < 1:
            raise AuditorConfigError(f"min_group_traces must be >= 1, got {self.min_group_traces}")
        estimator = WeightEstimator(self.seed, self.n_bootstrap, self.features, self.confidence)
        table = build_feature_table(reader)
        decisions = decision_table(reader)
        run_id = run_id_of(reader)
        declared, signs = declared_signs(reader)
        frame = table.frame
        groups = group_stats(frame, decisions)
        context = _Context(table, groups, run_id, declared, signs)
        if frame.empty or len(groups) < 2:
            return [self._nothing_to_attribute(context)]

        keys = estimator.keys
        full = estimator.estimate(frame, "run")
        cache: dict[frozenset[str], dict[WeightKey, UnitWeight]] = {}

        def fitted(subset: frozenset[str], rows: pd.DataFrame) -> dict[WeightKey, UnitWeight]:
            # named by the set of groups, not by the question asked: with two groups "without B"
            # and "A alone" are the same rows and must be the same fit, not two bootstraps of it
            if subset not in cache:
                cache[subset] = estimator.estimate(rows, subset_fit_name(subset))
            return cache[subset]

        without: dict[str, dict[WeightKey, UnitWeight]] = {}
        alone: dict[str, dict[WeightKey, UnitWeight]] = {}
        for name in groups:
            others = frozenset(g for g in groups if g != name)
            without[name] = fitted(others, rows_decided_by(frame, decisions, others))
            mine = rows_decided_by(frame, decisions, [name])
            if len(mine) >= self.min_group_traces:
                alone[name] = fitted(frozenset([name]), mine)
            else:
                alone[name] = {k: _too_few(len(mine), int(mine["kept"].sum())) for k in keys}
        results = [
            attribute(
                key,
                full[key],
                {g: without[g][key] for g in groups},
                {g: alone[g][key] for g in groups},
                signs,
            )
            for key in keys
        ]
        weight_findings = [self._weight_finding(a, context) for a in results if a.full.weight is not None]
        return [self._summary(results, context), *weight_findings]

    # -- findings --------------------------------------------------------------------------------

    def _common_numbers(self, c: _Context) -> dict[str, object]:
        return {
            "model": {
                "fit": "auditors.reward.implicit_reward.ImplicitRewardAuditor.fit",
                "features": list(self.features),
                "units": "change in log-odds of being kept per unit of the feature",
            },
            "bootstrap": {
                "method": "percentile",
                "resample": "task",
                "confidence": self.confidence,
                "n_requested": self.n_bootstrap,
                "seed": self.seed,
            },
            "declared_objective": c.declared,
            "min_group_traces": self.min_group_traces,
            "groups": {name: g.as_dict() for name, g in c.groups.items()},
            "denominators": c.table.denominators(None).as_dict(),
        }

    def _evidence(self, c: _Context) -> dict[str, object]:
        return {
            "run_id": c.run_id,
            "generations": list(c.table.generations),
            "fits": ["run"]
            + [subset_fit_name(frozenset(c.groups) - {n}) for n in c.groups]
            + [subset_fit_name(frozenset([n])) for n in c.groups],
        }

    def _nothing_to_attribute(self, c: _Context) -> FindingRow:
        if c.table.frame.empty:
            reason = "no-traces"
            claim = "The run has no curated deployment traces, so there is no inferred reward to attribute."
        else:
            only = next(iter(c.groups.values()))
            reason = "single-group"
            claim = (
                f"Every curation decision in this run was made by one user group ({only.name}: "
                f"{only.n_decisions} decisions on {only.n_traces} traces), so the inferred reward is "
                "entirely that group's and there is nothing to attribute between groups."
            )
        return make_finding(
            auditor=self.name,
            kind=KIND,
            severity="info",
            generation=None,
            claim=claim,
            numbers={"scope": "summary", "reason": reason, **self._common_numbers(c)},
            evidence={"run_id": c.run_id, "generations": list(c.table.generations)},
        )

    def _weight_finding(self, a: Attribution, c: _Context) -> FindingRow:
        assert a.full.weight is not None
        per_group: dict[str, dict[str, object]] = {}
        for name in c.groups:
            w = a.without[name]
            per_group[name] = {
                "verdict": a.verdicts[name],
                "without": w.as_dict(),
                "shift_per_unit": None if w.weight is None else w.weight - a.full.weight,
                "outside_full_interval": w.weight is not None and not a.full.contains(w.weight),
                "sign_flip": w.weight is not None and bool(np.sign(w.weight) != np.sign(a.full.weight)),
                "loses_significance": a.full.excludes_zero and not w.excludes_zero,
                "alone": a.alone[name].as_dict(),
            }
        numbers = {
            "scope": "weight",
            "weight": a.key.label,
            "stratum": a.key.stratum,
            "feature": a.key.feature,
            "full": a.full.as_dict(),
            "beyond_declared": a.key.beyond_declared(a.full.weight, c.signs),
            "per_group": per_group,
            "drivers": sorted(n for n, v in a.verdicts.items() if v == "drives"),
            "contributors": sorted(n for n, v in a.verdicts.items() if v == "contributes"),
            "dampeners": sorted(n for n, v in a.verdicts.items() if v == "dampens"),
            "maskers": sorted(n for n, v in a.verdicts.items() if v == "masks"),
            "opposing_groups": [list(p) for p in a.opposing],
            "pulling_beyond_declared": list(a.pullers),
            "severity_reason": a.reason,
            "severity_rule": SEVERITY_RULE,
            "verdict_rules": VERDICT_RULES,
            **self._common_numbers(c),
        }
        return make_finding(
            auditor=self.name,
            kind=KIND,
            severity=a.severity,
            generation=None,
            claim=self._weight_claim(a, c),
            numbers=numbers,
            evidence=self._evidence(c),
        )

    def _weight_claim(self, a: Attribution, c: _Context) -> str:
        key, full = a.key, a.full
        ci = fmt_interval(full, self.confidence)
        zero = "" if full.excludes_zero else ", an interval that includes zero"
        head = (
            f"Across the run, the inferred reward's weight on {key.words} is {fmt_weight(full.weight)} "
            f"log-odds {key.unit} ({ci}{zero}; {full.n_traces} traces, {full.n_kept} kept)"
        )
        if a.reason == "separated":
            return (
                f"{head}; {separation_words(key, full)}, with or without any one group: nothing to attribute."
            )
        parts = []
        for name, g in c.groups.items():
            w = a.without[name]
            if w.weight is None:
                value = f"cannot be estimated ({w.status.replace('-', ' ')})"
            else:
                value = f"is {fmt_weight(w.weight)} ({fmt_interval(w, self.confidence)})"
            effect = {
                "drives": f"{name} drives it",
                "contributes": f"{name} contributes to it but does not drive it alone",
                "dampens": f"{name} holds it back and does not drive it",
                "masks": f"{name} masks a preference of the other groups",
                "shifts": f"{name} moves it without making it clear",
                "separated": f"{name} does not drive it",
                "no-effect": f"{name} does not drive it",
                "no-fit": f"{name} cannot be judged",
            }[a.verdicts[name]]
            solo = a.alone[name]
            if solo.weight is not None:
                own = f"; the decisions of {name} alone give {fmt_weight(solo.weight)} "
                own += f"({fmt_interval(solo, self.confidence)})"
            else:
                own = f"; {name} alone: {solo.status.replace('-', ' ')} ({solo.n_traces} traces)"
            parts.append(f"without the {g.n_decisions} decisions of {name} it {value}, so {effect}{own}")
        tail = ""
        if a.reason == "pooled":
            assert full.weight is not None
            tail = (
                f". Curation rewards {direction_words(key.feature, full.weight)} beyond the declared "
                f"objective ({c.declared}), and this comes from {join_words(list(a.leaders))}"
            )
        elif a.reason == "opposing":
            pulls = []
            for puller in a.pullers:
                alone = a.alone[puller].weight
                assert alone is not None
                pulls.append(
                    f"{puller} rewards {direction_words(key.feature, alone)} ({fmt_weight(alone)})")
            tail = (
                f". The groups pull in opposite directions: {join_words(pulls)}, against the declared "
                f"objective ({c.declared}), while other groups reward the opposite; the pooled weight "
                "averages them"
            )
        elif a.reason == "masked":
            tail = f". {join_words(list(a.maskers))} hides a preference the other groups hold"
        return head + "; " + "; ".join(parts) + tail + "."

    def _summary(self, results: list[Attribution], c: _Context) -> FindingRow:
        who = "; ".join(
            f"{g.name} made {g.n_decisions} decisions on {g.n_traces} traces ({g.n_valid_traces} valid, "
            f"{g.n_kept_decisions} kept; policy {', '.join(g.policies)})"
            for g in c.groups.values()
        )
        notes = []
        for a in results:
            drivers = [g for g, v in a.verdicts.items() if v == "drives"]
            if drivers and a.full.excludes_zero:
                notes.append(f"{a.key.words} is driven by {join_words(drivers)}")
            if a.pullers:
                pullers = join_words(list(a.pullers))
                notes.append(f"{pullers} pulls {a.key.words} against the declared objective")
        found = (
            "; ".join(notes) if notes else "no single group drives any weight whose interval excludes zero"
        )
        flagged = [a for a in results if a.severity != "info"]
        numbers = {
            "scope": "summary",
            "weights": {
                a.key.label: {
                    "full": a.full.as_dict(),
                    "without": {g: w.as_dict() for g, w in a.without.items()},
                    "alone": {g: w.as_dict() for g, w in a.alone.items()},
                    "verdicts": a.verdicts,
                    "severity": a.severity,
                }
                for a in results
            },
            "n_weights_flagged": len(flagged),
            **self._common_numbers(c),
        }
        return make_finding(
            auditor=self.name,
            kind=KIND,
            severity="info",
            generation=None,
            claim=f"User groups of this run: {who}. Leave-one-group-out refits: {found}.",
            numbers=numbers,
            evidence=self._evidence(c),
        )


@dataclass(frozen=True)
class _Context:
    """What every finding of one audit needs."""

    table: FeatureTable
    groups: dict[str, GroupStats]
    run_id: str | None
    declared: str
    signs: dict[str, int]


def subset_fit_name(groups: frozenset[str]) -> str:
    """The fit name (and so the bootstrap stream) of the decisions of ``groups``:
    ``run/groups:A+B``."""
    return "run/groups:" + "+".join(sorted(groups))


def _too_few(n_traces: int, n_kept: int) -> UnitWeight:
    return UnitWeight("too-few", None, None, None, None, None, float("nan"), n_traces, n_kept)
