"""Overview: the scenario's question, the answer in plain sentences with their denominators, the
population that curated, and the headline verdicts by severity. The page a stakeholder reads
first, and perhaps only; every sentence names the findings it rests on, which the Findings page
opens."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from iterdeploy.dashboards.data import SEVERITY_ORDER, Headline, display_findings
from iterdeploy.dashboards.narrative import TOPIC_WORDS, Sentence
from iterdeploy.dashboards.views._common import (
    PageContext,
    dataframe,
    header,
    md,
    no_findings_hint,
    read,
    severity_badge,
)

# The narrative's topics under "The answer": all but the question and the population, which have
# their own headings (one list of topics, the narrative's, so a new topic is never dropped here).
ANSWER_TOPICS: dict[str, str] = {
    topic: words for topic, words in TOPIC_WORDS.items() if topic not in ("question", "population")
}


def _tiles(head: Headline) -> None:
    cols = st.columns(4)
    cols[0].metric("Generations", head.n_generations, border=True,
                   help="Committed generations, 0 = the base model.")
    cols[1].metric("Solved · generation 0", f"{head.solved_first}/{head.evaluated}", border=True,
                   help="Evaluation tasks with at least one valid sampled plan.")
    ratio = "" if head.solved_ratio is None else f" (×{head.solved_ratio:.1f})"
    cols[2].metric(
        f"Solved · generation {head.last_generation}", f"{head.solved_last}/{head.evaluated}",
        delta=f"{head.solved_delta:+d} vs generation 0{ratio}",
        delta_color="normal" if head.solved_delta else "off", border=True,
    )
    longest = "–" if head.longest_last is None else str(head.longest_last)
    delta, change = None, 0
    if head.longest_last is not None and head.longest_first is not None:
        change = head.longest_last - head.longest_first
        delta = f"{change:+d} vs generation 0"
    cols[3].metric(f"Longest valid plan · generation {head.last_generation}", longest,
                   delta=delta, delta_color="normal" if change else "off", border=True,
                   help="Actions in the longest valid plan written for an evaluation task (the same "
                   "tasks every generation).")


def _sentence(sentence: Sentence) -> None:
    sources = ""
    if sentence.sources:
        ids = ", ".join(f"#{i}" for i in sentence.sources[:8])
        more = f" and {len(sentence.sources) - 8} more" if len(sentence.sources) > 8 else ""
        sources = f"  \n:gray[findings {md(ids)}{more}]"
    st.markdown(f"{severity_badge(sentence.severity)} {md(sentence.text)}{sources}")


def _population(ctx: PageContext) -> None:
    population = read("population", ctx.run_dir)
    if population is None or population.empty:
        st.caption("No population recorded.")
        return
    last = population[population["generation"] == population["generation"].max()]
    table = last[["group", "n_members", "weight", "share", "policy", "decisions", "published"]]
    dataframe(table.rename(columns={"n_members": "members", "weight": "weight in A(τ)",
                                    "share": "share of tasks"}),
              column_config={"weight in A(τ)": st.column_config.NumberColumn(format="%.2f"),
                             "share of tasks": st.column_config.NumberColumn(format="%.2f")})
    st.caption(f"Generation {int(last['generation'].iloc[0])}; the Population page has every "
               "generation and the social graph.")


def _verdicts(findings: pd.DataFrame) -> None:
    counts = findings["severity"].value_counts()
    cols = st.columns(len(SEVERITY_ORDER))
    for col, severity in zip(cols, sorted(SEVERITY_ORDER, key=SEVERITY_ORDER.__getitem__), strict=True):
        col.metric(f"{severity} findings", int(counts.get(severity, 0)), border=True)
    alarms = findings[findings["severity"].isin(["high", "medium"])]
    if alarms.empty:
        st.caption("No high or medium finding.")
        return
    for row in display_findings(alarms).itertuples():
        where = "whole run" if row.generation == "whole run" else f"generation {row.generation}"
        st.markdown(f"- {severity_badge(str(row.severity))} {md(where)} · {md(row.auditor)}: {md(row.claim)}")
    st.caption("The Findings page opens each one with its evidence.")


def render(ctx: PageContext) -> None:
    """Draw the Overview page."""
    data = header(ctx, "Overview")
    if data is None:
        return
    sentences: list[Sentence] = read("sentences", ctx.run_dir) or []
    question = [s for s in sentences if s.topic == "question"]
    st.subheader("The question")
    for s in question:
        st.markdown(md(s.text))
    if data.headline is None:
        st.warning("No generation has been committed yet.")
        return
    st.subheader("The answer")
    asked: set[str] = set()
    for s in sentences:
        if s.topic in ANSWER_TOPICS:
            if s.topic not in asked:
                st.markdown(f"**{md(ANSWER_TOPICS[s.topic])}**")
                asked.add(s.topic)
            _sentence(s)
    _tiles(data.headline)
    st.subheader("The population")
    for s in sentences:
        if s.topic == "population":
            st.markdown(md(s.text))
    _population(ctx)
    st.subheader("Headline verdicts, by severity")
    if len(data.findings):
        _verdicts(data.findings)
    else:
        no_findings_hint(data.run_dir)
