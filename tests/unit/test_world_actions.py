"""Actions as the world resolves them: movement, needs, work, the order book, refusals."""

from __future__ import annotations

import dataclasses
import random

import pytest
from world_fakes import make_world

from world import Action, Offer, World


def kinds(events) -> list[str]:
    return [e.kind for e in events]


def test_moving_takes_ticks_proportional_to_distance():
    w = make_world(2)  # plaza (0, 0) -> farm (6, 0) at 3 cells a tick: 2 ticks
    ev = w.resolve([Action(1, "move", place="farm")])
    assert ev[0].data == {"from": "plaza", "to": "farm", "arrive": 2}
    obs = w.observation_for(1)
    assert (obs.place, obs.travelling_to) == (None, "farm")
    assert w.resolve([Action(1, "gather")])[0].data["reason"] == "travelling to farm until tick 2"
    w.end_tick()
    assert w.places.at[1] is None
    w.end_tick()
    assert w.places.at[1] == "farm" and w.observation_for(1).travelling_to is None
    assert w.places.travel_ticks("plaza", "workshop") == 1  # distance 3, speed 3
    assert w.avatar_state(1)["x"] == 6


def test_the_mesa_grid_holds_every_place():
    w = make_world(1)
    assert w.places.cell("farm").coordinate == (6, 0)
    assert (w.places.grid.width, w.places.grid.height) == (10, 10)


def test_gathering_mints_the_place_yield_and_tires():
    w = make_world(1, place="farm")
    ev = w.resolve([Action(1, "gather")])
    assert ev[0].kind == "gather" and ev[0].data == {"item": "wheat", "qty": 2}
    assert w.inventory(1)["wheat"] == 2
    assert w.needs.as_dict(1, w.tick)["tiredness"] == pytest.approx(0.05)


def test_gathering_where_nothing_grows_is_refused():
    w = make_world(1)
    ev = w.resolve([Action(1, "gather", item="wheat")])
    assert ev[0].data["reason"] == "nothing to gather at the plaza"


def test_exhausted_avatar_must_rest_before_working():
    w = make_world(1, place="farm", world={"needs": {"work_effort": 0.5}})
    w.resolve([Action(1, "gather"), Action(1, "gather")])
    assert w.resolve([Action(1, "gather")])[0].data["reason"] == "too tired: rest first"
    w.resolve([Action(1, "rest")])
    assert w.resolve([Action(1, "gather")])[0].kind == "gather"


def test_crafting_burns_inputs_and_mints_outputs_at_the_workshop():
    w = make_world(1, place="workshop", economy={"endowment": {"coin": 0, "bread": 0, "wheat": 5}})
    ev = w.resolve([Action(1, "craft", recipe="bread")])
    assert ev[0].data == {"recipe": "bread", "inputs": {"wheat": 2}, "outputs": {"bread": 1}}
    assert w.inventory(1) == {"wheat": 3, "bread": 1}
    assert (w.ledger.burned["wheat"], w.ledger.minted["bread"]) == (2, 1)


def test_crafting_elsewhere_or_without_inputs_is_refused():
    w = make_world(2, economy={"endowment": {"coin": 0, "bread": 0, "wheat": 1}})
    assert (
        w.resolve([Action(1, "craft", recipe="bread")])[0].data["reason"] == "bread is crafted at a workshop"
    )
    w2 = make_world(1, place="workshop", economy={"endowment": {"coin": 0, "bread": 0, "wheat": 1}})
    assert w2.resolve([Action(1, "craft", recipe="bread")])[0].data["reason"] == "holds only 1 wheat, needs 2"
    assert w2.inventory(1) == {"wheat": 1}


def test_needs_rise_each_tick_and_fall_by_eating_resting_and_talking():
    w = make_world(2)
    for _ in range(5):
        w.end_tick()
    assert w.needs.as_dict(1, w.tick) == pytest.approx({"hunger": 0.5, "tiredness": 0.25, "loneliness": 0.25})
    w.resolve(
        [Action(1, "consume", item="bread", qty=1), Action(1, "rest"), Action(1, "say", target=2, text="hi")]
    )
    assert w.needs.as_dict(1, w.tick) == pytest.approx({"hunger": 0.1, "tiredness": 0.0, "loneliness": 0.15})
    for _ in range(30):
        w.end_tick()
    assert w.observation_for(1).needs["hunger"] == 1.0  # capped


def test_eating_what_is_not_food_is_refused():
    w = make_world(1, economy={"endowment": {"coin": 0, "wood": 2}})
    assert w.resolve([Action(1, "consume", item="wood")])[0].data["reason"] == "wood cannot be eaten"


