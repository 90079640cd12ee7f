#!/usr/bin/env bash
# Install everything (toolkit, test tools, headless browser) and run the test suite.
# The suite runs on every core (pytest-xdist, one process a core, a test file's tests on one
# process, tests/conftest.py), each process and what it starts with one torch thread: the tests'
# models are too small for torch's own threads to pay. Extra arguments go to pytest
# (`bash scripts/test.sh -n 0 tests/simulator` runs that folder in one process).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh --dev
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
exec .venv/bin/python -m pytest -n auto --dist loadgroup "$@"
