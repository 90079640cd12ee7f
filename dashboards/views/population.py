"""Population: who curated. The social graph of a chosen generation (networkx laid out, drawn
with plotly), each user group's weight in A(τ), policy and published traces per generation, and
how the groups moved (policy adoptions, joins and departures recorded by the dynamics)."""

from __future__ import annotations

import streamlit as st

from iterdeploy.dashboards.figures import group_figure, population_figure, population_graph_figure
from iterdeploy.dashboards.views._common import PageContext, dataframe, header, read


def render(ctx: PageContext) -> None:
    """Draw the Population page."""
    data = header(ctx, "Population")
    if data is None:
        return
    population = read("population", ctx.run_dir)
    if population is None:
        return
    if population.empty:
        st.caption("No curation decisions or population records stored yet.")
        return
    recorded = sorted(int(g) for g in population.loc[population["n_members"].notna(), "generation"].unique())
    if recorded:
        generation = (st.select_slider("Generation of the social graph", recorded, value=recorded[-1])
                      if len(recorded) > 1 else recorded[0])
        graph = read("population_graph", ctx.run_dir, int(generation))
        st.plotly_chart(population_graph_figure(graph), key="graph")
        st.caption("One dot per user, coloured by group and sized by its weight in A(τ); a line is a "
                   "tie along which policies can spread.")
    else:
        st.caption("This run recorded no population (older stores): the groups below come from the "
                   "curation decisions alone.")
    st.plotly_chart(population_figure(population), key="population")
    if data.by_group is not None and data.by_group["group"].nunique() > 1:
        st.plotly_chart(group_figure(data.by_group), key="by_group")
    st.subheader("Each group, per generation")
    dataframe(population.rename(columns={"n_members": "members", "weight": "weight in A(τ)",
                                         "share": "share of tasks", "n_changes": "changes"}),
              column_config={"weight in A(τ)": st.column_config.NumberColumn(format="%.2f"),
                             "share of tasks": st.column_config.NumberColumn(format="%.2f")})
