"""The dashboard's panels: each module has ``render(ctx: PanelContext) -> None``.

A panel reads the store only through :mod:`dashboard.queries`, and in live mode only what is new,
through the trackers of :mod:`dashboard.live` kept in ``ctx.state``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import pandas as pd

from dashboard import live, queries
from dashboard.queries import RunInfo

__all__ = ["PANELS", "PanelContext", "snapshot_context"]

T = TypeVar("T")


@dataclass
class PanelContext:
    """What a panel needs: the open store, the run, and which moment of it to show.

    ``tick`` is the tick shown (the newest in live mode, the slider's in replay) and ``upto_id`` the
    last event id of that tick, so every query stops at the same moment. ``runs`` is the run list
    the sidebar shows (the compare view picks the other run from it).
    """

    conn: sqlite3.Connection
    run: RunInfo
    tick: int
    upto_id: int
    live: bool
    state: MutableMapping[str, Any]
    runs: tuple[RunInfo, ...] = ()

    def tracker(self, name: str, make: Callable[[], T]) -> T:
        """A live tracker for this run (see :func:`dashboard.live.tracker`)."""
        return live.tracker(self.state, f"live:{self.run.path}:{name}", make, store_end=self.upto_id)

    def metrics(self, names: tuple[str, ...] = (), prefix: str | None = None) -> pd.DataFrame:
        """A metric frame up to ``tick``: grown incrementally in live mode, one query in replay."""
        if not self.live:
            return queries.metric_series(self.conn, names, prefix=prefix, upto_tick=self.tick)
        tail = self.tracker(f"metrics:{names}:{prefix}", live.MetricTail)
        return tail.refresh(
            lambda after: queries.metric_series(self.conn, names, prefix=prefix, after_tick=after),
            self.upto_id,
        )

    def latest(self, frame: pd.DataFrame, name: str) -> float | None:
        """The last value of metric ``name`` in a long frame, or None."""
        rows = frame[frame["name"] == name]
        if rows.empty:
            return None
        value = rows.sort_values("tick")["value"].iloc[-1]
        return None if pd.isna(value) else float(value)


def snapshot_context(
    conn: sqlite3.Connection,
    run: RunInfo,
    *,
    live: bool,
    replay_tick: int | None,
    state: MutableMapping[Any, Any],  # Streamlit's session state: str or int keys
    runs: Sequence[RunInfo] = (),
) -> PanelContext | None:
    """Begin one read snapshot on ``conn`` and fix the moment to show; None if no tick was written yet.

    The caller closes ``conn`` (which ends the read transaction). In live mode the moment is the last
    committed tick; in replay, ``replay_tick`` (capped at the last tick).
    """
    conn.execute("BEGIN")  # deferred: the snapshot starts at the first read and holds for every query
    last_tick = conn.execute("SELECT last_tick FROM runs").fetchone()[0]
    if last_tick is None:
        return None
    tick = last_tick if live or replay_tick is None else min(replay_tick, last_tick)
    upto_id = queries.max_id_at(conn, None if tick == last_tick else tick)
    return PanelContext(
        conn=conn, run=run, tick=tick, upto_id=upto_id, live=live, state=state, runs=tuple(runs)
    )


def _registry() -> dict[str, Callable[[PanelContext], None]]:
    from dashboard.panels import (
        compare,
        dialogue,
        economy,
        inspector,
        llm,
        moderation,
        overview,
        projects,
        social,
        world_map,
    )

    # The first entry is the page that opens first.
    return {
        "Overview": overview.render,
        "World map": world_map.render,
        "Dialogue": dialogue.render,
        "Economy": economy.render,
        "Social graph": social.render,
        "Moderation": moderation.render,
        "Projects": projects.render,
        "LLM serving": llm.render,
        "Avatar inspector": inspector.render,
        "Compare runs": compare.render,
    }


PANELS: dict[str, Callable[[PanelContext], None]] = _registry()
