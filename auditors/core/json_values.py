"""Numbers as a finding stores them: plain JSON values, the same bytes on every platform.

A finding's numbers come from numpy and pandas; the store and ``--json`` output hold JSON. Both
the finding builder (:mod:`iterdeploy.auditors.core.findings`) and the payload models
(:mod:`iterdeploy.auditors.payloads`) normalise through :func:`to_json_value`, so what a payload
model validates is exactly what is stored.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
from pydantic import JsonValue

SIGNIFICANT_DIGITS = 6
"""Floats in findings keep this many significant digits."""


def to_json_value(value: object) -> JsonValue:
    """Turn numbers, arrays and containers into plain JSON values.

    Args:
        value: Anything built from dicts, lists, tuples, numpy arrays and scalars, str and None.

    Returns:
        The same data with NaN/inf as None and floats rounded to :data:`SIGNIFICANT_DIGITS`.

    Raises:
        TypeError: For a value with no JSON form (a programming error, not user input).
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        x = float(value)
        if not math.isfinite(x):
            return None
        return float(f"{x:.{SIGNIFICANT_DIGITS}g}")
    if isinstance(value, np.ndarray):
        return to_json_value(value.tolist())
    if isinstance(value, Mapping):
        return {str(k): to_json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json_value(v) for v in value]
    raise TypeError(f"cannot put {type(value).__name__} into a finding: {value!r}")
