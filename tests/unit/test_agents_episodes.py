"""How an LLM avatar remembers an event: one sentence, itself as "You"."""

from __future__ import annotations

import pytest

from agents.episodes import describe, importance
from world.types import Event

NAMES = {1: "Ada Vance", 2: "Bruno Stone"}


@pytest.mark.parametrize(
    ("event", "me", "text"),
    [
        (Event(3, "say", 2, 1, "plaza", "Got wood?"), 1, 'Bruno Stone said to you: "Got wood?"'),
        (Event(3, "say", 1, 2, "plaza", "Yes"), 1, 'You said to Bruno Stone: "Yes"'),
        (
            Event(
                3, "trade", 1, 2, None, "", {"buyer": 1, "seller": 2, "item": "wheat", "qty": 1, "price": 2}
            ),
            1,
            "You bought 1 wheat from Bruno Stone at 2 each",
        ),
        (
            Event(
                3, "trade", 1, 2, None, "", {"buyer": 1, "seller": 2, "item": "wheat", "qty": 1, "price": 2}
            ),
            2,
            "Ada Vance bought 1 wheat from you at 2 each",
        ),
        (
            Event(3, "gather", 1, None, "farm", "wheat", {"item": "wheat", "qty": 2}),
            1,
            "You gathered 2 wheat at the farm",
        ),
        (
            Event(3, "craft", 1, None, "bakery", "bake", {"recipe": "bake", "outputs": {"bread": 1}}),
            1,
            "You made 1 bread at the bakery",
        ),
        (Event(3, "consume", 1, None, "home", "bread", {"item": "bread", "qty": 1}), 1, "You ate 1 bread"),
        (Event(3, "move", 1, None, "farm", "market", {"to": "market"}), 1, "You walked to the market"),
        (
            Event(
                3,
                "offer",
                1,
                2,
                "market",
                "offer Bruno 2 wood for 3 coin",
                {"give": [["wood", 2]], "get": [["coin", 3]]},
            ),
            2,
            "Ada Vance offered you 2 wood for 3 coin",
        ),
        (
            Event(
                3, "order", 1, None, None, "expired", {"status": "expired", "side": "buy", "item": "wheat"}
            ),
            1,
            "Your order to buy wheat expired unfilled",
        ),
        (
            Event(3, "invalid_action", 1, None, "farm", "no", {"reason": "you are not at the bakery"}),
            1,
            "You tried something not allowed: you are not at the bakery",
        ),
        (
            Event(3, "project_fail", None, None, None, "bridge"),
            1,
            "The bridge project failed: its deadline passed",
        ),
        (
            Event(
                3,
                "project_contribute",
                1,
                None,
                "plaza",
                "bridge",
                {"project_id": 4, "item": "wood", "qty": 2},
            ),
            1,
            "You gave 2 wood to project 4 (a bridge) at the plaza",
        ),
        (
            Event(3, "project_join", 1, None, "plaza", "bridge", {"project_id": 4}),
            1,
            "You joined project 4 (a bridge) at the plaza",
        ),
        (Event(3, "reject", 2, 1, "market", "rejected"), 1, "Bruno Stone turned down your offer"),
        (Event(3, "reject", 2, 1, "market", "rejected"), 2, "You turned down Ada Vance's offer"),
        (Event(3, "reject", 1, 2, None, "expired"), 1, "Your offer to Bruno Stone expired"),
        (Event(3, "reject", 1, 2, None, "expired"), 2, "Ada Vance's offer to you expired"),
        (
            Event(3, "reject", 2, 1, "market", "dishonoured"),
            2,
            "Ada Vance's offer to you was void: the goods were gone",
        ),
        (Event(3, "give", 1, 2, "plaza", "", {"item": "bread", "qty": 1}), 2, "Ada Vance gave you 1 bread"),
        (
            Event(
                3, "sanction", 1, None, "plaza", "mute", {"sanction": "mute", "until": 9, "rule": "profanity"}
            ),
            1,
            "You got a sanction: mute until tick 9 (profanity)",
        ),
        (Event(3, "rest", 1, None, "home", ""), 1, "You rested at the home"),
        (Event(3, "report", 1, 2, "plaza", "spam"), 1, "You: report -> Bruno Stone at the plaza (spam)"),
    ],
)
def test_an_event_is_one_sentence_in_the_avatars_words(event: Event, me: int, text: str) -> None:
    assert describe(event, NAMES, me) == text


def test_a_line_said_to_the_avatar_matters_more_than_one_it_overheard() -> None:
    e = Event(3, "say", 2, 1, "plaza", "hi")
    assert importance(e, 1) == importance(e, 2) + 1
    assert importance(Event(3, "sanction", 1), 1) > importance(Event(3, "move", 1), 1)
