"""LLM serving: throughput, requests, batch sizes, latency, queue depth, per replica when several."""

from __future__ import annotations

import streamlit as st

from dashboard.charts import line_chart
from dashboard.panels import PanelContext

__all__ = ["render"]

_CHARTS = (
    ("Tokens per second", ("llm.tokens_per_s",)),
    ("Requests per tick", ("llm.requests",)),
    ("Mean batch size", ("llm.batch_size_mean",)),
    ("Latency (s)", ("llm.latency_p50", "llm.latency_p95")),
    ("Queue depth", ("llm.queue_depth",)),
    ("Tokens per tick", ("llm.prompt_tokens", "llm.completion_tokens", "llm.cached_tokens")),
)


def render(ctx: PanelContext) -> None:
    """Latest figures, then one chart per quantity and per-replica throughput."""
    frame = ctx.metrics(prefix="llm.")
    if frame.empty:
        st.info("No LLM metrics in this run (rule-based avatars only, or no tick written yet).")
        return
    latest = {name: ctx.latest(frame, name) for name in frame["name"].unique()}

    def show(name: str, spec: str) -> str:
        value = latest.get(name)
        return "–" if value is None else format(value, spec)

    c1, c2, c3, c4, c5 = st.columns(5)
    c1.metric("Tokens/s", show("llm.tokens_per_s", ",.1f"))
    c2.metric("Requests", show("llm.requests", ",.0f"))
    c3.metric("Batch size", show("llm.batch_size_mean", ".1f"))
    c4.metric("Latency p50 / p95 (s)", f"{show('llm.latency_p50', '.2f')} / {show('llm.latency_p95', '.2f')}")
    c5.metric("Queue depth", show("llm.queue_depth", ",.0f"))

    columns = st.columns(2)
    for i, (title, names) in enumerate(_CHARTS):
        part = frame[frame["name"].isin(names)]
        if not part.empty:
            columns[i % 2].altair_chart(
                line_chart(part.assign(name=part["name"].str.removeprefix("llm.")), title=title),
                width="stretch",
            )
    replicas = frame[frame["name"].str.startswith("llm.replica.")]
    if not replicas.empty:
        replicas = replicas.assign(
            name=replicas["name"].str.extract(r"llm\.replica\.([^.]+)\.")[0].radd("replica ")
        )
        st.altair_chart(line_chart(replicas, title="Tokens per second per replica"), width="stretch")
