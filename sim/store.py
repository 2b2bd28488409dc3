"""The event store: one SQLite file per run, written by the sim, read by the dashboard and evaluation.

The sim driver is the single writer. Each tick is written in ONE transaction (:meth:`EventStore.write_tick`),
so a reader, or a run resumed after a crash, never sees half a tick. The file is in WAL mode: readers open
it read-only (:func:`connect_readonly`) and see every committed tick while the writer keeps going, and the
writer never waits for them.

The schema is documented, table by table, in ``docs/event_store.md``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sim.errors import UserError
from world.stats import DetectionScores, detection_scores

__all__ = [
    "READABLE_VERSIONS",
    "RUN_STATUSES",
    "SCHEMA_VERSION",
    "DetectionScores",
    "EventStore",
    "WriterLock",
    "connect_readonly",
    "encode_json",
    "migrate",
    "moderation_scores",
]

#: Bump when a table or column changes. Version 2 added fork lineage on ``runs`` (``parent_run_id``,
#: ``parent_dir``, ``fork_tick``) and the ``interviews`` table; :meth:`EventStore.open` migrates a
#: version-1 store, readers accept :data:`READABLE_VERSIONS`.
SCHEMA_VERSION = 2
READABLE_VERSIONS = (1, 2)

RUN_STATUSES = ("running", "finished", "interrupted", "failed")

_SCHEMA = """
CREATE TABLE schema_version(version INTEGER NOT NULL);
CREATE TABLE runs(
    run_id TEXT PRIMARY KEY,
    scenario TEXT NOT NULL,
    seed INTEGER,
    config_json TEXT NOT NULL,
    status TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    last_tick INTEGER,
    parent_run_id TEXT,
    parent_dir TEXT,
    fork_tick INTEGER
);
CREATE TABLE agents(
    agent_id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    policy TEXT NOT NULL,
    persona_json TEXT NOT NULL
);
CREATE TABLE events(
    id INTEGER PRIMARY KEY,
    tick INTEGER NOT NULL,
    kind TEXT NOT NULL,
    actor INTEGER,
    target INTEGER,
    place TEXT,
    text TEXT,
    data_json TEXT NOT NULL
);
-- ids grow with ticks, so "what is new since id N" is a rowid range scan. These serve the rest:
-- replay and truncation by tick, panels by kind (the dialogue feed, the moderation log), the inspector by avatar.
CREATE INDEX events_by_tick ON events(tick);
CREATE INDEX events_by_kind ON events(kind, id);
CREATE INDEX events_by_actor ON events(actor, id);
CREATE INDEX events_by_target ON events(target, id);
CREATE TABLE metrics(
    tick INTEGER NOT NULL,
    name TEXT NOT NULL,
    value REAL,
    PRIMARY KEY(name, tick)
) WITHOUT ROWID;
CREATE INDEX metrics_by_tick ON metrics(tick);
CREATE TABLE agent_state(
    tick INTEGER NOT NULL,
    agent_id INTEGER NOT NULL,
    place TEXT,
    x REAL,
    y REAL,
    coins REAL,
    data_json TEXT NOT NULL,
    PRIMARY KEY(agent_id, tick)
) WITHOUT ROWID;
CREATE INDEX agent_state_by_tick ON agent_state(tick, agent_id);
CREATE TABLE ledger(
    id INTEGER PRIMARY KEY,
    tick INTEGER NOT NULL,
    asset TEXT NOT NULL,
    src TEXT,
    dst TEXT,
    qty REAL NOT NULL,
    memo TEXT
);
CREATE INDEX ledger_by_tick ON ledger(tick);
CREATE TABLE interviews(
    id INTEGER PRIMARY KEY,
    tick INTEGER NOT NULL,
    agent_id INTEGER NOT NULL,
    question TEXT NOT NULL,
    answer TEXT NOT NULL,
    model TEXT,
    asked_at TEXT NOT NULL
);
"""

#: Version 1 -> 2, in one transaction (DDL is transactional in SQLite).
_MIGRATE_1_TO_2 = (
    "ALTER TABLE runs ADD COLUMN parent_run_id TEXT",
    "ALTER TABLE runs ADD COLUMN parent_dir TEXT",
    "ALTER TABLE runs ADD COLUMN fork_tick INTEGER",
    "CREATE TABLE IF NOT EXISTS interviews(id INTEGER PRIMARY KEY, tick INTEGER NOT NULL,"
    " agent_id INTEGER NOT NULL, question TEXT NOT NULL, answer TEXT NOT NULL, model TEXT,"
    " asked_at TEXT NOT NULL)",
    "UPDATE schema_version SET version = 2",
    "PRAGMA user_version=2",
)

_TICK_TABLES = ("events", "metrics", "agent_state", "ledger")
#: The columns a fork copies from its parent, per tick table.
_COPIED = {
    "events": "id, tick, kind, actor, target, place, text, data_json",
    "metrics": "tick, name, value",
    "agent_state": "tick, agent_id, place, x, y, coins, data_json",
    "ledger": "id, tick, asset, src, dst, qty, memo",
}


def _json_default(obj: Any) -> Any:
    """Make the odd values that world/ and agents/ may put in ``data`` JSON-safe instead of failing a tick."""
    if isinstance(obj, Mapping):
        return dict(obj)
    if isinstance(obj, (tuple, set, frozenset)):
        return list(obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    if hasattr(obj, "item"):  # numpy scalars
        return obj.item()
    return str(obj)


def encode_json(value: Any) -> str:
    """Compact JSON for the ``*_json`` columns (``None`` becomes ``{}``)."""
    if value is None:
        return "{}"
    return json.dumps(value, separators=(",", ":"), default=_json_default, allow_nan=False)


def _id(value: Any) -> int | None:
    """An avatar id as a plain int (numpy ints cannot be bound by sqlite3)."""
    return None if value is None else int(value)


def _num(value: Any) -> float | None:
    if value is None:
        return None
    f = float(value)
    return None if math.isnan(f) else f


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _event_row(tick: int, event: Any) -> tuple[Any, ...]:
    """One ``events`` row from a ``world.types.Event``, a mapping, or a tuple.

    Tuples are ``(kind, actor, target, place, text, data)`` or the same with the tick first.
    The row always gets the tick being written, whatever the event says, so that a tick is
    exactly one transaction's rows (truncation on resume relies on it).
    """
    if isinstance(event, Mapping):
        get = event.get
        kind, actor, target = get("kind"), get("actor"), get("target")
        place, text, data = get("place"), get("text"), get("data")
    elif isinstance(event, Sequence) and not isinstance(event, str):
        fields = tuple(event)
        if len(fields) == 7:
            fields = fields[1:]
        if len(fields) != 6:
            raise ValueError(f"event tuple needs 6 or 7 fields, got {len(fields)}: {event!r}")
        kind, actor, target, place, text, data = fields
    else:
        kind, actor, target = event.kind, event.actor, event.target
        place, text, data = event.place, event.text, event.data
    if not kind:
        raise ValueError(f"event without a kind: {event!r}")
    return (tick, str(kind), _id(actor), _id(target), place, text, encode_json(data))


def _state_row(tick: int, state: Any) -> tuple[Any, ...]:
    """One ``agent_state`` row from ``(agent_id, place, x, y, coins, data)`` or a mapping with those keys."""
    if isinstance(state, Mapping):
        agent_id, place, x, y = state["agent_id"], state.get("place"), state.get("x"), state.get("y")
        coins, data = state.get("coins"), state.get("data")
    else:
        agent_id, place, x, y, coins, data = state
    return (tick, int(agent_id), place, _num(x), _num(y), _num(coins), encode_json(data))


def _ledger_row(tick: int, entry: Any) -> tuple[Any, ...]:
    """One ``ledger`` row from a mapping (as ``world.drain_ledger()`` gives) or ``(asset, src, dst, qty, memo)``."""
    if isinstance(entry, Mapping):
        asset, src, dst = entry["asset"], entry.get("src"), entry.get("dst")
        qty, memo = entry["qty"], entry.get("memo")
    else:
        asset, src, dst, qty, memo = entry
    # src/dst may be an avatar id, "treasury", "market"... stored as text so every kind of party fits.
    return (
        tick,
        str(asset),
        None if src is None else str(src),
        None if dst is None else str(dst),
        float(qty),
        memo,
    )


def connect_readonly(path: str | Path) -> sqlite3.Connection:
    """A read-only connection (``mode=ro`` URI) to a run's ``events.db``; raises ``UserError`` if unusable.

    Read-only means a reader can never take the writer's lock or change a run by mistake. In WAL mode it
    still sees every tick committed so far, and each query sees a consistent snapshot.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such event store")
    # A reader must never add files to a run folder (and must work in a read-only one). A live writer's
    # store is in WAL mode with its -wal and -shm beside it, which mode=ro uses as they are. A closed
    # store is back in rollback-journal mode (EventStore.close), which mode=ro reads without creating
    # anything. Only a WAL-mode file with no -wal (closed by an older mesaverse, or copied) would make
    # mode=ro create -wal/-shm: nobody writes it, so it is opened immutable.
    wal = path.with_name(path.name + "-wal")
    uri = f"{path.resolve().as_uri()}?mode=ro"
    if not wal.exists() and _header_says_wal(path):
        uri += "&immutable=1"
    try:
        conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
    except sqlite3.Error as exc:
        raise UserError(f"{path}: cannot open the event store ({exc})") from None
    try:
        (version,) = conn.execute("SELECT version FROM schema_version").fetchone()
    except (sqlite3.DatabaseError, TypeError, ValueError) as exc:
        conn.close()
        raise UserError(f"{path}: not a mesaverse event store ({exc})") from None
    if version not in READABLE_VERSIONS:
        conn.close()
        raise UserError(
            f"{path}: event store schema {version}, this mesaverse reads"
            f" {', '.join(map(str, READABLE_VERSIONS))}"
        )
    return conn


