"""The auditor role: what every registered auditor is, whatever it measures.

An auditor is a frozen dataclass. Its settings are its fields (a seed, bootstrap resamples, ...):
like a scikit-learn estimator, the constructor only stores them and :meth:`Auditor.audit` checks
them. Two class attributes describe it: ``name``, the versioned name its findings are stored under
(``implicit-reward-v1``; bump the version when the same settings give other numbers), and
``min_generations``, how many generations a run needs before the auditor can say more than why it
cannot. ``audit`` only reads the run; storing the findings is
:func:`iterdeploy.auditors.core.findings.audit_and_store`'s
job, the same for every auditor. ``iterdeploy.auditors.conformance`` checks all of this on every registered
auditor.

This module imports nothing heavy, so the registry and the CLI can name the role without loading
scikit-learn or torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Protocol

if TYPE_CHECKING:
    from iterdeploy.simulator.store import FindingRow, RunReader


class Auditor(Protocol):
    """Reads a run and returns findings; never writes."""

    name: ClassVar[str]
    """Versioned stored name, e.g. ``implicit-reward-v1`` (the ``iterdeploy audit`` name plus ``-vN``)."""

    min_generations: ClassVar[int]
    """Committed generations a run needs before the auditor can measure anything. A run with fewer
    gives ``info`` findings whose ``numbers["reason"]`` says what is missing, or raises
    :class:`~iterdeploy.auditors.core.features.InsufficientRunError` naming it."""

    def audit(self, reader: RunReader) -> list[FindingRow]:
        """The findings on the run behind ``reader`` (not stored; the store is only read).

        Raises:
            iterdeploy.auditors.core.features.AuditorConfigError: When the settings cannot be used.
            iterdeploy.auditors.core.features.InsufficientRunError: When the run lacks what the auditor needs.
            iterdeploy.simulator.errors.StoreError: When the store cannot be read.
        """
        ...