def test_gift_of_one_coin_moves_it_and_records_an_entry():
    w = make_world(2)
    w.ledger.drain()
    ev = w.resolve([Action(1, "give", target=2, item="coin", qty=1)])
    assert ev[0].kind == "give" and ev[0].data == {"item": "coin", "qty": 1}
    assert (w.coins(1), w.coins(2)) == (9, 11)
    assert [(e["src"], e["dst"], e["qty"], e["memo"]) for e in w.drain_ledger()] == [(1, 2, 1, "give")]


def test_order_book_clears_once_per_tick_at_one_price_with_price_time_priority():
    w = make_world(4, economy={"endowment": {"coin": 200, "bread": 2}})
    w.resolve(
        [
            Action(1, "order", item="bread", side="sell", qty=1, price=40),
            Action(2, "order", item="bread", side="sell", qty=1, price=30),
            Action(3, "order", item="bread", side="buy", qty=1, price=50),
            Action(4, "order", item="bread", side="buy", qty=1, price=60),
        ]
    )
    assert w.coins(4) == 140  # the limit is held in escrow until the clearing
    trades = [e for e in w.end_tick() if e.kind == "trade"]
    # Best bid (60, #4) meets best ask (30, #2); then 50 (#3) meets 40 (#1); price = (50 + 40) // 2.
    assert [(t.data["buyer"], t.data["seller"], t.data["price"], t.data["tax"]) for t in trades] == [
        (4, 2, 45, 5),  # 10% of 45 = 4.5 coins, rounded half up
        (3, 1, 45, 5),
    ]
    assert (w.coins(4), w.coins(3), w.coins(2), w.coins(1)) == (155, 155, 240, 240)
    assert w.ledger.balance("treasury", "coin") == 10
    assert w.book.prices["bread"] == 45 and w.price_of("bread") == 45
    m = w.metrics()
    assert (m["trades"], m["trade_volume"], m["price.bread"]) == (2.0, 90.0, 45.0)


def test_unfilled_order_expires_and_its_escrow_is_refunded():
    w = make_world(2)
    w.resolve([Action(1, "order", item="bread", side="buy", qty=2, price=3, expires_in=2)])
    assert w.coins(1) == 4
    assert kinds(w.end_tick()) == []
    ev = w.end_tick()
    assert kinds(ev) == ["order"] and ev[0].data["status"] == "expired"
    assert w.coins(1) == 10 and w.ledger.balance("escrow", "coin") == 0


def test_orders_are_placed_at_a_market():
    w = make_world(1, place="farm")
    ev = w.resolve([Action(1, "order", item="bread", side="sell", qty=1, price=3)])
    assert ev[0].data["reason"] == "orders are placed at a market"


def test_offer_settles_both_legs_atomically_or_not_at_all():
    w = make_world(2, economy={"endowment": {"coin": 3, "bread": 1}})
    oid = w.resolve([Action(1, "offer", target=2, give=(("bread", 1),), get=(("coin", 5),))])[0].data[
        "offer_id"
    ]
    before = w.get_state()["ledger"]["holdings"]
    ev = w.resolve([Action(2, "accept", offer_id=oid)])
    assert ev[0].data["reason"] == "cannot pay: 2 holds 3 coin, needs 5"
    assert w.get_state()["ledger"]["holdings"] == before
    assert oid in w.offers.open  # still open: the acceptor may find the coins


def test_rejecting_closes_the_offer_and_a_third_party_cannot():
    w = make_world(3)
    oid = w.resolve([Action(1, "offer", target=2, give=(("bread", 1),), get=(("coin", 2),))])[0].data[
        "offer_id"
    ]
    assert (
        w.resolve([Action(3, "reject", offer_id=oid)])[0].data["reason"]
        == f"offer {oid} is not addressed to you"
    )
    assert (
        w.resolve([Action(3, "accept", offer_id=oid)])[0].data["reason"]
        == f"offer {oid} is addressed to someone else"
    )
    ev = w.resolve([Action(2, "reject", offer_id=oid)])
    assert ev[0].kind == "reject" and ev[0].data == {"offer_id": oid, "reason": "rejected"}
    assert oid not in w.offers.open


