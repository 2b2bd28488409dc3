"""The world: the game master of mesaverse.

Places and movement, the social graph, the economy and its auditable ledger, moderation
and collaboration projects. Pure, deterministic Python: every random draw comes from the
``random.Random`` handed to :class:`World`; nothing here imports ``agents``, ``sim``,
``dashboard``, torch or Ray.
"""

from world.actions import ACTION_KINDS, SPECS
from world.ledger import InvariantError, LedgerError
from world.types import EVENT_KINDS, SYSTEM_ACCOUNTS, Action, Event, Heard, Observation, Offer, ProjectView
from world.world import World

__all__ = [
    "ACTION_KINDS",
    "EVENT_KINDS",
    "SPECS",
    "SYSTEM_ACCOUNTS",
    "Action",
    "Event",
    "Heard",
    "InvariantError",
    "LedgerError",
    "Observation",
    "Offer",
    "ProjectView",
    "World",
]
