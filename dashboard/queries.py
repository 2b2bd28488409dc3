"""Read-only queries on a run's event store: everything the dashboard shows comes through here.

Pure functions of a read-only ``sqlite3.Connection`` (from :func:`open_store`) returning plain values or
pandas DataFrames, so they are tested without Streamlit and timed by ``mesaverse bench dashboard``.

Two ideas keep them cheap on a store of millions of events:

- ``events.id`` grows with the tick (one writer, ticks in order, truncation only drops the tail), so
  "as it was at tick T" is ``id <= max_id_at(T)`` and "new since the last refresh" is ``id > last_id``:
  both are ranges on an index (``events_by_kind(kind, id)``, ``events_by_actor(actor, id)``...).
- The world at a tick is the latest ``agent_state`` snapshot at or before it: one index seek, then one
  snapshot's rows.

The event ``data_json`` keys read here are listed in docs/dashboard.md.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from sim.errors import UserError
from sim.store import connect_readonly, moderation_scores

__all__ = [
    "SOCIAL_KINDS",
    "RunInfo",
    "agent_history",
    "agent_profile",
    "agents_table",
    "dialogue",
    "edges",
    "event_count",
    "events_after",
    "list_runs",
    "max_id_at",
    "metric_names",
    "metric_series",
    "moderation_confusion",
    "moderation_counts",
    "moderation_log",
    "open_store",
    "projects",
    "run_info",
    "strongest_ties",
    "trades",
    "world_at",
]

#: Event kinds between two avatars that count as a social tie (the store has no edge table).
SOCIAL_KINDS = ("say", "give", "offer", "accept", "trade", "project_join", "project_contribute")

#: A run whose status is still "running" but whose file has not changed for this long was probably killed.
STALE_AFTER_S = 300.0

_PROJECT_KINDS = (
    "project_propose",
    "project_join",
    "project_contribute",
    "project_complete",
    "project_fail",
)


def _in(values: Sequence[str]) -> str:
    """SQL placeholders for an IN list."""
    return ",".join("?" * len(values))


def _loads(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


# -- runs ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunInfo:
    """One run folder as the run list shows it. ``error`` is set when its store cannot be read."""

    run_id: str
    path: Path
    status: str
    scenario: str = ""
    seed: int | None = None
    started_at: str = ""
    finished_at: str | None = None
    last_tick: int | None = None
    updated_at: float = 0.0
    error: str | None = None
    # A fork's lineage (runs.parent_run_id, parent_dir, fork_tick); None for a run that is not a fork,
    # and for stores older than those columns.
    parent_run_id: str | None = None
    parent_dir: str | None = None
    fork_tick: int | None = None

    @property
    def label(self) -> str:
        """``run_id - status - tick N`` for the run picker, and ``- fork of P at tick T`` for a fork."""
        fork = (
            "" if self.parent_run_id is None else f" - fork of {self.parent_run_id} at tick {self.fork_tick}"
        )
        if self.error or self.live:  # a live run's tick would be stale at once: the panel caption has it
            return f"{self.run_id} - {self.status}{fork}"
        tick = "no ticks" if self.last_tick is None else f"tick {self.last_tick}"
        return f"{self.run_id} - {self.status} - {tick}{fork}"

    @property
    def live(self) -> bool:
        """True while the simulation is (apparently) still writing this run."""
        return self.status == "running"


def open_store(path: str | Path) -> sqlite3.Connection:
    """A read-only connection to an ``events.db``; ``UserError`` with a readable message if unusable."""
    return connect_readonly(path)


def _file_mtime(db: Path) -> float:
    """When the writer last wrote: the db or its WAL, but not an empty WAL (readers recreate those)."""
    times = [db.stat().st_mtime] if db.exists() else []
    wal = db.with_name(db.name + "-wal")
    if wal.exists() and wal.stat().st_size > 0:
        times.append(wal.stat().st_mtime)
    return max(times, default=0.0)


def run_info(path: str | Path, now: float | None = None) -> RunInfo:
    """Read a run's ``runs`` row; never raises: a broken store gives a RunInfo with ``error`` set."""
    db = Path(path)
    folder = db.parent
    if not db.exists():
        return RunInfo(folder.name, db, "broken", error=f"{db}: no events.db in this run folder")
    try:
        conn = open_store(db)
    except UserError as exc:
        return RunInfo(folder.name, db, "broken", updated_at=_file_mtime(db), error=str(exc))
    try:
        cursor = conn.execute("SELECT * FROM runs")  # by name: older stores lack the lineage columns
        columns = [d[0] for d in cursor.description]
        row = cursor.fetchone()
    except sqlite3.DatabaseError as exc:
        return RunInfo(folder.name, db, "broken", error=f"{db}: unreadable ({exc})")
    finally:
        conn.close()
    if row is None:
        return RunInfo(folder.name, db, "broken", error=f"{db}: the runs table is empty")
    got = dict(zip(columns, row, strict=True))
    run_id, scenario, seed, status = got["run_id"], got["scenario"], got["seed"], got["status"]
    started_at, finished_at, last_tick = got["started_at"], got["finished_at"], got["last_tick"]
    lineage = {k: got.get(k) for k in ("parent_run_id", "parent_dir", "fork_tick")}
    updated = _file_mtime(db)
    now = time.time() if now is None else now
    if status == "running" and now - updated > STALE_AFTER_S:
        # Killed without a chance to mark itself; `mesaverse resume` can continue it.
        status = "interrupted"
    return RunInfo(
        run_id,
        db,
        status,
        scenario,
        seed,
        started_at,
        finished_at,
        last_tick,
        updated,
        parent_run_id=None if lineage["parent_run_id"] is None else str(lineage["parent_run_id"]),
        parent_dir=None if lineage["parent_dir"] is None else str(lineage["parent_dir"]),
        fork_tick=None if lineage["fork_tick"] is None else int(lineage["fork_tick"]),
    )


