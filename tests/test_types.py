"""The type annotations hold: mypy (settings in pyproject.toml) over the three packages.

A test rather than a separate CI step, so the README's test command checks it too. It is static
(nothing runs), and the packages keep it clean: a wrong argument, a possibly-None value used as a
number or a misspelt attribute fails here before it fails at run time.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_mypy_finds_no_type_errors() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-incremental", "--no-error-summary"],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
