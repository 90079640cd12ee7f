"""The plain-language answer: each sentence carries its numbers and its sources, and says so when
a run cannot answer yet."""

from __future__ import annotations

from pathlib import Path
from typing import get_args

from iterdeploy.dashboards.narrative import TOPIC_WORDS, Sentence, Topic, headline_sentences
from iterdeploy.simulator.store import FindingRow, RunReader, RunWriter
from tests.dashboards.conftest import EVAL_SIZES, SOLVED, MakeRun, eval_plan_length


def _by_topic(sentences: list[Sentence]) -> dict[str, list[Sentence]]:
    out: dict[str, list[Sentence]] = {}
    for s in sentences:
        out.setdefault(s.topic, []).append(s)
    return out


def test_synthetic_run_growth_and_unaudited_answer(make_run: MakeRun) -> None:
    with RunReader(make_run(with_findings=False)) as reader:
        topics = _by_topic(headline_sentences(reader))
    assert topics["question"][0].text.startswith("Scenario curation-bias-demo")
    growth = topics["growth"][0].text
    first = [eval_plan_length(s, 0) for s in EVAL_SIZES[:SOLVED[0]]]
    last = [eval_plan_length(s, 3) for s in EVAL_SIZES[:SOLVED[3]]]
    assert growth.startswith("Plans grew")
    assert f"from {sum(first) / len(first):.1f} to {sum(last) / len(last):.1f} actions" in growth
    assert f"the longest from {max(first)} to {max(last)}" in growth
    assert f"{SOLVED[0]} of {len(EVAL_SIZES)} evaluation tasks" in growth
    assert "not been audited" in topics["inferred"][0].text
    assert topics["answer"][0].text.startswith("Not audited yet")
    assert "Plans grew on the evaluation pool" in topics["answer"][0].text
    assert topics["confidence"][0].text.startswith("No findings")
    assert "group" not in topics


def test_one_generation_cannot_grow(make_run: MakeRun) -> None:
    with RunReader(make_run(n_generations=1)) as reader:
        growth = _by_topic(headline_sentences(reader))["growth"][0]
    assert "no growth can be read yet" in growth.text


def test_confidence_counts_every_finding(run_dir: Path) -> None:
    with RunReader(run_dir) as reader:
        confidence = _by_topic(headline_sentences(reader))["confidence"][0]
        ids = tuple(f.finding_id for f in reader.findings() if f.severity == "high")
    assert "2 findings (1 high, 0 medium, 0 low, 1 info)" in confidence.text
    assert confidence.severity == "high" and confidence.sources == ids


def test_real_run_answers_every_question(small_real_run: Path) -> None:
    """On a real audited length_bias run the answer names the question, the population, the
    growth with its counts, the inference against the truth, and how sure; every source is a
    stored finding."""
    with RunReader(small_real_run) as reader:
        sentences = headline_sentences(reader)
        ids = {f.finding_id for f in reader.findings()}
    topics = _by_topic(sentences)
    assert {"answer", "question", "population", "growth", "inferred", "confidence"} <= set(topics)
    assert sentences[0].topic == "answer" and sentences[0].text.startswith("Users ")
    assert "longest valid plan" in topics["question"][0].text
    assert "long_plan_fans (30%" in topics["population"][0].text
    assert " of " in topics["growth"][0].text
    assert "pairs of traces of one task that A(τ) orders" in topics["recovery"][0].text
    inferred = topics["inferred"][0].text
    assert "curation decisions in" in inferred and "tasks" in inferred
    for s in sentences:
        assert set(s.sources) <= ids
        assert s.severity in ("info", "low", "medium", "high")


def test_misfit_and_unknown_findings_are_passed_over_not_fatal(make_run: MakeRun) -> None:
    """A whole-run reward finding whose numbers do not fit the kind's model reads as no audit; a
    kind without a model and a black-box finding of another shape leave the answer as it was."""
    run_dir = make_run(with_findings=False)

    def finding(auditor: str, kind: str, numbers_json: str) -> FindingRow:
        return FindingRow(finding_id=0, auditor=auditor, kind=kind, severity="high", generation=None,
                          claim=f"{kind} claim", numbers_json=numbers_json, evidence_json="{}",
                          created_at="2025-06-01T12:00:00+00:00")

    writer = RunWriter(run_dir)
    try:
        for auditor, kind, numbers in (
            ("implicit-reward-v2", "implicit-reward", '{"beyond_declared": {"n_tasks": "many"}}'),
            ("blackbox-reward-v2", "blackbox-reward", '{"held_out_auc": [0.5]}'),
            ("someone-elses-check-v1", "someone-elses-check", '{"scope": 1, "claims": "none"}'),
        ):
            writer.replace_findings(auditor, [finding(auditor, kind, numbers)])
    finally:
        writer.close()
    with RunReader(run_dir) as reader:
        topics = _by_topic(headline_sentences(reader))
    assert "not been audited" in topics["inferred"][0].text
    assert topics["answer"][0].text.startswith("Not audited yet")
    assert "blackbox" not in topics
    assert topics["confidence"][0].text.startswith("The auditors wrote 3 findings (3 high")


def test_every_topic_has_lead_words() -> None:
    assert set(get_args(Topic)) == set(TOPIC_WORDS)
