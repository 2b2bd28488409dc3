"""Events applied to a live model at a tick boundary, recorded as ``intervention`` events.

A :class:`WhatIf` rides on the model (``model.whatif``) and holds the schedule of events (from a
fork's ``--set`` and ``--events``, and from injected files) and what they changed that a model rebuilt
from the config cannot know: the settings changed, the avatars added and the avatars gone. Its state
goes into every checkpoint (``state["whatif"]``), and :func:`restore` rebuilds a model from it, so a
resumed run or a fork of a fork carries on with the same changes.

At the boundary before tick ``t`` (:func:`at_boundary`): queued injections are read (sim.whatif.inject),
then every scheduled event of tick ``t`` is applied in schedule order, each becoming one
``intervention`` event of tick ``t`` (data: the event's fields, ``status: applied``, or
``status: refused`` with ``reason``), written with tick ``t``'s transaction. Everything is
deterministic: no clock, no unseeded draw (a newcomer's endowment is drawn from the world's RNG).
"""

from __future__ import annotations

import re
from collections import deque
from pathlib import Path
from typing import Any

from sim.errors import UserError
from sim.whatif.settings import apply_config, changed_config
from world.types import Event, Heard

__all__ = ["TOWN", "TOWN_NAME", "WhatIf", "at_boundary", "restore", "static_check", "whatif_of"]

#: The sender id of announcements: not an avatar (ids are >= 1), named in prompts as the Town.
TOWN = -1
TOWN_NAME = "Town"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
#: An announcement is heard as a message is: one line, at most this many characters.
_HEARD_CHARS = 200


class WhatIf:
    """The schedule of what-if events of a run and what they changed (JSON-safe state)."""

    def __init__(self) -> None:
        self.schedule: list[dict[str, Any]] = []
        self.settings: list[list[Any]] = []  # [key, value] in the order applied
        self.added: list[dict[str, Any]] = []  # {id, name, role, policy, persona}
        self.left: list[int] = []
        self.town = False  # an announcement was heard: prompts name the sender

    def get_state(self) -> dict[str, Any]:
        return {
            "schedule": [dict(e) for e in self.schedule],
            "settings": [list(s) for s in self.settings],
            "added": [dict(a) for a in self.added],
            "left": list(self.left),
            "town": self.town,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any] | None) -> WhatIf:
        wi = cls()
        state = state or {}
        wi.schedule = [dict(e) for e in state.get("schedule", [])]
        wi.settings = [list(s) for s in state.get("settings", [])]
        wi.added = [dict(a) for a in state.get("added", [])]
        wi.left = [int(a) for a in state.get("left", [])]
        wi.town = bool(state.get("town", False))
        return wi

    def add(self, events: list[dict[str, Any]]) -> None:
        """Schedule events (dicts with a ``tick``), skipping any whose ``source`` is scheduled already."""
        known = {e.get("source") for e in self.schedule}
        self.schedule.extend(e for e in events if e.get("source") is None or e["source"] not in known)

    def apply_due(self, model: Any) -> None:
        """Apply every scheduled event of the model's next tick; each becomes an ``intervention`` event."""
        tick = model.tick
        for e in self.schedule:
            if e.get("tick") == tick:
                model.interventions.append(self._apply(model, e))

    def _apply(self, model: Any, e: dict[str, Any]) -> Event:
        fields = {k: v for k, v in e.items() if k != "refuse"}
        target = place = None
        try:
            if e.get("refuse"):
                raise _Refused(e["refuse"])
            extra, target, place = _APPLY[e["type"]](self, model, e)
        except _Refused as exc:
            data = {**fields, "status": "refused", "reason": str(exc)}
            return Event(model.tick, "intervention", None, target, place, f"{e['type']}: refused", data)
        return Event(
            model.tick,
            "intervention",
            None,
            target,
            place,
            _summary(e),
            {**fields, **extra, "status": "applied"},
        )


class _Refused(Exception):
    """An event that cannot apply to the world as it is (an unknown or departed avatar...)."""


