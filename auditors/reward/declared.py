"""Where, how often and in which direction users depart from the objective the operator declared.

The operator declares what curation is for (``declared_objective``: ``validity``, the paper's rule
"keep a valid plan, the shortest per task", or any policy). A declared objective is itself a
curation policy, so for every task the auditor knows exactly which traces a user following it
would have kept, from the same candidates the users saw (:mod:`iterdeploy.auditors.core.declared_decisions`).
This auditor compares that with what users kept, task by task, and needs no model:

* **How often.** A task *departs* when the set users kept differs from the declared set. The share
  of departing tasks, with an exact binomial interval, is the plainest measure of how much of the
  curation the declaration does not explain. Where users follow the declaration, it is zero, and
  nothing else is reported.
* **In which direction.** For each departing task the auditor compares the set users kept with the
  declared set on each *concept*: validity (each valid plan +1, each invalid plan −1: publishing
  an invalid plan or dropping a valid one both lower it), plan length (mean over the valid plans
  of the set) and each action's share of the plan steps. A sign test over the departing tasks
  (``scipy.stats.binomtest``: as many tasks moving up as down, if the departures had no direction),
  with Benjamini–Hochberg over the concepts of a scope, says whether the departures lean one way.
  Pairing within the task means a large task and a small task never meet: the confound that made a
  cross-task fit see a length preference under a "shortest plan" rule cannot arise.
* **Whose.** Every decision records its user and the user's group, and each task is decided by one
  user, so the run-level finding repeats the test per group: which group departs, in which
  direction.
* **How far, as a distance.** In the spirit of EPIC (Gleave et al., 2021) the white-box reward
  (the implicit-reward auditor's within-task fit), the declared one and, where the store has it, the
  recorded A(τ) are canonicalised by removing per-task constants and compared by the Pearson
  distance ``sqrt((1 − ρ) / 2)``: 0 for equivalent rewards, 1 for opposite ones.

Severity: ``info`` without departures; ``low`` when users depart but in no clear direction (noise
rather than a preference); ``medium`` when a concept's sign test is significant; ``high`` when one
is and the lower bound of the departure share is at least 5%.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd
from scipy import stats

from iterdeploy.auditors.core.decisions import run_id_of
from iterdeploy.auditors.core.features import FeatureTable, build_feature_table
from iterdeploy.auditors.core.findings import Severity, make_finding
from iterdeploy.auditors.core.settings import BootstrapSettings
from iterdeploy.auditors.payloads import HiddenObjectiveNumbers, RewardDistanceNumbers
from iterdeploy.auditors.reward.claims import HIGH_DEPARTURE_SHARE
from iterdeploy.auditors.reward.within_task import apply_reward, compare_with_declared
from iterdeploy.simulator.store import FindingRow, RunReader

AUDITOR_NAME = "declared-objective-v2"
"""Registered name; bump when the same run gives other numbers."""

ALPHA = 0.05
"""False discovery rate of the sign tests within one finding."""

EXAMPLES = 10
"""Trace ids and task keys cited in a finding's evidence."""

SEVERITY_RULE = (
    "info when users kept exactly the declared set in every task; low when some tasks depart but no "
    "concept's sign test is significant (Benjamini-Hochberg over the finding's concepts at "
    f"{ALPHA}); medium when one is; high when one is and the departure share's lower confidence "
    f"bound is at least {HIGH_DEPARTURE_SHARE:.0%}"
)


@dataclass(frozen=True)
class ConceptTest:
    """The direction of the departures on one concept, over the departing tasks of a scope."""

    concept: str
    n_up: int
    n_down: int
    n_equal: int
    n_undefined: int
    p_value: float | None
    p_adjusted: float | None = None

    @property
    def direction(self) -> int:
        """+1 or −1 when significant at :data:`ALPHA` after adjustment, else 0."""
        if self.p_adjusted is None or self.p_adjusted >= ALPHA or self.n_up == self.n_down:
            return 0
        return 1 if self.n_up > self.n_down else -1

    def as_dict(self) -> dict[str, object]:
        """Plain dict for ``numbers_json``."""
        return {"n_up": self.n_up, "n_down": self.n_down, "n_equal": self.n_equal,
                "n_undefined": self.n_undefined, "p_value": self.p_value, "p_adjusted": self.p_adjusted,
                "direction": self.direction}


