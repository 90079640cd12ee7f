"""The shipped scenarios and the scenario/sweep commands."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from iterdeploy.simulator.cli import app
from iterdeploy.simulator.cli.run_cmd import parse_seeds
from iterdeploy.simulator.errors import ScenarioError
from iterdeploy.simulator.loop import run_scenario
from iterdeploy.simulator.scenario import load_scenario
from iterdeploy.simulator.store import RunReader
from iterdeploy.simulator.users import Population, declared_policy
from iterdeploy.simulator.users.policy_spec import PolicySpec
from iterdeploy.simulator.users.stages import ValidityStage

SCENARIOS = sorted((Path(__file__).parents[2] / "scenarios").glob("*.yaml"))
REQUIRED = {"quickstart", "no_curation", "length_bias", "complacent_users", "adversarial_minority",
            "noisy_validators", "polarized_population", "replace_vs_accumulate",
            "paper_blocksworld_rovers_sokoban", "paper_ipc10", "validity_all", "reward_drift"}
runner = CliRunner()


def test_the_documented_scenarios_ship() -> None:
    assert REQUIRED <= {p.stem for p in SCENARIOS}


PAPER_BASES = {"blocksworld": "a4956a8d22a8ed73", "rovers": "83609158865a4cb7",
               "sokoban": "9328a190f4ab6eec"}
"""The base of each domain that docs/model-card.md probes and docs/results.md runs the loop on."""


@pytest.mark.parametrize("name", ["quickstart", "paper_rovers", "paper_sokoban",
                                  "paper_blocksworld_rovers_sokoban", "paper_ipc10"])
def test_the_paper_scenarios_plan_every_domain_with_its_measured_base(name: str) -> None:
    """A scenario that plans a domain with another recipe than the one measured (a corpus
    parameter forgotten in one file) pretrains a base nobody probed, for hours, and reports
    numbers no doc explains."""
    spec, _ = load_scenario(Path(__file__).parents[2] / "scenarios" / f"{name}.yaml")
    embedded = spec.model.embedded
    parts = embedded.split() if embedded.per_domain else {"+".join(embedded.domains()): embedded}
    assert {domain: part.content_hash() for domain, part in parts.items()} == {
        domain: PAPER_BASES[domain] for domain in parts}


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_every_shipped_scenario_is_valid_and_says_what_it_asks(path: Path) -> None:
    spec, text = load_scenario(path)
    assert spec.name == path.stem
    assert text.startswith("# "), "a scenario opens with the question it answers"
    assert len(spec.question) > 40


def test_scenario_validate_and_show(tmp_path: Path) -> None:
    ok = runner.invoke(app, ["scenario", "validate", *map(str, SCENARIOS)])
    assert ok.exit_code == 0, ok.output
    assert ok.output.count("ok ") == len(SCENARIOS)
    shown = runner.invoke(app, ["scenario", "show", str(SCENARIOS[0]), "--json",
                                "--set", "deploy.temperature=0.5"])
    assert shown.exit_code == 0
    resolved = json.loads(shown.output)
    assert resolved["deploy"]["temperature"] == 0.5
    assert resolved["users"][0]["policy"]["stages"], "defaults are filled in"
    as_yaml = yaml.safe_load(runner.invoke(app, ["scenario", "show", str(SCENARIOS[0])]).output)
    assert as_yaml["pool"] == {"mode": as_yaml["pool"]["mode"], "per_task": "all", "dedup": False,
                               "reference_share": 0.0, "reference_sizes": "deploy"}
    bad = tmp_path / "bad.yaml"
    bad.write_text("users:\n  - name: a\n    policy:\n      noisy_validator: {false_accept: 1.5}\n")
    out = runner.invoke(app, ["scenario", "validate", str(bad), str(SCENARIOS[0])])
    assert out.exit_code == 2
    assert "users.0.policy.stages.0.noisy_validator.false_accept" in out.output
    assert f"{bad}:4" in out.output


def test_parse_seeds() -> None:
    assert parse_seeds("0,1,2") == [0, 1, 2]
    assert parse_seeds("3-5, 1, 3") == [3, 4, 5, 1]
    for bad in ("", "a", "5-3", "-1", "1,,2"):
        with pytest.raises(ScenarioError, match="--seeds"):
            parse_seeds(bad)


def test_seed_sweep_writes_one_resumable_run_per_seed(
    tmp_path: Path, tiny_overrides: dict[str, object]
) -> None:
    sets = [f"--set={k}={v}" for k, v in tiny_overrides.items() if k != "generations"]
    result = runner.invoke(app, ["run", str(SCENARIOS[0].parent / "quickstart.yaml"), "--seeds", "0,1",
                                 "--generations", "0", "--out", str(tmp_path), *sets])
    assert result.exit_code == 0, result.output
    for seed in (0, 1):
        with RunReader(tmp_path / f"quickstart-seed{seed}") as reader:
            assert reader.run().seed == seed and reader.run().status == "completed"
    both = runner.invoke(app, ["run", "x.yaml", "--seed", "1", "--seeds", "0,1"])
    assert both.exit_code == 2 and "not both" in both.output


def test_polarized_population_runs_with_its_dynamics(
    tmp_path: Path, tiny_overrides: dict[str, object]
) -> None:
    path = next(p for p in SCENARIOS if p.stem == "polarized_population")
    spec, text = load_scenario(path, tiny_overrides)
    run_scenario(spec, text, tmp_path / "run")
    with RunReader(tmp_path / "run") as reader:
        before, after = reader.population(0), reader.population(1)
        users = {d.user for d in reader.decisions()}
    assert len(before["nodes"]) == 20 and {n["community"] for n in before["nodes"]} == {0, 1}
    edges = [tuple(e) for e in before["edges"]]
    community = {n["name"]: n["community"] for n in before["nodes"]}
    inside = sum(community[a] == community[b] for a, b in edges)
    assert inside > 3 * (len(edges) - inside), "a two-cluster graph is mostly intra-community"
    assert after["generation"] == 1 and isinstance(after["changes"], list)
    assert users <= set(community)


def test_validity_all_users_follow_the_declared_objective() -> None:
    """validity_all is the quickstart as the calibration suite runs it (new tasks of 3-10 blocks
    every generation), with every valid plan kept instead of the shortest."""
    from iterdeploy.auditors.calibration.suite import load_suite

    suite, _ = load_suite(Path(__file__).resolve().parents[2] / "scenarios/calibration/suite.yaml")
    as_calibrated = next(c for c in suite.cases if c.scenario.stem == "quickstart").overrides
    spec, _ = load_scenario(next(p for p in SCENARIOS if p.stem == "validity_all"))
    quickstart, _ = load_scenario(next(p for p in SCENARIOS if p.stem == "quickstart"),
                                  as_calibrated)
    declared = declared_policy(json.loads(spec.to_json())["declared_objective"])
    assert [u.policy for u in spec.users] == [declared]
    assert declared.select == "all" and [s.kind for s in declared.stages] == ["validity"]
    for section in ("deploy", "evaluation", "training", "pool", "model", "generations", "seed"):
        assert getattr(spec, section) == getattr(quickstart, section), section


def test_reward_drift_plants_the_converts_switch_at_generation_2() -> None:
    spec, _ = load_scenario(next(p for p in SCENARIOS if p.stem == "reward_drift"))
    length_bias, _ = load_scenario(next(p for p in SCENARIOS if p.stem == "length_bias"))
    assert spec.model == length_bias.model and spec.model.embedded.pretrain_detour_share == 0.3
    # everyone keeps every valid plan until the switch, as declared (the scenario says why)
    assert spec.declared_objective == PolicySpec(stages=(ValidityStage(),), select="all")
    pop = Population.from_spec(spec.population_spec(), seed=0)
    names = []
    for g in range(spec.generations + 1):
        if g:
            pop, record = pop.step(np.random.default_rng(g), generation=g)
            assert bool(record["changes"]) == (g == 2)
        names.append({n: p.name for n, p in zip(pop.names, pop.policies, strict=True)})
    assert [n["converts"] for n in names] == ["validity-v1>all"] * 2 + ["longest-v1"] * 4
    assert {n["validators"] for n in names} == {"validity-v1>all"}
    assert list(pop.weights) == pytest.approx([0.6, 0.4])