def whatif_of(model: Any) -> WhatIf:
    """The model's :class:`WhatIf`, made on first use."""
    wi = getattr(model, "whatif", None)
    if wi is None:
        wi = model.whatif = WhatIf()
    return wi


def at_boundary(model: Any, run_dir: Path | None) -> None:
    """Before a tick: read the run's injection queue (if any), then apply the events due now."""
    if run_dir is not None and (run_dir / "inject" / "queue").is_dir():
        from sim.whatif.inject import read_queue

        read_queue(model, run_dir)
    wi = getattr(model, "whatif", None)
    if wi is not None:
        wi.apply_due(model)


# -- the event types ---------------------------------------------------------------------------------------


def _summary(e: dict[str, Any]) -> str:
    kind = e["type"]
    if kind == "announcement":
        return f"Town: {_heard_text(e['text'])}"
    if kind == "price_shock":
        return f"price of {e['item']} x{e['factor']:g}"
    if kind == "tax":
        return f"tax rate {e['rate']:g}"
    if kind == "rule":
        return f"{e['key']} = {e['value']!r}"[:200]
    if kind == "item_drop":
        return f"{e['qty']} {e['item']} to {e['to']}"[:200]
    if kind == "new_avatar":
        return f"a new {e['role']} arrives"
    return f"avatar {e['avatar']} leaves"


def _heard_text(text: str) -> str:
    """Untrusted text, as avatars' speech is: one line, no control characters, bounded. Prompts quote it."""
    return _CONTROL.sub(" ", text).strip()[:_HEARD_CHARS]


def _announce(wi: WhatIf, model: Any, e: dict[str, Any]) -> tuple[dict, int | None, str | None]:
    world = model.world
    place = e.get("place")
    if place is not None and place not in world.places.coords:
        raise _Refused(f"unknown place {place!r}")
    text = _heard_text(e["text"])
    hearers = [a for a in world.ids if place is None or world.places.at.get(a) == place]
    heard = Heard(world.tick, TOWN, text)
    for a in hearers:
        box = world.inbox.get(a)
        if box is None:
            box = world.inbox[a] = deque(maxlen=world.inbox_size)
        box.append(heard)
    wi.town = True
    _name_town(model)
    return {"hearers": len(hearers)}, None, place


def _name_town(model: Any) -> None:
    """Prompts name the announcements' sender; only the model's register of names holds it, so the
    world never takes the Town for an avatar (one that could be reported, given to or spoken to)."""
    if model.names is model.world.names:
        model.names = dict(model.world.names)
    model.names[TOWN] = TOWN_NAME


def _price_shock(wi: WhatIf, model: Any, e: dict[str, Any]) -> tuple[dict, int | None, str | None]:
    world = model.world
    item = e["item"]
    if item not in world.item_names:
        raise _Refused(f"unknown item {item!r}")
    before = world.price_of(item)
    after = max(1, round(before * e["factor"]))
    world.book.prices[item] = after  # the market's reference price: checkpointed with the order book
    return {"price_before": before, "price_after": after}, None, None


def _setting(wi: WhatIf, model: Any, key: str, value: Any) -> None:
    try:
        cfg = changed_config(model.config, key, value, "event")
        apply_config(model, cfg)
    except UserError as exc:
        raise _Refused(str(exc).removeprefix("event: ")) from None
    wi.settings.append([key, value])


def _tax(wi: WhatIf, model: Any, e: dict[str, Any]) -> tuple[dict, int | None, str | None]:
    before = model.config.economy.tax_rate
    _setting(wi, model, "economy.tax_rate", e["rate"])
    return {"rate_before": before}, None, None


def _rule(wi: WhatIf, model: Any, e: dict[str, Any]) -> tuple[dict, int | None, str | None]:
    _setting(wi, model, e["key"], e["value"])
    return {}, None, None


def _recipients(model: Any, to: Any) -> list[int]:
    world = model.world
    if isinstance(to, list):
        live = set(world.ids)
        missing = [a for a in to if a not in live]
        if missing:
            raise _Refused(f"no such avatar (or it left): {missing[0]}")
        return list(dict.fromkeys(to))
    if to == "all":
        return list(world.ids)
    if to not in world.roles_cfg:
        raise _Refused(f"unknown role {to!r} (give avatar ids, a role or 'all')")
    return [a for a in world.ids if world.roles.get(a) == to]


