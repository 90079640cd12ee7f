"""Scenario files: defaults, overrides, and errors that name the key and the line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from iterdeploy.simulator.errors import ScenarioError
from iterdeploy.simulator.scenario import ScenarioSpec, load_scenario, parse_scenario
from iterdeploy.simulator.users import PolicySpec, declared_policy, policy_name

REPO = Path(__file__).resolve().parents[2]


def test_empty_file_is_the_default_scenario() -> None:
    assert parse_scenario("") == ScenarioSpec()


def test_every_shipped_scenario_validates() -> None:
    files = sorted((REPO / "scenarios").glob("*.yaml"))
    assert files, "no scenarios shipped"
    for file in files:
        spec, text = load_scenario(file)
        assert spec.name
        assert text.lstrip().startswith("#"), f"{file.name} must open with its question"


def test_unknown_key_names_key_path_and_line() -> None:
    text = "name: x\ndeploy:\n  samples_per_task: 4\n  tasks_per_gen: 3\n"
    with pytest.raises(ScenarioError) as err:
        parse_scenario(text, "bad.yaml")
    assert "bad.yaml:4" in str(err.value)
    assert "deploy.tasks_per_gen" in str(err.value)
    assert "unknown key" in str(err.value)


def test_wrong_type_names_key_line_and_value() -> None:
    with pytest.raises(ScenarioError) as err:
        parse_scenario("seed: 1\ndeploy:\n  temperature: hot\n", "t.yaml")
    msg = str(err.value)
    assert "t.yaml:3" in msg and "deploy.temperature" in msg and "'hot'" in msg


def test_size_range_must_be_ordered() -> None:
    with pytest.raises(ScenarioError, match=r"deploy\.sizes"):
        parse_scenario("deploy:\n  sizes: {min: 6, max: 3}\n")


def test_broken_yaml_is_a_scenario_error() -> None:
    with pytest.raises(ScenarioError, match="not valid YAML"):
        parse_scenario("deploy: [unclosed\n")


def test_top_level_must_be_a_mapping() -> None:
    with pytest.raises(ScenarioError, match="mapping"):
        parse_scenario("- a\n- b\n")


def test_missing_file() -> None:
    with pytest.raises(ScenarioError, match="no such scenario file"):
        load_scenario("/nonexistent/scenario.yaml")


def test_overrides_apply_and_are_validated() -> None:
    spec = parse_scenario("", overrides={"deploy.temperature": 0.5, "generations": 5})
    assert spec.deploy.temperature == 0.5 and spec.generations == 5
    with pytest.raises(ScenarioError, match="generations"):
        parse_scenario("", overrides={"generations": "many"})


@given(st.text(max_size=200))
def test_arbitrary_text_never_escapes_as_another_error(text: str) -> None:
    try:
        parse_scenario(text)
    except ScenarioError:
        pass


def test_json_round_trip() -> None:
    spec = parse_scenario("seed: 7\ngenerations: 2\n")
    assert ScenarioSpec.model_validate_json(spec.to_json()) == spec


def test_declared_objective_as_a_name_is_stored_as_written() -> None:
    for name in ("validity", "longest", "none", "accept_all"):
        spec = parse_scenario(f"declared_objective: {name}\n")
        assert spec.declared_objective == name
        assert json.loads(spec.to_json())["declared_objective"] == name


@pytest.mark.parametrize(("text", "policy"), [
    ("{noisy_validator: {false_accept: 0.2}}", "noisy_validator-v1(false_accept=0.2,false_reject=0.05)"),
    ("{stages: [validity], select: all}", "validity-v1>all"),
    ("{longest: null}", "longest-v1"),
])
def test_declared_objective_as_a_policy_is_stored_canonically(text: str, policy: str) -> None:
    spec = parse_scenario(f"declared_objective: {text}\n")
    assert isinstance(spec.declared_objective, PolicySpec)
    stored = json.loads(spec.to_json())["declared_objective"]
    assert set(stored) == {"stages", "select"}  # the full form, whatever form was written
    assert policy_name(declared_policy(stored)) == policy
    assert ScenarioSpec.model_validate_json(spec.to_json()) == spec


def test_a_store_written_before_declared_policies_still_loads() -> None:
    # the scenario JSON an older run stored (declared_objective as a plain name) reads the same
    old = json.loads(ScenarioSpec().to_json()) | {"declared_objective": "validity"}
    spec = ScenarioSpec.model_validate_json(json.dumps(old))
    assert spec.declared_objective == "validity" and spec == ScenarioSpec()
    assert policy_name(declared_policy(old["declared_objective"])) == "validity-v1"


@pytest.mark.parametrize(("text", "message"), [
    ("fame", r"declared_objective: .*unknown policy 'fame'; known: \[.*'longest'.*'none'.*\]"),
    ("{noisy_validator: {false_accept: 2}}", r"declared_objective: .*false_accept"),
    ("{fame: {}}", r"declared_objective: .*unknown curation policy \['fame'\]"),
    ("3", r"declared_objective: .*a policy name .* or a policy mapping"),
])
def test_a_bad_declared_objective_fails_at_load_naming_it(text: str, message: str) -> None:
    with pytest.raises(ScenarioError, match=message) as err:
        parse_scenario(f"name: x\ndeclared_objective: {text}\n", "s.yaml")
    assert "s.yaml:2" in str(err.value)


def test_a_schedule_must_fit_the_scenario() -> None:
    base = ("generations: 3\nusers: [{name: a}, {name: b}]\n"
            "dynamics:\n  schedule:\n    - {generation: 3, group: b, policy: longest}\n")
    assert parse_scenario(base).dynamics.scheduled_at(3)[0].group == "b"
    with pytest.raises(ScenarioError, match=r"s\.yaml:5: dynamics\.schedule\.0\.generation: 4 is beyond"):
        parse_scenario(base.replace("generation: 3", "generation: 4"), "s.yaml")
    with pytest.raises(ScenarioError, match=r"s\.yaml:5: dynamics\.schedule\.0\.group: 'c' is not"):
        parse_scenario(base.replace("group: b", "group: c"), "s.yaml")
    with pytest.raises(ScenarioError, match=r"repeats entry 0"):
        parse_scenario(base + "    - {generation: 3, group: b, policy: validity}\n")
