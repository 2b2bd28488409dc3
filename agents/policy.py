"""The policy protocol: how an avatar turns what it sees into one :class:`~world.types.Action`.

Two kinds of policies share one method, :meth:`Policy.decide`:

- rule policies answer at once with an ``Action`` (or ``None``: do nothing this tick);
- LLM policies answer with a :class:`PendingChoice`: a ``ChooseRequest`` over the world's
  legal options, plus those options. The model gathers the pending choices of ALL avatars
  and sends them to the language model in ONE ``choose`` call (the pool batches them), then
  maps each answer back to one of the offered actions with :meth:`PendingChoice.pick`.
  A choice can therefore only ever be one of the world's own legal options.

Speech is the second batched call: an action of kind ``say`` chosen by an LLM avatar has no
text yet; :meth:`SpeakingPolicy.speech_request` builds its ``GenerateRequest`` and the model
sends every one of the tick together in ONE ``generate`` call.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from agents.lm import Choice, ChooseRequest
from world.types import Action

if TYPE_CHECKING:
    from agents.avatar import Avatar

__all__ = ["Decision", "PendingChoice", "Policy", "TickContext"]


@dataclass
class TickContext:
    """What a policy may consult while deciding, besides its avatar.

    ``random`` is the model's seeded RNG: policies draw from it in a fixed avatar order, so
    the same seed gives the same decisions. ``world`` is read-only for policies (they call
    ``observation_for``, ``legal_actions`` and cheap reads such as ``balance``).
    """

    tick: int
    random: random.Random
    world: Any
    avatar_ids: Sequence[int]
    names: Mapping[int, str]
    balance: Callable[[int], int]  # avatar id -> coins, an O(1) read (the random-give hot path)
    currency: str = "coin"
    run_seed: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PendingChoice:
    """An LLM question waiting for its answer: the request and the actions its options stand for."""

    request: ChooseRequest
    options: tuple[Action, ...]
    sample: bool = True  # sample from the distribution (else take its argmax)

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
    """Decides an avatar's action for the tick. ``name`` is what the event store records."""

    name: str
    uses_llm: bool

    def decide(self, avatar: Avatar, ctx: TickContext) -> Decision: ...
