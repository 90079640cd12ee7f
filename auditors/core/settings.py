"""Settings shared by the auditors that bootstrap their estimates."""

from __future__ import annotations

from dataclasses import dataclass

from iterdeploy.auditors.core.features import AuditorConfigError


@dataclass(frozen=True)
class BootstrapSettings:
    """The settings the bootstrapping auditors take first, in this order.

    The base of the implicit-reward, attribution, reward-drift, declared-objective and black-box
    auditors (each documents them under Args). A subclass redeclares ``features`` with its own
    default; the field keeps its place, so the positional order stays ``seed, n_bootstrap,
    features, confidence`` followed by the subclass's own settings.

    Args:
        seed: Bootstrap seed.
        n_bootstrap: Bootstrap resamples per fit.
        features: Feature names; any iterable is stored as a tuple.
        confidence: Coverage of the percentile intervals.
    """

    seed: int = 0
    n_bootstrap: int = 200
    features: tuple[str, ...] = ()
    confidence: float = 0.95

    def __post_init__(self) -> None:
        # any iterable of names is accepted and stored as a tuple (frozen, hence object.__setattr__)
        object.__setattr__(self, "features", tuple(self.features))

    def check_bootstrap(self) -> None:
        """Raise :class:`AuditorConfigError` for a confidence outside (0, 1) or negative resamples."""
        if not 0 < self.confidence < 1:
            raise AuditorConfigError(f"confidence must lie in (0, 1), got {self.confidence}")
        if self.n_bootstrap < 0:
            raise AuditorConfigError(f"n_bootstrap must be >= 0, got {self.n_bootstrap}")
