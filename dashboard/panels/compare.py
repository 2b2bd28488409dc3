"""Compare two runs (a parent and its fork, or any two): metrics overlaid, fork and interventions marked,
and the first tick at which they differ, in words."""

from __future__ import annotations

import sqlite3

import pandas as pd
import streamlit as st

from dashboard import queries, whatif
from dashboard.charts import marked_lines
from dashboard.panels import PanelContext
from dashboard.panels.overview import KEY_METRICS, intervention_table
from dashboard.text import caption, html, show
from sim.errors import UserError

__all__ = ["PALETTE", "describe", "render"]

#: Run A's colour, then run B's (the legend above the charts uses the same).
PALETTE = ["#1f77b4", "#ff7f0e"]


def describe(d: whatif.Divergence | None, lo: int | None, hi: int) -> str:
    """The divergence in words (plain text: the caller escapes it)."""
    if lo is None:
        return "Nothing to compare yet: one of the runs has no ticks."
    if hi < lo:
        return (
            f"The runs share no tick yet (A and B hold different tick ranges; the later one starts at {lo})."
        )
    if d is None:
        return (
            f"No difference through tick {hi}: every event and metric of ticks {lo}–{hi} is the same in both."
        )
    if d.source == "metric":
        return f"They first differ at tick {d.tick}: metric {d.what} is {d.in_a} in A and {d.in_b} in B."
    return f"They first differ at tick {d.tick}, in the event stream: A has {d.in_a}; B has {d.in_b}."


def _fork_tick(a: queries.RunInfo, b: queries.RunInfo) -> int | None:
    """The fork tick that relates the two runs: the fork's, whichever of them is a fork (A's first)."""
    for run in (a, b):
        if run.fork_tick is not None:
            return run.fork_tick
    return None


def _moment(conn: sqlite3.Connection, cap: int | None) -> tuple[int | None, int]:
    """B's tick to show (its last, or ``cap`` in replay) and that tick's last event id."""
    last = conn.execute("SELECT last_tick FROM runs").fetchone()[0]
    if last is None:
        return None, 0
    tick = last if cap is None else min(last, cap)
    return tick, queries.max_id_at(conn, None if tick == last else tick)


def render(ctx: PanelContext) -> None:
    """Pick the other run (the parent, when this run is a fork), then the comparison."""
    others = [r for r in ctx.runs if r.path != ctx.run.path and r.error is None]
    if not others:
        st.info(
            "There is no other run to compare with. Fork this one:\n\n"
            "```\nmesaverse fork RUN_DIR --at-tick T --events FILE.yaml\n```"
        )
        return
    parent = whatif.find_parent(ctx.run, others)
    default = others.index(parent) if parent is not None else 0
    labels = [("parent: " if r is parent else "") + r.label for r in others]
    choice = st.selectbox(
        "Compare with",
        range(len(others)),
        index=default,
        format_func=labels.__getitem__,
        key=f"compare_with:{ctx.run.path}",
    )
    other = others[choice]
    try:
        conn_b = queries.open_store(other.path)
    except UserError as exc:
        st.error("Cannot read the other run.")
        st.text(str(exc))
        return
    try:
        conn_b.execute("BEGIN")  # one snapshot of B for every query below
        tick_b, upto_b = _moment(conn_b, None if ctx.live else ctx.tick)
        _compare(ctx, other, conn_b, tick_b, upto_b)
    finally:
        conn_b.close()


def _compare(
    ctx: PanelContext, other: queries.RunInfo, conn_b: sqlite3.Connection, tick_b: int | None, upto_b: int
) -> None:
    a_label, b_label = f"A · {ctx.run.run_id}", f"B · {other.run_id}"
    show(
        html(
            '<p><span style="color:{}">■</span> <b>A</b> {} (the run picked in the sidebar)<br>'
            '<span style="color:{}">■</span> <b>B</b> {}{}</p>',
            PALETTE[0],
            ctx.run.run_id,
            PALETTE[1],
            other.run_id,
            " (A's parent)" if whatif.find_parent(ctx.run, [other]) is not None else "",
        )
    )
    if tick_b is None:
        st.info("B has no ticks yet.")
        return

    scan = ctx.state.get(f"divergence:{ctx.run.path}:{other.path}")
    if not isinstance(scan, whatif.DivergenceScan):
        scan = whatif.DivergenceScan()
        ctx.state[f"divergence:{ctx.run.path}:{other.path}"] = scan
    lo, hi = scan.refresh(ctx.conn, conn_b, ctx.tick, tick_b)
    first = scan.first(hi)
    fork = _fork_tick(ctx.run, other)
    c1, c2, c3 = st.columns(3)
    c1.metric("Fork tick", "–" if fork is None else str(fork))
    c2.metric("First difference", "none" if first is None else f"tick {first.tick}")
    c3.metric("Ticks compared", "–" if lo is None or hi < lo else f"{lo}–{hi}")
    show(html('<p class="mv-divergence">{}</p>', describe(first, lo, hi)))
    later = [d for d in (scan.metric, scan.events) if d is not None and d is not first and d.tick <= hi]
    if first is not None and later:
        # Run text (event words): an escaped template, never st.caption's Markdown.
        caption(
            html(
                "{}",
                describe(later[0], lo, hi).replace("They first differ", "The other stream first differs"),
            )
        )
    st.caption(
        "Serving telemetry (llm.* metrics) is left out of the comparison: it differs between any two runs."
    )

    names_a, names_b = queries.metric_names(ctx.conn), set(queries.metric_names(conn_b))
    common = [n for n in names_a if n in names_b]
    preferred = [name for _, name in KEY_METRICS if name in common] or common[:6]
    chosen = st.multiselect("Metrics", common, default=preferred, key="compare_metrics")
    actions = pd.concat(
        [
            whatif.interventions(ctx.conn, upto_id=ctx.upto_id).assign(run="A"),
            whatif.interventions(conn_b, upto_id=upto_b).assign(run="B"),
        ],
        ignore_index=True,
    )
    rows = [] if fork is None else [{"tick": fork, "mark": "fork"}]
    if first is not None:
        rows.append({"tick": first.tick, "mark": "first difference"})
    applied = actions[actions["status"] == "applied"]
    rows += [
        {"tick": int(t), "mark": f"{r} intervention: {k}"}
        for t, r, k in zip(applied["tick"], applied["run"], applied["type"], strict=True)
    ]
    rules = pd.DataFrame(rows, columns=["tick", "mark"])
    if chosen:
        series = pd.concat(
            [
                queries.metric_series(ctx.conn, chosen, upto_tick=ctx.tick).assign(run=a_label),
                queries.metric_series(conn_b, chosen, upto_tick=tick_b).assign(run=b_label),
            ],
            ignore_index=True,
        )
        columns = st.columns(2)
        for i, name in enumerate(chosen):
            part = series[series["name"] == name]
            marked_lines(columns[i % 2], part, rules, title=name, colour="run", height=200, palette=PALETTE)
    st.markdown("**Interventions of both runs**")
    if actions.empty:
        st.caption("Neither run has interventions.")
    else:
        show(intervention_table(actions))
