"""Personas: who an avatar is (name, age, occupation, traits, goals, values).

A persona is drawn once, when the avatar is created, from the scenario's templates and the
model's seeded RNG, so the same seed always gives the same population. It never changes
afterwards: its text is part of the stable prompt prefix the LLM engine caches across ticks.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["DEFAULT_TEMPLATES", "Persona", "PersonaTemplates", "generate_persona"]


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


@dataclass(frozen=True)
class PersonaTemplates:
    """The pools a persona is drawn from. A scenario may replace any of them."""

    first_names: tuple[str, ...]
    last_names: tuple[str, ...]
    occupations: tuple[str, ...]
    traits: tuple[str, ...]
    goals: tuple[str, ...]
    values: tuple[str, ...]
    age_range: tuple[int, int] = (18, 75)
    # Occupations that fit a role better than the general pool (a trader is a merchant...).
    role_occupations: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    role_goals: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None) -> PersonaTemplates:
        """Overlay a scenario's ``persona`` mapping (any subset of the fields) on the defaults."""
        if not data:
            return DEFAULT_TEMPLATES
        base = asdict(DEFAULT_TEMPLATES)
        for key, value in data.items():
            if key not in base:
                raise ValueError(f"persona.{key}: unknown template field")
            if key in ("role_occupations", "role_goals"):
                base[key] = {str(k): tuple(v) for k, v in dict(value).items()}
            else:
                base[key] = tuple(value)
        for key in ("first_names", "last_names", "occupations", "traits", "goals", "values"):
            if not base[key]:
                raise ValueError(f"persona.{key}: must not be empty")
        return cls(**base)


DEFAULT_TEMPLATES = PersonaTemplates(
    first_names=_words(
        "Ada Bo Cyrus Dara Elio Fern Gus Hana Ivo Juno Kai Lena Milo Nia Otto Pia Quinn Rosa Sami "
        "Tara Uma Vik Wren Yara Zeno Aria Bram Cleo Dev Esme Finn Gia Hugo Iris Jonas Kira"
    ),
    last_names=_words(
        "Abbott Brook Castell Drummond Ellery Fairweather Grove Hale Ingram Jasper Keller Lund "
        "Marsh Novak Orwell Pike Reyes Sato Thorne Underhill Vance Whitlock Yates Zimmer"
    ),
    occupations=_words(
        "baker farmer blacksmith carpenter teacher healer merchant fisher weaver miner musician "
        "scribe cook builder gardener potter"
    ),
    traits=_words(
        "curious generous cautious talkative shrewd patient ambitious kind stubborn cheerful honest "
        "proud shy competitive loyal frugal"
    ),
    goals=(
        "save enough coins to open a shop",
        "make three close friends",
        "become the best crafter in town",
        "help finish a community project",
        "never go hungry",
        "learn everyone's name",
        "trade at fair prices",
        "build a reputation for honesty",
    ),
    values=(
        *_words("fairness family friendship freedom tradition wealth knowledge community honesty"),
        "hard work",
    ),
    role_occupations={
        "trader": ("merchant", "shopkeeper", "peddler"),
        "gatherer": ("farmer", "miner", "fisher", "woodcutter"),
        "crafter": ("blacksmith", "carpenter", "weaver", "potter", "baker"),
        "collaborator": ("builder", "organiser", "architect"),
    },
    role_goals={
        "trader": ("buy low and sell high", "become the richest merchant in town"),
        "gatherer": ("gather more than anyone else", "never go hungry"),
        "crafter": ("become the best crafter in town",),
        "collaborator": ("help finish a community project", "bring people together"),
    },
)


@dataclass(frozen=True)
class Persona:
    """Who an avatar is. Frozen: the persona's prompt text must stay the same every tick."""

    name: str
    age: int
    occupation: str
    traits: tuple[str, ...]
    goals: tuple[str, ...]
    values: tuple[str, ...]

    def describe(self) -> str:
        """One paragraph for the stable part of the prompt."""
        return (
            f"You are {self.name}, a {self.age}-year-old {self.occupation}. "
            f"You are {_join(self.traits)}. You value {_join(self.values)}. "
            f"Your goals: {'; '.join(self.goals)}."
        )

    def to_dict(self) -> dict[str, object]:
        """JSON-safe form (event store ``agents.persona_json``, checkpoints)."""
        return {
            "name": self.name,
            "age": self.age,
            "occupation": self.occupation,
            "traits": list(self.traits),
            "goals": list(self.goals),
            "values": list(self.values),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Persona:
        """Inverse of :meth:`to_dict`."""
        return cls(
            name=str(data["name"]),
            age=int(data["age"]),
            occupation=str(data["occupation"]),
            traits=tuple(data["traits"]),
            goals=tuple(data["goals"]),
            values=tuple(data["values"]),
        )


def generate_persona(
    rng: random.Random,
    templates: PersonaTemplates = DEFAULT_TEMPLATES,
    *,
    role: str = "",
    taken: dict[str, int] | None = None,
) -> Persona:
    """Draw a persona from ``templates`` with ``rng`` (the model's ``random``).

    ``taken`` counts the uses of each drawn name; a repeat gets its count appended ("Ada
    Brook 2"), so names stay unique - avatars address each other by name - in populations
    of any size, at O(1) per avatar.
    """
    name = f"{rng.choice(templates.first_names)} {rng.choice(templates.last_names)}"
    if taken is not None:
        count = taken.get(name, 0) + 1
        taken[name] = count
        if count > 1:
            name = f"{name} {count}"
    lo, hi = templates.age_range
    occupations = templates.role_occupations.get(role) or templates.occupations
    goals_pool = list(templates.goals)
    role_goals = list(templates.role_goals.get(role, ()))
    goals = [rng.choice(role_goals)] if role_goals else []
    goals += [g for g in _sample(rng, goals_pool, 2) if g not in goals]
    return Persona(
        name=name,
        age=rng.randint(lo, hi),
        occupation=rng.choice(occupations),
        traits=tuple(_sample(rng, templates.traits, 2)),
        goals=tuple(goals[:2]),
        values=tuple(_sample(rng, templates.values, 2)),
    )


def _sample(rng: random.Random, pool: Sequence[str], k: int) -> list[str]:
    return rng.sample(list(pool), min(k, len(pool)))


def _join(items: Sequence[str]) -> str:
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]
