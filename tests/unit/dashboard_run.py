"""A small, fully known run database for the dashboard tests (query functions and AppTest panels).

Four avatars over ticks 0..4. Every figure the tests assert is spelled out here:

- say: each tick Ada -> Bo "hello Bo <t>" and Bo -> Ada "hi Ada <t>" at the plaza (clean, violation False);
  tick 1 Bo -> Cy "buy my wheat!!" (a violation moderation missed); tick 2 Cy -> Di "you idiot"
  (flagged, rule insult, blocked, a violation); tick 3 Di -> Cy "fair price" (flagged, rule spam, clean).
  So ground truth gives tp=1, fp=1, fn=1: precision 0.5, recall 0.5.
- moderation: tick 2 insult on Cy (sanction mute), tick 3 spam on Di (sanction none).
- trades: tick 1 Ada buys 2 bread from Bo at 3.0; tick 3 Cy buys 1 tool from Ada at 10.0.
- projects: 1 "Bridge" (Ada proposes t1, Bo joins t1, Bo contributes t2 progress 0.5, completed t3);
  2 "Well" (Cy proposes t2, fails t4).
- metrics per tick t: population 4, gini 0.1 + 0.05 t, treasury 10 + t, price.bread 3 + 0.5 t, price.tool 10,
  trades, trade_volume, graph.density 0.5, llm.* (tokens/s 100 + 10 t, two replicas).
- agent_state per tick t: Ada (plaza, coins 100 - t), Bo (plaza, 50 + t), Cy (market, 20), Di (market, 5);
  data: needs {food: 0.1 t}, inventory {bread: t}, memory ["met someone at tick 0" ... "<t>"].
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sim.store import EventStore

AGENTS = [
    (1, "Ada", "llm", {"role": "trader", "traits": ["curious"]}),
    (2, "Bo", "rule", {"role": "farmer"}),
    (3, "Cy", "rule", {"role": "farmer"}),
    (4, "Di", "llm", {"role": "guard"}),
]
PLACES = {1: "plaza", 2: "plaza", 3: "market", 4: "market"}


def _say(actor: int, target: int, text: str, **data: Any) -> tuple[Any, ...]:
    base = {"flagged": False, "rule": None, "delivered": True, "conversation_id": actor * 10 + target}
    base.update(data)
    base.setdefault("violation", False)
    return ("say", actor, target, PLACES[actor], text, base)


def tick_events(t: int) -> list[tuple[Any, ...]]:
    """The events of tick ``t`` (see the module docstring)."""
    events = [_say(1, 2, f"hello Bo {t}"), _say(2, 1, f"hi Ada {t}")]
    if t == 1:
        events.append(_say(2, 3, "buy my wheat!!", violation=True))
        events.append(
            (
                "trade",
                1,
                2,
                "market",
                "2 bread for 6",
                {
                    "item": "bread",
                    "qty": 2,
                    "price": 3.0,
                    "tax": 0.3,
                    "buyer": 1,
                    "seller": 2,
                    "via": "offer",
                },
            )
        )
        events.append(("project_propose", 1, None, "plaza", "Bridge", {"project_id": 1, "name": "Bridge"}))
        events.append(("project_join", 2, None, "plaza", "", {"project_id": 1}))
    if t == 2:
        events.append(_say(3, 4, "you idiot", flagged=True, rule="insult", delivered=False, violation=True))
        events.append(
            (
                "moderation",
                3,
                4,
                "market",
                "you idiot",
                {"rule": "insult", "evidence": "idiot", "sanction": "mute", "ground_truth": True},
            )
        )
        events.append(("sanction", 3, None, "market", "muted", {"sanction": "mute"}))
        events.append(("project_contribute", 2, None, "plaza", "", {"project_id": 1, "progress": 0.5}))
        events.append(("project_propose", 3, None, "market", "Well", {"project_id": 2, "name": "Well"}))
    if t == 3:
        events.append(_say(4, 3, "fair price", flagged=True, rule="spam", violation=False))
        events.append(
            (
                "moderation",
                4,
                3,
                "market",
                "fair price",
                {"rule": "spam", "evidence": "price", "sanction": "none", "ground_truth": False},
            )
        )
        events.append(
            (
                "trade",
                3,
                1,
                "market",
                "1 tool for 10",
                {"item": "tool", "qty": 1, "price": 10.0, "tax": 1.0, "buyer": 3, "seller": 1, "via": "book"},
            )
        )
        events.append(("project_complete", None, None, "plaza", "Bridge", {"project_id": 1}))
    if t == 4:
        events.append(("project_fail", None, None, "market", "Well", {"project_id": 2}))
    return events


def tick_metrics(t: int) -> dict[str, float]:
    """The metrics of tick ``t``."""
    return {
        "population": 4,
        "messages": len([e for e in tick_events(t) if e[0] == "say"]),
        "gini": 0.1 + 0.05 * t,
        "top10_share": 0.3,
        "treasury": 10 + t,
        "coins_total": 175,
        "price.bread": 3 + 0.5 * t,
        "price.tool": 10.0,
        "trades": 1 if t in (1, 3) else 0,
        "trade_volume": {1: 6.0, 3: 10.0}.get(t, 0.0),
        "graph.density": 0.5,
        "graph.clustering": 0.25,
        "llm.tokens_per_s": 100 + 10 * t,
        "llm.requests": 8,
        "llm.batch_size_mean": 4,
        "llm.latency_p50": 0.2,
        "llm.latency_p95": 0.5,
        "llm.queue_depth": 0,
        "llm.replica.0.tokens_per_s": 50 + 5 * t,
        "llm.replica.1.tokens_per_s": 50 + 5 * t,
    }


def tick_states(t: int) -> list[tuple[Any, ...]]:
    """The avatar snapshots of tick ``t``."""
    coins = {1: 100 - t, 2: 50 + t, 3: 20, 4: 5}
    data = {
        "needs": {"food": round(0.1 * t, 2)},
        "inventory": {"bread": t},
        "memories": [f"met someone at tick {i}" for i in range(t + 1)],
    }
    return [(a, PLACES[a], None, None, coins[a], data) for a, *_ in AGENTS]


def write_ticks(store: EventStore, ticks: range) -> None:
    """Write the given ticks of the fixture run."""
    for t in ticks:
        store.write_tick(t, tick_events(t), tick_metrics(t), tick_states(t))


def make_run(runs_dir: Path, run_id: str = "run-a", *, ticks: int = 5, status: str = "finished") -> Path:
    """Create ``runs_dir/run_id/events.db`` with ticks ``0..ticks-1``; returns the db path."""
    path = runs_dir / run_id / "events.db"
    store = EventStore.create(path, run_id=run_id, scenario="town", seed=3, config={"scenario": "town"})
    store.register_agents(AGENTS)
    write_ticks(store, range(ticks))
    if status != "running":
        store.set_status(status)
    store.close()
    return path


# -- what-if runs (the store contract of `mesaverse fork / inject / interview`) -------------------------

LINEAGE_COLUMNS = (("parent_run_id", "TEXT"), ("parent_dir", "TEXT"), ("fork_tick", "INTEGER"))
INTERVIEWS_DDL = (
    "CREATE TABLE IF NOT EXISTS interviews(id INTEGER PRIMARY KEY, tick INTEGER NOT NULL,"
    " agent_id INTEGER NOT NULL, question TEXT NOT NULL, answer TEXT NOT NULL, model TEXT,"
    " asked_at TEXT NOT NULL)"
)


def mark_fork(db: Path, *, parent_run_id: str, parent_dir: str, fork_tick: int) -> None:
    """Give a closed store the lineage columns and values a fork has (what `mesaverse fork` writes)."""
    import sqlite3

    conn = sqlite3.connect(db)
    try:
        have = {row[1] for row in conn.execute("PRAGMA table_info(runs)")}
        for name, kind in LINEAGE_COLUMNS:
            if name not in have:
                conn.execute(f"ALTER TABLE runs ADD COLUMN {name} {kind}")
        conn.execute(
            "UPDATE runs SET parent_run_id = ?, parent_dir = ?, fork_tick = ?",
            (parent_run_id, parent_dir, fork_tick),
        )
        conn.commit()
    finally:
        conn.close()


def add_interviews(db: Path, rows: list[tuple[int, int, str, str, str | None]]) -> None:
    """Add ``(tick, agent_id, question, answer, model)`` interviews (what `mesaverse interview` writes)."""
    import sqlite3

    conn = sqlite3.connect(db)
    try:
        conn.execute(INTERVIEWS_DDL)
        conn.executemany(
            "INSERT INTO interviews(tick, agent_id, question, answer, model, asked_at)"
            " VALUES (?, ?, ?, ?, ?, '2026-01-01T00:00:00Z')",
            rows,
        )
        conn.commit()
    finally:
        conn.close()


def fork_events(t: int, fork_tick: int) -> list[tuple[Any, ...]]:
    """The fork's events: the parent's, plus a price shock applied and a tax refused at ``fork_tick + 1``."""
    events = tick_events(t)
    if t == fork_tick + 1:
        events.insert(
            0,
            (
                "intervention",
                None,
                None,
                None,
                "Bread doubles in price",
                {"type": "price_shock", "item": "bread", "factor": 2.0, "status": "applied", "reason": None},
            ),
        )
        events.append(
            (
                "intervention",
                None,
                None,
                None,
                "",
                {"type": "tax", "rate": 9, "status": "refused", "reason": "rate > 1"},
            )
        )
    return events


def make_fork(
    runs_dir: Path, parent: Path, run_id: str = "run-a-fork", *, fork_tick: int = 2, ticks: int = 5
) -> Path:
    """A fork of the run at ``parent`` (an events.db) from ``fork_tick``: the same ticks up to it, then
    an intervention at ``fork_tick + 1`` and a Gini 0.2 higher from there on. Returns the db path.

    Built directly with the store and :func:`mark_fork`; `mesaverse fork PARENT --at-tick T --events F`
    is the real way, and can replace this once it exists.
    """
    path = runs_dir / run_id / "events.db"
    store = EventStore.create(path, run_id=run_id, scenario="town", seed=3, config={"scenario": "town"})
    store.register_agents(AGENTS)
    for t in range(ticks):
        metrics = tick_metrics(t)
        if t > fork_tick:
            metrics["gini"] += 0.2
        store.write_tick(t, fork_events(t, fork_tick), metrics, tick_states(t))
    store.set_status("finished")
    store.close()
    parent_id = parent.parent.name
    mark_fork(path, parent_run_id=parent_id, parent_dir=str(parent.parent), fork_tick=fork_tick)
    return path
