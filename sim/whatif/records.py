"""What the what-if commands read and write in a run's store besides the ticks (schema version 2).

- ``runs.parent_run_id``, ``runs.parent_dir``, ``runs.fork_tick``: a fork's lineage
  (:meth:`sim.store.EventStore.set_lineage`), read by :func:`read_lineage` (None on a version-1 store);
- ``interviews``: one row per ``mesaverse interview`` (:func:`record_interview`).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from sim.store import _now, _transaction, connect_readonly, migrate

__all__ = ["read_lineage", "record_interview"]


def read_lineage(conn: sqlite3.Connection) -> dict[str, Any] | None:
    """``{parent_run_id, parent_dir, fork_tick}`` of a fork; None for a run that is not one, or an old store."""
    cols = {row[1] for row in conn.execute("PRAGMA table_info(runs)")}
    if "parent_run_id" not in cols:
        return None
    row = conn.execute("SELECT parent_run_id, parent_dir, fork_tick FROM runs").fetchone()
    if row is None or row[0] is None:
        return None
    return {"parent_run_id": row[0], "parent_dir": row[1], "fork_tick": row[2]}


def record_interview(
    path: str | Path, *, tick: int, agent_id: int, question: str, answer: str, model: str | None
) -> int:
    """Add one row to a run's ``interviews`` table; returns its id.

    Safe beside a live writer: one short ``BEGIN IMMEDIATE`` transaction on its own connection, which
    under WAL waits (busy timeout) for the writer's tick transaction to commit, and which the writer's
    own busy timeout waits out in turn. It never changes the journal mode, and touches no other table.
    A version-1 store gets the table first (the same migration as :meth:`EventStore.open`).
    """
    path = Path(path)
    connect_readonly(path).close()  # existence, format, version: one message
    conn = sqlite3.connect(path, isolation_level=None, timeout=10.0)
    try:
        migrate(conn)
        with _transaction(conn):
            cur = conn.execute(
                "INSERT INTO interviews(tick, agent_id, question, answer, model, asked_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (int(tick), int(agent_id), question, answer, model, _now()),
            )
            rowid = cur.lastrowid
    finally:
        conn.close()
    return int(rowid or 0)
