"""From a scenario's ``population`` section to avatars: who uses which policy, and their personas.

A scenario mixes policies by role (``roles``: each with a ``count`` or a ``share`` and a
``policy``) and by share (``llm_share`` of the ordinary, non-LLM avatars use the LLM policy
instead of their role's). Everything here is deterministic given the model's RNG: avatars are
made role by role in config order, personas drawn in id order.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from agents.persona import DEFAULT_TEMPLATES, Persona, PersonaTemplates, generate_persona
from agents.rules import RULE_POLICIES
from world.moderation import VIOLATOR_POLICIES

__all__ = ["POLICIES", "Slot", "agent_state_every", "persona_templates", "plan_population"]

#: Every policy a role may name: ``llm`` (needs a language model) and the rule policies. The one list:
#: the config validates a role's ``policy`` against it.
POLICIES: tuple[str, ...] = ("llm", *RULE_POLICIES)


@dataclass(frozen=True)
class Slot:
    """One avatar to create: its role (the world's), its policy name and its persona."""

    role: str
    policy: str
    persona: Persona
    home: str | None = None


def persona_templates(cfg_templates: Any | None) -> PersonaTemplates:
    """Our templates from the config's ``persona_templates`` (names are first names; the
    surname pool and role flavours are ours)."""
    if cfg_templates is None:
        return DEFAULT_TEMPLATES
    data = cfg_templates if isinstance(cfg_templates, Mapping) else cfg_templates.model_dump()
    overlay = {
        "first_names": data.get("names") or DEFAULT_TEMPLATES.first_names,
        "occupations": data.get("occupations") or DEFAULT_TEMPLATES.occupations,
        "traits": data.get("traits") or DEFAULT_TEMPLATES.traits,
        "goals": data.get("goals") or DEFAULT_TEMPLATES.goals,
        "values": data.get("values") or DEFAULT_TEMPLATES.values,
    }
    return PersonaTemplates.from_mapping(overlay)


def _llm_counts(counts: Mapping[str, int], policies: Mapping[str, str], share: float) -> dict[str, int]:
    """How many of each ordinary role's avatars use the LLM policy (largest remainder, exact total)."""
    eligible = [
        r
        for r, n in counts.items()
        if n > 0 and policies[r] not in VIOLATOR_POLICIES and policies[r] != "llm"
    ]
    total = round(share * sum(counts[r] for r in eligible))
    if total <= 0 or not eligible:
        return {}
    base = sum(counts[r] for r in eligible)
    exact = {r: total * counts[r] / base for r in eligible}
    out = {r: int(v) for r, v in exact.items()}
    for r in sorted(eligible, key=lambda r: -(exact[r] - out[r]))[: total - sum(out.values())]:
        out[r] += 1
    return out


def plan_population(
    roles: Sequence[Any],
    counts: Mapping[str, int],
    *,
    llm_share: float,
    templates: PersonaTemplates,
    rng: random.Random,
) -> list[Slot]:
    """The avatars to create, in id order.

    ``roles`` are the config's role entries (``name``, ``policy``, ``home``); ``counts`` comes
    from ``sim.config.role_counts``. Within a role, the LLM avatars come first.
    """
    policies = {r.name: r.policy for r in roles}
    llm = _llm_counts(counts, policies, llm_share)
    taken: dict[str, int] = {}
    slots: list[Slot] = []
    for role in roles:
        n = counts.get(role.name, 0)
        own = role.policy
        if own not in POLICIES:
            raise ValueError(f"population.roles.{role.name}.policy: unknown policy {role.policy!r}")
        n_llm = llm.get(role.name, 0)
        for i in range(n):
            policy = "llm" if i < n_llm else own
            flavour = "crafter" if "craft" in role.name else role.name
            persona = generate_persona(rng, templates, role=flavour, taken=taken)
            slots.append(Slot(role=role.name, policy=policy, persona=persona, home=role.home))
    return slots


def agent_state_every(population: int) -> int:
    """Ticks between ``agent_state`` rows: every tick up to 1,000 avatars, else ceil(N / 1000)."""
    return 1 if population <= 1000 else math.ceil(population / 1000)
