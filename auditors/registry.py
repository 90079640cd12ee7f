"""The registered auditors, in the order ``iterdeploy audit`` runs them.

Everything that lists auditors is derived from :data:`AUDITORS`: the names ``iterdeploy audit
--only`` accepts, the default order, the auditors that run only when named, how each one's findings
are printed, the package's exports (``from iterdeploy.auditors import DriftAuditor``) and the conformance
tests
(``tests/auditors/test_conformance.py`` runs :func:`iterdeploy.auditors.conformance.check_auditor` on each).

An entry names its auditor and its printer as ``"module:attribute"`` strings, so importing this
module (and so the ``iterdeploy`` CLI, which loads the ``audit`` command on every invocation)
imports neither scikit-learn nor torch; an auditor's module is imported when it runs.

Adding an auditor takes one module and one line here. The module holds a frozen dataclass that
follows :class:`iterdeploy.auditors.interfaces.Auditor` (``name = "my-check-v1"``, ``min_generations``, its
settings as fields, ``audit(reader)``); the line is::

    AuditorSpec("my-check", "iterdeploy.auditors.my_check:MyCheckAuditor"),

``iterdeploy audit`` then runs it in its place in the list (alone with ``--only my-check``; only
then with ``opt_in=True``), gives it ``--seed`` and ``--bootstrap`` when it has ``seed`` and
``n_bootstrap`` fields, stores its findings under its ``name`` and prints their claims (or calls
``printer="iterdeploy.auditors.my_check:print_table"``, a function like those in
:mod:`iterdeploy.auditors.printers`);
``from iterdeploy.auditors import MyCheckAuditor`` works, and the conformance tests check it.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable, Collection
from dataclasses import dataclass
from importlib import import_module
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from pathlib import Path

    from iterdeploy.auditors.interfaces import Auditor
    from iterdeploy.simulator.store import FindingRow

Printer = Callable[["list[FindingRow]", "Path", str], None]
"""Prints an auditor's stored findings: ``printer(findings, run_dir, command)``."""

DEFAULT_PRINTER = "iterdeploy.auditors.printers:print_claims"
"""Each finding's claim, alarms first, then a count."""


@dataclass(frozen=True)
class AuditorSpec:
    """One registered auditor.

    Attributes:
        command: Its ``iterdeploy audit --only`` name, kebab-case; the stored name is this plus a
            version (``implicit-reward`` stores ``implicit-reward-v1`` findings).
        auditor: ``"module:Class"`` of the auditor class.
        opt_in: Runs only when ``--only`` names it (loads models: minutes, not seconds).
        printer: ``"module:function"`` that prints its findings (:data:`Printer`).
    """

    command: str
    auditor: str
    opt_in: bool = False
    printer: str = DEFAULT_PRINTER

    @property
    def module(self) -> str:
        """The module that holds the auditor class."""
        return self.auditor.partition(":")[0]

    @property
    def class_name(self) -> str:
        """The auditor class's name (what ``auditors`` exports it as)."""
        return self.auditor.partition(":")[2]

    def load(self) -> type[Auditor]:
        """Import and return the auditor class."""
        return cast("type[Auditor]", _resolve(self.auditor))

    def make(self, *, seed: int | None = None, n_bootstrap: int | None = None) -> Auditor:
        """The auditor with ``iterdeploy audit``'s shared options, given to those that have them.

        Args:
            seed: Its ``seed`` field, when it has one and this is not None.
            n_bootstrap: Its ``n_bootstrap`` field, likewise.

        Returns:
            The auditor; everything else at its defaults.
        """
        cls = self.load()
        fields = inspect.signature(cls).parameters  # a dataclass's fields, in order
        given = {"seed": seed, "n_bootstrap": n_bootstrap}
        return cls(**{k: v for k, v in given.items() if v is not None and k in fields})

    def load_printer(self) -> Printer:
        """Import and return the printer."""
        return cast("Printer", _resolve(self.printer))


