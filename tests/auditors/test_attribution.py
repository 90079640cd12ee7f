"""Attribution: which user group's curation departs from the declaration, and in which direction."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from iterdeploy.auditors.core.features import AuditorConfigError
from iterdeploy.auditors.reward.attribution import AttributionAuditor
from iterdeploy.simulator.store import RunReader

LENGTH_BIAS = [{"name": "validators", "policy": "validity", "weight": 0.7},
               {"name": "fans", "policy": "longest", "weight": 0.3}]


def _audit(run: Path, **settings: Any) -> list[dict[str, Any]]:
    with RunReader(run) as reader:
        return [{"severity": f.severity, "claim": f.claim, "numbers": json.loads(f.numbers_json),
                 "evidence": json.loads(f.evidence_json)}
                for f in AttributionAuditor(**{"n_bootstrap": 60, **settings}).audit(reader)]


def test_the_departing_group_is_named_with_its_direction(tmp_path: Path, synthetic: Any) -> None:
    run = synthetic.write_population_store(tmp_path / "lb", LENGTH_BIAS, seed=4)
    summary, *groups = _audit(run)
    assert summary["numbers"]["scope"] == "summary"
    assert summary["numbers"]["driving_groups"] == ["fans"]
    assert summary["severity"] in ("medium", "high")
    assert {(c["concept"], c["direction"], c["group"]) for c in summary["numbers"]["claims"]} >= {
        ("length", 1, "fans")}
    by_group = {g["numbers"]["group"]: g for g in groups}
    assert by_group["validators"]["severity"] == "info"
    assert by_group["validators"]["numbers"]["beyond_declared"]["n_departing_tasks"] == 0
    assert by_group["fans"]["numbers"]["share_of_departures"] == 1.0
    assert "fans" in summary["claim"] and "follows the declared objective" in summary["claim"]


def test_one_group_has_nothing_to_attribute(tmp_path: Path, synthetic: Any) -> None:
    run = synthetic.write_population_store(tmp_path / "one", [{"name": "v", "policy": "validity"}])
    (finding,) = _audit(run)
    assert (finding["severity"], finding["numbers"]["reason"]) == ("info", "one-group")


def test_a_group_with_few_tasks_is_reported_without_a_fit(tmp_path: Path, synthetic: Any) -> None:
    users = [{"name": "many", "policy": "validity", "weight": 0.97},
             {"name": "few", "policy": "longest", "weight": 0.03}]
    run = synthetic.write_population_store(tmp_path / "few", users, seed=0, n_tasks=40, n_generations=2)
    findings = _audit(run, min_group_tasks=10)
    few = next(f for f in findings if f["numbers"].get("group") == "few")
    assert few["numbers"]["reason"] == "too-few-tasks" and few["severity"] == "info"


def test_bad_setting_is_refused(tmp_path: Path, synthetic: Any) -> None:
    run = synthetic.write_population_store(tmp_path / "x", LENGTH_BIAS, n_generations=1, n_tasks=10)
    with RunReader(run) as reader, pytest.raises(AuditorConfigError, match="min_group_tasks"):
        AttributionAuditor(min_group_tasks=0).audit(reader)