def list_runs(runs_dir: str | Path) -> list[RunInfo]:
    """Every run folder under ``runs_dir`` (those with an ``events.db`` or a ``config.yaml``), newest first."""
    root = Path(runs_dir)
    if not root.is_dir():
        return []
    infos = [
        run_info(child / "events.db")
        for child in root.iterdir()
        if child.is_dir() and ((child / "events.db").exists() or (child / "config.yaml").exists())
    ]
    # Newest first: by start time when known, else by the file's modification time.
    return sorted(infos, key=lambda r: (r.started_at or "", r.updated_at, r.run_id), reverse=True)


def event_count(conn: sqlite3.Connection) -> int:
    """Number of events (``MAX(id)``: O(1), exact because ids are never reused in the middle)."""
    return conn.execute("SELECT COALESCE(MAX(id), 0) FROM events").fetchone()[0]


def max_id_at(conn: sqlite3.Connection, tick: int | None) -> int:
    """The last event id of ``tick`` or before (all events when ``tick`` is None); 0 if none."""
    if tick is None:
        return event_count(conn)
    row = conn.execute("SELECT MAX(id) FROM events WHERE tick <= ?", (tick,)).fetchone()
    return row[0] or 0


# -- agents and the world map ---------------------------------------------------------------------


def agents_table(conn: sqlite3.Connection) -> pd.DataFrame:
    """``agent_id, name, policy, role`` for every registered avatar."""
    return pd.read_sql_query(
        "SELECT agent_id, name, policy, COALESCE(json_extract(persona_json, '$.role'), '') AS role"
        " FROM agents ORDER BY agent_id",
        conn,
    )


