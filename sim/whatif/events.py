"""The events file of ``mesaverse fork --events`` and ``mesaverse inject``: a YAML list of events.

Each event is ``{tick: int, type: ..., ...}``, validated by frozen pydantic models (``extra="forbid"``) and
read through the scenario loader's safe YAML reader (duplicate keys, alias bombs, binary or non-UTF-8
files are refused). Every mistake is one :class:`~sim.errors.UserError` line naming the file, the event
(its position, from 0) and the field: ``ev.yaml: 2.qty: must be at least 1``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from agents.population import POLICIES
from sim.config.schema import MAX_NAME_CHARS, MAX_POPULATION, MAX_TICKS, Name, NonNegInt, PosInt, Unit
from sim.errors import UserError, load_user_yaml

__all__ = ["EVENT_TYPES", "MAX_EVENTS", "WhatIfEvent", "event_dict", "load_events", "parse_events"]

#: Events in one file (a what-if is a handful of changes; thousands would be a mistake).
MAX_EVENTS = 1_000
#: An announcement is one short line, like a message.
MAX_ANNOUNCEMENT_CHARS = 500

Tick = Annotated[int, AfterValidator(lambda v: _tick(v))] | None


def _tick(v: int) -> int:
    if not 0 <= v <= MAX_TICKS:
        raise ValueError(f"must be between 0 and {MAX_TICKS:,}")
    return v


def _factor(v: float) -> float:
    if not 0 < v <= 1000:
        raise ValueError("must be above 0 and at most 1000")
    return v


class _Event(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    #: The tick boundary the event applies at (before that tick runs). Optional only for ``inject``.
    tick: Tick = None


class Announcement(_Event):
    """A message from the Town (not an avatar) in everyone's observation, or one place's avatars'."""

    type: Literal["announcement"]
    text: Annotated[str, Field(min_length=1, max_length=MAX_ANNOUNCEMENT_CHARS)]
    place: Name | None = None


class PriceShock(_Event):
    """The item's market price is multiplied by ``factor`` (rounded, at least 1)."""

    type: Literal["price_shock"]
    item: Name
    factor: Annotated[float, AfterValidator(_factor)]


class Tax(_Event):
    """The trade tax rate becomes ``rate`` (``economy.tax_rate``)."""

    type: Literal["tax"]
    rate: Unit


class Rule(_Event):
    """A tick-safe config key (a moderation rule or economy parameter) gets ``value``."""

    type: Literal["rule"]
    key: Annotated[str, Field(min_length=1, max_length=200)]
    value: Any


Recipients = (
    Annotated[list[NonNegInt], Field(min_length=1, max_length=MAX_POPULATION)]
    | Annotated[str, Field(min_length=1, max_length=MAX_NAME_CHARS)]
)


class ItemDrop(_Event):
    """``qty`` of ``item`` (or the currency) minted to each recipient: ids, a role name, or ``all``."""

    type: Literal["item_drop"]
    item: Name
    qty: PosInt
    to: Recipients


class NewAvatar(_Event):
    """A newcomer of ``role``; persona fields default to the role's; ``policy`` to the role's policy."""

    type: Literal["new_avatar"]
    role: Name
    # valid-type: a Literal built from agents' POLICIES tuple (the one list), as in the scenario schema.
    policy: Literal[POLICIES] | None = None  # type: ignore[valid-type]
    name: Name | None = None
    age: Annotated[int, Field(ge=0, le=150)] | None = None
    occupation: Name | None = None
    traits: tuple[Name, ...] | None = None
    goals: tuple[Name, ...] | None = None
    values: tuple[Name, ...] | None = None


class AvatarLeaves(_Event):
    """An avatar leaves the world; what it holds goes to the treasury (coins and items stay conserved)."""

    type: Literal["avatar_leaves"]
    avatar: NonNegInt


WhatIfEvent = Annotated[
    Announcement | PriceShock | Tax | Rule | ItemDrop | NewAvatar | AvatarLeaves, Field(discriminator="type")
]
EVENT_TYPES = ("announcement", "price_shock", "tax", "rule", "item_drop", "new_avatar", "avatar_leaves")
_ADAPTER: TypeAdapter[Any] = TypeAdapter(WhatIfEvent)


def _message(err: Any) -> tuple[str, str]:
    from sim.config.loading import _format_error

    loc = list(err["loc"])
    if loc and loc[0] in EVENT_TYPES:
        loc = loc[1:]  # the discriminator's tag is not a field the user wrote
    # A union's branch names ("list[...]", "function-after[...]") are not fields either.
    loc = [p for p in loc if not (isinstance(p, str) and "[" in p)]
    if loc and loc[0] == "to" and len(loc) == 1:
        return "to", "must be a list of avatar ids (at least one), a role name or all"
    if err["type"] in ("union_tag_invalid", "union_tag_not_found"):
        return "type", f"must be one of {', '.join(EVENT_TYPES)}" + (
            " (missing)" if err["type"] == "union_tag_not_found" else ""
        )
    detail = dict(err)
    detail["loc"] = tuple(loc)
    return _format_error(detail)  # type: ignore[arg-type]  # an ErrorDetails with its tag dropped


def parse_events(data: Any, where: str, *, need_tick: bool) -> list[Any]:
    """Validate raw YAML data (a list of mappings) into events; one-line ``UserError`` naming ``where``."""
    if not isinstance(data, list):
        raise UserError(f"{where}: (root): must be a list of events ({{tick, type, ...}})")
    if len(data) > MAX_EVENTS:
        raise UserError(f"{where}: (root): at most {MAX_EVENTS:,} events, got {len(data):,}")
    out = []
    for i, item in enumerate(data):
        if not isinstance(item, dict):
            raise UserError(f"{where}: {i}: must be a mapping {{tick, type, ...}}")
        try:
            event = _ADAPTER.validate_python(item)
        except ValidationError as exc:
            field, msg = _message(exc.errors()[0])
            raise UserError(f"{where}: {i}.{field}: {msg}") from None
        if need_tick and event.tick is None:
            raise UserError(f"{where}: {i}.tick: required field is missing")
        out.append(event)
    return out


def load_events(path: str | Path, *, need_tick: bool = True) -> list[Any]:
    """An events file, read with the scenario loader's safe YAML reader and validated."""
    return parse_events(load_user_yaml(path, what="events file"), str(path), need_tick=need_tick)


def event_dict(event: Any) -> dict[str, Any]:
    """An event as plain JSON data (what checkpoints, the queue and ``intervention`` events hold)."""
    return event.model_dump(mode="json", exclude_none=True)
