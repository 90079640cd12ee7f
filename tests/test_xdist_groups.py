"""The test command's scheduling: under ``-n auto --dist loadgroup`` a test file's tests run on
one worker, and so do all dashboard tests (``tests/conftest.py``, ``pytest_xdist_make_scheduler``).

Nothing else would notice if they did not: with pytest 9.2, pytest-xdist's own ``loadgroup``
silently scheduled every test on its own, and the suite passed, only slower (each worker built the
same module fixtures). So a small suite in a temporary folder runs on two workers with the
project's hook, each test writing down its worker, and the test reads where they ran.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

from tests.conftest import LONGEST_FIRST, scheduling_group

REPO = Path(__file__).resolve().parents[1]

PROBE = """\
import os
import pytest

@pytest.mark.parametrize("i", range(8))
def test_probe(i, request):
    with open(os.environ["WHERE"], "a") as f:
        f.write(f"{request.path.name} {os.environ['PYTEST_XDIST_WORKER']}\\n")
"""


def test_a_file_and_the_dashboards_folder_are_each_one_group() -> None:
    assert scheduling_group("tests/auditors/test_drift.py::test_x[a::b]") == "tests/auditors/test_drift.py"
    assert scheduling_group("tests/dashboards/test_report.py::test_y") == "tests/dashboards"
    assert scheduling_group("tests/dashboards/views/test_z.py::test_y") == "tests/dashboards"
    assert scheduling_group("tests/test_dashboards.py::test_y") == "tests/test_dashboards.py"


def test_the_groups_handed_out_first_exist() -> None:
    """A renamed file would silently drop out of :data:`LONGEST_FIRST`."""
    assert all((REPO / group).exists() for group in LONGEST_FIRST)


def test_two_workers_run_each_file_and_the_dashboards_on_one_worker_each(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text(
        "from tests.conftest import pytest_xdist_make_scheduler  # noqa: F401\n")
    files = [tmp_path / "suite" / name for name in ("test_a.py", "test_b.py", "test_c.py")]
    files += [tmp_path / "suite" / "dashboards" / name for name in ("test_d1.py", "test_d2.py")]
    for path in files:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(PROBE)
    where = tmp_path / "where.txt"
    env = {**os.environ, "PYTHONPATH": str(REPO), "WHERE": str(where)}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "2", "--dist", "loadgroup", "-p", "no:cacheprovider",
         "-q", "--rootdir", str(tmp_path), "suite"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    workers: dict[str, set[str]] = defaultdict(set)
    for line in where.read_text().splitlines():
        name, worker = line.split()
        workers[name].add(worker)
    assert sorted(workers) == sorted(p.name for p in files)
    assert all(len(w) == 1 for w in workers.values()), dict(workers)
    assert workers["test_d1.py"] == workers["test_d2.py"]
    assert len(set().union(*workers.values())) == 2, "both workers had work"