def world_at(conn: sqlite3.Connection, tick: int | None) -> pd.DataFrame:
    """Every avatar at its latest snapshot at or before ``tick``: id, name, role, place, x, y, coins."""
    snap = conn.execute(
        "SELECT MAX(tick) FROM agent_state" + ("" if tick is None else " WHERE tick <= ?"),
        () if tick is None else (tick,),
    ).fetchone()[0]
    columns = ["agent_id", "name", "role", "place", "x", "y", "coins", "snapshot_tick"]
    if snap is None:
        return pd.DataFrame(columns=columns)
    return pd.read_sql_query(
        "SELECT s.agent_id, COALESCE(a.name, 'avatar ' || s.agent_id) AS name,"
        " COALESCE(json_extract(a.persona_json, '$.role'), json_extract(s.data_json, '$.role'), '') AS role,"
        " s.place, s.x, s.y, s.coins, s.tick AS snapshot_tick"
        " FROM agent_state s LEFT JOIN agents a ON a.agent_id = s.agent_id"
        " WHERE s.tick = ? ORDER BY s.agent_id",
        conn,
        params=(snap,),
    )


# -- events ----------------------------------------------------------------------------------------


def events_after(
    conn: sqlite3.Connection, after_id: int, kinds: Sequence[str], upto_id: int | None = None
) -> pd.DataFrame:
    """Events of ``kinds`` with ``after_id < id <= upto_id``, oldest first (an incremental refresh)."""
    sql = (
        "SELECT id, tick, kind, actor, target, place, text, data_json FROM events"
        f" WHERE kind IN ({_in(kinds)}) AND id > ?"
    )
    params: list[Any] = [*kinds, after_id]
    if upto_id is not None:
        sql += " AND id <= ?"
        params.append(upto_id)
    return pd.read_sql_query(sql + " ORDER BY id", conn, params=params)


def dialogue(
    conn: sqlite3.Connection,
    *,
    after_id: int = 0,
    upto_id: int | None = None,
    avatar: int | None = None,
    place: str | None = None,
    flagged_only: bool = False,
    limit: int = 200,
) -> pd.DataFrame:
    """``say`` events, newest first, with speaker and listener names and the moderation mark.

    Columns: id, tick, speaker, listener, place, text, flagged (bool), rule, delivered (bool).
    ``flagged_only`` keeps messages that moderation flagged or blocked.
    """
    sql = (
        "SELECT e.id, e.tick, COALESCE(sa.name, e.actor) AS speaker, COALESCE(la.name, e.target) AS listener,"
        " e.actor AS speaker_id, e.target AS listener_id, e.place, e.text,"
        " COALESCE(json_extract(e.data_json, '$.flagged'), 0) AS flagged,"
        " json_extract(e.data_json, '$.rule') AS rule,"
        " COALESCE(json_extract(e.data_json, '$.delivered'), 1) AS delivered"
        " FROM events e LEFT JOIN agents sa ON sa.agent_id = e.actor LEFT JOIN agents la ON la.agent_id = e.target"
        " WHERE e.kind = 'say' AND e.id > ?"
    )
    params: list[Any] = [after_id]
    if upto_id is not None:
        sql += " AND e.id <= ?"
        params.append(upto_id)
    if avatar is not None:
        sql += " AND (e.actor = ? OR e.target = ?)"
        params += [avatar, avatar]
    if place:
        sql += " AND e.place = ?"
        params.append(place)
    if flagged_only:
        sql += (
            " AND (json_extract(e.data_json, '$.flagged') OR json_extract(e.data_json, '$.rule') IS NOT NULL)"
        )
    sql += " ORDER BY e.id DESC LIMIT ?"
    params.append(limit)
    frame = pd.read_sql_query(sql, conn, params=params)
    frame["flagged"] = frame["flagged"].astype(bool) | frame["rule"].notna()
    frame["delivered"] = frame["delivered"].astype(bool)
    return frame


