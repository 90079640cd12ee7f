"""Hostile and careless YAML: refused with one line naming the file and the line, never a traceback.

Each case goes through the command a user types (``iterdeploy scenario validate`` and ``iterdeploy
run``) and through the reader itself; hypothesis generates whole files as bytes, deep nesting and
alias fan-outs rather than short strings. ``iterdeploy run`` must also create nothing: a bad
scenario never reaches the store.
"""

from __future__ import annotations

import ast
import time
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from iterdeploy.simulator.cli import app
from iterdeploy.simulator.errors import ScenarioError
from iterdeploy.simulator.scenario import load_scenario, parse_scenario
from iterdeploy.simulator.scenario_yaml import MAX_DEPTH, MAX_NODES, load_yaml_file, parse_yaml
from tests.simulator.cli_output import error_line, run_is_refused_and_writes_nothing

REPO = Path(__file__).resolve().parents[2]
runner = CliRunner()
FILE_SETTINGS = settings(max_examples=60, deadline=None,
                         suppress_health_check=[HealthCheck.function_scoped_fixture])


def _bomb(fan_out: int, levels: int) -> str:
    """The billion-laughs document: each level lists ``fan_out`` aliases of the one before."""
    lines = [f"l0: &l0 [{', '.join(['lol'] * fan_out)}]"]
    for i in range(1, levels + 1):
        lines.append(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * fan_out)}]")
    return "\n".join(lines) + "\n"


BAD_FILES: dict[str, tuple[bytes, tuple[str, ...]]] = {
    "duplicate-top-level-key": (b"name: a\nseed: 1\nname: b\n",
                                ("bad.yaml:3", "duplicate key 'name'", "line 1")),
    "duplicate-nested-key": (b"deploy:\n  temperature: 0.5\n  temperature: 0.7\n",
                             ("bad.yaml:3", "duplicate key 'temperature'", "line 2")),
    "duplicate-flow-key": (b"deploy: {samples_per_task: 2, samples_per_task: 3}\n",
                           ("bad.yaml:1", "duplicate key 'samples_per_task'")),
    "alias-bomb": (_bomb(9, 9).encode(), ("bad.yaml:", "alias", str(MAX_NODES))),
    "alias-bomb-in-a-value": (
        (_bomb(10, 6) + "deploy: {sizes: *l6}\n").encode(), ("bad.yaml:", "alias")),
    "recursive-alias": (b"users: &u [*u]\n", ("bad.yaml:1", "recursive")),
    "undefined-alias": (b"seed: *nothing\n", ("bad.yaml:1", "not valid YAML", "undefined alias")),
    "deep-flow-nesting": (b"seed: " + b"[" * 5000 + b"]" * 5000 + b"\n",
                          ("bad.yaml:1", f"more than {MAX_DEPTH} levels")),
    "deep-block-nesting": ("".join("  " * i + f"k{i}:\n" for i in range(120)).encode(),
                           ("bad.yaml:", f"more than {MAX_DEPTH} levels")),
    "latin-1": ("name: caf\xe9\n".encode("latin-1"),
                ("bad.yaml", "not UTF-8", "0xe9", "offset 9", "save the file as UTF-8")),
    "utf-16": ("name: x\n".encode("utf-16"), ("bad.yaml", "not UTF-8")),
    "control-character": (b"name: a\x07b\n", ("bad.yaml:1", "not valid YAML", "#x0007")),
    "unclosed-bracket": (b"deploy: [1, 2\nseed: 3\n", ("bad.yaml:", "not valid YAML")),
    "tab-indent": (b"deploy:\n\ttemperature: 1\n", ("bad.yaml:2", "not valid YAML")),
    "bad-timestamp": (b"seed: 2024-13-45\n", ("bad.yaml", "not valid YAML", "month")),
    "markup-in-a-key": (b"'[/x]': 1\n", ("bad.yaml:1", "[/x]", "unknown key")),
}
"""Bad scenario files and what the one error line must contain."""


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_validate_refuses_bad_yaml_in_one_line(tmp_path: Path, case: str) -> None:
    content, needles = BAD_FILES[case]
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(content)
    started = time.monotonic()
    result = runner.invoke(app, ["scenario", "validate", str(bad)])
    assert time.monotonic() - started < 10, "refused quickly, not after expanding anything"
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    line = error_line(result.stderr)
    assert len(line) < 400, "the message quotes the problem, not the (expanded) input"
    for needle in needles:
        assert needle in line, line