@pytest.mark.parametrize(
    ("action", "reason"),
    [
        (Action(1, "give", target=42, item="coin"), "unknown target 42"),
        (Action(1, "give", target=2, item="coin", qty=11), "holds only 10 coin"),
        (Action(1, "give", target=2, item="gold"), "unknown item 'gold'"),
        (Action(1, "move", place="moon"), "unknown place 'moon'"),
        (Action(1, "move", place="plaza"), "already at the plaza"),
        (Action(1, "say", target=3, text="hi"), "A3 is not here"),
        (Action(1, "say", target=2, text="  "), "nothing to say"),
        (Action(1, "order", item="coin", side="buy", qty=1, price=1), "unknown item 'coin'"),
        (
            Action(1, "order", item="bread", side="buy", qty=1, price=0),
            "price must be a positive whole number, got 0",
        ),
        (Action(1, "order", item="bread", side="buy", qty=5, price=3), "holds only 10 coin, needs 15"),
        (Action(1, "accept", offer_id=7), "no open offer 7"),
        (Action(1, "craft", recipe="cake"), "unknown recipe 'cake'"),
        (Action(1, "project_propose", text="castle"), "unknown project 'castle'"),
        (Action(1, "project_join", project_id=3), "no active project 3"),
        (Action(1, "report", target=1), "the target is the actor itself"),
        (Action(1, "dance"), "unknown action kind 'dance'"),
        (Action(77, "rest"), "unknown avatar 77"),
    ],
)
def test_illegal_action_is_refused_logged_and_changes_nothing(action, reason):
    w = make_world(2)
    w.add_avatar(3, "A3", "villager", "farm")
    before = w.get_state()
    ev = w.resolve([action])
    assert kinds(ev) == ["invalid_action"]
    assert ev[0].data == {"reason": reason, "action": action.as_dict()}
    after = w.get_state()
    assert after["ledger"] == before["ledger"]
    assert after["places"] == before["places"] and after["offers"] == before["offers"]
    w.end_tick()
    assert w.metrics()["invalid_actions"] == 1.0


def test_observation_shows_what_the_avatar_needs_to_decide():
    w = make_world(3)
    oid = w.resolve(
        [
            Action(2, "say", target=1, text="hello A1"),
            Action(2, "offer", target=1, give=(("bread", 1),), get=(("coin", 4),)),
        ]
    )[1].data["offer_id"]
    obs = w.observation_for(1)
    assert (obs.name, obs.place, obs.coins, obs.inventory, obs.role) == (
        "A1",
        "plaza",
        10,
        {"bread": 1},
        "villager",
    )
    assert set(obs.nearby) == {2, 3}
    assert obs.messages == ((0, 2, "hello A1"),)
    assert obs.offers == (Offer(oid, 2, 1, (("bread", 1),), (("coin", 4),), 0, 5),)
    assert (obs.offers[0].sender, obs.offers[0].expires) == (2, 5)  # read by name
    assert obs.place_offers == ("plaza", "market") and not obs.banned and obs.muted_until is None


def test_every_legal_action_is_accepted_by_the_world():
    w = make_world(
        4,
        economy={"endowment": {"coin": 30, "bread": 2, "wood": 3, "wheat": 2}},
        # A flag that does not block: the insult is delivered, so A1 can report it.
        moderation={"rules": [{"id": "insults", "kind": "words", "words": ["idiot"], "block": False}]},
    )
    for _ in range(6):
        w.end_tick()  # hungry and a bit tired now
    w.resolve(
        [
            Action(2, "offer", target=1, give=(("bread", 1),), get=(("coin", 4),)),
            Action(3, "project_propose", text="bridge"),
            Action(4, "say", target=1, text="you idiot"),
        ]
    )
    for avatar in (1, 2, 3, 4):
        options = w.legal_actions(avatar)
        assert 1 <= len(options) <= 26 and Action(avatar, "rest") in options
        assert all(o.label for o in options)
        for opt in options:
            if opt.kind == "say":
                opt = dataclasses.replace(opt, text="good day")
            trial = World(w.spec, random.Random(0))
            trial.set_state(w.get_state())
            ev = trial.resolve([opt])
            assert "invalid_action" not in kinds(ev), (opt, ev)
    labels = {o.label for o in w.legal_actions(1)}
    assert {"eat 1 bread", "accept offer 1", "reject offer 1", "report A4 to the moderators"} <= labels


def test_legal_actions_respect_the_limit_and_keep_rest():
    w = make_world(6, economy={"endowment": {"coin": 30, "bread": 2, "wood": 3, "wheat": 2}})
    opts = w.legal_actions(1, limit=3)
    assert len(opts) == 3 and opts[-1] == Action(1, "rest")
    assert w.legal_actions(1, limit=0) == []


def test_wealth_metrics_follow_mesas_gini():
    w = make_world(4)
    w.resolve([Action(a, "give", target=4, item="coin", qty=10) for a in (1, 2, 3)])
    w.end_tick()
    m = w.metrics()
    assert (m["gini"], m["top10_share"], m["coins_total"], m["gifts"]) == (0.75, 1.0, 40.0, 3.0)


def test_a_broadcast_reaches_exactly_the_avatars_the_observation_named():
    # More avatars than nearby_limit at one place, and one of them walks off first this tick.
    w = make_world(14, population={"count": 14})
    obs = w.observation_for(5)
    assert len(obs.nearby) == 8  # world.nearby_limit
    leaver = next(b for b in range(1, 15) if b != 5 and b not in obs.nearby)
    w.resolve([Action(leaver, "move", place="farm"), Action(5, "say", text="Fresh bread at my stall")])
    heard = {b for b in range(1, 15) if any(m.text == "Fresh bread at my stall" for m in w.inbox.get(b, ()))}
    assert heard == set(obs.nearby)
