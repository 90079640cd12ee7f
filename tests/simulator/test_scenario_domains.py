"""Scenarios that name other domains or several: what loads, what is refused and how it says so."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from iterdeploy.simulator.errors import ScenarioError
from iterdeploy.simulator.planning import GeneratorParamError, domain_names, generate_sized, registry_name
from iterdeploy.simulator.scenario import parse_scenario
from iterdeploy.simulator.scenario_rules import split_by_weight
from iterdeploy.simulator.users.spec import TaskDistributionSpec

PDDL_MODEL = "model: smollm2-135m\n"


def test_several_domains_resolve_for_deployment_and_evaluation() -> None:
    spec = parse_scenario("domains:\n  blocksworld: {min: 3, max: 5}\n  rovers: {min: 2, max: 4, weight: 2}\n"
                          + PDDL_MODEL)
    assert list(spec.deploy_tasks().domains) == ["blocksworld", "rovers"]
    assert spec.eval_tasks() == spec.deploy_tasks()
    own_eval = parse_scenario("domain: ferry\ndeploy: {sizes: {min: 2, max: 3}}\n"
                              "evaluation: {domains: {ferry: {min: 4, max: 5}}}\n" + PDDL_MODEL)
    assert own_eval.deploy_tasks().domains["ferry"].max == 3
    assert own_eval.eval_tasks().domains["ferry"].min == 4


def test_one_domain_said_either_way_is_the_same_distribution() -> None:
    implicit = parse_scenario("deploy: {sizes: {min: 3, max: 6}}\nevaluation: {sizes: {min: 3, max: 6}}\n")
    explicit = parse_scenario("domains: {blocksworld: {min: 3, max: 6}}\n")
    assert implicit.deploy_tasks() == explicit.deploy_tasks()
    assert implicit.eval_tasks() == explicit.eval_tasks()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("domain: rover\n" + PDDL_MODEL, ["<scenario>:1: domain", "did you mean 'rovers'"]),
        ("domain: sokoban\ndomains: {sokoban: {}}\n" + PDDL_MODEL,
         ["<scenario>:2: domains: give either domain (one) or domains (several)"]),
        ("domains:\n  rovers: {min: 1, max: 3}\n" + PDDL_MODEL,
         ["<scenario>:2: domains.rovers:", "n_waypoints=1 is out of range"]),
        ("domains: {rovers: {min: 2, max: 3}}\n",
         ["model.name: the embedded model of this recipe plans ['blocksworld']", "['rovers']",
          "pretrain_domains", "smollm2-135m"]),
        ("domain: ferry\nmodel: embedded-tiny-v1\n",
         ["plans ['blocksworld']", "['ferry']", "['ferry'] has no compact format",
          "so no embedded model reads them: leave them out of domains"]),
        ("domains: {rovers: {min: 2, max: 3}, ferry: {min: 2, max: 3}}\nmodel:\n  embedded:\n"
         "    pretrain_domains: {rovers: {max_size: 3}}\n",
         ["plans ['blocksworld', 'rovers']", "uses ['ferry'] too",
          "or set unreadable_domains: skip to run the others"]),
        ("model:\n  embedded:\n    pretrain_domains: {ferry: {}}\n",
         ["model.embedded: pretrain_domains.ferry:", "covers blocksworld, rovers, sokoban; not 'ferry'"]),
        ("users:\n  - name: a\n    tasks: {rovers: {min: 2, max: 3}}\n" + PDDL_MODEL,
         ["<scenario>:3: users.0.tasks: 'a' brings ['rovers'] tasks", "deploys on ['blocksworld']"]),
        ("evaluation: {domains: {sokoban: {min: 1, max: 9}}}\n" + PDDL_MODEL,
         ["evaluation.domains.sokoban:", "n_boxes=9 is out of range"]),
        # one domain, the default sizes (3-8) are too many boxes for Sokoban's generator
        ("domain: sokoban\n" + PDDL_MODEL, ["deploy.sizes: sokoban: n_boxes=8 is out of range"]),
        ("domain: sokoban\ndeploy: {sizes: {min: 2, max: 3}}\n" + PDDL_MODEL,
         ["evaluation.sizes: sokoban: n_boxes=8 is out of range"]),
    ],
)
def test_bad_domain_settings_name_the_key_and_line(text: str, expected: list[str]) -> None:
    with pytest.raises(ScenarioError) as err:
        parse_scenario(text)
    for part in expected:
        assert part in str(err.value)


UNREADABLE = ["childsnack", "ferry", "floortile", "miconic", "satellite", "spanner", "transport"]


def _paper_ipc10() -> str:
    from iterdeploy.simulator.scenario_files import shipped_scenarios

    return shipped_scenarios()["paper_ipc10"].read_text()


def test_paper_ipc10_on_the_embedded_model_runs_the_three_domains_it_reads() -> None:
    """The shipped file skips the seven domains without a compact format on the embedded
    default, and runs all ten on a model that reads PDDL."""
    spec = parse_scenario(_paper_ipc10())
    assert list(spec.skipped_domains()) == UNREADABLE
    assert list(spec.deploy_tasks().domains) == ["blocksworld", "rovers", "sokoban"]
    assert list(spec.eval_tasks().domains) == ["blocksworld", "rovers", "sokoban"]
    assert spec.deploy_tasks().domains["rovers"] == spec.domains.domains["rovers"]  # type: ignore[union-attr]
    pddl = parse_scenario(_paper_ipc10(), overrides={"model.name": "smollm2-135m"})
    assert pddl.skipped_domains() == ()
    assert len(pddl.deploy_tasks().domains) == len(pddl.eval_tasks().domains) == 10


def test_refusing_unreadable_domains_names_them_and_the_way_to_skip() -> None:
    """Refusing is the default: the error says which domains no embedded model reads, and how to
    run the others; a domain it could be pretrained on is not among them."""
    with pytest.raises(ScenarioError) as err:
        parse_scenario(_paper_ipc10().replace("unreadable_domains: skip", "unreadable_domains: refuse"))
    message = str(err.value)
    assert f"{UNREADABLE} have no compact format" in message
    assert "unreadable_domains: skip" in message
    with pytest.raises(ScenarioError) as rovers_only:
        parse_scenario("domains: {rovers: {min: 2, max: 3}}\n")
    assert "no compact format" not in str(rovers_only.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("unreadable_domains: skip\ndomains: {ferry: {min: 1, max: 2}, miconic: {min: 1, max: 2}}\n",
         "unreadable_domains: skip leaves no domain: this model reads none of ['ferry', 'miconic']"),
        ("unreadable_domains: skip\ndomains: {blocksworld: {min: 3, max: 4}, ferry: {min: 1, max: 2}}\n"
         "evaluation: {domains: {ferry: {min: 1, max: 2}}}\n",
         "unreadable_domains: skip leaves evaluation.domains empty"),
        ("unreadable_domains: skip\ndomains: {blocksworld: {min: 3, max: 4}, ferry: {min: 1, max: 2}}\n"
         "users: [{name: ferrymen, tasks: {ferry: {min: 1, max: 2}}}]\n",
         "users.0.tasks: 'ferrymen' brings ['ferry'] tasks, which this model cannot read"),
        ("unreadable_domains: sometimes\n", "unreadable_domains"),
    ],
    ids=["nothing-left", "evaluation-empty", "a-group-brings-a-skipped-domain", "bad-value"],
)
def test_skipping_that_leaves_nothing_to_run_is_refused(text: str, expected: str) -> None:
    with pytest.raises(ScenarioError) as err:
        parse_scenario(text)
    assert expected in str(err.value)


def test_skipping_changes_nothing_when_the_model_reads_every_domain() -> None:
    text = "unreadable_domains: skip\ndomains: {blocksworld: {min: 3, max: 4}, rovers: {min: 2, max: 3}}\n"
    plain = parse_scenario(text.replace("unreadable_domains: skip\n", "") + PDDL_MODEL)
    skip = parse_scenario(text + PDDL_MODEL)
    assert skip.skipped_domains() == ()
    assert skip.deploy_tasks() == plain.deploy_tasks() and skip.eval_tasks() == plain.eval_tasks()


def test_a_registered_model_validates_without_being_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Checking a scenario file checks the file; the model's installation is checked when it loads."""
    import iterdeploy.simulator.models.registry as registry
    from iterdeploy.simulator.errors import ModelError

    def missing() -> None:
        raise ModelError("not installed")

    monkeypatch.setattr(registry, "smollm2_gguf_path", missing)
    spec = parse_scenario("domains: {sokoban: {min: 1, max: 2}}\nmodel: smollm2-135m\n")
    assert spec.model.name == "smollm2-135m"


