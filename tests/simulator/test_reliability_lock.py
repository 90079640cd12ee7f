"""One writer per run directory, and a killed writer's run read as ``interrupted``.

Every writer here is a real second process (a ``python -c`` holding the lock, or a real
``iterdeploy run``), never a mock: the lock is the kernel's, and only another process can show
that it refuses, that readers pass it, and that it dies with its holder. The refused writer must
leave the store exactly as it was (its dump and file bytes compared before and after), and a run
completed by the first writer must stay ``completed``.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from iterdeploy.dashboards.data import load_run, store_version
from iterdeploy.simulator.cli import _load_plugins, app
from iterdeploy.simulator.errors import StoreError
from iterdeploy.simulator.store import (
    DB_NAME,
    LOCK_NAME,
    RunLockedError,
    RunReader,
    writer_is_alive,
    writer_lock,
)

REPO = Path(__file__).resolve().parents[2]
runner = CliRunner()

HOLD_LOCK = (
    "import sys\n"
    "from iterdeploy.simulator.store import writer_lock\n"
    "with writer_lock(sys.argv[1]):\n"
    "    print('locked', flush=True)\n"
    "    sys.stdin.read()\n"
)
"""A stand-in writer: holds the run directory's lock until its stdin closes (or it is killed)."""


def _env() -> dict[str, str]:
    """The environment of a child process, read when it starts (the session's model cache is
    set by a fixture, after this module is imported)."""
    return {**os.environ, "PYTHONPATH": str(REPO)}


def _run_args(out: Path) -> list[str]:
    from tests.conftest import TINY_OVERRIDES

    args = ["run", str(REPO / "scenarios" / "quickstart.yaml"), "--out", str(out)]
    for key, value in TINY_OVERRIDES.items():
        args += ["--set", f"{key}={value}"]
    return args


def _store_files(run_dir: Path) -> dict[str, str]:
    """Hash of the database and its WAL (the ``-shm`` index is SQLite's scratch memory, which a
    reader may rebuild; it holds no rows)."""
    return {
        name: hashlib.sha256((run_dir / name).read_bytes()).hexdigest()
        for name in (DB_NAME, f"{DB_NAME}-wal")
        if (run_dir / name).exists()
    }


def _snapshot(run_dir: Path) -> tuple[dict[str, str], list[str]]:
    with RunReader(run_dir) as reader:
        return _store_files(run_dir), reader.dump()


def _assert_one_line_error(stderr: str, *needles: str) -> None:
    """``stderr`` is one ``error:`` line holding every needle, and no traceback."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ") and "Traceback" not in stderr
    for needle in needles:
        assert needle in lines[0], stderr


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny completed run."""
    out = tmp_path_factory.mktemp("lock") / "run"
    result = runner.invoke(app, _run_args(out))
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture
def held_lock(finished_run: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process holding ``finished_run``'s writer lock for the test."""
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(finished_run)], env=_env(),
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        yield holder
    finally:
        holder.kill()
        holder.wait()


