"""Personas are drawn reproducibly from templates and the model's seed."""

from __future__ import annotations

import random

import pytest

from agents.persona import DEFAULT_TEMPLATES, Persona, PersonaTemplates, generate_persona


def _draw(seed: int, n: int) -> list[Persona]:
    rng = random.Random(seed)
    taken: dict[str, int] = {}
    return [generate_persona(rng, role="trader", taken=taken) for _ in range(n)]


def test_same_seed_gives_the_same_personas() -> None:
    assert _draw(7, 50) == _draw(7, 50)


def test_different_seeds_give_different_personas() -> None:
    assert _draw(7, 50) != _draw(8, 50)


def test_names_stay_unique_beyond_the_name_pool() -> None:
    pool = len(DEFAULT_TEMPLATES.first_names) * len(DEFAULT_TEMPLATES.last_names)
    personas = _draw(1, pool * 3)
    names = [p.name for p in personas]
    assert len(set(names)) == len(names)


def test_role_flavours_the_occupation() -> None:
    personas = _draw(3, 40)
    assert {p.occupation for p in personas} <= set(DEFAULT_TEMPLATES.role_occupations["trader"])


def test_persona_round_trips_through_a_dict() -> None:
    p = _draw(5, 1)[0]
    assert Persona.from_dict(p.to_dict()) == p


def test_describe_names_the_persona_and_is_stable() -> None:
    p = _draw(5, 1)[0]
    text = p.describe()
    assert text.startswith(f"You are {p.name}, a {p.age}-year-old {p.occupation}.")
    assert text == p.describe()


def test_template_overlay_replaces_only_given_fields() -> None:
    t = PersonaTemplates.from_mapping({"first_names": ["Zed"], "last_names": ["Quill"]})
    p = generate_persona(random.Random(0), t)
    assert p.name == "Zed Quill"
    assert t.occupations == DEFAULT_TEMPLATES.occupations


def test_template_overlay_rejects_unknown_fields() -> None:
    with pytest.raises(ValueError, match=r"persona\.colours: unknown template field"):
        PersonaTemplates.from_mapping({"colours": ["red"]})