def migrate(conn: sqlite3.Connection) -> None:
    """Bring a store opened for writing to :data:`SCHEMA_VERSION` (version 1: lineage and interviews)."""
    (version,) = conn.execute("SELECT version FROM schema_version").fetchone()
    if version == 1:
        with _transaction(conn):
            for statement in _MIGRATE_1_TO_2:
                conn.execute(statement)


def moderation_scores(
    conn: sqlite3.Connection, *, after_id: int = 0, upto_id: int | None = None
) -> DetectionScores:
    """Per-message moderation scores of the ``say`` events with ``after_id < id <= upto_id`` (all by default).

    A message is flagged when moderation fired on it (``data.flagged``, or a ``data.rule`` named) and
    harmful per its ground truth ``data.violation`` (unlabelled messages are left out); the scores are
    :func:`world.stats.detection_scores`, the one definition of moderation precision and recall. Counts
    are additive over id ranges, so a live reader can add each refresh's scores to the last.
    """
    upto = (
        conn.execute("SELECT COALESCE(MAX(id), 0) FROM events").fetchone()[0] if upto_id is None else upto_id
    )
    rows = conn.execute(
        "SELECT COALESCE(json_extract(data_json, '$.flagged'), 0) OR json_extract(data_json, '$.rule') IS NOT NULL,"
        " json_extract(data_json, '$.violation') FROM events WHERE kind = 'say' AND id > ? AND id <= ?",
        (after_id, upto),
    )
    return detection_scores((bool(f), None if v is None else bool(v)) for f, v in rows)


