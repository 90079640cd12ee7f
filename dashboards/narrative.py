"""The answer to a run's question in plain sentences, built from the stored findings.

A stakeholder asks five things of a run: what was asked, whether plans grew, what the auditors
inferred (and, in a simulation, whether that is the truth), which user group drove it, and how
sure the auditors are. :func:`headline_sentences` answers each in a sentence that carries its
denominators ("60 of 111 tasks"), its interval and the findings it rests on, so the Overview page
and the static report say the same thing and every number can be traced to a finding.

Sentences are plain text: the page and the report escape them when they render them (scenario
text and group names come from files a stranger may have written).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd

from iterdeploy.auditors.payloads import (
    BeyondDeclared,
    BlackBoxNumbers,
    CurationCounts,
    ImplicitRewardNumbers,
    payload_or_none,
)
from iterdeploy.auditors.registry import split_version
from iterdeploy.auditors.reward.claims import label as feature_label
from iterdeploy.dashboards.data import summary_frame
from iterdeploy.dashboards.frames import (
    attribution_frame,
    plan_length_frame,
    reward_truth_frame,
)
from iterdeploy.simulator.store import FindingRow, RunReader

Severity = Literal["info", "low", "medium", "high"]
Topic = Literal["answer", "question", "population", "growth", "seeds", "inferred", "recovery", "blackbox",
                "group", "confidence"]

TOPIC_WORDS: dict[str, str] = {
    "answer": "The answer", "question": "What was asked", "population": "Who curated",
    "growth": "Did plans grow", "seeds": "Across seeds", "inferred": "What the auditors inferred",
    "recovery": "Checked against the truth", "blackbox": "From outputs alone",
    "group": "Which group drove it", "confidence": "How sure",
}
"""Lead words for each topic, for a page that shows the sentences under headings or in a list."""

SEVERITY_RANK: dict[str, int] = {"info": 0, "low": 1, "medium": 2, "high": 3}
"""Severities from least to most serious."""

GROWTH_THRESHOLD = 0.05
"""A mean valid plan length that moves by less than this share of its generation-0 value is
"about the same": the model samples, and a tenth of an action is no trend worth a headline."""


@dataclass(frozen=True)
class Sentence:
    """One sentence of the answer.

    Attributes:
        topic: Which of the stakeholder's questions it answers.
        text: The sentence, plain text (escape it when rendering).
        severity: The most serious severity among its source findings (``info`` when none).
        sources: Ids of the findings its numbers come from (empty for the scenario's own facts).
    """

    topic: Topic
    text: str
    severity: Severity = "info"
    sources: tuple[int, ...] = ()


def _worst(findings: list[FindingRow]) -> Severity:
    if not findings:
        return "info"
    return max((f.severity for f in findings), key=lambda s: SEVERITY_RANK.get(s, 0))


def _n(value: Any) -> str:
    """A count with thousands separators (``3,072``)."""
    return f"{int(value):,}"


def _signed(value: float) -> str:
    return f"{value:+.2f}"


def _pct(value: float) -> str:
    return f"{100 * value:.0f}%"


def _policy_words(policy: Any) -> str:
    """A scenario's policy (a preset name or the canonical mapping) in a few words."""
    if isinstance(policy, str):
        return policy
    if isinstance(policy, dict):
        stages = [str(s.get("kind")) if isinstance(s, dict) else str(s) for s in policy.get("stages") or []]
        select = policy.get("select")
        words = " + ".join(stages) or "no check"
        return f"{words}, keep the {select}" if select and select != "all" else words
    return "unknown"


def question_sentences(reader: RunReader) -> list[Sentence]:
    """What was asked, and of which population, against which declared objective."""
    scenario = reader.scenario()
    name = str(scenario.get("name") or reader.run().name)
    question = str(scenario.get("question") or "").strip()
    out = [Sentence("question", f"{question} (scenario {name})" if question else
                    f"Scenario {name}: what implicit reward does the users' curation set, and does "
                    "it depart from the declared objective?")]
    users = [u for u in scenario.get("users") or [] if isinstance(u, dict)]
    if users:
        total = sum(float(u.get("weight") or 0) * int(u.get("count") or 1) for u in users) or 1.0
        parts = [f"{u.get('name')} ({_pct(float(u.get('weight') or 0) * int(u.get('count') or 1) / total)}, "
                 f"{_policy_words(u.get('policy'))})" for u in users]
        declared = _policy_words(scenario.get("declared_objective", "validity"))
        out.append(Sentence("population", f"{'; '.join(parts)}. The operator declared the "
                            f"curation objective to be: {declared}."))
    return out


def _growth_verdict(change: float) -> str:
    """Words for a relative change of the mean valid plan length."""
    if change >= GROWTH_THRESHOLD:
        return "Plans grew"
    if change <= -GROWTH_THRESHOLD:
        return "Plans got shorter"
    return "Plans did not grow much"


def _mean_length_change(reader: RunReader) -> float | None:
    """Relative change of the mean valid evaluation plan, generation 0 → last (None when it
    cannot be read: one generation, or no valid plan at either end)."""
    summary = summary_frame(reader)
    if len(summary) < 2:
        return None
    mean0, mean1 = summary.iloc[0]["mean_plan_length"], summary.iloc[-1]["mean_plan_length"]
    if pd.isna(mean0) or pd.isna(mean1) or not float(mean0):
        return None
    return (float(mean1) - float(mean0)) / float(mean0)


def growth_sentence(reader: RunReader, findings: list[FindingRow]) -> Sentence | None:
    """Whether valid plans grew between generation 0 and the last, on the fixed evaluation pool."""
    summary = summary_frame(reader)
    lengths = plan_length_frame(reader)
    if summary.empty:
        return None
    first, last = summary.iloc[0], summary.iloc[-1]
    g0, g1 = int(first["generation"]), int(last["generation"])
    sources = [f for f in findings if split_version(f.auditor)[0] == "drift" and f.kind == "capability"]
    solved = (f"it solved {_n(first['solved'])} of {_n(first['evaluated'])} evaluation tasks in "
              f"generation {g0} and {_n(last['solved'])} of {_n(last['evaluated'])} in generation {g1}")
    if g0 == g1:
        return Sentence("growth", f"Only generation {g0} is committed, so no growth can be read yet; "
                        f"{solved}.", "info", tuple(f.finding_id for f in sources))
    mean0, mean1 = first["mean_plan_length"], last["mean_plan_length"]
    long0, long1 = first["longest_plan_length"], last["longest_plan_length"]
    if any(pd.isna(v) for v in (mean0, mean1, long0, long1)):
        return Sentence("growth", f"No valid plan in generation {g0 if pd.isna(mean0) else g1}, so plan "
                        f"growth cannot be read; {solved}.", "info", tuple(f.finding_id for f in sources))
    change = (float(mean1) - float(mean0)) / float(mean0) if float(mean0) else 0.0
    verdict = _growth_verdict(change)
    evals = lengths[lengths["purpose"] == "eval"].set_index("generation")
    counted = ""
    if g0 in evals.index and g1 in evals.index:
        counted = (f", over {_n(evals.loc[g0, 'n_valid'])} and {_n(evals.loc[g1, 'n_valid'])} valid "
                   "evaluation plans")
    text = (f"{verdict}: on the fixed evaluation pool, the mean valid plan went from {float(mean0):.1f} to "
            f"{float(mean1):.1f} actions ({change:+.0%}) and the longest from {int(long0)} to {int(long1)} "
            f"(generation {g0} → {g1}{counted}); {solved}.")
    return Sentence("growth", text, "info", tuple(f.finding_id for f in sources))


def _whole_run_reward(findings: list[FindingRow]) -> tuple[FindingRow, ImplicitRewardNumbers] | None:
    """The implicit-reward auditor's finding about the whole run, with its numbers (a finding whose
    numbers do not fit the kind's model is passed over, as if not there)."""
    for f in findings:
        if split_version(f.auditor)[0] != "implicit-reward" or f.generation is not None:
            continue
        numbers = payload_or_none(f, ImplicitRewardNumbers)
        if numbers is not None and numbers.scope in ("run", None):
            return f, numbers
    return None


def _departures(numbers: ImplicitRewardNumbers) -> tuple[int | None, int | None]:
    """Tasks and departing tasks of a reward finding: from ``beyond_declared``, else from its
    ``denominators``."""
    beyond = numbers.beyond_declared or BeyondDeclared()
    counts = numbers.denominators or CurationCounts()
    n_tasks = beyond.n_tasks if beyond.n_tasks is not None else counts.n_tasks
    n_dep = beyond.n_departing_tasks if beyond.n_departing_tasks is not None else counts.n_departing_tasks
    return n_tasks, n_dep


def inferred_sentences(reader: RunReader, findings: list[FindingRow],
                       truth: pd.DataFrame | None = None) -> list[Sentence]:
    """What the white-box auditor inferred from the curation log, beside the simulator's truth."""
    whole_run = _whole_run_reward(findings)
    if whole_run is None:
        return [Sentence("inferred", "The run has not been audited yet: run `iterdeploy audit RUN_DIR` "
                         "to infer the implicit reward.")]
    finding, numbers = whole_run
    counts = numbers.denominators or CurationCounts()
    declared = numbers.declared_objective or "the declared objective"
    n_tasks, n_dep = _departures(numbers)
    n_decisions = counts.n_decisions if counts.n_decisions is not None else numbers.n_traces or 0
    basis = f"from {_n(n_decisions)} curation decisions in {_n(n_tasks or 0)} tasks"
    truth = reward_truth_frame(reader) if truth is None else truth
    whole = truth[(truth["auditor"] == "white-box") & (truth["scope"] == "whole run")]
    clear = whole[(whole["shift_ci_low"] > 0) | (whole["shift_ci_high"] < 0)]
    out: list[Sentence] = []
    if not n_dep:
        planted = whole[whole["truth_departure_sign"] != 0]
        truth_words = ("the simulator's truth agrees: the population keeps what the declared objective keeps"
                       if planted.empty else "the simulator's truth disagrees: the population departs on "
                       + ", ".join(planted["label"].astype(str).head(3)))
        out.append(Sentence("inferred", f"The auditors found no departure from the declared objective "
                            f"({declared}): users kept exactly what it keeps in all {_n(n_tasks or 0)} tasks "
                            f"({basis}); {truth_words}.", finding.severity, (finding.finding_id,)))
    else:
        share = (f"{_n(n_dep)} of {_n(n_tasks)} tasks ({_pct(n_dep / n_tasks)})" if n_tasks
                 else f"{_n(n_dep)} tasks")
        ranked = clear.assign(order=-clear["truth_departure_corr"].abs().fillna(0)
                              - clear["concept"].notna().astype(float))
        top = ranked.sort_values(["order", "feature"]).head(2)
        effects = []
        for row in top.itertuples():
            truth_sign = int(row.truth_departure_sign)
            inferred_sign = 1 if row.shift > 0 else -1
            direction = "positive" if truth_sign > 0 else "negative" if truth_sign < 0 else "no departure"
            verdict = (f"the simulator's truth: {direction}, "
                       + ("recovered" if truth_sign == inferred_sign else "not recovered"))
            if not math.isnan(row.truth_departure_corr):
                verdict += (" (within-task correlation with A(τ) − declared keep probability "
                            f"{row.truth_departure_corr:+.2f})")
            effects.append(f"“{row.label}” {_signed(row.shift)} (95% interval {_signed(row.shift_ci_low)} "
                           f"to {_signed(row.shift_ci_high)}; {verdict})")
        lead = f"The auditors inferred users departed from the declared objective ({declared}) in {share}"
        text = (f"{lead}, {basis}. Against what that objective would have published from the same candidates,"
                " "
                "the mean of what they published differs on " + "; and on ".join(effects) + "." if effects
                else f"{lead}, {basis}, with no single feature clearly moved.")
        out.append(Sentence("inferred", text, finding.severity, (finding.finding_id,)))
    recovery = numbers.recovery
    if recovery is not None and recovery.concordance is not None and recovery.n_pairs:
        out.append(Sentence(
            "recovery",
            f"Checked against the truth the simulator records (A(τ), the population's probability of "
            f"publishing each trace), the inferred reward orders {_pct(float(recovery.concordance))} of "
            f"the {_n(recovery.n_pairs)} pairs of traces of one task that A(τ) orders the same way "
            f"(in {_n(recovery.n_tasks or 0)} tasks; a real deployment has no A(τ) to check against).",
            "info", (finding.finding_id,)))
    return out


def blackbox_sentence(findings: list[FindingRow]) -> Sentence | None:
    """What the black-box auditor, which sees only the model's outputs, could tell."""
    finding = next((f for f in findings
                    if split_version(f.auditor)[0] == "blackbox-reward" and f.generation is None), None)
    numbers = None if finding is None else payload_or_none(finding, BlackBoxNumbers)
    auc = None if numbers is None else numbers.held_out_auc
    if finding is None or auc is None or auc.auc is None:
        return None
    separable = bool(auc.separable)
    p = auc.permutation_p_bh
    told = ("could tell later generations' outputs from earlier ones'" if separable else
            "could not tell the generations' outputs apart beyond chance")
    return Sentence("blackbox", f"From the model's outputs alone (no curation log), the black-box auditor "
                    f"{told} (held-out AUC {float(auc.auc):.2f}; chance reaches "
                    f"{float(auc.null_quantile or 0.5):.2f}"
                    + (f"; adjusted p = {float(p):.2g}" if p is not None else "") + ").",
                    finding.severity, (finding.finding_id,))


def group_sentence(reader: RunReader, findings: list[FindingRow],
                   frame: pd.DataFrame | None = None) -> Sentence | None:
    """Which user group the attribution auditor says drove the departure, beside the truth."""
    frame = attribution_frame(reader) if frame is None else frame
    if frame.empty:
        return None
    driving = frame[frame["driving"]]
    parts = []
    for row in frame.itertuples():
        count = (f"{_n(row.n_departing_tasks)} of its {_n(row.n_tasks)} tasks depart"
                 if row.n_tasks is not None and not pd.isna(row.n_tasks) else "no task count")
        if not math.isnan(row.departure_ci_low) and row.n_departing_tasks:
            count += (f" ({_pct(row.departure_share)}, 95% interval {_pct(row.departure_ci_low)}–"
                      f"{_pct(row.departure_ci_high)})")
        if not math.isnan(row.share_of_departures) and row.n_departing_tasks:
            count += f", {_pct(row.share_of_departures)} of all departing tasks"
        truth = ""
        if row.true_policy:
            truth = f"; true policy {row.true_policy}" + (
                " (departs from the declared objective)" if row.truly_departs else
                " (the declared objective)" if row.truly_departs is False else "")
        parts.append(f"{row.group}: {count}{truth}")
    sources = tuple(int(i) for i in frame["finding_id"])
    severity = _worst([f for f in findings if f.finding_id in sources])
    if driving.empty:
        lead = "No user group stands out as driving a departure"
    else:
        names = ", ".join(str(g) for g in driving["group"])
        truly = driving["truly_departs"].tolist()
        check = (" — the group whose true policy differs, so the attribution is right"
                 if all(t is True for t in truly)
                 else " — but its true policy is the declared one" if any(t is False for t in truly) else "")
        lead = f"Group {names} drove it{check}"
    return Sentence("group", f"{lead}. " + "; ".join(parts) + ".", severity, sources)


def confidence_sentence(reader: RunReader, findings: list[FindingRow]) -> Sentence:
    """How sure the auditors are: the severities of the findings, and of the per-generation
    reward findings, with the rule that set them."""
    counts = Counter(f.severity for f in findings)
    if not findings:
        return Sentence("confidence", "No findings yet: the run has not been audited.")
    tally = ", ".join(f"{counts.get(s, 0)} {s}" for s in ("high", "medium", "low", "info"))
    per_gen = sorted((f for f in findings
                      if split_version(f.auditor)[0] == "implicit-reward" and f.generation is not None),
                     key=lambda f: f.generation or 0)
    gens = ""
    if per_gen:
        gens = (" Per generation, the implicit-reward auditor rated the departure "
                + ", ".join(f"{f.severity} in generation {f.generation}" for f in per_gen) + ".")
    rule = ""
    whole = _whole_run_reward(findings)
    if whole is not None and whole[1].severity_rule:
        rule = (" High means a feature's departure has a 95% interval excluding zero after correction for "
                "the number of features tested, and the share of departing tasks has a lower bound of at "
                "least 5%.")
    text = f"The auditors wrote {len(findings)} findings ({tally}).{gens}{rule}"
    alarms = tuple(f.finding_id for f in findings if f.severity in ("high", "medium"))
    return Sentence("confidence", text, _worst(findings), alarms)


def _concept_words(concept: str | None, sign: int) -> str:
    """``length``, +1 → ``towards longer plans``."""
    if concept == "length":
        return "towards longer plans" if sign > 0 else "towards shorter plans"
    if concept == "validity":
        return "towards more valid plans" if sign > 0 else "towards more invalid plans"
    if concept and concept.startswith("action:"):
        action = concept.removeprefix("action:")
        return f"towards more {action} actions" if sign > 0 else f"towards fewer {action} actions"
    return ""


def short_answer(reader: RunReader, findings: list[FindingRow], truth: pd.DataFrame,
                 attribution: pd.DataFrame) -> Sentence:
    """The whole answer in two sentences, for a reader who reads nothing else: how often and which
    way users departed from the declared objective, whether that is the simulator's truth, which
    group, how severe, and whether plans grew. Every number is repeated, with its interval, in the
    sentences that follow."""
    whole_run = _whole_run_reward(findings)
    change = _mean_length_change(reader)
    growth = "" if change is None else (f" {_growth_verdict(change)} on the evaluation pool "
                                        f"({change:+.0%} mean valid plan length, first to last generation).")
    if whole_run is None:
        return Sentence("answer", "Not audited yet, so nothing is known about the implicit reward."
                        + growth)
    finding, numbers = whole_run
    beyond = numbers.beyond_declared or BeyondDeclared()
    n_dep, n_tasks = beyond.n_departing_tasks, beyond.n_tasks
    declared = numbers.declared_objective or "the declared objective"
    whole = truth[(truth["auditor"] == "white-box") & (truth["scope"] == "whole run")]
    if not n_dep or not n_tasks:
        departs = whole[whole["truth_departure_sign"] != 0]
        agrees = ("as the simulator's truth says" if departs.empty
                  else "although the simulator's truth says they did")
        return Sentence("answer", f"Users followed the declared objective ({declared}) in every "
                        f"task, {agrees}." + growth, finding.severity, (finding.finding_id,))
    clear = whole[((whole["shift_ci_low"] > 0) | (whole["shift_ci_high"] < 0)) & whole["concept"].notna()]
    clear = clear.assign(order=-clear["truth_departure_corr"].abs().fillna(0))
    clear = clear.sort_values(["order", "feature"])
    direction = recovered = ""
    if not clear.empty:
        top = clear.iloc[0]
        sign = 1 if float(top["shift"]) > 0 else -1
        direction = " " + _concept_words(str(top["concept"]), sign)
        truth_sign = int(top["truth_departure_sign"])
        recovered = ("; this matches the simulator's truth" if truth_sign == sign else
                     "; the simulator's truth says otherwise" if truth_sign else
                     "; the simulator's truth shows no such departure")
    driving = ([str(g) for g in attribution[attribution["driving"]]["group"]]
               if not attribution.empty else [])
    who = f", driven by {', '.join(driving)}" if driving else ""
    text = (f"Users departed from the declared objective ({declared}) in "
            f"{_pct(n_dep / n_tasks)} of tasks ({_n(n_dep)} of {_n(n_tasks)}){direction}{who}{recovered} "
            f"(severity {finding.severity})."
            + growth)
    return Sentence("answer", text, finding.severity, (finding.finding_id,))


def headline_sentences(reader: RunReader) -> list[Sentence]:
    """The answer to the run's question in plain sentences: first the answer in short, then in
    the order a stakeholder asks: what was asked (and of which population), whether plans grew,
    what the auditors inferred against the simulator's truth, what the black-box auditor saw,
    which group drove it, and how sure the auditors are. Each sentence carries its denominators
    and the ids of the findings it rests on; an unaudited run says so instead of inventing an
    answer.

    Args:
        reader: An open run store; only read.

    Returns:
        The sentences, in that order (those that have nothing to say are left out).
    """
    findings = reader.findings()
    truth = reward_truth_frame(reader)
    attribution = attribution_frame(reader)
    out = [short_answer(reader, findings, truth, attribution), *question_sentences(reader)]
    growth = growth_sentence(reader, findings)
    if growth is not None:
        out.append(growth)
    out += inferred_sentences(reader, findings, truth)
    for sentence in (blackbox_sentence(findings), group_sentence(reader, findings, attribution)):
        if sentence is not None:
            out.append(sentence)
    out.append(confidence_sentence(reader, findings))
    return out


def _spread_words(row: pd.Series) -> str:
    """``8.1 (sd 0.82, 7.0–9.3)``: a mean over seeds with its spread."""
    sd = "" if row["sd"] is None or pd.isna(row["sd"]) else f"sd {float(row['sd']):.2g}, "
    return f"{float(row['mean']):.3g} ({sd}{float(row['min']):.3g}–{float(row['max']):.3g})"


def seed_sentences(compare: pd.DataFrame) -> list[Sentence]:
    """How the answer holds across seeds (``frames.compare_frame`` of several runs): growth of the
    mean valid plan and the solved count from the first to the last generation every seed reached,
    and in how many seeds each run-wide departure on a concept the truth moves had the same sign.
    One sentence per scenario; nothing for a single run."""
    out: list[Sentence] = []
    if compare.empty:
        return out
    for label, rows in compare.groupby("label", sort=True):
        per_gen = rows[rows["generation"].notna()]
        n_runs = int(rows["n"].max())
        if n_runs < 2:
            continue
        parts = []
        for quantity, words in (("mean_plan_length", "the mean valid plan (actions)"),
                                ("longest_plan_length", "the longest valid plan"),
                                ("solved", "evaluation tasks solved")):
            q = per_gen[(per_gen["quantity"] == quantity) & (per_gen["n"] == n_runs)]
            q = q.sort_values("generation")
            if len(q) >= 2 and q["mean"].notna().all():
                first, last = q.iloc[0], q.iloc[-1]
                change = ""
                if float(first["mean"]):
                    relative = (float(last["mean"]) - float(first["mean"])) / float(first["mean"])
                    change = f", {relative:+.0%} on average"
                parts.append(f"{words} went from {_spread_words(first)} in generation "
                             f"{int(first['generation'])} to {_spread_words(last)} in generation "
                             f"{int(last['generation'])}{change}")
        departures = rows[rows["quantity"].isin(["departure:length_above_best", "departure:is_task_longest"])]
        for row in departures.itertuples():
            values = [v for v in row.values if v is not None]
            if values:
                feature = str(row.quantity).removeprefix("departure:")
                positive = sum(1 for v in values if v > 0)
                parts.append(f"the published data's departure on “{feature_label(feature)}” was positive in "
                             f"{positive} of {len(values)} seeds (mean {float(row.mean):+.2g})")
        if parts:
            out.append(Sentence("seeds", f"Across {n_runs} seeds of {label}: " + "; ".join(parts) + "."))
    return out
