#!/usr/bin/env bash
# Install everything (toolkit, test tools, headless browser) and run the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh --dev
exec .venv/bin/python -m pytest "$@"
