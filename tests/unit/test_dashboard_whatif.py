"""What-if runs on the dashboard: lineage, interventions, interviews, divergence, the overview and compare
pages, against the fixture run of ``dashboard_run`` and its fork (``make_fork``)."""

from __future__ import annotations

import html
import re
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from dashboard_run import add_interviews, make_fork, make_run, write_ticks
from streamlit.testing.v1 import AppTest

from dashboard import queries, whatif
from dashboard.panels.world_map import layout
from sim.store import EventStore

APP = str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py")


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Path, Path]:
    runs = tmp_path / "runs"
    parent = make_run(runs)
    return parent, make_fork(runs, parent)


def _app(runs: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("MESAVERSE_RUNS_DIR", str(runs))
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    return at


def _visible(fragment: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", fragment))


def _table(at: AppTest) -> list[list[str]]:
    """The interventions table's cells, as a browser shows them."""
    fragment = next(h.value for h in at.html if "mv-interventions" in h.value)
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", fragment, flags=re.S)
    return [[_visible(c) for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", r, flags=re.S)] for r in rows]


def test_run_info_reads_lineage_and_old_stores_have_none(pair: tuple[Path, Path]) -> None:
    parent, fork = pair
    info = queries.run_info(fork)
    assert (info.parent_run_id, info.parent_dir, info.fork_tick) == ("run-a", str(parent.parent), 2)
    assert info.label == "run-a-fork - finished - tick 4 - fork of run-a at tick 2"
    old = queries.run_info(parent)  # no lineage columns at all
    assert (old.parent_run_id, old.fork_tick) == (None, None)
    assert old.label == "run-a - finished - tick 4"
    runs = queries.list_runs(parent.parent.parent)
    assert whatif.find_parent(info, runs) == old
    assert whatif.find_parent(old, runs) is None


def test_interventions_newest_first_with_status(pair: tuple[Path, Path]) -> None:
    conn = queries.open_store(pair[1])
    try:
        frame = whatif.interventions(conn)
        assert list(frame[["tick", "type", "status", "reason"]].itertuples(index=False, name=None)) == [
            (3, "tax", "refused", "rate > 1"),
            (3, "price_shock", "applied", ""),
        ]
        assert frame["details"].iloc[1] == '{"factor": 2.0, "item": "bread"}'
        assert whatif.interventions(conn, upto_id=queries.max_id_at(conn, 2)).empty
    finally:
        conn.close()


def test_interviews_only_where_the_table_exists(pair: tuple[Path, Path]) -> None:
    parent, fork = pair
    add_interviews(
        fork,
        [
            (1, 2, "How is the harvest?", "Good, wheat is up.", "smollm2-135m"),
            (4, 2, "And now?", "Tired.", None),
        ],
    )
    conn = queries.open_store(fork)
    try:
        asked = whatif.interviews(conn, 2)
        assert asked is not None
        assert list(asked[["tick", "question", "answer"]].itertuples(index=False, name=None)) == [
            (4, "And now?", "Tired."),
            (1, "How is the harvest?", "Good, wheat is up."),
        ]
        assert len(whatif.interviews(conn, 2, upto_tick=3)) == 1  # type: ignore[arg-type]
        assert whatif.interviews(conn, 1).empty  # type: ignore[union-attr]
    finally:
        conn.close()
    conn = queries.open_store(parent)  # a schema-2 store: the table is there, empty
    try:
        assert whatif.interviews(conn, 2).empty  # type: ignore[union-attr]
    finally:
        conn.close()
    with sqlite3.connect(parent) as raw:  # a store of schema 1 had no interviews table
        raw.execute("DROP TABLE interviews")
    raw.close()
    conn = queries.open_store(parent)
    try:
        assert whatif.interviews(conn, 2) is None
    finally:
        conn.close()


def test_kind_counts_per_tick(pair: tuple[Path, Path]) -> None:
    conn = queries.open_store(pair[0])
    try:
        frame = whatif.kind_counts(conn, {"messages": "say", "sanctions": "sanction"})
        got = {(n, t): v for t, n, v in frame.itertuples(index=False, name=None)}
        assert got[("messages", 0)] == 2 and got[("messages", 1)] == 3 and got[("sanctions", 2)] == 1
        assert ("sanctions", 1) not in got
        after = whatif.kind_counts(conn, {"messages": "say"}, after_id=queries.max_id_at(conn, 3))
        assert list(after["tick"]) == [4]
    finally:
        conn.close()


def test_a_fork_diverges_where_its_intervention_is_and_twins_never(
    pair: tuple[Path, Path], tmp_path: Path
) -> None:
    parent, fork = pair
    a, b = queries.open_store(fork), queries.open_store(parent)
    try:
        scan = whatif.DivergenceScan()
        assert scan.refresh(a, b, 4, 4) == (0, 4)
        assert scan.metric == whatif.Divergence(3, "metric", "gini", "0.45", "0.25")
        assert scan.events is not None and scan.events.tick == 3
        assert scan.events.in_a.startswith("intervention: Bread doubles in price")
        assert scan.first(4) == scan.metric  # same tick: the metric is named first
        assert scan.first(2) is None  # as at tick 2 they were still the same
    finally:
        a.close()
        b.close()
    twin = make_run(tmp_path / "twins", "twin", ticks=3, status="running")
    a, b = queries.open_store(twin), queries.open_store(parent)
    try:
        scan = whatif.DivergenceScan()
        assert scan.refresh(a, b, 2, 4) == (0, 2)  # only the ticks both hold
        assert scan.first(4) is None
    finally:
        a.close()
        b.close()
    store = EventStore.open(twin)
    write_ticks(store, range(3, 5))
    store.close()
    a, b = queries.open_store(twin), queries.open_store(parent)
    try:
        assert scan.refresh(a, b, 4, 4) == (0, 4)
        assert scan.checked_through == 4 and scan.first(4) is None
    finally:
        a.close()
        b.close()


def test_layout_spreads_a_crowd_around_its_place_and_keeps_places_apart() -> None:
    n = 1000
    world = pd.DataFrame(
        {
            "agent_id": range(n),
            "place": ["plaza"] * 900 + ["market"] * 99 + [None],
            "x": [10.0] * 900 + [12.0] * 99 + [None],
            "y": [10.0] * 999 + [None],
        }
    )
    centres = {"plaza": (10.0, 10.0), "market": (12.0, 10.0), "farm": (4.0, 14.0)}
    avatars, places = layout(world, centres)
    assert set(places["place"]) == {"plaza", "market", "farm", "(travelling)"}
    plaza = avatars[avatars["place"] == "plaza"]
    points = plaza[["px", "py"]].round(6).drop_duplicates()
    assert len(points) == 900  # nobody stacked on the place's point
    dist = np.hypot(plaza["px"] - 10.0, plaza["py"] - 10.0)
    assert dist.max() < 1.0  # under half the 2 units to the market
    again, _ = layout(world, centres)
    assert again[["px", "py"]].equals(avatars[["px", "py"]])  # the same every refresh


def test_overview_opens_first_with_feed_and_metrics(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_run(tmp_path / "runs")
    at = _app(tmp_path / "runs", monkeypatch)
    assert at.sidebar.radio(key="panel").value == "Overview"
    lines = [_visible(h.value) for h in at.html if "<li>" in h.value]
    assert lines and lines[0].startswith("t4 Bo → Ada @ plaza: hi Ada 4")
    assert any("Latest dialogue: the 13 newest lines" in c.value for c in at.caption)
    assert any("No interventions in this run" in c.value for c in at.caption)


def test_overview_lists_a_forks_interventions(
    pair: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    at = _app(pair[0].parent.parent, monkeypatch)
    assert "fork of run-a at tick 2" in _visible(next(h.value for h in at.html if "mv-caption" in h.value))
    assert _table(at) == [
        ["tick", "type", "status", "text", "reason", "details"],
        ["3", "tax", "refused", "", "rate > 1", '{"rate": 9}'],
        ["3", "price_shock", "applied", "Bread doubles in price", "", '{"factor": 2.0, "item": "bread"}'],
    ]


def test_compare_preselects_the_parent_and_names_the_divergence(
    pair: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    at = _app(pair[0].parent.parent, monkeypatch)
    at.sidebar.radio(key="panel").set_value("Compare runs").run()
    assert not at.exception, at.exception
    picker = at.selectbox(key=f"compare_with:{pair[1]}")
    assert picker.value == 0 and picker.options[0].startswith("parent: run-a - finished")
    assert {m.label: m.value for m in at.metric} == {
        "Fork tick": "2",
        "First difference": "tick 3",
        "Ticks compared": "0–4",
    }
    words = next(_visible(h.value) for h in at.html if "mv-divergence" in h.value)
    assert words == "They first differ at tick 3: metric gini is 0.45 in A and 0.25 in B."
    assert at.multiselect(key="compare_metrics").value == [
        "population",
        "messages",
        "trades",
        "gini",
        "llm.tokens_per_s",
    ]
    assert [row[:3] for row in _table(at)] == [
        ["run", "tick", "type"],
        ["A", "3", "tax"],
        ["A", "3", "price_shock"],
    ]


def test_compare_with_no_other_run_says_how_to_fork(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_run(tmp_path / "runs")
    at = _app(tmp_path / "runs", monkeypatch)
    at.sidebar.radio(key="panel").set_value("Compare runs").run()
    assert not at.exception
    assert "mesaverse fork" in at.info[0].value


def test_inspector_shows_interviews(pair: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    add_interviews(pair[1], [(1, 2, "How is the harvest?", "Good, wheat is up.", "smollm2-135m")])
    at = _app(pair[0].parent.parent, monkeypatch)
    at.sidebar.radio(key="panel").set_value("Avatar inspector").run()
    at.selectbox(key="inspect_avatar").set_value(2).run()
    assert not at.exception
    shown = next(_visible(h.value) for h in at.html if "mv-interview" in h.value)
    assert "t1 Q: How is the harvest?" in shown and "A: Good, wheat is up." in shown
