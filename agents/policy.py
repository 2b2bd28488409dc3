"""The policy protocol: how an avatar turns what it sees into one :class:`~world.types.Action`.

The model pushes each avatar what it needs: once per tick it computes the avatar's
:class:`~world.types.Observation` and the world's legal options and calls
``policy.decide(avatar, obs, options, ctx)``; policies never reach into the world. A policy that
needs neither (``observes = False``: random-give, idle) gets ``None`` and no options, which
keeps Mesa's Boltzmann benchmark cheap.

Two kinds of policies share one method, :meth:`Policy.decide`:

- rule policies answer at once with an ``Action`` (or ``None``: do nothing this tick);
- LLM policies answer with a :class:`PendingChoice`: a ``ChooseRequest`` over the world's
  legal options, plus those options. The model gathers the pending choices of ALL avatars
  and sends them to the language model in ONE ``choose`` call (the pool batches them), then
  maps each answer back to one of the offered actions with :meth:`PendingChoice.pick`.
  A choice can therefore only ever be one of the world's own legal options.

Speech is the second batched call: an action of kind ``say`` chosen by an LLM avatar has no
text yet; :meth:`agents.speech.Speaker.request` builds its ``GenerateRequest`` (and a few samples of it)
and the model sends every one of the tick together in ONE ``generate`` call.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from agents.claims import Claims
from agents.lm import Choice, ChooseRequest
from agents.session import Session
from world.types import Action, Observation

if TYPE_CHECKING:
    from agents.avatar import Avatar
    from agents.conversation import ConversationBook

__all__ = ["Decision", "PendingChoice", "Policy", "TickContext"]


@dataclass(frozen=True)
class TickContext:
    """What a policy may consult while deciding, besides its avatar, observation and options.

    ``random`` is the model's seeded RNG: policies draw from it in a fixed avatar order, so
    the same seed gives the same decisions. ``balance`` is an O(1) coin read (the random-give
    hot path); ``names`` is the world's register of avatar names; ``conversations`` the
    model's conversation book (None where the model keeps none). ``claims`` is the tick's tally of
    what earlier deciders took (a fresh one per context: the model makes one context per tick).
    """

    tick: int
    random: random.Random
    avatar_ids: Sequence[int]
    names: Mapping[int, str]
    balance: Callable[[int], int]
    currency: str = "coin"
    run_seed: int = 0
    conversations: ConversationBook | None = None
    claims: Claims = field(default_factory=Claims)


@dataclass(frozen=True, slots=True)
class PendingChoice:
    """An LLM question waiting for its answer: the request and the actions its options stand for."""

    request: ChooseRequest
    options: tuple[Action, ...]
    sample: bool = True  # sample from the distribution (else take its argmax)
    session: Session | None = None  # the avatar's prompt log, told the answer once it comes

    def settle(self, action: Action | None) -> None:
        """Tell the avatar's log what was chosen (``None``: no answer came; the log restarts)."""
        if self.session is None:
            return
        if action is None or action not in self.options:
            self.session.reset()
        else:
            self.session.answered(action.label)

    def pick(self, choice: Choice) -> Action:
        """The offered action the answer stands for.

        Sampling uses an RNG seeded by the request's seed, so a run and its resumed twin pick
        the same option from the same distribution. An out-of-range index (a garbled answer)
        falls back to the distribution's best valid option, never to an unoffered action.
        """
        n = len(self.options)
        probs = list(choice.probs[:n]) if choice.probs else []
        if self.sample and probs and sum(probs) > 0:
            r = random.Random(self.request.seed).random() * sum(probs)
            acc = 0.0
            for i, p in enumerate(probs):
                acc += p
                if r < acc:
                    return self.options[i]
            return self.options[n - 1]
        if 0 <= choice.index < n:
            return self.options[choice.index]
        best = max(range(len(probs)), key=probs.__getitem__) if probs else 0
        return self.options[best]


#: What :meth:`Policy.decide` returns.
Decision = Action | PendingChoice | None


@runtime_checkable
class Policy(Protocol):
    """Decides an avatar's action for the tick. ``name`` is what the event store records.

    ``observes``: whether :meth:`decide` reads the observation and options (else the model
    passes ``None`` and ``()``, and computes neither).
    """

    name: str
    uses_llm: bool
    observes: bool

    def decide(
        self, avatar: Avatar, obs: Observation | None, options: Sequence[Action], ctx: TickContext
    ) -> Decision: ...
