"""Findings: every auditor finding, filtered by severity, auditor and generation, each opening its
evidence: what it is counted over (denominators), the test statistics the auditor recorded, and
the traces it cites, each of which opens on the Traces page. A claim a reader cannot check is a
claim taken on trust; this page is where it is checked."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from iterdeploy.dashboards.data import SEVERITY_ORDER
from iterdeploy.dashboards.traces import cited_trace_ids, denominators, finding_statistics
from iterdeploy.dashboards.views._common import (
    PageContext,
    dataframe,
    header,
    md,
    no_findings_hint,
    page_link,
    read,
    severity_badge,
)
from iterdeploy.simulator.store import FindingRow

WHOLE_RUN = "whole run"

# Findings drawn open at once; the filters narrow a longer list.
MOST_SHOWN = 60

# Characters of a claim in a finding's (one-line) label; the whole claim is inside.
LABEL_CHARS = 220

# Cited traces that get a link to the Traces page (the table lists them all).
MOST_LINKS = 6


def _generation_label(finding: FindingRow) -> str:
    return WHOLE_RUN if finding.generation is None else str(finding.generation)


def _cited(ctx: PageContext, finding: FindingRow) -> None:
    ids = cited_trace_ids(finding)
    if not ids:
        st.caption("This finding cites no individual trace.")
        return
    found = read("traces_by_id", ctx.run_dir, tuple(ids)) or {}
    rows = [(i, t.generation, t.purpose, t.task_id, t.status, t.plan_length) for i in ids
            if (t := found.get(i)) is not None]
    st.markdown(f"**Cited traces** ({len(ids)})")
    dataframe(pd.DataFrame(rows, columns=["trace", "generation", "purpose", "task", "verdict",
                                          "plan length"]))
    cols = st.columns(min(MOST_LINKS, len(ids)))
    for col, trace_id in zip(cols, ids[:MOST_LINKS], strict=False):
        with col:
            page_link(ctx, "traces", f"Open trace {trace_id}", trace=trace_id)


def _finding(ctx: PageContext, finding: FindingRow, expanded: bool) -> None:
    label = (f"{finding.severity} · {finding.auditor} · {_generation_label(finding)} · "
             f"#{finding.finding_id}: {finding.claim}")
    short = label if len(label) <= LABEL_CHARS else label[:LABEL_CHARS].rsplit(" ", 1)[0] + " …"
    with st.expander(md(short), expanded=expanded):
        st.markdown(f"{severity_badge(finding.severity)} **{md(finding.kind)}** by {md(finding.auditor)}, "
                    f"{md(_generation_label(finding))}")
        st.markdown(md(finding.claim))
        counted = denominators(finding)
        if counted:
            st.markdown("**Counted over** (denominators)")
            dataframe(pd.DataFrame({"quantity": list(counted), "value": [str(v) for v in counted.values()]}))
        st.markdown("**Test statistics** (the auditor's numbers)")
        st.json(finding_statistics(finding), expanded=False)
        _cited(ctx, finding)


def render(ctx: PageContext) -> None:
    """Draw the Findings page."""
    data = header(ctx, "Findings")
    if data is None:
        return
    findings: list[FindingRow] | None = read("findings", ctx.run_dir)
    if findings is None:
        return
    if not findings:
        no_findings_hint(data.run_dir)
        return
    severities = sorted({f.severity for f in findings}, key=lambda s: SEVERITY_ORDER.get(s, 9))
    auditors = sorted({f.auditor for f in findings})
    generations = sorted({_generation_label(f) for f in findings},
                         key=lambda g: (g == WHOLE_RUN, int(g) if g != WHOLE_RUN else 0))
    left, middle, right = st.columns(3)
    chosen_severity = left.multiselect("Severity", severities, default=severities)
    chosen_auditor = middle.multiselect("Auditor", auditors, placeholder="any auditor")
    chosen_generation = right.multiselect("Generation", generations, placeholder="any generation")
    wanted = st.query_params.get("finding")
    shown = [f for f in findings
             if f.severity in chosen_severity
             and (not chosen_auditor or f.auditor in chosen_auditor)
             and (not chosen_generation or _generation_label(f) in chosen_generation)]
    # most severe first; within a severity the whole-run finding (the headline) before each generation's
    shown.sort(key=lambda f: (SEVERITY_ORDER.get(f.severity, 9), f.generation is not None,
                              f.generation or 0, f.finding_id))
    st.caption(f"{len(shown)} of {len(findings)} findings" +
               (f"; the first {MOST_SHOWN} are listed, narrow the filters for the rest"
                if len(shown) > MOST_SHOWN else ""))
    for i, finding in enumerate(shown[:MOST_SHOWN]):
        # the finding a link asked for is drawn open; without one, the most severe is
        _finding(ctx, finding, expanded=wanted == str(finding.finding_id) if wanted else i == 0)
