"""The dashboard's tables, checked against numbers worked out by hand from the synthetic store."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from iterdeploy.dashboards.data import (
    FINDING_COLUMNS,
    GROUP_COLUMNS,
    REWARD_COLUMNS,
    RUN_DIR_ENV,
    SUMMARY_COLUMNS,
    display_findings,
    display_summary,
    domain_frame,
    findings_frame,
    group_frame,
    headline,
    load_run,
    resolve_run_dir,
    reward_frame,
    store_version,
    summary_frame,
)
from iterdeploy.dashboards.frames import attribution_frame, reward_truth_frame
from iterdeploy.simulator.errors import StoreError
from iterdeploy.simulator.store import DB_NAME, FindingRow, RunReader, RunWriter, summarize, writer_lock


def test_summary_frame_matches_hand_computed_numbers(run_dir: Path) -> None:
    with RunReader(run_dir) as reader:
        frame = summary_frame(reader)
    assert list(frame.columns) == list(SUMMARY_COLUMNS)
    assert frame["generation"].tolist() == [0, 1, 2, 3]
    assert frame["evaluated"].tolist() == [5, 5, 5, 5]
    assert frame["solved"].tolist() == [1, 2, 4, 5]
    # plan lengths are the evaluation pool's (2 * size + generation for the solved tasks); the
    # 6-step deployment plans of generation 0 are longer than its one evaluation plan, and count
    # only in the deployment column
    assert frame["longest_plan_length"].tolist() == [4, 7, 12, 15]
    assert frame["mean_plan_length"].tolist() == [4.0, 6.0, 9.0, 11.0]
    assert frame["deploy_longest_plan_length"].tolist() == [6, 6, 6, 6]
    assert frame["train_size"].tolist() == [2, 4, 6, 8]
    assert frame["deploy_solved"].tolist() == [2, 2, 2, 2]
    assert frame["published"].tolist() == [2, 2, 2, 2]
    assert frame["largest_solved_size"].tolist() == [2, 3, 5, 6]


def test_summary_frame_is_summarize_row_for_row(run_dir: Path) -> None:
    """One definition of every number: the page shows exactly what ``iterdeploy summary`` prints."""
    with RunReader(run_dir) as reader:
        frame = summary_frame(reader)
        rows = [r.model_dump(include=set(SUMMARY_COLUMNS)) for r in summarize(reader)]
    assert frame.to_dict("records") == rows


def test_headline_compares_last_generation_with_generation_zero(run_dir: Path) -> None:
    with RunReader(run_dir) as reader:
        head = headline(summary_frame(reader))
    assert head is not None
    assert (head.n_generations, head.last_generation, head.evaluated) == (4, 3, 5)
    assert (head.solved_first, head.solved_last, head.solved_delta) == (1, 5, 4)
    assert head.solved_ratio == 5.0
    assert (head.longest_first, head.longest_last) == (4, 15)


def test_findings_most_severe_first_with_whole_run_label(run_dir: Path) -> None:
    with RunReader(run_dir) as reader:
        frame = findings_frame(reader)
    assert list(frame.columns) == list(FINDING_COLUMNS)
    assert frame["severity"].tolist() == ["high", "info"]
    assert frame["generation"].tolist() == [2, pd.NA]
    shown = display_findings(frame)
    assert shown["generation"].tolist() == ["2", "whole run"]
    assert "40% longer" in shown.loc[0, "claim"]


def test_run_without_findings_or_generations(make_run) -> None:  # type: ignore[no-untyped-def]
    run_dir = make_run(n_generations=0, status="started", with_findings=False)
    with writer_lock(run_dir):  # a writer is still at work: the run is in progress
        data = load_run(run_dir)
    assert data.overview.status == "started"
    assert load_run(run_dir).overview.status == "interrupted"  # and once it is gone
    assert data.summary.empty and list(data.summary.columns) == list(SUMMARY_COLUMNS)
    assert data.findings.empty and list(data.findings.columns) == list(FINDING_COLUMNS)
    assert data.headline is None


def test_generation_without_valid_plans_stays_missing_not_zero(make_run) -> None:  # type: ignore[no-untyped-def]
    data = load_run(make_run(n_generations=1, all_invalid=True))
    assert data.summary.loc[0, "solved"] == 0
    assert pd.isna(data.summary.loc[0, "longest_plan_length"])
    assert data.headline is not None and data.headline.longest_last is None
    assert data.headline.solved_ratio is None
    table = display_summary(data.summary)
    assert table.index.name == "generation"
    assert table["longest valid plan (eval)"].isna().all()
    assert str(table["eval solved"].dtype) == "Int64"


def test_load_run_reads_overview(run_dir: Path) -> None:
    data = load_run(run_dir)
    assert (data.overview.name, data.overview.seed, data.overview.status) == (
        "curation-bias-demo", 7, "completed")
    assert len(data.summary) == 4 and len(data.findings) == 2


@pytest.mark.parametrize("kind", ["missing", "file", "empty_dir", "garbage_db", "empty_db"])
def test_bad_run_dirs_raise_store_error_naming_the_problem(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "bad"
    expected = {"missing": "no such directory", "file": "not a directory",
                "empty_dir": "not a run directory", "garbage_db": "not a readable run store",
                "empty_db": "not a readable run store"}[kind]
    if kind == "file":
        path.write_text("x")
    elif kind != "missing":
        path.mkdir()
    if kind == "garbage_db":
        (path / DB_NAME).write_bytes(b"this is not sqlite" * 100)
    if kind == "empty_db":
        sqlite3.connect(path / DB_NAME).execute("CREATE TABLE other (x)").connection.close()
    with pytest.raises(StoreError, match=expected) as info:
        load_run(path)
    assert str(path) in str(info.value)


def test_resolve_run_dir_prefers_argv_then_env() -> None:
    assert resolve_run_dir(["app.py", "/runs/a"], {RUN_DIR_ENV: "/runs/b"}) == Path("/runs/a")
    assert resolve_run_dir(["app.py"], {RUN_DIR_ENV: "/runs/b"}) == Path("/runs/b")
    assert resolve_run_dir(["app.py"], {}) is None
    assert resolve_run_dir(["app.py", " "], {RUN_DIR_ENV: ""}) is None


def test_store_version_changes_when_a_generation_is_committed(make_run) -> None:  # type: ignore[no-untyped-def]
    """The cache key must move on a commit even while the database file itself is untouched (WAL)."""
    from iterdeploy.simulator.store import GenerationBundle, GenerationRow, RunWriter

    run_dir = make_run(n_generations=1)
    before = store_version(run_dir)
    writer = RunWriter(run_dir)
    try:
        writer.commit_generation(GenerationBundle(generation=GenerationRow(
            generation=1, model_id=1, n_deploy_tasks=0, n_deploy_traces=0, n_published=0,
            train_size=0, wall_time_s=0.0, committed_at="2025-06-01T12:00:00+00:00")))
        during = store_version(run_dir)  # writer still open: the commit sits in the WAL
        assert during != before
        assert len(load_run(run_dir).summary) == 2
    finally:
        writer.close()
    assert store_version(run_dir) != before


def test_load_run_does_not_write(run_dir: Path) -> None:
    db = run_dir / DB_NAME
    digest, mtime = hashlib.sha256(db.read_bytes()).hexdigest(), db.stat().st_mtime_ns
    load_run(run_dir)
    assert hashlib.sha256(db.read_bytes()).hexdigest() == digest
    assert db.stat().st_mtime_ns == mtime
    wal = run_dir / f"{DB_NAME}-wal"
    assert not wal.exists() or wal.stat().st_size == 0


def test_domain_frame_counts_each_domain_and_the_page_charts_it(make_run: Callable[..., Path]) -> None:
    """A run over two domains: solved evaluation tasks per domain add up to the summary's."""
    from iterdeploy.dashboards.figures import domain_figure

    run = make_run(domains=("blocksworld", "rovers"))
    with RunReader(run) as reader:
        frame = domain_frame(reader)
        summary = summary_frame(reader)
    solved = {(r.generation, r.domain): (r.solved, r.evaluated) for r in frame.itertuples()}
    assert solved == {
        (0, "blocksworld"): (1, 3), (0, "rovers"): (0, 2), (1, "blocksworld"): (1, 3), (1, "rovers"): (1, 2),
        (2, "blocksworld"): (2, 3), (2, "rovers"): (2, 2), (3, "blocksworld"): (3, 3), (3, "rovers"): (2, 2),
    }
    assert frame.groupby("generation")["solved"].sum().tolist() == summary["solved"].tolist()
    figure = domain_figure(frame)
    assert sorted(trace.name for trace in figure.data) == ["blocksworld", "rovers"]
    assert load_run(run).by_domain is not None
    # blocks and waypoints have no common maximum: the table leaves the size columns out
    shown = display_summary(summary, several_domains=True)
    assert "largest solved size (eval)" in display_summary(summary).columns
    assert "largest solved size (eval)" not in shown.columns
    assert not any("largest" in str(c) for c in shown.columns)
    assert shown["eval solved"].tolist() == summary["solved"].tolist()


