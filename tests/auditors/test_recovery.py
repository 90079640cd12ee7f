"""Within-task scores of an inferred reward against A(τ): hand-computed cases and invariances."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iterdeploy.auditors.core.recovery import is_graded, pairwise_concordance, within_task_correlation


def test_concordance_by_hand():
    # task 0: A orders (a > b), (a > c); b, c tie in A. Reward: a > b, c > a -> 1 of 2
    # task 1: A orders (d > e); reward ties them -> one half
    task = np.array([0, 0, 0, 1, 1])
    truth = np.array([1.0, 0.0, 0.0, 0.7, 0.3])
    reward = np.array([2.0, 1.0, 3.0, 5.0, 5.0])
    c = pairwise_concordance(task, truth, reward)
    assert (c.n_pairs, c.n_concordant, c.n_tied, c.n_tasks) == (3, 1, 1, 2)
    assert c.value == pytest.approx(1.5 / 3)


def test_pairs_across_tasks_never_count():
    """A reward that is perfect within tasks scores 1 however it compares across tasks."""
    task = np.array([0, 0, 1, 1])
    truth = np.array([1.0, 0.0, 1.0, 0.0])
    reward = np.array([10.0, 9.0, -5.0, -6.0])  # task 1 is below task 0 everywhere
    assert pairwise_concordance(task, truth, reward).value == 1.0


def test_pairs_with_equal_content_are_left_out_and_counted():
    task = np.array([0, 0, 0])
    truth = np.array([1.0, 0.0, 0.0])
    reward = np.array([1.0, 1.0, 0.0])
    content = np.array(["x", "x", "y"])  # the first two are the same trace: only a tie-break orders them
    c = pairwise_concordance(task, truth, reward, content)
    assert (c.n_pairs, c.n_identical, c.value) == (1, 1, 1.0)


def test_no_ordered_pair_gives_none():
    c = pairwise_concordance(np.array([0, 1]), np.array([1.0, 0.0]), np.array([0.0, 1.0]))
    assert c.value is None and c.n_pairs == 0


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4), st.floats(0, 1), st.floats(-5, 5)), min_size=2, max_size=40))
def test_truth_scores_one_and_its_reverse_zero(rows):
    task = np.array([r[0] for r in rows])
    truth = np.array([r[1] for r in rows])
    c = pairwise_concordance(task, truth, truth)
    if c.n_pairs:
        assert c.value == 1.0
        assert pairwise_concordance(task, truth, -truth).value == 0.0


def test_within_task_correlation_ignores_task_levels():
    task = np.array([0, 0, 1, 1])
    truth = np.array([0.9, 0.1, 0.6, 0.4])
    predicted = np.array([0.2, 0.0, 100.0, 50.0])  # right order inside each task, wild across
    assert within_task_correlation(task, truth, predicted) == pytest.approx(
        np.corrcoef([0.4, -0.4, 0.1, -0.1], [0.1, -0.1, 25.0, -25.0])[0, 1]
    )
    assert within_task_correlation(task, np.array([1.0, 1.0, 0.0, 0.0]), predicted) is None


def test_graded_truth():
    assert not is_graded(np.array([0.0, 1.0, 1.0]))
    assert is_graded(np.array([0.0, 0.7, 0.3]))
