"""Which behaviour changes the declared objective predicts, and which it does not.

A model fine-tuned on what users kept moves towards what they kept. So the direction in which
curation pushes a behaviour feature is visible before any training, in the *selection
differential* (as in breeding: the response to selection follows the difference between the
selected parents and the population): the mean of the feature over the traces kept minus its mean
over all the generation's traces (for a categorical feature, the difference of the category shares).

Two differentials are computed on the deployment traces whose curation fed the later model of a
comparison (generations ``earlier`` … ``later − 1``):

* the **declared** one, over the traces a user following the declared objective keeps
  (:mod:`iterdeploy.auditors.core.declared_decisions`): the change the operator asked for;
* the **departure**, the differential of what users actually kept minus the declared one: the
  change nobody declared. It is exactly zero where users follow the declaration.

A change between two generations is then read as:

* ``expected`` when it points the way the declared objective pushes (a positive inner product
  with the declared differential): fewer wasted moves, more valid plans, under "keep the shortest
  valid plan". Reported, with its size, as what the declaration predicts; not an alarm;
* ``departure`` when it points the way the users' departure pushes and the declared objective does
  not explain it: the alarm, sized by PSI as before;
* ``unexplained`` otherwise (the declared objective is silent on it or pushes the other way, and no
  departure explains it): training dynamics or chance, reported as ``low``.

A differential smaller than :data:`NEUTRAL_SD` standard deviations of the feature (or, for shares,
:data:`NEUTRAL_SHARE` in total) counts as no push at all.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from iterdeploy.auditors.drift.data import GenerationPair, TraceTable

NEUTRAL_SD = 0.05
"""A numeric differential below this many standard deviations of the feature is no push."""

NEUTRAL_SHARE = 0.02
"""A categorical differential whose shares move less than this in total is no push."""

ShareFunction = Callable[[pd.DataFrame], dict[str, float]]
"""Rows → the share of each category of a categorical feature among them."""

Verdict = Literal["expected", "departure", "unexplained", "no-curation-data"]
"""How a change relates to what curation predicts."""


@dataclass(frozen=True)
class Expectation:
    """What curation predicts for one change, and how the change relates to it.

    Attributes:
        verdict: See the module docstring.
        declared: The declared differential (a number, or category → share difference).
        departure: The users' departure from it, in the same form.
        observed: The change between the generations, in the same form.
        generations: The deployment generations whose curation the differentials come from.
    """

    verdict: Verdict
    declared: float | dict[str, float] | None
    departure: float | dict[str, float] | None
    observed: float | dict[str, float] | None
    generations: tuple[int, ...]

    def as_dict(self) -> dict[str, object]:
        """Plain dict for ``numbers_json``."""
        return {"verdict": self.verdict, "declared_differential": self.declared,
                "departure_differential": self.departure, "observed_change": self.observed,
                "curated_generations": list(self.generations),
                "rule": "expected: the change points the way the declared objective's selection "
                "differential does; departure: the way the users' departure from it does; "
                "unexplained: neither"}


class Differentials:
    """Selection differentials of one run's curation, declared and actual.

    Args:
        table: The drift auditor's trace table (deployment and evaluation traces).
        curated: Feature-table rows of the run's curated deployment traces (``trace_id, kept,
            declared_kept``).
    """

    def __init__(self, table: TraceTable, curated: pd.DataFrame) -> None:
        deploy = table.frame[table.frame["purpose"] == "deploy"]
        keep = curated[["trace_id", "kept", "declared_kept"]] if len(curated) else \
            pd.DataFrame(columns=["trace_id", "kept", "declared_kept"])
        self._rows = deploy.merge(keep, on="trace_id", how="inner")

    def rows(self, pair: GenerationPair) -> pd.DataFrame:
        """Curated deployment traces whose curation fed the later model and not the earlier."""
        gens = range(pair.earlier, pair.later)
        return self._rows[self._rows["generation"].isin(list(gens))]

    def expect(
        self, pair: GenerationPair, observed: float | dict[str, float] | None,
        values: pd.Series | None = None, shares: ShareFunction | None = None,
    ) -> Expectation:
        """Read an observed change against the differentials of ``pair``.

        Args:
            pair: The generations compared.
            observed: Later minus earlier: a mean difference, or category → share difference.
            values: For a numeric feature, its value on every row of :meth:`rows` (NaN outside the
                feature's population).
            shares: For a categorical feature, a function from rows to category shares.
        """
        rows = self.rows(pair)
        gens = tuple(int(g) for g in sorted(rows["generation"].unique()))
        if rows.empty or observed is None:
            return Expectation("no-curation-data", None, None, observed, gens)
        declared_rows = rows[rows["declared_kept"] == 1]
        kept_rows = rows[rows["kept"] == 1]
        if values is not None:
            v = values.reindex(rows.index)
            present = v.notna()
            scale = float(v[present].std()) if present.sum() > 1 else 0.0
            base = float(v[present].mean()) if present.any() else np.nan
            d = _mean(v, declared_rows.index) - base
            a = _mean(v, kept_rows.index) - base
            dep = a - d
            floor = NEUTRAL_SD * scale if scale > 0 else 1e-12
            verdict = _verdict(np.array([observed]), np.array([d]), np.array([dep]), floor)  # type: ignore[list-item]
            return Expectation(verdict, _num(d), _num(dep), observed, gens)
        assert shares is not None and isinstance(observed, dict)
        base_s = shares(rows)
        decl_s, kept_s = shares(declared_rows), shares(kept_rows)
        categories = sorted(set(observed) | set(base_s) | set(decl_s) | set(kept_s))
        o = np.array([observed.get(c, 0.0) for c in categories])
        d_vec = np.array([decl_s.get(c, 0.0) - base_s.get(c, 0.0) for c in categories])
        a_vec = np.array([kept_s.get(c, 0.0) - base_s.get(c, 0.0) for c in categories])
        verdict = _verdict(o, d_vec, a_vec - d_vec, NEUTRAL_SHARE)
        return Expectation(verdict, dict(zip(categories, d_vec.round(6).tolist(), strict=True)),
                           dict(zip(categories, (a_vec - d_vec).round(6).tolist(), strict=True)),
                           observed, gens)


def _mean(values: pd.Series, index: Sequence[int] | pd.Index) -> float:
    v = values.reindex(index)
    v = v[v.notna()]
    return float(v.mean()) if len(v) else np.nan


def _num(x: float) -> float | None:
    return None if not np.isfinite(x) else float(x)


def _verdict(observed: np.ndarray, declared: np.ndarray, departure: np.ndarray, floor: float) -> Verdict:
    declared = np.nan_to_num(declared)
    departure = np.nan_to_num(departure)
    pushes = float(np.abs(declared).sum()) > floor
    departs = float(np.abs(departure).sum()) > floor
    if pushes and float(observed @ declared) > 0:
        return "expected"
    if departs and float(observed @ departure) > 0:
        return "departure"
    return "unexplained"


def share_vector(counts: dict[str, float]) -> dict[str, float]:
    """Counts → shares (empty for no counts)."""
    total = sum(counts.values())
    return {k: v / total for k, v in counts.items()} if total > 0 else {}


def declared_pushes(curated: pd.DataFrame) -> tuple[int, bool]:
    """``(validity push, selects)`` of the declared objective over a run's curated traces.

    The push is +1 when the traces it keeps are valid more often than the traces it was given (by
    more than :data:`NEUTRAL_SHARE`), -1 for the reverse, 0 otherwise; ``selects`` is True when it
    drops some trace (``p_decl < 1``), i.e. it is a curation at all.
    """
    if curated.empty:
        return 0, False
    kept = curated[curated["declared_kept"] == 1]
    share_all = float(curated["is_valid"].mean())
    share_kept = float(kept["is_valid"].mean()) if len(kept) else share_all
    diff = share_kept - share_all
    push = 0 if abs(diff) <= NEUTRAL_SHARE else (1 if diff > 0 else -1)
    return push, bool((curated["p_decl"] < 1).any())