class WriterLock:
    """The single-writer lock of a run: an exclusive ``flock`` on ``events.db.lock`` beside the store.

    Held by the process writing the run (``run``, ``resume``) for as long as it writes, so a second writer
    is refused instead of truncating ticks under the first. The kernel drops the lock when the holder
    exits, even on SIGKILL, so a crashed run never leaves a stale lock behind: the file staying there
    means nothing. It holds the holder's pid, for the refusal message.
    """

    def __init__(self, fd: int, path: Path) -> None:
        self._fd: int | None = fd
        self.path = path

    @classmethod
    def acquire(cls, db: str | Path) -> WriterLock:
        """Take the lock of the store at ``db``, or raise ``UserError`` naming the live writer."""
        import fcntl
        import os

        db = Path(db)
        path = db.with_name(db.name + ".lock")
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise UserError(
                f"{db.parent}: cannot take the run's writer lock: {exc.strerror or exc}"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "?"
            os.close(fd)
            raise UserError(
                f"{db.parent}: the run is being written by another process (pid {holder}); "
                "wait for it to finish or stop it first"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        return cls(fd, path)

    def release(self) -> None:
        """Give the lock up (closing the descriptor drops the ``flock``)."""
        import os

        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _header_says_wal(path: Path) -> bool:
    """Whether the database header marks WAL mode (file format bytes 18 and 19 are 2)."""
    try:
        with path.open("rb") as fh:
            header = fh.read(20)
    except OSError:
        return False
    return len(header) == 20 and header[18] == 2 and header[19] == 2


@contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One IMMEDIATE transaction: committed whole, or rolled back whole on any error."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


class EventStore:
    """The writer side of a run's event store. Make one with :meth:`create` or :meth:`open`."""

    def __init__(self, conn: sqlite3.Connection, path: Path, lock: WriterLock | None = None) -> None:
        self._conn = conn
        self.path = path
        self._lock = lock
        row = conn.execute("SELECT run_id, last_tick FROM runs").fetchone()
        self.run_id: str = row[0]
        self._last_tick: int | None = row[1]

    # -- opening ---------------------------------------------------------------------------------------

    @staticmethod
    def _connect(path: Path) -> sqlite3.Connection:
        # isolation_level=None: we issue BEGIN/COMMIT ourselves, so a tick is exactly one transaction.
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        # NORMAL under WAL: a commit is durable against a crash of the process (what resume needs);
        # only a power cut may lose the last ticks, and the file stays consistent either way.
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=OFF")
        return conn

    @classmethod
    def create(
        cls, path: str | Path, *, run_id: str, scenario: str, seed: int | None, config: Mapping[str, Any]
    ) -> EventStore:
        """Create a new store at ``path`` (its folder is made if needed) with the run's row, status running."""
        path = Path(path)
        if path.exists():
            raise UserError(f"{path}: event store already exists (use resume to continue a run)")
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = WriterLock.acquire(path)
        try:
            conn = cls._connect(path)
        except BaseException:
            lock.release()
            raise
        # DDL is transactional in SQLite: the schema and the run row appear together or not at all.
        with _transaction(conn):
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute("INSERT INTO schema_version(version) VALUES (?)", (SCHEMA_VERSION,))
            conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            conn.execute(
                "INSERT INTO runs(run_id, scenario, seed, config_json, status, started_at, finished_at, last_tick)"
                " VALUES (?, ?, ?, ?, 'running', ?, NULL, NULL)",
                (run_id, scenario, seed, encode_json(dict(config)), _now()),
            )
        return cls(conn, path, lock)

    @classmethod
    def open(cls, path: str | Path, lock: WriterLock | None = None) -> EventStore:
        """Open an existing store for writing (resume); raises ``UserError`` if missing, not a store, or
        being written by another process. ``lock``: the writer lock, when the caller took it already."""
        path = Path(path)
        connect_readonly(path).close()  # checks existence, format and schema version with one message
        lock = lock or WriterLock.acquire(path)
        try:
            conn = cls._connect(path)
            migrate(conn)
        except BaseException:
            lock.release()
            raise
        return cls(conn, path, lock)

    # -- writing ---------------------------------------------------------------------------------------

    @property
    def last_tick(self) -> int | None:
        """The last tick written (``None`` before the first)."""
        return self._last_tick

    def register_agents(self, rows: Iterable[Sequence[Any]]) -> None:
        """Insert or replace avatars: ``(agent_id, name, policy, persona: dict)``."""
        with _transaction(self._conn):
            self._conn.executemany(
                "INSERT OR REPLACE INTO agents(agent_id, name, policy, persona_json) VALUES (?, ?, ?, ?)",
                ((int(a), str(n), str(p), encode_json(persona)) for a, n, p, persona in rows),
            )

    def write_tick(
        self,
        tick: int,
        events: Iterable[Any],
        metrics: Mapping[str, float],
        agent_states: Iterable[Sequence[Any]],
        ledger: Iterable[Any] = (),
    ) -> None:
        """Write one tick's events, metrics, avatar states and ledger entries in ONE transaction.

        Either all of it is committed and ``runs.last_tick`` becomes ``tick``, or (on any error) none
        of it is. Ticks must increase: writing a tick at or before ``last_tick`` raises ``ValueError``
        (truncate first when resuming).
        """
        tick = int(tick)
        if self._last_tick is not None and tick <= self._last_tick:
            raise ValueError(
                f"tick {tick} already written (last tick {self._last_tick}); truncate_after first"
            )
        conn = self._conn
        with _transaction(conn):
            # Generators: rows are built inside the transaction, so a bad row rolls back the whole tick.
            conn.executemany(
                "INSERT INTO events(tick, kind, actor, target, place, text, data_json)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (_event_row(tick, e) for e in events),
            )
            conn.executemany(
                "INSERT INTO metrics(tick, name, value) VALUES (?, ?, ?)",
                ((tick, str(name), _num(value)) for name, value in metrics.items()),
            )
            conn.executemany(
                "INSERT INTO agent_state(tick, agent_id, place, x, y, coins, data_json)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (_state_row(tick, s) for s in agent_states),
            )
            conn.executemany(
                "INSERT INTO ledger(tick, asset, src, dst, qty, memo) VALUES (?, ?, ?, ?, ?, ?)",
                (_ledger_row(tick, entry) for entry in ledger),
            )
            conn.execute("UPDATE runs SET last_tick = ?", (tick,))
        self._last_tick = tick

    def truncate_after(self, tick: int) -> None:
        """Delete every row of ticks after ``tick`` (events, metrics, agent_state, ledger); set last_tick.

        Resume calls this with the checkpoint's tick, so ticks the crashed run wrote after its last
        checkpoint are written again, once, by the resumed run.
        """
        tick = int(tick)
        conn = self._conn
        with _transaction(conn):
            for table in _TICK_TABLES:
                conn.execute(f"DELETE FROM {table} WHERE tick > ?", (tick,))
            # Nothing before tick 0 exists; otherwise the store now ends at ``tick`` (or earlier if it never got there).
            if self._last_tick is None or tick < 0:
                new_last = None
            else:
                new_last = min(self._last_tick, tick)
            conn.execute("UPDATE runs SET last_tick = ?, finished_at = NULL", (new_last,))
        self._last_tick = new_last

    def set_lineage(self, parent_run_id: str, parent_dir: str, fork_tick: int) -> None:
        """Record that this run is a fork of ``parent_run_id`` (folder ``parent_dir``) at ``fork_tick``."""
        with _transaction(self._conn):
            self._conn.execute(
                "UPDATE runs SET parent_run_id = ?, parent_dir = ?, fork_tick = ?",
                (parent_run_id, parent_dir, int(fork_tick)),
            )

    def copy_history(self, parent: str | Path, upto: int) -> None:
        """Copy the parent store's agents and every row of ticks ``<= upto`` (events, metrics,
        agent_state, ledger) into this store, in ONE transaction; ``last_tick`` becomes ``upto``.

        Event and ledger ids are kept, so "new since id N" still reads in order across the copy.
        """
        src = connect_readonly(parent)
        conn = self._conn
        try:
            with _transaction(conn):
                agents = src.execute("SELECT agent_id, name, policy, persona_json FROM agents")
                conn.executemany("INSERT OR REPLACE INTO agents VALUES (?, ?, ?, ?)", agents)
                for table, cols in _COPIED.items():
                    rows = src.execute(f"SELECT {cols} FROM {table} WHERE tick <= ?", (int(upto),))
                    marks = ", ".join("?" * len(cols.split(",")))
                    conn.executemany(f"INSERT INTO {table}({cols}) VALUES ({marks})", rows)
                conn.execute("UPDATE runs SET last_tick = ?", (int(upto),))
        finally:
            src.close()
        self._last_tick = int(upto)

    def set_status(self, status: str) -> None:
        """Set ``runs.status``; a status other than running also stamps ``finished_at``."""
        if status not in RUN_STATUSES:
            raise ValueError(f"status must be one of {', '.join(RUN_STATUSES)}, got {status!r}")
        finished = None if status == "running" else _now()
        self._conn.execute("UPDATE runs SET status = ?, finished_at = ?", (status, finished))

    def close(self) -> None:
        """Close the connection, then release the writer lock.

        The store goes back to rollback-journal mode first (which checkpoints the WAL into the main file and
        removes -wal and -shm), so readers of a finished run need no files beside it. With a reader still
        attached the switch is refused and the store stays in WAL mode, with its -wal and -shm, which
        readers then use; a resumed run switches back to WAL when it opens the store.
        """
        with contextlib.suppress(sqlite3.Error):
            self._conn.execute("PRAGMA journal_mode=DELETE")
        self._conn.close()
        if self._lock is not None:
            self._lock.release()

    def __enter__(self) -> EventStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def rows(self, sql: str, params: Sequence[Any] = ()) -> Iterator[tuple[Any, ...]]:
        """Run a read query on the writer's connection (tests and tools; the dashboard reads read-only)."""
        return iter(self._conn.execute(sql, params).fetchall())
