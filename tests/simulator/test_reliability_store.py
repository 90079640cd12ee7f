"""OS errors, damaged stores and read-only archived runs.

A full disk, a directory that cannot be written and a run archived read-only are the user's to
deal with, so each must read as one line naming the path and what to do, and none may cost what
was committed before. Disks are filled with SQLite's own ``max_page_count`` (SQLite then fails a
commit with ``SQLITE_FULL``, "database or disk is full", as on a real full disk) or a monkeypatched
save that raises what safetensors raises; permissions are taken away for real, in a child process
(run under ``unshare -U`` when the tests run as root, whom ``chmod`` does not stop).
The damaged-store cases are in ``test_bad_input_corpus.py``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from iterdeploy.dashboards.data import load_run
from iterdeploy.simulator.cli import app
from iterdeploy.simulator.models.hf_planner import HfPlanner
from iterdeploy.simulator.store import DB_NAME, GenerationBundle, RunReader, RunRow, RunWriter, dumps

REPO = Path(__file__).resolve().parents[2]
NOW = "2026-01-01T00:00:00+00:00"
runner = CliRunner()


def _run_args(out: Path) -> list[str]:
    from tests.conftest import TINY_OVERRIDES

    args = ["run", str(REPO / "scenarios" / "quickstart.yaml"), "--out", str(out)]
    for key, value in TINY_OVERRIDES.items():
        args += ["--set", f"{key}={value}"]
    return args


def _error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip() and not line.startswith("gen")]
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and "Traceback" not in stderr, stderr
    return errors[0]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- a full disk ----------------------------------------------------------------------------------


def _fill_the_disk_at(monkeypatch: pytest.MonkeyPatch, generation: int) -> None:
    """Generation ``generation``'s commit meets a full disk: SQLite may not grow the file by a page.

    The limit is lifted again once the commit has failed, so the run's status write that follows
    has room, as the few pages of a small write can after a large one is rolled back. Whether a
    status write fits into a full file's existing pages depends on how the run's rows happen to
    fill them (an update of the run row, which spills onto overflow pages, may need a new one);
    the status write that finds no room is the next test's case."""
    original = RunWriter.commit_generation

    def commit(self: RunWriter, bundle: GenerationBundle) -> None:
        if bundle.generation.generation != generation:
            original(self, bundle)
            return
        pages = self.conn.execute("PRAGMA page_count").fetchone()[0]
        self.conn.execute(f"PRAGMA max_page_count = {pages}")
        try:
            original(self, bundle)
        finally:
            self.conn.execute(f"PRAGMA max_page_count = {2**30}")

    monkeypatch.setattr(RunWriter, "commit_generation", commit)


def test_a_full_disk_at_commit_is_named_and_keeps_what_was_committed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "run"
    _fill_the_disk_at(monkeypatch, 1)
    result = runner.invoke(app, _run_args(out))
    assert result.exit_code == 2, result.output
    line = _error_line(result.stderr)
    for needle in (str(out / DB_NAME), "no space left", "committing generation 1",
                   "resumes from the last committed generation"):
        assert needle in line, line
    with RunReader(out) as reader:
        assert [g.generation for g in reader.generations()] == [0], "generation 0 stays committed"
        assert reader.run().status == "error"
        assert not reader.traces(generation=1), "nothing of the failed commit is kept"
    monkeypatch.undo()  # space freed: the same command resumes and completes
    resumed = runner.invoke(app, _run_args(out))
    assert resumed.exit_code == 0, resumed.output
    with RunReader(out) as reader:
        assert [g.generation for g in reader.generations()] == [0, 1]
        assert reader.run().status == "completed"


