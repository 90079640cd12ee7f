"""Reading a scenario, a run or the loop's types does not import torch or transformers.

Why it matters: torch and transformers take seconds to import, and most processes never touch a
model (``iterdeploy summary``, ``scenario validate``, the auditors, the dashboard). The plain types
the loop exchanges with a planner live in :mod:`iterdeploy.simulator.models.protocol` for that reason. Each
check runs in a fresh interpreter, because the test session itself has long imported torch. A
failure names the chain of project imports that first pulled the heavy package in.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

HEAVY = ("torch", "transformers")

_PROBE = r"""
import importlib, json, sys, traceback

HEAVY = {heavy!r}
REPO = {repo!r}
chains = {{}}


class Spy:
    # records the project frames that first import each heavy package; finds nothing itself
    def find_spec(self, name, path=None, target=None):
        if name in HEAVY and name not in chains:
            chains[name] = [f"{{f.filename[len(REPO) + 1:]}}:{{f.lineno}}"
                            for f in traceback.extract_stack()
                            if f.filename.startswith(REPO + "/") and "/.venv/" not in f.filename]
        return None


sys.meta_path.insert(0, Spy())
for module in {modules!r}:
    importlib.import_module(module)
print(json.dumps({{name: chains.get(name) for name in HEAVY if name in sys.modules}}))
"""


def _heavy_imports(*modules: str) -> dict[str, list[str]]:
    """The heavy packages importing ``modules`` loads in a fresh interpreter, each with the chain
    of project lines that imported it first."""
    code = _PROBE.format(heavy=HEAVY, repo=str(REPO), modules=modules)
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    loaded: dict[str, list[str]] = json.loads(result.stdout.strip().splitlines()[-1])
    return loaded


def test_the_store_the_auditors_and_the_model_interface_import_without_torch() -> None:
    loaded = _heavy_imports(
        "iterdeploy.simulator.store", "iterdeploy.auditors", "iterdeploy.simulator.models.protocol",
        "iterdeploy.simulator.models.registry",
        "iterdeploy.simulator.models.device", "iterdeploy.simulator.planning",
    )
    assert loaded == {}, "\n".join(f"{name} imported via {' -> '.join(chain or ['?'])}"
                                   for name, chain in loaded.items())


@pytest.mark.parametrize("module", ["iterdeploy.simulator.loop", "iterdeploy.simulator.scenario"])
def test_the_loop_and_the_scenario_import_without_torch(module: str) -> None:
    loaded = _heavy_imports(module)
    assert loaded == {}, "\n".join(f"{name} imported via {' -> '.join(chain or ['?'])}"
                                   for name, chain in loaded.items())


def test_the_old_import_paths_name_the_same_types() -> None:
    """Code that imports the plain types from their former modules gets the very same classes."""
    from iterdeploy.simulator.models import hf_planner, protocol, training

    assert hf_planner.Completion is protocol.Completion
    assert hf_planner.TrainConfig is protocol.TrainConfig
    assert hf_planner.PromptFormat is protocol.PromptFormat
    assert training.Example is protocol.Example
    assert training.TrainStats is protocol.TrainStats