def trades(
    conn: sqlite3.Connection, *, after_id: int = 0, upto_id: int | None = None, limit: int = 50
) -> pd.DataFrame:
    """Settled trades, newest first: id, tick, item, qty, price, tax, buyer, seller, place."""
    sql = (
        "SELECT e.id, e.tick, json_extract(e.data_json, '$.item') AS item,"
        " json_extract(e.data_json, '$.qty') AS qty, json_extract(e.data_json, '$.price') AS price,"
        " json_extract(e.data_json, '$.tax') AS tax,"
        " COALESCE(b.name, json_extract(e.data_json, '$.buyer')) AS buyer,"
        " COALESCE(s.name, json_extract(e.data_json, '$.seller')) AS seller, e.place"
        " FROM events e"
        " LEFT JOIN agents b ON b.agent_id = json_extract(e.data_json, '$.buyer')"
        " LEFT JOIN agents s ON s.agent_id = json_extract(e.data_json, '$.seller')"
        " WHERE e.kind = 'trade' AND e.id > ?"
    )
    params: list[Any] = [after_id]
    if upto_id is not None:
        sql += " AND e.id <= ?"
        params.append(upto_id)
    return pd.read_sql_query(sql + " ORDER BY e.id DESC LIMIT ?", conn, params=[*params, limit])


# -- metrics ---------------------------------------------------------------------------------------


def metric_names(conn: sqlite3.Connection) -> list[str]:
    """Distinct metric names (a skip-scan of the (name, tick) key, so cheap however long the run)."""
    names: list[str] = []
    row = conn.execute("SELECT MIN(name) FROM metrics").fetchone()
    while row and row[0] is not None:
        names.append(row[0])
        row = conn.execute("SELECT MIN(name) FROM metrics WHERE name > ?", (row[0],)).fetchone()
    return names


def metric_series(
    conn: sqlite3.Connection,
    names: Iterable[str] = (),
    *,
    prefix: str | None = None,
    after_tick: int | None = None,
    upto_tick: int | None = None,
) -> pd.DataFrame:
    """Long frame ``tick, name, value`` for the given names and/or every name starting with ``prefix``."""
    names = list(names)
    where: list[str] = []
    params: list[Any] = []
    alternatives: list[str] = []
    if names:
        alternatives.append(f"name IN ({_in(names)})")
        params += names
    if prefix:
        # A range on the primary key instead of LIKE, which SQLite would not index here.
        alternatives.append("(name >= ? AND name < ?)")
        params += [prefix, prefix[:-1] + chr(ord(prefix[-1]) + 1)]
    if not alternatives:
        return pd.DataFrame(columns=["tick", "name", "value"])
    where.append("(" + " OR ".join(alternatives) + ")")
    if after_tick is not None:
        where.append("tick > ?")
        params.append(after_tick)
    if upto_tick is not None:
        where.append("tick <= ?")
        params.append(upto_tick)
    return pd.read_sql_query(
        "SELECT tick, name, value FROM metrics WHERE " + " AND ".join(where) + " ORDER BY name, tick",
        conn,
        params=params,
    )


# -- social graph ----------------------------------------------------------------------------------


def edges(conn: sqlite3.Connection, *, after_id: int = 0, upto_id: int | None = None) -> pd.DataFrame:
    """Interaction counts between avatars (``SOCIAL_KINDS``), directed: ``actor, target, weight``."""
    sql = (
        "SELECT actor, target, COUNT(*) AS weight FROM events"
        f" WHERE kind IN ({_in(SOCIAL_KINDS)}) AND id > ? AND actor IS NOT NULL AND target IS NOT NULL"
        " AND actor != target"
    )
    params: list[Any] = [*SOCIAL_KINDS, after_id]
    if upto_id is not None:
        sql += " AND id <= ?"
        params.append(upto_id)
    return pd.read_sql_query(sql + " GROUP BY actor, target", conn, params=params)


