"""What every action kind is made of: an :class:`ActionSpec`.

A spec owns its kind's whole story (Concordia's action specs are the model):

- ``label``: the short English option text avatars read;
- ``check``: why the world would refuse the action now (or None), with every condition in one
  place, so the world's refusals and the options it offers can never disagree;
- ``apply``: what happens, for an action that passed ``check`` (it appends the events);
- ``options``: the candidate actions of this kind an avatar may be offered now, each with a
  sort key that places it in the option list (most pressing first).

:func:`world.actions.legal_actions` gathers the candidates of every spec, keeps those ``check``
accepts and orders them by key; :meth:`world.World.resolve` runs ``check`` then ``apply``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from world.types import LABELS, Action, Event, Offer

if TYPE_CHECKING:
    from world.world import World

__all__ = ["ActionSpec", "Candidate", "Situation", "goods_text", "who"]

#: An option and its place in the list: keys sort by section first (needs, offers, work,
#: projects, people, market, travel, snacks), then by position within the section.
Candidate = tuple[tuple[int, ...], Action]


@dataclass(frozen=True, slots=True)
class Situation:
    """An avatar's circumstances, computed once per option listing and shared by every spec."""

    actor: int
    tick: int
    place: str | None
    needs: dict[str, float]
    inventory: dict[str, int]
    coins: int
    tired: bool
    muted: bool
    people: tuple[int, ...]  # the few others here that options name (talk, give, offer)
    offers: tuple[Offer, ...]  # offers waiting for an answer (the first few visible)
    foods: tuple[str, ...]  # food it holds, most filling first


class ActionSpec:
    """One action kind. Subclasses set :attr:`kind` and override what applies to them."""

    kind: ClassVar[str] = ""

    def __init_subclass__(cls, **kw: object) -> None:
        super().__init_subclass__(**kw)
        if cls.kind:
            LABELS[cls.kind] = cls.label

    @staticmethod
    def label(a: Action) -> str:
        """The option text of ``a``."""
        return a.kind

    def check(self, w: World, a: Action, draft: bool = False) -> str | None:
        """Why ``a`` is refused now, or None. ``draft``: an option whose free fields (the text of
        a ``say``) the avatar fills in later, so those fields are not checked."""
        return None

    def apply(self, w: World, a: Action, out: list[Event]) -> None:
        """Carry out ``a`` (it passed :meth:`check`) and append what happened to ``out``."""
        raise NotImplementedError

    def options(self, w: World, s: Situation) -> Iterable[Candidate]:
        """Candidate actions of this kind for the avatar in ``s`` (checked by the caller)."""
        return ()


def who(a: Action) -> str:
    """The target as an option names it."""
    return a.target_name or (f"#{a.target}" if a.target is not None else "everyone here")


def goods_text(pairs: Iterable[tuple[str, int]]) -> str:
    """``2 bread and 5 coin``."""
    return " and ".join(f"{q} {i}" for i, q in pairs) or "nothing"