def test_group_frame_counts_decisions_and_published_traces_per_group(make_run) -> None:  # type: ignore[no-untyped-def]
    """Each generation: two tasks, one per group, two samples each, the first one published."""
    run_dir = make_run("two-groups", groups=("long-fans", "validators"))
    with RunReader(run_dir) as reader:
        frame = group_frame(reader)
        published = summary_frame(reader)["published"].tolist()
    assert list(frame.columns) == list(GROUP_COLUMNS)
    assert frame.to_dict("records") == [
        {"generation": g, "group": group, "decisions": 2, "published": 1}
        for g in range(4) for group in ("long-fans", "validators")
    ]
    assert frame.groupby("generation")["published"].sum().tolist() == published
    assert load_run(run_dir).by_group is not None


def test_group_frame_sums_the_members_of_a_family(make_run) -> None:  # type: ignore[no-untyped-def]
    """A population of many members is shown by family, as the population record names them."""
    run_dir = make_run("members", n_generations=2, groups=("fans-0", "fans-1"),
                       families={"fans-0": "fans", "fans-1": "fans"})
    with RunReader(run_dir) as reader:
        frame = group_frame(reader)
    assert frame.to_dict("records") == [
        {"generation": g, "group": "fans", "decisions": 4, "published": 2} for g in range(2)
    ]


