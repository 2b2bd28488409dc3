"""The commons: logistic regrowth, harvesting, and the cooperative and greedy fishers."""

from __future__ import annotations

import random

from world_fakes import make_world

from agents.policy import TickContext
from agents.rules import GreedyHarvesterPolicy, HarvesterPolicy
from world import Action
from world.commons import regrowth

LAKE = {
    "economy": {"items": {"fish": {"food": 0.3, "base_price": 3}}},
    "commons": {
        "resources": {"fish": {"place": "farm", "capacity": 100, "start": 50, "growth": 0.3, "max_take": 4}}
    },
}


def _world(n: int = 3):
    return make_world(n, place="farm", **LAKE)


def test_regrowth_is_logistic_fastest_at_half_and_none_when_full_or_empty() -> None:
    assert regrowth(50, 100, 0.3) == 8  # 7.5, halves up
    assert regrowth(20, 100, 0.3) == 5  # 4.8
    assert regrowth(100, 100, 0.3) == 0
    assert regrowth(1, 100, 0.3) == 0  # a fished-out stock stays empty
    assert max(range(101), key=lambda s: regrowth(s, 100, 0.3)) in range(45, 56)


def test_harvest_takes_what_is_left_and_the_stock_regrows_at_the_end_of_the_tick() -> None:
    w = _world()
    ev = w.resolve([Action(1, "harvest", item="fish", qty=4), Action(2, "harvest", item="fish", qty=4)])
    assert [e.data["qty"] for e in ev] == [4, 4]
    assert w.inventory(1)["fish"] == 4 and w.commons.stock["fish"] == 42
    w.end_tick()
    assert w.commons.stock["fish"] == 42 + regrowth(42, 100, 0.3)
    assert w.metrics()["commons.level"] == w.commons.stock["fish"] / 50
    w.commons.stock["fish"] = 3
    ev = w.resolve([Action(1, "harvest", item="fish", qty=4), Action(2, "harvest", item="fish", qty=4)])
    assert [e.data["qty"] for e in ev] == [3, 0]  # an empty stock yields nothing; nothing is refused


def test_harvest_is_refused_away_from_the_commons_or_above_max_take() -> None:
    w = make_world(2, place="plaza", **LAKE)
    (e,) = w.resolve([Action(1, "harvest", item="fish", qty=1)])
    assert e.kind == "invalid_action" and "harvested at a farm" in e.data["reason"]
    w = _world()
    (e,) = w.resolve([Action(1, "harvest", item="fish", qty=5)])
    assert e.kind == "invalid_action" and "at most 4" in e.data["reason"]


def test_harvest_options_say_the_stock_and_the_commons_survives_a_checkpoint() -> None:
    w = _world()
    labels = [o.label for o in w.legal_actions(1) if o.kind == "harvest"]
    assert labels == [f"harvest {q} fish (50 of 100 left)" for q in (1, 2, 3, 4)]
    (view,) = w.observation_for(1).commons
    assert (view.stock, view.capacity, view.max_take, view.present) == (50, 100, 4, 3)
    w.resolve([Action(1, "harvest", item="fish", qty=4)])
    w.end_tick()
    twin = make_world(3, place="farm", **LAKE)
    twin.set_state(w.get_state())
    assert twin.commons.get_state() == w.commons.get_state()


def _decide_all(w, policy, seed: int = 0) -> list[Action]:
    ctx = TickContext(
        tick=w.tick, random=random.Random(seed), avatar_ids=w.ids, names=w.names, balance=w.coins
    )
    out = []
    for a in w.ids:
        obs, opts = w.observe(a)
        d = policy.decide(None, obs, opts, ctx)  # type: ignore[arg-type]
        if d is not None:
            out.append(d)
    return out


def test_cooperative_fishers_take_no_more_than_the_lake_regrows_and_greedy_ones_take_all() -> None:
    w = _world(n=3)
    coop = HarvesterPolicy()
    coop.ashore = 0.0
    taken = sum(a.qty for a in _decide_all(w, coop) if a.kind == "harvest")
    assert taken == coop.quota(w.observation_for(1).commons[0]) == regrowth(50, 100, 0.3)
    greedy = GreedyHarvesterPolicy()
    greedy.ashore = 0.0
    assert [a.qty for a in _decide_all(w, greedy) if a.kind == "harvest"] == [4, 4, 4]


def test_a_commons_run_resumed_from_a_checkpoint_runs_on_identically() -> None:
    from test_collaboration import _log_after

    straight = _log_after("configs/commons.yaml", 30)
    assert any(e[1] == "harvest" for e in straight)
    assert _log_after("configs/commons.yaml", 30, cut=11) == straight
