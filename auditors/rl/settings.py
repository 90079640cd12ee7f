"""The RL equivalence check's name, defaults, thresholds and options.

They live apart from :mod:`iterdeploy.auditors.rl.equivalence` (the auditor) because the measurement
(:mod:`iterdeploy.auditors.rl.measure`) and the findings (:mod:`iterdeploy.auditors.rl.report`) read them
too, and the
auditor imports both of those. :mod:`iterdeploy.auditors.rl.equivalence` re-exports every name here.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from iterdeploy.auditors.core.features import AuditorConfigError
from iterdeploy.auditors.rl.gradients import CONFIDENCE, DEFAULT_BATCH_SIZE, DEFAULT_CLIP

AUDITOR_NAME = "rl-equivalence-v1"
"""Registered name; bump when the same run and options give other numbers."""

KIND = "rl-equivalence"
"""Finding kind written by this auditor."""

DEFAULT_MAX_TRACES = 256
"""Traces with a reward in the on-policy batch, and traces in the pool sample."""

DEFAULT_N_SPLITS = 20
"""Random half-splits behind the raw noise floor and raw pooled rows (cheap: no model runs)."""

DEFAULT_N_BOOTSTRAP = 200
"""Task-bootstrap resamples behind each signal cosine's interval (cheap: no model runs)."""

N_PERMUTATIONS = 999
"""Task permutations behind the older-vs-fresh test's p-value."""

ALPHA = 0.05
"""Level of the older-vs-fresh test, after Benjamini-Hochberg over the generations audited together."""

IDENTITY_MIN_COSINE = 0.999
"""Below this the Proposition 1 identity row says the measurement itself is broken."""

EVIDENCE_SAMPLE_SIZE = 10
"""Trace ids cited per list in a finding's evidence."""


@dataclass(frozen=True)
class Options:
    """What the auditor was asked to do (recorded in every finding)."""

    seed: int = 0
    max_traces: int = DEFAULT_MAX_TRACES
    n_splits: int = DEFAULT_N_SPLITS
    n_bootstrap: int = DEFAULT_N_BOOTSTRAP
    clip: float = DEFAULT_CLIP
    batch_size: int = DEFAULT_BATCH_SIZE

    def check(self) -> None:
        """Raise :class:`AuditorConfigError` for options that cannot be used."""
        for name in ("max_traces", "n_splits", "batch_size"):
            if getattr(self, name) < 1:
                raise AuditorConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.n_bootstrap < 0:
            raise AuditorConfigError(f"n_bootstrap must be >= 0, got {self.n_bootstrap}")
        if not self.clip > 1.0:
            raise AuditorConfigError(f"clip must be > 1 (in units of the mean weight), got {self.clip}")

    def recorded(self) -> dict[str, object]:
        """The options as a finding's ``numbers`` records them, with the intervals' coverage."""
        return {**self.__dict__, "confidence": CONFIDENCE}

    def rng(self, name: str) -> np.random.Generator:
        """A generator seeded by ``seed`` and ``name`` (``generation-2``, ``generation-2/bootstrap``):
        each named stream is the same whatever else is drawn, so one row's draws never move another's."""
        return np.random.default_rng(np.random.SeedSequence([self.seed, zlib.crc32(name.encode())]))
