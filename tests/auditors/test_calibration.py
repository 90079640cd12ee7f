"""The calibration suite: its file, its scores, and a fast calibration on stores curated by real
policies with a known A(τ) (null and a planted length preference)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from iterdeploy.auditors.calibration.report import Report, write_report
from iterdeploy.auditors.calibration.runner import CaseRun, audit_case, plan_runs, score_case
from iterdeploy.auditors.calibration.score import Claim, _judge, detections
from iterdeploy.auditors.calibration.suite import Case, Planted, Suite, SuiteError, load_suite
from iterdeploy.auditors.registry import default_specs

SUITE = Path("scenarios/calibration/suite.yaml")
LENGTH_BIAS = [{"name": "validators", "policy": "validity", "weight": 0.7},
               {"name": "fans", "policy": "longest", "weight": 0.3}]


# -- the suite file ------------------------------------------------------------------------------


def test_the_shipped_suite_loads_and_every_case_validates() -> None:
    suite, base = load_suite(SUITE)
    assert len(suite.seeds) == 5
    plans = plan_runs(suite, base, Path("runs/calibration"))
    assert len(plans) == len(suite.cases) * 5
    names = {p.name for p in plans}
    assert {"quickstart", "validity_all", "length_bias", "reward_drift"} <= names
    assert sum(c.null for c in suite.cases) == 2


def _write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "s.yaml").write_text("name: s\n")
    path = tmp_path / "suite.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("cases: [{scenario: s.yaml}]", "say what the case plants"),
        ("cases: [{scenario: s.yaml, follows_declared: true, planted: [{group: a, signs: {length: 1}}]}]",
         "plants nothing"),
        ("cases: [{scenario: s.yaml, planted: [{group: a, signs: {colour: 1}}]}]", "unknown concept"),
        ("cases: [{scenario: s.yaml, planted: [{group: a, signs: {length: 2}}]}]", "signs"),
        ("cases: [{scenario: missing.yaml, follows_declared: true}]", "not found"),
        ("seeds: [1, 1]\ncases: [{scenario: s.yaml, follows_declared: true}]", "repeat"),
        ("cases: [{scenario: s.yaml, follows_declared: true}]\nextra: 1", "extra"),
        ("cases: [", "not valid YAML"),
        ("{}", "cases"),
    ],
)
def test_a_broken_suite_is_refused_with_the_key(tmp_path: Path, text: str, match: str) -> None:
    with pytest.raises(SuiteError, match=match):
        load_suite(_write(tmp_path, text))


def test_the_command_exits_2_on_a_broken_suite(tmp_path: Path) -> None:
    import typer

    from iterdeploy.auditors.calibration.cli import register

    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """Stand-in for the iterdeploy CLI."""

    register(app)
    result = CliRunner().invoke(app, ["calibrate", str(_write(tmp_path, "cases: 3"))])
    assert result.exit_code == 2 and "error:" in result.stderr and "invalid suite" in result.stderr


# -- judging claims ------------------------------------------------------------------------------


def _claim(concept: str, direction: int, group: str | None = None, severity: str = "high",
           auditor: str = "attribution-v2", generation: int | None = None) -> Claim:
    return Claim(auditor, severity, concept, direction, group, generation, "f", (None, None))


def test_judging_sign_group_and_generation() -> None:
    signs = {"length": 1}
    right = _judge("attribution", "planted:fans", "fans", signs, [_claim("length", 1, "fans")],
                   {"length": {1}})
    assert (right.sign, right.group, right.detected) == ("right", "right", True)
    other = _judge("attribution", "planted:fans", "fans", signs, [_claim("length", 1, "validators")],
                   {"length": {1}})
    assert (other.sign, other.group, other.detected) == ("right", "other", False)
    wrong = _judge("implicit-reward", "planted:fans", "fans", signs, [_claim("length", -1)], {"length": {1}})
    assert (wrong.sign, wrong.detected) == ("wrong", False)
    pooled = _judge("implicit-reward", "planted:fans", "fans", signs, [_claim("length", 1)], {"length": {1}})
    assert (pooled.group, pooled.detected) == ("n/a", True)
    drift = _judge("reward-drift", "drift", "fans", signs, [_claim("length", 1, "fans", generation=3)],
                   {"length": {1}}, generation=2)
    assert (drift.generation, drift.detected) == ("other", False)


def test_pooled_claims_on_opposite_planted_signs_are_not_judged() -> None:
    case = Case(scenario=Path("x.yaml"), planted=(Planted(group="a", signs={"action:unstack": -1}),
                                                  Planted(group="b", signs={"action:unstack": 1})))
    claim = _claim("action:unstack", -1, auditor="implicit-reward-v2")
    found = detections(case, [claim], ["implicit-reward"])
    assert {d.sign for d in found} == {"n/a"}


def test_low_findings_are_not_detections() -> None:
    case = Case(scenario=Path("x.yaml"), planted=(Planted(group="fans", signs={"length": 1}),))
    (d,) = detections(case, [_claim("length", 1, "fans", severity="low")], ["attribution"])
    assert d.sign == "none" and not d.detected


# -- a fast calibration on synthetic stores ------------------------------------------------------------


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory: pytest.TempPathFactory, synthetic: Any) -> tuple[Report, Path]:
    root = tmp_path_factory.mktemp("calibration")
    suite = Suite(seeds=(0, 1), n_bootstrap=40, cases=(
        Case(scenario=Path("null.yaml"), follows_declared=True),
        Case(scenario=Path("lb.yaml"), planted=(Planted(group="fans", signs={"length": 1}),)),
    ))
    users = {"null": [{"name": "validators", "policy": "validity"}], "lb": LENGTH_BIAS}
    specs = tuple(s for s in default_specs() if s.command != "blackbox-reward")
    scores = []
    for case, name in zip(suite.cases, ("null", "lb"), strict=True):
        for seed in suite.seeds:
            run = synthetic.write_population_store(root / name / f"seed{seed}", users[name], seed=seed,
                                                   n_generations=3, n_tasks=50)
            plan = CaseRun(case, name, seed, Path(f"{name}.yaml"), run)
            audit_case(plan, suite, specs)
            scores.append(score_case(plan, specs))
    case_of = {"null": suite.cases[0], "lb": suite.cases[1]}
    report = Report(suite, scores, [s.command for s in specs], {}, case_of)
    return report, root


def test_no_alarm_on_the_null_case(calibrated: tuple[Report, Path]) -> None:
    report, _ = calibrated
    for score in report.cases["null"]:
        assert score.n_alarms() == 0, score.alarms


def test_the_planted_length_preference_is_found_with_its_sign_and_group(
    calibrated: tuple[Report, Path],
) -> None:
    report, _ = calibrated
    assert report.toolkit_detected("lb", "planted:fans") == [True, True]
    for auditor in ("implicit-reward", "declared-objective", "attribution"):
        for d in report.detections("lb", "planted:fans", auditor):
            assert d.sign == "right", (auditor, d)
    assert {d.group for d in report.detections("lb", "planted:fans", "attribution")} == {"right"}


def test_the_white_box_reward_orders_pairs_as_the_truth(calibrated: tuple[Report, Path]) -> None:
    report, _ = calibrated
    for case in ("null", "lb"):
        values = report.concordances(case, "implicit-reward")
        assert len(values) == 2 and min(values) >= 0.9, (case, values)


def test_the_report_is_written_from_the_scores(calibrated: tuple[Report, Path], tmp_path: Path) -> None:
    report, _ = calibrated
    written = write_report(report, tmp_path / "calibration.md", "iterdeploy calibrate x")
    doc = (tmp_path / "calibration.md").read_text()
    assert "## Targets" in doc and "iterdeploy calibrate x" in doc
    assert "| Null scenarios: 0 medium or high findings | 0 in 2 runs (null) | yes |" in doc
    assert {p.suffix for p in written} == {".md", ".json", ".svg"}
    raw = json.loads((tmp_path / "calibration.json").read_text())
    assert len(raw["runs"]) == 4 and all("recovery" in r for r in raw["runs"])
    assert (tmp_path / "calibration-concordance.svg").read_text().startswith("<?xml")
