"""The bad-input corpus: every user-facing entry point, fed what a careless or hostile user gives it.

Each case is one command line (or one call of the dashboard's data layer, ``load_run``) and must
end with the documented exit code (2 for input that cannot be used; ``validate`` says 1 for a plan
that is read but invalid), a message that names the problem (the key, the file, the table), no
traceback, and, where a run store is involved, a store whose bytes are unchanged. The cases are
generated: each bad value for each key, each kind of damage for each table and each reader. They
run through typer's ``CliRunner`` (milliseconds each); a handful at the end go through the real
``python -m iterdeploy.simulator.cli`` process to prove the entry point itself.

The run store here is built with :class:`~iterdeploy.simulator.store.RunWriter` from rows (no model runs), so
the corpus is fast; ``test_every_reader_accepts_the_undamaged_store`` shows the same store reads
cleanly, so each refusal is the damage's doing. Case counts: ``docs/reliability.md``.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from iterdeploy.dashboards.data import load_run
from iterdeploy.simulator.cli import _load_plugins, app
from iterdeploy.simulator.errors import StoreError
from iterdeploy.simulator.planning import domain_path, generate_tasks
from iterdeploy.simulator.scenario import load_scenario
from iterdeploy.simulator.store import (
    DB_NAME,
    CurationRow,
    EvaluationRow,
    FindingRow,
    GenerationBundle,
    GenerationRow,
    ModelRow,
    PopulationRow,
    RunRow,
    RunWriter,
    TaskRow,
    TraceRow,
    TrainingExampleRow,
    dumps,
)

REPO = Path(__file__).resolve().parents[2]
NOW = "2026-01-01T00:00:00+00:00"
runner = CliRunner()
_load_plugins()  # audit and calibrate are plugged in through entry points


# -- the checks every case makes ------------------------------------------------------------------


def _store_state(run_dir: Path) -> tuple[str, str]:
    """Hashes of the database and of its write-ahead log (none and empty alike: a reader may
    create an empty one, which holds no rows). The ``-shm`` index is SQLite's scratch memory."""
    def digest(path: Path) -> str:
        return hashlib.sha256(path.read_bytes() if path.is_file() else b"").hexdigest()
    return digest(run_dir / DB_NAME), digest(run_dir / f"{DB_NAME}-wal")


def _assert_refused(result: object, code: int, needles: tuple[str, ...]) -> str:
    """Exit ``code``, no traceback, and every needle in the output; returns stderr."""
    output = result.output  # type: ignore[attr-defined]
    exception = result.exception  # type: ignore[attr-defined]
    assert exception is None or isinstance(exception, SystemExit), (
        f"{type(exception).__name__}: {exception}\n{output}")
    assert result.exit_code == code, output  # type: ignore[attr-defined]
    assert "Traceback" not in output, output
    for needle in needles:
        assert needle in output, f"{needle!r} not in {output!r}"
    return str(result.stderr)  # type: ignore[attr-defined]


def _one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    return lines[0]


# -- a run store, built from rows -----------------------------------------------------------------


def _bundle(g: int, tasks: int, scenario_users: list[str]) -> GenerationBundle:
    """Generation ``g``: deployment tasks with four traces each (long completions, so the traces
    span many pages and overflow pages), decisions by two users, evaluations and a model."""
    base_task, base_trace = 1000 * g, 10000 * g
    bundle = GenerationBundle(generation=GenerationRow(
        generation=g, model_id=g, n_deploy_tasks=tasks, n_deploy_traces=4 * tasks,
        n_published=tasks, train_size=tasks * (g + 1), wall_time_s=1.5, committed_at=NOW))
    for k in range(1, tasks + 1):
        task_id = base_task + k
        bundle.tasks.append(TaskRow(
            task_id=task_id, pool="deploy", generation=g, domain="blocksworld", name=f"t{task_id}",
            size=3 + k % 3, params_json=dumps({"n_blocks": 3 + k % 3}), optimal_length=4,
            problem_pddl=f"(define (problem t{task_id}) (:domain blocksworld))"))
        for s in range(4):
            trace_id = base_trace + 4 * k + s
            valid = (k + s) % 2 == 0
            bundle.traces.append(TraceRow(
                trace_id=trace_id, generation=g, task_id=task_id, purpose="deploy",
                sample_index=s, completion=("thinking " * (60 + 500 * (s == 0))) + "(pickup b1)",
                plan_text="(pickup b1)", n_tokens=64, n_reasoning_tokens=60,
                hit_token_limit=False, status="valid" if valid else "invalid_step",
                is_valid=valid, plan_length=1 + s,
                verdict_json=dumps({"valid": valid, "actions": ["(pickup b1)"]})))
            user = scenario_users[s % 2]
            bundle.decisions.append(CurationRow(
                decision_id=trace_id, generation=g, trace_id=trace_id, user=user,
                policy="validity-v1", kept=valid, reason="valid" if valid else "invalid_step",
                acceptance_prob=0.5, keep_prob=float(valid),
                group_probs_json=dumps({u: 0.5 for u in scenario_users})))
        bundle.evaluations.append(EvaluationRow(
            generation=g, task_id=task_id, n_samples=4, n_valid=2, solved=True,
            best_plan_length=2))
    bundle.population.append(PopulationRow(generation=g, record_json=dumps(
        {"generation": g, "nodes": [{"name": u, "family": u} for u in scenario_users]})))
    bundle.training_set.extend(TrainingExampleRow(generation=g + 1, trace_id=t.trace_id)
                               for t in bundle.traces if t.is_valid)
    bundle.models.append(ModelRow(
        model_id=g, generation=g, base="embedded-tiny-v1", parent_id=None if g == 0 else 0,
        adapter_path=None if g == 0 else f"adapters/gen-{g}", hyperparameters_json=dumps({"lr": 1}),
        train_loss=None if g == 0 else 0.5, n_train_examples=0, train_time_s=0.0))
    return bundle