def test_group_frame_of_a_run_where_nothing_was_kept(make_run) -> None:  # type: ignore[no-untyped-def]
    frame = load_run(make_run(n_generations=2, all_invalid=True)).by_group
    assert frame is not None
    assert frame["published"].tolist() == [0, 0] and frame["decisions"].tolist() == [4, 4]


def test_reward_frame_reads_the_inferred_weights_per_generation(make_run) -> None:  # type: ignore[no-untyped-def]
    run_dir = make_run("audited", n_generations=3, with_rewards=True)
    with RunReader(run_dir) as reader:
        frame = reward_frame(reader)
    assert list(frame.columns) == list(REWARD_COLUMNS)
    # features sorted by name per generation; n_tokens (no fit) is left out
    assert frame.astype(object).where(frame.notna(), None).values.tolist() == [
        [0, "is_valid", 2.0, 1.5, 2.5], [0, "plan_length", 0.0, None, None],
        [1, "is_valid", 2.0, 1.5, 2.5], [1, "plan_length", -0.25, -0.35, -0.15],
        [2, "is_valid", 2.0, 1.5, 2.5], [2, "plan_length", -0.5, -0.6, -0.4],
    ]


def test_reward_frame_is_empty_before_an_audit_and_ignores_other_kinds(make_run) -> None:  # type: ignore[no-untyped-def]
    assert load_run(make_run("plain")).rewards.empty  # type: ignore[union-attr]
    # the default run's findings are a whole-run one and a generation-2 "drift" one: neither counts
    with RunReader(make_run("with-findings", with_findings=True)) as reader:
        assert reward_frame(reader).empty



def _store_findings(run_dir: Path, auditor: str, rows: list[FindingRow]) -> None:
    writer = RunWriter(run_dir)
    try:
        writer.replace_findings(auditor, rows)
    finally:
        writer.close()


def _finding(auditor: str, kind: str, generation: int | None, numbers_json: str) -> FindingRow:
    return FindingRow(finding_id=0, auditor=auditor, kind=kind, severity="medium", generation=generation,
                      claim=f"{kind} claim", numbers_json=numbers_json, evidence_json="{}",
                      created_at="2025-06-01T12:00:00+00:00")


def test_unknown_kinds_and_misfit_payloads_never_take_the_tables_down(make_run) -> None:  # type: ignore[no-untyped-def]
    """A kind no payload model is registered for is listed like any other; a finding whose numbers
    do not fit its kind's model is left out of the tables that read those numbers, the rest drawn."""
    run_dir = make_run("odd", n_generations=3, with_rewards=True)
    with RunReader(run_dir) as reader:
        rewards = [f for f in reader.findings() if f.auditor == "implicit-reward-v2"]
    _store_findings(run_dir, "implicit-reward-v2", [  # generation 1's weights no longer fit the model
        f.model_copy(update={"numbers_json": '{"features": [1, 2]}'}) if f.generation == 1 else f
        for f in rewards])
    _store_findings(run_dir, "someone-elses-check-v1", [
        _finding("someone-elses-check-v1", "someone-elses-check", None, '{"score": [1, {"a": 2}]}')])
    _store_findings(run_dir, "attribution-v2", [
        _finding("attribution-v2", "reward-attribution", None, '{"group": 3}')])
    _store_findings(run_dir, "blackbox-reward-v2", [
        _finding("blackbox-reward-v2", "blackbox-reward", 1, '{"features": "none"}')])
    data = load_run(run_dir)
    assert "someone-elses-check" in set(data.findings["kind"])
    assert data.rewards is not None and sorted(set(data.rewards["generation"])) == [0, 2]
    with RunReader(run_dir) as reader:
        truth = reward_truth_frame(reader)
        assert set(truth["generation"].dropna()) == {0, 2}
        assert attribution_frame(reader).empty
