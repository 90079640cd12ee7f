"""A planted policy change (``dynamics.schedule``) through the real loop: the decisions and A(τ)
of the scheduled generation follow the new policy, the population records say so, and a run that
crashed after the change resumes to exactly what the uninterrupted run wrote."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from iterdeploy.simulator.loop import run_scenario
from iterdeploy.simulator.scenario import parse_scenario
from iterdeploy.simulator.store import RunReader
from tests.conftest import killed_in_generation

# converts switch at generation 1 to publishing everything, at 2x their weight: an invalid trace's
# A(τ) jumps from 0 to their share, which no other change of the run could explain
YAML = """
name: tiny_schedule
users:
  - {name: validators, weight: 0.6, policy: validity}
  - {name: converts, weight: 0.4, policy: validity}
dynamics:
  schedule:
    - {generation: 1, group: converts, policy: accept_all, weight: 1.2}
"""


def _spec(overrides: dict[str, object]):  # type: ignore[no-untyped-def]
    return parse_scenario(YAML, overrides={**overrides, "generations": 2})


def _fingerprint(run_dir: Path) -> dict[str, Any]:
    with RunReader(run_dir) as reader:
        return {
            "traces": [(t.trace_id, t.generation, t.completion, t.status) for t in reader.traces()],
            "decisions": [(d.decision_id, d.generation, d.trace_id, d.user, d.policy, d.kept,
                           d.acceptance_prob, d.group_probs_json) for d in reader.decisions()],
            "populations": [reader.population(g) for g in range(3)],
            "training": [reader.training_set(g) for g in range(1, 3)],
        }


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    from tests.conftest import TINY_OVERRIDES

    run_dir = tmp_path_factory.mktemp("schedule") / "run"
    run_scenario(_spec(TINY_OVERRIDES), YAML, run_dir)
    return run_dir, _fingerprint(run_dir)


def test_the_scheduled_generation_is_curated_under_the_new_policy(
    uninterrupted: tuple[Path, dict[str, Any]],
) -> None:
    run_dir, found = uninterrupted
    with RunReader(run_dir) as reader:
        traces = {t.trace_id: t for t in reader.traces()}
        decisions = reader.decisions()
    records = found["populations"]
    assert [c["kind"] for r in records for c in r["changes"]] == ["scheduled"]
    assert records[1]["changes"][0] == {
        "node": "converts", "family": "converts", "kind": "scheduled", "before": "validity-v1",
        "after": "accept_all-v1", "reason": "scheduled at generation 1",
        "weight_before": 0.4, "weight_after": 1.2}
    shares = [{n["name"]: n["share"] for n in r["nodes"]} for r in records]
    assert shares[0] == pytest.approx({"validators": 0.6, "converts": 0.4})
    assert shares[1] == shares[2] == pytest.approx({"validators": 1 / 3, "converts": 2 / 3})
    for g in range(3):
        mine = [d for d in decisions if d.generation == g]
        converts = {d.policy for d in mine if d.user == "converts"}
        assert converts == ({"validity-v1"} if g == 0 else {"accept_all-v1"})
        assert {d.policy for d in mine if d.user == "validators"} <= {"validity-v1"}
        for d in mine:
            probs = json.loads(d.group_probs_json)
            assert d.acceptance_prob == pytest.approx(
                sum(shares[g][u] * p for u, p in probs.items()))
            if not traces[d.trace_id].is_valid:  # only the converts' policy can publish it
                assert probs == {"validators": 0.0, "converts": 0.0 if g == 0 else 1.0}
                assert d.acceptance_prob == pytest.approx(0.0 if g == 0 else 2 / 3)
    assert any(not traces[d.trace_id].is_valid for d in decisions if d.generation > 0)


def test_a_run_that_crashed_after_the_change_resumes_identically(
    tmp_path: Path, tiny_overrides: dict[str, object],
    uninterrupted: tuple[Path, dict[str, Any]], monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the resumed run rebuilds generation 1's population by replaying the dynamics, so the change
    # planted at generation 1 must be replayed too, or generation 2 is curated by other users
    run_dir = tmp_path / "run"
    with killed_in_generation(monkeypatch, 2):
        run_scenario(_spec(tiny_overrides), YAML, run_dir)
    with RunReader(run_dir) as reader:
        assert [g.generation for g in reader.generations()] == [0, 1]
    run_scenario(_spec(tiny_overrides), YAML, run_dir)
    assert _fingerprint(run_dir) == uninterrupted[1]
