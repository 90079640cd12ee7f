"""Reward drift: did the way users decide, beyond the declared objective, change between generations?

Users' policies can change during a run (social dynamics, complacency growing with the model's
success, churn, a scheduled change), and the reward the next model is trained towards changes with
them, without anyone deciding it. This auditor compares generations in the pairs ``drift``
compares for behaviour (:func:`iterdeploy.auditors.drift.data.plan_pairs`): each with the previous one (*when*
did it change?) and, from the third on, with the first (*slow* drift).

Two measurements, because neither alone is right:

* **Did the rule change?** (:func:`policy_test`) The gain in penalised conditional log-likelihood
  from fitting each generation's decisions with its own within-task reward instead of a shared
  one, against its distribution when tasks are shuffled between the two generations. The
  conditional likelihood conditions on each task's candidates, so a fixed rule whose *effect*
  changes with what the model writes (a fallible validator publishes fewer invalid plans once the
  model writes fewer) does not count as change the way a raw comparison of published data would.
  The shuffle is exact only when the model is right for the rule; a penalised fit of a
  deterministic rule leans on the candidates it sees, so the test alone is not trusted. Pairs
  where users kept exactly the declared choice in both generations are not tested.
* **In which direction?** The published shift (what users published minus what the declared
  objective publishes, :mod:`iterdeploy.auditors.reward.within_task`) of each generation, compared between
  the two with a Wald z on bootstrap standard errors.

A pair is flagged when its rule test survives Benjamini–Hochberg over the pairs. A flagged change
with some shift that moved (p < ``alpha``, later estimate outside the earlier interval) is
``medium``, ``high`` when the share of departing tasks also changed (Fisher's exact test); a
flagged change with no shift that moved is ``low`` (the fit changed, the data did not, in any
direction one can name). A comparison with the first generation is reported only when no earlier
flagged change explains it, so one change is reported once, where it happened.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd
from scipy import stats

from iterdeploy.auditors.core.decisions import run_id_of
from iterdeploy.auditors.core.features import WITHIN_TASK_FEATURES, FeatureTable, build_feature_table
from iterdeploy.auditors.core.features import check_features as _check_features
from iterdeploy.auditors.core.findings import Severity, make_finding
from iterdeploy.auditors.core.settings import BootstrapSettings
from iterdeploy.auditors.drift.data import GenerationPair, plan_pairs
from iterdeploy.auditors.payloads import RewardDriftNumbers
from iterdeploy.auditors.reward.claims import DEPARTURE_WORDS, concept_of, label
from iterdeploy.auditors.reward.within_task import Effect, RewardComparison, compare_with_declared
from iterdeploy.simulator.store import FindingRow, RunReader

AUDITOR_NAME = "reward-drift-v2"
"""Registered name of :class:`RewardDriftAuditor`; bump when the same config gives other numbers."""

KIND = "reward-drift"
"""Finding kind written by this auditor."""

ALPHA = 0.05
"""Default false discovery rate of the Benjamini–Hochberg correction."""

FEATURES: tuple[str, ...] = WITHIN_TASK_FEATURES
"""The implicit-reward auditor's features."""


@dataclass(frozen=True)
class ChangeTest:
    """One departure weight (or the departure share) compared between two generations."""

    pair: GenerationPair
    feature: str
    earlier: float | None
    later: float | None
    difference: float | None = None
    p_value: float | None = None
    p_adjusted: float | None = None
    outside_interval: bool = True
    flagged: bool = False

    def as_dict(self) -> dict[str, object]:
        """Plain dict for ``numbers_json``: the generations compared, then the two values.
        (``earlier`` and ``later`` are the values; the generations go under their own keys.)"""
        return {"earlier_generation": self.pair.earlier, "later_generation": self.pair.later,
                "relation": self.pair.relation, "feature": self.feature, "earlier": self.earlier,
                "later": self.later, "difference": self.difference, "p_value": self.p_value,
                "p_adjusted": self.p_adjusted, "outside_interval": self.outside_interval,
                "flagged": self.flagged}


def weight_test(pair: GenerationPair, a: Effect | None, b: Effect | None) -> ChangeTest | None:
    """Compare one feature's departure (users − declared, per unit) between two generations; None
    when either generation has no interval or neither moves (both exactly zero: users followed the
    declaration in both)."""
    if a is None or b is None or a.weight_per_unit is None or b.weight_per_unit is None:
        return None
    se_a, se_b = a.se_per_unit, b.se_per_unit
    if se_a is None or se_b is None:
        return None
    wa, wb = a.weight_per_unit, b.weight_per_unit
    se = float(np.hypot(se_a, se_b))
    if se == 0.0:
        return None
    p = float(2 * stats.norm.sf(abs(wb - wa) / se))
    interval = a.interval_per_unit()
    outside = interval is None or not interval[0] <= wb <= interval[1]
    return ChangeTest(pair, a.feature, wa, wb, wb - wa, p, outside_interval=outside)


