"""The event store: one transaction per tick, truncation for resume, read-only readers beside the writer."""

from __future__ import annotations

import dataclasses
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from sim.errors import UserError
from sim.store import SCHEMA_VERSION, EventStore, connect_readonly


@dataclasses.dataclass(frozen=True)
class FakeEvent:
    """Stands in for ``world.types.Event``: the store only needs these attributes."""

    tick: int
    kind: str
    actor: int | None
    target: int | None
    place: str | None
    text: str
    data: dict[str, Any]


def _new_store(tmp_path: Path) -> EventStore:
    return EventStore.create(
        tmp_path / "run" / "events.db", run_id="r1", scenario="town", seed=7, config={"run": {"ticks": 5}}
    )


def _write(store: EventStore, tick: int, n_events: int = 2) -> None:
    events = [
        FakeEvent(tick, "say", 1, 2, "plaza", f"hello {tick}.{i}", {"flagged": False})
        for i in range(n_events)
    ]
    store.write_tick(
        tick,
        events,
        {"population": 2.0, "gini": 0.25},
        [(1, "plaza", 1.0, 2.0, 10.0, {"needs": {"food": 0.5}}), (2, "market", 3.0, 4.0, 20.0, {})],
        ledger=[{"asset": "coins", "src": 1, "dst": "treasury", "qty": 0.5, "memo": "tax"}],
    )


def _count(conn: sqlite3.Connection | EventStore, table: str, tick: int | None = None) -> int:
    sql = f"SELECT COUNT(*) FROM {table}" + ("" if tick is None else " WHERE tick = ?")
    params = () if tick is None else (tick,)
    if isinstance(conn, EventStore):
        return next(conn.rows(sql, params))[0]
    return conn.execute(sql, params).fetchone()[0]


def test_create_records_the_run_as_running_with_schema_version(tmp_path: Path) -> None:
    store = _new_store(tmp_path)
    run = next(
        store.rows("SELECT run_id, scenario, seed, config_json, status, finished_at, last_tick FROM runs")
    )
    assert run == ("r1", "town", 7, '{"run":{"ticks":5}}', "running", None, None)
    assert next(store.rows("SELECT version FROM schema_version")) == (SCHEMA_VERSION,)
    assert next(store.rows("PRAGMA user_version")) == (SCHEMA_VERSION,)
    assert next(store.rows("PRAGMA journal_mode")) == ("wal",)
    store.close()


def test_create_refuses_an_existing_store(tmp_path: Path) -> None:
    _new_store(tmp_path).close()
    with pytest.raises(UserError, match="already exists"):
        _new_store(tmp_path)


def test_write_tick_stores_every_part_and_advances_last_tick(tmp_path: Path) -> None:
    store = _new_store(tmp_path)
    store.register_agents([(1, "Ada", "llm", {"traits": ["curious"]}), (2, "Bo", "rule", {})])
    _write(store, 0)
    _write(store, 1, n_events=3)
    assert store.last_tick == 1
    assert next(store.rows("SELECT last_tick FROM runs")) == (1,)
    assert list(
        store.rows("SELECT tick, kind, actor, target, place, text, data_json FROM events WHERE tick = 1")
    ) == [(1, "say", 1, 2, "plaza", f"hello 1.{i}", '{"flagged":false}') for i in range(3)]
    assert list(store.rows("SELECT name, value FROM metrics WHERE tick = 0 ORDER BY name")) == [
        ("gini", 0.25),
        ("population", 2.0),
    ]
    assert list(
        store.rows("SELECT agent_id, place, x, y, coins, data_json FROM agent_state WHERE tick = 1")
    ) == [
        (1, "plaza", 1.0, 2.0, 10.0, '{"needs":{"food":0.5}}'),
        (2, "market", 3.0, 4.0, 20.0, "{}"),
    ]
    assert list(store.rows("SELECT tick, asset, src, dst, qty, memo FROM ledger")) == [
        (0, "coins", "1", "treasury", 0.5, "tax"),
        (1, "coins", "1", "treasury", 0.5, "tax"),
    ]
    assert list(store.rows("SELECT agent_id, name, policy, persona_json FROM agents")) == [
        (1, "Ada", "llm", '{"traits":["curious"]}'),
        (2, "Bo", "rule", "{}"),
    ]
    store.close()


def test_write_tick_accepts_tuples_and_dicts_as_events(tmp_path: Path) -> None:
    store = _new_store(tmp_path)
    store.write_tick(
        0,
        [
            ("move", 3, None, "park", "", {}),
            (0, "trade", 1, 2, "market", "1 bread for 3", {"item": "bread"}),
            {"kind": "sanction", "actor": 4, "target": None, "place": None, "text": "muted", "data": None},
        ],
        {},
        [],
    )
    assert list(store.rows("SELECT kind, actor, target, place, data_json FROM events ORDER BY id")) == [
        ("move", 3, None, "park", "{}"),
        ("trade", 1, 2, "market", '{"item":"bread"}'),
        ("sanction", 4, None, None, "{}"),
    ]
    store.close()


