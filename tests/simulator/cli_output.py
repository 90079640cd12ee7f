"""What the reliability tests check in a command's output, written once."""

from __future__ import annotations


def error_line(stderr: str) -> str:
    """The one line a refused command prints: exactly one non-blank line, starting ``error: ``."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: "), stderr
    return lines[0]
