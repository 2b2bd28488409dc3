"""The LLM policy: choose among the world's legal actions, and speak in conversations.

Deciding is one ``ChooseRequest`` per avatar per tick: the persona, needs, memories and
situation in the prompt, the world's legal actions as the options. The model gathers these
from every avatar and sends them in one batched call; the answer is a distribution over the
options, so the avatar can only ever pick an action the world offered (a prompt injection can
sway the pick, never add an option). Trade talk turns into trades the same way: "offer ..."
and "accept offer ..." are options, never parsed out of what someone said.

Speaking is a ``GenerateRequest`` for an avatar that chose to ``say``: the conversation so far
is in the prompt, and the text is cleaned (one line, no speaker prefix, bounded length).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from agents.conversation import Conversation
from agents.lm import MAX_OPTIONS, ChooseRequest, GenerateRequest, Message, request_seed
from agents.policy import Decision, PendingChoice, TickContext
from agents.prompts import ANSWER_PREFIX, choose_prompt, persona_prompt, rules_prompt, speech_prompt
from world.types import Action, Observation, ProjectView

if TYPE_CHECKING:
    from agents.avatar import Avatar

__all__ = ["RELIEF", "URGENT", "LLMPolicy", "SpeechSettings", "clean_speech", "focus_on_urgent_need"]


@dataclass(frozen=True)
class SpeechSettings:
    """Sampling settings for speech (from the scenario's ``llm`` section)."""

    max_new_tokens: int = 48
    temperature: float = 0.7
    top_p: float = 0.95
    top_k: int = 50
    repetition_penalty: float = 1.1


_PREFIX = re.compile(r"^\s*(?:[A-Z][\w .'-]{0,40}:\s+)")


def clean_speech(text: str, speaker_name: str = "", limit: int = 240) -> str:
    """Generated text as one spoken line: first non-empty line, no "Name:" prefix, no wrapping
    quotes, at most ``limit`` characters. Empty output becomes a plain greeting."""
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    line = _PREFIX.sub("", line, count=1) if speaker_name or ":" in line[:42] else line
    line = line.strip().strip('"').strip("'").strip()
    if len(line) > limit:
        cut = line[:limit].rsplit(" ", 1)[0]
        line = cut + "..."
    return line or "Hello."


#: A need at or above this level takes the avatar's whole attention.
URGENT = 0.8
#: The options that relieve each need.
RELIEF = {"hunger": ("consume",), "tiredness": ("rest",), "loneliness": ("say",)}


def focus_on_urgent_need(options: Sequence[Action], needs: Mapping[str, float]) -> list[Action]:
    """Needs drive behaviour: when a need is urgent, only the options that relieve it are offered
    to the model (the most urgent need first; unchanged when none relieves it).

    The model still chooses among them (whom to talk to, which food to eat). It also keeps a
    small model from starving next to its bread because a trade looked more interesting.
    """
    for need in sorted(needs, key=lambda n: -needs[n]):
        if needs[need] < URGENT:
            break
        focused = [o for o in options if o.kind in RELIEF.get(need, ())]
        if focused:
            return focused
    return list(options)


class LLMPolicy:
    """Decides with ``choose`` over legal actions; speaks with ``generate``.

    One instance serves a whole group of avatars (it keeps no per-avatar state: memory lives
    on the avatar, conversations in the model's :class:`~agents.conversation.ConversationBook`).
    """

    name = "llm"
    uses_llm = True
    observes = True

    def __init__(
        self,
        *,
        world_name: str,
        description: str = "",
        prompt_tokens: int = 700,
        speech: SpeechSettings | None = None,
        sample: bool = True,
        memories_k: int = 6,
    ) -> None:
        self.rules = rules_prompt(world_name, description)
        self.prompt_tokens = prompt_tokens
        self.speech = speech or SpeechSettings()
        self.sample = sample
        self.memories_k = memories_k
        self._persona_cache: dict[int, str] = {}

    # -- deciding --------------------------------------------------------------------------------

    def decide(
        self, avatar: Avatar, obs: Observation | None, options: Sequence[Action], ctx: TickContext
    ) -> Decision:
        """A :class:`PendingChoice` over the legal actions (or the only one, without asking)."""
        if not options or obs is None:
            return None
        options = focus_on_urgent_need(options[:MAX_OPTIONS], obs.needs)
        if len(options) == 1:
            return options[0]
        reply = self._reply(avatar.avatar_id, obs, options, ctx)
        if reply is not None:
            return reply
        situation = choose_prompt(
            tick=ctx.tick,
            place=_where(obs),
            needs=obs.needs,
            status=_status(obs, ctx),
            nearby=[ctx.names.get(i, f"#{i}") for i in obs.nearby],
            heard=[(ctx.names.get(m.sender, f"#{m.sender}"), m.text) for m in obs.messages],
            memories=self._memories(avatar, obs, ctx),
            n_options=len(options),
            budget_tokens=self.prompt_tokens,
        )
        request = ChooseRequest(
            messages=self.messages(avatar, situation),
            options=tuple(o.label for o in options),
            answer_prefix=ANSWER_PREFIX,
            seed=request_seed(ctx.run_seed, ctx.tick, avatar.avatar_id, "choose"),
            request_id=f"{ctx.tick}:{avatar.avatar_id}:choose",
            route=avatar.avatar_id,
        )
        return PendingChoice(request, tuple(options), self.sample)

    @staticmethod
    def _reply(me: int, obs: Observation, options: Sequence[Action], ctx: TickContext) -> Action | None:
        """Answer the conversation we are in when the last turn was someone else's.

        A conversation is a mode, as in Generative Agents: once someone talks to us, we answer
        (its text is generated with the conversation so far) until a side says goodbye or the
        turn cap ends it - no ``choose`` call needed. Only a ``say`` the world offers is used.
        """
        book = ctx.conversations
        if book is None:
            return None
        for conv in book.active:
            if me not in conv.participants or conv.place != obs.place or not conv.turns:
                continue
            speaker = conv.turns[-1][0]
            if speaker == me:
                continue
            for option in options:
                if option.kind == "say" and option.target == speaker:
                    return option
        return None

    def messages(self, avatar: Avatar, situation: str) -> tuple[Message, ...]:
        """Rules (shared), persona (stable per avatar), then the situation (changes)."""
        persona = self._persona_cache.get(avatar.avatar_id)
        if persona is None:
            persona = persona_prompt(avatar.persona.describe(), avatar.role)
            self._persona_cache[avatar.avatar_id] = persona
        return (
            Message("system", self.rules),
            Message("user", persona),
            Message("user", situation),
        )

    # -- speaking --------------------------------------------------------------------------------

    def speech_request(
        self,
        avatar: Avatar,
        action: Action,
        obs: Observation,
        ctx: TickContext,
        conversation: Conversation | None,
        turns_left: int,
    ) -> GenerateRequest:
        """The ``generate`` request for the text of a chosen ``say`` action (from the same
        observation the avatar decided on)."""
        names = ctx.names
        if action.target is not None:
            listeners = [names.get(action.target, f"#{action.target}")]
        else:
            listeners = [names.get(i, f"#{i}") for i in obs.nearby] or ["everyone here"]
        so_far = [(names.get(s, f"#{s}"), t) for s, t in (conversation.turns if conversation else ())]
        if conversation is None:
            # Not in a conversation yet: what was just said to us is its start.
            so_far = [(names.get(m.sender, f"#{m.sender}"), m.text) for m in obs.messages[-2:]]
        situation = speech_prompt(
            tick=ctx.tick,
            place=_where(obs),
            needs=obs.needs,
            status=_status(obs, ctx),
            listeners=listeners,
            conversation=so_far,
            memories=self._memories(avatar, obs, ctx, k=3),
            max_turns_left=turns_left,
            budget_tokens=self.prompt_tokens,
        )
        s = self.speech
        return GenerateRequest(
            messages=self.messages(avatar, situation),
            max_new_tokens=s.max_new_tokens,
            temperature=s.temperature,
            top_p=s.top_p,
            top_k=s.top_k,
            repetition_penalty=s.repetition_penalty,
            stop=("\n",),
            seed=request_seed(ctx.run_seed, ctx.tick, avatar.avatar_id, "say"),
            request_id=f"{ctx.tick}:{avatar.avatar_id}:say",
            route=avatar.avatar_id,
        )

    # -- helpers ---------------------------------------------------------------------------------

    def _memories(self, avatar: Avatar, obs: Observation, ctx: TickContext, k: int | None = None) -> str:
        if avatar.memory is None or not len(avatar.memory):
            return ""
        heard = " ".join(m.text for m in obs.messages[-2:])
        nearby = " ".join(ctx.names.get(i, "") for i in obs.nearby[:4])
        urgent = max(obs.needs, key=obs.needs.__getitem__) if obs.needs else ""
        query = f"{heard} {nearby} {obs.place or ''} {urgent}"
        return avatar.memory.render(query, ctx.tick, self.prompt_tokens // 3, k or self.memories_k)


def _where(obs: Observation) -> str:
    if obs.place:
        return f"the {obs.place}"
    if obs.travelling_to:
        return f"the road to the {obs.travelling_to}"
    return "town"


def _goods(goods: Sequence[tuple[str, int]]) -> str:
    return " and ".join(f"{q} {i}" for i, q in goods) or "nothing"


def _project(p: ProjectView, tick: int, currency: str) -> str:
    """``project 3, a bridge at the plaza: still needs 2 wood and 1 labour; 1 of 2 contributors; due in 5 ticks; reward 10 coin``."""
    where = f" at the {p.place}" if p.place else ""
    left = max(0, p.deadline - tick)
    return (
        f"project {p.id}, a {p.template}{where}: still needs {_goods(p.missing)}; "
        f"{p.contributors} of {p.min_contributors} contributors; due in {left} ticks; reward {p.reward} {currency}"
    )


def _status(obs: Observation, ctx: TickContext) -> str:
    """Holdings, offers, prices, projects and sanctions in a few short sentences."""
    inv = ", ".join(f"{q} {i}" for i, q in sorted(obs.inventory.items()) if q)
    parts = [f"You have {obs.coins} {ctx.currency}" + (f" and {inv}." if inv else ".")]
    if obs.offers:
        offers = "; ".join(
            f"offer {o.id} from {ctx.names.get(o.sender, f'#{o.sender}')}: gives {_goods(o.give)} for {_goods(o.get)}"
            for o in obs.offers[:4]
        )
        parts.append(f"Offers to you: {offers}.")
    if obs.prices:
        parts.append("Market prices: " + ", ".join(f"{i} {p}" for i, p in sorted(obs.prices.items())) + ".")
    if obs.projects:
        parts.append(
            "Projects: " + "; ".join(_project(p, obs.tick, ctx.currency) for p in obs.projects[:3]) + "."
        )
    if obs.muted_until is not None and obs.muted_until > obs.tick:
        parts.append(f"You are muted until tick {obs.muted_until}.")
    return " ".join(parts)
