"""Scoring one audited run against the truth its case plants.

Everything here reads what a stakeholder would read, the stored findings, plus the truth only the
simulator knows: the recorded A(τ) of every curated deployment trace and the suite's statement of
what was planted. Nothing is re-fitted: an auditor is scored on what it claimed.

A finding makes *claims* (``numbers["claims"]``): a concept (``validity``, ``length``,
``action:<name>``), the direction in which the users' curation departs from the declared objective
on it (+1 keeps more of it than declared, -1 less), the feature and interval behind it, and where
the auditor can tell, the user group and the generation. A finding that infers a reward publishes
it (``numbers["inferred_reward"]``: log-odds per unit of each feature, and which table the features
come from), so it can be applied to every trace and compared with A(τ) within tasks.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from iterdeploy.auditors.calibration.suite import Case
from iterdeploy.auditors.core.recovery import (
    Concordance,
    is_graded,
    pairwise_concordance,
    tiebreak_key,
    within_task_correlation,
    within_task_softmax,
)
from iterdeploy.auditors.payloads import (
    AttributionNumbers,
    FindingPayload,
    ImplicitRewardNumbers,
    InferredReward,
    claims_of,
)
from iterdeploy.auditors.registry import split_version
from iterdeploy.auditors.reward.keep_model import GroupKeepModel, keep_probability
from iterdeploy.auditors.reward.within_task import apply_reward
from iterdeploy.simulator.store import FindingRow

ALARM = frozenset({"medium", "high"})
"""Severities a stakeholder is asked to act on."""


@dataclass(frozen=True)
class Claim:
    """One directional claim of a finding (see the module docstring)."""

    auditor: str
    severity: str
    concept: str
    direction: int
    group: str | None
    generation: int | None
    feature: str
    ci: tuple[float | None, float | None]

    @classmethod
    def read(cls, finding: FindingRow, numbers: FindingPayload) -> list[Claim]:
        """The claims of one finding (``numbers`` is its payload).

        Raises:
            ValueError: A claim without a concept or a direction.
        """
        out = []
        for c in claims_of(numbers):
            if c.concept is None or c.direction is None:
                raise ValueError(f"{finding.auditor} finding {finding.finding_id}: a claim needs a concept "
                                 f"and a direction, got {c.model_dump(exclude_unset=True)!r}")
            ci = c.ci or [None, None]
            out.append(cls(
                auditor=finding.auditor, severity=finding.severity, concept=c.concept,
                direction=c.direction, group=c.group, generation=c.generation,
                feature=c.feature or "", ci=(ci[0], ci[1]),
            ))
        return out


@dataclass(frozen=True)
class Recovery:
    """How well one auditor's inferred reward orders traces as A(τ) does, within tasks."""

    auditor: str
    status: str
    """``scored``, ``cannot tell`` (the auditor says its evidence is too weak to claim a reward) or
    ``no reward`` (no run-level reward in its findings)."""
    concordance: Concordance | None = None
    """Over every pair of one task's traces that A(τ) orders."""
    concordance_strict: Concordance | None = None
    """The same without the pairs A(τ) orders only by the selector's last tie-break."""
    correlation: float | None = None
    graded: bool = False

    def as_dict(self) -> dict[str, object]:
        """Plain dict for the JSON results."""
        return {
            "auditor": self.auditor,
            "status": self.status,
            "concordance": None if self.concordance is None else self.concordance.as_dict(),
            "concordance_without_tiebreak_only": None if self.concordance_strict is None
            else self.concordance_strict.as_dict(),
            "within_task_correlation": self.correlation,
            "graded": self.graded,
        }


@dataclass(frozen=True)
class Detection:
    """What one auditor said about one planted preference (or the planted drift)."""

    auditor: str
    target: str
    """``planted:<group>`` or ``drift``."""
    sign: str
    """``right``, ``wrong``, ``mixed`` (both), ``none`` (no alarm on the concepts) or ``n/a``
    (the auditor pools groups and the case's groups pull opposite ways)."""
    group: str
    """``right``, ``other`` (right sign, wrong group), ``n/a`` (the auditor does not attribute)
    or ``none``."""
    generation: str = "n/a"
    """For drift: ``right`` when an alarm names the generation of the change, ``other``, ``none``."""
    detected: bool = False
    """Alarm (medium or high) with the right sign, no wrong one, and the right group where the
    auditor attributes (and the right generation for drift)."""

    def as_dict(self) -> dict[str, object]:
        """Plain dict for the JSON results."""
        return {"auditor": self.auditor, "target": self.target, "sign": self.sign, "group": self.group,
                "generation": self.generation, "detected": self.detected}


@dataclass(frozen=True)
class RunScore:
    """Every score of one audited run."""

    case: str
    seed: int
    null: bool
    severities: dict[str, dict[str, int]]
    alarms: list[dict[str, object]]
    recovery: list[Recovery]
    detections: list[Detection]
    estimates: list[dict[str, Any]] = field(default_factory=list)
    n_groups: int = 1
    """The white-box departure per task on each planted concept, pooled and for the planted group,
    alarm or not (what the plots show)."""

    def n_alarms(self, auditor: str | None = None) -> int:
        """Medium and high findings (of one auditor, or all)."""
        return sum(1 for a in self.alarms if auditor is None or a["auditor"] == auditor)

    def as_dict(self) -> dict[str, object]:
        """Plain dict for the JSON results."""
        return {
            "case": self.case, "seed": self.seed, "null": self.null, "severities": self.severities,
            "alarms": self.alarms, "recovery": [r.as_dict() for r in self.recovery],
            "detections": [d.as_dict() for d in self.detections],
            "estimates": self.estimates,
            "n_groups": self.n_groups,
        }


