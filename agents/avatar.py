"""The avatar: a ``mesa.Agent`` with a persona, a role, a policy and (for LLM avatars) a memory.

The avatar's body - place, coins, inventory, needs - is the world's, so that one game master
holds every fact and validates every change; the avatar is who it is (persona), how it decides
(policy) and what it remembers (memory). Its Mesa ``unique_id`` is its id in the world.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import mesa

from agents.intentions import Intention
from agents.memory import Memory
from agents.persona import Persona

if TYPE_CHECKING:
    from agents.policy import Decision, Policy, TickContext
    from agents.session import Session
    from world.types import Action, Observation

__all__ = ["Avatar"]


class Avatar(mesa.Agent):
    """One inhabitant. Made with ``Avatar.create_agents(model, n, personas, roles, policies, memories)``."""

    def __init__(
        self,
        model: mesa.Model,
        persona: Persona,
        role: str,
        policy: Policy,
        memory: Memory | None = None,
    ) -> None:
        super().__init__(model)
        self.persona = persona
        self.role = role
        self.policy = policy
        # Rule avatars keep no memory (their policies never read one): at 100,000 avatars
        # that is most of the per-avatar cost saved.
        self.memory = memory
        # An LLM avatar's work in progress (agents.intentions): kept ticks ask no model.
        self.intention: Intention | None = None
        # An LLM avatar's prompt log (agents.session); not checkpointed: a resumed one starts afresh.
        # Made by the LLM policy on the first decision (rule avatars carry none).
        self.session: Session | None = None

    @property
    def avatar_id(self) -> int:
        """The id the world, the event store and the prompts use (Mesa's ``unique_id``)."""
        return int(self.unique_id)

    @property
    def name(self) -> str:
        """The persona's name."""
        return self.persona.name

    def decide(self, obs: Observation | None, options: Sequence[Action], ctx: TickContext) -> Decision:
        """Ask the policy for this tick's action (or a pending LLM choice)."""
        return self.policy.decide(self, obs, options, ctx)

    def remember(self, tick: int, text: str, importance: float = 3.0, kind: str = "observation") -> None:
        """Store a memory (no-op for avatars without one)."""
        if self.memory is not None:
            self.memory.add(tick, text, importance, kind)

    def recent_memories(self, n: int = 3) -> list[str]:
        """The newest ``n`` memory texts (for ``agent_state`` rows and the dashboard)."""
        return self.memory.recent(n) if self.memory is not None else []

    def get_state(self) -> dict[str, Any]:
        """JSON-safe state for checkpoints (persona and role are rebuilt from the seed, but kept
        here too so a checkpoint is self-describing and checked on load)."""
        return {
            "id": self.unique_id,
            "name": self.persona.name,
            "role": self.role,
            "policy": self.policy.name,
            "memory": self.memory.get_state() if self.memory is not None else None,
            "intention": self.intention.as_dict() if self.intention is not None else None,
        }

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore :meth:`get_state`'s output onto an avatar rebuilt from the same config and seed."""
        if state["id"] != self.unique_id or state["name"] != self.persona.name:
            raise ValueError(
                f"checkpoint avatar {state['id']} ({state['name']}) does not match "
                f"{self.unique_id} ({self.persona.name}): was the config or seed changed?"
            )
        if state.get("memory") is not None:
            if self.memory is None:
                self.memory = Memory()
            self.memory.set_state(state["memory"])
        held = state.get("intention")
        self.intention = Intention.from_dict(held) if held else None
