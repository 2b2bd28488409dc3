"""The scenario's LLM policy, and what it is told about the scenario's roles in plain words.

The persona message says each role's work ("gather wheat at the farm, and sell what you do not
eat") and where that work is, drawn from the scenario's own economy and places, so the same
prompts serve every scenario.
"""

from __future__ import annotations

from collections.abc import Sequence

from agents.agenda import Economy, RoleWork
from agents.llm_policy import LLMPolicy, SpeechSettings
from sim.config import ScenarioConfig

__all__ = ["economy", "llm_policy_for", "role_kinds", "role_work", "work_places"]


def llm_policy_for(cfg: ScenarioConfig) -> LLMPolicy:
    """The scenario's LLM policy (one object serves every LLM avatar; the behaviour bench uses it too)."""
    llm_cfg = cfg.llm
    eco = economy(cfg)
    # The changing part of a prompt gets what the context leaves after rules, persona and
    # the answer: memories and conversation are trimmed to fit, so prompts never outgrow it.
    prompt_tokens = max(128, llm_cfg.context_tokens - 256 - llm_cfg.max_new_tokens)
    return LLMPolicy(
        world_name=cfg.name,
        description=cfg.description,
        prompt_tokens=prompt_tokens,
        speech=SpeechSettings(
            max_new_tokens=llm_cfg.max_new_tokens,
            temperature=llm_cfg.temperature,
            top_p=llm_cfg.top_p,
            top_k=llm_cfg.top_k,
            repetition_penalty=llm_cfg.repetition_penalty,
            candidates=llm_cfg.speech_candidates,
        ),
        role_work=role_work(cfg),
        work_places=work_places(cfg),
        foods=eco.foods,
        session_tokens=llm_cfg.session_tokens,
        work=role_kinds(cfg),
        economy=eco,
    )


def economy(cfg: ScenarioConfig) -> Economy:
    """Where things grow, are made and are sold, from the scenario's economy and places."""
    eco, places = cfg.economy, cfg.world.places
    offering = {kind: tuple(n for n, p in places.items() if kind in p.offers) for kind in eco.gathering}
    grows: dict[str, tuple[str, ...]] = {}
    for kind, items in eco.gathering.items():
        for item in items:
            grows[item] = tuple(dict.fromkeys([*grows.get(item, ()), *(offering.get(kind) or ())]))
    return Economy(
        grows=grows,
        recipes={name: dict(r.inputs) for name, r in eco.recipes.items()},
        workshops={
            name: tuple(n for n, p in places.items() if r.place in p.offers)
            for name, r in eco.recipes.items()
        },
        markets=tuple(n for n, p in places.items() if "market" in p.offers),
        foods=tuple(i for i, c in eco.items.items() if c.food > 0),
        currency=eco.currency,
    )


def role_kinds(cfg: ScenarioConfig) -> dict[str, RoleWork]:
    """Each role's kind of work (agents.agenda), recognised by role name as in :func:`role_work`."""
    out = {}
    for role in cfg.population.roles:
        name = role.name.lower()
        for key, kind in (("gather", "gather"), ("craft", "craft"), ("trad", "trade"), ("collab", "build")):
            if key in name:
                out[role.name] = RoleWork(kind)
                break
    return out


def _and(items: Sequence[str]) -> str:
    items = list(items)
    return ", ".join(items[:-1]) + " and " + items[-1] if len(items) > 1 else "".join(items)


def role_work(cfg: ScenarioConfig) -> dict[str, str]:
    """Each role's work in plain words, from the scenario's own economy ("gather wheat at the
    farm and wood at the forest"), for the persona message. Roles are recognised by their name
    (gatherer, crafter, trader, collaborator...); others get none."""
    eco = cfg.economy
    places = cfg.world.places
    where = {kind: [n for n, p in places.items() if kind in p.offers] for kind in eco.gathering}
    gather = _and(
        [
            f"{_and(list(items))} at the {_and(where.get(kind) or [kind])}"
            for kind, items in eco.gathering.items()
        ]
    )
    craft = _and(
        [f"{name} from {_and([f'{q} {i}' for i, q in r.inputs.items()])}" for name, r in eco.recipes.items()]
    )
    craft_at = _and(
        sorted({n for r in eco.recipes.values() for n, p in places.items() if r.place in p.offers})
    )
    projects = _and(list(cfg.projects.templates))
    out = {}
    for role in cfg.population.roles:
        name = role.name.lower()
        if "gather" in name and gather:
            out[role.name] = f"gather {gather}, and sell what you do not eat"
        elif "craft" in name and craft:
            out[role.name] = f"craft {craft} at the {craft_at or 'workshop'}, and sell what you make"
        elif "trad" in name:
            out[role.name] = "buy goods cheap and sell them dear, at the market and to people you meet"
        elif "collab" in name and projects:
            out[role.name] = f"build the town's projects ({projects}) with others, and help your neighbours"
    return out


def work_places(cfg: ScenarioConfig) -> dict[str, list[str]]:
    """Where each role's work is (gatherers: where things grow; crafters: where recipes are made;
    traders: the market), from :func:`economy` and :func:`role_kinds`, in the places' order."""
    eco = economy(cfg)
    at = {
        "gather": {p for ps in eco.grows.values() for p in ps},
        "craft": {p for ps in eco.workshops.values() for p in ps},
        "trade": set(eco.markets),
    }
    out = {}
    for role, work in role_kinds(cfg).items():
        where = [n for n in cfg.world.places if n in at.get(work.kind, set())]
        if where:
            out[role] = where
    return out
