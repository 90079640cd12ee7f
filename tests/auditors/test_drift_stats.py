"""The drift auditor's statistics: PSI, Jensen–Shannon, binning, pooling, BH, intervals."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import false_discovery_control

from iterdeploy.auditors.drift.stats import (
    MIN_SAMPLE_SIZE,
    RARE,
    bh_adjust,
    binned_shares,
    chi2_homogeneity,
    compare_categorical,
    compare_continuous,
    js_distance,
    pool_rare,
    proportion_interval,
    psi,
    quantile_edges,
)

values = st.lists(st.integers(min_value=0, max_value=40), min_size=1, max_size=200).map(
    lambda xs: np.asarray(xs, dtype=float)
)
_weights = st.lists(st.floats(min_value=0.0, max_value=1.0), min_size=12, max_size=12)
share_pairs = (
    st.tuples(st.integers(min_value=2, max_value=12), _weights, _weights)
    .filter(lambda t: sum(t[1][: t[0]]) > 0.01 and sum(t[2][: t[0]]) > 0.01)
    .map(
        lambda t: (np.asarray(t[1][: t[0]]) / sum(t[1][: t[0]]), np.asarray(t[2][: t[0]]) / sum(t[2][: t[0]]))
    )
)
"""Two share vectors of the same length, each summing to 1."""


@settings(max_examples=60, deadline=None)
@given(values)
def test_identical_distributions_have_zero_psi_and_js(x: np.ndarray) -> None:
    edges = quantile_edges(x)
    p = binned_shares(x, edges)
    assert psi(p, p) == 0.0
    assert js_distance(p, p) == pytest.approx(0.0, abs=1e-7)


@settings(max_examples=60, deadline=None)
@given(values, values)
def test_every_value_lands_in_one_bin(reference: np.ndarray, x: np.ndarray) -> None:
    edges = quantile_edges(reference)
    assert len(edges) <= 9 and np.all(np.diff(edges) > 0)
    assert binned_shares(x, edges).sum() == pytest.approx(1.0)


@settings(max_examples=60, deadline=None)
@given(share_pairs)
def test_psi_is_nonnegative_and_js_is_a_bounded_symmetric_distance(pq: tuple[np.ndarray, np.ndarray]) -> None:
    p, q = pq
    assert psi(p, q) >= 0.0
    assert psi(p, q) == pytest.approx(psi(q, p))  # the formula is symmetric
    d = js_distance(p, q)
    assert d is not None and 0.0 <= d <= 1.0 + 1e-9
    assert d == pytest.approx(js_distance(q, p))


def test_integer_features_get_one_bin_per_value() -> None:
    x = np.repeat([2.0, 4.0, 6.0], 50)
    edges = quantile_edges(x)
    assert list(edges) == [2.0, 4.0, 6.0]
    assert list(binned_shares(x, edges)) == pytest.approx([0.0, 1 / 3, 1 / 3, 1 / 3])


def test_psi_and_js_grow_with_the_shift() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=2000), rng.normal(size=2000)
    measured = []
    for delta in (0.0, 0.25, 0.5, 1.0, 2.0):
        c = compare_continuous(a, b + delta, a[:200], (b + delta)[:200])
        measured.append((c.psi, c.js_distance))
    psis, jss = zip(*measured, strict=True)
    assert psis[0] < 0.02 and jss[0] < 0.05  # two samples of one distribution
    assert all(x < y for x, y in pairwise(psis))
    assert all(x < y for x, y in pairwise(jss))
    assert psis[2] > 0.1 and psis[4] > 1.0  # half an SD is "moderate" or more; two SDs "large"


def test_psi_floors_empty_bins_at_epsilon() -> None:
    p, q = np.array([1.0, 0.0]), np.array([0.9, 0.1])
    expected = (0.9 - 1.0) * np.log(0.9) + (0.1 - 1e-4) * np.log(0.1 / 1e-4)
    assert psi(p, q) == pytest.approx(expected)
    assert psi(p, q, epsilon=1e-2) < psi(p, q)


def test_continuous_direction_and_units() -> None:
    a, b = np.arange(20.0), np.arange(20.0) + 10
    c = compare_continuous(a, b, a[::4], b[::4])
    assert c.status == "tested" and c.direction == "higher"
    assert (c.units_a, c.units_b) == (5, 5)  # the test saw the units, not the traces
    assert c.detail["n_traces_earlier"] == 20
    assert compare_continuous(b, a, b[::4], a[::4]).direction == "lower"
    short = compare_continuous(a, b, a[: MIN_SAMPLE_SIZE - 1], b)
    assert short.status == "too-few" and short.p_value is None


def test_categorical_identical_counts_give_no_evidence() -> None:
    counts = {"valid": 40.0, "invalid_step": 30.0, "goal_not_reached": 20.0}
    c = compare_categorical(counts, counts, counts, counts)
    assert c.status == "tested" and c.statistic == pytest.approx(0.0) and c.p_value == pytest.approx(1.0)
    assert c.psi == 0.0 and c.js_distance == pytest.approx(0.0, abs=1e-7)


def test_categorical_new_category_is_the_direction() -> None:
    a = {"valid": 50.0, "invalid_step": 50.0}
    b = {"valid": 50.0, "invalid_step": 20.0, "unknown_action": 30.0}
    c = compare_categorical(a, b, a, b)
    assert c.direction == "unknown_action" and c.p_value is not None and c.p_value < 1e-6
    assert c.psi is not None and c.psi > 0.25


def test_single_category_is_not_tested() -> None:
    c = compare_categorical({"not cut": 100.0}, {"not cut": 90.0}, {"not cut": 20.0}, {"not cut": 20.0})
    assert c.status == "one-category" and c.p_value is None and c.psi == 0.0


@settings(max_examples=60, deadline=None)
@given(
    st.dictionaries(st.sampled_from("abcdefg"), st.floats(min_value=0, max_value=30), max_size=7),
    st.dictionaries(st.sampled_from("abcdefg"), st.floats(min_value=0, max_value=30), max_size=7),
)
def test_pooling_keeps_every_count(a: dict[str, float], b: dict[str, float]) -> None:
    categories, mapping = pool_rare(a, b)
    assert set(mapping) == set(a) | set(b)
    for name, pooled in mapping.items():
        if a.get(name, 0) + b.get(name, 0) >= 10:
            assert pooled == name
        else:
            assert pooled == RARE and RARE in categories
    c = compare_categorical(a, b, a, b)
    if c.status != "too-few":
        assert sum(c.detail["traces_earlier"]) == pytest.approx(sum(a.values()))
        assert sum(c.detail["traces_later"]) == pytest.approx(sum(b.values()))


def test_chi2_drops_empty_categories() -> None:
    assert chi2_homogeneity(np.array([5.0, 0.0]), np.array([7.0, 0.0])) is None
    result = chi2_homogeneity(np.array([5.0, 0.0, 5.0]), np.array([7.0, 0.0, 3.0]))
    assert result is not None and result[2] == 1


def test_chi2_drops_categories_whose_expected_count_underflows() -> None:
    """A count of 5e-324 (found by hypothesis) makes scipy's expected frequency exactly 0, which
    it refuses; such a category carries no evidence and is dropped like an empty one."""
    assert chi2_homogeneity(np.array([5.0, 0.0]), np.array([5.0, 5e-324])) is None
    result = chi2_homogeneity(np.array([5.0, 0.0, 4.0]), np.array([5.0, 5e-324, 6.0]))
    assert result is not None and result[2] == 1
    assert chi2_homogeneity(np.array([0.0, 0.0]), np.array([7.0, 3.0])) is None  # one side empty


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(min_value=0.0, max_value=1.0), max_size=50))
def test_bh_is_scipy_false_discovery_control(p: list[float]) -> None:
    adjusted = bh_adjust(p)
    assert len(adjusted) == len(p)
    if p:
        assert adjusted == pytest.approx(list(false_discovery_control(p, method="bh")))
        assert all(q >= x - 1e-12 for q, x in zip(adjusted, p, strict=True))


@pytest.mark.parametrize("method", ["wilson", "exact"])
@pytest.mark.parametrize(("k", "n"), [(0, 10), (3, 10), (10, 10), (57, 200)])
def test_proportion_interval_contains_the_share(k: int, n: int, method: str) -> None:
    interval = proportion_interval(k, n, 0.95, method)  # type: ignore[arg-type]
    assert interval is not None
    low, high = interval
    assert 0.0 <= low <= k / n <= high <= 1.0


def test_proportion_interval_without_samples() -> None:
    assert proportion_interval(0, 0) is None
