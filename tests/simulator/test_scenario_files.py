"""A scenario argument is a file or a shipped scenario's name, the same for every command.

``simulator/scenario_files.py`` decides; these tests check the rule (a file that exists wins, a
bare name is looked up among the shipped scenarios, anything else fails in one line) and that
each command taking a scenario goes through it, by giving each an unknown name.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from iterdeploy.simulator.cli import _load_plugins, app
from iterdeploy.simulator.errors import ScenarioError
from iterdeploy.simulator.scenario import load_scenario
from iterdeploy.simulator.scenario_files import (
    UnknownScenarioError,
    resolve_scenario,
    resolve_suite,
    scenario_question,
    shipped_dir,
    shipped_scenarios,
    shipped_suites,
)

REPO = Path(__file__).resolve().parents[2]
runner = CliRunner()


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory with no scenarios in it, as after a plain install."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_shipped_scenarios_are_the_repository_scenarios() -> None:
    shipped = shipped_scenarios()
    assert list(shipped) == sorted(p.stem for p in (REPO / "scenarios").glob("*.yaml"))
    assert "quickstart" in shipped
    for name, file in shipped.items():
        assert file.read_bytes() == (REPO / "scenarios" / f"{name}.yaml").read_bytes()
    assert shipped_dir().parent.name == "iterdeploy"  # read from the package, not the cwd


@pytest.mark.parametrize("argument", ["quickstart", "quickstart.yaml", "quickstart.yml"])
def test_a_bare_name_is_the_shipped_scenario_from_any_directory(elsewhere: Path, argument: str) -> None:
    file = resolve_scenario(argument)
    assert file == shipped_dir() / "quickstart.yaml"
    spec, text = load_scenario(file)
    assert spec.name == "quickstart"
    assert text == (REPO / "scenarios" / "quickstart.yaml").read_text(encoding="utf-8")


def test_a_file_that_exists_wins_over_the_shipped_name(elsewhere: Path) -> None:
    (elsewhere / "quickstart").write_text("name: mine\ngenerations: 1\n", encoding="utf-8")
    assert resolve_scenario("quickstart") == Path("quickstart")
    assert load_scenario(resolve_scenario("quickstart"))[0].name == "mine"


def test_a_folder_named_like_a_scenario_does_not_hide_it(elsewhere: Path) -> None:
    (elsewhere / "quickstart").mkdir()
    assert resolve_scenario("quickstart") == shipped_dir() / "quickstart.yaml"


def test_a_path_to_a_folder_is_refused(elsewhere: Path) -> None:
    (elsewhere / "runs" / "quickstart").mkdir(parents=True)
    with pytest.raises(ScenarioError, match=r"^runs/quickstart: not a file"):
        resolve_scenario("runs/quickstart")


def test_an_unknown_name_says_what_is_shipped_and_what_is_closest(elsewhere: Path) -> None:
    with pytest.raises(UnknownScenarioError) as caught:
        resolve_scenario("quikstart")
    message = str(caught.value)
    assert message.startswith("unknown scenario 'quikstart'; did you mean 'quickstart'?")
    assert all(name in message for name in shipped_scenarios())
    assert isinstance(caught.value, ScenarioError)
    assert "\n" not in message


def test_a_missing_path_named_like_a_shipped_scenario_points_to_the_name(elsewhere: Path) -> None:
    with pytest.raises(ScenarioError, match=r"^scenarios/length_bias.yaml: no such scenario file; "
                       r"to run the shipped one, give its name: length_bias$"):
        resolve_scenario("scenarios/length_bias.yaml")


def test_a_missing_path_lists_the_shipped_names(elsewhere: Path) -> None:
    with pytest.raises(ScenarioError, match=r"^mine.yaml: no such scenario file \(shipped "
                       r"scenarios, run by name: adversarial_minority, .*quickstart"):
        resolve_scenario("mine.yaml")


@pytest.mark.parametrize("argument", ["", "   "])
def test_an_empty_argument_is_refused(argument: str) -> None:
    with pytest.raises(ScenarioError, match="empty scenario argument"):
        resolve_scenario(argument)


def test_a_name_too_long_for_the_file_system_is_one_line(elsewhere: Path) -> None:
    with pytest.raises(ScenarioError, match=r"not a readable path \(File name too long\)"):
        resolve_scenario("a" * 400)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80))
def test_any_argument_is_a_file_or_one_line_scenario_error(argument: str) -> None:
    try:
        file = resolve_scenario(argument)
    except ScenarioError as exc:
        assert "\n" not in str(exc)
        assert str(exc)
    else:
        assert file.is_file()


def test_every_shipped_scenario_asks_one_question() -> None:
    questions = {name: scenario_question(file) for name, file in shipped_scenarios().items()}
    assert questions["quickstart"] == ("Quickstart: does iterative deployment with a plan "
                                       "validator as curator make the model better?")
    # a question over two comment lines is joined into one
    assert questions["paper_rovers"].startswith("The paper's protocol on Rovers with the embedded "
                                                "model: does validator curation double")
    for name, question in questions.items():
        assert question and "\n" not in question and "#" not in question, name


def test_a_file_without_a_leading_comment_asks_nothing(tmp_path: Path) -> None:
    file = tmp_path / "s.yaml"
    file.write_text("name: s\n# a comment after the first setting\n", encoding="utf-8")
    assert scenario_question(file) == ""


# ------------------------------------------------------------------------------ the commands

def test_scenario_list_shows_every_shipped_scenario_with_its_question() -> None:
    result = runner.invoke(app, ["scenario", "list"], env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    for name, file in shipped_scenarios().items():
        line = next(line for line in result.output.splitlines() if f" {name} " in line)
        assert scenario_question(file) in line


def test_scenario_show_by_name_is_the_file_resolved(elsewhere: Path) -> None:
    by_name = runner.invoke(app, ["scenario", "show", "quickstart", "--json"])
    by_path = runner.invoke(app, ["scenario", "show", str(REPO / "scenarios" / "quickstart.yaml"),
                                  "--json"])
    assert by_name.exit_code == by_path.exit_code == 0, by_name.output
    assert by_name.output == by_path.output


def test_scenario_validate_takes_names(elsewhere: Path) -> None:
    result = runner.invoke(app, ["scenario", "validate", "quickstart", "length_bias"])
    assert result.exit_code == 0, result.output
    assert "ok quickstart: quickstart" in result.output
    assert "ok length_bias: length_bias" in result.output


@pytest.mark.parametrize("command", [
    ["run", "quikstart"],
    ["run", "quikstart", "--seeds", "0,1"],
    ["sweep", "quikstart", "--serial"],
    ["pretrain", "quikstart"],
    ["scenario", "validate", "quikstart"],
    ["scenario", "show", "quikstart"],
    ["calibrate", "quikstart", "--no-run"],
])
def test_every_command_that_takes_a_scenario_resolves_names(elsewhere: Path, command: list[str]) -> None:
    """Each refuses the unknown name in one line with the did-you-mean, before any work."""
    _load_plugins()
    result = runner.invoke(app, command)
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.output
    expected = ("unknown calibration suite 'quikstart'" if command[0] == "calibrate"
                else "unknown scenario 'quikstart'; did you mean 'quickstart'?")
    assert expected in errors[0]
    assert not any(elsewhere.iterdir())  # nothing was written


def test_pretrain_defaults_to_the_shipped_quickstart(elsewhere: Path) -> None:
    """By name, so ``iterdeploy pretrain`` (whose default recipe is the shipped base's) works
    from any directory, not only a clone's root."""
    from iterdeploy.simulator.cli.pretrain_cmd import DEFAULT_SCENARIO

    assert resolve_scenario(DEFAULT_SCENARIO) == shipped_dir() / "quickstart.yaml"


# ------------------------------------------------------------------------- calibration suites

def test_the_calibration_suite_ships_by_name_and_finds_its_scenarios(elsewhere: Path) -> None:
    from iterdeploy.auditors.calibration.suite import load_suite

    assert list(shipped_suites()) == ["calibration"]
    file = resolve_suite("calibration")
    assert file == shipped_dir() / "calibration" / "suite.yaml"
    suite, base = load_suite(file)  # its ../quickstart.yaml paths resolve inside the package
    assert all((base / case.scenario).resolve().parent == shipped_dir().resolve() for case in suite.cases)


def test_a_missing_default_suite_path_points_to_the_name(elsewhere: Path) -> None:
    with pytest.raises(ScenarioError, match=r"^scenarios/calibration/suite.yaml: no such suite file; "
                       r"to run the shipped one, give its name: calibration$"):
        resolve_suite("scenarios/calibration/suite.yaml")
    with pytest.raises(UnknownScenarioError, match=r"did you mean 'calibration'\?"):
        resolve_suite("calibratoin")


def test_calibrate_defaults_to_the_shipped_suite_from_any_directory(elsewhere: Path) -> None:
    """Nothing finished to score, so it stops there (exit 2) after reading the suite and its
    scenarios: the default suite was found without a clone around it."""
    _load_plugins()
    result = runner.invoke(app, ["calibrate", "--no-run", "--out", str(elsewhere / "runs"),
                                 "--doc", str(elsewhere / "doc.md")])
    assert result.exit_code == 2, result.output
    assert "no finished run to score" in result.output
    assert "no such" not in result.output
