"""What a reward finding claims, in words and as data: departures from the declared objective.

A stakeholder asks about *concepts* (does curation reward validity less than declared? longer plans?
an action?), and each auditor measures a concept with its own feature. The white-box auditors read
a concept off the within-task feature that carries it:

* ``validity`` ← ``is_valid``;
* ``length`` ← ``length_above_best`` (steps above the task's shortest valid plan);
* ``action:<name>`` ← ``share_<name>`` (the share of the plan's steps that are that action).

A *claim* is a concept, the direction in which the users' curation departs from the declared
objective on it (+1: keeps more of it than declared; -1: less), the feature and interval behind it,
and, where the auditor can tell, the user group and the generation. Claims are stored in
``numbers["claims"]`` of every finding that makes them, so a calibration (and a dashboard) reads
them without parsing sentences.

Severity, for every white-box reward auditor, is how far the users' curation is from what the
declared objective explains (:func:`departure_severity`), never the size of a weight on its own.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from scipy import stats

from iterdeploy.auditors.core.findings import Severity
from iterdeploy.auditors.reward.within_task import Effect, RewardComparison

ALPHA = 0.05
"""False discovery rate over the departures of one finding (Benjamini–Hochberg)."""

HIGH_DEPARTURE_SHARE = 0.05
"""A clear departure is ``high`` when at least this share of tasks departs (lower confidence bound)."""

LABELS: dict[str, str] = {
    "is_valid": "validity",
    "length_above_best": "plan length above the task's best valid plan",
    "is_task_shortest": "being the task's shortest valid plan",
    "is_task_longest": "being the task's longest valid plan",
    "tokens_above_best": "tokens above the fewest for the same plan length",
    "valid_ranked_before": "valid plans of the task ranked ahead (shorter)",
    "invalid_ranked_before": "invalid plans of the task ranked ahead (shorter)",
    "is_bloated": "a valid plan at least twice as long as needed",
    "is_unparseable": "an unreadable plan",
    "hit_token_limit": "hitting the token limit",
    "plan_length": "plan length",
    "n_tokens": "completion tokens",
    "task_size": "task size",
    "rel_plan_length": "plan length above the task's best valid plan",
}
"""Feature → words."""


def label(feature: str) -> str:
    """A feature in words."""
    if feature.startswith("share_"):
        return f"the share of {feature.removeprefix('share_')} actions"
    return LABELS.get(feature, feature.replace("_", " "))


def concept_of(feature: str) -> str | None:
    """The concept a white-box feature measures, read so that a positive change means more of it
    (None for the features no concept is read off).

    Length is measured by every feature that grows with a plan's length within its task: above
    the task's best, being its longest, being at least twice as long as needed. A shift towards
    longer plans often shows in one of them only (a reward-drift finding on a share of bloated
    plans, say), and it is the same claim. Being the task's *shortest* grows the other way, so it
    is left out rather than read with its sign flipped.
    """
    if feature == "is_valid":
        return "validity"
    if feature in ("length_above_best", "rel_plan_length", "is_bloated", "is_task_longest"):
        return "length"
    if feature.startswith("share_"):
        return "action:" + feature.removeprefix("share_")
    return None


def significant(effects: Iterable[Effect], alpha: float = ALPHA) -> tuple[Effect, ...]:
    """The effects whose interval excludes zero *and* whose z-test on the bootstrap standard error
    survives Benjamini–Hochberg over the effects given.

    A finding reports a dozen features; at 95% each, one of them would exclude zero by chance in
    about every second finding. The correction keeps the share of chance claims among a finding's
    claims at ``alpha``.
    """
    effects = tuple(effects)
    tested = [e for e in effects if e.weight is not None and e.se is not None and e.se > 0]
    if not tested:
        return ()
    p = [2 * stats.norm.sf(abs(e.weight or 0.0) / (e.se or 1.0)) for e in tested]
    adjusted = np.asarray(stats.false_discovery_control(p))
    return tuple(e for e, q in zip(tested, adjusted, strict=True) if q < alpha and e.clear)


def claims_from(
    departures: Iterable[Effect], *, group: str | None = None, generation: int | None = None
) -> list[dict[str, object]]:
    """One claim per significant departure (:func:`significant`) on a feature that carries a
    concept."""
    out: list[dict[str, object]] = []
    for e in significant(departures):
        concept = concept_of(e.feature)
        if concept is None:
            continue
        out.append({
            "concept": concept,
            "direction": e.direction,
            "feature": e.feature,
            "shift": e.weight,
            "ci": [e.ci_low, e.ci_high],
            "group": group,
            "generation": generation,
        })
    return out


def departure_severity(comparison: RewardComparison) -> Severity:
    """How far the users' curation is from what the declared objective explains.

    * ``info``: users kept exactly what the declared objective keeps, in every task;
    * ``low``: they departed in some tasks, but in no clear direction (no feature's departure per
      task is significant, :func:`significant`): noise, not a preference;
    * ``medium``: a clear departure (a preference the declaration does not explain);
    * ``high``: a clear departure, and the departures are common (the lower confidence bound of
      the share of departing tasks is at least :data:`HIGH_DEPARTURE_SHARE`).
    """
    if comparison.n_departing == 0:
        return "info"
    if not significant(comparison.departure):
        return "low"
    return "high" if comparison.departure_ci[0] >= HIGH_DEPARTURE_SHARE else "medium"


SEVERITY_RULE = (
    "info when users kept exactly what the declared objective keeps in every task; low when they "
    "departed but no feature's departure per task (users' kept set minus the declared set) is "
    f"significant (interval excluding zero and Benjamini-Hochberg at {ALPHA} over the finding's "
    "features); medium when one is; high when one is and the share of departing "
    f"tasks has a lower confidence bound of at least {HIGH_DEPARTURE_SHARE:.0%}"
)
"""The rule above, stored with each finding."""


def departure_text(comparison: RewardComparison, confidence: float) -> str:
    """What the users' curation does that the declared objective does not, in words."""
    c = comparison
    if c.n_departing == 0:
        return f"users kept exactly what the declared objective keeps in all {c.n_tasks} tasks"
    share = f"{c.n_departing} of {c.n_tasks} tasks ({c.departure_share:.0%})"
    clear = significant(c.departure)
    if not clear:
        return (f"users departed from the declared objective in {share}, but what they published "
                "differs from what it would have published in no clear direction (noise, not a "
                "preference)")
    pct = round(100 * confidence)
    ranked = sorted(clear, key=lambda e: -abs((e.weight or 0.0) / (e.se or 1.0)))
    shown = ranked[:TEXT_SHIFTS]
    parts = [f"{DEPARTURE_WORDS.get(e.feature, label(e.feature))} {_num(e.weight)} ({pct}% CI "
             f"{_num(e.ci_low)} to {_num(e.ci_high)})" for e in shown]
    more = f"; and {len(ranked) - len(shown)} more shifts (numbers.beyond_declared)" \
        if len(ranked) > len(shown) else ""
    return (f"users departed from the declared objective in {share}; against what it would have "
            "published from the same candidates, what they published has " + "; ".join(parts) + more)


TEXT_SHIFTS = 4
"""Significant shifts a claim spells out, largest in standard errors first; the rest are in numbers."""


def _num(x: float | None) -> str:
    """A shift with the digits it needs: shares of actions move in the third decimal."""
    if x is None:
        return "?"
    return f"{x:+.3f}" if abs(x) < 0.1 else f"{x:+.2f}"


DEPARTURE_WORDS: dict[str, str] = {
    "is_valid": "a share of valid plans",
    "length_above_best": "steps above the task's best valid plan, on average,",
    "is_task_shortest": "a share of plans at the task's shortest valid length",
    "is_task_longest": "a share of plans at the task's longest valid length",
    "tokens_above_best": "tokens above the fewest for the plan's length, on average,",
    "valid_ranked_before": "shorter valid plans left behind per plan",
    "invalid_ranked_before": "shorter invalid plans left behind per plan",
    "is_bloated": "a share of plans at least twice as long as needed",
    "is_unparseable": "a share of unreadable plans",
    "hit_token_limit": "a share of plans cut at the token limit",
}
"""Feature → what the shift of its mean says about the published plans."""
