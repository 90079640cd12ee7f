"""Every random draw of a run comes from a stream named here, so a resumed run draws as the first.

A stream is ``(seed, name, *index)``: the scenario's seed, what is drawn (``deploy-tasks``,
``curation``, ...) and usually the generation. Streams never depend on the order they are asked
for in, which is what lets a run killed at any point resume to the same result.
"""

from __future__ import annotations

import zlib

import numpy as np


def derive_seed(seed: int, name: str, *index: int) -> int:
    """A stable 32-bit seed for the stream ``name`` (never dependent on call order)."""
    seq = np.random.SeedSequence([seed, zlib.crc32(name.encode()), *index])
    return int(seq.generate_state(1)[0])


def derive_rng(seed: int, name: str, *index: int) -> np.random.Generator:
    """A generator for the stream ``name``."""
    return np.random.default_rng(derive_seed(seed, name, *index))