def _item_drop(wi: WhatIf, model: Any, e: dict[str, Any]) -> tuple[dict, int | None, str | None]:
    world = model.world
    item = e["item"]
    if item not in world.assets:
        raise _Refused(f"unknown item {item!r}")
    ids = _recipients(model, e["to"])
    for a in ids:
        # Minted by the ledger's own "mint" account: conservation (held == minted - burned) still holds.
        world.ledger.transfer("mint", a, item, e["qty"], "intervention")
    target = ids[0] if len(ids) == 1 else None
    return {"recipients": len(ids), "minted": e["qty"] * len(ids)}, target, None


def _new_avatar(wi: WhatIf, model: Any, e: dict[str, Any]) -> tuple[dict, int | None, str | None]:
    from agents.persona import Persona

    world = model.world
    role_cfg = world.roles_cfg.get(e["role"])
    if role_cfg is None:
        raise _Refused(f"unknown role {e['role']!r}")
    policy = e.get("policy") or role_cfg.policy
    if policy == "llm" and model.llm is None:
        raise _Refused("policy llm needs a language model, and this run has none")
    taken = set(model.names.values())
    name = e.get("name") or f"Newcomer {len(wi.added) + 1}"
    base, n = name, 2
    while name in taken:
        name, n = f"{base} {n}", n + 1
    persona = Persona(
        name=name,
        age=e.get("age") or 30,
        occupation=e.get("occupation") or role_cfg.name,
        traits=tuple(e.get("traits") or ("curious", "friendly")),
        goals=tuple(e.get("goals") or ("make friends",)),
        values=tuple(e.get("values") or ("fairness",)),
    )
    spec = {"name": name, "role": role_cfg.name, "policy": policy, "persona": persona.to_dict()}
    avatar = _make_avatar(model, spec)
    aid = avatar.unique_id
    world.add_avatar(aid, name, role=role_cfg.name)  # its endowment is drawn from the world's RNG
    model.names[aid] = name
    spec["id"] = aid
    wi.added.append(spec)
    if model.store is not None:
        model.store.register_agents([(aid, name, policy, {**persona.to_dict(), "role": role_cfg.name})])
    return {"avatar": aid, "name": name, "policy": policy}, aid, world.places.at.get(aid)


def _make_avatar(model: Any, spec: dict[str, Any]) -> Any:
    """The model's side of a newcomer: a Mesa agent with persona, policy and (LLM) memory."""
    from agents.avatar import Avatar
    from agents.memory import Memory
    from agents.persona import Persona
    from agents.rules import make_rule_policy
    from sim.policy_setup import llm_policy_for

    p = spec["persona"]
    persona = Persona(
        name=p["name"],
        age=int(p["age"]),
        occupation=p["occupation"],
        traits=tuple(p["traits"]),
        goals=tuple(p["goals"]),
        values=tuple(p["values"]),
    )
    llm = spec["policy"] == "llm"
    policy = llm_policy_for(model.config) if llm else make_rule_policy(spec["policy"])
    memory = Memory(capacity_tokens=2 * model.config.llm.context_tokens) if llm else None
    (avatar,) = Avatar.create_agents(model, 1, [persona], [spec["role"]], [policy], [memory])
    if "id" in spec and avatar.unique_id != spec["id"]:
        raise ValueError(
            f"newcomer {spec['name']} got id {avatar.unique_id}, the checkpoint says {spec['id']}"
        )
    model.avatars.append(avatar)
    model.avatar_ids.append(avatar.unique_id)
    if llm:
        model.llm_avatars[avatar.unique_id] = avatar
        rule = model.world.roles_cfg[spec["role"]].policy
        model.fallback_policies[avatar.unique_id] = make_rule_policy("idle" if rule == "llm" else rule)
    return avatar


