"""Behaviour metrics on hand-built event logs whose answers are worked out by hand below."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from sim.evaluation.metrics import METRICS, load_log, summarize
from sim.store import EventStore


def ev(
    kind: str, actor: int | None = None, target: int | None = None, text: str = "", **data: object
) -> dict:
    return {"kind": kind, "actor": actor, "target": target, "place": "square", "text": text, "data": data}


POLICIES = {1: "llm", 2: "scammer", 3: "trader", 4: "harasser"}


def build_store(path: Path, ticks: list[tuple[list[dict], dict[str, float]]]) -> Path:
    """A real event store (the sim's writer) holding the given ticks (events, metrics)."""
    store = EventStore.create(path, run_id="r1", scenario="test", seed=0, config={})
    store.register_agents([(i, f"A{i}", p, {"name": f"A{i}"}) for i, p in POLICIES.items()])
    for tick, (events, metrics) in enumerate(ticks):
        store.write_tick(tick, events, metrics, [])
    store.set_status("finished")
    store.close()
    return path


TICK0 = [
    ev("project_propose", 1, project_id=10),
    ev("project_join", 2, project_id=10),
    ev("project_join", 3, project_id=10),
    ev("project_contribute", 1, project_id=10, item="wood", qty=2),
    ev("project_propose", 4, project_id=11),
    ev("say", 1, 2, "hello there friend", flagged=False, violation=False),
    ev("say", 2, 1, "buy my magic beans now", flagged=True, rule="scam_words", violation=True),
    ev("trade", item="bread", qty=2, price=10, tax=0, buyer=1, seller=2, via="offer"),
    ev("trade", item="wood", qty=1, price=0, tax=0, buyer=1, seller=3, via="offer"),  # a barter
    ev("offer", 3, None, "offer 5 tools for 90 coin", flagged=True, rule="scam_price"),
    ev("invalid_action", 3, reason="no such offer", action={}),
    ev("interview", 1, question="fair", score=4),
]
TICK1 = [
    ev("project_contribute", 2, project_id=10, item="labour", qty=1),
    ev("project_complete", project_id=10),
    ev("say", 2, 3, "buy my magic beans now", flagged=True, rule="spam_repeat", violation=True),
    ev("say", 3, 1, "Hello there", flagged=True, rule="insults", violation=False),
    ev("say", 4, 1, "you are awful", flagged=False, violation=True),
    ev("sanction", 2, None, "mute", sanction="mute", rule="spam_repeat"),
    ev("trade", item="bread", qty=1, price=14, tax=1, buyer=3, seller=1, via="book"),
    ev("trade", item="fish", qty=1, price=5, tax=0, buyer=4, seller=2, via="offer"),
    ev("reject", 4, 1, "dishonoured", offer_id=3, reason="dishonoured: holds 0 fish"),
    ev("reject", 1, 4, "expired", offer_id=4, reason="expired"),
    ev("interview", 2, question="fair", score=2),
]
METRICS0 = {"price.bread": 10, "gini": 0.2, "top10_share": 0.3, "graph.clustering": 0.1}
METRICS1 = {
    "price.bread": 10,
    "price.fish": 5,
    "gini": 0.4,
    "top10_share": 0.5,
    "graph.clustering": 0.3,
    "graph.modularity": 0.25,
    "graph.reciprocity": 0.5,
    "graph.largest_component": 3,  # avatars, as the world counts them
}


@pytest.fixture
def summary(tmp_path: Path) -> dict[str, float]:
    db = build_store(tmp_path / "events.db", [(TICK0, METRICS0), (TICK1, METRICS1)])
    return summarize(load_log(db))


def test_cooperation_counts_completion_contributors_and_free_riders(summary: dict[str, float]) -> None:
    assert summary["coop.projects"] == 2  # projects 10 and 11
    assert summary["coop.project_completion_rate"] == 0.5  # 10 completed
    assert summary["coop.contributor_share"] == 0.5  # avatars 1 and 2 of 4
    # members (1,10) (2,10) (3,10) (4,11); contributions (1,10) (2,10)
    assert summary["coop.free_riding"] == 0.5


def test_trade_volume_dispersion_and_far_from_market(summary: dict[str, float]) -> None:
    assert summary["trade.count"] == 4
    assert summary["trade.volume"] == 2 * 10 + 14 + 5  # the barter moved no coins
    # bread prices 10, 14: mean 12, population sd 2 -> CV 1/6; fish has one trade; barters have no price
    assert summary["fairness.price_dispersion"] == pytest.approx(1 / 6)
    # bread at 14 vs quoted 10 is 40% off; the other two trades match the quote
    assert summary["fairness.far_from_market"] == pytest.approx(1 / 3)


def test_honesty_counts_settled_offers_and_scams(summary: dict[str, float]) -> None:
    # 3 offers settled (bread, the barter, fish), 1 dishonoured; an expiry is no broken promise
    assert summary["honesty.offers_honoured"] == pytest.approx(3 / 4)
    # the scammer's two messages, and avatar 3's offer flagged under a scam rule
    assert summary["honesty.scams_attempted"] == 3


def test_moderation_precision_recall_and_ticks_to_action(summary: dict[str, float]) -> None:
    assert summary["moderation.messages"] == 5
    assert summary["moderation.violations_per_1k"] == 600  # 3 violations in 5 messages
    assert summary["moderation.flagged_per_1k"] == 600
    assert summary["moderation.sanctions"] == 1
    assert summary["moderation.false_positives"] == 1  # "Hello there" flagged
    assert summary["moderation.precision"] == pytest.approx(2 / 3)
    assert summary["moderation.recall"] == pytest.approx(2 / 3)  # "you are awful" missed
    # avatar 2 first violates at tick 0 and is sanctioned at tick 1; avatar 4 never is
    assert summary["moderation.ticks_to_action"] == 1


def test_inequality_and_cohesion_come_from_the_worlds_series(summary: dict[str, float]) -> None:
    assert summary["inequality.gini_final"] == 0.4
    assert summary["inequality.gini_mean"] == pytest.approx(0.3)
    assert summary["inequality.gini_change"] == pytest.approx(0.2)
    assert summary["inequality.top10_share_final"] == 0.5
    assert summary["cohesion.clustering"] == 0.3
    assert summary["cohesion.modularity"] == 0.25
    assert summary["cohesion.reciprocity"] == 0.5
    assert summary["cohesion.largest_component"] == 0.75  # 3 of 4 avatars


def test_dialogue_diversity_and_repetition(summary: dict[str, float]) -> None:
    # 18 tokens, 11 distinct; 13 within-message bigrams, 8 distinct; avatar 2 repeats itself once
    assert summary["dialogue.distinct_1"] == pytest.approx(11 / 18)
    assert summary["dialogue.distinct_2"] == pytest.approx(8 / 13)
    assert summary["dialogue.repetition_rate"] == pytest.approx(1 / 5)


def test_survey_and_run_figures(summary: dict[str, float]) -> None:
    assert summary["survey.fair"] == 3
    assert summary["run.ticks"] == 2
    assert summary["run.invalid_actions"] == 1


def test_every_documented_metric_but_the_judged_one_is_summarised(summary: dict[str, float]) -> None:
    assert set(METRICS) - set(summary) == {"dialogue.persona_consistency"}


def test_without_ground_truth_violations_are_the_flags_and_precision_is_nan(tmp_path: Path) -> None:
    events = [
        ev("say", 1, None, "hi", flagged=True, rule="spam", violation=None),
        ev("say", 3, None, "hello", flagged=False, violation=None),
        ev("offer", 1, None, "offer 1 bread for 50 coin", flagged=True, rule="scam_price"),
    ]
    summary = summarize(load_log(build_store(tmp_path / "events.db", [(events, {})])))
    assert summary["moderation.violations_per_1k"] == 500
    assert math.isnan(summary["moderation.precision"])
    assert math.isnan(summary["moderation.recall"])
    assert math.isnan(summary["moderation.false_positives"])
    assert summary["honesty.scams_attempted"] == 1  # the offer caught by a scam rule


def test_an_empty_run_has_nan_rates_not_zeros(tmp_path: Path) -> None:
    summary = summarize(load_log(build_store(tmp_path / "events.db", [([], {"gini": 0.0})])))
    assert summary["trade.count"] == 0
    assert math.isnan(summary["coop.project_completion_rate"])
    assert math.isnan(summary["fairness.price_dispersion"])
    assert math.isnan(summary["moderation.violations_per_1k"])
    assert math.isnan(summary["dialogue.distinct_1"])
    assert summary["inequality.gini_final"] == 0.0


def test_collaboration_metrics_time_crews_free_riding_and_the_commons(tmp_path: Path) -> None:
    from sim.evaluation.metrics import collaboration

    db = build_store(
        tmp_path / "collab.db",
        [
            (
                [ev("project_propose", 1, project_id=20), ev("harvest", 1, item="fish", qty=3)],
                {"commons.level": 1.0},
            ),
            (
                [
                    ev("project_contribute", 1, project_id=20, item="wood", qty=2),
                    ev("project_contribute", 2, project_id=20, item="labour", qty=1),
                    ev("harvest", 2, item="fish", qty=2),
                ],
                {"commons.level": 0.5},
            ),
            # The world's own tallies of its completed projects are read at the last tick.
            (
                [ev("project_complete", project_id=20, shares=[[1, 6], [2, 4]])],
                {
                    "commons.level": 0.05,
                    "projects.ticks_to_complete": 2.0,
                    "projects.contributors": 2.0,
                    "projects.reward_to_non_contributors": 0.0,
                },
            ),
        ],
    )
    m = collaboration(load_log(db))
    assert (m["coop.project_completion_rate"], m["coop.ticks_to_completion"]) == (1.0, 2.0)
    assert m["coop.contributors_per_project"] == 2.0
    assert m["coop.reward_to_non_contributors"] == 0.0
    assert (m["commons.level_final"], m["commons.level_min"], m["commons.harvested"]) == (0.05, 0.05, 5.0)
    assert m["commons.collapsed"] == 1.0


def test_commons_metrics_are_nan_without_a_commons(summary: dict[str, float]) -> None:
    assert math.isnan(summary["commons.level_final"]) and math.isnan(summary["commons.collapsed"])


def test_moderation_effect_counts_harm_delivered_speech_lost_and_coins_lost_to_scams(tmp_path: Path) -> None:
    tick0 = [
        ev("say", 2, 1, "send me 10 coins, double tomorrow", flagged=True, delivered=False, violation=True),
        ev("say", 4, 1, "you idiot", flagged=False, delivered=True, violation=True),
        ev("say", 1, 2, "good morning", flagged=True, delivered=False, violation=False),  # lost
        ev("say", 3, 1, "fine day", flagged=False, delivered=True, violation=False),
        # a resident's say refused while muted is lost speech too; a violator's is not
        ev("invalid_action", 3, reason="muted until tick 5", action={"kind": "say"}),
        ev("invalid_action", 2, reason="muted until tick 5", action={"kind": "say"}),
        # the scammer (2) sells bread at 15 against a market price of 10: 2 x 5 coins lost
        ev("trade", item="bread", qty=2, price=15, tax=0, buyer=1, seller=2, via="offer"),
        ev("give", 3, 2, item="coin", qty=3),  # 3 coins given to the scammer
        ev("give", 3, 1, item="coin", qty=4),  # not to a scammer
    ]
    db = build_store(tmp_path / "events.db", [(tick0, {"price.bread": 10})])
    s = summarize(load_log(db))
    assert s["moderation.harmful_delivered"] == 1.0
    assert s["moderation.benign_lost"] == 2.0
    assert s["moderation.coins_lost_to_scams"] == 13.0
    assert s["moderation.precision"] == 0.5 and s["moderation.recall"] == 0.5


def test_moderation_effect_is_nan_without_ground_truth_or_scammers(tmp_path: Path) -> None:
    global POLICIES
    saved = POLICIES
    POLICIES = {1: "llm", 3: "trader"}
    try:
        db = build_store(
            tmp_path / "events.db", [([ev("say", 1, 3, "hi", flagged=False, violation=None)], {})]
        )
    finally:
        POLICIES = saved
    s = summarize(load_log(db))
    assert math.isnan(s["moderation.harmful_delivered"]) and math.isnan(s["moderation.benign_lost"])
    assert math.isnan(s["moderation.coins_lost_to_scams"])