@pytest.fixture(scope="module")
def pristine_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run store of three generations, with findings, closed (its log checkpointed)."""
    run_dir = tmp_path_factory.mktemp("corpus") / "run"
    spec, text = load_scenario(REPO / "scenarios" / "quickstart.yaml")
    users = ["validators", "skeptics"]
    writer = RunWriter(run_dir)
    try:
        writer.create_run(RunRow(run_id="corpus", name=spec.name, seed=spec.seed, scenario_yaml=text,
                                 scenario_json=spec.to_json(), status="completed", created_at=NOW,
                                 package_versions=dumps({"iterdeploy": "test"})))
        for g in range(3):
            writer.commit_generation(_bundle(g, 12, users))
        writer.replace_findings("implicit-reward-v2", [FindingRow(
            finding_id=0, auditor="implicit-reward-v2", kind="implicit-reward", severity="info",
            generation=g, claim="c", numbers_json=dumps({"features": {"length": {"weight": 1.0}}}),
            evidence_json=dumps({"generations": [g]}), created_at=NOW) for g in range(3)])
    finally:
        writer.close()
    return run_dir


# -- damage done to the store ---------------------------------------------------------------------


def _sql(*statements: str) -> Callable[[Path], None]:
    """Damage made through SQLite itself (a hand edit, a script gone wrong)."""
    def damage(db: Path) -> None:
        conn = sqlite3.connect(db)
        try:
            for statement in statements:
                conn.execute(statement)
            conn.commit()
        finally:
            conn.close()
    return damage


def _bytes_at(offset: Callable[[int], int], data: bytes) -> Callable[[Path], None]:
    """Damage made outside SQLite: ``data`` written over the file at ``offset(file size)``."""
    def damage(db: Path) -> None:
        content = bytearray(db.read_bytes())
        at = offset(len(content))
        content[at:at + len(data)] = data
        db.write_bytes(bytes(content))
    return damage


def _root_page(table: str) -> Callable[[Path], None]:
    """The first page of ``table``'s b-tree overwritten with garbage."""
    def damage(db: Path) -> None:
        conn = sqlite3.connect(db)
        try:
            page_size = conn.execute("PRAGMA page_size").fetchone()[0]
            root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = ?",
                                (table,)).fetchone()[0]
        finally:
            conn.close()
        _bytes_at(lambda size: (root - 1) * page_size, b"\xa5" * page_size)(db)
    return damage


