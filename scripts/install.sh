#!/usr/bin/env bash
# Install iterdeploy into ./.venv on a fresh machine.
#   scripts/install.sh         the toolkit (torch from the CPU wheel, then the project)
#   scripts/install.sh --dev   plus test tools, Ray (`iterdeploy sweep`), inspect_ai and datasets
#                              (`iterdeploy export --format inspect|hf`) and the dashboard tests' browser
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null 2>&1 || PY=python3
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
export PIP_DISABLE_PIP_VERSION_CHECK=1
# torch first, pinned: this version lies on the machine as a CPU wheel; an unpinned torch would
# pull a multi-GB CUDA build.
# The plain install compiles no bytecode up front: scripts/write_bytecode.py writes it below for
# the modules the toolkit imports, a third of those installed, in a third of the time
# (docs/benchmarks.md, "The first run"). The test tools import far more, so --dev compiles all.
if [ "${1:-}" = "--dev" ]; then COMPILE=(); else COMPILE=(--no-compile); fi
.venv/bin/pip install -q "${COMPILE[@]}" "torch==2.13.0" 2>&1 | grep -v "^WARNING: Location" || true
if [ "${1:-}" = "--dev" ]; then
  .venv/bin/pip install -q -e ".[dev,ray,inspect,hf]" 2>&1 | grep -v "^WARNING: Location" | grep -iE "error" || true
  bash scripts/install-browser.sh
else
  .venv/bin/pip install -q "${COMPILE[@]}" -e . 2>&1 | grep -v "^WARNING: Location" | grep -iE "error" || true
fi
# the import check's own output (gym's deprecation banner, pulled in by pddlgym) is shown only if
# it fails, so the first thing a user reads is ours
if ! check=$(.venv/bin/python scripts/write_bytecode.py 2>&1); then
  echo "$check" >&2
  echo "install failed: see pip output above" >&2
  exit 1
fi
