"""iterdeploy: simulate and audit iterative deployment of language models.

The toolkit is one package, ``iterdeploy``, so that installing it claims one name in a user's
environment. Its three layers are subpackages: ``iterdeploy.simulator`` (the loop, the store, the
domains), ``iterdeploy.auditors`` (read a run, infer its implicit reward, write findings) and
``iterdeploy.dashboards`` (the Streamlit app and the report). In a clone they live in the
repository's top-level folders ``simulator/``, ``auditors/`` and ``dashboards/``, reached through
the links in this folder; a built wheel copies them in here.

This module is also the notebook API (``docs/api.md``): load a scenario, run it, read the run,
audit it, the four steps of ``iterdeploy run`` and ``iterdeploy audit`` as functions that return
values instead of printing them::

    import iterdeploy

    spec = iterdeploy.load_scenario("quickstart", overrides={"generations": 1})
    iterdeploy.run(spec, "runs/quickstart-seed0")
    rows = iterdeploy.summary("runs/quickstart-seed0")
    findings = iterdeploy.audit("runs/quickstart-seed0")

Each function is a thin wrapper over what the commands call, imported when the function runs, so
``import iterdeploy`` loads neither torch nor pandas nor scikit-learn; the layers stay where they
are (this package sits above all three, so it may use each of them).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, overload

if TYPE_CHECKING:
    import pandas as pd

    from iterdeploy.simulator.scenario import ScenarioSpec
    from iterdeploy.simulator.store import FindingRow, GenerationSummary, RunReader

__all__ = ["audit", "load_scenario", "open_run", "run", "shipped_scenarios", "summary"]


def shipped_scenarios() -> dict[str, str]:
    """The scenarios that ship with iterdeploy: name → the question it asks (its first comment).

    Any of the names can be given to :func:`load_scenario` or :func:`run` (``iterdeploy scenario
    list`` prints the same).
    """
    from iterdeploy.simulator.scenario_files import scenario_question
    from iterdeploy.simulator.scenario_files import shipped_scenarios as shipped

    return {name: scenario_question(file) for name, file in shipped().items()}


def load_scenario(scenario: str | Path, overrides: Mapping[str, Any] | None = None) -> ScenarioSpec:
    """A validated scenario: a shipped scenario's name (``"quickstart"``) or a YAML file's path.

    A file that exists wins over a shipped name, exactly as for ``iterdeploy run``.

    Args:
        scenario: A shipped scenario's name or a scenario file.
        overrides: Settings to change, as ``--set`` takes them: dotted key paths to values,
            e.g. ``{"generations": 2, "deploy.temperature": 0.7}``.

    Returns:
        The frozen :class:`~iterdeploy.simulator.scenario.ScenarioSpec`, every default filled in.

    Raises:
        iterdeploy.simulator.errors.ScenarioError: An unknown name (with the closest shipped
            names), a missing or invalid file, or a bad override; the message names the key.
    """
    return _load(scenario, overrides)[0]


def _load(scenario: str | Path, overrides: Mapping[str, Any] | None) -> tuple[ScenarioSpec, str]:
    """(spec, the scenario's text as given), as ``iterdeploy run`` loads it."""
    from iterdeploy.simulator.scenario import load_scenario as load
    from iterdeploy.simulator.scenario_files import resolve_scenario

    return load(resolve_scenario(scenario), dict(overrides or {}))


def run(
    scenario: ScenarioSpec | str | Path,
    run_dir: str | Path,
    *,
    overrides: Mapping[str, Any] | None = None,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
) -> list[GenerationSummary]:
    """Run (or resume, or extend) a scenario into ``run_dir``; what ``iterdeploy run`` does.

    Args:
        scenario: A spec from :func:`load_scenario`, a shipped scenario's name or a file. A name
            or file is stored in the run as its text (as the command stores it); a spec, which
            has no text of its own, is stored as YAML with every setting written out.
        run_dir: The run directory: created when new; a run of the same scenario there is
            resumed, or extended when the scenario asks for more generations.
        overrides: Settings to change (``--set``); only with a name or file, since a spec is
            already resolved (make another with :func:`load_scenario`).
        progress: Show the command's progress bars (rich), one per phase.
        log: Where the loop's messages go (pretraining, resuming); default: above the bars, or
            nowhere without them.

    Returns:
        The summary table, one :class:`~iterdeploy.simulator.store.GenerationSummary` per
        generation (:func:`summary` reads it again later).

    Raises:
        iterdeploy.simulator.errors.IterdeployError: Bad input (the scenario, the directory,
            another process writing the run), in one line, as the command reports it.
    """
    from iterdeploy.simulator.loop import run_scenario
    from iterdeploy.simulator.scenario import ScenarioSpec

    if isinstance(scenario, ScenarioSpec):
        if overrides:
            raise TypeError("overrides apply to a scenario name or file; a spec is already "
                            "resolved: pass them to iterdeploy.load_scenario instead")
        spec, text = scenario, _as_yaml(scenario)
    else:
        spec, text = _load(scenario, overrides)
    if not progress:
        return run_scenario(spec, text, run_dir, log=log)
    from rich.console import Console

    from iterdeploy.simulator.cli._common import make_progress

    bars, phase = make_progress(Console())
    with bars:
        return run_scenario(spec, text, run_dir, phase=phase, log=log or bars.console.print)


def _as_yaml(spec: ScenarioSpec) -> str:
    """A spec as the YAML text a run stores (``iterdeploy scenario show`` prints the same)."""
    import yaml

    return yaml.safe_dump(spec.model_dump(mode="json"), sort_keys=False, allow_unicode=True)


def open_run(run_dir: str | Path) -> RunReader:
    """A read-only view of a run: every question a run answers, as named methods.

    Use it as a context manager (``with iterdeploy.open_run(d) as reader: reader.traces()``) or
    close it when done. Reading never blocks a run that is being written.

    Raises:
        iterdeploy.simulator.errors.StoreError: ``run_dir`` holds no readable run.
    """
    from iterdeploy.simulator.store import RunReader

    return RunReader(run_dir)


@overload
def summary(run_dir: str | Path, *, as_frame: Literal[False] = False) -> list[GenerationSummary]: ...
@overload
def summary(run_dir: str | Path, *, as_frame: Literal[True]) -> pd.DataFrame: ...
@overload
def summary(run_dir: str | Path, *, as_frame: bool) -> list[GenerationSummary] | pd.DataFrame: ...
def summary(run_dir: str | Path, *, as_frame: bool = False) -> list[GenerationSummary] | pd.DataFrame:
    """The per-generation summary of a run, as ``iterdeploy summary`` prints it.

    Args:
        run_dir: A run directory.
        as_frame: Return a pandas DataFrame (one row per generation, the fields as columns)
            instead of a list of :class:`~iterdeploy.simulator.store.GenerationSummary`.

    Raises:
        iterdeploy.simulator.errors.StoreError: ``run_dir`` holds no readable run.
    """
    from iterdeploy.simulator.store import RunReader, summarize

    with RunReader(run_dir) as reader:
        rows = summarize(reader)
    if not as_frame:
        return rows
    import pandas as pd

    return pd.DataFrame([row.model_dump() for row in rows])


def audit(
    run_dir: str | Path,
    only: str | Sequence[str] | None = None,
    *,
    seed: int = 0,
    n_bootstrap: int = 200,
) -> list[FindingRow]:
    """Audit a run, store the findings in it and return them; what ``iterdeploy audit`` does.

    Args:
        run_dir: A run directory.
        only: The auditors to run, by name (``"implicit-reward"``, as ``--only`` takes them);
            default: every auditor that is not opt-in. Without ``only``, an auditor the run is
            too short for is skipped with a warning, as the command skips it; named, that is an
            error.
        seed: Bootstrap seed.
        n_bootstrap: Bootstrap resamples per fit.

    Returns:
        The findings of every auditor that ran, in the registry's order, as stored.

    Raises:
        iterdeploy.auditors.registry.UnknownAuditorError: An unknown name in ``only``.
        iterdeploy.simulator.errors.IterdeployError: A run the auditors cannot read, or one too
            short for an auditor named in ``only``.
    """
    import warnings

    from iterdeploy.auditors.registry import get_spec, run_auditors

    def skipped(command: str, exc: Exception) -> None:
        warnings.warn(f"{command} skipped: {exc}", stacklevel=4)

    named = {get_spec(name).command for name in ([only] if isinstance(only, str) else only or ())}
    found = run_auditors(run_dir, named, seed=seed, n_bootstrap=n_bootstrap, on_skip=skipped)
    return [row for rows in found.values() for row in rows]