def _start_run(out: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "iterdeploy.simulator.cli", *_run_args(out)], env=_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _wait_until_started(proc: subprocess.Popen[str], run_dir: Path) -> None:
    """Until ``proc`` holds the lock and its run row is stored (status ``started``)."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"the run ended before it could be caught: {proc.stderr}"
        if writer_is_alive(run_dir) and (run_dir / DB_NAME).exists():
            try:
                with RunReader(run_dir) as reader:
                    if reader.find_run() is not None:
                        return
            except (StoreError, OSError):
                pass  # the writer is still creating the tables
        time.sleep(0.05)
    raise AssertionError("the run did not start within 300 s")


# -- the lock itself ----------------------------------------------------------------------------


def test_no_lock_file_means_no_writer(tmp_path: Path) -> None:
    assert not writer_is_alive(tmp_path)
    assert not (tmp_path / LOCK_NAME).exists(), "asking must not create the lock file"


def test_lock_is_refused_while_another_process_holds_it_and_freed_when_it_dies(
    tmp_path: Path,
) -> None:
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(tmp_path)], env=_env(),
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        assert writer_is_alive(tmp_path)
        started = time.monotonic()
        with pytest.raises(RunLockedError) as err, writer_lock(tmp_path):
            pass
        assert time.monotonic() - started < 5, "a second writer is refused at once"
        message = str(err.value)
        assert str(tmp_path) in message and "another process" in message
        assert f"pid {holder.pid}" in message and "\n" not in message
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert not writer_is_alive(tmp_path), "the kernel frees the lock of a killed holder"
    with writer_lock(tmp_path):  # and the next writer takes it, stale file and all
        assert writer_is_alive(tmp_path)


def test_a_readers_probe_never_refuses_a_writer(tmp_path: Path) -> None:
    with writer_lock(tmp_path):
        pass  # leaves the lock file behind, as every run does
    stop = threading.Event()

    def probe() -> None:
        while not stop.is_set():
            writer_is_alive(tmp_path)

    prober = threading.Thread(target=probe)
    prober.start()
    try:
        for _ in range(50):
            with writer_lock(tmp_path):
                pass
    finally:
        stop.set()
        prober.join()


def test_a_run_directory_that_is_a_file_is_refused(tmp_path: Path) -> None:
    file = tmp_path / "not-a-dir"
    file.write_text("x")
    result = runner.invoke(app, _run_args(file))
    assert result.exit_code == 2
    _assert_one_line_error(result.stderr, str(file), "not a directory", "--out")
    assert "Traceback" not in result.output
    assert file.read_text() == "x"


# -- a second writer ----------------------------------------------------------------------------


def test_second_writer_is_refused_and_changes_nothing(
    finished_run: Path, held_lock: subprocess.Popen[str]
) -> None:
    before = _snapshot(finished_run)
    result = runner.invoke(app, _run_args(finished_run))
    assert result.exit_code == 2
    _assert_one_line_error(result.stderr, str(finished_run), "another process",
                           f"pid {held_lock.pid}")
    assert "Traceback" not in result.output
    assert _snapshot(finished_run) == before
    with RunReader(finished_run) as reader:
        assert reader.run().status == "completed"


def test_readers_are_not_blocked_by_a_writer(
    finished_run: Path, held_lock: subprocess.Popen[str]
) -> None:
    before = _snapshot(finished_run)
    result = runner.invoke(app, ["summary", str(finished_run)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "(completed)" in result.output
    assert runner.invoke(app, ["summary", str(finished_run), "--json"]).exit_code == 0
    assert load_run(finished_run).overview.status == "completed"
    assert _snapshot(finished_run) == before


def test_audit_is_not_blocked_by_a_writer(
    finished_run: Path, held_lock: subprocess.Popen[str]
) -> None:
    """Auditors add findings through SQLite's own locking; the run lock is not theirs to wait on."""
    _load_plugins()
    result = runner.invoke(app, ["audit", str(finished_run), "--only", "drift"])
    assert result.exit_code == 0, result.output
    with RunReader(finished_run) as reader:
        assert reader.findings(), "the audit stored its findings"
        assert reader.run().status == "completed"


def test_two_real_runs_on_one_directory(tmp_path: Path) -> None:
    """The issue's race, replayed with two ``iterdeploy run`` processes: the first is paused
    while it holds the lock, the second must be refused without touching the store, and the
    first then completes its run (which must not end as ``error``)."""
    run_dir = tmp_path / "run"
    first = _start_run(run_dir)
    try:
        _wait_until_started(first, run_dir)
        first.send_signal(signal.SIGSTOP)
        before = _snapshot(run_dir)
        second = subprocess.run([sys.executable, "-m", "iterdeploy.simulator.cli", *_run_args(run_dir)],
                                env=_env(), capture_output=True, text=True, timeout=300)
        assert second.returncode == 2, second.stderr
        _assert_one_line_error(second.stderr, str(run_dir), "another process",
                               f"pid {first.pid}")
        assert "Traceback" not in second.stdout
        assert _snapshot(run_dir) == before
        shown = runner.invoke(app, ["summary", str(run_dir)], env={"COLUMNS": "200"})
        assert shown.exit_code == 0 and "(started)" in shown.output, shown.output
    finally:
        first.send_signal(signal.SIGCONT)
    _, stderr = first.communicate(timeout=600)
    assert first.returncode == 0, stderr
    with RunReader(run_dir) as reader:
        assert reader.run().status == "completed"
        assert reader.run_status() == "completed"


# -- a killed writer ----------------------------------------------------------------------------


def test_killed_writer_reads_as_interrupted_and_resumes(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    proc = _start_run(run_dir)
    try:
        _wait_until_started(proc, run_dir)
        assert store_version(run_dir)[-1] == 1, "the dashboard's cache key sees the writer"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    before = _snapshot(run_dir)
    with RunReader(run_dir) as reader:
        assert reader.run().status == "started", "the store keeps what the writer wrote"
        assert reader.run_status() == "interrupted"
    result = runner.invoke(app, ["summary", str(run_dir)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "(interrupted)" in result.output
    assert load_run(run_dir).overview.status == "interrupted"  # the dashboard agrees
    assert store_version(run_dir)[-1] == 0, "the dashboard's cache key sees the writer gone"
    assert _snapshot(run_dir) == before, "readers write nothing, not even the status"

    resumed = runner.invoke(app, _run_args(run_dir))
    assert resumed.exit_code == 0, resumed.output
    with RunReader(run_dir) as reader:
        assert reader.run_status() == "completed"
