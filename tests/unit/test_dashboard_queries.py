"""The dashboard's query functions and live trackers, on the fixture run of ``dashboard_run``."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from dashboard_run import make_run, write_ticks

from dashboard import live, queries
from sim.store import EventStore


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return make_run(tmp_path / "runs")


@pytest.fixture
def conn(db: Path) -> Iterator[sqlite3.Connection]:
    c = queries.open_store(db)
    yield c
    c.close()


def test_list_runs_newest_first_with_status_and_broken_folders(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    make_run(runs, "old", ticks=2, status="finished")
    make_run(runs, "new", ticks=3, status="running")
    (runs / "broken").mkdir()
    (runs / "broken" / "config.yaml").write_text("scenario: town\n")
    (runs / "not-a-run").mkdir()
    infos = queries.list_runs(runs)
    by_id = {r.run_id: r for r in infos}
    assert set(by_id) == {"old", "new", "broken"}
    assert (by_id["old"].status, by_id["old"].last_tick) == ("finished", 1)
    assert (by_id["new"].status, by_id["new"].last_tick, by_id["new"].live) == ("running", 2, True)
    assert by_id["broken"].status == "broken"
    assert "no events.db" in (by_id["broken"].error or "")
    assert by_id["new"].label == "new - running"
    assert by_id["old"].label == "old - finished - tick 1"
    assert [r.run_id for r in infos] == ["new", "old", "broken"]  # newest first, unreadable last
    assert queries.list_runs(tmp_path / "missing") == []


def test_a_running_run_silent_for_long_is_shown_as_interrupted(db: Path) -> None:
    store = EventStore.open(db)
    store.set_status("running")
    store.close()
    assert queries.run_info(db).status == "running"
    later = os.path.getmtime(db) + queries.STALE_AFTER_S + 60
    assert queries.run_info(db, now=later).status == "interrupted"


def test_corrupt_store_gives_a_readable_error_not_an_exception(tmp_path: Path) -> None:
    bad = tmp_path / "runs" / "bad" / "events.db"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"garbage" * 500)
    info = queries.run_info(bad)
    assert info.status == "broken"
    assert "not a mesaverse event store" in (info.error or "")


def test_dialogue_newest_first_with_names_and_moderation_marks(conn: sqlite3.Connection) -> None:
    feed = queries.dialogue(conn, limit=3)
    assert list(feed["text"]) == ["hi Ada 4", "hello Bo 4", "fair price"]
    assert list(feed["speaker"]) == ["Bo", "Ada", "Di"]
    assert list(feed["listener"]) == ["Ada", "Bo", "Cy"]
    assert list(feed["flagged"]) == [False, False, True]
    assert feed["rule"].iloc[2] == "spam"


def test_dialogue_filters_by_avatar_place_and_moderation(conn: sqlite3.Connection) -> None:
    assert list(queries.dialogue(conn, avatar=3)["text"]) == ["fair price", "you idiot", "buy my wheat!!"]
    assert list(queries.dialogue(conn, place="market")["text"]) == ["fair price", "you idiot"]
    moderated = queries.dialogue(conn, flagged_only=True)
    assert list(zip(moderated["text"], moderated["rule"], moderated["delivered"], strict=True)) == [
        ("fair price", "spam", True),
        ("you idiot", "insult", False),
    ]


def test_replay_bounds_stop_every_query_at_the_chosen_tick(conn: sqlite3.Connection) -> None:
    upto = queries.max_id_at(conn, 1)
    assert list(queries.dialogue(conn, upto_id=upto, limit=2)["text"]) == ["buy my wheat!!", "hi Ada 1"]
    assert list(queries.trades(conn, upto_id=upto)["item"]) == ["bread"]
    assert queries.moderation_counts(conn, upto_id=upto).empty
    world = queries.world_at(conn, 1)
    assert dict(zip(world["name"], world["coins"], strict=True)) == {
        "Ada": 99.0,
        "Bo": 51.0,
        "Cy": 20.0,
        "Di": 5.0,
    }
    assert list(queries.metric_series(conn, ["gini"], upto_tick=1)["value"]) == pytest.approx([0.1, 0.15])


def test_world_at_uses_the_latest_snapshot_at_or_before_the_tick(tmp_path: Path) -> None:
    store = EventStore.create(tmp_path / "e.db", run_id="r", scenario="s", seed=0, config={})
    store.write_tick(0, [], {}, [(1, "plaza", 1.0, 2.0, 5.0, {})])
    store.write_tick(1, [], {}, [])  # no snapshot this tick
    c = queries.open_store(tmp_path / "e.db")
    world = queries.world_at(c, 1)
    assert list(
        world[["agent_id", "place", "coins", "snapshot_tick"]].itertuples(index=False, name=None)
    ) == [(1, "plaza", 5.0, 0)]
    assert queries.world_at(c, -1).empty
    c.close()
    store.close()


def test_trades_show_names_item_price_and_tax(conn: sqlite3.Connection) -> None:
    rows = queries.trades(conn)
    assert list(
        rows[["tick", "item", "qty", "price", "tax", "buyer", "seller"]].itertuples(index=False, name=None)
    ) == [
        (3, "tool", 1, 10.0, 1.0, "Cy", "Ada"),
        (1, "bread", 2, 3.0, 0.3, "Ada", "Bo"),
    ]


def test_metric_series_by_prefix_and_after_tick(conn: sqlite3.Connection) -> None:
    prices = queries.metric_series(conn, prefix="price.", after_tick=2)
    assert list(prices.itertuples(index=False, name=None)) == [
        (3, "price.bread", 4.5),
        (4, "price.bread", 5.0),
        (3, "price.tool", 10.0),
        (4, "price.tool", 10.0),
    ]
    assert "llm.replica.1.tokens_per_s" in queries.metric_names(conn)
    assert len(queries.metric_names(conn)) == 20


def test_edges_and_strongest_ties_count_interactions_both_ways(conn: sqlite3.Connection) -> None:
    edges = queries.edges(conn)
    assert dict(zip(zip(edges["actor"], edges["target"], strict=True), edges["weight"], strict=True)) == {
        (1, 2): 6,  # 5 greetings + 1 trade
        (2, 1): 5,
        (2, 3): 1,
        (3, 1): 1,  # the tool trade, Cy buying from Ada
        (3, 4): 1,
        (4, 3): 1,
    }
    ties = queries.strongest_ties(conn, 1)
    assert list(ties[["name", "interactions"]].itertuples(index=False, name=None)) == [("Bo", 11), ("Cy", 1)]


def test_moderation_log_counts_and_confusion(conn: sqlite3.Connection) -> None:
    log = queries.moderation_log(conn)
    assert list(log[["avatar", "rule", "evidence", "sanction"]].itertuples(index=False, name=None)) == [
        ("Di", "spam", "price", "none"),
        ("Cy", "insult", "idiot", "mute"),
    ]
    counts = queries.moderation_counts(conn)
    assert list(counts.itertuples(index=False, name=None)) == [("insult", 1, 1), ("spam", 1, 0)]
    assert queries.moderation_confusion(conn) == {"labelled": 13, "tp": 1, "fp": 1, "fn": 1}


def test_confusion_is_additive_over_id_ranges(conn: sqlite3.Connection) -> None:
    split = queries.max_id_at(conn, 1)
    tally = live.ConfusionTally()
    tally.refresh(lambda after: queries.moderation_confusion(conn, after_id=after, upto_id=split), split)
    assert tally.counts == {"labelled": 5, "tp": 0, "fp": 0, "fn": 1}
    end = queries.event_count(conn)
    tally.refresh(lambda after: queries.moderation_confusion(conn, after_id=after, upto_id=end), end)
    assert tally.counts == queries.moderation_confusion(conn)


def test_projects_progress_contributors_and_outcome(conn: sqlite3.Connection) -> None:
    table = queries.projects(conn)
    rows = table[["name", "proposer", "contributors", "contributions", "progress", "outcome"]]
    assert list(rows.itertuples(index=False, name=None)) == [
        ("Bridge", "Ada", "Ada, Bo", 1, 1.0, "completed"),
        ("Well", "Cy", "Cy", 0, 0.0, "failed"),
    ]
    mid = queries.projects(conn, upto_id=queries.max_id_at(conn, 2))
    assert list(zip(mid["name"], mid["progress"], mid["outcome"], strict=True)) == [
        ("Bridge", 0.5, "active"),
        ("Well", 0.0, "active"),
    ]


def test_agent_profile_and_history(conn: sqlite3.Connection) -> None:
    assert queries.agent_profile(conn, 1) == {
        "agent_id": 1,
        "name": "Ada",
        "policy": "llm",
        "persona": {"role": "trader", "traits": ["curious"]},
    }
    assert queries.agent_profile(conn, 99) is None
    history = queries.agent_history(conn, 2, upto_tick=2)
    assert list(history["coins"]) == [50.0, 51.0, 52.0]
    assert history["data"].iloc[-1]["needs"] == {"food": 0.2}


def test_row_tail_reads_only_new_rows_and_keeps_the_newest(db: Path, conn: sqlite3.Connection) -> None:
    calls: list[int] = []

    def fetch(after: int) -> pd.DataFrame:
        calls.append(after)
        return queries.dialogue(conn, after_id=after, limit=5)

    tail = live.RowTail(limit=5)
    assert tail.refresh(fetch) == 5
    first_last_id = tail.last_id
    assert tail.refresh(fetch) == 0
    store = EventStore.open(db)
    write_ticks(store, range(5, 6))
    store.close()
    assert tail.refresh(fetch) == 2
    assert calls == [0, first_last_id, first_last_id]
    assert list(tail.rows["text"]) == ["hi Ada 5", "hello Bo 5", "hi Ada 4", "hello Bo 4", "fair price"]


def test_tracker_starts_over_when_the_store_was_truncated() -> None:
    state: dict[str, object] = {}
    tail = live.tracker(state, "k", live.RowTail, store_end=10)
    tail.last_id = 10
    assert live.tracker(state, "k", live.RowTail, store_end=12) is tail
    fresh = live.tracker(state, "k", live.RowTail, store_end=4)
    assert fresh is not tail
    assert fresh.last_id == 0


def test_projects_read_the_worlds_own_keys_needs_qty_template(tmp_path: Path) -> None:
    store = EventStore.create(tmp_path / "e.db", run_id="r", scenario="s", seed=0, config={})
    store.register_agents([(1, "Ada", "rule", {}), (2, "Bo", "rule", {}), (3, "Cy", "rule", {})])
    propose = {
        "project_id": 7,
        "template": "well",
        "deadline": 9,
        "needs": {"stone": 3, "wood": 1},
        "pledge": 2,
    }
    store.write_tick(0, [("project_propose", 1, None, "plaza", "well", propose)], {}, [])
    store.write_tick(
        1,
        [
            ("project_contribute", 2, None, "plaza", "well", {"project_id": 7, "item": "stone", "qty": 1}),
            ("project_contribute", 3, None, "plaza", "well", {"project_id": 7, "item": "wood", "qty": 1}),
        ],
        {},
        [],
    )
    c = queries.open_store(tmp_path / "e.db")
    row = queries.projects(c).iloc[0]
    assert (
        row["name"],
        row["proposer"],
        row["contributors"],
        row["contributions"],
        row["progress"],
        row["outcome"],
    ) == (
        "well",
        "Ada",
        "Ada, Bo, Cy",
        2,
        0.5,
        "active",
    )
    c.close()
    store.write_tick(
        2,
        [("project_complete", 1, None, "plaza", "well", {"project_id": 7, "contributors": [1, 2, 3]})],
        {},
        [],
    )
    c = queries.open_store(tmp_path / "e.db")
    assert list(queries.projects(c)[["progress", "outcome"]].itertuples(index=False, name=None)) == [
        (1.0, "completed")
    ]
    c.close()
    store.close()
