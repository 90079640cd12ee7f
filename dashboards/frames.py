"""Run stores → the tables the dashboard's pages and the static report draw, beyond ``data.py``.

Pure functions of an open :class:`~iterdeploy.simulator.store.RunReader` (or, for
:func:`compare_frame`, of run directories), with no Streamlit import, so the report and the pages
show the same numbers and a test can check every number against a store it wrote. Nothing here
writes to a run.

Two principles shape the frames:

* **Denominators travel with the numbers.** A share solved comes with its count and pool size and
  a Wilson interval; a weight with its interval; a departure with the tasks it is counted over.
  A stakeholder reading "53%" must be able to see "of 17 tasks".
* **The truth stands beside the inference.** The simulator records A(τ), the population's exact
  probability of publishing each trace, and the declared objective is itself a policy the
  auditors replay (``p_decl``). :func:`reward_truth_frame` puts the inferred weights next to what
  those two say, so a reader sees whether the auditors recovered what was planted. A real
  deployment has no A(τ); a simulated one is where the auditors are checked against it.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd
from scipy.stats import binomtest

from iterdeploy.auditors.payloads import (
    AttributionNumbers,
    BeyondDeclared,
    BlackBoxNumbers,
    ImplicitRewardNumbers,
    WithinTaskEffect,
    payload_or_none,
)
from iterdeploy.auditors.registry import split_version
from iterdeploy.simulator.errors import IterdeployError, StoreError
from iterdeploy.simulator.store import RunReader

CONFIDENCE = 0.95
"""Coverage of every interval this module computes (the auditors' are 95% too)."""

CAPABILITY_COLUMNS: tuple[str, ...] = (
    "generation", "domain", "size", "n_tasks", "solved", "share", "ci_low", "ci_high",
)
"""Columns of :func:`capability_frame`."""

PLAN_LENGTH_COLUMNS: tuple[str, ...] = (
    "generation", "purpose", "n_valid", "mean", "min", "q1", "median", "q3", "max",
)
"""Columns of :func:`plan_length_frame`."""

REWARD_TRUTH_COLUMNS: tuple[str, ...] = (
    "scope", "generation", "auditor", "feature", "label", "concept",
    "weight", "ci_low", "ci_high", "shift", "shift_ci_low", "shift_ci_high",
    "truth_corr", "truth_departure_corr", "truth_departure_sign", "declared_sign",
    "finding_id",
)
"""Columns of :func:`reward_truth_frame`."""

ATTRIBUTION_COLUMNS: tuple[str, ...] = (
    "group", "severity", "driving", "n_tasks", "n_departing_tasks", "departure_share",
    "departure_ci_low", "departure_ci_high", "share_of_departures", "top_feature", "top_label",
    "top_shift", "top_ci_low", "top_ci_high", "true_policy", "declared_objective",
    "truly_departs", "claim", "finding_id",
)
"""Columns of :func:`attribution_frame`."""

POPULATION_COLUMNS: tuple[str, ...] = (
    "generation", "group", "n_members", "weight", "share", "policy", "decisions", "published",
    "n_changes",
)
"""Columns of :func:`population_frame`."""

COMPARE_COLUMNS: tuple[str, ...] = (
    "label", "quantity", "generation", "n", "mean", "sd", "min", "max", "ci95_low", "ci95_high",
    "seeds", "values",
)
"""Columns of :func:`compare_frame`."""

COMPARED_SUMMARY = ("solved", "mean_plan_length", "longest_plan_length", "deploy_solved")
"""Summary quantities :func:`compare_frame` carries across seeds (``iterdeploy compare`` has all)."""


# -- capability ------------------------------------------------------------------------------------
def wilson_interval(successes: int, total: int) -> tuple[float, float]:
    """The 95% Wilson score interval of ``successes / total`` (scipy's ``binomtest``, a required
    dependency; statsmodels, which has the same interval, is only a test tool here), which stays inside
    [0, 1] and is honest for the small counts of one size bucket; (nan, nan) for ``total == 0``."""
    if total <= 0:
        return float("nan"), float("nan")
    ci = binomtest(successes, total).proportion_ci(confidence_level=CONFIDENCE, method="wilson")
    low, high = ci.low, ci.high
    share = successes / total
    # floating point can leave 0 of n a lower end of 1e-18: clamp it onto the share
    return max(0.0, min(float(low), share)), min(1.0, max(float(high), share))


def capability_frame(reader: RunReader) -> pd.DataFrame:
    """Evaluation tasks solved per generation, domain and size, with Wilson intervals.

    The evaluation pool is fixed (the same tasks in every generation), so a share that rises is
    the model's, not the tasks'. Columns :data:`CAPABILITY_COLUMNS`: ``n_tasks`` evaluated, of
    which ``solved`` had at least one valid sample; ``share`` = solved / n_tasks with its interval
    ``ci_low``–``ci_high``. One row per (generation, domain, size) that has evaluations.
    """
    tasks = {t.task_id: t for t in reader.tasks(pool="eval")}
    counts: dict[tuple[int, str, int], list[int]] = {}
    for ev in reader.evaluations():
        task = tasks.get(ev.task_id)
        if task is None:
            continue
        cell = counts.setdefault((ev.generation, task.domain, task.size), [0, 0])
        cell[0] += 1
        cell[1] += int(ev.solved)
    rows = []
    for (generation, domain, size), (n, solved) in sorted(counts.items()):
        low, high = wilson_interval(solved, n)
        rows.append((generation, domain, size, n, solved, solved / n, low, high))
    return pd.DataFrame(rows, columns=list(CAPABILITY_COLUMNS))


# -- plan lengths ----------------------------------------------------------------------------------
def plan_lengths(reader: RunReader) -> pd.DataFrame:
    """Every valid plan's length: columns ``generation``, ``purpose`` (``eval`` or ``deploy``),
    ``plan_length``; one row per valid trace (the raw numbers behind :func:`plan_length_frame`)."""
    facts = reader.trace_facts(purpose=("eval", "deploy"))
    rows = [(f.generation, f.purpose, f.plan_length) for f in facts if f.is_valid]
    return pd.DataFrame(rows, columns=["generation", "purpose", "plan_length"])


def plan_length_frame(reader: RunReader) -> pd.DataFrame:
    """The distribution of valid plan lengths per generation, for the evaluation samples (a fixed
    pool: the paper's "plans grow" is read here) and the deployment samples (what users saw).

    Columns :data:`PLAN_LENGTH_COLUMNS`: ``n_valid`` valid plans, their mean, minimum, quartiles
    (``q1``, ``median``, ``q3``) and maximum, in actions. A generation with no valid plan of a
    purpose has no row for it (a gap, not a zero).
    """
    lengths = plan_lengths(reader)
    rows = []
    for (generation, purpose), values in lengths.groupby(["generation", "purpose"], sort=True):
        v = values["plan_length"].to_numpy(dtype=float)
        q1, median, q3 = np.percentile(v, [25, 50, 75])
        rows.append((int(generation), str(purpose), len(v), float(v.mean()), float(v.min()),
                     float(q1), float(median), float(q3), float(v.max())))
    return pd.DataFrame(rows, columns=list(PLAN_LENGTH_COLUMNS))


# -- implicit reward against the truth ------------------------------------------------------------
def _float(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else float("nan")


def _within_task_corr(frame: pd.DataFrame, feature: str, target: pd.Series) -> float:
    """Pearson's r between ``feature`` and ``target`` after removing each task's mean from both:
    only the comparison between a task's own traces counts, as in the auditors' fits."""
    if feature not in frame.columns or frame.empty:
        return float("nan")
    keys = frame["task_key"]
    x = frame[feature].astype(float)
    x = x - x.groupby(keys).transform("mean")
    y = target - target.groupby(keys).transform("mean")
    if float((x * x).sum()) == 0.0 or float((y * y).sum()) == 0.0:
        return 0.0 if float((x * x).sum()) > 0 else float("nan")
    return float(np.corrcoef(x.to_numpy(), y.to_numpy())[0, 1])


def _feature_table(reader: RunReader) -> pd.DataFrame | None:
    """The auditors' per-trace feature table (with A(τ) and the declared policy's ``p_decl``), or
    None when the run cannot give one (no curated traces, an objective this version cannot read)."""
    from iterdeploy.auditors.core.features import build_feature_table

    try:
        frame = build_feature_table(reader).frame
    except (IterdeployError, ValueError, KeyError):
        return None
    return None if frame.empty else frame


def _declared_directions(reader: RunReader) -> dict[str, int]:
    from iterdeploy.auditors.core.declared_decisions import declared_directions

    try:
        return declared_directions(reader)
    except (IterdeployError, ValueError):
        return {}


def _sign(value: float, tolerance: float = 0.05) -> int:
    """+1, −1, or 0 when ``|value|`` is under ``tolerance`` (a correlation that small is no
    direction a reader should be told about) or not a number."""
    if not np.isfinite(value) or abs(value) < tolerance:
        return 0
    return 1 if value > 0 else -1


def reward_truth_frame(reader: RunReader) -> pd.DataFrame:
    """The inferred implicit reward beside the simulator's ground truth and the declared objective.

    One row per (scope, auditor, feature). Columns :data:`REWARD_TRUTH_COLUMNS`:

    * ``scope``: ``generation G`` or ``whole run`` (white-box), ``G0→G1`` (black-box: it compares
      two generations' outputs); ``generation``: G, or the later generation for the black box, or
      <NA> for the whole run.
    * ``auditor``: ``white-box`` (``implicit-reward``, fitted on the curation log) or ``black-box``
      (``blackbox-reward``, fitted on outputs alone); ``feature``, its words ``label`` and the
      ``concept`` it measures (``validity``, ``length``, ``action:<a>``, or None).
    * ``weight``, ``ci_low``, ``ci_high``: the inferred weight (log-odds per within-task SD) and its
      95% bootstrap interval; NaN where the auditor stored none.
    * ``shift``, ``shift_ci_low``, ``shift_ci_high`` (white-box only): how the published data
      departs from what the declared objective would have published from the same candidates
      (the feature's mean, users' set minus declared set), with its interval.
    * ``truth_corr``: within-task correlation of the feature with A(τ), what the population as a
      whole rewards; ``truth_departure_corr`` and its sign ``truth_departure_sign``: with
      A(τ) − p_decl, where the population departs from the declaration (a planted bias shows
      here, and only here). Computed on the generation's (or run's) curated deployment traces;
      for a black-box row, on the white-box feature of the same concept.
    * ``declared_sign``: which way the declared objective rewards the concept (+1, −1, 0 = silent;
      NaN for a feature of no concept).
    * ``finding_id``: the finding the weight comes from.
    """
    from iterdeploy.auditors.blackbox.claims import concept_of as blackbox_concept
    from iterdeploy.auditors.calibration.score import white_box_feature
    from iterdeploy.auditors.reward.claims import concept_of as whitebox_concept
    from iterdeploy.auditors.reward.claims import label

    table = _feature_table(reader)
    declared = _declared_directions(reader)
    truth_cache: dict[tuple[int | None, str], tuple[float, float]] = {}

    def truth(generation: int | None, feature: str) -> tuple[float, float]:
        key = (generation, feature)
        if key not in truth_cache:
            if table is None:
                truth_cache[key] = (float("nan"), float("nan"))
            else:
                rows = table if generation is None else table[table["generation"] == generation]
                accept = rows["acceptance_prob"].astype(float)
                truth_cache[key] = (_within_task_corr(rows, feature, accept),
                                    _within_task_corr(rows, feature, accept - rows["p_decl"].astype(float)))
        return truth_cache[key]

    def declared_sign(concept: str | None) -> float:
        return float("nan") if concept is None else float(declared.get(concept, 0))

    rows: list[dict[str, Any]] = []
    for finding in reader.findings():
        base = split_version(finding.auditor)[0]
        # a finding whose numbers do not fit its kind's model is left out rather than drawn wrong
        if base == "implicit-reward":
            white = payload_or_none(finding, ImplicitRewardNumbers)
            if white is None or white.features is None:
                continue
            shifts = white.shifts()
            scope = "whole run" if finding.generation is None else f"generation {finding.generation}"
            for feature, effect in sorted(white.features.items()):
                shift = shifts.get(feature, WithinTaskEffect())
                corr, departure = truth(finding.generation, feature)
                concept = whitebox_concept(feature)
                rows.append({
                    "scope": scope, "generation": finding.generation, "auditor": "white-box",
                    "feature": feature, "label": label(feature), "concept": concept,
                    "weight": _float(effect.weight), "ci_low": _float(effect.ci_low),
                    "ci_high": _float(effect.ci_high), "shift": _float(shift.weight),
                    "shift_ci_low": _float(shift.ci_low),
                    "shift_ci_high": _float(shift.ci_high),
                    "truth_corr": corr, "truth_departure_corr": departure,
                    "truth_departure_sign": _sign(departure), "declared_sign": declared_sign(concept),
                    "finding_id": finding.finding_id,
                })
        elif base == "blackbox-reward" and finding.generation is not None:
            black = payload_or_none(finding, BlackBoxNumbers)
            if black is None or black.features is None:
                continue
            pairs = black.pairs or []
            pair = pairs[0] if pairs and len(pairs[0]) == 2 else None
            scope = f"{pair[0]}→{pair[1]}" if pair else f"→{finding.generation}"
            for feature, output in sorted(black.features.items()):
                concept = blackbox_concept(feature)
                corr = departure = float("nan")
                if concept is not None:
                    corr, departure = truth(None, white_box_feature(concept))  # the run's truth
                rows.append({
                    "scope": scope, "generation": finding.generation, "auditor": "black-box",
                    "feature": feature, "label": _blackbox_label(feature), "concept": concept,
                    "weight": _float(output.weight), "ci_low": _float(output.ci_low),
                    "ci_high": _float(output.ci_high), "shift": float("nan"),
                    "shift_ci_low": float("nan"), "shift_ci_high": float("nan"),
                    "truth_corr": corr, "truth_departure_corr": departure,
                    "truth_departure_sign": _sign(departure), "declared_sign": declared_sign(concept),
                    "finding_id": finding.finding_id,
                })
    frame = pd.DataFrame(rows, columns=list(REWARD_TRUTH_COLUMNS))
    frame["generation"] = frame["generation"].astype("Int64")
    return frame


_BLACKBOX_LABELS = {
    "excess_length": "valid plan length above the optimum",
    "is_malformed": "a plan naming unknown actions or objects",
    "is_goal_not_reached": "a plan that misses the goal",
    "is_unreadable": "an unreadable plan",
    "n_tokens": "response length",
}
"""The black-box features that the white-box words do not name (the auditor keeps its own words
private; these are the same words)."""


def _blackbox_label(feature: str) -> str:
    from iterdeploy.auditors.reward.claims import label

    return _BLACKBOX_LABELS.get(feature) or label(feature)


# -- attribution ---------------------------------------------------------------------------------
def _true_policies(reader: RunReader) -> dict[str, str]:
    """Group (family) → the policies its members held in the last recorded population, joined
    with ``/`` when members differ: the simulator's own account of who curated how."""
    records = reader.populations()
    if not records:
        return {}
    try:
        record = json.loads(records[-1].record_json)
    except ValueError:
        return {}
    policies: dict[str, set[str]] = {}
    for node in record.get("nodes", []) if isinstance(record, dict) else []:
        if isinstance(node, dict) and node.get("policy"):
            family = str(node.get("family") or node.get("name"))
            policies.setdefault(family, set()).add(str(node["policy"]))
    return {family: "/".join(sorted(p)) for family, p in policies.items()}


def _declared_name(reader: RunReader) -> str | None:
    from iterdeploy.auditors.core.declared_decisions import declared_name

    try:
        return declared_name(reader)
    except (IterdeployError, ValueError):
        return None


def attribution_frame(reader: RunReader) -> pd.DataFrame:
    """What the attribution auditor found per user group, beside each group's true policy.

    One row per group the ``attribution`` auditor wrote a group finding for, most severe first.
    Columns :data:`ATTRIBUTION_COLUMNS`: its ``severity``; ``driving`` (the auditor's summary names
    it among the groups the departures come from); the group's ``n_tasks`` and
    ``n_departing_tasks`` (tasks where its curation differs from the declared objective's),
    ``departure_share`` with its interval; ``share_of_departures`` (of all departing tasks, the
    share that are this group's); its largest clear departure (``top_feature``, words
    ``top_label``, ``top_shift`` with ``top_ci_low``–``top_ci_high``; None/NaN when none is
    clear); the simulator's truth: ``true_policy`` (the group's policy in the last recorded
    population), ``declared_objective`` and ``truly_departs`` (the two differ; None when either is
    unknown); the auditor's ``claim`` and ``finding_id``.
    """
    from iterdeploy.auditors.reward.claims import label

    severity_rank = {"high": 0, "medium": 1, "low": 2, "info": 3}
    # a finding whose numbers do not fit the kind's model is left out rather than shown wrong
    findings = [(f, numbers) for f in reader.findings() if split_version(f.auditor)[0] == "attribution"
                and (numbers := payload_or_none(f, AttributionNumbers)) is not None]
    driving: set[str] = set()
    for _, numbers in findings:
        if numbers.scope == "summary":
            driving |= set(numbers.driving_groups or [])
    policies = _true_policies(reader)
    declared = _declared_name(reader)
    rows = []
    for f, numbers in findings:
        group = numbers.group
        if group is None:
            continue
        beyond = numbers.beyond_declared or BeyondDeclared()
        dep_ci = beyond.departure_ci or [None, None]
        claims = [c for c in numbers.claims or [] if c.group == group]
        top = max(claims, key=lambda c: abs(_float(c.shift)) if np.isfinite(_float(c.shift)) else 0.0,
                  default=None)
        ci = (top.ci if top is not None else None) or [None, None]
        true_policy = policies.get(group)
        truly = None
        if true_policy is not None and declared is not None:
            truly = true_policy != declared
        rows.append({
            "group": group, "severity": f.severity, "driving": group in driving,
            "n_tasks": beyond.n_tasks, "n_departing_tasks": beyond.n_departing_tasks,
            "departure_share": _float(beyond.departure_share),
            "departure_ci_low": _float(dep_ci[0]), "departure_ci_high": _float(dep_ci[1]),
            "share_of_departures": _float(numbers.share_of_departures),
            "top_feature": None if top is None else top.feature,
            "top_label": None if top is None else label(str(top.feature)),
            "top_shift": _float(None if top is None else top.shift), "top_ci_low": _float(ci[0]),
            "top_ci_high": _float(ci[1]), "true_policy": true_policy, "declared_objective": declared,
            "truly_departs": truly, "claim": f.claim, "finding_id": f.finding_id,
        })
    rows.sort(key=lambda r: (severity_rank.get(str(r["severity"]), 4), not r["driving"], str(r["group"])))
    return pd.DataFrame(rows, columns=list(ATTRIBUTION_COLUMNS))


# -- population ----------------------------------------------------------------------------------
def _records(reader: RunReader) -> list[dict[str, Any]]:
    """The population records that parse as objects, in generation order."""
    out = []
    for row in reader.populations():
        try:
            record = json.loads(row.record_json)
        except ValueError:
            continue
        if isinstance(record, dict):
            out.append({**record, "generation": row.generation})
    return out


def _member_of(node: str, family: str, names: set[str]) -> bool:
    """Whether a change's node belongs to ``family``: a current member, or a member that left
    (``family-K``, ``family-jK``), so that departures count for the group they left."""
    if node in names or node == family:
        return True
    head, _, tail = node.rpartition("-")
    return head == family and tail.removeprefix("j").isdigit()


def population_frame(reader: RunReader) -> pd.DataFrame:
    """Each user group per generation: its members, weight, policy and what it published.

    Columns :data:`POPULATION_COLUMNS`: ``group`` (the scenario's group, the members' family),
    ``n_members``, ``weight`` (sum of the members' weights: how much of A(τ) is theirs) and
    ``share`` (of the deployment tasks they bring), ``policy`` (the members' policies, most held
    first, joined with ``, ``: influence can move members to a neighbour's), ``decisions`` and
    ``published`` (curation decisions made, traces kept), ``n_changes`` (policy adoptions, joins
    and departures recorded for that generation). A run with no population records gives one row
    per group with decisions, and NaN/None for what only the records know.
    """
    from iterdeploy.dashboards.data import group_frame

    counts = {(int(r.generation), str(r.group)): (int(r.decisions), int(r.published))
              for r in group_frame(reader).itertuples()}
    rows: list[dict[str, Any]] = []
    seen: set[tuple[int, str]] = set()
    for record in _records(reader):
        generation = int(record["generation"])
        changes = record.get("changes") or []
        families: dict[str, list[dict[str, Any]]] = {}
        for node in record.get("nodes") or []:
            if isinstance(node, dict) and node.get("name"):
                families.setdefault(str(node.get("family") or node["name"]), []).append(node)
        for family, nodes in sorted(families.items()):
            policies = Counter(str(n.get("policy")) for n in nodes if n.get("policy"))
            decisions, published = counts.get((generation, family), (0, 0))
            names = {str(n["name"]) for n in nodes}
            n_changes = sum(1 for c in changes
                            if isinstance(c, dict) and _member_of(str(c.get("node")), family, names))
            rows.append({
                "generation": generation, "group": family, "n_members": len(nodes),
                "weight": sum(_float(n.get("weight")) for n in nodes),
                "share": sum(_float(n.get("share")) for n in nodes),
                "policy": ", ".join(p for p, _ in policies.most_common()) or None,
                "decisions": decisions, "published": published, "n_changes": n_changes,
            })
            seen.add((generation, family))
    for (generation, family), (decisions, published) in sorted(counts.items()):
        if (generation, family) not in seen:
            rows.append({"generation": generation, "group": family, "n_members": None,
                         "weight": float("nan"), "share": float("nan"), "policy": None,
                         "decisions": decisions, "published": published, "n_changes": None})
    frame = pd.DataFrame(rows, columns=list(POPULATION_COLUMNS))
    return frame.sort_values(["generation", "group"], kind="stable").reset_index(drop=True)


def population_graph(reader: RunReader, generation: int) -> nx.Graph | None:
    """The social graph of ``generation``'s population: one node per user (attributes ``family``,
    ``policy``, ``weight``, ``share``, ``community`` as recorded), one edge per recorded tie.

    Returns:
        The graph, or None when the store holds no population record for that generation (runs
        written before populations were recorded, or a generation not committed yet).
    """
    record = next((r for r in _records(reader) if int(r["generation"]) == generation), None)
    if record is None:
        return None
    graph = nx.Graph(generation=generation, kind=record.get("graph"), influence=record.get("influence"))
    for node in record.get("nodes") or []:
        if isinstance(node, dict) and node.get("name"):
            graph.add_node(str(node["name"]), family=str(node.get("family") or node["name"]),
                           policy=node.get("policy"), weight=_float(node.get("weight")),
                           share=_float(node.get("share")), community=node.get("community"))
    for edge in record.get("edges") or []:
        if isinstance(edge, list | tuple) and len(edge) == 2:
            graph.add_edge(str(edge[0]), str(edge[1]))
    return graph


# -- across runs ---------------------------------------------------------------------------------
def compare_frame(run_dirs: Sequence[str | Path]) -> pd.DataFrame:
    """Several runs side by side: each quantity per generation as mean and spread over the seeds
    of each scenario, through :func:`iterdeploy.simulator.studies.compare.compare_runs` (which
    groups runs by their stored scenario, so an ablation is never averaged into the seeds it is
    compared with) and its :func:`~iterdeploy.simulator.studies.compare.spread`.

    Columns :data:`COMPARE_COLUMNS`: ``label`` (the scenario group), ``quantity``, ``generation``
    (<NA> for whole-run quantities), ``n`` runs with a value, ``mean``, ``sd``, ``min``, ``max``,
    the 95% t interval ``ci95_low``–``ci95_high`` (None for fewer than two runs), the ``seeds``
    and each run's ``values`` in that order. Quantities: :data:`COMPARED_SUMMARY` (per generation);
    ``reward:<feature>`` (the white-box weight per generation, for the features whose run-wide
    interval excludes zero in some run) and ``departure:<feature>`` (the run-wide shift from the
    declared objective); ``findings:<severity>`` (count per run).

    Raises:
        StoreError: A directory is not a readable run store (named in the message).
    """
    from iterdeploy.simulator.studies.compare import compare_runs, spread

    comparison = compare_runs(run_dirs)
    rows: list[dict[str, Any]] = []

    def add(label: str, quantity: str, generation: int | None, seeds: list[int],
            values: list[float | None]) -> None:
        s = spread(values)
        rows.append({"label": label, "quantity": quantity, "generation": generation, "n": s.n,
                     "mean": s.mean, "sd": s.sd, "min": s.min, "max": s.max, "ci95_low": s.ci95_low,
                     "ci95_high": s.ci95_high, "seeds": seeds, "values": s.values})

    for group in comparison.groups:
        for stats in group.generations:
            for quantity in COMPARED_SUMMARY:
                if quantity in stats.quantities:
                    q = stats.quantities[quantity]
                    rows.append({"label": group.label, "quantity": quantity,
                                 "generation": stats.generation, "n": q.n, "mean": q.mean, "sd": q.sd,
                                 "min": q.min, "max": q.max, "ci95_low": q.ci95_low,
                                 "ci95_high": q.ci95_high, "seeds": list(stats.seeds),
                                 "values": list(q.values)})
        per_run: list[tuple[int, pd.DataFrame, Counter[str]]] = []
        for run in group.runs:
            try:
                with RunReader(run.run_dir) as reader:
                    frame = reward_truth_frame(reader)
                    severities = Counter(str(f.severity) for f in reader.findings())
            except OSError as exc:
                raise StoreError(f"{run.run_dir}: cannot read the run ({exc})") from None
            per_run.append((run.seed, frame, severities))
        seeds = [seed for seed, _, _ in per_run]
        white = [f[f["auditor"] == "white-box"] for _, f, _ in per_run]
        whole = [w[w["scope"] == "whole run"] for w in white]
        clear = sorted({str(r.feature) for w in whole for r in w.itertuples()
                        if np.isfinite(r.ci_low) and (r.ci_low > 0 or r.ci_high < 0)})
        for feature in clear:
            generations = sorted({int(g) for w in white for g in w["generation"].dropna()})
            for generation in generations:
                add(group.label, f"reward:{feature}", generation, seeds,
                    [_value(w, feature, generation, "weight") for w in white])
            add(group.label, f"departure:{feature}", None, seeds,
                [_value(w, feature, None, "shift") for w in whole])
        if per_run:
            for severity in ("high", "medium", "low", "info"):
                add(group.label, f"findings:{severity}", None, seeds,
                    [float(c.get(severity, 0)) for _, _, c in per_run])
    frame = pd.DataFrame(rows, columns=list(COMPARE_COLUMNS))
    frame["generation"] = frame["generation"].astype("Int64")
    return frame


def _value(frame: pd.DataFrame, feature: str, generation: int | None, column: str) -> float | None:
    """One run's ``column`` for ``feature`` in ``generation`` (None = the run-wide row), None when
    absent or not a number."""
    rows = frame[frame["feature"] == feature]
    rows = rows[rows["generation"].isna()] if generation is None else rows[rows["generation"] == generation]
    if rows.empty:
        return None
    value = float(rows.iloc[0][column])
    return value if np.isfinite(value) else None
