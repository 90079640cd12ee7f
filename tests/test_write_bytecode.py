"""scripts/write_bytecode.py, the install's import check that writes bytecode as it imports.

Run on a small package of its own in a temporary folder, so that the test neither imports the
whole toolkit again nor writes into the environment: bytecode goes under ``sys.pycache_prefix``.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "write_bytecode.py"


@pytest.fixture
def script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("write_bytecode", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """``wbpkg``: a module, a subpackage, a ``__main__`` that must not run, and bytecode kept
    under a prefix of the test's own, written even though the test process may not write any."""
    root = tmp_path / "src" / "wbpkg"
    (root / "sub").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "plain.py").write_text("VALUE = 1\n")
    (root / "sub" / "__init__.py").write_text("")
    (root / "sub" / "deep.py").write_text("VALUE = 2\n")
    (root / "__main__.py").write_text("raise RuntimeError('a __main__ module was run')\n")
    monkeypatch.syspath_prepend(str(tmp_path / "src"))
    monkeypatch.setattr(sys, "pycache_prefix", str(tmp_path / "pyc"))
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    yield root
    for name in [m for m in sys.modules if m == "wbpkg" or m.startswith("wbpkg.")]:
        del sys.modules[name]


def test_every_module_gets_its_bytecode_and_no_main_runs(
        script: ModuleType, package: Path, tmp_path: Path) -> None:
    assert script.main(packages=["wbpkg"], lazy=["json"]) == []
    written = {p.name.split(".")[0] for p in (tmp_path / "pyc").rglob("*.pyc")}
    assert {"__init__", "plain", "deep"} <= written
    assert "__main__" not in written
    assert "wbpkg.sub.deep" in sys.modules


def test_a_module_that_needs_an_optional_extra_is_skipped_and_named(
        script: ModuleType, package: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(script, "OPTIONAL", frozenset({"an_extra_not_installed"}))
    (package / "export.py").write_text("import an_extra_not_installed.api\n")
    assert script.main(packages=["wbpkg"], lazy=[]) == ["wbpkg.export (needs an_extra_not_installed)"]


def test_a_required_import_that_fails_stops_the_install_naming_the_module(
        script: ModuleType, package: Path) -> None:
    (package / "broken.py").write_text("import a_package_nobody_installed\n")
    with pytest.raises(SystemExit, match=r"`import wbpkg\.broken` failed.*a_package_nobody_installed"):
        script.main(packages=["wbpkg"], lazy=[])
