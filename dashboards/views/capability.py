"""Capability: what the model can do, generation by generation, on the fixed evaluation pool:
solved tasks per domain and size with Wilson intervals, and plan lengths as whole distributions
(the paper's "plans grow longer" is read here, not from one extreme plan)."""

from __future__ import annotations

import streamlit as st

from iterdeploy.dashboards.data import display_summary
from iterdeploy.dashboards.figures import (
    capability_figure,
    deployment_figure,
    domain_figure,
    plan_length_distribution_figure,
    plan_length_figure,
    solved_figure,
    training_figure,
)
from iterdeploy.dashboards.views._common import PageContext, header, read


def render(ctx: PageContext) -> None:
    """Draw the Capability page."""
    data = header(ctx, "Capability")
    if data is None:
        return
    if data.headline is None:
        st.warning("No generation has been committed yet.")
        return
    summary = data.summary
    left, right = st.columns(2)
    left.plotly_chart(solved_figure(summary), key="solved")
    capability = read("capability", ctx.run_dir)
    if capability is not None:
        right.plotly_chart(capability_figure(capability), key="capability")
    several_domains = data.by_domain is not None and data.by_domain["domain"].nunique() > 1
    if several_domains:
        st.plotly_chart(domain_figure(data.by_domain), key="by_domain")
    left, right = st.columns(2)
    left.plotly_chart(plan_length_figure(summary), key="plan_length")
    lengths = read("plan_lengths", ctx.run_dir)
    if lengths is not None:
        right.plotly_chart(plan_length_distribution_figure(lengths), key="plan_length_distribution")
    left, right = st.columns(2)
    left.plotly_chart(training_figure(summary), key="train_size")
    right.plotly_chart(deployment_figure(summary), key="deployment")
    st.subheader("Summary per generation")
    # numbers only (no store text), so the static table's Markdown cells carry nothing to render
    st.table(display_summary(summary, several_domains=several_domains)
             .style.format(precision=2, na_rep="–"))
    if capability is not None and not capability.empty:
        with st.expander("Solved per generation, domain and size (with 95% Wilson intervals)"):
            st.dataframe(capability, hide_index=True)
