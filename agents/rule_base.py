"""The base of the option-scoring rule policies (agents.rules, agents.violators)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from agents.policy import Decision, TickContext
from world.types import Action, Observation

if TYPE_CHECKING:
    from agents.avatar import Avatar

__all__ = ["RulePolicy"]


class RulePolicy:
    """Base of the option-scoring rule policies: subclasses implement :meth:`score`."""

    name = "rule"
    uses_llm = False
    observes = True

    def decide(
        self, avatar: Avatar, obs: Observation | None, options: Sequence[Action], ctx: TickContext
    ) -> Decision:
        """The best-scoring option still free this tick (random among equals), claimed; ``None``
        when all score <= 0."""
        if not options or obs is None:
            return None
        best: list[Action] = []
        best_score = 0.0
        claims = ctx.claims
        for option in options:
            s = self.score(option, obs, ctx)
            if s > 0 and not claims.allows(option, obs):
                continue
            if s > best_score:
                best, best_score = [option], s
            elif s == best_score and s > 0:
                best.append(option)
        if not best:
            return None
        action = best[0] if len(best) == 1 else ctx.random.choice(best)
        claims.record(action)
        return self.finish(action, obs, ctx)

    def score(self, option: Action, obs: Observation, ctx: TickContext) -> float:
        """How much this policy wants ``option`` (<= 0: never)."""
        raise NotImplementedError

    def finish(self, action: Action, obs: Observation, ctx: TickContext) -> Action:
        """Fill in what the option leaves open (speech text); default: the option as offered."""
        return action
