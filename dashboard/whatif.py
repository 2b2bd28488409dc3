"""Read-only queries for what-if runs: lineage, interventions, interviews, and where two runs diverge.

Like :mod:`dashboard.queries`, pure functions of read-only connections. They tolerate stores written
before forks existed: no lineage columns, no ``interviews`` table, no ``intervention`` events simply
give None or an empty frame. The contract (``mesaverse fork / inject / interview``):

- ``runs.parent_run_id``, ``runs.parent_dir``, ``runs.fork_tick``: NULL unless the run is a fork;
- ``interviews(id, tick, agent_id, question, answer, model, asked_at)``;
- ``events`` of kind ``intervention``: ``text`` an announcement, ``data_json``
  ``{"type": ..., "status": "applied" | "refused", "reason": ..., ...}``.
"""

from __future__ import annotations

import itertools
import json
import math
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from dashboard.queries import RunInfo, event_count

__all__ = [
    "DERIVED_COUNTS",
    "Divergence",
    "DivergenceScan",
    "find_parent",
    "has_table",
    "interventions",
    "interviews",
    "kind_counts",
    "place_centres",
]

#: Per-tick counts the overview derives from events when the store has no such metric (older stores).
DERIVED_COUNTS = {"messages": "say", "trades": "trade", "sanctions": "sanction"}

#: Metrics left out of the divergence check: serving telemetry (tokens/s, latency) differs between any
#: two runs of the same world, so it says nothing about whether the worlds diverged.
_TIMING_PREFIX = "llm."


def has_table(conn: sqlite3.Connection, name: str) -> bool:
    """Whether the store has table ``name`` (one lookup in sqlite_master)."""
    row = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)).fetchone()
    return row is not None


def find_parent(run: RunInfo, runs: Sequence[RunInfo]) -> RunInfo | None:
    """The run ``run`` was forked from, among ``runs``: by ``parent_dir`` (absolute, or relative to the
    runs folder or the fork's folder), else by ``parent_run_id``; None if not a fork or not listed."""
    if run.parent_run_id is None and run.parent_dir is None:
        return None
    folder = run.path.parent
    candidates: list[Path] = []
    if run.parent_dir:
        given = Path(run.parent_dir)
        candidates = [given] if given.is_absolute() else [folder.parent / given, folder / given, given]
    wanted = set()
    for c in candidates:
        try:
            wanted.add(c.resolve())
        except OSError:
            continue
    others = [r for r in runs if r.path != run.path]
    for other in others:
        if other.path.parent.resolve() in wanted:
            return other
    return next((r for r in others if r.run_id == run.parent_run_id), None)


def place_centres(conn: sqlite3.Connection) -> dict[str, tuple[float, float]]:
    """Each place's position from the run's config (``world.places.<name>.x/y``); {} when not given."""
    row = conn.execute("SELECT config_json FROM runs").fetchone()
    try:
        places = json.loads(row[0] or "{}").get("world", {}).get("places", {}) if row else {}
    except (json.JSONDecodeError, AttributeError):
        return {}
    centres: dict[str, tuple[float, float]] = {}
    if isinstance(places, dict):
        for name, spec in places.items():
            if isinstance(spec, dict) and all(isinstance(spec.get(k), (int, float)) for k in ("x", "y")):
                centres[str(name)] = (float(spec["x"]), float(spec["y"]))
    return centres


def interventions(conn: sqlite3.Connection, *, upto_id: int | None = None, limit: int = 200) -> pd.DataFrame:
    """Intervention events, newest first: id, tick, type, status, text, reason, details (the other keys).

    A range on the ``(kind, id)`` index; an empty frame for a run without interventions.
    """
    upto = event_count(conn) if upto_id is None else upto_id
    rows = conn.execute(
        "SELECT id, tick, text, data_json FROM events WHERE kind = 'intervention' AND id <= ?"
        " ORDER BY id DESC LIMIT ?",
        (upto, limit),
    ).fetchall()
    records = []
    for eid, tick, text, data_json in rows:
        try:
            data = json.loads(data_json or "{}")
        except json.JSONDecodeError:
            data = {}
        data = data if isinstance(data, dict) else {}
        rest = {k: v for k, v in data.items() if k not in ("type", "status", "reason")}
        records.append(
            {
                "id": eid,
                "tick": tick,
                "type": str(data.get("type", "")),
                "status": str(data.get("status", "applied")),
                "text": text or "",
                "reason": "" if data.get("reason") is None else str(data["reason"]),
                "details": json.dumps(rest, ensure_ascii=False, sort_keys=True) if rest else "",
            }
        )
    return pd.DataFrame(records, columns=["id", "tick", "type", "status", "text", "reason", "details"])


