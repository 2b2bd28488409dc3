"""Each dashboard panel under Streamlit's AppTest, against the fixture run of ``dashboard_run``.

The assertions read the figures and texts the page shows (st.metric, tables, markdown), not just
that it rendered.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
from dashboard_run import make_run, write_ticks
from streamlit.testing.v1 import AppTest

from dashboard import queries
from sim.store import EventStore

APP = str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py")


def _app(runs: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("MESAVERSE_RUNS_DIR", str(runs))
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    return at


def _panel(at: AppTest, name: str) -> AppTest:
    at.sidebar.radio(key="panel").set_value(name).run()
    assert not at.exception, at.exception
    return at


def _metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def _visible(fragment: str) -> str:
    """What a browser shows of an HTML fragment: the text, tags dropped, entities decoded."""
    return html.unescape(re.sub(r"<[^>]+>", "", fragment))


def _text(at: AppTest) -> str:
    """The bullet lines the page shows (dialogue feed, memories), as "- text" lines."""
    items = [item for h in at.html for item in re.findall(r"<li>(.*?)</li>", h.value, flags=re.S)]
    return "\n".join(f"- {_visible(item)}" for item in items)


def _run_caption(at: AppTest) -> str:
    return _visible(next(h.value for h in at.html if "mv-caption" in h.value))


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    make_run(tmp_path / "runs")
    return tmp_path / "runs"


# -- empty and broken states ----------------------------------------------------------------------


def test_no_runs_says_how_to_start_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "runs").mkdir()
    at = _app(tmp_path / "runs", monkeypatch)
    assert not at.exception
    assert "has no runs yet" in at.info[0].value
    assert "mesaverse run configs/town.yaml" in at.info[0].value


def test_missing_runs_folder_is_a_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _app(tmp_path / "nothing-here", monkeypatch)
    assert not at.exception
    assert "does not exist yet" in at.info[0].value


def test_corrupt_database_is_a_message_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = tmp_path / "runs" / "bad" / "events.db"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"definitely not sqlite" * 300)
    at = _app(tmp_path / "runs", monkeypatch)
    assert not at.exception
    assert at.error[0].value == "Cannot read this run."
    assert "not a mesaverse event store" in at.text[0].value  # the detail, as plain text


def test_run_folder_without_database_is_a_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "runs" / "half").mkdir(parents=True)
    (tmp_path / "runs" / "half" / "config.yaml").write_text("scenario: town\n")
    at = _app(tmp_path / "runs", monkeypatch)
    assert not at.exception
    assert "no events.db in this run folder" in at.text[0].value


@pytest.mark.parametrize(
    ("status", "message"),
    [("finished", "This run recorded no ticks"), ("running", "This run has no ticks yet")],
)
def test_run_with_no_events_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, status: str, message: str
) -> None:
    store = EventStore.create(
        tmp_path / "runs" / "empty" / "events.db", run_id="empty", scenario="town", seed=0, config={}
    )
    if status != "running":
        store.set_status(status)
    store.close()
    at = _app(tmp_path / "runs", monkeypatch)
    assert not at.exception
    assert message in at.info[0].value


# -- run list ----------------------------------------------------------------------------------------


def test_opens_the_newest_run_and_lists_all(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runs = tmp_path / "runs"
    make_run(runs, "older", ticks=2)
    make_run(runs, "newer", ticks=5, status="running")
    at = _app(runs, monkeypatch)
    picker = at.sidebar.selectbox(key="run")
    assert picker.options == ["newer - running", "older - finished - tick 1"]
    assert picker.value == 0
    assert at.sidebar.radio(key="mode:True").value == "Live"
    assert "newer" in _run_caption(at)
    assert "live at tick 4" in _run_caption(at)


# -- panels ------------------------------------------------------------------------------------------


def test_world_map_counts_avatars_places_and_coins(runs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _panel(_app(runs, monkeypatch), "World map")
    assert _metrics(at) == {"Avatars": "4", "Places": "2", "Coins held": "175"}
    places = at.dataframe[0].value
    assert list(places.itertuples(index=False, name=None)) == [("market", 2), ("plaza", 2)]


def test_dialogue_feed_newest_first_with_moderation_marks(
    runs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = _panel(_app(runs, monkeypatch), "Dialogue")
    lines = _text(at).splitlines()
    assert lines[0] == "- t4 Bo → Ada @ plaza: hi Ada 4"
    assert lines[1] == "- t4 Ada → Bo @ plaza: hello Bo 4"
    assert lines[2].startswith("- ⚑ flagged · rule spam fair price ←")
    assert "13 newest messages shown" in at.caption[0].value
    assert "2 of them moderated" in at.caption[0].value


def test_dialogue_filters_moderated_and_avatar(runs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _panel(_app(runs, monkeypatch), "Dialogue")
    at.toggle(key="dlg_flagged").set_value(True).run()
    lines = _text(at).splitlines()
    assert len(lines) == 2
    assert "blocked · rule insult" in lines[1]
    assert "you idiot" in lines[1]
    at.toggle(key="dlg_flagged").set_value(False).run()
    at.selectbox(key="dlg_avatar").set_value(3).run()
    texts = _text(at)
    assert "buy my wheat!!" in texts
    assert "hello Bo" not in texts
    at.text_input(key="dlg_place").set_value("market").run()
    assert len(_text(at).splitlines()) == 2


def test_economy_shows_gini_treasury_trades(runs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _panel(_app(runs, monkeypatch), "Economy")
    assert _metrics(at) == {
        "Gini": "0.300",
        "Treasury": "14.00",
        "Trades this tick": "0",
        "Trade volume this tick": "0.00",
    }
    latest = at.dataframe[0].value
    assert list(latest[["tick", "item", "price", "buyer", "seller"]].itertuples(index=False, name=None)) == [
        (3, "tool", 10.0, "Cy", "Ada"),
        (1, "bread", 3.0, "Ada", "Bo"),
    ]


def test_social_graph_counts_ties_and_communities(runs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _panel(_app(runs, monkeypatch), "Social graph")
    metrics = _metrics(at)
    assert metrics["Avatars with ties"] == "4"
    assert metrics["Ties"] == "4"  # Ada-Bo, Bo-Cy, Ada-Cy, Cy-Di
    assert int(metrics["Communities (drawn)"]) >= 1


def test_moderation_counts_and_precision_recall(runs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _panel(_app(runs, monkeypatch), "Moderation")
    assert _metrics(at) == {"Decisions": "2", "Sanctioned": "1", "Precision": "0.50", "Recall": "0.50"}
    assert "1 caught, 1 false alarms, 1 missed" in at.caption[0].value
    by_rule = at.dataframe[0].value
    assert list(by_rule.itertuples(index=False, name=None)) == [("insult", 1, 1), ("spam", 1, 0)]
    log = at.dataframe[1].value
    assert list(log[["avatar", "rule", "evidence", "sanction"]].itertuples(index=False, name=None)) == [
        ("Di", "spam", "price", "none"),
        ("Cy", "insult", "idiot", "mute"),
    ]


def test_projects_progress_and_outcomes(runs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _panel(_app(runs, monkeypatch), "Projects")
    assert _metrics(at) == {"Active": "0", "Completed": "1", "Failed": "1"}
    table = at.dataframe[0].value
    assert list(
        table[["name", "contributors", "progress", "outcome"]].itertuples(index=False, name=None)
    ) == [
        ("Bridge", "Ada, Bo", 1.0, "completed"),
        ("Well", "Cy", 0.0, "failed"),
    ]


def test_llm_serving_latest_figures(runs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _panel(_app(runs, monkeypatch), "LLM serving")
    assert _metrics(at) == {
        "Tokens/s": "140.0",
        "Requests": "8",
        "Batch size": "4.0",
        "Latency p50 / p95 (s)": "0.20 / 0.50",
        "Queue depth": "0",
    }


def test_avatar_inspector_profile_ties_memory_dialogue(runs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _panel(_app(runs, monkeypatch), "Avatar inspector")
    at.selectbox(key="inspect_avatar").set_value(2).run()
    assert _metrics(at) == {"Coins": "54.00"}
    figures = [_visible(h.value) for h in at.html]
    assert "Placeplaza" in figures and "Rolefarmer" in figures  # run text: shown as text, not st.metric
    needs, inventory, ties = (d.value for d in at.dataframe)
    assert list(needs.itertuples(index=False, name=None)) == [("food", 0.4)]
    assert list(inventory.itertuples(index=False, name=None)) == [("bread", 4)]
    assert list(ties[["name", "interactions"]].itertuples(index=False, name=None)) == [("Ada", 11), ("Cy", 1)]
    text = _text(at)
    assert "- met someone at tick 4\n- met someone at tick 3" in text
    assert "Bo → Cy @ plaza: buy my wheat!!" in text


# -- replay and live ----------------------------------------------------------------------------------


def test_replay_slider_shows_the_world_as_it_was(runs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _panel(_app(runs, monkeypatch), "Economy")
    at.sidebar.slider(key=f"tick:{runs / 'run-a' / 'events.db'}").set_value(2).run()
    assert _metrics(at)["Gini"] == "0.200"
    assert _metrics(at)["Treasury"] == "12.00"
    _panel(at, "Dialogue")
    assert _text(at).splitlines()[0] == "- ⚑ blocked · rule insult you idiot ← t2 Cy → Di @ market"
    _panel(at, "Projects")
    assert _metrics(at) == {"Active": "2", "Completed": "0", "Failed": "0"}


def test_live_refresh_reads_only_new_events(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = make_run(tmp_path / "runs", "live-run", ticks=3, status="running")
    calls: list[int] = []
    real_dialogue = queries.dialogue

    def spy(*args, **kwargs):
        calls.append(kwargs.get("after_id", 0))
        return real_dialogue(*args, **kwargs)

    monkeypatch.setattr(queries, "dialogue", spy)
    at = _panel(_app(tmp_path / "runs", monkeypatch), "Dialogue")
    assert "you idiot ←" in _text(at).splitlines()[0]  # the last message of tick 2
    store = EventStore.open(db)
    last_id_before = next(store.rows("SELECT MAX(id) FROM events WHERE kind = 'say'"))[0]
    write_ticks(store, range(3, 5))
    store.close()
    calls.clear()
    at.run()  # what the fragment's timer does
    assert not at.exception
    assert calls == [last_id_before]  # only the events written since the last refresh were read
    lines = _text(at).splitlines()
    assert lines[0].endswith("hi Ada 4")
    assert lines[1].endswith("hello Bo 4")
    assert "live at tick 4" in _run_caption(at)


def test_pause_stops_the_live_refresh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_run(tmp_path / "runs", "live-run", ticks=2, status="running")
    at = _app(tmp_path / "runs", monkeypatch)
    at.sidebar.toggle(key="paused").set_value(True).run()
    assert not at.exception
    assert at.sidebar.toggle(key="paused").value is True