def _truncate(db: Path) -> None:
    content = db.read_bytes()
    db.write_bytes(content[: len(content) // 2 // 4096 * 4096])


TABLES = ("runs", "generations", "tasks", "traces", "curation_decisions", "populations",
          "training_sets", "models", "evaluations", "findings")

WRONG_TYPES: dict[str, tuple[str, str, str]] = {
    "runs": ("seed", "'zero'", "run_id='corpus'"),
    "generations": ("train_size", "'big'", "generation=1"),
    "tasks": ("size", "'large'", "task_id=1001"),
    "traces": ("n_tokens", "'abc'", "trace_id=10004"),
    "curation_decisions": ("kept", "2", "decision_id=10004"),
    "populations": ("record_json", "X'00'", "generation=1"),
    "training_sets": ("trace_id", "X'00ff'", "generation=1, trace_id=5"),
    "models": ("train_time_s", "'slow'", "model_id=1"),
    "evaluations": ("solved", "'yes'", "generation=1"),
    "findings": ("severity", "'urgent'", "finding_id=2"),
}
"""Table → (column, an SQL value of the wrong type for it, the row's key as the message names it)."""

SHOWN_KEYS = {"training_sets": "generation=1, trace_id=b'\\x00\\xff'"}
"""Rows whose key is the damaged value itself: the message shows the key as it is stored."""

JSON_COLUMNS: dict[tuple[str, str], str] = {
    ("runs", "scenario_json"): "run_id='corpus'",
    ("runs", "package_versions"): "run_id='corpus'",
    ("tasks", "params_json"): "task_id=1001",
    ("traces", "verdict_json"): "trace_id=10004",
    ("curation_decisions", "group_probs_json"): "decision_id=10004",
    ("populations", "record_json"): "generation=1",
    ("models", "hyperparameters_json"): "model_id=1",
    ("findings", "numbers_json"): "finding_id=2",
    ("findings", "evidence_json"): "finding_id=2",
}


def _where(key: str) -> str:
    """The SQL condition for a row key as a message names it (``generation=1, trace_id=5``)."""
    return " AND ".join(key.split(", "))


DAMAGE: dict[str, tuple[Callable[[Path], None], tuple[str, ...]]] = {
    "garbled-middle": (_bytes_at(lambda size: size // 2 // 4096 * 4096, b"\xff" * 4096),
                       ("is damaged",)),
    "garbled-middle-zeros": (_bytes_at(lambda size: size // 2 // 4096 * 4096, b"\x00" * 4096),
                             ("is damaged",)),
    "garbled-header": (_bytes_at(lambda size: 0, b"\x00" * 100), ("not a readable run store",)),
    "truncated": (_truncate, ("damaged",)),
    "not-sqlite-at-all": (lambda db: db.write_bytes(b"PK\x03\x04 a zip file, not a store" * 300),
                          ("not a readable run store",)),
    "schema-version-not-a-number": (_sql("UPDATE meta SET value = 'abc'"),
                                    ("table meta", "schema_version", "'abc'")),
    "schema-version-newer": (_sql("UPDATE meta SET value = '99'"), ("schema version 99", "upgrade")),
    "meta-dropped": (_sql("DROP TABLE meta"), ("no schema version",)),
    "no-run-row": (_sql("DELETE FROM runs"), ("table runs holds no run row", "3 generation(s)")),
    "two-run-rows": (_sql("INSERT INTO runs SELECT 'copy', name, seed, scenario_yaml, scenario_json, "
                          "status, created_at, package_versions FROM runs"),
                     ("table runs holds 2 run rows",)),
    "status-unknown": (_sql("UPDATE runs SET status = 'paused'"),
                       ("table runs", "column status", "'paused'")),
    "column-dropped": (_sql("ALTER TABLE traces DROP COLUMN plan_length"),
                       ("table traces has no column plan_length",)),
    "column-added": (_sql("ALTER TABLE tasks ADD COLUMN note TEXT"), ("table tasks", "note")),
    "blob-for-text": (_sql("UPDATE tasks SET name = X'00ff' WHERE task_id = 1001"),
                      ("table tasks, row task_id=1001", "column name", "blob")),
    "object-json-is-a-list": (_sql("UPDATE runs SET scenario_json = '[]'"),
                              ("table runs", "column scenario_json", "a JSON object")),
    "verdict-json-is-a-number": (_sql("UPDATE traces SET verdict_json = '1' WHERE trace_id = 10004"),
                                 ("table traces, row trace_id=10004", "verdict_json", "JSON object")),
    **{f"root-page-of-{t}": (_root_page(t), (f"table {t} is damaged",)) for t in TABLES},
    **{f"dropped-{t}": (_sql(f"DROP TABLE {t}"), (f"table {t} is missing",)) for t in TABLES},
    **{f"wrong-type-in-{t}": (_sql(f"UPDATE {t} SET {col} = {value} WHERE {_where(key)}"),
                              (f"table {t}, row {SHOWN_KEYS.get(t, key)}", f"column {col}"))
       for t, (col, value, key) in WRONG_TYPES.items()},
    **{f"bad-json-in-{t}.{col}": (_sql(f"UPDATE {t} SET {col} = '{{\"unclosed\": ' WHERE "
                                       f"{_where(key)}"), (f"table {t}, row {key}", f"column {col}"))
       for (t, col), key in JSON_COLUMNS.items()},
}
"""Name → (what is done to ``run.sqlite``, what the one error line must say)."""


def _damaged(pristine: Path, tmp_path: Path, damage: Callable[[Path], None]) -> Path:
    run_dir = tmp_path / "run"
    shutil.copytree(pristine, run_dir)
    damage(run_dir / DB_NAME)
    for name in (f"{DB_NAME}-wal", f"{DB_NAME}-shm"):  # what SQLite left from the damage
        (run_dir / name).unlink(missing_ok=True)
    return run_dir


READERS: dict[str, Callable[[Path], object]] = {
    "summary": lambda run_dir: runner.invoke(app, ["summary", str(run_dir)]),
    "summary-json": lambda run_dir: runner.invoke(app, ["summary", "--json", str(run_dir)]),
    "audit": lambda run_dir: runner.invoke(app, ["audit", str(run_dir), "--bootstrap", "2"]),
}

READER_CASES = [(damage, reader) for damage in sorted(DAMAGE) for reader in sorted(READERS)
                if reader != "summary-json" or damage.startswith(("wrong-type", "bad-json", "garbled"))]
"""Every damage for ``summary`` and ``audit``; ``summary --json`` reads the store as ``summary``
does, so a sample of damages suffices for it."""


@pytest.mark.parametrize(("damage", "reader"), READER_CASES)
def test_a_damaged_store_is_refused_by_every_command(
    pristine_store: Path, tmp_path: Path, damage: str, reader: str
) -> None:
    do, needles = DAMAGE[damage]
    run_dir = _damaged(pristine_store, tmp_path, do)
    before = _store_state(run_dir)
    result = READERS[reader](run_dir)
    _assert_refused(result, 2, (*needles, str(run_dir / DB_NAME) if damage != "schema-version-newer"
                                else str(run_dir)))
    line = _one_error_line(result.stderr)  # type: ignore[attr-defined]
    assert len(line) < 600, line
    assert _store_state(run_dir) == before, "refusing a damaged store must not change it"


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_damaged_store_is_refused_by_the_dashboard_data_layer(
    pristine_store: Path, tmp_path: Path, damage: str
) -> None:
    do, needles = DAMAGE[damage]
    run_dir = _damaged(pristine_store, tmp_path, do)
    before = _store_state(run_dir)
    with pytest.raises(StoreError) as refused:
        load_run(run_dir)
    message = str(refused.value)
    assert "\n" not in message
    for needle in needles:
        assert needle in message, message
    assert _store_state(run_dir) == before


def test_every_reader_accepts_the_undamaged_store(pristine_store: Path, tmp_path: Path) -> None:
    run_dir = _damaged(pristine_store, tmp_path, lambda db: None)
    result = runner.invoke(app, ["summary", "--json", str(run_dir)])
    assert result.exit_code == 0, result.output
    assert [row["generation"] for row in json.loads(result.stdout)] == [0, 1, 2]
    assert load_run(run_dir).overview.name == "quickstart"


# -- paths that are not a run store ---------------------------------------------------------------


def _missing(tmp: Path) -> Path:
    return tmp / "no-such-run"


def _a_file(tmp: Path) -> Path:
    (tmp / "notes.txt").write_text("not a run\n")
    return tmp / "notes.txt"


def _empty_dir(tmp: Path) -> Path:
    (tmp / "empty").mkdir()
    return tmp / "empty"


def _db_is_a_directory(tmp: Path) -> Path:
    (tmp / "odd" / DB_NAME).mkdir(parents=True)
    return tmp / "odd"


def _empty_db(tmp: Path) -> Path:
    (tmp / "zero").mkdir()
    (tmp / "zero" / DB_NAME).write_bytes(b"")
    return tmp / "zero"


def _the_db_file_itself(tmp: Path) -> Path:
    (tmp / "r").mkdir()
    (tmp / "r" / DB_NAME).write_bytes(b"")
    return tmp / "r" / DB_NAME


NOT_A_STORE: dict[str, tuple[Callable[[Path], Path], tuple[str, ...]]] = {
    "missing": (_missing, ("no-such-run",)),
    "a-file": (_a_file, ("notes.txt", "not a directory")),
    "empty-directory": (_empty_dir, ("empty", f"no {DB_NAME}")),
    "db-is-a-directory": (_db_is_a_directory, ("odd", f"no {DB_NAME}")),
    "empty-db-file": (_empty_db, ("zero", "no schema version")),
    "the-db-file-itself": (_the_db_file_itself, (DB_NAME, "not a directory")),
}


@pytest.mark.parametrize("reader", sorted(READERS))
@pytest.mark.parametrize("case", sorted(NOT_A_STORE))
def test_a_path_that_is_not_a_store_is_refused(tmp_path: Path, case: str, reader: str) -> None:
    make, needles = NOT_A_STORE[case]
    path = make(tmp_path)
    before = sorted(p.name for p in tmp_path.rglob("*"))
    result = READERS[reader](path)
    _assert_refused(result, 2, needles)
    _one_error_line(result.stderr)  # type: ignore[attr-defined]
    assert sorted(p.name for p in tmp_path.rglob("*")) == before, "nothing is created"


@pytest.mark.parametrize("case", sorted(NOT_A_STORE))
def test_the_dashboard_data_layer_refuses_a_path_that_is_not_a_store(tmp_path: Path, case: str) -> None:
    make, needles = NOT_A_STORE[case]
    with pytest.raises(StoreError) as refused:
        load_run(make(tmp_path))
    assert "\n" not in str(refused.value)
    assert any(n in str(refused.value) for n in needles), str(refused.value)


# -- scenarios: each bad value for each key -------------------------------------------------------


def _nested(key: str, value: str) -> str:
    """YAML setting dotted ``key`` to the YAML text ``value``, under a valid name."""
    parts = key.split(".")
    lines = ["name: corpus"]
    for depth, part in enumerate(parts[:-1]):
        lines.append("  " * depth + f"{part}:")
    lines.append("  " * (len(parts) - 1) + f"{parts[-1]}: {value}")
    return "\n".join(lines) + "\n"


SCENARIO_KEYS = ("seed", "generations", "deploy.tasks_per_generation", "deploy.samples_per_task",
                 "deploy.max_new_tokens", "deploy.temperature", "evaluation.n_tasks",
                 "evaluation.samples_per_task", "evaluation.temperature", "training.lr",
                 "training.n_epochs", "training.batch_size", "model.few_shot")
BAD_VALUES = {"text": "'many'", "list": "[1, 2]", "mapping": "{a: 1}", "null": "null",
              "negative": "-5", "huge": "1e400"}


@pytest.mark.parametrize("value", sorted(BAD_VALUES))
@pytest.mark.parametrize("key", SCENARIO_KEYS)
def test_scenario_validate_names_each_bad_value_of_each_key(tmp_path: Path, key: str, value: str) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(_nested(key, BAD_VALUES[value]), encoding="utf-8")
    result = runner.invoke(app, ["scenario", "validate", str(bad)])
    line = _one_error_line(_assert_refused(result, 2, (key, "bad.yaml:")))
    assert len(line) < 400


SET_CASES: dict[str, tuple[list[str], tuple[str, ...]]] = {
    "no-equals": (["--set", "seed"], ("--set 'seed'", "KEY.PATH=VALUE")),
    "unknown-key": (["--set", "deploy.colour=red"], ("colour",)),
    "seed-too-big": (["--set", "seed=4294967296"], ("override seed", "seed")),
    "temperature-nan": (["--set", "deploy.temperature=.nan"], ("deploy.temperature", "finite")),
    "duplicate-key-in-value": (["--set", "deploy={a: 1, a: 2}"], ("duplicate key 'a'",)),
    "not-yaml": (["--set", "deploy=[1, 2"], ("--set deploy", "not valid YAML")),
    "name-a-path": (["--set", "name=../../x"], ("name",)),
    "sizes-reversed": (["--set", "deploy.sizes={min: 9, max: 3}"], ("deploy.sizes",)),
}


@pytest.mark.parametrize("case", sorted(SET_CASES))
def test_scenario_show_refuses_a_bad_override(tmp_path: Path, case: str) -> None:
    scenario = tmp_path / "ok.yaml"
    scenario.write_text("name: ok\n")
    args, needles = SET_CASES[case]
    result = runner.invoke(app, ["scenario", "show", str(scenario), *args])
    _one_error_line(_assert_refused(result, 2, needles))


def _scenario_file(tmp: Path, name: str, content: bytes | None) -> Path:
    path = tmp / name
    if content is None:
        path.mkdir()
    else:
        path.write_bytes(content)
    return path


SCENARIO_FILES: dict[str, tuple[bytes | None, tuple[str, ...]]] = {
    "a-list": (b"- 1\n- 2\n", ("bad.yaml",)),
    "a-scalar": (b"just words\n", ("bad.yaml",)),
    "binary": (b"\x00\x01\x02\xff\xfe", ("bad.yaml",)),
    "a-directory": (None, ("bad.yaml",)),
    "unknown-top-key": (b"name: x\ncolour: red\n", ("colour",)),
    "deploy-not-a-mapping": (b"name: x\ndeploy: 5\n", ("deploy",)),
    "users-not-a-list": (b"name: x\nusers: everyone\n", ("users",)),
    "unknown-policy": (b"name: x\nusers: [{name: u, policy: psychic, weight: 1}]\n", ("policy",)),
    "unknown-domain": (b"name: x\ndomains: {chess: {min: 2, max: 3}}\n", ("chess",)),
    # an empty file once ran a full-size quickstart under a name nobody wrote
    "empty-0-bytes": (b"", ("bad.yaml", "empty scenario", "scenarios/quickstart.yaml")),
    "empty-whitespace": (b"  \n\n   \r\n", ("bad.yaml", "empty scenario")),
    "empty-comments-only": (b"# name: x\n# generations: 3\n", ("bad.yaml", "empty scenario")),
    "empty-bom-and-comment": (b"\xef\xbb\xbf# nothing here\n", ("bad.yaml", "empty scenario")),
    "empty-document-markers": (b"---\n...\n", ("bad.yaml", "empty scenario")),
    "empty-null": (b"null\n", ("bad.yaml", "empty scenario")),
    "empty-mapping": (b"{}\n", ("bad.yaml", "empty scenario")),
}


@pytest.mark.parametrize("command", ["validate", "show"])
@pytest.mark.parametrize("case", sorted(SCENARIO_FILES))
def test_scenario_commands_refuse_a_bad_file(tmp_path: Path, case: str, command: str) -> None:
    content, needles = SCENARIO_FILES[case]
    path = _scenario_file(tmp_path, "bad.yaml", content)
    result = runner.invoke(app, ["scenario", command, str(path)])
    _one_error_line(_assert_refused(result, 2, needles))


def test_a_missing_scenario_file_is_named(tmp_path: Path) -> None:
    result = runner.invoke(app, ["scenario", "validate", str(tmp_path / "gone.yaml")])
    _one_error_line(_assert_refused(result, 2, ("gone.yaml",)))


# -- run: refused before anything is written -------------------------------------------------------


def _quickstart() -> str:
    return str(REPO / "scenarios" / "quickstart.yaml")


RUN_CASES: dict[str, tuple[Callable[[Path], list[str]], tuple[str, ...]]] = {
    "missing-scenario": (lambda t: ["run", str(t / "gone.yaml"), "--out", str(t / "out")],
                         ("gone.yaml",)),
    "seed-negative": (lambda t: ["run", _quickstart(), "--seed", "-1", "--out", str(t / "out")],
                      ("--seed",)),
    "seed-and-seeds": (lambda t: ["run", _quickstart(), "--seed", "1", "--seeds", "2",
                                  "--out", str(t / "out")], ("--seed or --seeds",)),
    "seeds-reversed": (lambda t: ["run", _quickstart(), "--seeds", "5-1", "--out", str(t / "out")],
                       ("--seeds",)),
    "seeds-words": (lambda t: ["run", _quickstart(), "--seeds", "all", "--out", str(t / "out")],
                    ("--seeds",)),
    "generations-too-many": (lambda t: ["run", _quickstart(), "--generations", "51",
                                        "--out", str(t / "out")], ("--generations",)),
    "set-unknown-key": (lambda t: ["run", _quickstart(), "--set", "deploy.colour=red",
                                   "--out", str(t / "out")], ("colour",)),
    "set-out-of-range": (lambda t: ["run", _quickstart(), "--set", "deploy.samples_per_task=0",
                                    "--out", str(t / "out")], ("deploy.samples_per_task",)),
    "empty-scenario": (lambda t: ["run", str(_empty(t)), "--out", str(t / "out")],
                       ("empty.yaml", "empty scenario")),
    "empty-scenario-with-set-name": (lambda t: ["run", str(_empty(t)), "--set", "name=x",
                                                "--out", str(t / "out")], ("empty scenario",)),
}


def _empty(tmp: Path) -> Path:
    """A scenario file holding only a comment: refused, overrides or not (the file is empty)."""
    path = tmp / "empty.yaml"
    path.write_text("# to do\n")
    return path


@pytest.mark.parametrize("case", sorted(RUN_CASES))
def test_run_refuses_bad_input_and_writes_nothing(tmp_path: Path, case: str) -> None:
    make, needles = RUN_CASES[case]
    result = runner.invoke(app, make(tmp_path))
    _assert_refused(result, 2, needles)
    assert not (tmp_path / "out").exists()


def test_run_refuses_an_out_that_is_a_file(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.write_text("precious\n")
    result = runner.invoke(app, ["run", _quickstart(), "--out", str(out)])
    _one_error_line(_assert_refused(result, 2, (str(out), "not a directory")))
    assert out.read_text() == "precious\n"


def test_run_refuses_an_out_below_a_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("precious\n")
    out = tmp_path / "file" / "run"
    result = runner.invoke(app, ["run", _quickstart(), "--out", str(out)])
    _one_error_line(_assert_refused(result, 2, (str(tmp_path / "file"),)))
    assert (tmp_path / "file").read_text() == "precious\n"


def test_run_refuses_a_damaged_store_and_leaves_it(pristine_store: Path, tmp_path: Path) -> None:
    """Resuming into a damaged store is refused before the model loads, and nothing is written."""
    run_dir = _damaged(pristine_store, tmp_path, DAMAGE["dropped-traces"][0])
    before = _store_state(run_dir)
    result = runner.invoke(app, ["run", _quickstart(), "--out", str(run_dir)])
    _one_error_line(_assert_refused(result, 2, ("table traces is missing",)))
    assert _store_state(run_dir) == before


# -- validate, plan, tasks ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def task_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A Blocksworld domain, a problem and a valid plan for it."""
    root = tmp_path_factory.mktemp("pddl")
    task = next(iter(generate_tasks("blocksworld", {"n_blocks": 3}, seed=0, n=1)))
    (root / "domain.pddl").write_text(domain_path("blocksworld").read_text())
    (root / "problem.pddl").write_text(task.problem_pddl)
    (root / "plan.txt").write_text("\n".join(task.witness_plan) + "\n")
    return {"domain": root / "domain.pddl", "problem": root / "problem.pddl", "plan": root / "plan.txt"}


BAD_PDDL: dict[str, tuple[bytes | None, tuple[str, ...]]] = {
    "empty": (b"", ("bad.pddl",)),
    "not-pddl": (b"hello world\n", ("bad.pddl",)),
    "unbalanced": (b"(define (domain x) (:requirements :strips)\n", ("bad.pddl",)),
    "deep": (b"(define " + b"(" * 2000 + b")" * 2000 + b")", ("bad.pddl", "nested")),
    "latin-1": ("(define (domain caf\xe9))".encode("latin-1"), ("bad.pddl",)),
    "non-ascii-name": ("(define (domain café))".encode(), ("bad.pddl", "non-ASCII")),
    "a-directory": (None, ("bad.pddl",)),
    "binary": (bytes(range(256)), ("bad.pddl",)),
}


@pytest.mark.parametrize("slot", ["domain", "problem"])
@pytest.mark.parametrize("case", sorted(BAD_PDDL))
def test_validate_refuses_unreadable_pddl(
    tmp_path: Path, task_files: dict[str, Path], case: str, slot: str
) -> None:
    content, needles = BAD_PDDL[case]
    files = dict(task_files)
    files[slot] = _scenario_file(tmp_path, "bad.pddl", content)
    result = runner.invoke(app, ["validate", str(files["domain"]), str(files["problem"]),
                                 str(files["plan"])])
    _one_error_line(_assert_refused(result, 2, needles))


@pytest.mark.parametrize("case", ["missing", "a-directory"])
def test_validate_refuses_an_unreadable_plan_file(
    tmp_path: Path, task_files: dict[str, Path], case: str
) -> None:
    plan = tmp_path / "plan.txt"
    if case == "a-directory":
        plan.mkdir()
    result = runner.invoke(app, ["validate", str(task_files["domain"]), str(task_files["problem"]),
                                 str(plan)])
    _one_error_line(_assert_refused(result, 2, ("plan.txt",)))


BAD_PLANS: dict[str, tuple[bytes, tuple[str, ...]]] = {
    "empty": (b"", ("invalid",)),
    "garbage": (b"\x00\xff\xfe garbage", ("invalid",)),
    "unknown-action": (b"(teleport b1)\n", ("invalid", "teleport")),
    "wrong-arity": (b"(pickup b1 b2 b3)\n", ("invalid",)),
    "unknown-object": (b"(pickup b99)\n", ("invalid", "b99")),
    "kelvin-sign": ("(pic\u212aup b1)\n".encode(), ("invalid", "U+212A")),
}


@pytest.mark.parametrize("case", sorted(BAD_PLANS))
def test_validate_says_1_for_a_plan_it_read_but_rejects(
    tmp_path: Path, task_files: dict[str, Path], case: str
) -> None:
    content, needles = BAD_PLANS[case]
    plan = tmp_path / "plan.txt"
    plan.write_bytes(content)
    result = runner.invoke(app, ["validate", str(task_files["domain"]), str(task_files["problem"]),
                                 str(plan)])
    _assert_refused(result, 1, needles)


@pytest.mark.parametrize("case", sorted(BAD_PDDL))
def test_plan_refuses_unreadable_pddl(tmp_path: Path, task_files: dict[str, Path], case: str) -> None:
    content, needles = BAD_PDDL[case]
    bad = _scenario_file(tmp_path, "bad.pddl", content)
    result = runner.invoke(app, ["plan", str(task_files["domain"]), str(bad)])
    _one_error_line(_assert_refused(result, 2, needles))


PLAN_FLAGS: dict[str, tuple[list[str], tuple[str, ...]]] = {
    "time-limit-zero": (["--time-limit", "0"], ("--time-limit",)),
    "time-limit-words": (["--time-limit", "soon"], ("--time-limit",)),
    "memory-limit-tiny": (["--memory-limit", "1"], ("--memory-limit",)),
}


@pytest.mark.parametrize("case", sorted(PLAN_FLAGS))
def test_plan_refuses_bad_flags(task_files: dict[str, Path], case: str) -> None:
    args, needles = PLAN_FLAGS[case]
    result = runner.invoke(app, ["plan", str(task_files["domain"]), str(task_files["problem"]), *args])
    _assert_refused(result, 2, needles)


TASKS_CASES: dict[str, tuple[Callable[[Path], list[str]], tuple[str, ...]]] = {
    "unknown-domain": (lambda t: ["tasks", "chess", "--out", str(t / "out")], ("chess",)),
    "size-no-equals": (lambda t: ["tasks", "blocksworld", "-s", "5", "--out", str(t / "out")],
                       ("--size '5'",)),
    "size-not-a-number": (lambda t: ["tasks", "blocksworld", "-s", "n_blocks=many",
                                     "--out", str(t / "out")], ("n_blocks=many",)),
    "size-unknown-param": (lambda t: ["tasks", "blocksworld", "-s", "n_towers=3",
                                      "--out", str(t / "out")], ("n_towers",)),
    "size-out-of-range": (lambda t: ["tasks", "blocksworld", "-s", "n_blocks=500",
                                     "--out", str(t / "out")], ("n_blocks",)),
    "n-zero": (lambda t: ["tasks", "blocksworld", "--n", "0", "--out", str(t / "out")], ("--n",)),
    "n-huge": (lambda t: ["tasks", "blocksworld", "--n", "10000000", "--out", str(t / "out")],
               ("--n",)),
    "seed-negative": (lambda t: ["tasks", "blocksworld", "--seed", "-3", "--out", str(t / "out")],
                      ("--seed",)),
    "out-missing": (lambda t: ["tasks", "blocksworld"], ("--out",)),
}


@pytest.mark.parametrize("case", sorted(TASKS_CASES))
def test_tasks_refuses_bad_input_and_writes_nothing(tmp_path: Path, case: str) -> None:
    make, needles = TASKS_CASES[case]
    result = runner.invoke(app, make(tmp_path))
    _assert_refused(result, 2, needles)
    assert not (tmp_path / "out").exists()


def test_tasks_refuses_an_out_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "out").write_text("precious\n")
    result = runner.invoke(app, ["tasks", "blocksworld", "--n", "1", "--out", str(tmp_path / "out")])
    _one_error_line(_assert_refused(result, 2, ("out",)))
    assert (tmp_path / "out").read_text() == "precious\n"


# -- calibrate (its input only: a suite that cannot be read never runs anything) ------------------


CALIBRATE_CASES: dict[str, tuple[bytes | None, list[str], tuple[str, ...]]] = {
    "missing-suite": (b"", ["--no-run"], ("suite.yaml",)),
    "suite-not-yaml": (b"cases: [\n", ["--no-run"], ("suite.yaml",)),
    "suite-duplicate-key": (b"seeds: [0]\nseeds: [1]\n", ["--no-run"], ("duplicate key 'seeds'",)),
    "seeds-bad": (None, ["--seeds", "x-y", "--no-run"], ("--seeds",)),
}


@pytest.mark.parametrize("case", sorted(CALIBRATE_CASES))
def test_calibrate_refuses_a_bad_suite(tmp_path: Path, case: str) -> None:
    content, args, needles = CALIBRATE_CASES[case]
    suite = tmp_path / "suite.yaml"
    if case == "seeds-bad":
        suite = REPO / "scenarios" / "calibration" / "suite.yaml"
    elif case != "missing-suite":
        suite.write_bytes(content or b"")
    result = runner.invoke(app, ["calibrate", str(suite), "--out", str(tmp_path / "runs"),
                                 "--doc", str(tmp_path / "doc.md"), *args])
    _assert_refused(result, 2, needles)
    assert not (tmp_path / "runs").exists() and not (tmp_path / "doc.md").exists()


# -- the real entry point -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Process:
    args: list[str]
    code: int
    needles: tuple[str, ...]


def _process_cases(tmp: Path, pristine: Path, files: dict[str, Path]) -> dict[str, _Process]:
    damaged = _damaged(pristine, tmp / "d", DAMAGE["wrong-type-in-traces"][0])
    bad = tmp / "bad.yaml"
    bad.write_text("name: x\nseed: -1\n")
    (tmp / "a-file").write_text("x\n")
    return {
        "summary-damaged": _Process(["summary", str(damaged)], 2, ("table traces, row trace_id=10004",)),
        "audit-damaged": _Process(["audit", str(damaged)], 2, ("table traces",)),
        "scenario-validate": _Process(["scenario", "validate", str(bad)], 2, ("seed",)),
        "run-out-is-a-file": _Process(["run", _quickstart(), "--out", str(tmp / "a-file")], 2,
                                      ("not a directory",)),
        "validate-missing-plan": _Process(["validate", str(files["domain"]), str(files["problem"]),
                                           str(tmp / "none.txt")], 2, ("none.txt",)),
    }


def test_the_real_entry_point_refuses_in_one_line(
    pristine_store: Path, tmp_path: Path, task_files: dict[str, Path]
) -> None:
    """Five cases through ``python -m iterdeploy.simulator.cli``: the process's own exit code and stderr."""
    (tmp_path / "d").mkdir()
    for name, case in _process_cases(tmp_path, pristine_store, task_files).items():
        done = subprocess.run([sys.executable, "-m", "iterdeploy.simulator.cli", *case.args], cwd=tmp_path,
                              capture_output=True, text=True, timeout=120,
                              env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin",
                                   "COLUMNS": "300"})
        assert done.returncode == case.code, (name, done.stderr)
        assert "Traceback" not in done.stderr, (name, done.stderr)
        line = _one_error_line(done.stderr)
        for needle in case.needles:
            assert needle in line, (name, line)
