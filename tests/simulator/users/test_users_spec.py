"""The YAML schema of users and dynamics: compact forms, documented examples, errors naming fields."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import yaml
from pydantic import ValidationError

import iterdeploy.simulator.users as users
from iterdeploy.simulator.errors import ScenarioError
from iterdeploy.simulator.users import (
    PRESETS,
    DynamicsSpec,
    PolicySpec,
    Population,
    PopulationSpec,
    TaskDistributionSpec,
    UserGroupSpec,
    make_policy,
)
from iterdeploy.simulator.users._common import validate_spec

DOCS = Path(__file__).resolve().parents[3] / "docs" / "users.md"


def _doc_yaml_blocks() -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", DOCS.read_text(), flags=re.S)


def test_the_documented_yaml_is_valid_and_names_are_as_documented() -> None:
    (block,) = _doc_yaml_blocks()
    spec = validate_spec(PopulationSpec, yaml.safe_load(block))
    pop = Population.from_spec(spec, seed=0)
    names = dict(zip(pop.names, (p.name for p in pop.policies), strict=True))
    assert names["validators"] == "validity-v1"
    assert names["sloppy-9"] == "noisy_validator-v1(false_accept=0.2,false_reject=0.05)"
    assert names["picky"] == "validity-v1+action_bias-v1(action=unstack,direction=avoid,strength=0.3)>all"
    assert names["trolls"] == "adversarial-v1"  # rate 0.3 is the default: the preset
    assert spec.dynamics.graph.p_out == 0.0 and spec.dynamics.influence.kind == "degroot"
    assert pop.step(np.random.default_rng(0))[1]["nodes"]


def test_the_module_docstring_yaml_is_valid() -> None:
    block = users.__doc__.split("docs/users.md``)::", 1)[1]
    spec = validate_spec(PopulationSpec, yaml.safe_load(block))
    assert [u.name for u in spec.users] == ["validators", "sloppy", "trolls"]


def test_every_documented_name_matches_the_code() -> None:
    text = DOCS.read_text()
    for preset in PRESETS:
        assert f"| `{preset}` |" in text
    for name in ["validity", "longest", "noisy_validator", "complacent", "adversarial", "accept_all"]:
        assert f"`{make_policy(name).name}`" in text


@pytest.mark.parametrize(("preset", "name"), [
    ("validity", "validity-v1"), ("shortest", "validity-v1"), ("longest", "longest-v1"),
    ("noisy_validator", "noisy_validator-v1"), ("complacent", "complacent-v1"),
    ("adversarial", "adversarial-v1"), ("accept_all", "accept_all-v1"),
])
def test_preset_names(preset: str, name: str) -> None:
    assert make_policy(preset).name == name


def test_names_are_canonical_and_distinguish_behaviour() -> None:
    same = [
        make_policy({"noisy_validator": {"false_accept": 0.2}}),
        make_policy("noisy_validator", false_accept=0.2),
        make_policy({"stages": [{"kind": "noisy_validator", "false_accept": 0.2}]}),
        make_policy(PolicySpec.model_validate({"stages": [{"noisy_validator": {"false_accept": 0.2}}]})),
    ]
    assert len({p.name for p in same}) == 1 and len(set(same)) == 1
    different = [make_policy({"noisy_validator": {"false_accept": 0.2}, "select": s}).name
                 for s in ("all", "shortest", "longest")]
    assert len(set(different)) == 3
    assert make_policy({"stages": [], "select": "shortest"}).name == "none>shortest"
    assert make_policy({"stages": ["validity", "validity"]}).name == "validity-v1+validity-v1>shortest"


def test_compact_forms() -> None:
    assert TaskDistributionSpec.model_validate("rovers").domains["rovers"].max == 8
    both = TaskDistributionSpec.model_validate({"blocksworld": {}, "rovers": None})
    assert set(both.domains) == {"blocksworld", "rovers"}
    assert TaskDistributionSpec.model_validate({"sokoban": None}).domains["sokoban"].min == 3
    dyn = DynamicsSpec.model_validate({"graph": "small_world", "influence": "threshold"})
    assert dyn.graph.kind == "small_world" and dyn.influence.kind == "threshold"
    group = UserGroupSpec.model_validate({"policy": {"action_bias": {"object": "b1"}, "select": "all"}})
    assert [s.kind for s in group.policy.stages] == ["validity", "action_bias"]
    assert group.policy.select == "all"


def test_a_list_of_domains_is_refused_with_the_mapping_to_write() -> None:
    with pytest.raises(ValueError, match=r"as a mapping, e\.g\. \{blocksworld: \{\}, rovers: \{\}\}"):
        TaskDistributionSpec.model_validate(["blocksworld", "rovers"])


def test_defaults_are_the_papers_setup() -> None:
    spec = PopulationSpec()
    pop = Population.from_spec(spec)
    assert pop.names == ["validators"] and pop.policies[0].name == "validity-v1"
    assert spec.dynamics.influence.kind == "none" and spec.dynamics.churn.leave == 0.0
    new, record = pop.step(np.random.default_rng(0))
    assert new.names == pop.names and record["changes"] == []


def test_specs_round_trip_through_json_and_are_frozen() -> None:
    (block,) = _doc_yaml_blocks()
    spec = PopulationSpec.model_validate(yaml.safe_load(block))
    assert PopulationSpec.model_validate(spec.model_dump(mode="json")) == spec
    with pytest.raises(ValidationError):
        spec.users[0].weight = 2.0  # type: ignore[misc]


@pytest.mark.parametrize(("data", "path"), [
    ({"users": [{"weight": -1}]}, "users.0.weight"),
    ({"users": [{"wieght": 1}]}, "users.0.wieght"),
    ({"users": [{"policy": {"noisy_validator": {"false_accept": 1.5}}}]},
     "users.0.policy.stages.0.noisy_validator.false_accept"),
    ({"users": [{"policy": {"stages": [{"complacent": {"max_trust": -0.1}}]}}]},
     "users.0.policy.stages.0.complacent.max_trust"),
    ({"users": [{"policy": {"stages": [{"adversarial": {"rate": 2}}], "select": "all"}}]},
     "users.0.policy.stages.0.adversarial.rate"),
    ({"users": [{"policy": {"stages": [{"adversarial": {"length_factor": 0.5}}]}}]},
     "users.0.policy.stages.0.adversarial.length_factor"),
    ({"users": [{"policy": {"stages": ["validity"], "select": "median"}}]}, "users.0.policy.select"),
    ({"users": [{"policy": "action_bias"}]}, "users.0.policy.stages.1.action_bias"),
    ({"users": [{"policy": "majority"}]}, "users.0.policy"),
    ({"users": [{"policy": {"stages": ["telepathy"]}}]}, "users.0.policy.stages.0"),
    ({"users": [{"tasks": {"blocksworld": {"min": 9, "max": 3}}}]}, "users.0.tasks.domains.blocksworld"),
    ({"users": [{"tasks": {"Blocks World": {}}}]}, "users.0.tasks.domains.Blocks World"),
    ({"users": [{"tasks": ["blocksworld", "rovers"]}]}, "users.0.tasks"),
    ({"users": [{"count": 0}]}, "users.0.count"),
    ({"users": [{"community": 2}]}, "users.0.community"),
    ({"users": [{"name": "a"}, {"name": "a"}]}, "repeated"),
    ({"dynamics": {"graph": {"kind": "ring"}}}, "dynamics.graph.kind"),
    ({"dynamics": {"graph": {"p_out": -0.1}}}, "dynamics.graph.p_out"),
    ({"dynamics": {"influence": {"self_weight": 1.5}}}, "dynamics.influence.self_weight"),
    ({"dynamics": {"influence": {"parameters": ["noisy_validator.bogus"]}}}, "dynamics.influence"),
    ({"dynamics": {"churn": {"leave": 2}}}, "dynamics.churn.leave"),
    ({"dynamics": {"churn": {"template": {"count": 3}}}}, "dynamics.churn"),
])
def test_bad_parameters_name_the_field(data: dict, path: str) -> None:
    with pytest.raises(ScenarioError) as err:
        validate_spec(PopulationSpec, data)
    assert str(err.value).startswith(path) or f"; {path}" in str(err.value), str(err.value)


def test_bad_policy_parameters_through_make_policy() -> None:
    field = r"policy\.stages\.0\.noisy_validator\.false_accept: .*less than or equal to 1"
    with pytest.raises(ScenarioError, match=field):
        make_policy("noisy_validator", false_accept=1.2)
    with pytest.raises(ScenarioError, match="action_bias needs `action` or `object`"):
        make_policy("action_bias")
    with pytest.raises(ScenarioError, match="takes no parameters"):
        make_policy("validity", strict=True)
    with pytest.raises(ScenarioError, match=r"policy\.stages\.1\.action_bias\.direction"):
        make_policy("action_bias", action="stack", direction="sideways")


@pytest.mark.parametrize(("value", "name"), [
    ("validity", "validity-v1"),
    ("shortest", "validity-v1"),
    ("none", "accept_all-v1"),
    ("accept_all", "accept_all-v1"),
    ({"noisy_validator": {"false_accept": 0.2}}, "noisy_validator-v1(false_accept=0.2,false_reject=0.05)"),
    ({"stages": ["validity"], "select": "all"}, "validity-v1>all"),
    ({"stages": [{"kind": "validity"}], "select": "all"}, "validity-v1>all"),  # as the store holds it
])
def test_declared_policy_reads_every_form_a_scenario_or_store_holds(value: object, name: str) -> None:
    spec = users.declared_policy(value)  # type: ignore[arg-type]
    assert isinstance(spec, PolicySpec) and users.policy_name(spec) == name
    assert users.declared_policy(spec) is spec


@pytest.mark.parametrize(("value", "message"), [
    ("fame", r"unknown policy 'fame'; known: \['accept_all', .*'none', .*'validity'\]"),
    ({"noisy_validator": {"false_accept": 1.5}},
     r"declared_objective\.stages\.0\.noisy_validator\.false_accept"),
    ({"stages": ["fame"]}, r"declared_objective\.stages\.0"),
    (None, "expected a policy name or a policy mapping"),
])
def test_declared_policy_rejects_unknown_objectives_clearly(value: object, message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        users.declared_policy(value)  # type: ignore[arg-type]