def strongest_ties(
    conn: sqlite3.Connection, agent_id: int, *, upto_id: int | None = None, limit: int = 10
) -> pd.DataFrame:
    """The avatars ``agent_id`` interacted with most (both directions): ``other, name, interactions``."""
    upto = event_count(conn) if upto_id is None else upto_id
    kinds = _in(SOCIAL_KINDS)
    return pd.read_sql_query(
        "SELECT t.other AS other, COALESCE(a.name, t.other) AS name, COUNT(*) AS interactions FROM ("
        f" SELECT target AS other FROM events WHERE actor = ? AND kind IN ({kinds}) AND id <= ? AND target IS NOT NULL"
        f" UNION ALL SELECT actor FROM events WHERE target = ? AND kind IN ({kinds}) AND id <= ? AND actor IS NOT NULL"
        ") t LEFT JOIN agents a ON a.agent_id = t.other WHERE t.other != ?"
        " GROUP BY t.other ORDER BY interactions DESC, t.other LIMIT ?",
        conn,
        params=[agent_id, *SOCIAL_KINDS, upto, agent_id, *SOCIAL_KINDS, upto, agent_id, limit],
    )


# -- moderation ------------------------------------------------------------------------------------


def moderation_log(conn: sqlite3.Connection, *, upto_id: int | None = None, limit: int = 200) -> pd.DataFrame:
    """Moderation decisions, newest first: id, tick, avatar, rule, evidence, sanction, ground_truth, text."""
    upto = event_count(conn) if upto_id is None else upto_id
    return pd.read_sql_query(
        "SELECT e.id, e.tick, COALESCE(a.name, e.actor) AS avatar, json_extract(e.data_json, '$.rule') AS rule,"
        " json_extract(e.data_json, '$.evidence') AS evidence, json_extract(e.data_json, '$.sanction') AS sanction,"
        " json_extract(e.data_json, '$.ground_truth') AS ground_truth, e.text"
        " FROM events e LEFT JOIN agents a ON a.agent_id = e.actor"
        " WHERE e.kind = 'moderation' AND e.id <= ? ORDER BY e.id DESC LIMIT ?",
        conn,
        params=(upto, limit),
    )


def moderation_counts(conn: sqlite3.Connection, *, upto_id: int | None = None) -> pd.DataFrame:
    """Decisions per rule: ``rule, decisions, sanctioned`` (most frequent first)."""
    upto = event_count(conn) if upto_id is None else upto_id
    return pd.read_sql_query(
        "SELECT COALESCE(json_extract(data_json, '$.rule'), '(none)') AS rule, COUNT(*) AS decisions,"
        " SUM(COALESCE(json_extract(data_json, '$.sanction'), '') NOT IN ('', 'none')) AS sanctioned"
        " FROM events WHERE kind = 'moderation' AND id <= ? GROUP BY 1 ORDER BY decisions DESC, rule",
        conn,
        params=(upto,),
    )


def moderation_confusion(
    conn: sqlite3.Connection, *, after_id: int = 0, upto_id: int | None = None
) -> dict[str, int]:
    """Counts over messages whose ground truth is known (``say`` data ``violation`` set).

    ``{"labelled", "tp", "fp", "fn"}``: flagged and a violation, flagged but clean, a missed violation,
    from the store's :func:`~sim.store.moderation_scores` (the one per-message definition).
    Additive over id ranges, so a live panel adds each refresh's counts to the last.
    """
    s = moderation_scores(conn, after_id=after_id, upto_id=upto_id)
    labelled = s.true_pos + s.false_pos + s.false_neg + s.true_neg
    return {"labelled": labelled, "tp": s.true_pos, "fp": s.false_pos, "fn": s.false_neg}


# -- projects --------------------------------------------------------------------------------------