def test_when_the_status_write_fails_too_the_first_error_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The issue's case: on a full disk the status write fails as well; the first error (here the
    adapter save, raised as safetensors raises it) is the one reported, and nothing committed is
    touched: the run keeps ``started`` and reads as interrupted."""
    out = tmp_path / "run"

    def save(self: HfPlanner, out_dir: object) -> None:
        raise RuntimeError("Error while serializing: I/O error: No space left on device (os error 28)")

    def set_status(self: RunWriter, status: str) -> None:
        if status != "started":
            error = sqlite3.OperationalError("database or disk is full")
            error.sqlite_errorcode = 13  # type: ignore[attr-defined]
            raise error
        self.conn.execute("UPDATE runs SET status='started'")
        self.conn.commit()

    monkeypatch.setattr(HfPlanner, "save", save)
    monkeypatch.setattr(RunWriter, "set_status", set_status)
    result = runner.invoke(app, _run_args(out))
    assert result.exit_code == 2, result.output
    line = _error_line(result.stderr)
    for needle in (str(out / "adapters" / "gen-1"), "no space left", "saving the adapter of generation 1",
                   "status could not be recorded either", "interrupted"):
        assert needle in line, line
    with RunReader(out) as reader:
        assert reader.run().status == "started" and reader.run_status() == "interrupted"
        assert reader.generations() == [], "generation 0 had not committed; nothing half-written"


# -- directories that cannot be written, and the model cache --------------------------------------


def test_a_model_cache_that_cannot_be_written_is_refused_before_pretraining(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "cache-is-a-file"
    blocker.write_text("x\n")
    monkeypatch.setenv("ITERDEPLOY_CACHE", str(blocker / "sub"))
    monkeypatch.setattr("iterdeploy.simulator.loop.runner.load_planner",
                        lambda *a, **k: pytest.fail("model loaded"))
    result = runner.invoke(app, _run_args(tmp_path / "run"))
    assert result.exit_code == 2, result.output
    line = _error_line(result.stderr)
    assert str(blocker) in line and "ITERDEPLOY_CACHE" in line, line


@pytest.fixture(scope="module")
def unprivileged() -> list[str]:
    """A prefix that runs a command without the power to ignore file permissions."""
    if os.geteuid() != 0:
        return []
    if shutil.which("unshare") and subprocess.run(["unshare", "-U", "true"]).returncode == 0:
        return ["unshare", "-U"]  # root outside, nobody inside: chmod binds again
    pytest.skip("running as root without user namespaces: permissions cannot be taken away")


LOAD_RUN = ("import sys\nfrom pathlib import Path\nfrom iterdeploy.dashboards.data import load_run\n"
            "from iterdeploy.simulator.errors import StoreError\n"
            "try:\n    print(load_run(Path(sys.argv[1])).overview.status)\n"
            "except StoreError as exc:\n    print('refused:', exc)\n    sys.exit(2)\n")
"""The dashboard's data layer in a child process: the status, or ``refused:`` and the message."""


def _load_run(prefix: list[str], run_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*prefix, sys.executable, "-c", LOAD_RUN, str(run_dir)],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(REPO)})


def _cli(prefix: list[str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*prefix, sys.executable, "-m", "iterdeploy.simulator.cli", *args],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "300"})


@pytest.fixture
def read_only(tmp_path: Path) -> Iterator[list[Path]]:
    """Paths whose modes the test changes; write permission is given back afterwards."""
    paths: list[Path] = []
    yield paths
    for path in paths:
        path.chmod(path.stat().st_mode | stat.S_IWUSR | stat.S_IXUSR | stat.S_IRUSR)


def test_run_into_a_directory_that_cannot_be_written(
    tmp_path: Path, unprivileged: list[str], read_only: list[Path]
) -> None:
    parent = tmp_path / "locked"
    parent.mkdir()
    parent.chmod(0o555)
    read_only.append(parent)
    done = _cli(unprivileged, *_run_args(parent / "run"))
    assert done.returncode == 2, done.stderr
    line = _error_line(done.stderr)
    assert str(parent / "run") in line and "permission denied" in line and "--out" in line, line
    assert not (parent / "run").exists()