@pytest.mark.parametrize("case", ["duplicate-top-level-key", "alias-bomb", "latin-1",
                                  "deep-flow-nesting"])
def test_run_refuses_bad_yaml_and_writes_nothing(tmp_path: Path, case: str) -> None:
    run_is_refused_and_writes_nothing(BAD_FILES[case][0], tmp_path)


def test_set_values_go_through_the_same_reader(tmp_path: Path) -> None:
    scenario = tmp_path / "ok.yaml"
    scenario.write_text("name: ok\n")
    result = runner.invoke(app, ["scenario", "show", str(scenario),
                                 "--set", "deploy={temperature: 1, temperature: 2}"])
    assert result.exit_code == 2
    line = error_line(result.stderr)
    assert "--set deploy:1" in line and "duplicate key 'temperature'" in line


def test_merge_keys_may_override_and_shared_aliases_are_fine() -> None:
    text = ("policy: &p {kind: validity}\n"
            "a: {<<: *p, kind: other}\n"
            "b: [*p, *p, *p]\n")
    _, data = parse_yaml(text, "ok.yaml")
    assert data["a"] == {"kind": "other"}
    assert data["b"] == [{"kind": "validity"}] * 3


def test_every_shipped_scenario_reads_the_same_as_before() -> None:
    for file in sorted((REPO / "scenarios").rglob("*.yaml")):
        text = file.read_text(encoding="utf-8")
        assert parse_yaml(text, str(file))[1] == yaml.safe_load(text), file


def test_one_problem_one_line() -> None:
    with pytest.raises(ScenarioError) as err:
        parse_scenario("deploy:\n  temperature: hot\n", "t.yaml")
    assert "\n" not in str(err.value) and "t.yaml:2" in str(err.value)


# -- generated files ------------------------------------------------------------------------------


YAML_ALPHABET = ":-[]{}&*!|>'\"#%@` \n\tab1.,?<~\\"
"""Characters that steer PyYAML's scanner and parser, so generated text reaches their errors."""


@FILE_SETTINGS
@given(content=st.one_of(
    st.binary(max_size=2048),
    st.text(max_size=1024).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.text(alphabet=YAML_ALPHABET, max_size=512).map(str.encode),
))
def test_any_bytes_are_read_or_refused_in_one_line(tmp_path: Path, content: bytes) -> None:
    file = tmp_path / "fuzz.yaml"
    file.write_bytes(content)
    try:
        load_yaml_file(file)
    except ScenarioError as exc:
        assert "\n" not in str(exc) and str(file) in str(exc)
    try:
        load_scenario(file)
    except ScenarioError as exc:
        assert str(file) in str(exc)


