"""Scores of an inferred reward against the ground truth A(τ), compared within each task.

A(τ) is the probability that the population publishes τ *given the other candidates of its task*:
"the shortest valid plan" is a statement about siblings, and A of two traces of different tasks
cannot be compared (a 3-step plan and a 20-step plan are each the best of their own task). So
every score here compares traces of one task only.

* **Pairwise concordance**: of all pairs of traces of one task that A(τ) orders (different A), the
  share the inferred reward orders the same way; ties of the inferred reward count one half, as in
  Kendall's tau-b and the AUC. Pairs of *identical* completions are left out and counted: no reward
  of the trace can order two identical traces, and A orders them only through the selector's last
  tie-break, the lower trace id.
* **Within-task correlation**: Pearson's r between the inferred keep probability and A(τ), each
  centred on its task's mean, so that a task's overall difficulty does not count. Meaningful where
  A is graded (mixed or noisy populations); with A in {0, 1} it is reported but concordance says
  more.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Concordance:
    """Within-task pairwise agreement of a reward with A(τ).

    Attributes:
        value: Share of ordered pairs the reward orders the same way (ties one half); None when
            A orders no pair.
        n_pairs: Pairs A orders (identical completions left out).
        n_concordant: Of those, pairs the reward orders the same way.
        n_tied: Of those, pairs the reward ties.
        n_identical: Pairs A orders whose completions are identical (not in ``n_pairs``).
        n_tasks: Tasks with at least one ordered pair.
    """

    value: float | None
    n_pairs: int
    n_concordant: int
    n_tied: int
    n_identical: int
    n_tasks: int

    def as_dict(self) -> dict[str, object]:
        """Plain dict for reports."""
        return {
            "concordance": self.value,
            "n_pairs": self.n_pairs,
            "n_concordant": self.n_concordant,
            "n_tied": self.n_tied,
            "n_tiebreak_only_left_out": self.n_identical,
            "n_tasks": self.n_tasks,
        }


def task_groups(task: np.ndarray) -> list[np.ndarray]:
    """Row positions of each task, tasks in the order of their sorted labels, rows in their order."""
    labels, inverse = np.unique(task, return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    bounds = np.searchsorted(inverse[order], np.arange(len(labels) + 1))
    return [order[bounds[i] : bounds[i + 1]] for i in range(len(labels))]


def pairwise_concordance(
    task: np.ndarray, truth: np.ndarray, reward: np.ndarray, content: np.ndarray | None = None
) -> Concordance:
    """Within-task pairwise concordance of ``reward`` with ``truth`` (see the module docstring).

    Args:
        task: Task label of each trace (traces of one label are compared with each other).
        truth: A(τ) of each trace.
        reward: The inferred reward of each trace (any monotone transform gives the same score).
        content: A key of each trace's content (e.g. a digest of the completion); pairs with
            equal keys are left out. None: no pair is left out.
    """
    truth = np.asarray(truth, dtype=float)
    reward = np.asarray(reward, dtype=float)
    n_pairs = n_conc = n_tied = n_ident = n_tasks = 0
    for rows in task_groups(np.asarray(task)):
        if len(rows) < 2:
            continue
        i, j = np.triu_indices(len(rows), k=1)
        a, b = rows[i], rows[j]
        ordered = truth[a] != truth[b]
        if content is not None:
            same = np.asarray(content)[a] == np.asarray(content)[b]
            n_ident += int((ordered & same).sum())
            ordered &= ~same
        if not ordered.any():
            continue
        n_tasks += 1
        a, b = a[ordered], b[ordered]
        agree = np.sign(truth[a] - truth[b]) * np.sign(reward[a] - reward[b])
        n_pairs += len(a)
        n_conc += int((agree > 0).sum())
        n_tied += int((agree == 0).sum())
    value = (n_conc + 0.5 * n_tied) / n_pairs if n_pairs else None
    return Concordance(value, n_pairs, n_conc, n_tied, n_ident, n_tasks)


def within_task_correlation(task: np.ndarray, truth: np.ndarray, predicted: np.ndarray) -> float | None:
    """Pearson's r of task-centred ``predicted`` and task-centred ``truth``; None when either is
    constant within every task."""
    truth = np.asarray(truth, dtype=float)
    predicted = np.asarray(predicted, dtype=float)
    ct, cp = truth.copy(), predicted.copy()
    for rows in task_groups(np.asarray(task)):
        ct[rows] -= truth[rows].mean()
        cp[rows] -= predicted[rows].mean()
    if np.allclose(ct, 0) or np.allclose(cp, 0):
        return None
    return float(np.corrcoef(ct, cp)[0, 1])


def is_graded(truth: np.ndarray, tolerance: float = 1e-9) -> bool:
    """True when some A(τ) lies strictly between 0 and 1 (a mixed or noisy population)."""
    truth = np.asarray(truth, dtype=float)
    return bool(((truth > tolerance) & (truth < 1 - tolerance)).any())


def tiebreak_key(frame: pd.DataFrame) -> np.ndarray:
    """What a curation rule can read of a trace, as one key per trace.

    Two traces with equal keys are told apart by the simulator's selectors only by their last
    tie-break, the lower trace id: every stage and ranking reads validity, the validator's status,
    plan length, token count and the plan's actions (their multiset, for ``action_bias``). A pair
    that A(τ) orders only by that tie-break is one no reward of the trace can order; it is left
    out of the headline concordance, and counted.

    Args:
        frame: Rows with ``is_valid, status, plan_length, n_tokens, actions``.
    """
    actions = frame["actions"].map(lambda a: "|".join(sorted(a)))
    key = frame["is_valid"].astype(str)
    for column in ("status", "plan_length", "n_tokens"):
        key = key + "#" + frame[column].astype(str)
    return (key + "#" + actions).to_numpy()


def within_task_softmax(task: np.ndarray, score: np.ndarray) -> np.ndarray:
    """``exp(score)`` normalised within each task: the inferred probability that each trace is the
    one kept when a task keeps one."""
    s = np.asarray(score, dtype=float)
    labels, inverse = np.unique(task, return_inverse=True)
    top = np.full(len(labels), -np.inf)
    np.maximum.at(top, inverse, s)
    e = np.exp(s - top[inverse])
    z = np.zeros(len(labels))
    np.add.at(z, inverse, e)
    return e / z[inverse]


def recovery_numbers(
    rows: pd.DataFrame, reward: np.ndarray, probability: np.ndarray | None = None
) -> dict[str, object]:
    """How well ``reward`` orders ``rows`` (curated deployment traces with the recorded A(τ)) as
    A(τ) does, within tasks: the numbers a finding stores under ``recovery``.

    Args:
        rows: Feature-table rows with ``task_key, acceptance_prob`` and the :func:`tiebreak_key`
            columns.
        reward: The inferred reward of each row.
        probability: The inferred keep probability of each row, where the auditor models it
            directly (a mixture of groups); it is then what is scored. None: the reward's
            within-task softmax.
    """
    known = rows["acceptance_prob"].notna().to_numpy()
    rows, reward = rows[known], np.asarray(reward, dtype=float)[known]
    task = rows["task_key"].to_numpy()
    if probability is None:
        probability = within_task_softmax(task, reward)
    else:
        probability = reward = np.asarray(probability, dtype=float)[known]
    truth = rows["acceptance_prob"].to_numpy(dtype=float)
    every = pairwise_concordance(task, truth, reward)
    strict = pairwise_concordance(task, truth, reward, tiebreak_key(rows))
    return {
        "truth": "acceptance_prob: the population's acceptance probability A(tau) recorded with each "
        "curation decision (known to the simulator, never to a real auditor)",
        "concordance": every.value,
        **{k: v for k, v in every.as_dict().items()
           if k not in ("concordance", "n_tiebreak_only_left_out")},
        "n_tiebreak_only_pairs": strict.n_identical,
        "concordance_without_tiebreak_only": strict.value,
        "within_task_correlation": within_task_correlation(task, truth, probability),
        "graded": is_graded(truth),
        "note": "every pair of traces of one task that A(tau) orders; the reward ordering them the same "
        "way counts 1, a tie one half; concordance_without_tiebreak_only leaves out the pairs A orders "
        "only by the selector's last tie-break between traces equal in everything a rule reads",
    }
