"""A small scenario and world builder shared by the world's unit tests."""

from __future__ import annotations

import copy
import random
from typing import Any

from sim.config import ScenarioConfig
from world import World

BASE: dict[str, Any] = {
    "name": "test-town",
    "world": {
        "width": 10,
        "height": 10,
        "speed": 3,
        "places": {
            "plaza": {"x": 0, "y": 0, "offers": ["plaza", "market"]},
            "farm": {"x": 6, "y": 0, "offers": ["farm"]},
            "workshop": {"x": 0, "y": 3, "offers": ["workshop"]},
        },
        "needs": {"hunger_per_tick": 0.1, "tiredness_per_tick": 0.05, "loneliness_per_tick": 0.05},
    },
    "population": {
        "count": 4,
        "roles": [
            {"name": "villager", "policy": "trader"},
            {"name": "spammer", "count": 0, "policy": "spammer"},
        ],
    },
    "economy": {
        "currency": "coin",
        "items": {
            "wheat": {"food": 0.1, "base_price": 2},
            "bread": {"food": 0.4, "base_price": 5},
            "wood": {"base_price": 2},
        },
        "endowment": {"coin": 10, "bread": 1},
        "gathering": {"farm": {"wheat": 2}},
        "recipes": {"bread": {"inputs": {"wheat": 2}, "outputs": {"bread": 1}, "place": "workshop"}},
        "tax_rate": 0.1,
    },
    "moderation": {
        "rules": [
            {"id": "insults", "kind": "words", "words": ["idiot", "worthless"]},
            {"id": "flood", "kind": "rate_limit", "max_messages": 3, "window": 5},
            {"id": "overpriced", "kind": "scam_price", "price_factor": 3},
            {"id": "unowned", "kind": "scam_unowned"},
            {"id": "dishonoured", "kind": "scam_dishonoured", "threshold": 2},
            {"id": "reports", "kind": "reports", "threshold": 2, "window": 10},
        ],
        "sanctions": {"ladder": ["warn", "mute", "ban"], "mute_ticks": 3},
    },
    "projects": {
        "templates": {
            "bridge": {
                "needs": {"wood": 4, "labour": 2, "coin": 4},
                "min_contributors": 2,
                "deadline": 5,
                "reward": 10,
            },
            "festival": {
                "needs": {"coin": 6},
                "min_contributors": 3,
                "deadline": 3,
                "reward": 6,
                "reward_source": "sponsors",
            },
        },
        "max_active": 3,
    },
}


def merge(base: dict, extra: dict) -> dict:
    """Deep merge of ``extra`` into a copy of ``base`` (dicts merge, everything else replaces)."""
    out = copy.deepcopy(base)
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def scenario(**sections: Any) -> ScenarioConfig:
    """The test town with some sections overridden."""
    return ScenarioConfig.model_validate(merge(BASE, sections))


def make_world(
    n: int = 4, seed: int = 0, place: str | None = None, roles: dict[int, str] | None = None, **sections: Any
) -> World:
    """A world with avatars 1..n named A1..An (all at ``place``, default the plaza)."""
    w = World(scenario(**sections), random.Random(seed))
    for i in range(1, n + 1):
        w.add_avatar(i, f"A{i}", (roles or {}).get(i, "villager"), place)
    return w