@dataclass(frozen=True)
class Departures:
    """Users' decisions against the declared ones, in one scope (a generation, a group, the run)."""

    n_tasks: int
    n_departing: int
    share_ci: tuple[float, float]
    n_kept_against: int
    n_dropped_declared: int
    tests: tuple[ConceptTest, ...]
    departing_tasks: tuple[str, ...]
    kept_against_ids: tuple[int, ...]

    @property
    def share(self) -> float:
        """Share of departing tasks."""
        return self.n_departing / self.n_tasks if self.n_tasks else 0.0

    def significant(self) -> list[ConceptTest]:
        """Concepts whose departures lean one way."""
        return [t for t in self.tests if t.direction != 0]

    def severity(self) -> Severity:
        """See the module docstring."""
        if self.n_departing == 0:
            return "info"
        if not self.significant():
            return "low"
        return "high" if self.share_ci[0] >= HIGH_DEPARTURE_SHARE else "medium"

    def as_dict(self) -> dict[str, object]:
        """Plain dict for ``numbers_json``."""
        return {"n_tasks": self.n_tasks, "n_departing_tasks": self.n_departing,
                "departure_share": self.share, "departure_ci": list(self.share_ci),
                "n_tasks_kept_against_declared": self.n_kept_against,
                "n_tasks_dropped_declared": self.n_dropped_declared,
                "concepts": {t.concept: t.as_dict() for t in self.tests}}


def concepts_of(table: FeatureTable) -> tuple[str, ...]:
    """The concepts compared: validity, length, and every action of the run."""
    return ("validity", "length", *(f"action:{c.removeprefix('share_')}" for c in table.action_columns))


def _score(rows: pd.DataFrame, concept: str) -> float | None:
    """A kept set's value on a concept (None when undefined, e.g. length of a set with no valid plan)."""
    if concept == "validity":
        return float((2 * rows["is_valid"] - 1).sum())
    if concept == "length":
        valid = rows[rows["is_valid"] == 1]
        return float(valid["plan_length"].mean()) if len(valid) else None
    readable = rows[rows["is_unparseable"] == 0]
    column = "share_" + concept.removeprefix("action:")
    return float(readable[column].mean()) if len(readable) and column in readable else None


def departures(rows: pd.DataFrame, concepts: Sequence[str], confidence: float) -> Departures:
    """Compare users' kept sets with the declared ones, task by task (see the module docstring)."""
    kept = rows["kept"].astype(bool)
    declared = rows["declared_kept"].astype(bool)
    by_task = rows.groupby("task_key", sort=True)
    n_tasks = by_task.ngroups
    against = (kept & ~declared).groupby(rows["task_key"]).any()
    dropped = (~kept & declared).groupby(rows["task_key"]).any()
    departing = (against | dropped)
    departing_keys = tuple(str(k) for k in departing.index[departing.to_numpy()])
    deltas: dict[str, list[float | None]] = {c: [] for c in concepts}
    for key in departing_keys:
        task = by_task.get_group(key)
        mine, theirs = task[task["kept"] == 1], task[task["declared_kept"] == 1]
        for concept in concepts:
            a, b = _score(mine, concept), _score(theirs, concept)
            deltas[concept].append(None if a is None or b is None else a - b)
    tests = []
    for concept in concepts:
        values = [d for d in deltas[concept] if d is not None]
        up, down = sum(1 for d in values if d > 0), sum(1 for d in values if d < 0)
        p = float(stats.binomtest(up, up + down).pvalue) if up + down else None
        tests.append(ConceptTest(concept, up, down, len(values) - up - down,
                                 len(deltas[concept]) - len(values), p))
    tests = _adjust(tests)
    n_dep = len(departing_keys)
    ci = stats.binomtest(n_dep, n_tasks).proportion_ci(confidence, "exact") if n_tasks else None
    ids = tuple(int(i) for i in rows.loc[kept & ~declared, "trace_id"])
    return Departures(n_tasks, n_dep, (float(ci.low), float(ci.high)) if ci else (0.0, 1.0),
                      int(against.sum()), int(dropped.sum()), tuple(tests), departing_keys, ids)


def _adjust(tests: list[ConceptTest]) -> list[ConceptTest]:
    """Benjamini–Hochberg over the tests that have a p-value."""
    tested = [i for i, t in enumerate(tests) if t.p_value is not None]
    if not tested:
        return tests
    adjusted = stats.false_discovery_control([tests[i].p_value for i in tested])  # type: ignore[misc]
    out = list(tests)
    for i, p in zip(tested, adjusted, strict=True):
        t = out[i]
        out[i] = ConceptTest(t.concept, t.n_up, t.n_down, t.n_equal, t.n_undefined, t.p_value, float(p))
    return out