def _leaves(wi: WhatIf, model: Any, e: dict[str, Any]) -> tuple[dict, int | None, str | None]:
    world = model.world
    a = e["avatar"]
    if a in wi.left:
        raise _Refused(f"avatar {a} has left already")
    if a not in world.ids:
        raise _Refused(f"no such avatar {a}")
    place = world.places.at.get(a)
    # Open orders give their escrow back, open offers close: then everything it holds is in its account.
    for oid in [oid for oid, o in world.book.orders.items() if o.avatar == a]:
        world.book.cancel(oid, "left")
    for oid in [oid for oid, o in world.offers.open.items() if a in (o.sender, o.target)]:
        world.offers.close(oid)
    moved = {}
    for asset, qty in sorted(world.ledger.assets_of(a).items()):
        world.ledger.transfer(a, "treasury", asset, qty, "left")  # conserved: the treasury holds it now
        moved[asset] = qty
    world.places.trips.pop(a, None)
    world.places._leave(a)
    world.places.at.pop(a, None)
    world.ids.remove(a)
    world.moderator.violators.discard(a)
    _drop_model_avatar(model, a)
    wi.left.append(a)
    return {"to_treasury": moved}, a, place


def _drop_model_avatar(model: Any, a: int) -> None:
    avatar = next((x for x in model.avatars if x.unique_id == a), None)
    if avatar is None:
        return
    model.avatars.remove(avatar)
    model.avatar_ids.remove(a)
    model.llm_avatars.pop(a, None)
    model.fallback_policies.pop(a, None)
    avatar.remove()


_APPLY = {
    "announcement": _announce,
    "price_shock": _price_shock,
    "tax": _tax,
    "rule": _rule,
    "item_drop": _item_drop,
    "new_avatar": _new_avatar,
    "avatar_leaves": _leaves,
}


# -- checks before anything runs, and checkpoints -------------------------------------------------------


def static_check(cfg: Any, events: list[dict[str, Any]], where: str) -> None:
    """What an events file can get wrong against the scenario, as one ``UserError`` line: unknown
    items, places and roles, keys that cannot change mid-run, values the config refuses."""
    from sim.model import needs_llm

    assets = set(cfg.economy.items) | {cfg.economy.currency}
    roles = {r.name for r in cfg.population.roles}
    for i, e in enumerate(events):
        kind = e["type"]
        if kind == "announcement" and e.get("place") is not None and e["place"] not in cfg.world.places:
            raise UserError(f"{where}: {i}.place: unknown place {e['place']!r}")
        if kind == "price_shock" and e["item"] not in cfg.economy.items:
            raise UserError(f"{where}: {i}.item: unknown item {e['item']!r}")
        if kind == "item_drop":
            if e["item"] not in assets:
                raise UserError(f"{where}: {i}.item: unknown item {e['item']!r}")
            if isinstance(e["to"], str) and e["to"] != "all" and e["to"] not in roles:
                raise UserError(f"{where}: {i}.to: unknown role {e['to']!r} (give avatar ids, a role or all)")
        if kind == "new_avatar" and e["role"] not in roles:
            raise UserError(f"{where}: {i}.role: unknown role {e['role']!r}")
        if kind == "new_avatar" and e.get("policy") == "llm" and not needs_llm(cfg):
            raise UserError(f"{where}: {i}.policy: llm needs a language model, and this run has none")
        if kind == "tax":
            changed_config(cfg, "economy.tax_rate", e["rate"], f"{where}: {i}")
        if kind == "rule":
            changed_config(cfg, e["key"], e["value"], f"{where}: {i}.key")


def restore(model: Any, state: dict[str, Any]) -> None:
    """``model.set_state(state)`` for a checkpoint that may hold what-if changes: settings are applied
    and newcomers made before the restore, departed avatars dropped after it."""
    wi = WhatIf.from_state(state.get("whatif"))
    for key, value in wi.settings:
        apply_config(model, changed_config(model.config, key, value, "checkpoint"))
    for spec in wi.added:
        _make_avatar(model, spec)
    model.set_state(state)
    for spec in wi.added:
        model.names[spec["id"]] = spec["name"]
    for a in wi.left:
        _drop_model_avatar(model, a)
    if wi.town:
        _name_town(model)
    if state.get("whatif") is not None:
        model.whatif = wi