def share_test(pair: GenerationPair, a: RewardComparison, b: RewardComparison) -> ChangeTest | None:
    """Compare the share of departing tasks between two generations (Fisher's exact test)."""
    if a.n_tasks == 0 or b.n_tasks == 0 or (a.n_departing == 0 and b.n_departing == 0):
        return None
    table = [[a.n_departing, a.n_tasks - a.n_departing], [b.n_departing, b.n_tasks - b.n_departing]]
    p = float(stats.fisher_exact(table).pvalue)
    sa, sb = a.departure_share, b.departure_share
    return ChangeTest(pair, "departure_share", sa, sb, sb - sa, p)


@dataclass(frozen=True)
class PolicyTest:
    """Did the way users decide, given the candidates, change between two generations?"""

    pair: GenerationPair
    statistic: float | None
    p_value: float | None
    n_tasks: tuple[int, int]
    p_adjusted: float | None = None
    status: str = "tested"

    def as_dict(self) -> dict[str, object]:
        """Plain dict for ``numbers_json``."""
        return {**self.pair.as_dict(), "statistic": self.statistic, "p_value": self.p_value,
                "p_adjusted": self.p_adjusted, "n_tasks": list(self.n_tasks), "status": self.status}


def policy_test(rows_a: pd.DataFrame, rows_b: pd.DataFrame, features: tuple[str, ...], pair: GenerationPair,
                *, rng: np.random.Generator, n_permutations: int, c: float) -> PolicyTest:
    """A permutation test of "the same reward decided both generations".

    The statistic is the gain in penalised conditional log-likelihood from fitting each
    generation's decisions with its own within-task reward instead of one shared reward. Under
    "the same policy", decisions given the candidates follow one law in both generations, and the
    conditional likelihood conditions on the candidates; so which generation a task belongs to is
    exchangeable, whatever the model wrote, and shuffling tasks between the two generations gives
    the statistic's distribution. This is why the test does not mistake a fixed rule's changing
    *effect* (a fallible validator publishes fewer invalid plans once the model writes fewer) for
    a changed rule.
    """
    from iterdeploy.auditors.reward.choice_model import choice_sets, fit_choice
    from iterdeploy.auditors.reward.within_task import within_task_sd

    rows = pd.concat([rows_a, rows_b], ignore_index=True)
    n = (int(rows_a["task_key"].nunique()), int(rows_b["task_key"].nunique()))
    sd = within_task_sd(rows, features)
    varying = sd > 0
    if not varying.any():
        return PolicyTest(pair, None, None, n, status="no-varying-feature")
    x = rows[list(features)].to_numpy(dtype=float)[:, varying]
    x = (x - x.mean(axis=0)) / sd[varying]
    sets = choice_sets(x, rows["task_key"].to_numpy(), rows["kept"].to_numpy(dtype=bool), rng)
    if sets.n_tasks < 4:
        return PolicyTest(pair, None, None, n, status="too-few-informative-tasks")
    labels = np.unique(rows["task_key"].to_numpy())
    later = set(rows_b["task_key"].unique())
    in_b = np.array([labels[i] in later for i in sets.task_index])
    shared = fit_choice(sets, c=c).log_likelihood

    def gain(mask: np.ndarray) -> float:
        own_a = fit_choice(sets, c=c, task_weights=(~mask).astype(float)).log_likelihood
        own_b = fit_choice(sets, c=c, task_weights=mask.astype(float)).log_likelihood
        return own_a + own_b - shared

    observed = gain(in_b)
    null = [gain(rng.permutation(in_b)) for _ in range(n_permutations)]
    p = (1 + sum(v >= observed - 1e-12 for v in null)) / (1 + len(null))
    return PolicyTest(pair, float(observed), float(p), n)


