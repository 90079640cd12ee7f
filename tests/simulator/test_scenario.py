"""Scenario files: defaults, overrides, and errors that name the key and the line."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.errors import ScenarioError
from simulator.scenario import ScenarioSpec, load_scenario, parse_scenario

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