AUDITORS: tuple[AuditorSpec, ...] = (
    AuditorSpec(
        "implicit-reward", "iterdeploy.auditors.reward.implicit_reward:ImplicitRewardAuditor",
        printer="iterdeploy.auditors.printers:print_weights",
    ),
    AuditorSpec("declared-objective", "iterdeploy.auditors.reward.declared:DeclaredObjectiveAuditor"),
    AuditorSpec(
        "drift", "iterdeploy.auditors.drift.auditor:DriftAuditor",
        printer="iterdeploy.auditors.printers:print_drift",
    ),
    AuditorSpec("reward-drift", "iterdeploy.auditors.reward.reward_drift:RewardDriftAuditor"),
    AuditorSpec("attribution", "iterdeploy.auditors.reward.attribution:AttributionAuditor"),
    AuditorSpec("blackbox-reward", "iterdeploy.auditors.blackbox.auditor:BlackBoxAuditor"),
    AuditorSpec("rl-equivalence", "iterdeploy.auditors.rl.equivalence:RlEquivalenceAuditor", opt_in=True),
)
"""Every registered auditor, in the order ``iterdeploy audit`` runs them."""

REGISTRY: dict[str, AuditorSpec] = {spec.command: spec for spec in AUDITORS}
""":data:`AUDITORS` by command name."""


class UnknownAuditorError(KeyError):
    """No auditor is registered under that name."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


def get_spec(command: str) -> AuditorSpec:
    """The registered auditor called ``command``.

    Raises:
        UnknownAuditorError: Naming the registered auditors, with the closest match first.
    """
    try:
        return REGISTRY[command]
    except KeyError:
        close = difflib.get_close_matches(command, list(REGISTRY), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise UnknownAuditorError(
            f"no auditor is registered as {command!r}; {hint}registered: {', '.join(REGISTRY)}"
        ) from None


def default_specs() -> tuple[AuditorSpec, ...]:
    """What ``iterdeploy audit`` runs without ``--only``: every auditor that is not opt-in."""
    return tuple(spec for spec in AUDITORS if not spec.opt_in)


def split_version(auditor: str) -> tuple[str, int]:
    """``implicit-reward-v2`` → ``("implicit-reward", 2)``: a stored auditor name is the registry's
    command plus its version; a name without a version is version 0.

    Examples:
        >>> split_version("drift-v12"), split_version("custom")
        (('drift', 12), ('custom', 0))
    """
    head, _, version = auditor.rpartition("-v")
    return (head, int(version)) if head and version.isdigit() else (auditor, 0)


def chosen_specs(named: Collection[str] = ()) -> list[AuditorSpec]:
    """The auditors an audit runs, in the registry's order: those ``named`` (commands), or every
    auditor that is not opt-in when none is named."""
    return [spec for spec in AUDITORS if (spec.command in named if named else not spec.opt_in)]


def run_auditors(
    run_dir: str | Path, named: Collection[str] = (), *, seed: int = 0, n_bootstrap: int = 200,
    on_skip: Callable[[str, Exception], None],
) -> dict[str, list[FindingRow]]:
    """Run the chosen auditors (:func:`chosen_specs`) on one run and store their findings:
    command → its findings as stored. The one implementation behind ``iterdeploy audit`` and
    ``iterdeploy.audit``.

    An auditor the run is too short for (``InsufficientRunError``) is passed to ``on_skip``
    unless it was ``named``: asked for by name, that is an error like any other bad input.

    Raises:
        iterdeploy.simulator.errors.StoreError: When ``run_dir`` is not a readable run store.
        iterdeploy.auditors.core.features.AuditorConfigError: When an auditor's settings cannot
            be used, or a named auditor cannot audit this run.
    """
    from iterdeploy.auditors.core.features import InsufficientRunError
    from iterdeploy.auditors.core.findings import audit_and_store

    found: dict[str, list[FindingRow]] = {}
    for spec in chosen_specs(named):
        try:
            found[spec.command] = audit_and_store(run_dir, spec.make(seed=seed, n_bootstrap=n_bootstrap))
        except InsufficientRunError as exc:
            if named:
                raise
            on_skip(spec.command, exc)
    return found


def _resolve(target: str) -> object:
    module, _, attribute = target.partition(":")
    if not module or not attribute:
        raise ValueError(f"expected 'module:attribute', got {target!r}")
    return getattr(import_module(module), attribute)