@dataclass(frozen=True)
class RewardDriftAuditor(BootstrapSettings):
    """Detects changes, between generations, of how users' curation departs from the declaration.

    Args:
        seed: Bootstrap seed.
        n_bootstrap: Resamples of tasks per generation.
        features: Feature-table columns (``action_shares`` for every action).
        confidence: Coverage of the percentile intervals.
        alpha: False discovery rate of the Benjamini–Hochberg correction.
        c: Inverse L2 strength on standardised features.
        n_permutations: Shuffles of tasks between two generations in the policy test.

    Examples:
        >>> RewardDriftAuditor(seed=1).name
        'reward-drift-v2'
    """

    name: ClassVar[str] = AUDITOR_NAME
    min_generations: ClassVar[int] = 2

    features: tuple[str, ...] = FEATURES
    alpha: float = ALPHA
    c: float = 1.0
    n_permutations: int = 200

    def audit(self, reader: RunReader) -> list[FindingRow]:
        """A summary finding for the run, then one finding per generation with a flagged change.

        A run with fewer than two generations of curated traces gives one ``info`` finding saying
        there is nothing to compare.

        Raises:
            AuditorConfigError: When the constructor arguments cannot be used.
            iterdeploy.simulator.errors.StoreError: When the run store cannot be read.
        """
        _check_features(self.features)
        self.check_bootstrap()
        table = build_feature_table(reader)
        evidence: dict[str, object] = {"run_id": run_id_of(reader), "generations": list(table.generations)}
        present = sorted(int(g) for g in table.frame["generation"].unique()) if len(table.frame) else []
        if len(present) < 2:
            return [make_finding(
                auditor=self.name, kind=KIND, severity="info", generation=None,
                claim=f"The run has curated traces in {len(present)} generation(s); reward drift needs "
                "two to compare.",
                numbers=RewardDriftNumbers.build({"scope": "summary", "reason": "fewer-than-two-generations",
                                                  "denominators": table.denominators(None).as_dict()}),
                evidence=evidence)]
        features = table.expand(self.features)
        per_gen = {g: compare_with_declared(table.scope(g), features, seed=self.seed, name=f"generation-{g}",
                                            n_bootstrap=self.n_bootstrap, confidence=self.confidence,
                                            c=self.c) for g in present}
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, zlib.crc32(b"policy-test")]))
        policies: list[PolicyTest] = []
        tests: list[ChangeTest] = []
        for pair in plan_pairs(tuple(present)):
            a, b = per_gen[pair.earlier], per_gen[pair.later]
            if a.n_departing == 0 and b.n_departing == 0:
                continue  # users kept exactly the declared choice in both: the same (declared) policy
            policies.append(policy_test(table.scope(pair.earlier), table.scope(pair.later), features,
                                        pair, rng=rng, n_permutations=self.n_permutations, c=self.c))
            for f in features:
                t = weight_test(pair, a.effect("departure", f), b.effect("departure", f))
                if t is not None:
                    tests.append(t)
            s = share_test(pair, a, b)
            if s is not None:
                tests.append(s)
        policies = self._adjust_policies(policies)
        tests = self._adjust(tests)
        changed = {t.pair for t in policies if t.p_adjusted is not None and t.p_adjusted < self.alpha}
        findings = [self._summary(table, per_gen, policies, tests, evidence)]
        explained = False  # a change already reported explains later generations' distance from the first
        for g in present[1:]:
            pairs = [t for t in policies if t.pair.later == g and t.pair in changed
                     and (t.pair.relation == "consecutive" or not explained)]
            if pairs:
                explained = True
                mine = [t for t in tests if t.pair.later == g and t.pair in changed
                        and t.feature != "departure_share" and t.p_value is not None
                        and t.p_value < self.alpha and t.outside_interval]
                findings.append(self._flag_finding(table, g, per_gen, pairs, mine, tests, evidence))
        return findings

    def _adjust_policies(self, tests: list[PolicyTest]) -> list[PolicyTest]:
        tested = [t for t in tests if t.p_value is not None]
        if not tested:
            return tests
        adjusted = dict(zip((id(t) for t in tested),
                            stats.false_discovery_control([t.p_value for t in tested]), strict=True))  # type: ignore[misc]
        return [PolicyTest(t.pair, t.statistic, t.p_value, t.n_tasks, float(adjusted[id(t)]), t.status)
                if id(t) in adjusted else t for t in tests]

    def _adjust(self, tests: list[ChangeTest]) -> list[ChangeTest]:
        if not tests:
            return tests
        adjusted = stats.false_discovery_control([t.p_value for t in tests])  # type: ignore[misc]
        out = []
        for t, p in zip(tests, adjusted, strict=True):
            flagged = bool(p < self.alpha) and t.outside_interval
            out.append(ChangeTest(t.pair, t.feature, t.earlier, t.later, t.difference, t.p_value,
                                  float(p), t.outside_interval, flagged))
        return out

    def _flag_finding(self, table: FeatureTable, generation: int, per_gen: dict[int, RewardComparison],
                      policies: list[PolicyTest], moved: list[ChangeTest], tests: list[ChangeTest],
                      evidence: dict[str, object]) -> FindingRow:
        share_moved = any(t.flagged for t in tests if t.pair.later == generation
                          and t.feature == "departure_share")
        directed = bool(moved)
        severity: Severity = ("high" if share_moved else "medium") if directed else "low"
        group = _rising_group(table, policies[0].pair)
        claims = []
        for t in moved:
            concept = concept_of(t.feature)
            if concept is None or t.difference is None:
                continue
            if severity == "low":
                break
            claims.append({"concept": concept, "direction": 1 if t.difference > 0 else -1,
                           "feature": t.feature, "change": t.difference, "p_value": t.p_value,
                           "ci": [None, None], "group": group, "generation": generation,
                           "pair": t.pair.as_dict()})
        how = "; ".join(f"generations {t.pair.earlier}→{t.pair.later}: permutation p = {t.p_value:.2g}, "
                        f"{t.p_adjusted:.2g} after Benjamini-Hochberg" for t in policies)
        parts = [f"{DEPARTURE_WORDS.get(t.feature, label(t.feature))} {t.earlier:+.2f} → {t.later:+.2f}"
                 for t in moved]
        b = per_gen[generation]
        text = (f"From generation {generation}, users decide differently given the same kind of "
                f"candidates ({how}). Against what the declared objective ({table.declared_objective}) "
                "would publish, what they published moved: "
                + ("; ".join(parts) if parts else "in no single feature clearly")
                + f". {b.n_departing} of its {b.n_tasks} tasks depart from the declaration"
                + (f"; the group whose departures rose most is {group}" if group else "") + ".")
        return make_finding(
            auditor=self.name, kind=KIND, severity=severity, generation=generation, claim=text,
            numbers=RewardDriftNumbers.build({
                "scope": "change", "policy_tests": [t.as_dict() for t in policies],
                "tests": [t.as_dict() for t in moved], "claims": claims,
                "departure_share_changed": share_moved, "alpha": self.alpha,
                "denominators": {**table.denominators(generation).as_dict(), "n_tasks": b.n_tasks,
                                 "n_departing_tasks": b.n_departing}}),
            evidence={**evidence, "generation": generation,
                      "departing_task_keys": list(b.departing_tasks[:10])})

    def _summary(self, table: FeatureTable, per_gen: dict[int, RewardComparison], policies: list[PolicyTest],
                 tests: list[ChangeTest], evidence: dict[str, object]) -> FindingRow:
        changed = [t for t in policies if t.p_adjusted is not None and t.p_adjusted < self.alpha]
        shares = {g: c.departure_share for g, c in per_gen.items()}
        share_text = ", ".join(f"{g}: {s:.0%}" for g, s in shares.items())
        if changed:
            when = sorted({t.pair.later for t in changed})
            claim = (f"How users decide beyond the declared objective ({table.declared_objective}) "
                     f"changed at generation(s) {', '.join(map(str, when))}; share of tasks departing "
                     f"from the declaration per generation: {share_text}.")
        elif all(c.n_departing == 0 for c in per_gen.values()):
            claim = (f"Users kept exactly what the declared objective ({table.declared_objective}) keeps "
                     f"in every generation, so their reward beyond it is zero throughout: no drift.")
        else:
            claim = (f"Users depart from the declared objective ({table.declared_objective}), but the way "
                     f"they decide did not change between generations ({len(policies)} permutation tests, "
                     f"Benjamini-Hochberg at {self.alpha}); share of tasks departing per generation: "
                     f"{share_text}.")
        return make_finding(
            auditor=self.name, kind=KIND, severity="info", generation=None, claim=claim,
            numbers=RewardDriftNumbers.build({
                "scope": "summary", "declared_objective": table.declared_objective,
                "departure_share": {str(g): s for g, s in shares.items()},
                "policy_tests": [t.as_dict() for t in policies], "n_tests": len(policies),
                "n_flagged": len(changed), "tests": [t.as_dict() for t in tests],
                "alpha": self.alpha, "n_permutations": self.n_permutations,
                "method": "per pair of generations: permutation test (tasks shuffled between the "
                "two) of the gain in penalised conditional log-likelihood from one within-task "
                "reward per generation over a shared one, Benjamini-Hochberg over pairs; the "
                "published-set shifts that moved (Wald z on bootstrap standard errors) name the "
                "direction; Fisher's exact test on departure shares sets high vs medium",
                "denominators": {**table.denominators(None).as_dict(),
                                 "by_generation": {str(g): {"n_tasks": c.n_tasks,
                                                            "n_departing_tasks": c.n_departing}
                                                   for g, c in per_gen.items()}}}),
            evidence=evidence)


def _rising_group(table: FeatureTable, pair: GenerationPair) -> str | None:
    """The group whose share of departing tasks rose most from ``pair.earlier`` to ``pair.later``."""
    frame = table.frame
    if frame["group"].nunique() < 2:
        return str(frame["group"].iloc[0]) if len(frame) else None
    best, rise = None, 0.0
    for group, rows in frame.groupby("group", sort=True):
        shares = []
        for g in (pair.earlier, pair.later):
            r = rows[rows["generation"] == g]
            tasks = r["task_key"].nunique()
            dep = (r["kept"] != r["declared_kept"]).groupby(r["task_key"]).any().sum() if tasks else 0
            shares.append(dep / tasks if tasks else 0.0)
        if shares[1] - shares[0] > rise:
            best, rise = str(group), shares[1] - shares[0]
    return best