@given(st.integers(0, 500), st.lists(st.floats(0.01, 100), min_size=1, max_size=10))
def test_split_gives_every_domain_its_share(n: int, weights: list[float]) -> None:
    counts = split_by_weight(n, weights)
    assert sum(counts) == n
    exact = [n * w / sum(weights) for w in weights]
    assert all(abs(c - e) < 1 for c, e in zip(counts, exact, strict=True))


@given(st.integers(0, 2**32 - 1), st.integers(1, 20), st.integers(0, 20))
def test_a_one_domain_distribution_draws_only_the_size(seed: int, low: int, span: int) -> None:
    """So naming the one domain explicitly does not change which tasks a seed gives."""
    dist = TaskDistributionSpec.model_validate({"ferry": {"min": low, "max": low + span}})
    a, b = np.random.default_rng(seed), np.random.default_rng(seed)
    assert dist.draw(a) == ("ferry", int(b.integers(low, low + span + 1)))
    assert a.random() == b.random()


def test_registry_name_maps_the_pddl_name_back() -> None:
    for domain in domain_names():
        task = generate_sized(domain, 2, np.random.default_rng(0)).task
        assert registry_name(task.domain) == domain
    assert registry_name("rover") == "rovers"
    with pytest.raises(GeneratorParamError, match="no shipped domain declares"):
        registry_name("logistics")


