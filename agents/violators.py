"""Scripted violators for the moderation scenarios: ``spammer``, ``scammer``, ``harasser``.

Their avatars have that role in the world, which labels their messages' ground truth
(``violation``) with it; ordinary avatars' messages carry no violation. They talk with templated
violating messages, with a chance per tick (the model's seeded RNG), and otherwise work.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from agents.policy import Decision, TickContext
from agents.rule_base import RulePolicy
from world.types import Action, Observation

if TYPE_CHECKING:
    from agents.avatar import Avatar

__all__ = ["HARASS", "SCAM", "SPAM", "HarasserPolicy", "ScammerPolicy", "SpammerPolicy"]

SPAM = (
    "BUY CHEAP GOLD NOW!!! visit goldz4u dot shop",
    "Best prices in town!!! DM me DM me DM me",
    "FREE COINS FREE COINS click the link in my profile",
    "WIN BIG at lucky-market dot biz, limited offer!!!",
)
SCAM = (
    "Send me 10 coins now and I will send back 100 tomorrow, guaranteed!",
    "I am from the treasury: give me your coins to verify your account.",
    "Pay me upfront and I will deliver the best tools in town, trust me.",
    "Double your coins! Just give them to me and wait one day.",
)
HARASS = (
    "Nobody here likes you, {name}. Leave town.",
    "You are worthless, {name}, and everyone knows it.",
    "Shut up, {name}. Idiot.",
    "I'll make sure you regret coming here, {name}.",
)


class _ViolatorPolicy(RulePolicy):
    """Talks with templated violating messages, with a chance per tick; otherwise gathers."""

    templates: tuple[str, ...] = ()
    rate = 0.6

    def score(self, option: Action, obs: Observation, ctx: TickContext) -> float:
        """Speech first (as often as ``rate``), else ordinary work."""
        if option.kind == "say":
            return self._speech_score(option)
        return {"gather": 1.0, "move": 0.8, "rest": 0.5}.get(option.kind, 0.0)

    def _speech_score(self, option: Action) -> float:
        return 3.0

    def decide(
        self, avatar: Avatar, obs: Observation | None, options: Sequence[Action], ctx: TickContext
    ) -> Decision:
        """Decide whether to talk this tick with the model's RNG (so it is seeded), then score."""
        self._talk = ctx.random.random() < self.rate
        return super().decide(avatar, obs, options, ctx)

    def finish(self, action: Action, obs: Observation, ctx: TickContext) -> Action:
        """Put a templated message in a chosen ``say``."""
        if action.kind != "say":
            return action
        name = ctx.names.get(action.target, "you") if action.target is not None else "everyone"
        text = ctx.random.choice(self.templates).format(name=name.split()[0])
        return replace(action, text=text)


class SpammerPolicy(_ViolatorPolicy):
    """Broadcasts advertising spam to everyone at its place."""

    name = "spammer"
    templates = SPAM

    def _speech_score(self, option: Action) -> float:
        if not self._talk:
            return 0.0
        return 3.5 if option.target is None else 3.0


class ScammerPolicy(_ViolatorPolicy):
    """Approaches avatars one by one with too-good-to-be-true schemes."""

    name = "scammer"
    templates = SCAM
    rate = 0.5

    def _speech_score(self, option: Action) -> float:
        if not self._talk:
            return 0.0
        return 3.5 if option.target is not None else 1.0


class HarasserPolicy(_ViolatorPolicy):
    """Insults and threatens a chosen avatar."""

    name = "harasser"
    templates = HARASS
    rate = 0.5

    def _speech_score(self, option: Action) -> float:
        if not self._talk or option.target is None:
            return 0.0
        return 3.5