def test_a_failure_mid_write_leaves_nothing_of_that_tick(tmp_path: Path) -> None:
    store = _new_store(tmp_path)
    _write(store, 0)
    good_events = [FakeEvent(1, "say", 1, 2, "plaza", "committed?", {})]
    # The events and metrics go in first; the malformed avatar state fails after them, mid-transaction.
    bad_states = [(1, "plaza", 0.0, 0.0, 1.0, {}), ("not", "a", "state")]
    with pytest.raises(ValueError):
        store.write_tick(1, good_events, {"population": 2.0}, bad_states)
    for table in ("events", "metrics", "agent_state", "ledger"):
        assert _count(store, table, tick=1) == 0, table
    assert store.last_tick == 0
    assert next(store.rows("SELECT last_tick FROM runs")) == (0,)
    _write(store, 1)  # the same tick can then be written properly
    assert _count(store, "events", tick=1) == 2
    store.close()


def test_write_tick_refuses_a_tick_already_written(tmp_path: Path) -> None:
    store = _new_store(tmp_path)
    _write(store, 0)
    _write(store, 1)
    with pytest.raises(ValueError, match="tick 1 already written"):
        _write(store, 1)
    assert _count(store, "events", tick=1) == 2
    store.close()


def test_truncate_after_deletes_later_ticks_and_sets_last_tick(tmp_path: Path) -> None:
    store = _new_store(tmp_path)
    for tick in range(5):
        _write(store, tick)
    store.set_status("interrupted")
    store.close()

    store = EventStore.open(tmp_path / "run" / "events.db")
    assert store.last_tick == 4
    store.truncate_after(2)
    assert store.last_tick == 2
    assert next(store.rows("SELECT last_tick, finished_at FROM runs")) == (2, None)
    for table in ("events", "metrics", "agent_state", "ledger"):
        assert next(store.rows(f"SELECT MAX(tick) FROM {table}")) == (2,), table
    assert _count(store, "events") == 6
    assert _count(store, "metrics") == 6
    _write(store, 3)  # the resumed run writes tick 3 again, once
    assert _count(store, "events", tick=3) == 2
    store.close()


def test_readonly_reader_sees_committed_ticks_while_the_writer_is_open(tmp_path: Path) -> None:
    store = _new_store(tmp_path)
    reader = connect_readonly(store.path)
    assert _count(reader, "events") == 0
    _write(store, 0)
    assert _count(reader, "events") == 2
    seen_during_write: list[int] = []

    def events_checked_by_reader() -> Any:
        # Runs inside the writer's open transaction: the reader must not see this tick yet.
        yield FakeEvent(1, "say", 1, 2, "plaza", "in flight", {})
        seen_during_write.append(_count(reader, "events"))

    store.write_tick(1, events_checked_by_reader(), {}, [])
    assert seen_during_write == [2]
    assert _count(reader, "events") == 3
    assert reader.execute("SELECT last_tick FROM runs").fetchone() == (1,)
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        reader.execute("DELETE FROM events")
    reader.close()
    store.close()


def test_set_status_finished_stamps_finished_at_and_rejects_unknown_status(tmp_path: Path) -> None:
    store = _new_store(tmp_path)
    store.set_status("finished")
    status, finished_at = next(store.rows("SELECT status, finished_at FROM runs"))
    assert status == "finished"
    assert finished_at is not None
    with pytest.raises(ValueError, match="status must be one of"):
        store.set_status("done")
    store.close()


def test_opening_a_missing_or_corrupt_store_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no such event store"):
        EventStore.open(tmp_path / "nope.db")
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(UserError, match="not a mesaverse event store"):
        connect_readonly(junk)


def _finished_store(folder: Path) -> Path:
    store = EventStore.create(folder / "events.db", run_id="r", scenario="s", seed=1, config={})
    store.write_tick(0, [("say", 0, 1, "plaza", "hi", {})], {"m": 1.0}, [(0, "plaza", 0, 0, 5, {})])
    store.set_status("finished")
    store.close()
    return folder / "events.db"


def test_a_closed_store_has_no_wal_files_and_readers_create_none(tmp_path: Path) -> None:
    db = _finished_store(tmp_path / "run")
    assert sorted(p.name for p in db.parent.iterdir()) == ["events.db", "events.db.lock"]
    for _ in range(2):
        conn = connect_readonly(db)
        assert conn.execute("SELECT status, last_tick FROM runs").fetchone() == ("finished", 0)
        conn.close()
    assert sorted(p.name for p in db.parent.iterdir()) == ["events.db", "events.db.lock"]


def test_a_wal_mode_store_without_its_wal_opens_immutable_creating_nothing(tmp_path: Path) -> None:
    db = _finished_store(tmp_path / "run")
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA journal_mode=WAL").fetchone() == ("wal",)
    conn.close()  # the last connection: the WAL is checkpointed and removed, the header still says WAL
    assert not db.with_name("events.db-wal").exists()
    db.parent.chmod(0o555)
    try:
        reader = connect_readonly(db)
        assert reader.execute("SELECT COUNT(*) FROM events").fetchone() == (1,)
        reader.close()
    finally:
        db.parent.chmod(0o755)
    assert sorted(p.name for p in db.parent.iterdir()) == ["events.db", "events.db.lock"]


def test_a_second_writer_is_refused_while_the_first_holds_the_lock(tmp_path: Path) -> None:
    db = tmp_path / "run" / "events.db"
    first = EventStore.create(db, run_id="r", scenario="s", seed=1, config={})
    with pytest.raises(UserError, match=r"the run is being written by another process \(pid \d+\)"):
        EventStore.open(db)
    first.close()
    EventStore.open(db).close()  # released on close
