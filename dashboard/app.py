"""The mesaverse dashboard (Streamlit): ``mesaverse dashboard`` runs this file.

    python -m streamlit run dashboard/app.py -- --runs runs [--refresh 1.5]

The sidebar picks a run (newest first), live or replay mode, and a panel. Only the chosen panel is
drawn, inside a fragment that reruns on its own every ``--refresh`` seconds in live mode, so a refresh
costs one panel's incremental queries. Every query runs inside one read transaction: all figures of a
refresh come from the same committed tick. The app reads the event store only, read-only.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
from pathlib import Path

# `streamlit run dashboard/app.py` puts dashboard/ on sys.path, not the repository root.
_ROOT = Path(__file__).resolve().parent.parent
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

import streamlit as st  # noqa: E402

from dashboard import queries, text  # noqa: E402
from dashboard.panels import PANELS, snapshot_context  # noqa: E402
from sim.errors import UserError  # noqa: E402

RUNS_ENV = "MESAVERSE_RUNS_DIR"
DEFAULT_REFRESH_S = 1.5


def parse_args(argv: list[str]) -> argparse.Namespace:
    """``--runs DIR`` and ``--refresh S`` after streamlit's ``--``; ``$MESAVERSE_RUNS_DIR`` otherwise (tests)."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--runs", default=os.environ.get(RUNS_ENV, "runs"))
    parser.add_argument(
        "--refresh", type=float, default=float(os.environ.get("MESAVERSE_REFRESH_S", DEFAULT_REFRESH_S))
    )
    args, _ = parser.parse_known_args(argv)
    return args


def _tick_bounds(conn: sqlite3.Connection) -> tuple[int | None, int | None]:
    """First and last tick written (each an index lookup)."""
    first = [
        conn.execute(f"SELECT MIN(tick) FROM {table}").fetchone()[0]
        for table in ("events", "metrics", "agent_state")
    ]
    last = conn.execute("SELECT last_tick FROM runs").fetchone()[0]
    known = [t for t in first if t is not None]
    return (min(known) if known else last), last


def _no_runs(runs_dir: Path) -> None:
    st.title("mesaverse")
    where = "does not exist yet" if not runs_dir.exists() else "has no runs yet"
    st.info(
        f"The runs folder {where}. Start a simulation in another terminal:\n\n"
        "```\nmesaverse run configs/town.yaml\n```\n\n"
        "then reload this page (or serve another folder: `mesaverse dashboard --runs DIR`)."
    )
    st.text(f"runs folder: {runs_dir}")


def _cannot_read(message: str, detail: object) -> None:
    """An error box with a fixed message; the detail (paths, run ids, SQLite's words) below it as text."""
    st.error(message)
    st.text(str(detail))


def _show_panel(
    run: queries.RunInfo,
    panel: str,
    replay_tick: int | None,
    live: bool,
    runs: list[queries.RunInfo],
) -> None:
    """Open the store, take one read snapshot, and draw the chosen panel from it."""
    try:
        conn = queries.open_store(run.path)
    except UserError as exc:
        _cannot_read("Cannot read this run.", exc)
        return
    try:
        ctx = snapshot_context(
            conn, run, live=live, replay_tick=replay_tick, state=st.session_state, runs=runs
        )
        if ctx is None:
            st.info(
                "This run has no ticks yet: it is starting, the page updates on its own."
                if live
                else "This run recorded no ticks (no events, metrics or avatar states)."
            )
            return
        status, last_tick = conn.execute("SELECT status, last_tick FROM runs").fetchone()
        mode = "live" if live else "replay"
        text.caption(
            text.html(
                "<b>{}</b> · {} · seed {} · {} · {} at tick <b>{}</b> of {} · {} events{}",
                run.run_id,
                run.scenario,
                run.seed,
                status,
                mode,
                ctx.tick,
                last_tick,
                f"{ctx.upto_id:,}",
                text.html("")
                if run.parent_run_id is None
                else text.html(" · fork of <b>{}</b> at tick {}", run.parent_run_id, run.fork_tick),
            )
        )
        PANELS[panel](ctx)
    except sqlite3.DatabaseError as exc:
        _cannot_read("Cannot read this run.", f"{run.path}: {exc}")
    finally:
        conn.close()


def main() -> None:
    """The page: sidebar choices, then the panel fragment."""
    st.set_page_config(page_title="mesaverse", layout="wide")
    args = parse_args(sys.argv[1:])
    runs_dir = Path(args.runs)
    runs = queries.list_runs(runs_dir)
    if not runs:
        _no_runs(runs_dir)
        return

    side = st.sidebar
    side.title("mesaverse")
    labels = [r.label for r in runs]
    choice = side.selectbox("Run", range(len(runs)), format_func=labels.__getitem__, key="run")
    run = runs[choice]
    if side.button("Refresh run list"):
        st.rerun()
    if run.error:
        _cannot_read("Cannot read this run.", run.error)
        return

    modes = ["Live", "Replay"] if run.live else ["Replay"]
    mode = side.radio("Mode", modes, key=f"mode:{run.live}", horizontal=True)
    live = mode == "Live"
    paused = side.toggle("Pause", key="paused") if live else False
    panel = side.radio("Panel", list(PANELS), key="panel")

    replay_tick: int | None = None
    if not live:
        try:
            conn = queries.open_store(run.path)
            try:
                first, last = _tick_bounds(conn)
            finally:
                conn.close()
        except (UserError, sqlite3.DatabaseError) as exc:
            _cannot_read("Cannot read this run.", exc)
            return
        if first is not None and last is not None and last > first:
            replay_tick = side.slider("Tick", first, last, value=last, key=f"tick:{run.path}")
        elif last is not None:
            replay_tick = last
            side.caption(f"One tick recorded: {last}.")

    run_every = args.refresh if live and not paused else None

    @st.fragment(run_every=run_every)
    def panel_fragment() -> None:
        _show_panel(run, panel, replay_tick, live, runs)

    st.header(panel)
    panel_fragment()


main()