def test_a_run_written_before_a_field_existed_still_resumes() -> None:
    """A stored resolved scenario lacking a field added later (here ``domains``) is the same
    scenario; one that differs in a value, or holds a key the schema no longer knows, is not."""
    import json

    from iterdeploy.simulator.loop.identity import same_scenario as _same_scenario

    spec = parse_scenario("generations: 2\n")
    older = json.loads(spec.to_json())
    del older["domains"], older["evaluation"]["domains"]
    assert _same_scenario(json.dumps(older), spec)
    assert not _same_scenario(json.dumps({**older, "generations": 3}), spec)
    assert not _same_scenario(json.dumps({**older, "retired_option": 1}), spec)


def test_validate_and_show_say_which_domains_a_run_skips() -> None:
    """``scenario validate`` lists the domains a run uses and names the skipped ones; ``scenario
    show`` prints the whole file (it keeps naming them) under a comment that says so, and stays
    YAML that loads back to the same scenario."""
    import yaml
    from typer.testing import CliRunner

    from iterdeploy.simulator.cli import app

    runner = CliRunner()
    checked = runner.invoke(app, ["scenario", "validate", "paper_ipc10"])
    assert checked.exit_code == 0, checked.output
    said = " ".join(checked.output.split())
    assert "domains: blocksworld, rovers, sokoban, model: embedded-tiny-v1" in said
    assert f"skipping 7 of the scenario's domains, which embedded-tiny-v1 has no prompt format for " \
           f"(unreadable_domains: skip): {', '.join(UNREADABLE)}" in said
    shown = runner.invoke(app, ["scenario", "show", "paper_ipc10"])
    assert shown.exit_code == 0, shown.output
    assert shown.output.startswith("# skipping 7 of the scenario's domains")
    data = yaml.safe_load(shown.output)
    assert len(data["domains"]["domains"]) == 10 and data["unreadable_domains"] == "skip"
    assert parse_scenario(shown.output) == parse_scenario(_paper_ipc10())
    plain = runner.invoke(app, ["scenario", "show", "paper_ipc10", "--set", "model.name=smollm2-135m"])
    assert plain.exit_code == 0 and not plain.output.startswith("#")


@pytest.mark.parametrize("name", ["quickstart", "paper_rovers", "paper_blocksworld_rovers_sokoban"])
def test_what_scenario_show_prints_loads_back_to_the_same_scenario(name: str) -> None:
    """One domain or several (whose ``domains`` replaces ``domain``, which a file may not give
    beside it): the printed YAML is a scenario file for exactly the scenario shown."""
    from typer.testing import CliRunner

    from iterdeploy.simulator.cli import app
    from iterdeploy.simulator.scenario_files import shipped_scenarios

    shown = CliRunner().invoke(app, ["scenario", "show", name])
    assert shown.exit_code == 0, shown.output
    assert parse_scenario(shown.output) == parse_scenario(shipped_scenarios()[name].read_text())
    # --json says the same: JSON is YAML, so it loads back too (without a domain it does not use)
    as_json = CliRunner().invoke(app, ["scenario", "show", name, "--json"])
    assert as_json.exit_code == 0, as_json.output
    assert json.loads(as_json.output) == yaml.safe_load(shown.output)
    assert parse_scenario(as_json.output) == parse_scenario(shipped_scenarios()[name].read_text())