def interviews(
    conn: sqlite3.Connection, agent_id: int, *, upto_tick: int | None = None, limit: int = 50
) -> pd.DataFrame | None:
    """An avatar's interviews, newest first: tick, question, answer, model, asked_at.

    None when the store has no ``interviews`` table (a run older than ``mesaverse interview``).
    """
    if not has_table(conn, "interviews"):
        return None
    sql = "SELECT tick, question, answer, model, asked_at FROM interviews WHERE agent_id = ?"
    params: list[Any] = [agent_id]
    if upto_tick is not None:
        sql += " AND tick <= ?"
        params.append(upto_tick)
    return pd.read_sql_query(sql + " ORDER BY id DESC LIMIT ?", conn, params=[*params, limit])


def kind_counts(
    conn: sqlite3.Connection, counts: Mapping[str, str], *, after_id: int = 0, upto_id: int | None = None
) -> pd.DataFrame:
    """Events per tick of each kind, as a long ``tick, name, value`` frame (``counts``: name -> kind).

    Ranges on the ``(kind, id)`` index, so a live refresh reads only the new events of those kinds.
    Ticks without such events have no row.
    """
    if not counts:
        return pd.DataFrame(columns=["tick", "name", "value"])
    upto = event_count(conn) if upto_id is None else upto_id
    kinds = sorted(set(counts.values()))
    frame = pd.read_sql_query(
        f"SELECT tick, kind, COUNT(*) AS value FROM events WHERE kind IN ({','.join('?' * len(kinds))})"
        " AND id > ? AND id <= ? GROUP BY tick, kind",
        conn,
        params=[*kinds, after_id, upto],
    )
    parts = [frame[frame["kind"] == kind].assign(name=name) for name, kind in counts.items()]
    out = pd.concat(parts, ignore_index=True) if parts else frame.assign(name=[])
    return out[["tick", "name", "value"]].astype({"value": float}).sort_values(["name", "tick"])


# -- divergence of two runs --------------------------------------------------------------------------


@dataclass(frozen=True)
class Divergence:
    """The first tick at which two runs differ, what differs (``metric`` or ``events``), and how."""

    tick: int
    source: str
    what: str
    in_a: str
    in_b: str


def _first_tick(conn: sqlite3.Connection, table: str) -> int | None:
    return conn.execute(f"SELECT MIN(tick) FROM {table}").fetchone()[0]


def _first_tick_of(conn: sqlite3.Connection) -> int | None:
    """The first tick the run holds events or metrics of (two index lookups)."""
    known = [t for t in (_first_tick(conn, "events"), _first_tick(conn, "metrics")) if t is not None]
    return min(known, default=None)


def _last_id_through(conn: sqlite3.Connection, tick: int) -> int:
    """The last event id of tick ``tick`` or before (0 if none): one seek down the ``(tick)`` index."""
    row = conn.execute(
        "SELECT id FROM events WHERE tick <= ? ORDER BY tick DESC, id DESC LIMIT 1", (tick,)
    ).fetchone()
    return 0 if row is None else row[0]


def _rows(cursor: sqlite3.Cursor, size: int = 2000) -> Iterator[tuple[Any, ...]]:
    while chunk := cursor.fetchmany(size):
        yield from chunk


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return bool(a == b)


def _event_words(row: tuple[Any, ...] | None) -> str:
    if row is None:
        return "no more events"
    _, kind, actor, target, place, text, _ = row
    who = "" if actor is None else f" by {actor}"
    to = "" if target is None else f" to {target}"
    where = "" if place is None else f" at {place}"
    words = f": {text}" if text else ""
    return f"{kind}{who}{to}{where}{words}"[:200]


