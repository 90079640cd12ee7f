"""Building, presenting and storing :class:`~iterdeploy.simulator.store.FindingRow` values.

A finding crosses two boundaries (the store, and ``--json`` output read by the dashboard and by
scripts), so its numbers are normalised once (:mod:`iterdeploy.auditors.core.json_values`): numpy
scalars become Python numbers, NaN and infinities become ``null`` (JSON has no NaN), and floats are
rounded to a fixed number of significant digits so that the same fit gives the same bytes on every
platform. The numbers arrive as the kind's payload model (:mod:`iterdeploy.auditors.payloads`),
which normalised them when the writer built it; the evidence (run id, generations, trace ids) is
normalised here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, JsonValue

from iterdeploy.auditors.core.json_values import SIGNIFICANT_DIGITS, to_json_value
from iterdeploy.auditors.payloads import FindingPayload, payload_model
from iterdeploy.auditors.payloads.base import Severity
from iterdeploy.simulator.store import FindingRow, RunReader, RunWriter, dumps

if TYPE_CHECKING:
    from iterdeploy.auditors.interfaces import Auditor

__all__ = [
    "SIGNIFICANT_DIGITS", "FindingView", "Severity", "audit_and_store", "findings_to_json", "make_finding",
    "to_json_value", "utc_now_iso",
]

def utc_now_iso() -> str:
    """Timezone-aware UTC timestamp; metadata only, never compared for determinism."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def make_finding(
    *,
    auditor: str,
    kind: str,
    severity: Severity,
    generation: int | None,
    claim: str,
    numbers: FindingPayload,
    evidence: Mapping[str, object],
    created_at: str | None = None,
) -> FindingRow:
    """Build a finding row with canonical JSON columns.

    ``numbers`` is the kind's payload model, built by the writer (``ImplicitRewardNumbers.build``),
    so what is stored is by construction what readers parse (:func:`iterdeploy.auditors.payloads.payload`);
    a kind no model is registered for takes an :class:`~iterdeploy.auditors.payloads.UnknownPayload`.

    ``finding_id`` is set to 0: :meth:`iterdeploy.simulator.store.RunWriter.replace_findings` assigns the
    counter id when the finding is stored.

    Args:
        auditor: Registered auditor name with version, e.g. ``implicit-reward-v1``.
        kind: Finding kind, e.g. ``implicit-reward``.
        severity: How much a stakeholder should care.
        generation: Generation the finding is about, None for the whole run.
        claim: One plain-language sentence.
        numbers: The numbers behind the claim (weights, intervals, denominators), as the kind's model.
        evidence: Store keys the claim rests on (run id, generations, trace ids).
        created_at: ISO-8601 UTC timestamp; now when None.

    Returns:
        The row, ready for ``replace_findings``.

    Raises:
        TypeError: ``numbers`` is not the model registered for ``kind`` (a programming error).
    """
    expected = payload_model(kind)
    if type(numbers) is not expected:
        raise TypeError(f"the numbers of a {kind!r} finding are a {expected.__name__}, "
                        f"got {type(numbers).__name__}")
    return FindingRow(
        finding_id=0,
        auditor=auditor,
        kind=kind,
        severity=severity,
        generation=generation,
        claim=claim,
        numbers_json=dumps(numbers.as_json()),
        evidence_json=dumps(to_json_value(evidence)),
        created_at=created_at or utc_now_iso(),
    )


class FindingView(BaseModel):
    """A finding as ``iterdeploy audit --json`` prints it: JSON columns decoded."""

    model_config = ConfigDict(frozen=True)

    auditor: str
    """Registered auditor name with version."""
    kind: str
    """Finding kind (implicit-reward, drift, ...)."""
    severity: Severity
    """How much a stakeholder should care."""
    generation: int | None
    """Generation the finding is about (None for the whole run)."""
    claim: str
    """One plain-language sentence."""
    numbers: dict[str, JsonValue]
    """The numbers behind the claim."""
    evidence: dict[str, JsonValue]
    """Store keys the claim rests on."""

    @classmethod
    def from_row(cls, row: FindingRow) -> FindingView:
        """Decode a stored finding."""
        return cls(
            auditor=row.auditor,
            kind=row.kind,
            severity=row.severity,
            generation=row.generation,
            claim=row.claim,
            numbers=json.loads(row.numbers_json),
            evidence=json.loads(row.evidence_json),
        )


def findings_to_json(rows: Sequence[FindingRow]) -> str:
    """The ``--json`` output: a JSON list of :class:`FindingView` objects."""
    return json.dumps([FindingView.from_row(r).model_dump(mode="json") for r in rows], indent=2)


def audit_and_store(run_dir: str | Path, auditor: Auditor) -> list[FindingRow]:
    """Audit the run in ``run_dir``, replace ``auditor``'s earlier findings with the result, and
    return them as stored (with their counter ids); what ``iterdeploy audit`` does for each auditor.

    The store is opened for reading first, so a path that is not a run directory fails with a
    clear :class:`~iterdeploy.simulator.errors.StoreError` instead of a writer creating an empty store there;
    other auditors' findings and every other table are left as they were.

    Args:
        run_dir: A run directory (the one holding ``run.sqlite``).
        auditor: Any auditor (:class:`iterdeploy.auditors.interfaces.Auditor`); its findings are stored under
            its ``name``.

    Returns:
        The findings as stored.

    Raises:
        iterdeploy.simulator.errors.StoreError: When ``run_dir`` is not a readable run store.
        AuditorConfigError: When the auditor's settings cannot be used (or the run lacks what it
            needs: :class:`~iterdeploy.auditors.core.features.InsufficientRunError`); nothing is stored then.
    """
    with RunReader(run_dir) as reader:
        findings = auditor.audit(reader)
    writer = RunWriter(run_dir)
    try:
        writer.replace_findings(auditor.name, findings)
    finally:
        writer.close()
    with RunReader(run_dir) as reader:
        return [f for f in reader.findings() if f.auditor == auditor.name]