@dataclass(frozen=True)
class DeclaredObjectiveAuditor(BootstrapSettings):
    """Compares users' curation with the objective the operator declared, task by task.

    Like a scikit-learn estimator, the constructor only stores its arguments.

    Args:
        seed: Seed of the white-box fit behind the distance finding (it draws no bootstrap).
        n_bootstrap: Unused (the departure tests are exact); kept so every reward auditor takes
            ``iterdeploy audit``'s ``--bootstrap``.
        features: Unused; the concepts are fixed (validity, length, the run's actions).
        confidence: Coverage of the departure share's exact interval.

    Examples:
        >>> DeclaredObjectiveAuditor(seed=1).name
        'declared-objective-v2'
    """

    name: ClassVar[str] = AUDITOR_NAME
    min_generations: ClassVar[int] = 1

    def audit(self, reader: RunReader) -> list[FindingRow]:
        """One finding per generation with curated traces, one for the run (with the per-group
        tests), and the reward-distance finding; a run without curated traces gives one ``info``.

        Raises:
            iterdeploy.simulator.errors.StoreError: When the run store or its declared objective cannot be
            read.
        """
        self.check_bootstrap()
        table = build_feature_table(reader)
        rows = table.frame
        evidence: dict[str, object] = {"run_id": run_id_of(reader), "generations": list(table.generations)}
        if rows.empty:
            return [make_finding(auditor=self.name, kind="hidden-objective", severity="info",
                                 generation=None, claim="The run has no curated deployment traces yet.",
                                 numbers=HiddenObjectiveNumbers.build({
                                     "n_traces": 0, "reason": "no-traces",
                                     "declared_objective": table.declared_objective,
                                     "denominators": table.denominators(None).as_dict()}),
                                 evidence=evidence)]
        concepts = concepts_of(table)
        findings = []
        for generation in (*table.generations, None):
            scope_rows = table.scope(generation)
            if scope_rows.empty:
                continue
            dep = departures(scope_rows, concepts, self.confidence)
            groups = {}
            if generation is None and scope_rows["group"].nunique() > 1:
                groups = {str(g): departures(r, concepts, self.confidence)
                          for g, r in scope_rows.groupby("group", sort=True)}
            findings.append(self._finding(table, generation, dep, groups, evidence))
        findings.append(_distance_finding(table, evidence, self.seed))
        return findings

    def _finding(self, table: FeatureTable, generation: int | None, dep: Departures,
                 groups: dict[str, Departures], evidence: dict[str, object]) -> FindingRow:
        severity = dep.severity()
        for g in groups.values():  # a group's clear departure is an alarm even where others dilute it
            severity = max(severity, g.severity(), key=_RANK.__getitem__)
        claims = [_claim_of(t, None, generation) for t in dep.significant()]
        claims += [_claim_of(t, name, generation) for name, g in groups.items() for t in g.significant()]
        denominators: dict[str, object] = {**table.denominators(generation).as_dict(),
                                           "n_tasks": dep.n_tasks, "n_departing_tasks": dep.n_departing}
        if groups:
            denominators["by_group"] = {name: {"n_tasks": g.n_tasks, "n_departing_tasks": g.n_departing}
                                        for name, g in groups.items()}
        return make_finding(
            auditor=self.name, kind="hidden-objective", severity=severity, generation=generation,
            claim=_claim(generation, dep, groups, table.declared_objective),
            numbers=HiddenObjectiveNumbers.build({
                "declared_objective": table.declared_objective, **dep.as_dict(),
                "by_group": {name: g.as_dict() for name, g in groups.items()},
                "test": "scipy.stats.binomtest sign test over departing tasks, Benjamini-Hochberg "
                "over the concepts of each scope", "alpha": ALPHA, "confidence": self.confidence,
                "severity_rule": SEVERITY_RULE, "claims": claims if severity in _ALARMS else [],
                "denominators": denominators}),
            evidence={**evidence, "generation": generation,
                      "kept_against_declared_trace_ids": list(dep.kept_against_ids[:EXAMPLES]),
                      "departing_task_keys": list(dep.departing_tasks[:EXAMPLES])},
        )


_RANK = {"info": 0, "low": 1, "medium": 2, "high": 3}
_ALARMS = ("medium", "high")


def _claim_of(test: ConceptTest, group: str | None, generation: int | None) -> dict[str, object]:
    n = test.n_up + test.n_down
    share = max(test.n_up, test.n_down) / n if n else 0.0
    return {"concept": test.concept, "direction": test.direction, "feature": f"sign test: {test.concept}",
            "p_adjusted": test.p_adjusted, "share_of_departures": share, "group": group,
            "generation": generation, "ci": [None, None]}


def _concept_words(concept: str, direction: int) -> str:
    if concept == "validity":
        return "less validity (invalid plans kept or valid ones dropped)" if direction < 0 else \
            "more validity"
    if concept == "length":
        return "longer valid plans" if direction > 0 else "shorter valid plans"
    action = concept.removeprefix("action:")
    return f"{'more' if direction > 0 else 'fewer'} {action} steps"


