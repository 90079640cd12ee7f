"""What schema versions 3 and 4 store, and that stores written before them still work.

A run's training set must not depend on today's format code: each task row keeps the prompt the
model was given (version 3), and training reads it back. Each decision keeps its user's group
(version 4), so readers no longer derive it from the population records. A store from schema
version 2 has neither; it is migrated when opened, the loop renders its prompts from the tasks'
PDDL as it used to, and its readers map users to groups as before.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from iterdeploy.simulator.loop import run_scenario
from iterdeploy.simulator.models.task_format import CompactTaskFormat
from iterdeploy.simulator.planning import load_stored_task
from iterdeploy.simulator.scenario import parse_scenario
from iterdeploy.simulator.store import SCHEMA_VERSION, RunReader
from tests.simulator.test_extend_run import YAML, _fingerprint, _spec


def _as_schema_2(run_dir: Path) -> None:
    """Turn a store into what schema version 2 wrote: no ``tasks.prompt``, no
    ``curation_decisions.user_group``."""
    conn = sqlite3.connect(run_dir / "run.sqlite")
    with conn:
        conn.execute("ALTER TABLE tasks DROP COLUMN prompt")
        conn.execute("ALTER TABLE curation_decisions DROP COLUMN user_group")
        conn.execute("UPDATE meta SET value='2' WHERE key='schema_version'")
    conn.close()


def test_every_task_stores_the_prompt_the_model_was_given(
    tmp_path: Path, tiny_overrides: dict[str, object]
) -> None:
    run_dir = tmp_path / "run"
    run_scenario(_spec(tiny_overrides, 1), YAML, run_dir)
    fmt = CompactTaskFormat()  # the embedded model's format
    with RunReader(run_dir) as reader:
        tasks = reader.tasks()
        assert {t.pool for t in tasks} == {"eval", "deploy", "reference"}
        for task in tasks:
            assert task.prompt == fmt.prompt(load_stored_task(task.domain, task.problem_pddl))


def test_every_decision_stores_its_users_group(tmp_path: Path, tiny_overrides: dict[str, object]) -> None:
    run_dir = tmp_path / "run"
    spec = parse_scenario(
        "name: two\nusers:\n  - {name: fans, weight: 0.5, count: 3, policy: validity}\n"
        "  - {name: critics, weight: 0.5, policy: validity}\n",
        overrides={**tiny_overrides, "generations": 0})
    run_scenario(spec, "name: two\n", run_dir)
    with RunReader(run_dir) as reader:
        pairs = {(d.user, d.user_group) for d in reader.decisions()}
    assert pairs and all(group in ("fans", "critics") for _, group in pairs)
    assert all(user == group or user.startswith(f"{group}-") for user, group in pairs)


def test_a_schema_2_store_opens_and_extends_exactly_as_one_with_prompts(
    tmp_path: Path, tiny_overrides: dict[str, object]
) -> None:
    current, old = tmp_path / "current", tmp_path / "old"
    run_scenario(_spec(tiny_overrides, 1), YAML, current)
    shutil.copytree(current, old)
    _as_schema_2(old)

    with RunReader(old) as reader:  # opening migrates: the column is back, empty
        assert reader.query("SELECT value FROM meta WHERE key='schema_version'") == [
            {"value": str(SCHEMA_VERSION)}]
        assert {t.prompt for t in reader.tasks()} == {None}
        assert {d.user_group for d in reader.decisions()} == {None}

    # training generation 2 reads generation 0-1 prompts back: stored in one, rendered in the other
    for run_dir in (current, old):
        run_scenario(_spec(tiny_overrides, 2), YAML, run_dir)
    assert _fingerprint(old) == _fingerprint(current)
    adapter = Path("adapters/gen-2/adapter_model.safetensors")
    assert (old / adapter).read_bytes() == (current / adapter).read_bytes()
