"""How often each finding, and each directional claim, recurs across the seeds of a scenario.

Two levels, because auditors say things at two grains:

* a **finding** is identified across seeds by its auditor, kind, generation and the subject its
  numbers name (:data:`SUBJECT_FIELDS`: the user group of an attribution, the feature, purpose and
  pair of generations of a drift test, the signal of a collapse, the size of a capability change);
  within one run no two findings share such a key;
* a **claim** (``numbers.claims``, written by the reward auditors: a concept, a direction, the
  feature it was read off, and a user group and generation where the auditor tells them apart) is
  identified by its auditor, kind, concept, group and generation, whatever feature carried it.

Each key counts the seeds it turns up in against the seeds whose run holds that auditor's findings
at all (a run audited with ``--only drift`` says nothing about the other auditors), with the
severities and signs it had there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from iterdeploy.auditors.payloads import claims_of, payload
from iterdeploy.auditors.pooling.results import ClaimRecurrence, FindingRecurrence, Sign, recurrence_of
from iterdeploy.auditors.pooling.runs import AuditedRun
from iterdeploy.simulator.store import FindingRow

SUBJECT_FIELDS = ("group", "purpose", "feature", "signal", "size", "generations")
"""Fields of a finding's numbers that name what it is about, in the order :func:`subject_of`
writes them (``generations`` is a drift test's pair, written ``earlier→later``)."""

SEVERITY_ORDER = ("info", "low", "medium", "high")
ALARM = frozenset({"medium", "high"})
"""Severities a stakeholder is asked to act on."""


def subject_of(numbers: dict[str, Any]) -> str:
    """The subject of a finding, ``name=value`` pairs of :data:`SUBJECT_FIELDS` it has.

    Examples:
        >>> subject_of({"feature": "plan_length", "purpose": "deploy",
        ...             "generations": {"earlier": 0, "later": 2}, "p_value": 0.01})
        'purpose=deploy, feature=plan_length, generations=0→2'
    """
    parts = []
    for name in SUBJECT_FIELDS:
        value = numbers.get(name)
        if value is None or (name == "generations" and not isinstance(value, dict)):
            continue
        if name == "generations":
            value = f"{value.get('earlier')}→{value.get('later')}"
        parts.append(f"{name}={value}")
    return ", ".join(parts)


def direction_of(numbers: dict[str, Any]) -> Sign | None:
    """The direction a finding states in ``numbers.direction``: +1/-1, or ``higher``/``lower``
    (drift tests); None when it states none."""
    return sign_of(numbers.get("direction"))


def sign_of(value: object) -> Sign | None:
    """A stated direction as a sign: +1/-1, ``higher``/``lower``, ``up``/``down``; None otherwise."""
    if value in (1, "higher", "up"):
        return 1
    if value in (-1, "lower", "down"):
        return -1
    return None


def _strongest(severities: Sequence[str]) -> str:
    return max(severities, key=SEVERITY_ORDER.index)


def _severity_counts(per_seed: Sequence[str]) -> dict[str, int]:
    return {s: per_seed.count(s) for s in SEVERITY_ORDER if s in per_seed}


@dataclass
class _Seen:
    """What one key collected over the seeds (seed index → what it was there)."""

    severity: dict[int, str] = field(default_factory=dict)
    signs: dict[int, set[int]] = field(default_factory=dict)
    features: set[str] = field(default_factory=set)
    claim: str = ""

    def add(self, index: int, finding: FindingRow, sign: int | None) -> None:
        earlier = self.severity.get(index, finding.severity)
        self.severity[index] = _strongest([earlier, finding.severity])
        self.signs.setdefault(index, set())
        if sign is not None:
            self.signs[index].add(sign)
        self.claim = self.claim or finding.claim


def _audited(members: Sequence[AuditedRun]) -> dict[str, int]:
    """Auditor (with version) → seeds whose run holds its findings."""
    counts: dict[str, int] = {}
    for member in members:
        for auditor in {f.auditor for f in member.findings}:
            counts[auditor] = counts.get(auditor, 0) + 1
    return counts


def findings_across_seeds(members: Sequence[AuditedRun]) -> list[FindingRecurrence]:
    """Every finding key of any seed of one scenario (``members``: its runs by seed), counted over
    the seeds, by auditor, kind, generation and subject."""
    seen: dict[tuple[str, str, int | None, str], _Seen] = {}
    for index, member in enumerate(members):
        for f in member.findings:
            # the subject and direction fields are shared by name across kinds (and read the same
            # way for a kind without a model), so they are read off the payload as stored
            numbers = payload(f).as_json()
            key = (f.auditor, f.kind, f.generation, subject_of(numbers))
            seen.setdefault(key, _Seen()).add(index, f, direction_of(numbers))
    audited = _audited(members)
    out = []
    for (auditor, kind, generation, subject), s in sorted(seen.items(), key=lambda kv: _order(kv[0])):
        per_seed = [s.severity[i] for i in sorted(s.severity)]
        out.append(FindingRecurrence(
            auditor=auditor, kind=kind, generation=generation, subject=subject,
            n_audited=audited[auditor], n_present=len(s.severity),
            seeds=[members[i].run.seed for i in sorted(s.severity)],
            severities=_severity_counts(per_seed), n_alarm=sum(v in ALARM for v in per_seed),
            n_up=sum(signs == {1} for signs in s.signs.values()),
            n_down=sum(signs == {-1} for signs in s.signs.values()),
            recurrence=recurrence_of(len(s.severity), audited[auditor]), claim=s.claim))
    return out


def claims_across_seeds(members: Sequence[AuditedRun]) -> list[ClaimRecurrence]:
    """Every claim key of any seed of one scenario, counted over the seeds, by auditor, kind,
    concept, group and generation."""
    seen: dict[tuple[str, str, str, str | None, int | None], _Seen] = {}
    for index, member in enumerate(members):
        for f in member.findings:
            for claim in claims_of(payload(f)):
                if claim.concept is None:
                    continue
                key = (f.auditor, f.kind, claim.concept, claim.group, claim.generation)
                entry = seen.setdefault(key, _Seen())
                entry.add(index, f, sign_of(claim.direction))
                if claim.feature:
                    entry.features.add(claim.feature)
    audited = _audited(members)
    out = []
    for (auditor, kind, concept, group, generation), s in sorted(seen.items(), key=lambda kv: (
            kv[0][:3], kv[0][3] or "", kv[0][4] is not None, kv[0][4] or 0)):
        per_seed = [s.severity[i] for i in sorted(s.severity)]
        up = sum(signs == {1} for signs in s.signs.values())
        down = sum(signs == {-1} for signs in s.signs.values())
        mixed = sum(len(signs) > 1 for signs in s.signs.values())
        sign: Sign | None = None
        if up and not down and not mixed:
            sign = 1
        elif down and not up and not mixed:
            sign = -1
        out.append(ClaimRecurrence(
            auditor=auditor, kind=kind, concept=concept, group=group, generation=generation,
            n_audited=audited[auditor], n_present=len(s.severity),
            seeds=[members[i].run.seed for i in sorted(s.severity)], n_up=up, n_down=down, n_mixed=mixed,
            sign=sign, severities=_severity_counts(per_seed), n_alarm=sum(v in ALARM for v in per_seed),
            features=sorted(s.features), recurrence=recurrence_of(len(s.severity), audited[auditor])))
    return out


def _order(key: tuple[str, str, int | None, str]) -> tuple[str, str, bool, int, str]:
    auditor, kind, generation, rest = key
    return auditor, kind, generation is not None, generation or 0, rest