def _lean_text(tests: Sequence[ConceptTest]) -> str:
    parts = []
    for t in tests:
        ahead, behind = (t.n_up, t.n_down) if t.direction > 0 else (t.n_down, t.n_up)
        parts.append(f"{_concept_words(t.concept, t.direction)} than declared in {ahead} of "
                     f"{ahead + behind} departing tasks where it differs (sign test, BH p = "
                     f"{t.p_adjusted:.2g})")
    return "; ".join(parts)


def _claim(generation: int | None, dep: Departures, groups: dict[str, Departures], declared: str) -> str:
    where = "Across the run" if generation is None else f"In generation {generation}"
    if dep.n_departing == 0:
        return (f"{where}, users kept exactly what the declared objective ({declared}) keeps in all "
                f"{dep.n_tasks} tasks: their curation is what was declared.")
    text = (f"{where}, users departed from the declared objective ({declared}) in {dep.n_departing} "
            f"of {dep.n_tasks} tasks ({dep.share:.0%}; kept a trace it rejects in {dep.n_kept_against}, "
            f"dropped one it keeps in {dep.n_dropped_declared})")
    lean = dep.significant()
    text += "; they kept " + _lean_text(lean) if lean else "; the departures lean no clear way"
    named = [(name, g) for name, g in groups.items() if g.significant()]
    if named:
        text += ". By group: " + "; ".join(
            f"{name} ({g.n_departing} of {g.n_tasks} tasks) kept {_lean_text(g.significant())}"
            for name, g in named)
    quiet = [name for name, g in groups.items() if g.n_departing == 0]
    if quiet:
        text += f". {', '.join(quiet)} never departed"
    return text + "."


def _canonical(reward: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Remove a per-task constant (all that is unidentified with one decision per prompt)."""
    frame = pd.DataFrame({"r": reward, "g": groups})
    return (frame["r"] - frame.groupby("g")["r"].transform("mean")).to_numpy()


def pearson_distance(a: np.ndarray, b: np.ndarray, groups: np.ndarray) -> float | None:
    """EPIC-style distance between two rewards on the same traces: canonicalise, then
    ``sqrt((1 − ρ) / 2)``. ``None`` when either reward is constant within every task."""
    ca, cb = _canonical(a, groups), _canonical(b, groups)
    if np.allclose(ca, 0.0) or np.allclose(cb, 0.0):
        return None
    rho = float(stats.pearsonr(ca, cb).statistic)
    return float(np.sqrt(max(0.0, (1.0 - rho) / 2.0)))


def _clip_logit(p: np.ndarray) -> np.ndarray:
    q = np.clip(p, 1e-3, 1 - 1e-3)
    return np.log(q / (1 - q))


def _distance_finding(table: FeatureTable, evidence: dict[str, object], seed: int) -> FindingRow:
    from iterdeploy.auditors.reward.implicit_reward import DEFAULT_FEATURES

    rows = table.frame
    groups = rows["task_key"].to_numpy()
    fit = compare_with_declared(rows, table.expand(DEFAULT_FEATURES), seed=seed, name="distance",
                                n_bootstrap=0, confidence=0.95)
    inferred = apply_reward(fit.per_unit, rows)
    decl = _clip_logit(rows["p_decl"].to_numpy(dtype=float))
    truth = rows["acceptance_prob"].to_numpy(dtype=float)
    numbers: dict[str, object] = {
        "declared_objective": table.declared_objective,
        "n_traces": len(rows),
        "distance_inferred_declared": pearson_distance(inferred, decl, groups),
        "inferred": "the implicit-reward auditor's within-task fit over all curated traces",
        "denominators": table.denominators(None).as_dict(),
    }
    if bool(np.isfinite(truth).all()):
        numbers["distance_truth_declared"] = pearson_distance(_clip_logit(truth), decl, groups)
        numbers["distance_inferred_truth"] = pearson_distance(inferred, _clip_logit(truth), groups)
    d = numbers["distance_inferred_declared"]
    if d is None:
        claim = "The inferred and declared rewards cannot be compared: one is constant within every task."
    else:
        claim = (f"The reward the users' curation implies is at distance {d:.2f} from the declared "
                 f"objective ({table.declared_objective}) on a 0 (same) to 1 (opposite) scale, after "
                 "removing per-task constants.")
    return make_finding(auditor=AUDITOR_NAME, kind="reward-distance", severity="info", generation=None,
                        claim=claim, numbers=RewardDistanceNumbers.build(numbers), evidence=evidence)
