"""Conditional logit: what a curator rewards, compared *within* each task.

A user who keeps "the shortest valid plan" judges a trace against the other traces of the same
task, never against traces of other tasks. A reward fitted across tasks confounds that preference
with task size: large tasks have longer plans and fewer valid ones, so a plain logistic regression
of ``kept`` on plan length finds a positive weight under a rule that keeps the *shortest* plan
(measured on the quickstart: +0.39 per SD across tasks, against about −3.9 within tasks). The model
here is Chamberlain's conditional (fixed-effects) logit: every task has its own intercept, and
conditioning on how many of its traces were kept removes it, so only within-task comparisons enter
the likelihood.

Why a choice model over kept *sets*. Conditional on a task keeping k of its n traces, the
probability of the kept set S is ``exp(Σ_{i∈S} s_i) / Σ_{|S'|=k} exp(Σ_{i∈S'} s_i)`` with
``s_i = x_i · β``. That is exactly a multinomial logit whose alternatives are the k-subsets of the
task's traces and whose features are the subsets' feature sums, so one softmax serves every
selector: a "keep one" rule (k = 1, the paper's) has n alternatives, "keep every valid plan" has
C(n, k). With 8 samples a task that is at most 70 alternatives. Beyond :data:`MAX_ALTERNATIVES`
the alternatives are sampled uniformly, the chosen set always included; for a multinomial logit
that keeps the estimate consistent (McFadden, 1978). Tasks where nothing or everything was kept
carry no within-task information and drop out (counted, never hidden).

Why not ``statsmodels.discrete.conditional_models.ConditionalLogit``: it evaluates the likelihood
group by group in Python and has no L2 penalty; the auditors refit a few hundred bootstrap samples
per scope, and deterministic curation separates kept from rejected traces, which sends unpenalised
weights to infinity. The tests check this implementation against statsmodels on data without
separation.

The penalty is L2 with ``C`` on standardised features, as in the cross-task fit it replaces: a
unit-scale Gaussian prior per weight, so weights stay finite under separation and the likelihood
dominates once a scope has a few dozen informative tasks. Newton's method with the exact Hessian
(concave objective, step halving) converges in a handful of steps; the bootstrap reweights tasks
instead of copying rows, so the alternatives are built once.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from math import comb

import numpy as np

from iterdeploy.auditors.core.recovery import task_groups, within_task_softmax

MAX_ALTERNATIVES = 256
"""Alternatives enumerated per task; beyond, that many are sampled (chosen set included)."""


@dataclass(frozen=True)
class ChoiceSets:
    """Informative tasks as choice situations.

    Attributes:
        x: Feature sums of every alternative, tasks contiguous, the chosen set first in each.
        start: Offset of each task's first alternative in ``x`` (length ``n_tasks``).
        task_index: For each informative task, its index among all the tasks given.
        n_tasks_given: Tasks given, informative or not.
        n_sampled: Tasks whose alternatives were sampled rather than enumerated.
    """

    x: np.ndarray
    start: np.ndarray
    task_index: np.ndarray
    n_tasks_given: int
    n_sampled: int

    @property
    def n_tasks(self) -> int:
        """Informative tasks (some but not all traces kept)."""
        return len(self.start)

    @property
    def chosen(self) -> np.ndarray:
        """Feature sums of each task's chosen set."""
        return self.x[self.start]


def choice_sets(
    x: np.ndarray, task: np.ndarray, kept: np.ndarray, rng: np.random.Generator | None = None
) -> ChoiceSets:
    """Build the choice situations of a conditional logit.

    Args:
        x: Trace features, shape (n_traces, n_features), already scaled.
        task: Task label of each trace (anything ``np.unique`` sorts); the traces of one label
            form one choice situation.
        kept: Whether each trace was kept (bool or 0/1).
        rng: Generator for sampling alternatives of tasks with more than
            :data:`MAX_ALTERNATIVES` subsets; only needed then.

    Returns:
        The choice sets, tasks in the order of their sorted labels.
    """
    kept = np.asarray(kept, dtype=bool)
    groups = task_groups(np.asarray(task))
    blocks: list[np.ndarray] = []
    starts: list[int] = []
    index: list[int] = []
    n_sampled = 0
    offset = 0
    for t, rows in enumerate(groups):
        n, k = len(rows), int(kept[rows].sum())
        if k == 0 or k == n:
            continue
        chosen = tuple(int(i) for i in np.flatnonzero(kept[rows]))
        if comb(n, k) <= MAX_ALTERNATIVES:
            subsets = [chosen] + [s for s in combinations(range(n), k) if s != chosen]
        else:
            if rng is None:
                raise ValueError("a task has too many kept subsets to enumerate; pass rng to sample them")
            n_sampled += 1
            subsets = [chosen, *_sample_subsets(n, k, chosen, MAX_ALTERNATIVES - 1, rng)]
        idx = np.asarray(subsets)
        blocks.append(x[rows][idx].sum(axis=1))
        starts.append(offset)
        index.append(t)
        offset += len(subsets)
    d = x.shape[1]
    stacked = np.vstack(blocks) if blocks else np.empty((0, d))
    return ChoiceSets(
        stacked, np.asarray(starts, dtype=int), np.asarray(index, dtype=int), len(groups), n_sampled
    )


