"""Projects: each shared project's progress, contributors and outcome."""

from __future__ import annotations

import streamlit as st

from dashboard import queries
from dashboard.charts import line_chart
from dashboard.panels import PanelContext
from sim.evaluation.metrics import COLLABORATION_KINDS, COLLABORATION_METRICS, collaboration, read_log

__all__ = ["render"]


def render(ctx: PanelContext) -> None:
    """Counts by outcome, then one row per project (project events are few: one indexed query)."""
    table = queries.projects(ctx.conn, upto_id=ctx.upto_id)
    outcomes = table["outcome"].value_counts()
    c1, c2, c3 = st.columns(3)
    c1.metric("Active", int(outcomes.get("active", 0)))
    c2.metric("Completed", int(outcomes.get("completed", 0)))
    c3.metric("Failed", int(outcomes.get("failed", 0)))
    _collaboration(ctx)
    if table.empty:
        st.info("No projects yet.")
        return
    st.dataframe(
        table.sort_values(["outcome", "last_tick"], ascending=[True, False]),
        hide_index=True,
        width="stretch",
        column_config={
            "progress": st.column_config.ProgressColumn(
                "progress", min_value=0.0, max_value=1.0, format="percent"
            ),
            "n_contributors": st.column_config.NumberColumn("contributors (n)"),
        },
    )


def _collaboration(ctx: PanelContext) -> None:
    """The evaluation's collaboration metrics at this moment (one definition: sim.evaluation.metrics),
    and the commons' level over time where the scenario has one."""
    log = read_log(
        ctx.conn, kinds=COLLABORATION_KINDS, metric_names=COLLABORATION_METRICS, upto_id=ctx.upto_id
    )
    m = collaboration(log)

    def shown(name: str, fmt: str) -> str:
        v = m[name]
        return "-" if v != v else fmt.format(v)

    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Completion rate", shown("coop.project_completion_rate", "{:.0%}"))
    c2.metric("Ticks to complete", shown("coop.ticks_to_completion", "{:.1f}"))
    c3.metric("Contributors / project", shown("coop.contributors_per_project", "{:.1f}"))
    c4.metric("Rewards to non-contributors", shown("coop.reward_to_non_contributors", "{:.0%}"))
    stocks = ctx.metrics(prefix="commons.")
    stocks = stocks[stocks["name"] != "commons.level"]
    if not stocks.empty:
        st.metric("Commons level (stock over start)", shown("commons.level_final", "{:.0%}"))
        stocks = stocks.assign(name=stocks["name"].str.removeprefix("commons."))
        st.altair_chart(line_chart(stocks, title="Commons stock over time"), width="stretch")
