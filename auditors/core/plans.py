"""Reading an extracted plan the way the auditors compare plans: its action names, and a key under
which equal action sequences are equal whatever their case and spacing."""

from __future__ import annotations


def action_names(plan_text: str) -> tuple[str, ...]:
    """Action names of an extracted plan, one per non-empty line (``(stack a b)`` → ``stack``)."""
    names = []
    for line in plan_text.splitlines():
        words = line.strip().lstrip("(").split()
        if words:
            names.append(words[0].lower())
    return tuple(names)


def plan_key(plan_text: str) -> str:
    """The plan with case and whitespace normalised, so equal action sequences compare equal."""
    lines = (
        " ".join(line.replace("(", " ").replace(")", " ").split()).lower() for line in plan_text.splitlines()
    )
    return "\n".join(line for line in lines if line)