def _sample_subsets(
    n: int, k: int, chosen: tuple[int, ...], size: int, rng: np.random.Generator
) -> list[tuple[int, ...]]:
    out: set[tuple[int, ...]] = set()
    while len(out) < size:
        s = tuple(sorted(rng.choice(n, size=k, replace=False).tolist()))
        if s != chosen:
            out.add(s)
    return sorted(out)


@dataclass(frozen=True)
class ChoiceFit:
    """Penalised conditional-logit weights."""

    weights: np.ndarray
    log_likelihood: float
    n_iterations: int
    converged: bool


def fit_choice(
    sets: ChoiceSets,
    *,
    c: float = 1.0,
    task_weights: np.ndarray | None = None,
    start: np.ndarray | None = None,
    tol: float = 1e-9,
    max_iter: int = 100,
) -> ChoiceFit:
    """Maximise the L2-penalised conditional log-likelihood by Newton's method.

    Args:
        sets: Choice situations from :func:`choice_sets`.
        c: Inverse penalty strength (scikit-learn's ``C``): the objective is
            ``Σ_t w_t log P(chosen_t) − |β|² / (2c)``.
        task_weights: A weight per informative task (bootstrap counts); 1 when None.
        start: Starting weights (a bootstrap refit starts from the point estimate).
        tol: Stop when the largest gradient entry is below this.
        max_iter: Newton steps at most.

    Returns:
        The fit; with no informative task, all weights are 0.
    """
    d = sets.x.shape[1]
    beta = np.zeros(d) if start is None else np.asarray(start, dtype=float).copy()
    if sets.n_tasks == 0:
        return ChoiceFit(np.zeros(d), 0.0, 0, True)
    w = np.ones(sets.n_tasks) if task_weights is None else np.asarray(task_weights, dtype=float)
    sizes = np.diff(np.append(sets.start, len(sets.x)))
    w_alt = np.repeat(w, sizes)
    chosen_sum = w @ sets.chosen

    def objective(b: np.ndarray) -> tuple[float, np.ndarray]:
        s = sets.x @ b
        top = np.maximum.reduceat(s, sets.start)
        e = np.exp(s - np.repeat(top, sizes))
        z = np.add.reduceat(e, sets.start)
        log_z = top + np.log(z)
        value = float(w @ (s[sets.start] - log_z)) - float(b @ b) / (2 * c)
        return value, e / np.repeat(z, sizes)

    value, p = objective(beta)
    converged = False
    n_iterations = 0
    for _ in range(max_iter):
        n_iterations += 1
        px = p[:, None] * sets.x
        mu = np.add.reduceat(px, sets.start)
        grad = chosen_sum - w @ mu - beta / c
        if np.max(np.abs(grad)) < tol:
            converged = True
            break
        hess = (sets.x.T * w_alt) @ px - (mu.T * w) @ mu + np.eye(d) / c
        step = np.linalg.solve(hess, grad)
        t = 1.0
        while True:
            candidate = beta + t * step
            new_value, new_p = objective(candidate)
            if new_value >= value - 1e-12 or t < 1e-6:
                break
            t /= 2
        beta, value, p = candidate, new_value, new_p
    return ChoiceFit(beta, value, n_iterations, converged)


def choice_probabilities(x: np.ndarray, task: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Within-task softmax of ``x · weights``: the probability each trace is the one kept when a
    task keeps exactly one (the "keep one" reading of the inferred reward)."""
    return within_task_softmax(task, x @ weights)
