"""The conditional logit: exact against statsmodels, within-task by construction, robust to separation."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iterdeploy.auditors.reward.choice_model import (
    MAX_ALTERNATIVES,
    choice_probabilities,
    choice_sets,
    fit_choice,
)


def _synthetic(seed: int, n_tasks: int = 200, size: int = 6, beta=(1.0, -0.5)):
    rng = np.random.default_rng(seed)
    task = np.repeat(np.arange(n_tasks), size)
    x = rng.normal(size=(n_tasks * size, len(beta)))
    logits = x @ np.asarray(beta) + rng.normal(scale=2.0, size=n_tasks)[task]  # task effects
    kept = rng.random(len(task)) < 1 / (1 + np.exp(-logits))
    return x, task, kept


def test_matches_statsmodels_conditional_logit_without_penalty():
    ConditionalLogit = pytest.importorskip("statsmodels.discrete.conditional_models").ConditionalLogit
    x, task, kept = _synthetic(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = ConditionalLogit(kept.astype(int), x, groups=task).fit(disp=0, gtol=1e-10)
    ours = fit_choice(choice_sets(x, task, kept), c=1e12)
    assert ours.converged
    np.testing.assert_allclose(ours.weights, reference.params, atol=1e-4)


def test_task_effects_drop_out():
    """Adding any per-task constant to a feature changes nothing: only within-task contrasts count."""
    x, task, kept = _synthetic(1)
    shifted = x.copy()
    shifted[:, 0] += np.random.default_rng(2).normal(scale=10.0, size=task.max() + 1)[task]
    a = fit_choice(choice_sets(x, task, kept)).weights
    b = fit_choice(choice_sets(shifted, task, kept)).weights
    np.testing.assert_allclose(a, b, atol=1e-9)


def test_uninformative_tasks_are_left_out_and_counted():
    x = np.array([[0.0], [1.0], [0.0], [1.0], [2.0], [3.0]])
    task = np.array([0, 0, 1, 1, 2, 2])
    kept = np.array([True, True, False, False, True, False])  # all kept, none kept, one of two
    sets = choice_sets(x, task, kept)
    assert sets.n_tasks == 1 and sets.n_tasks_given == 3
    assert sets.task_index.tolist() == [2]


def test_separated_choices_give_finite_weights_with_the_right_sign():
    """A deterministic 'keep the smallest' rule separates perfectly; the penalty keeps it finite."""
    rng = np.random.default_rng(3)
    task = np.repeat(np.arange(50), 5)
    x = rng.normal(size=(250, 1))
    kept = np.zeros(250, dtype=bool)
    for t in range(50):
        rows = np.flatnonzero(task == t)
        kept[rows[np.argmin(x[rows, 0])]] = True
    fit = fit_choice(choice_sets(x, task, kept))
    assert fit.converged and np.isfinite(fit.weights).all()
    assert fit.weights[0] < -1.0


def test_bootstrap_weights_equal_duplicated_tasks():
    """Weighting a task by 2 is the same as giving it twice (what the bootstrap relies on)."""
    x, task, kept = _synthetic(4, n_tasks=30)
    sets = choice_sets(x, task, kept)
    weights = np.ones(sets.n_tasks)
    weights[0] = 2.0
    first = sets.task_index[0]
    dup_rows = task == first
    x2 = np.vstack([x, x[dup_rows]])
    task2 = np.concatenate([task, np.full(dup_rows.sum(), task.max() + 1)])
    kept2 = np.concatenate([kept, kept[dup_rows]])
    a = fit_choice(sets, task_weights=weights).weights
    b = fit_choice(choice_sets(x2, task2, kept2)).weights
    np.testing.assert_allclose(a, b, atol=1e-8)


def test_many_subsets_are_sampled_and_need_a_generator():
    n = 14  # C(14, 7) = 3432 > MAX_ALTERNATIVES
    x = np.arange(n, dtype=float)[:, None]
    task = np.zeros(n, dtype=int)
    kept = np.arange(n) >= n // 2
    with pytest.raises(ValueError, match="pass rng"):
        choice_sets(x, task, kept)
    sets = choice_sets(x, task, kept, np.random.default_rng(0))
    assert sets.n_sampled == 1 and len(sets.x) == MAX_ALTERNATIVES
    np.testing.assert_allclose(sets.chosen[0], x[kept].sum())


def test_choice_probabilities_sum_to_one_per_task():
    x, task, _ = _synthetic(5, n_tasks=10)
    p = choice_probabilities(x, task, np.array([0.5, -1.0]))
    for t in range(10):
        assert p[task == t].sum() == pytest.approx(1.0)


@settings(max_examples=40, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 6), min_size=1, max_size=12),
    seed=st.integers(0, 2**32 - 1),
    c=st.floats(0.01, 100.0),
)
def test_fit_is_finite_and_the_objective_is_at_its_maximum(sizes, seed, c):
    """Whatever the tasks, the fit is finite and no small step improves the penalised likelihood."""
    rng = np.random.default_rng(seed)
    task = np.repeat(np.arange(len(sizes)), sizes)
    x = rng.normal(size=(len(task), 2))
    kept = rng.random(len(task)) < 0.5
    sets = choice_sets(x, task, kept)
    fit = fit_choice(sets, c=c)
    assert np.isfinite(fit.weights).all()
    if sets.n_tasks == 0:
        assert not fit.weights.any()
        return
    for direction in np.eye(2):
        for step in (1e-3, -1e-3):
            other = fit_choice(sets, c=c, start=fit.weights + step * direction, max_iter=0)
            assert other.log_likelihood <= fit.log_likelihood + 1e-9
