"""Where a scenario argument points: a file the user names, or a scenario shipped in the package.

Every command that takes a scenario (``run``, ``sweep``, ``pretrain``, ``scenario validate`` and
``show``) and the notebook API (``iterdeploy.load_scenario``) resolve it here, so that
``iterdeploy run quickstart`` means the same everywhere and works after a plain ``pip install``,
where no ``scenarios/`` folder lies beside the user. The shipped scenarios are read through
:mod:`importlib.resources` from ``iterdeploy/scenarios``: in a clone that is the link to the
repository's ``scenarios/``, in a wheel the copy setuptools puts there.

The rule is short so that it never surprises: a file that exists always wins (a user's own
``quickstart`` file in the working directory is run, not ours); otherwise a bare name (no folder,
with or without ``.yaml``) is looked up among the shipped scenarios, even where a folder of that
name lies in the working directory; anything else is a missing file. Each failure is one line
naming what was asked and what exists. ``iterdeploy calibrate`` resolves its suite file by the
same rule (:func:`resolve_suite`: ``calibration`` is the shipped ``scenarios/calibration/suite.yaml``).
"""

from __future__ import annotations

import re
from importlib.resources import files
from pathlib import Path

from iterdeploy.simulator.errors import ScenarioError
from iterdeploy.simulator.registry import Registry, UnknownNameError
from iterdeploy.simulator.scenario_yaml import short_repr

SUFFIXES = (".yaml", ".yml")
"""Endings a scenario file may have; a name given with one of them is still a name."""


class UnknownScenarioError(UnknownNameError, ScenarioError):
    """A bare name that no shipped scenario (or calibration suite) has, and no file in the
    working directory either.

    A :class:`ScenarioError`, so every command reports it in one line like any other bad
    scenario; its message has the closest shipped names and all of them.
    """


def shipped_dir() -> Path:
    """The folder that holds the shipped scenarios (``iterdeploy/scenarios``).

    iterdeploy is a regular package installed as files (pip never installs a wheel zipped), so
    the folder is a real directory and a run can store the scenario's path as it does for a
    user's file.
    """
    return Path(str(files("iterdeploy") / "scenarios"))


def shipped_scenarios() -> Registry[Path]:
    """Every shipped scenario, name (the file name without ``.yaml``) → file, sorted by name.

    A :class:`~iterdeploy.simulator.registry.Registry`, so an unknown name gets the same
    did-you-mean message as an unknown domain or model. Empty when the folder is missing (a
    broken install), which the lookup then reports as "known scenarios: none".
    """
    known: Registry[Path] = Registry(
        "scenario", error=UnknownScenarioError,
        hint="; `iterdeploy scenario list` says what each asks, or give a scenario file's path")
    folder = shipped_dir()
    if folder.is_dir():
        for file in sorted(folder.iterdir()):
            if file.suffix == ".yaml" and file.is_file():
                known.register(file.stem, file)
    return known


SUITE_FILE = "suite.yaml"
"""A shipped calibration suite is ``scenarios/<name>/suite.yaml``; its scenario paths are relative
to that folder (``../quickstart.yaml``), so it runs the shipped scenarios wherever it lies."""


def shipped_suites() -> Registry[Path]:
    """Every shipped calibration suite, name (its folder: ``calibration``) → its suite file."""
    known: Registry[Path] = Registry("calibration suite", error=UnknownScenarioError,
                                     hint="; or give a suite file's path")
    folder = shipped_dir()
    if folder.is_dir():
        for file in sorted(folder.glob(f"*/{SUITE_FILE}")):
            known.register(file.parent.name, file)
    return known


def _bare_name(text: str) -> str | None:
    """The name ``text`` spells when it is a bare name (no folder part), else None."""
    if not text or "/" in text or "\\" in text or text in (".", ".."):
        return None
    for suffix in SUFFIXES:
        if text.endswith(suffix):
            return text[: -len(suffix)] or None
    return text


def _shown(text: str) -> str:
    """A path as an error message shows it: as given, or quoted and cut when it holds line breaks
    or control characters or runs long (the message stays one readable line)."""
    return text if text.isprintable() and len(text) <= 200 else short_repr(text)


def _resolve(argument: str | Path, shipped: Registry[Path], noun: str, name_of: str, example: str) -> Path:
    """The rule for scenarios and suites alike (see the module's docstring).

    Args:
        argument: What the user gave.
        shipped: The shipped files of this kind by name.
        noun: What a file of this kind is called in messages (``scenario file``).
        name_of: The part of ``argument`` that would be a shipped name (its stem for a scenario,
            its folder for a suite), for the hint on a missing path.
        example: A shipped name, for the message on an empty argument.
    """
    path = Path(argument)
    text = str(argument)
    if not text.strip():
        raise ScenarioError(f"empty {noun.split()[0]} argument: give a {noun} or a shipped "
                            f"{shipped.kind}'s name, e.g. {example}")
    try:
        is_file, exists = path.is_file(), path.exists()
    except OSError as exc:  # a name too long for the file system, a path through a file, ...
        raise ScenarioError(f"{_shown(text)}: not a readable path ({exc.strerror}); give a {noun} "
                            f"or a shipped {shipped.kind}'s name") from None
    if is_file:
        return path
    name = _bare_name(text)
    if name is not None and (name in shipped or name == text):
        return shipped[name]  # an unknown name without a suffix: the did-you-mean error
    if exists:
        raise ScenarioError(f"{_shown(text)}: not a file; give a {noun} or a shipped "
                            f"{shipped.kind}'s name")
    if name_of in shipped:
        raise ScenarioError(f"{_shown(text)}: no such {noun}; to run the shipped one, give its "
                            f"name: {name_of}")
    raise ScenarioError(f"{_shown(text)}: no such {noun} (shipped {shipped.plural}, run by name: "
                        f"{', '.join(shipped) or 'none'})")


def resolve_scenario(scenario: str | Path) -> Path:
    """The scenario file that ``scenario`` (a path or a shipped scenario's name) stands for.

    Examples:
        >>> resolve_scenario("quickstart").name
        'quickstart.yaml'

    Raises:
        UnknownScenarioError: A bare name that is neither a file here nor a shipped scenario.
        ScenarioError: An empty argument, a folder, or a path that does not exist; when its
            file name is a shipped scenario's, the message says to run that by name.
    """
    path = Path(scenario)
    return _resolve(scenario, shipped_scenarios(), "scenario file",
                    path.stem if path.suffix in SUFFIXES else path.name, "quickstart")


def resolve_suite(suite: str | Path) -> Path:
    """The calibration suite file that ``suite`` (a path or a shipped suite's name,
    ``calibration``) stands for; the same rule as :func:`resolve_scenario`.

    Raises:
        UnknownScenarioError: A bare name that is neither a file here nor a shipped suite.
        ScenarioError: An empty argument, a folder, or a path that does not exist; for
            ``scenarios/calibration/suite.yaml`` outside a clone, the message says to give
            ``calibration``.
    """
    path = Path(suite)
    return _resolve(suite, shipped_suites(), "suite file",
                    path.parent.name if path.name == SUITE_FILE else path.name, "calibration")


def scenario_question(file: Path) -> str:
    """The question a scenario file asks: its first comment paragraph, on one line.

    Every shipped scenario opens with ``# Name: question?`` (sometimes over two lines), which is
    what ``iterdeploy scenario list`` shows; a file without a leading comment has no question
    (empty string).
    """
    lines: list[str] = []
    for line in file.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        words = line.lstrip("#").strip()
        if not words:
            if lines:
                break
            continue
        lines.append(words)
    return re.sub(r"\s+", " ", " ".join(lines))