def _first_event_difference(
    a: sqlite3.Connection, b: sqlite3.Connection, lo: int, hi: int
) -> Divergence | None:
    """The first event of ticks ``lo..hi`` that is not the same in both runs (in id order), or None."""
    sql = (
        "SELECT tick, kind, actor, target, place, text, data_json FROM events"
        " WHERE id > ? AND id <= ? ORDER BY id"  # a rowid range: ids grow with the tick
    )
    rows_a = _rows(a.execute(sql, (_last_id_through(a, lo - 1), _last_id_through(a, hi))))
    rows_b = _rows(b.execute(sql, (_last_id_through(b, lo - 1), _last_id_through(b, hi))))
    for ra, rb in itertools.zip_longest(rows_a, rows_b):
        if ra != rb:
            tick = min(r[0] for r in (ra, rb) if r is not None)
            return Divergence(tick, "events", "the event stream", _event_words(ra), _event_words(rb))
    return None


def _first_metric_difference(
    a: sqlite3.Connection, b: sqlite3.Connection, lo: int, hi: int
) -> Divergence | None:
    """The first metric of ticks ``lo..hi`` (by tick, then name; ``llm.*`` left out) that differs, or None."""
    sql = (
        "SELECT tick, name, value FROM metrics WHERE tick >= ? AND tick <= ?"
        " AND NOT (name >= ? AND name < ?) ORDER BY tick, name"  # the (tick) index holds (tick, name)
    )
    skip = (_TIMING_PREFIX, _TIMING_PREFIX[:-1] + chr(ord(_TIMING_PREFIX[-1]) + 1))
    rows_a = _rows(a.execute(sql, (lo, hi, *skip)))
    rows_b = _rows(b.execute(sql, (lo, hi, *skip)))
    for ra, rb in itertools.zip_longest(rows_a, rows_b):
        if ra is not None and rb is not None and ra[:2] == rb[:2] and _same(ra[2], rb[2]):
            continue
        if ra is not None and rb is not None and ra[:2] == rb[:2]:
            return Divergence(ra[0], "metric", ra[1], format(ra[2], ".6g"), format(rb[2], ".6g"))
        # One run has a metric (or a tick) the other lacks: name the earlier of the two rows.
        first = min((r for r in (ra, rb) if r is not None), key=lambda r: (r[0], r[1]))
        in_a = "present" if ra is not None and ra[:2] == first[:2] else "absent"
        in_b = "present" if rb is not None and rb[:2] == first[:2] else "absent"
        return Divergence(first[0], "metric", first[1], in_a, in_b)
    return None


@dataclass
class DivergenceScan:
    """Where two runs first differ, found incrementally: each refresh compares only ticks not yet compared.

    Ticks are compared over the range both runs hold (from the later of their first ticks), up to the
    earlier of the two ticks shown, so a run that is merely ahead does not count as different. Once a
    difference is found it stays found; a store that shrank (a resumed run) starts the scan over.
    """

    checked_through: int | None = None
    metric: Divergence | None = None
    events: Divergence | None = None
    ends: tuple[int, int] = (0, 0)

    def refresh(
        self, a: sqlite3.Connection, b: sqlite3.Connection, tick_a: int, tick_b: int
    ) -> tuple[int | None, int]:
        """Compare the ticks up to ``min(tick_a, tick_b)`` not compared yet; returns the range ``(lo, hi)``
        compared so far (``lo`` None when the runs share no tick)."""
        ends = (event_count(a), event_count(b))
        if ends[0] < self.ends[0] or ends[1] < self.ends[1]:
            self.checked_through, self.metric, self.events = None, None, None
        self.ends = ends
        first_a, first_b = _first_tick_of(a), _first_tick_of(b)
        hi = min(tick_a, tick_b)
        if first_a is None or first_b is None:
            return None, hi
        lo = max(first_a, first_b)
        start = lo if self.checked_through is None else max(lo, self.checked_through + 1)
        if start <= hi:
            if self.metric is None:
                self.metric = _first_metric_difference(a, b, start, hi)
            if self.events is None:
                self.events = _first_event_difference(a, b, start, hi)
            self.checked_through = hi if self.checked_through is None else max(self.checked_through, hi)
        return lo, hi

    def first(self, upto: int) -> Divergence | None:
        """The earliest difference found at or before tick ``upto``, or None."""
        found = [d for d in (self.metric, self.events) if d is not None and d.tick <= upto]
        return min(found, key=lambda d: (d.tick, d.source != "metric"), default=None)