def test_summary_of_a_directory_that_cannot_be_read(
    store: Path, unprivileged: list[str], read_only: list[Path]
) -> None:
    store.chmod(0o000)
    read_only.append(store)
    done = _cli(unprivileged, "summary", str(store))
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    text = " ".join(done.stderr.split())  # click's usage box may wrap the path
    assert str(store) in text and ("not readable" in text or "permission denied" in text), text
    data = _load_run(unprivileged, store)  # the dashboard's data layer, as that user
    assert data.returncode == 2 and data.stdout.startswith("refused: "), data
    assert str(store) in data.stdout and "permission denied" in data.stdout.lower(), data.stdout


# -- a run archived read-only -----------------------------------------------------------------------


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """A small closed run store (no ``-wal``, no ``-shm``: what an archive keeps)."""
    run_dir = tmp_path / "archived"
    writer = RunWriter(run_dir)
    writer.create_run(RunRow(run_id="r", name="archived", seed=0, scenario_yaml="",
                             scenario_json=dumps({"name": "archived"}), status="completed",
                             created_at=NOW, package_versions="{}"))
    writer.close()
    for name in (f"{DB_NAME}-wal", f"{DB_NAME}-shm"):
        assert not (run_dir / name).exists()
    return run_dir


def test_a_read_only_archived_run_without_its_shm_file_is_read(
    store: Path, unprivileged: list[str], read_only: list[Path]
) -> None:
    (store / DB_NAME).chmod(0o444)
    store.chmod(0o555)
    read_only.extend([store, store / DB_NAME])
    before = _digest(store / DB_NAME)
    done = _cli(unprivileged, "summary", str(store))
    assert done.returncode == 0, done.stderr
    assert "archived (completed)" in done.stdout
    data = _load_run(unprivileged, store)
    assert data.returncode == 0 and data.stdout.strip() == "completed", data.stderr
    assert _digest(store / DB_NAME) == before
    assert sorted(p.name for p in store.iterdir()) == [DB_NAME], "reading created nothing"


def test_an_archived_log_without_its_index_is_refused_with_what_to_do(
    store: Path, unprivileged: list[str], read_only: list[Path]
) -> None:
    """Rows still in ``run.sqlite-wal`` can be found only through ``-shm``; reading the database
    file alone (``immutable=1``) would show a run without them, so this one is refused."""
    conn = sqlite3.connect(store / DB_NAME)
    conn.execute("PRAGMA wal_autocheckpoint = 0")
    conn.execute("UPDATE runs SET name = 'in-the-log'")
    conn.commit()
    shutil.copy(store / f"{DB_NAME}-wal", store.parent / "wal")  # the log as a kill -9 leaves it
    conn.close()
    shutil.move(store.parent / "wal", store / f"{DB_NAME}-wal")
    (store / f"{DB_NAME}-shm").unlink(missing_ok=True)
    store.chmod(0o555)
    read_only.append(store)
    done = _cli(unprivileged, "summary", str(store))
    assert done.returncode == 2, done.stderr
    line = _error_line(done.stderr)
    assert f"{DB_NAME}-wal holds committed rows" in line and "copy" in line, line


def test_a_writable_archive_reads_its_log_as_before(store: Path) -> None:
    assert load_run(store).overview.name == "archived"


def test_a_run_directory_with_uri_characters_in_its_name(tmp_path: Path) -> None:
    """SQLite reads the reader's path as a URI: ``#`` and ``?`` are escaped, not cut at."""
    for name in ("a#b", "a?mode=rwc", "50%", "sp ace"):
        run_dir = tmp_path / name
        writer = RunWriter(run_dir)
        writer.create_run(RunRow(run_id="r", name=name.replace("?", "_"), seed=0, scenario_yaml="",
                                 scenario_json="{}", status="completed", created_at=NOW,
                                 package_versions="{}"))
        writer.close()
        with RunReader(run_dir) as reader:
            assert reader.run().name == name.replace("?", "_")
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
            p.name for p in tmp_path.iterdir() if p.is_dir()), "no stray file beside the runs"