def projects(conn: sqlite3.Connection, *, upto_id: int | None = None) -> pd.DataFrame:
    """One row per project: project, name, proposer, contributors, contributions, progress, outcome, last_tick.

    Read from the world's project events: the project is ``data.project_id`` (else ``data.project``,
    else the event's target or text); its name ``data.name`` or ``data.template``. Progress is
    ``data.progress`` when an event gives it, else the quantity contributed (``project_contribute``
    ``data.qty``) over the quantity needed (``project_propose`` ``data.needs``). The outcome is
    ``completed`` or ``failed`` from the closing event, else ``active``.
    """
    upto = event_count(conn) if upto_id is None else upto_id
    names = dict(conn.execute("SELECT agent_id, name FROM agents").fetchall())
    rows = conn.execute(
        f"SELECT tick, kind, actor, target, text, data_json FROM events WHERE kind IN ({_in(_PROJECT_KINDS)})"
        " AND id <= ? ORDER BY id",
        (*_PROJECT_KINDS, upto),
    ).fetchall()
    table: dict[str, dict[str, Any]] = {}
    for tick, kind, actor, target, text, data_json in rows:
        data = _loads(data_json)
        key = str(data.get("project_id", data.get("project", target if target is not None else text)))
        entry = table.setdefault(
            key,
            {
                "project": key,
                "name": key,
                "proposer": "",
                "contributors": set(),
                "contributions": 0,
                "needed": 0.0,
                "done": 0.0,
                "progress": None,
                "outcome": "active",
                "last_tick": tick,
            },
        )
        entry["last_tick"] = tick
        if data.get("name") or data.get("template"):
            entry["name"] = str(data.get("name") or data.get("template"))
        who = names.get(actor, str(actor)) if actor is not None else None
        if kind == "project_propose":
            entry["proposer"] = who or ""
            needs = data.get("needs")
            if isinstance(needs, dict):
                entry["needed"] = float(sum(v for v in needs.values() if isinstance(v, (int, float))))
        if who is not None and kind in ("project_join", "project_contribute", "project_propose"):
            entry["contributors"].add(who)
        for member in data.get("contributors") or []:
            if isinstance(member, int):
                entry["contributors"].add(names.get(member, str(member)))
        if kind == "project_contribute":
            entry["contributions"] += 1
            if isinstance(data.get("qty"), (int, float)):
                entry["done"] += float(data["qty"])
        if "progress" in data:
            entry["progress"] = float(data["progress"])
        if kind == "project_complete":
            entry["outcome"], entry["progress"] = "completed", 1.0
        elif kind == "project_fail":
            entry["outcome"] = "failed"
    records = []
    for e in table.values():
        progress = e["progress"]
        if progress is None:
            progress = min(1.0, e["done"] / e["needed"]) if e["needed"] else 0.0
        records.append(
            {
                **e,
                "progress": progress,
                "contributors": ", ".join(sorted(e["contributors"])),
                "n_contributors": len(e["contributors"]),
            }
        )
    return pd.DataFrame(
        records,
        columns=[
            "project",
            "name",
            "proposer",
            "n_contributors",
            "contributors",
            "contributions",
            "progress",
            "outcome",
            "last_tick",
        ],
    )


# -- avatar inspector ------------------------------------------------------------------------------


def agent_profile(conn: sqlite3.Connection, agent_id: int) -> dict[str, Any] | None:
    """``{agent_id, name, policy, persona}`` or None if the avatar is not registered."""
    row = conn.execute(
        "SELECT agent_id, name, policy, persona_json FROM agents WHERE agent_id = ?", (agent_id,)
    ).fetchone()
    if row is None:
        return None
    return {"agent_id": row[0], "name": row[1], "policy": row[2], "persona": _loads(row[3])}


def agent_history(conn: sqlite3.Connection, agent_id: int, *, upto_tick: int | None = None) -> pd.DataFrame:
    """The avatar's snapshots up to ``upto_tick``: tick, place, coins, and ``data`` (parsed dict)."""
    sql = "SELECT tick, place, x, y, coins, data_json FROM agent_state WHERE agent_id = ?"
    params: list[Any] = [agent_id]
    if upto_tick is not None:
        sql += " AND tick <= ?"
        params.append(upto_tick)
    frame = pd.read_sql_query(sql + " ORDER BY tick", conn, params=params)
    frame["data"] = [_loads(text) for text in frame.pop("data_json")]
    return frame
