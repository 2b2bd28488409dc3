"""Moderation: decisions with rule, evidence and sanction; counts by rule; precision and recall."""

from __future__ import annotations

import math

import streamlit as st

from dashboard import live, queries
from dashboard.panels import PanelContext
from sim.store import DetectionScores

__all__ = ["precision_recall", "render"]


def precision_recall(counts: dict[str, int]) -> tuple[float | None, float | None]:
    """Precision and recall of flagging against ground truth (None where undefined), as the store's
    :class:`~sim.store.DetectionScores` define them."""
    scores = DetectionScores(counts["tp"], counts["fp"], counts["fn"])
    return _defined(scores.precision), _defined(scores.recall)


def _defined(value: float) -> float | None:
    return None if math.isnan(value) else value


def render(ctx: PanelContext) -> None:
    """Figures, counts by rule, precision/recall where labelled, and the log."""
    by_rule = queries.moderation_counts(ctx.conn, upto_id=ctx.upto_id)

    def fetch(after_id: int) -> dict[str, int]:
        return queries.moderation_confusion(ctx.conn, after_id=after_id, upto_id=ctx.upto_id)

    tally = ctx.tracker("confusion", live.ConfusionTally) if ctx.live else live.ConfusionTally()
    counts = tally.refresh(fetch, ctx.upto_id)
    precision, recall = precision_recall(counts)

    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Decisions", f"{int(by_rule['decisions'].sum()):,}")
    c2.metric("Sanctioned", f"{int(by_rule['sanctioned'].sum()):,}")
    if counts["labelled"]:
        c3.metric("Precision", "–" if precision is None else f"{precision:.2f}")
        c4.metric("Recall", "–" if recall is None else f"{recall:.2f}")
        st.caption(
            f"Against the scenario's ground truth on {counts['labelled']:,} labelled messages: "
            f"{counts['tp']} caught, {counts['fp']} false alarms, {counts['fn']} missed."
        )
    else:
        c3.metric("Precision", "n/a")
        c4.metric("Recall", "n/a")
        st.caption("This scenario has no ground truth labels, so precision and recall are not defined.")

    if by_rule.empty:
        st.info("No moderation decisions yet.")
        return
    st.subheader("By rule")
    st.bar_chart(by_rule, x="rule", y="decisions", height=200)
    st.dataframe(by_rule, hide_index=True, width="stretch")
    st.subheader("Decisions")
    log = queries.moderation_log(ctx.conn, upto_id=ctx.upto_id)
    st.dataframe(log.drop(columns=["id"]), hide_index=True, width="stretch")
