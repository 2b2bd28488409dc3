"""Economy: prices, trade volume, wealth distribution and its Gini, the treasury, the latest trades."""

from __future__ import annotations

import streamlit as st

from dashboard import live, queries
from dashboard.charts import histogram, line_chart
from dashboard.panels import PanelContext

__all__ = ["render"]


def _fmt(value: float | None, spec: str = ",.2f") -> str:
    return "–" if value is None else format(value, spec)


def render(ctx: PanelContext) -> None:
    """Headline figures, then the charts and the latest trades."""
    core = ctx.metrics(("trades", "trade_volume", "gini", "top10_share", "treasury", "coins_total"))
    prices = ctx.metrics(prefix="price.")
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Gini", _fmt(ctx.latest(core, "gini"), ".3f"))
    c2.metric("Treasury", _fmt(ctx.latest(core, "treasury")))
    c3.metric("Trades this tick", _fmt(ctx.latest(core, "trades"), ",.0f"))
    c4.metric("Trade volume this tick", _fmt(ctx.latest(core, "trade_volume")))

    left, right = st.columns(2)
    if not prices.empty:
        left.altair_chart(
            line_chart(prices.assign(name=prices["name"].str.removeprefix("price.")), title="Price per item"),
            width="stretch",
        )
    else:
        left.info("No prices recorded yet.")
    volume = core[core["name"].isin(["trade_volume", "trades"])]
    if not volume.empty:
        right.altair_chart(line_chart(volume, title="Trades and volume per tick"), width="stretch")
    inequality = core[core["name"].isin(["gini", "top10_share"])]
    if not inequality.empty:
        left.altair_chart(line_chart(inequality, title="Inequality over time"), width="stretch")
    treasury = core[core["name"] == "treasury"]
    if not treasury.empty:
        right.altair_chart(line_chart(treasury, title="Treasury"), width="stretch")

    world = queries.world_at(ctx.conn, ctx.tick)
    if not world.empty:
        st.altair_chart(
            histogram(world, "coins", title=f"Wealth distribution at tick {ctx.tick}"), width="stretch"
        )

    st.subheader("Latest trades")
    if ctx.live:
        tail = ctx.tracker("trades", lambda: live.RowTail(limit=50))
        tail.refresh(lambda after: queries.trades(ctx.conn, after_id=after, upto_id=ctx.upto_id, limit=50))
        latest = tail.rows
    else:
        latest = queries.trades(ctx.conn, upto_id=ctx.upto_id, limit=50)
    if latest is None or latest.empty:
        st.info("No trades yet.")
    else:
        st.dataframe(latest.drop(columns=["id"]), hide_index=True, width="stretch")
