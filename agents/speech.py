"""Speech: what an LLM avatar that chose to ``say`` says, and how its line is picked.

A line is a ``GenerateRequest`` continuing a plain-text dialogue script (agents/prompts.py,
``speech_script``): the conversation so far is in the prompt, and what the speaker wants is said
in concrete words (a person, an item and its price, a project's need; a reply is "about" what
the line it answers named), so the small model names what the scene names. ``candidates``
samples of the same prompt are drawn (``FIRST`` of them for every line in one batch, the rest
only for the lines none of whose first samples is as good as a line can be: :meth:`Speaker.settled`)
and :meth:`Speaker.pick` says the most on-topic one; each is the model's own text. :func:`clean_speech` keeps one line of it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from agents.agenda import Economy
from agents.conversation import Conversation
from agents.lm import GenerateRequest, request_seed
from agents.memory import keywords
from agents.policy import TickContext
from agents.prompts import SPEECH_BANNED, speech_script
from world.types import Action, Observation

if TYPE_CHECKING:
    from agents.avatar import Avatar

__all__ = ["FIRST", "Speaker", "SpeechSettings", "clean_speech", "topic", "want", "where"]


@dataclass(frozen=True)
class SpeechSettings:
    """Sampling settings for speech (from the scenario's ``llm`` section)."""

    max_new_tokens: int = 48
    temperature: float = 0.7
    top_p: float = 0.95
    top_k: int = 50
    repetition_penalty: float = 1.1
    candidates: int = 1  # lines sampled per thing said; :meth:`Speaker.pick` picks one


#: Samples drawn for every line in the first round (the rest of ``candidates`` only when needed).
FIRST = 2

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


def where(obs: Observation) -> str:
    """Where the avatar is, in words ("the market", "the road to the farm", "town")."""
    if obs.place:
        return f"the {obs.place}"
    if obs.travelling_to:
        return f"the road to the {obs.travelling_to}"
    return "town"


_WORD = re.compile(r"[A-Za-z][A-Za-z'-]+")


def topic(line: str, town_words: set[str], skip: set[str] = frozenset()) -> str:  # type: ignore[assignment]
    """What a line is about, for the answer's scene: the first word of the town it names (a
    person, place, item, the currency), else its longest content word ("" for none); words in
    ``skip`` (lower-case) are never the topic."""
    words: list[str] = [w for w in _WORD.findall(line) if w.lower() not in skip]
    for w in words:
        if w.lower() in town_words or w.lower().rstrip("s") in town_words:
            return w
    plain = keywords(line)  # the memory's stop words dropped
    content = [w for w in words if len(w) >= 4 and w.lower() in plain]
    return max(content, key=len) if content else ""


def want(
    obs: Observation,
    role: str,
    turns: Sequence[tuple[int, str]],
    me: int,
    names: Mapping[int, str],
    town_words: set[str] = frozenset(),  # type: ignore[assignment]
    currency: str = "coin",
) -> str:
    """What the speaker wants, in a few concrete words (a person, an item, a price, a place),
    for the speech script's scene line: the 135M model names what the scene names (a reply's
    topic is what the line it answers was about)."""
    if turns and turns[-1][0] != me:
        who = names.get(turns[-1][0], "them")
        us = {w.lower() for n in (who, names.get(me, "")) for w in n.split()}  # names are no topic
        items = {i.lower() for i in (*obs.prices, *obs.inventory)}
        about = topic(turns[-1][1], (town_words | items) - us, skip=us)
        return f"answers {who} about {about}" if about else f"answers {who}"
    needs = obs.needs
    if needs.get("hunger", 0.0) >= 0.5 and not obs.inventory:
        return "is hungry and wants to buy bread" if "bread" in obs.prices else "is hungry and wants food"
    goods = [i for i, q in sorted(obs.inventory.items(), key=lambda kv: -kv[1]) if q]
    if "trad" in role and goods:
        price = obs.prices.get(goods[0])
        return f"wants to sell {goods[0]}" + (f" at {price} {currency}" if price else "")
    if obs.projects and ("collab" in role or "build" in role):
        p = obs.projects[0]
        need = p.missing[0][0] if p.missing else "hands"
        return f"wants help with the {p.template}, which needs {need}"
    if goods:
        return f"has {obs.inventory[goods[0]]} {goods[0]} and wants company"
    return "wants company"


#: Frequent words that carry no topic (a reply sharing one with a line has not answered it).
_FILLER = frozenset(
    ["that", "this", "with", "have", "what", "your", "from", "they", "them", "then", "there",
     "their", "here", "just", "like", "will", "would", "could", "should", "about", "been", "were",
     "when", "where", "which", "some", "more", "much", "very", "well", "good", "know", "think",
     "want", "sure", "thanks", "thank", "hello", "really", "maybe", "make", "come", "today", "time"]
)  # fmt: skip


def _content(line: str) -> set[str]:
    """A line's content words: 4+ letters, stop and filler words dropped."""
    return {w for w in keywords(line) if len(w) >= 4 and w not in _FILLER}


def _plain(line: str) -> str:
    """A line as compared for a verbatim repeat (case and punctuation aside)."""
    return " ".join(_WORD.findall(line.lower()))


class Speaker:
    """Builds an LLM avatar's speech requests and picks the line it says (one per policy)."""

    def __init__(
        self,
        description: str,
        settings: SpeechSettings,
        economy: Economy | None = None,
        work_places: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        self.description = description
        self.settings = settings
        self.economy = economy
        self.work_places = {r: tuple(p) for r, p in (work_places or {}).items()}
        self._words: tuple[int, set[str]] | None = None
        # avatar -> the line its last speech request answers, and the lines said so far in it
        self._answering: dict[int, tuple[str, frozenset[str]]] = {}

    def request(
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
        me = avatar.avatar_id
        if action.target is not None:
            listeners = [names.get(action.target, f"#{action.target}")]
        else:
            listeners = [names.get(i, f"#{i}") for i in obs.nearby] or ["everyone here"]
        turns = list(conversation.turns) if conversation else []
        if not turns:
            # Not in a conversation yet: what was just said to us is its start.
            turns = [(m.sender, m.text) for m in obs.messages[-2:]]
        so_far = [(names.get(sp, f"#{sp}"), t) for sp, t in turns[-4:]]
        persona = getattr(avatar, "persona", None)
        who = f"a {persona.occupation}" if persona is not None else f"a {avatar.role or 'townsperson'}"
        head, scene = speech_script(
            description=self.description,
            place=where(obs),
            speaker=names.get(me, f"#{me}"),
            who=who,
            want=want(obs, avatar.role, turns, me, names, self.town_words(ctx), ctx.currency),
            listeners=listeners,
            conversation=so_far,
            last_turn=turns_left <= 1,
        )
        s = self.settings
        answers = turns[-1][1] if turns and turns[-1][0] != me else ""
        self._answering[me] = (answers, frozenset(_plain(t) for _, t in turns))
        return GenerateRequest(
            prompt=(head, scene),
            max_new_tokens=s.max_new_tokens,
            temperature=s.temperature,
            top_p=s.top_p,
            top_k=s.top_k,
            repetition_penalty=s.repetition_penalty,
            stop=("\n",),
            seed=request_seed(ctx.run_seed, ctx.tick, avatar.avatar_id, "say"),
            request_id=f"{ctx.tick}:{avatar.avatar_id}:say",
            route=avatar.avatar_id,
            banned=SPEECH_BANNED,
        )

    def samples(self, first: GenerateRequest, avatar_id: int, ctx: TickContext) -> list[GenerateRequest]:
        """``first`` (from :meth:`request`) and ``candidates - 1`` more samples of its prompt
        (their own seeds; request ids ``...:say#k``), for :meth:`pick`."""
        more = [
            replace(
                first,
                seed=request_seed(ctx.run_seed, ctx.tick, avatar_id, f"say#{k}"),
                request_id=f"{first.request_id}#{k}",
            )
            for k in range(1, self.settings.candidates)
        ]
        return [first, *more]

    def pick(self, avatar: Avatar, texts: Sequence[str], ctx: TickContext) -> int:
        """Which of the sampled lines to say (the index; the first on a tie): one that does not
        repeat a line of the conversation word for word, then one that shares a content word
        with the line it answers, then one that names something of the town (a person other than
        the speaker, a place, an item, the currency), then one that says something ("No, no!"
        loses to a line with a content word). The 135M model's replies
        shared a word with the line they answered a third of the time and named the town in 4
        lines of 10; each line is the model's own, this only chooses among its samples."""
        scores = self._scores(avatar, texts, ctx)
        return max(range(len(texts)), key=lambda i: (scores[i], -i))

    def settled(self, avatar: Avatar, texts: Sequence[str], ctx: TickContext) -> bool:
        """Whether one of ``texts`` (the first samples) already scores as well as any line can
        (fresh, on the answered line's topic when there is one, naming the town, with content):
        then :meth:`pick` over more samples would pick the same one, so none are drawn."""
        asked = bool(_content(self._answering.get(avatar.avatar_id, ("", frozenset()))[0]))
        return (True, asked, True, True) in self._scores(avatar, texts, ctx)

    def _scores(self, avatar: Avatar, texts: Sequence[str], ctx: TickContext) -> list[tuple[bool, ...]]:
        answering, said_before = self._answering.get(avatar.avatar_id, ("", frozenset()))
        asked = _content(answering)
        town = self.town_words(ctx)
        me = {w.lower() for w in ctx.names.get(avatar.avatar_id, "").split()}

        def score(text: str) -> tuple[bool, bool, bool, bool]:
            words = {w.lower() for w in _WORD.findall(text)}
            grounded = any(w in town or w.rstrip("s") in town for w in words - me)
            fresh = _plain(text) not in said_before
            content = _content(text)
            return (fresh, bool(content & asked), grounded, bool(content))

        return [score(t) for t in texts]

    def town_words(self, ctx: TickContext) -> set[str]:
        """The town's own words (items, places, names, the currency), lower-case (cached while
        the population's size stays the same)."""
        cached = self._words
        if cached is not None and cached[0] == len(ctx.names):
            return cached[1]
        eco = self.economy
        words = {ctx.currency.lower()}
        words |= {w.lower() for n in ctx.names.values() for w in n.split()}
        words |= {p.lower() for ps in self.work_places.values() for p in ps}
        if eco is not None:
            words |= {i.lower() for i in (*eco.grows, *eco.recipes, *eco.foods, *eco.markets)}
        self._words = (len(ctx.names), words)
        return words