def base_name(auditor: str) -> str:
    """``implicit-reward-v2`` → ``implicit-reward`` (the registry's command name)."""
    return split_version(auditor)[0]


def recovery(
    auditor: str, reward: InferredReward | None, table: pd.DataFrame | None, cannot_tell: bool = False
) -> Recovery:
    """Score an inferred reward (``numbers.inferred_reward``) on ``table``'s traces, whose
    ``acceptance_prob`` is the truth: its per-group mixture where it publishes one (a population
    of several groups), else its one reward."""
    if cannot_tell:
        return Recovery(auditor, "cannot tell")
    if reward is None or table is None or not reward.per_unit:
        return Recovery(auditor, "no reward")
    rows = table[table["acceptance_prob"].notna()].reset_index(drop=True)
    task = rows["task_key"].to_numpy()
    if reward.mixture:
        score = probability = keep_probability([GroupKeepModel.from_part(m) for m in reward.mixture], rows)
    else:
        score = apply_reward(dict(reward.per_unit), rows)
        probability = within_task_softmax(task, score)
    truth = rows["acceptance_prob"].to_numpy(dtype=float)
    every = pairwise_concordance(task, truth, score)
    strict = pairwise_concordance(task, truth, score, tiebreak_key(rows))
    return Recovery(auditor, "scored", every, strict, within_task_correlation(task, truth, probability),
                    is_graded(truth))


def detections(case: Case, claims: list[Claim], auditors: list[str]) -> list[Detection]:
    """For each planted preference and the planted drift: what each auditor's alarms said."""
    out = []
    alarms = [c for c in claims if c.severity in ALARM]
    pooled_signs: dict[str, set[int]] = {}
    for p in case.planted:
        for concept, sign in p.signs.items():
            pooled_signs.setdefault(concept, set()).add(sign)
    for auditor in auditors:
        mine = [c for c in alarms if base_name(c.auditor) == auditor]
        for p in case.planted:
            out.append(_judge(auditor, f"planted:{p.group}", p.group, p.signs, mine, pooled_signs))
        if case.drift is not None:
            d = case.drift
            out.append(_judge(auditor, "drift", d.group, d.signs, mine, pooled_signs, d.generation))
    return out


def _judge(
    auditor: str,
    target: str,
    group: str,
    signs: Mapping[str, int],
    claims: list[Claim],
    pooled: dict[str, set[int]],
    generation: int | None = None,
) -> Detection:
    relevant = [c for c in claims if c.concept in signs and (c.group is None or c.group == group
                                                             or c.direction == signs[c.concept])]
    if generation is not None:
        relevant = [c for c in relevant if c.generation is not None]
    usable = [c for c in relevant if c.group is not None or len(pooled.get(c.concept, {0})) == 1
              or generation is not None]
    if relevant and not usable:
        return Detection(auditor, target, "n/a", "n/a")
    right = [c for c in usable if c.direction == signs[c.concept]]
    wrong = [c for c in usable if c.direction != signs[c.concept] and (c.group in (None, group))]
    sign = ("mixed" if right and wrong else "right" if right else "wrong" if wrong else "none")
    attributing = [c for c in right if c.group is not None]
    if not right:
        group_word = "none"
    elif not attributing:
        group_word = "n/a"
    else:
        group_word = "right" if any(c.group == group for c in attributing) else "other"
    generation_word = "n/a"
    if generation is not None:
        at = {c.generation for c in right}
        generation_word = "right" if generation in at else ("other" if at else "none")
    detected = sign == "right" and group_word in ("right", "n/a") and generation_word in ("right", "n/a")
    return Detection(auditor, target, sign, group_word, generation_word, detected)


def severity_counts(findings: list[FindingRow]) -> dict[str, dict[str, int]]:
    """Auditor → severity → count."""
    out: dict[str, Counter[str]] = {}
    for f in findings:
        out.setdefault(base_name(f.auditor), Counter())[f.severity] += 1
    return {a: dict(c) for a, c in sorted(out.items())}


WHITE_BOX_FEATURE = {"validity": "is_valid", "length": "length_above_best"}
"""Concept → the white-box feature that measures it (``action:<a>`` → ``share_<a>``)."""


def white_box_feature(concept: str) -> str:
    """The white-box feature that measures ``concept``."""
    if concept.startswith("action:"):
        return "share_" + concept.removeprefix("action:")
    return WHITE_BOX_FEATURE[concept]


def planted_estimates(
    case: Case, decoded: list[tuple[FindingRow, FindingPayload]]
) -> list[dict[str, Any]]:
    """For each planted (group, concept): the implicit-reward auditor's run-level departure per task
    (all groups pooled) and the attribution auditor's for the planted group, with intervals."""
    pooled = next((n for f, n in decoded if isinstance(n, ImplicitRewardNumbers)
                   and base_name(f.auditor) == "implicit-reward" and f.generation is None), None)
    groups = {n.group: n for f, n in decoded if isinstance(n, AttributionNumbers)
              and base_name(f.auditor) == "attribution" and n.scope == "group"}
    out: list[dict[str, Any]] = []
    for p in case.planted:
        for concept, sign in p.signs.items():
            feature = white_box_feature(concept)
            for scope, numbers in (("pooled", pooled), (f"group:{p.group}", groups.get(p.group))):
                effect = None if numbers is None else numbers.shifts().get(feature)
                if effect is None or effect.is_empty():
                    continue
                out.append({"group": p.group, "concept": concept, "sign": sign, "scope": scope,
                            "feature": feature, "estimate": effect.weight,
                            "ci_low": effect.ci_low, "ci_high": effect.ci_high})
    return out
