"""Config keys that may change in the middle of a run, and how a change reaches the live world.

Most of a scenario is fixed once the model is built: the grid and places, the population and its
personas, the seed, the social graph generator, the recipes. Changing those mid-run has no meaning
(or would need a new world), so a fork or an event that tries is refused, naming the key. The
tick-safe keys are read by the world at each use, or rebuilt here without touching any state:

- ``economy.tax_rate`` - the offers' and the order book's tax;
- ``economy.items.<item>.base_price`` - the reference price until the market clears one;
- ``economy.market.offer_ttl``, ``economy.market.order_ttl`` - lifetimes of new offers and orders;
- ``moderation.*`` - rules, thresholds, sanctions: the moderator is rebuilt from the new policy
  and given the old one's state (windows, strikes, mutes, bans), so nothing already decided changes.
"""

from __future__ import annotations

import fnmatch
from typing import Any

from sim.config import ScenarioConfig, apply_overrides
from sim.errors import UserError

__all__ = ["TICK_SAFE", "apply_config", "changed_config", "is_tick_safe"]

TICK_SAFE = (
    "economy.tax_rate",
    "economy.items.*.base_price",
    "economy.market.offer_ttl",
    "economy.market.order_ttl",
    "moderation",
    "moderation.*",
)


def is_tick_safe(key: str) -> bool:
    """Whether ``key`` (dotted path) may change mid-run."""
    return any(fnmatch.fnmatchcase(key, pattern) for pattern in TICK_SAFE)


def changed_config(cfg: ScenarioConfig, key: str, value: Any, where: str) -> ScenarioConfig:
    """``cfg`` with ``key`` set to ``value``, validated; a ``UserError`` naming ``where`` and the key."""
    from pydantic import ValidationError

    from sim.config.loading import _format_error
    from sim.config.schema import _check_references, _RefError

    if not is_tick_safe(key):
        raise UserError(
            f"{where}: {key}: cannot change mid-run (tick-safe keys: economy.tax_rate,"
            " economy.items.<item>.base_price, economy.market.offer_ttl, economy.market.order_ttl,"
            " moderation.*)"
        )
    data = cfg.model_dump(mode="json")
    node: Any = data
    for part in key.split(".")[:-1]:
        node = node.get(part) if isinstance(node, dict) else None
        if node is None:
            raise UserError(f"{where}: {key}: no such field in this scenario")
    _set(data, key, value)
    try:
        new = ScenarioConfig.model_validate(data)
        _check_references(new)
    except ValidationError as exc:
        field, msg = _format_error(exc.errors()[0])
        raise UserError(f"{where}: {field}: {msg}") from None
    except _RefError as exc:
        raise UserError(f"{where}: {exc.path}: {exc}") from None
    return new


def _set(data: dict, key: str, value: Any) -> None:
    node: Any = data
    parts = key.split(".")
    for part in parts[:-1]:
        node = node[int(part)] if isinstance(node, list) else node[part]
    last = parts[-1]
    if isinstance(node, list):
        if not last.isdigit() or int(last) >= len(node):
            raise UserError(f"{key}: no such list element")
        node[int(last)] = value
    else:
        node[last] = value


def parse_set(item: str, flag: str = "--set") -> tuple[str, Any]:
    """``key.path=value`` (the value is YAML, as in ``mesaverse run --set``)."""
    _, keys = apply_overrides({}, [item]) if "=" in item else (None, set())
    if not keys:
        raise UserError(f"{flag} {item}: expected key.path=value")
    key = next(iter(keys))
    data, _ = apply_overrides({}, [item])
    node: Any = data
    for part in key.split("."):
        node = node[part]
    return key, node


def apply_config(model: Any, cfg: ScenarioConfig) -> None:
    """Make ``cfg`` (a tick-safe change of ``model.config``) the live config of the model's world."""
    world = model.world
    old = model.config
    model.config = cfg
    world.spec = cfg
    eco = cfg.economy
    world.item_cfg = dict(eco.items)
    world.offers.tax_rate = eco.tax_rate
    world.book.tax_rate = eco.tax_rate
    if cfg.moderation != old.moderation:
        from world.moderation import Moderator

        mod = world.moderator
        if (
            cfg.moderation.enabled
            and any(r.kind == "llm" for r in cfg.moderation.rules)
            and mod.judge_port is None
        ):
            raise UserError("moderation.rules: an llm rule needs a language model, and this run has none")
        new = Moderator(cfg.moderation, judge=mod.judge_port, violators=set(mod.violators))
        new.set_state(mod.get_state())
        world.moderator = new