@FILE_SETTINGS
@given(
    depth=st.integers(MAX_DEPTH + 1, 3000),
    style=st.sampled_from(["flow-list", "flow-map", "block-list", "mixed"]),
)
def test_deep_nesting_is_refused_in_one_line(tmp_path: Path, depth: int, style: str) -> None:
    if style == "flow-list":
        text = "[" * depth + "]" * depth
    elif style == "flow-map":
        text = "{a: " * depth + "1" + "}" * depth
    elif style == "block-list":
        text = "- " * depth + "x\n"
    else:
        text = "a: " + "[{b: " * (depth // 2) + "1" + "}]" * (depth // 2)
    file = tmp_path / "deep.yaml"
    file.write_text(text)
    with pytest.raises(ScenarioError) as err:
        load_yaml_file(file)
    assert "\n" not in str(err.value)
    assert f"{file}:1" in str(err.value) and "levels" in str(err.value)


@FILE_SETTINGS
@given(depth=st.integers(1, MAX_DEPTH - 1))
def test_nesting_within_the_bound_is_read(tmp_path: Path, depth: int) -> None:
    file = tmp_path / "ok.yaml"
    file.write_text("[" * depth + "]" * depth)
    value = load_yaml_file(file)
    for _ in range(depth - 1):
        (value,) = value
    assert value == []


def _expanded_size(fan_out: int, levels: int) -> int:
    """Values in :func:`_bomb`'s document with every alias expanded: the top mapping, and per
    level its key and its list (the list itself plus ``fan_out`` copies of the level below)."""
    size, total = 1 + fan_out, 1
    for level in range(levels + 1):
        if level:
            size = 1 + fan_out * size
        total += 1 + size
    return total


@settings(max_examples=60, deadline=None)
@given(fan_out=st.integers(2, 12), levels=st.integers(1, 12))
def test_aliases_are_bounded_by_their_expanded_size(fan_out: int, levels: int) -> None:
    text = _bomb(fan_out, levels)
    started = time.monotonic()
    try:
        data = parse_yaml(text, "bomb.yaml")[1]
    except ScenarioError as exc:
        assert "\n" not in str(exc) and "alias" in str(exc) and len(str(exc)) < 300
        assert _expanded_size(fan_out, levels) > MAX_NODES
    else:
        assert _expanded_size(fan_out, levels) <= MAX_NODES
        assert len(data[f"l{levels}"]) == fan_out
    assert time.monotonic() - started < 5


@FILE_SETTINGS
@given(key=st.sampled_from(["name", "seed", "generations", "question", "domain"]),
       values=st.lists(st.integers(0, 9), min_size=2, max_size=4))
def test_a_repeated_scenario_key_is_named_with_its_lines(
    tmp_path: Path, key: str, values: list[int]
) -> None:
    file = tmp_path / "dup.yaml"
    file.write_text("".join(f"{key}: {v}\n" for v in values))
    with pytest.raises(ScenarioError) as err:
        load_scenario(file)
    assert str(err.value) == (f"{file}:2: duplicate key '{key}' (first at line 1); "
                              "keep one of them")


# -- one reader ---------------------------------------------------------------------------------

YAML_LOADERS = frozenset({"load", "safe_load", "full_load", "unsafe_load", "load_all",
                          "safe_load_all", "full_load_all", "unsafe_load_all", "compose",
                          "compose_all", "parse", "scan"})
"""PyYAML's functions that read a document: outside ``simulator/scenario_yaml.py`` the project
reads YAML through that module, so every file gets the same refusals."""

KNOWN_OTHER_LOADERS: dict[str, str] = {}
"""Files that still read YAML on their own, each with why; the test fails when one is fixed, so
the entry is removed then."""


def _yaml_loads(path: Path) -> list[int]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        node.lineno for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
        and isinstance(node.func.value, ast.Name) and node.func.value.id == "yaml"
        and node.func.attr in YAML_LOADERS
    ]


def test_every_yaml_load_goes_through_the_scenario_reader() -> None:
    found: dict[str, list[int]] = {}
    for package in ("simulator", "auditors", "dashboards"):
        for path in sorted((REPO / package).rglob("*.py")):
            rel = path.relative_to(REPO).as_posix()
            if rel == "simulator/scenario_yaml.py":
                continue
            lines = _yaml_loads(path)
            if lines:
                found[rel] = lines
    assert set(found) == set(KNOWN_OTHER_LOADERS), (
        f"YAML read outside simulator/scenario_yaml.py: {found}; use its parse_yaml or "
        "load_yaml_file (and drop fixed files from KNOWN_OTHER_LOADERS)")
