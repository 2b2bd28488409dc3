"""The behaviour bench's metric functions, on small hand-made stores, and its suite's data."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.bench.behaviour import (
    Case,
    build_case,
    check_targets,
    distinct_n,
    grounding_rate,
    is_stage_direction,
    load_cases,
    reply_relevance,
    sensible_options,
    speech_quality,
    town_metrics,
    verbatim_repeat_rate,
)
from sim.store import EventStore
from world.types import Event

CONFIG = {
    "population": {
        "roles": [
            {"name": "gatherer", "policy": "gatherer_crafter"},
            {"name": "trader", "policy": "trader"},
            {"name": "crafter", "policy": "gatherer_crafter"},
            {"name": "spammer", "policy": "spammer"},
        ]
    },
    "economy": {"currency": "coin", "items": {"bread": {"food": 0.4}, "wood": {}}},
    "world": {"places": {"farm": {}, "market": {}}},
}
AGENTS = [
    (1, "Ada Brook", "llm", {"role": "gatherer"}),
    (2, "Bram Hale", "llm", {"role": "trader"}),
    (3, "Cora Lund", "llm", {"role": "crafter"}),
    (4, "Spam Bot", "spammer", {"role": "spammer"}),
]


def _store(tmp_path: Path, ticks: list[tuple[list[Event], list[tuple]]]) -> Path:
    db = tmp_path / "events.db"
    store = EventStore.create(db, run_id="r", scenario="town", seed=0, config=CONFIG)
    store.register_agents(AGENTS)
    for tick, (events, states) in enumerate(ticks):
        store.write_tick(tick, events, {}, states)
    store.close()
    return db


def _state(aid: int, hunger: float, bread: int) -> tuple:
    return (
        aid,
        "farm",
        0.0,
        0.0,
        10,
        {"needs": {"hunger": hunger}, "inventory": {"bread": bread} if bread else {}},
    )


def test_stage_directions_are_lines_opening_with_a_bracket_or_holding_a_parenthetical() -> None:
    assert is_stage_direction("(nods) Sure.")
    assert is_stage_direction("  *smiles* hello")
    assert is_stage_direction("[laughs]")
    assert is_stage_direction("Sure thing (she said, smiling).")
    assert not is_stage_direction("Sure (ok)")  # "ok" is under 3 characters
    assert not is_stage_direction("Fresh bread, two coin.")


def test_distinct_2_counts_unique_word_pairs() -> None:
    assert distinct_n(["a b a b"], 2) == pytest.approx(2 / 3)
    assert distinct_n(["fresh bread here", "fresh bread there"], 2) == pytest.approx(3 / 4)
    assert distinct_n([], 2) == 0.0


def test_verbatim_repeats_ignore_case_and_punctuation() -> None:
    assert verbatim_repeat_rate(["Hello there!", "hello there", "Bye."]) == pytest.approx(1 / 3)


def test_reply_relevance_needs_a_shared_content_word_of_four_letters() -> None:
    pairs = [
        ("Do you have any bread?", "Yes, fresh bread today."),  # bread
        ("How are you?", "Fine, you?"),  # nothing shared
        ("That is good", "That is good"),  # only stopwords
    ]
    assert reply_relevance(pairs) == pytest.approx(1 / 3)


def test_grounding_names_a_person_place_item_or_the_currency() -> None:
    vocab = ["Ada", "farm", "bread", "coin"]
    lines = ["See you at the farm", "Two coins, Ada", "Lovely weather", "Breads!"]
    assert grounding_rate(lines, vocab) == pytest.approx(3 / 4)


def test_town_metrics_on_a_hand_made_store(tmp_path: Path) -> None:
    t0 = [
        Event(0, "gather", 1, None, "farm", "wheat", {"item": "wheat", "qty": 2}),
        Event(0, "say", 2, 1, "farm", "Hi Ada", {"conversation_id": 1}),
        Event(0, "craft", 3, None, "workshop", "bread", {"outputs": {"bread": 1}}),
        Event(0, "say", 4, None, "farm", "BUY NOW", {"conversation_id": 2}),
        Event(0, "sanction", 4, None, "farm", "mute", {"rule": "flood"}),
    ]
    t1 = [
        Event(1, "accept", 1, 2, "farm", "", {"offer_id": 1}),
        Event(1, "trade", 1, 2, "farm", "", {"item": "bread", "qty": 1, "price": 5}),
        Event(1, "craft", 3, None, "workshop", "tools", {"outputs": {"tools": 2}}),
        Event(1, "sanction", 2, None, "farm", "mute", {"rule": "flood"}),
    ]
    states = [
        [_state(1, 0.5, 1), _state(2, 0.6, 0)],
        [_state(1, 0.55, 1), _state(2, 0.6, 0)],
        [_state(1, 0.6, 1), _state(2, 0.6, 0)],
    ]
    db = _store(tmp_path, [(t0, states[0]), (t1, states[1]), ([], states[2])])
    m = town_metrics(db)
    assert m["trades"] == 1
    assert m["crafted"] == 3
    assert m["actions"] == 6  # gather, 2 say, 2 craft, accept (trade and sanctions are outcomes)
    assert m["talk_share"] == pytest.approx(2 / 6)
    assert m["actions_by_role"]["crafter"] == {"craft": 2}
    assert m["ordinary_sanctions"] == 1  # Bram's; the spammer's does not count
    assert m["ordinary_sanctioned"] == ["Bram Hale"]
    assert m["hungry_with_food"] == 1  # Ada: hungry 3 ticks holding bread; Bram holds none
    assert m["hungry_with_food_names"] == ["Ada Brook"]
    assert m["roles_working"] == {"gatherer": True, "crafter": True, "trader": True}


def test_speech_quality_on_a_hand_made_store(tmp_path: Path) -> None:
    says = [
        Event(0, "say", 1, 2, "farm", "Bram, do you sell bread?", {"conversation_id": 1}),
        Event(0, "say", 4, None, "farm", "(spam) BUY", {"conversation_id": 2}),  # not an LLM avatar
        Event(1, "say", 2, 1, "farm", "Yes, bread for five coin.", {"conversation_id": 1}),
        Event(1, "say", 1, 2, "farm", "(nods) Lovely weather.", {"conversation_id": 1}),
        Event(2, "say", 3, None, "market", "Nods, lovely weather!", {"conversation_id": None}),
    ]
    db = _store(tmp_path, [(says, [])])
    q = speech_quality(db)
    assert q["lines"] == 4
    assert q["stage_direction_rate"] == pytest.approx(1 / 4)
    assert q["replies"] == 2  # Bram answers Ada; Ada answers Bram
    assert q["reply_relevance"] == pytest.approx(1 / 2)
    assert q["verbatim_repeats"] == pytest.approx(
        1 / 4
    )  # "nods lovely weather" again, case and punctuation aside
    assert q["grounding"] == pytest.approx(2 / 4)


def test_targets_are_checked_only_for_the_parts_that_ran() -> None:
    got = check_targets({"suite": {"accuracy": 0.9}, "speech": {"distinct_2": 0.4}})
    assert got == {"suite.accuracy": True, "speech.distinct_2": False}


def test_every_case_is_built_through_the_world_and_discriminates() -> None:
    cases = load_cases()
    assert len(cases) >= 120
    assert len({c.category for c in cases}) >= 12
    for case in cases:
        _, _, obs, options, _ = build_case(case)
        ok = sensible_options(case, [o.label for o in options])
        assert any(ok) and not all(ok), case.id
        assert obs.place == case.place


def test_sensible_and_avoid_patterns() -> None:
    case = Case("x", "c", "Ada", "trader", "market", avoid=("give *",))
    assert sensible_options(case, ["give 1 coin to Bo", "rest"]) == [False, True]
    case = Case("y", "c", "Ada", "trader", "market", sensible=("sell *",), avoid=("sell 1 bread *",))
    assert sensible_options(case, ["sell 1 tools at 8 each", "sell 1 bread at 5 each", "rest"]) == [
        True,
        False,
        False,
    ]


def test_the_command_scores_an_existing_store_without_a_model(tmp_path: Path, capsys) -> None:
    import json

    from sim.bench.behaviour import bench_behaviour_command

    says = [Event(0, "say", 1, 2, "farm", "Bram, bread?", {"conversation_id": 1})]
    db = _store(tmp_path, [(says, [])])
    out = tmp_path / "b.json"
    figures = bench_behaviour_command(json_path=out, parts="town", store=db)
    assert json.loads(out.read_text())["speech"]["lines"] == 1
    assert figures["targets"]["town.trades"] is False
    assert "(c) speech: 1 lines" in capsys.readouterr().out


def test_the_suite_runs_every_case_through_the_real_policy_and_scores_it() -> None:
    # The model here is a scripted stand-in (the real one is the bench itself): this checks the
    # suite's own plumbing - every case built, asked or decided, and scored against its sensible set.
    from agents_fakes import ScriptedLanguageModel

    from sim.bench.behaviour import run_suite

    cases = load_cases()[:12]
    out = run_suite(ScriptedLanguageModel(prefer=("eat", "rest")), cases)
    assert out["n"] == len(cases) == len(out["cases"])
    assert 0.0 <= out["accuracy"] <= 1.0 and all("pick" in row for row in out["cases"])
    asked = [row for row in out["cases"] if row["model"]]
    assert out["decided_by_model"] == len(asked)
    want = sum(row["correct"] for row in asked) / len(asked) if asked else 0.0
    assert out["model_accuracy"] == want  # the accuracy where the model chose, apart


def test_the_chance_where_the_model_chose_is_the_sensible_share_of_its_options() -> None:
    from sim.bench.behaviour import sensible_share

    assert sensible_share({"ok": [True, False, False, True]}) == 0.5
    assert sensible_share({"ok": []}) == 0.0
